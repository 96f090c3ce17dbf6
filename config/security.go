package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Security protocols of listener.security.protocol.map, as Kafka names them.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// ListenerProtocol is one entry of listener.security.protocol.map,
// "NAME:PROTOCOL".
type ListenerProtocol struct {
	Name, Protocol string
}

// SSLConfig is the node's TLS settings (Kafka's ssl.* keys), used by every
// listener whose protocol is SSL. Only PEM stores are supported.
type SSLConfig struct {
	KeystoreType             string   // ssl.keystore.type: "PEM"
	KeystoreLocation         string   // ssl.keystore.location: a PEM file with the private key and certificate chain
	KeystoreCertificateChain string   // ssl.keystore.certificate.chain: PEM inline
	KeystoreKey              string   // ssl.keystore.key: PEM inline (unencrypted)
	KeyPassword              string   // ssl.key.password: must stay empty (encrypted keys are not supported)
	TruststoreType           string   // ssl.truststore.type: "PEM"
	TruststoreLocation       string   // ssl.truststore.location: a PEM file of CA certificates
	TruststoreCertificates   string   // ssl.truststore.certificates: PEM inline
	ClientAuth               string   // ssl.client.auth: "none" | "requested" | "required"
	EnabledProtocols         []string // ssl.enabled.protocols: TLSv1.2, TLSv1.3
	CipherSuites             []string // ssl.cipher.suites: IANA names; empty = Go's defaults
	PrincipalMappingRules    string   // ssl.principal.mapping.rules: see ParsePrincipalMappingRules
}

// defaultProtocolMap is Kafka's default listener.security.protocol.map,
// with the default controller listener mapped to PLAINTEXT as Kafka does
// for controller listeners when the map is not set.
var defaultProtocolMap = []ListenerProtocol{
	{"CONTROLLER", ProtocolPlaintext}, {"PLAINTEXT", ProtocolPlaintext}, {"SSL", ProtocolSSL},
	{"SASL_PLAINTEXT", ProtocolSASLPlaintext}, {"SASL_SSL", ProtocolSASLSSL},
}

const protocolMapDef = `"CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"`

func defaultSSL() SSLConfig {
	return SSLConfig{KeystoreType: "PEM", TruststoreType: "PEM", ClientAuth: "none", EnabledProtocols: []string{"TLSv1.2", "TLSv1.3"},
		PrincipalMappingRules: "DEFAULT"}
}

// ListenerProtocol is the security protocol of the listener called name.
// With listener.security.protocol.map unset, a name Kafka's default map
// does not know is PLAINTEXT (Kafka would refuse it; Ringtail accepted any
// name before it spoke TLS, and keeps doing so).
func (c *Config) ListenerProtocol(name string) string {
	for _, m := range c.ListenerSecurityProtocolMap {
		if m.Name == name {
			return m.Protocol
		}
	}
	if c.Set["listener.security.protocol.map"] {
		return "" // validateSecurity refuses this
	}
	return ProtocolPlaintext
}

func protocolMapKey() brokerKey {
	strs := func(c *Config) []string {
		var out []string
		for _, m := range c.ListenerSecurityProtocolMap {
			out = append(out, m.Name+":"+m.Protocol)
		}
		return out
	}
	return brokerKey{
		name: "listener.security.protocol.map", group: "Listeners", typ: TypeString, def: protocolMapDef,
		doc: "Security protocol of each listener, NAME:PROTOCOL,...; PLAINTEXT and SSL are supported (SASL not yet).",
		parse: func(c *Config, v any) error {
			entries, ok := toList(v)
			if !ok {
				return errors.New(listValid + " of NAME:PROTOCOL")
			}
			var ms []ListenerProtocol
			for _, e := range entries {
				name, proto, ok := strings.Cut(e, ":")
				if !ok {
					return fmt.Errorf("%q is not NAME:PROTOCOL", e)
				}
				m := ListenerProtocol{Name: strings.ToUpper(strings.TrimSpace(name)), Protocol: strings.ToUpper(strings.TrimSpace(proto))}
				if err := checkListenerName(m.Name); err != nil {
					return err
				}
				switch m.Protocol {
				case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
				default:
					return fmt.Errorf("%s: unknown security protocol %q: must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", m.Name, m.Protocol)
				}
				for _, o := range ms {
					if o.Name == m.Name {
						return fmt.Errorf("listener %s appears twice", m.Name)
					}
				}
				ms = append(ms, m)
			}
			c.ListenerSecurityProtocolMap = ms
			return nil
		},
		toml: func(c *Config) string { return tomlQuote(strings.Join(strs(c), ",")) },
		show: func(c *Config) string { return strings.Join(strs(c), ",") },
	}
}

// pemTypeKey is ssl.keystore.type or ssl.truststore.type: only PEM.
func pemTypeKey(name, doc string, field func(*Config) *string) brokerKey {
	check := func(s string) error {
		if s != "PEM" {
			return errors.New(`must be "PEM": Ringtail reads PEM keys and certificates only (convert a JKS or PKCS12 store with keytool and openssl)`)
		}
		return nil
	}
	k := stringKey(name, "Security", doc, `"PEM"`, field, check)
	k.parse = func(c *Config, v any) error {
		s, ok := v.(string)
		if !ok {
			return errors.New("must be a string")
		}
		s = strings.ToUpper(strings.TrimSpace(s))
		if err := check(s); err != nil {
			return err
		}
		*field(c) = s
		return nil
	}
	return k
}

// secretKey is a string key whose value DescribeConfigs does not show
// (Kafka's PASSWORD type).
func secretKey(name, doc string, field func(*Config) *string, check func(string) error) brokerKey {
	k := stringKey(name, "Security", doc, `""`, field, check)
	k.typ = TypePassword
	k.sensitive = true
	return k
}

func checkKeyPassword(s string) error {
	if s != "" {
		return errors.New("encrypted private keys are not supported yet: give ssl.keystore.location or ssl.keystore.key an unencrypted PEM key (PKCS#8, PKCS#1 or SEC 1) and protect the file, and leave ssl.key.password empty")
	}
	return nil
}

var tlsVersions = map[string]uint16{"TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13}

// TLSVersions are the crypto/tls versions of ssl.enabled.protocols, lowest first.
func (s SSLConfig) TLSVersions() []uint16 {
	var out []uint16
	for _, p := range s.EnabledProtocols {
		out = append(out, tlsVersions[p])
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func normProtocol(s string) string {
	for name := range tlsVersions {
		if strings.EqualFold(s, name) {
			return name
		}
	}
	return s
}

func checkEnabledProtocols(ps []string) error {
	if len(ps) == 0 {
		return errors.New("must name at least one of TLSv1.2, TLSv1.3")
	}
	for i, p := range ps {
		if _, ok := tlsVersions[p]; !ok {
			return fmt.Errorf("unknown or unsupported protocol %q: must be TLSv1.2 and/or TLSv1.3", p)
		}
		for _, q := range ps[:i] {
			if q == p {
				return fmt.Errorf("%s appears twice", p)
			}
		}
	}
	return nil
}

// TLSCipherSuites are the crypto/tls ids of ssl.cipher.suites for TLS 1.2
// (nil: Go's defaults). TLS 1.3 suites are accepted in the list but not
// configurable in crypto/tls, which always offers all three.
func (s SSLConfig) TLSCipherSuites() []uint16 {
	var out []uint16
	for _, name := range s.CipherSuites {
		for _, cs := range tls.CipherSuites() {
			if cs.Name == name && !isTLS13Only(cs) {
				out = append(out, cs.ID)
			}
		}
	}
	return out
}

func isTLS13Only(cs *tls.CipherSuite) bool {
	return len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13
}

func checkCipherSuites(names []string) error {
	for _, name := range names {
		found := false
		for _, cs := range tls.CipherSuites() {
			found = found || cs.Name == name
		}
		if found {
			continue
		}
		for _, cs := range tls.InsecureCipherSuites() {
			if cs.Name == name {
				return fmt.Errorf("cipher suite %s is insecure and not offered", name)
			}
		}
		var valid []string
		for _, cs := range tls.CipherSuites() {
			valid = append(valid, cs.Name)
		}
		return fmt.Errorf("unknown cipher suite %q: valid are the IANA names %s", name, strings.Join(valid, ", "))
	}
	return nil
}

// validateSecurity checks the listeners' security protocols and that an SSL
// listener has what it needs. The key and certificate files themselves are
// read, and checked, when the node starts (security.NewServerTLS).
func (c *Config) validateSecurity() error {
	q := func(key string) string {
		return key + " = " + keyIndex[key].display(c)
	}
	hasSSL := false
	for _, l := range c.Listeners {
		switch p := c.ListenerProtocol(l.Name); p {
		case "":
			return fmt.Errorf("%s: listener %s has no security protocol; add %s:PLAINTEXT or %s:SSL", q("listener.security.protocol.map"), l.Name, l.Name, l.Name)
		case ProtocolSASLPlaintext, ProtocolSASLSSL:
			return fmt.Errorf("%s: listener %s is %s, but SASL is not supported yet; use PLAINTEXT or SSL", q("listener.security.protocol.map"), l.Name, p)
		case ProtocolSSL:
			if c.isControllerListener(l.Name) {
				return fmt.Errorf("%s: controller listener %s is SSL, but the controller quorum speaks PLAINTEXT for now", q("listener.security.protocol.map"), l.Name)
			}
			hasSSL = true
		}
	}
	if !hasSSL {
		return nil
	}
	s := &c.SSL
	inline := s.KeystoreCertificateChain != "" || s.KeystoreKey != ""
	switch {
	case s.KeystoreLocation == "" && !inline:
		return fmt.Errorf("%s: an SSL listener needs a key and certificate: set ssl.keystore.location (a PEM file holding both) or ssl.keystore.certificate.chain and ssl.keystore.key", q("ssl.keystore.location"))
	case s.KeystoreLocation != "" && inline:
		return fmt.Errorf("%s: set either ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both", q("ssl.keystore.location"))
	case inline && s.KeystoreCertificateChain == "":
		return errors.New("ssl.keystore.certificate.chain is empty: ssl.keystore.key needs its certificate chain")
	case inline && s.KeystoreKey == "":
		return errors.New("ssl.keystore.key is empty: ssl.keystore.certificate.chain needs its private key")
	}
	if s.TruststoreLocation != "" && s.TruststoreCertificates != "" {
		return fmt.Errorf("%s: set either ssl.truststore.location or ssl.truststore.certificates, not both", q("ssl.truststore.location"))
	}
	if s.ClientAuth != "none" && s.TruststoreLocation == "" && s.TruststoreCertificates == "" {
		return fmt.Errorf("%s: client certificates are %s, but no CA to verify them is set: set ssl.truststore.location or ssl.truststore.certificates", q("ssl.client.auth"), s.ClientAuth)
	}
	return nil
}

func clientAuthKey() brokerKey {
	k := enumKey("ssl.client.auth", "Client certificates on SSL listeners: none, requested (verified when given) or required (mTLS).", `"none"`,
		func(c *Config) *string { return &c.SSL.ClientAuth }, "none", "requested", "required")
	k.group = "Security"
	return k
}
