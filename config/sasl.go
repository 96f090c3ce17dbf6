package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"
)

// SASL mechanisms a SASL listener may enable (sasl.enabled.mechanisms).
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// SASLConfig is the SASL side of the SASL_PLAINTEXT and SASL_SSL listeners:
// the sasl.* keys, with listener.name.<name>.* overrides (SASLFor).
type SASLConfig struct {
	// EnabledMechanisms is sasl.enabled.mechanisms. Kafka's default is
	// GSSAPI, which Ringtail does not speak; Ringtail's is the two SCRAM
	// mechanisms, PLAIN being opt-in since it needs users in the config.
	EnabledMechanisms []string
	// PlainJAAS is plain.sasl.jaas.config (Kafka's
	// listener.name.<name>.plain.sasl.jaas.config): a PlainLoginModule
	// entry whose user_<name>="<password>" options are the PLAIN users.
	PlainJAAS string
}

func defaultSASL() SASLConfig {
	return SASLConfig{EnabledMechanisms: []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}}
}

// The SASL keys; keys.go lists them in brokerKeys.

func saslMechanismsKey() brokerKey {
	return listKey("sasl.enabled.mechanisms", "Security", "SASL mechanisms the SASL listeners offer: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.",
		`"SCRAM-SHA-256,SCRAM-SHA-512"`, func(c *Config) *[]string { return &c.SASL.EnabledMechanisms }, strings.ToUpper, checkSASLMechanisms)
}

func plainJAASKey() brokerKey {
	return secretKey("plain.sasl.jaas.config", `PLAIN users: org.apache.kafka.common.security.plain.PlainLoginModule required user_<name>="<password>" ...; (per listener: listener.name.<name>.plain.sasl.jaas.config).`,
		func(c *Config) *string { return &c.SASL.PlainJAAS }, checkPlainJAAS)
}

func reauthKey() brokerKey {
	return intKey("connections.max.reauth.ms", "Security", "Lifetime of a SASL session before the client must re-authenticate (KIP-368); 0: sessions do not expire.", "0", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "milliseconds"}, func(c *Config) *int64 { return &c.ConnectionsMaxReauthMs })
}

func failedAuthDelayKey() brokerKey {
	return intKey("connection.failed.authentication.delay.ms", "Security", "How long a connection whose authentication failed waits before its answer and close.", "100", TypeInt,
		intSpec{min: 0, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.ConnectionFailedAuthenticationDelayMs })
}

func checkSASLMechanisms(ms []string) error {
	for i, m := range ms {
		found := false
		for _, s := range saslMechanisms {
			found = found || s == m
		}
		if !found {
			return fmt.Errorf("unsupported SASL mechanism %q: valid are %s", m, strings.Join(saslMechanisms, ", "))
		}
		for _, o := range ms[:i] {
			if o == m {
				return fmt.Errorf("%s appears twice", m)
			}
		}
	}
	return nil
}

const plainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"

func checkPlainJAAS(s string) error {
	_, err := ParsePlainJAAS(s)
	return err
}

// ParsePlainJAAS reads the PLAIN users, user_<name>="<password>", from a
// JAAS entry for Kafka's PlainLoginModule. "" has none.
func ParsePlainJAAS(s string) (map[string]string, error) {
	users := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return users, nil
	}
	module, flag, opts, err := parseJAAS(s)
	if err != nil {
		return nil, err
	}
	if module != plainLoginModule {
		return nil, fmt.Errorf("login module %q: PLAIN users are given with %s", module, plainLoginModule)
	}
	if flag != "required" && flag != "requisite" && flag != "sufficient" && flag != "optional" {
		return nil, fmt.Errorf("control flag %q: want required", flag)
	}
	for k, v := range opts {
		if name, ok := strings.CutPrefix(k, "user_"); ok {
			if name == "" {
				return nil, errors.New(`option "user_" has no user name`)
			}
			users[name] = v
		}
	}
	return users, nil
}

// parseJAAS parses one JAAS login module entry: `Module flag key=value
// ... ;`, values quoted ("..." with \" and \\ escapes) or bare words.
func parseJAAS(s string) (module, flag string, opts map[string]string, err error) {
	i := 0
	skip := func() {
		for i < len(s) && unicode.IsSpace(rune(s[i])) {
			i++
		}
	}
	word := func() string {
		skip()
		j := i
		for i < len(s) && !unicode.IsSpace(rune(s[i])) && s[i] != '=' && s[i] != ';' && s[i] != '"' {
			i++
		}
		return s[j:i]
	}
	if module = word(); module == "" {
		return "", "", nil, errors.New("JAAS entry has no login module class")
	}
	if flag = word(); flag == "" {
		return "", "", nil, errors.New("JAAS entry has no control flag (required)")
	}
	opts = map[string]string{}
	for {
		skip()
		if i < len(s) && s[i] == ';' {
			i++
			skip()
			if i != len(s) {
				return "", "", nil, fmt.Errorf("text after the ';' that ends the JAAS entry: %q", s[i:])
			}
			return module, flag, opts, nil
		}
		k := word()
		skip()
		if k == "" || i >= len(s) || s[i] != '=' {
			return "", "", nil, errors.New(`JAAS options are key="value", and the entry ends with ';'`)
		}
		i++
		skip()
		var v string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return "", "", nil, fmt.Errorf("JAAS option %s: unterminated quoted value", k)
			}
			i++
			v = b.String()
		} else if v = word(); v == "" {
			return "", "", nil, fmt.Errorf("JAAS option %s has no value", k)
		}
		if _, dup := opts[k]; dup {
			return "", "", nil, fmt.Errorf("JAAS option %s appears twice", k)
		}
		opts[k] = v
	}
}

// IsListenerSASLKey reports whether key (after listener.name.<name>.) is a
// SASL key a listener may override.
func IsListenerSASLKey(key string) bool {
	return key == "sasl.enabled.mechanisms" || key == "plain.sasl.jaas.config"
}

// SASLFor is the SASL configuration of listener name: the sasl keys with
// its listener.name.<name>.* overrides.
func (c *Config) SASLFor(name string) SASLConfig {
	if s, ok := c.ListenerSASL[name]; ok {
		return s
	}
	return c.SASL
}

// IsSASL reports whether protocol is SASL_PLAINTEXT or SASL_SSL.
func IsSASL(protocol string) bool {
	return protocol == ProtocolSASLPlaintext || protocol == ProtocolSASLSSL
}

// UsesTLS reports whether protocol is SSL or SASL_SSL.
func UsesTLS(protocol string) bool { return protocol == ProtocolSSL || protocol == ProtocolSASLSSL }

// setListenerSASL records listener l's SASL overrides (applyListenerOverrides).
func (c *Config) setListenerSASL(l string, s SASLConfig, keys map[string]any) {
	for k := range keys {
		if IsListenerSASLKey(k) {
			if c.ListenerSASL == nil {
				c.ListenerSASL = map[string]SASLConfig{}
			}
			c.ListenerSASL[l] = s
			return
		}
	}
}

// hasSSLKey reports whether a listener's overrides set any ssl.* key.
func hasSSLKey(keys map[string]any) bool {
	for k := range keys {
		if strings.HasPrefix(k, "ssl.") {
			return true
		}
	}
	return false
}

// validateSASL checks the SASL listeners: each enables a mechanism, and
// neither the controller quorum nor replication runs over SASL (Ringtail's
// brokers do not authenticate to each other with SASL).
func (c *Config) validateSASL() error {
	q := func(key string) string { return key + " = " + keyIndex[key].display(c) }
	var names []string
	for _, l := range c.Listeners {
		if IsSASL(c.ListenerProtocol(l.Name)) {
			names = append(names, l.Name)
		}
	}
	for name := range c.ListenerSASL {
		if !hasListener(c.Listeners, name) {
			return fmt.Errorf("%s%s.sasl.*: no listener named %s in listeners (%s)", listenerPrefix, strings.ToLower(name), name, listenerNames(c.Listeners))
		}
	}
	sort.Strings(names)
	for _, name := range names {
		p := c.ListenerProtocol(name)
		if c.isControllerListener(name) {
			return fmt.Errorf("%s: controller listener %s is %s; the controller quorum speaks PLAINTEXT", q("listener.security.protocol.map"), name, p)
		}
		if name == c.InterBrokerListenerName {
			return fmt.Errorf("%s: listener %s is %s, but brokers do not authenticate to each other with SASL: use a PLAINTEXT or SSL listener for replication", q("inter.broker.listener.name"), name, p)
		}
		s := c.SASLFor(name)
		mkey := "sasl.enabled.mechanisms"
		if _, own := c.ListenerSASL[name]; own && c.Set[listenerPrefix+strings.ToLower(name)+"."+mkey] {
			mkey = listenerPrefix + strings.ToLower(name) + "." + mkey
		}
		if len(s.EnabledMechanisms) == 0 {
			return fmt.Errorf("%s is empty: SASL listener %s needs at least one of %s", mkey, name, strings.Join(saslMechanisms, ", "))
		}
		users, err := ParsePlainJAAS(s.PlainJAAS)
		if err != nil {
			return fmt.Errorf("plain.sasl.jaas.config of listener %s: %w", name, err)
		}
		plain := false
		for _, m := range s.EnabledMechanisms {
			plain = plain || m == "PLAIN"
		}
		if len(users) > 0 && !plain {
			return fmt.Errorf("%s = %s: listener %s has PLAIN users (plain.sasl.jaas.config) but PLAIN is not enabled; add PLAIN", mkey, strings.Join(s.EnabledMechanisms, ","), name)
		}
	}
	return nil
}
