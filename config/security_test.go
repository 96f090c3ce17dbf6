// This file proves that listener.security.protocol.map and the ssl.* keys
// parse as Kafka spells them, and that every refusal is one line naming the
// key, the value and what would be valid.
package config

import (
	"reflect"
	"strings"
	"testing"
)

const sslListeners = "listeners = \"PLAINTEXT://:9092,SSL://:9094,CONTROLLER://:9093\"\n"

func TestSecurityKeysParse(t *testing.T) {
	tests := []struct {
		doc  string
		want func(c *Config)
	}{
		{sslListeners + `ssl.keystore.location = "/etc/ringtail/server.pem"`, func(c *Config) {
			c.Listeners = []Listener{{"PLAINTEXT", "", 9092}, {"SSL", "", 9094}, {"CONTROLLER", "", 9093}}
			c.AdvertisedListeners = []Listener{{"PLAINTEXT", "localhost", 9092}, {"SSL", "localhost", 9094}}
			c.SSL.KeystoreLocation = "/etc/ringtail/server.pem"
		}},
		{"listeners = \"INTERNAL://:9092,EXTERNAL://:9094,CONTROLLER://:9093\"\n" +
			"listener.security.protocol.map = \"internal:plaintext, EXTERNAL:SSL,CONTROLLER:PLAINTEXT\"\n" +
			"ssl.keystore.certificate.chain = \"-----BEGIN CERTIFICATE-----\"\nssl.keystore.key = \"-----BEGIN PRIVATE KEY-----\"\n" +
			"ssl.keystore.type = \"pem\"\nssl.truststore.certificates = \"-----BEGIN CERTIFICATE-----\"\nssl.client.auth = \"REQUIRED\"\n" +
			"ssl.enabled.protocols = \"tlsv1.3\"\nssl.cipher.suites = \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256\"", func(c *Config) {
			c.Listeners = []Listener{{"INTERNAL", "", 9092}, {"EXTERNAL", "", 9094}, {"CONTROLLER", "", 9093}}
			c.AdvertisedListeners = []Listener{{"INTERNAL", "localhost", 9092}, {"EXTERNAL", "localhost", 9094}}
			c.InterBrokerListenerName = "INTERNAL"
			c.ListenerSecurityProtocolMap = []ListenerProtocol{{"INTERNAL", "PLAINTEXT"}, {"EXTERNAL", "SSL"}, {"CONTROLLER", "PLAINTEXT"}}
			c.SSL.KeystoreCertificateChain = "-----BEGIN CERTIFICATE-----"
			c.SSL.KeystoreKey = "-----BEGIN PRIVATE KEY-----"
			c.SSL.TruststoreCertificates = "-----BEGIN CERTIFICATE-----"
			c.SSL.ClientAuth = "required"
			c.SSL.EnabledProtocols = []string{"TLSv1.3"}
			c.SSL.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"}
		}},
		// An SSL listener listed first: brokers still replicate over the
		// PLAINTEXT one.
		{"listeners = \"SSL://:9094,PLAINTEXT://:9092,CONTROLLER://:9093\"\nssl.truststore.location = \"/ca.pem\"\nssl.client.auth = \"requested\"\n" +
			"ssl.keystore.location = \"/k.pem\"", func(c *Config) {
			c.Listeners = []Listener{{"SSL", "", 9094}, {"PLAINTEXT", "", 9092}, {"CONTROLLER", "", 9093}}
			c.AdvertisedListeners = []Listener{{"SSL", "localhost", 9094}, {"PLAINTEXT", "localhost", 9092}}
			c.SSL.KeystoreLocation, c.SSL.TruststoreLocation, c.SSL.ClientAuth = "/k.pem", "/ca.pem", "requested"
		}},
		// Brokers may replicate over TLS; an SSL-only broker does.
		{"listeners = \"SSL://:9094,CONTROLLER://:9093\"\nssl.keystore.location = \"/k.pem\"", func(c *Config) {
			c.Listeners = []Listener{{"SSL", "", 9094}, {"CONTROLLER", "", 9093}}
			c.AdvertisedListeners = []Listener{{"SSL", "localhost", 9094}}
			c.InterBrokerListenerName = "SSL"
			c.SSL.KeystoreLocation = "/k.pem"
		}},
		// The controller quorum over TLS, with its own keys.
		{"listener.security.protocol.map = \"PLAINTEXT:PLAINTEXT,CONTROLLER:SSL\"\nlistener.name.controller.ssl.keystore.location = \"/c.pem\"", func(c *Config) {
			c.ListenerSecurityProtocolMap = []ListenerProtocol{{"PLAINTEXT", ProtocolPlaintext}, {"CONTROLLER", ProtocolSSL}}
			c.ListenerSSL = map[string]SSLConfig{"CONTROLLER": func() SSLConfig { s := c.SSL; s.KeystoreLocation = "/c.pem"; return s }()}
		}},
		// Kafka's quickstart map names SASL listeners that are not used.
		{`listener.security.protocol.map = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"`, func(c *Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			got := parseOK(t, tt.doc)
			want := Default()
			tt.want(want)
			if !reflect.DeepEqual(bare(got), bare(want)) {
				t.Errorf("got  %+v\nwant %+v", bare(got), bare(want))
			}
			if err := got.Validate(); err != nil {
				t.Errorf("accepted config does not re-validate: %v", err)
			}
		})
	}
	c := parseOK(t, sslListeners+`ssl.keystore.location = "/k.pem"`)
	if got := c.ListenerProtocol("SSL"); got != ProtocolSSL {
		t.Errorf("ListenerProtocol(SSL) = %q", got)
	}
	if got := c.ListenerProtocol("ANYTHING"); got != ProtocolPlaintext {
		t.Errorf("ListenerProtocol(ANYTHING) with the map unset = %q, want PLAINTEXT", got)
	}
	if got := c.SSL.TLSVersions(); len(got) != 2 || got[0] != 0x0303 || got[1] != 0x0304 {
		t.Errorf("TLSVersions = %x", got)
	}
	c = parseOK(t, `ssl.cipher.suites = "TLS_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"`)
	if got := c.SSL.TLSCipherSuites(); len(got) != 1 || got[0] != 0xcca9 {
		t.Errorf("TLSCipherSuites = %x, want only the TLS 1.2 suite cca9", got)
	}
}

func TestSecurityKeysReject(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`listener.security.protocol.map = "PLAINTEXT"`, `listener.security.protocol.map = "PLAINTEXT": "PLAINTEXT" is not NAME:PROTOCOL`},
		{`listener.security.protocol.map = "PLAINTEXT:TLS"`, `listener.security.protocol.map = "PLAINTEXT:TLS": PLAINTEXT: unknown security protocol "TLS": must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL`},
		{`listener.security.protocol.map = "A:SSL,a:PLAINTEXT"`, `listener A appears twice`},
		{`listener.security.protocol.map = "PLAINTEXT:PLAINTEXT"`, `listener.security.protocol.map = "PLAINTEXT:PLAINTEXT": listener CONTROLLER has no security protocol; add CONTROLLER:PLAINTEXT or CONTROLLER:SSL`},
		// SASL listeners are accepted (config/sasl_test.go); SASL_SSL needs TLS's keys.
		{"listeners = \"PLAINTEXT://:9092,SASL_SSL://:9094,CONTROLLER://:9093\"", `ssl.keystore.location = "": SSL listener SASL_SSL needs a key and certificate`},
		{`listener.security.protocol.map = "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL"`, `SSL listener CONTROLLER needs a key and certificate`},
		{"listener.security.protocol.map = \"PLAINTEXT:PLAINTEXT,CONTROLLER:SSL\"\nlistener.name.controller.ssl.keystore.location = \"/k.pem\"\nlistener.name.controller.ssl.client.auth = \"required\"",
			`listener.name.controller.ssl.client.auth = "required": client certificates are required, but no CA to verify them is set`},
		{sslListeners, `ssl.keystore.location = "": SSL listener SSL needs a key and certificate: set ssl.keystore.location (a PEM file holding both) or ssl.keystore.certificate.chain and ssl.keystore.key`},
		{sslListeners + "ssl.keystore.location = \"/k.pem\"\nssl.keystore.key = \"x\"", `set either ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both`},
		{sslListeners + "ssl.keystore.key = \"x\"", `ssl.keystore.certificate.chain is empty: ssl.keystore.key needs its certificate chain`},
		{sslListeners + "ssl.keystore.certificate.chain = \"x\"", `ssl.keystore.key is empty: ssl.keystore.certificate.chain needs its private key`},
		{sslListeners + "ssl.keystore.location = \"/k.pem\"\nssl.client.auth = \"required\"", `ssl.client.auth = "required": client certificates are required, but no CA to verify them is set: set ssl.truststore.location or ssl.truststore.certificates`},
		{sslListeners + "ssl.keystore.location = \"/k.pem\"\nssl.client.auth = \"requested\"", `client certificates are requested, but no CA`},
		{sslListeners + "ssl.keystore.location = \"/k.pem\"\nssl.truststore.location = \"/a\"\nssl.truststore.certificates = \"b\"", `set either ssl.truststore.location or ssl.truststore.certificates, not both`},
		{`ssl.keystore.type = "JKS"`, `ssl.keystore.type = "JKS": must be "PEM": Ringtail reads PEM keys and certificates only`},
		{`ssl.truststore.type = "PKCS12"`, `ssl.truststore.type = "PKCS12": must be "PEM"`},
		{`ssl.client.auth = "optional"`, `ssl.client.auth = "optional": must be one of "none", "requested", "required"`},
		{`ssl.enabled.protocols = "TLSv1.1"`, `ssl.enabled.protocols = "TLSv1.1": unknown or unsupported protocol "TLSv1.1": must be TLSv1.2 and/or TLSv1.3`},
		{`ssl.enabled.protocols = ""`, `ssl.enabled.protocols = "": must name at least one of TLSv1.2, TLSv1.3`},
		{`ssl.enabled.protocols = "TLSv1.2,tlsv1.2"`, `TLSv1.2 appears twice`},
		{`ssl.cipher.suites = "TLS_RSA_WITH_RC4_128_SHA"`, `ssl.cipher.suites = "TLS_RSA_WITH_RC4_128_SHA": cipher suite TLS_RSA_WITH_RC4_128_SHA is insecure and not offered`},
		{`ssl.cipher.suites = "ECDHE-RSA-AES128-GCM-SHA256"`, `unknown cipher suite "ECDHE-RSA-AES128-GCM-SHA256": valid are the IANA names TLS_`},
		{`ssl.keystore.location = 5`, `ssl.keystore.location = 5: must be a string`},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "config: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line starting with \"config: \"", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

// DescribeConfigs shows the ssl keys with the secrets hidden, as Kafka
// hides PASSWORD configs.
func TestSecurityKeysDescribe(t *testing.T) {
	c := parseOK(t, sslListeners+"ssl.keystore.certificate.chain = \"CHAIN\"\nssl.keystore.key = \"SECRET\"")
	seen := map[string]ConfigEntry{}
	for _, e := range c.DescribeBrokerConfig() {
		seen[e.Name] = e
	}
	if e := seen["ssl.keystore.key"]; !e.Sensitive || e.Value != "" || e.Type != TypePassword {
		t.Errorf("ssl.keystore.key described as %+v", e)
	}
	if e := seen["ssl.keystore.certificate.chain"]; e.Value != "CHAIN" || e.Source != SourceStaticBrokerConfig {
		t.Errorf("ssl.keystore.certificate.chain described as %+v", e)
	}
	if e := seen["listener.security.protocol.map"]; e.Value != "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL" {
		t.Errorf("listener.security.protocol.map described as %+v", e)
	}
	if e := seen["ssl.enabled.protocols"]; e.Value != "TLSv1.2,TLSv1.3" {
		t.Errorf("ssl.enabled.protocols described as %+v", e)
	}
}

// ssl.principal.mapping.rules as Kafka's SslPrincipalMapper reads them.
func TestPrincipalMappingRules(t *testing.T) {
	tests := []struct {
		rules, dn, want string
		ok              bool
	}{
		{"DEFAULT", "CN=client,O=Ringtail", "CN=client,O=Ringtail", true},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=kafka-client,OU=ServiceUsers,O=Ringtail", "kafka-client", true},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=someone,O=Ringtail", "CN=someone,O=Ringtail", true},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT", "CN=Duke,OU=JavaSoft,O=Sun", "duke@javasoft", true},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT", "CN=Duke,O=Sun", "DUKE", true},
		{"RULE:^CN=([a-z]+),O=Ringtail$/$1x/", "CN=abc,O=Ringtail", "abcx", true},
		{"RULE:^CN=([a-z]+),O=Ringtail$/\\$$1/", "CN=abc,O=Ringtail", "$abc", true},
		{"RULE:^CN=([a-z]+),O=Ringtail$/$1/", "CN=abc,O=Other", "", false},
		{"RULE:a\\/b/x/", "a/b", "x", true},
	}
	for _, tt := range tests {
		rules, err := ParsePrincipalMappingRules(tt.rules)
		if err != nil {
			t.Fatalf("%q: %v", tt.rules, err)
		}
		got, ok := MapPrincipal(rules, tt.dn)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q on %q = %q, %v; want %q, %v", tt.rules, tt.dn, got, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct{ doc, want string }{
		{`ssl.principal.mapping.rules = "RULE:^CN=(.*$/$1/"`, `ssl.principal.mapping.rules = "RULE:^CN=(.*$/$1/": rule pattern "^CN=(.*$": error parsing regexp`},
		{`ssl.principal.mapping.rules = "RULE:abc"`, `rule "RULE:abc": want RULE:pattern/replacement/[LU]`},
		{`ssl.principal.mapping.rules = "DEFAULT;RULE:a/b/"`, `rules are separated by commas`},
		{`ssl.principal.mapping.rules = "LDAP"`, `"LDAP" is not DEFAULT or RULE:pattern/replacement/[LU]`},
		{`ssl.principal.mapping.rules = ""`, `must be DEFAULT or a comma-separated list`},
	} {
		if _, err := Parse([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}

// Kafka's per-listener keys, listener.name.<listener>.ssl.*, override the
// ssl.* keys for that listener only.
func TestListenerSSLOverrides(t *testing.T) {
	doc := "listeners = \"PLAINTEXT://:9092,CLIENT://:9094,REPL://:9095,CONTROLLER://:9093\"\n" +
		"listener.security.protocol.map = \"PLAINTEXT:PLAINTEXT,CLIENT:SSL,REPL:SSL,CONTROLLER:PLAINTEXT\"\n" +
		"ssl.keystore.location = \"/etc/ringtail/server.pem\"\n" +
		"listener.name.repl.ssl.client.auth = \"required\"\n" +
		"listener.name.repl.ssl.truststore.location = \"/etc/ringtail/ca.pem\"\n" +
		"[listener.name.client]\nssl.keystore.location = \"/etc/ringtail/public.pem\"\n"
	c := parseOK(t, doc)
	if got := c.SSLFor("CLIENT"); got.KeystoreLocation != "/etc/ringtail/public.pem" || got.ClientAuth != "none" {
		t.Errorf("CLIENT: %+v", got)
	}
	if got := c.SSLFor("REPL"); got.KeystoreLocation != "/etc/ringtail/server.pem" || got.ClientAuth != "required" || got.TruststoreLocation != "/etc/ringtail/ca.pem" {
		t.Errorf("REPL: %+v", got)
	}
	if got := c.SSLFor("PLAINTEXT"); !reflect.DeepEqual(got, c.SSL) {
		t.Errorf("PLAINTEXT: %+v", got)
	}
	if !c.Set["listener.name.repl.ssl.client.auth"] {
		t.Error("the override is not in Set")
	}
	// TOML() writes the overrides back.
	back := parseOK(t, c.TOML())
	if !reflect.DeepEqual(back.ListenerSSL, c.ListenerSSL) {
		t.Errorf("TOML round trip: %+v\nwant %+v\n%s", back.ListenerSSL, c.ListenerSSL, c.TOML())
	}

	for _, tt := range []struct{ doc, want string }{
		{`listener.name.client.sasl.enabled.mechanisms = "PLAIN"`, `listener.name.client.sasl.*: no listener named CLIENT in listeners (PLAINTEXT, CONTROLLER)`},
		{`listener.name.client.sasl.nope = "x"`, `unknown key "listener.name.client.sasl.nope": the per-listener keys Ringtail knows are listener.name.<listener>.ssl.*`},
		{`listener.name.client.ssl.nope = "x"`, `unknown key "listener.name.client.ssl.nope"`},
		{`listener.name.client.ssl.client.auth = "always"`, `listener.name.client.ssl.client.auth = "always": must be one of "none", "requested", "required"`},
		{`listener.name.client.ssl.client.auth = "required"`, `listener.name.client.*: no listener named CLIENT in listeners (PLAINTEXT, CONTROLLER)`},
		{sslListeners + "ssl.keystore.location = \"/k.pem\"\nlistener.name.ssl.ssl.client.auth = \"required\"",
			`listener.name.ssl.ssl.client.auth = "required": client certificates are required, but no CA to verify them is set: set ssl.truststore.location or ssl.truststore.certificates`},
		{sslListeners + "listener.name.ssl.ssl.keystore.key = \"k\"",
			`ssl.keystore.certificate.chain is empty: listener.name.ssl.ssl.keystore.key needs its certificate chain`},
	} {
		_, err := Parse([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s:\nerror %v\nwant  %q", tt.doc, err, tt.want)
		}
	}
}
