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
	KeyPassword              string   // ssl.key.password: of an encrypted PKCS#8 key
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
		doc: "Security protocol of each listener, NAME:PROTOCOL,...; PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL.",
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
		case ProtocolSSL, ProtocolSASLSSL:
			hasSSL = true
		}
	}
	if err := c.checkControllerSecurity(q); err != nil {
		return err
	}
	for name := range c.ListenerSSL {
		if !hasListener(c.Listeners, name) && !c.isControllerListener(name) {
			return fmt.Errorf("%s%s.*: no listener named %s in listeners (%s)", listenerPrefix, strings.ToLower(name), name, listenerNames(c.Listeners))
		}
	}
	if err := c.validateSASL(); err != nil {
		return err
	}
	if !hasSSL {
		return nil
	}
	for _, l := range c.Listeners {
		if UsesTLS(c.ListenerProtocol(l.Name)) {
			if err := c.checkListenerSSL(l.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkControllerSecurity checks the controller quorum's listener
// (controller.listener.names' first): PLAINTEXT or SSL, and with SSL the
// keys it needs, also on a broker-only node, which only dials it.
func (c *Config) checkControllerSecurity(q func(string) string) error {
	name := c.ControllerListener()
	switch p := c.ListenerProtocol(name); p {
	case "", ProtocolPlaintext:
		return nil
	case ProtocolSSL:
		return c.checkListenerSSL(name)
	default:
		return fmt.Errorf("%s: controller listener %s is %s; the controller quorum speaks PLAINTEXT or SSL", q("listener.security.protocol.map"), name, p)
	}
}

// ControllerListener is the listener the controller quorum speaks on:
// the first of controller.listener.names ("" when none is set).
func (c *Config) ControllerListener() string {
	if len(c.ControllerListenerNames) == 0 {
		return ""
	}
	return c.ControllerListenerNames[0]
}

// ControllerTLS says whether the controller quorum speaks TLS.
func (c *Config) ControllerTLS() bool {
	return c.ControllerListener() != "" && c.ListenerProtocol(c.ControllerListener()) == ProtocolSSL
}

// SSLFor is the TLS configuration of listener name: the ssl.* keys with its
// listener.name.<name>.ssl.* overrides.
func (c *Config) SSLFor(name string) SSLConfig {
	if s, ok := c.ListenerSSL[name]; ok {
		return s
	}
	return c.SSL
}

// checkListenerSSL checks that SSL listener name has what it needs; the
// messages name the per-listener key where the listener overrides it.
func (c *Config) checkListenerSSL(name string) error {
	tmp := *c
	tmp.SSL = c.SSLFor(name)
	s := &tmp.SSL
	_, overridden := c.ListenerSSL[name]
	kn := func(key string) string {
		if full := listenerPrefix + strings.ToLower(name) + "." + key; overridden && c.Set[full] {
			return full
		}
		return key
	}
	q := func(key string) string { return kn(key) + " = " + keyIndex[key].display(&tmp) }
	if overridden {
		for i := range brokerKeys {
			k := &brokerKeys[i]
			if strings.HasPrefix(k.name, "ssl.") && k.check != nil {
				if err := k.check(&tmp); err != nil {
					return fmt.Errorf("%s: %w", q(k.name), err)
				}
			}
		}
	}
	inline := s.KeystoreCertificateChain != "" || s.KeystoreKey != ""
	switch {
	case s.KeystoreLocation == "" && !inline:
		return fmt.Errorf("%s: SSL listener %s needs a key and certificate: set %s (a PEM file holding both) or %s and %s", q("ssl.keystore.location"), name,
			kn("ssl.keystore.location"), kn("ssl.keystore.certificate.chain"), kn("ssl.keystore.key"))
	case s.KeystoreLocation != "" && inline:
		return fmt.Errorf("%s: set either %s or %s with %s, not both", q("ssl.keystore.location"), kn("ssl.keystore.location"), kn("ssl.keystore.certificate.chain"), kn("ssl.keystore.key"))
	case inline && s.KeystoreCertificateChain == "":
		return fmt.Errorf("%s is empty: %s needs its certificate chain", kn("ssl.keystore.certificate.chain"), kn("ssl.keystore.key"))
	case inline && s.KeystoreKey == "":
		return fmt.Errorf("%s is empty: %s needs its private key", kn("ssl.keystore.key"), kn("ssl.keystore.certificate.chain"))
	}
	if s.TruststoreLocation != "" && s.TruststoreCertificates != "" {
		return fmt.Errorf("%s: set either %s or %s, not both", q("ssl.truststore.location"), kn("ssl.truststore.location"), kn("ssl.truststore.certificates"))
	}
	if s.ClientAuth != "none" && s.TruststoreLocation == "" && s.TruststoreCertificates == "" {
		return fmt.Errorf("%s: client certificates are %s, but no CA to verify them is set: set %s or %s", q("ssl.client.auth"), s.ClientAuth, kn("ssl.truststore.location"), kn("ssl.truststore.certificates"))
	}
	return nil
}

// listenerPrefix starts Kafka's per-listener keys,
// listener.name.<listener name in lower case>.<key>.
const listenerPrefix = "listener.name."

// takeListenerOverrides removes the listener.name.<listener>.ssl.* keys
// from values and returns them by listener name (upper-cased) and key.
func takeListenerOverrides(values map[string]any) (map[string]map[string]any, error) {
	var names []string
	for name := range values {
		if strings.HasPrefix(name, listenerPrefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := map[string]map[string]any{}
	for _, name := range names {
		lname, key, ok := strings.Cut(strings.TrimPrefix(name, listenerPrefix), ".")
		if !ok || !(strings.HasPrefix(key, "ssl.") || IsListenerSASLKey(key)) || keyIndex[key] == nil {
			return nil, fmt.Errorf("unknown key %q: the per-listener keys Ringtail knows are %s<listener>.ssl.*, with one of the ssl keys, and %s<listener>.sasl.enabled.mechanisms and .plain.sasl.jaas.config", name, listenerPrefix, listenerPrefix)
		}
		if err := checkListenerName(strings.ToUpper(lname)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		l := strings.ToUpper(lname)
		if out[l] == nil {
			out[l] = map[string]any{}
		}
		out[l][key] = values[name]
		delete(values, name)
	}
	return out, nil
}

// applyListenerOverrides sets ListenerSSL: for each listener with
// overrides, the ssl.* keys with those overrides on top.
func (c *Config) applyListenerOverrides(ov map[string]map[string]any) error {
	var names []string
	for l := range ov {
		names = append(names, l)
	}
	sort.Strings(names)
	for _, l := range names {
		tmp := *c
		keys := make([]string, 0, len(ov[l]))
		for k := range ov[l] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			k, v := keyIndex[key], ov[l][key]
			full := listenerPrefix + strings.ToLower(l) + "." + key
			if err := k.parse(&tmp, v); err != nil {
				shown := literal(v)
				if k.sensitive {
					shown = hiddenValue
				}
				return fmt.Errorf("%s = %s: %w", full, shown, err)
			}
			c.Set[full] = true
			c.fileValues[full] = propertyString(v)
		}
		c.setListenerSASL(l, tmp.SASL, ov[l])
		if !hasSSLKey(ov[l]) {
			continue
		}
		if c.ListenerSSL == nil {
			c.ListenerSSL = map[string]SSLConfig{}
		}
		c.ListenerSSL[l] = tmp.SSL
	}
	return nil
}

// listenerOverridesTOML writes ListenerSSL as listener.name.<l>.ssl.* lines:
// the keys whose value differs from the ssl.* key's.
func (c *Config) listenerOverridesTOML() string {
	var names []string
	for l := range c.ListenerSSL {
		names = append(names, l)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, l := range names {
		tmp := *c
		tmp.SSL = c.ListenerSSL[l]
		for i := range brokerKeys {
			k := &brokerKeys[i]
			if !strings.HasPrefix(k.name, "ssl.") || k.toml == nil {
				continue
			}
			if v := k.toml(&tmp); v != k.toml(c) {
				b.WriteString(listenerPrefix + strings.ToLower(l) + "." + k.name + " = " + v + "\n")
			}
		}
	}
	return b.String()
}

func clientAuthKey() brokerKey {
	k := enumKey("ssl.client.auth", "Client certificates on SSL listeners: none, requested (verified when given) or required (mTLS).", `"none"`,
		func(c *Config) *string { return &c.SSL.ClientAuth }, "none", "requested", "required")
	k.group = "Security"
	return k
}
