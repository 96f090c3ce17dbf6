package config

// Authentication of the built-in HTTP services (services/httpauth): how
// they authenticate their HTTP clients (ringtail.services_auth), the SASL
// mechanism HTTP basic credentials are checked with, mTLS files, and the
// SASL identity the services' own Kafka clients use when the node has no
// PLAINTEXT listener.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Values of ringtail.services_auth.
const (
	ServicesAuthNone      = "none"
	ServicesAuthHTTPBasic = "http_basic"
	ServicesAuthMTLS      = "mtls"
)

// ServicesAuthConfig is the ringtail.services_* keys.
type ServicesAuthConfig struct {
	Mode          string // ringtail.services_auth: none | http_basic | mtls
	SASLMechanism string // ringtail.services_sasl_mechanism: PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
	TLSCertFile   string // ringtail.services_tls_cert_file: PEM certificate chain (mtls)
	TLSKeyFile    string // ringtail.services_tls_key_file: PEM private key (mtls)
	TLSCAFile     string // ringtail.services_tls_ca_file: PEM CAs client certificates must chain to (mtls)
	SASLUser      string // ringtail.services_sasl_user: the services' own SASL user
	SASLPassword  string // ringtail.services_sasl_password
}

func defaultServicesAuth() ServicesAuthConfig {
	return ServicesAuthConfig{Mode: ServicesAuthNone, SASLMechanism: "SCRAM-SHA-256"}
}

func servicesAuthKeys() []brokerKey {
	const grp = "ringtail"
	mode := enumKey("ringtail.services_auth", "How the HTTP services (Schema Registry, HTTP Proxy, Connect) authenticate clients: none, http_basic (checked against the broker's SASL users), mtls (client certificates); with it on, the broker's ACLs apply.",
		`"none"`, func(c *Config) *string { return &c.ServicesAuth.Mode }, ServicesAuthNone, ServicesAuthHTTPBasic, ServicesAuthMTLS)
	enumCheck := mode.check
	mode.check = func(c *Config) error {
		if err := enumCheck(c); err != nil {
			return err
		}
		return c.checkServicesAuth()
	}
	mech := stringKey("ringtail.services_sasl_mechanism", grp, "SASL mechanism the HTTP services check basic credentials with, and their own SASL client uses: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.",
		`"SCRAM-SHA-256"`, func(c *Config) *string { return &c.ServicesAuth.SASLMechanism }, checkServicesMechanism)
	user := stringKey("ringtail.services_sasl_user", grp, "SASL user of the HTTP services' own Kafka client, when the node has no PLAINTEXT listener for them.", `""`,
		func(c *Config) *string { return &c.ServicesAuth.SASLUser }, nil)
	user.check = func(c *Config) error {
		if (c.ServicesAuth.SASLUser == "") != (c.ServicesAuth.SASLPassword == "") {
			return errors.New("ringtail.services_sasl_user and ringtail.services_sasl_password are set together, or neither")
		}
		return nil
	}
	pass := stringKey("ringtail.services_sasl_password", grp, "Password of ringtail.services_sasl_user.", `""`,
		func(c *Config) *string { return &c.ServicesAuth.SASLPassword }, nil)
	pass.typ, pass.sensitive = TypePassword, true
	return []brokerKey{mode, mech,
		stringKey("ringtail.services_tls_cert_file", grp, "With services_auth = mtls: PEM certificate chain the HTTP services serve TLS with.", `""`,
			func(c *Config) *string { return &c.ServicesAuth.TLSCertFile }, nil),
		stringKey("ringtail.services_tls_key_file", grp, "With services_auth = mtls: PEM private key of services_tls_cert_file.", `""`,
			func(c *Config) *string { return &c.ServicesAuth.TLSKeyFile }, nil),
		stringKey("ringtail.services_tls_ca_file", grp, "With services_auth = mtls: PEM CA certificates that client certificates must chain to.", `""`,
			func(c *Config) *string { return &c.ServicesAuth.TLSCAFile }, nil),
		user, pass,
	}
}

var servicesMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

func checkServicesMechanism(s string) error {
	if !slices.Contains(servicesMechanisms, s) {
		return fmt.Errorf("must be one of %s", strings.Join(servicesMechanisms, ", "))
	}
	return nil
}

// checkServicesAuth checks what a mode needs: http_basic a SASL listener
// offering the mechanism, mtls its three files.
func (c *Config) checkServicesAuth() error {
	sa := c.ServicesAuth
	switch sa.Mode {
	case ServicesAuthHTTPBasic:
		if _, ok := c.ServicesSASLListener(); !ok {
			return fmt.Errorf("checks HTTP basic credentials on a SASL_PLAINTEXT or SASL_SSL listener of this node that enables ringtail.services_sasl_mechanism = %s; none does (listeners: %s)",
				sa.SASLMechanism, listenerNames(c.KafkaListeners()))
		}
	case ServicesAuthMTLS:
		var missing []string
		for _, k := range []struct{ key, v string }{
			{"ringtail.services_tls_cert_file", sa.TLSCertFile}, {"ringtail.services_tls_key_file", sa.TLSKeyFile}, {"ringtail.services_tls_ca_file", sa.TLSCAFile},
		} {
			if k.v == "" {
				missing = append(missing, k.key)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("needs %s (the HTTP services' certificate, its key, and the CAs of client certificates)", strings.Join(missing, ", "))
		}
	}
	return nil
}

// ServicesSASLListener is the Kafka listener the HTTP services check
// basic credentials on, and their own client uses with
// ringtail.services_sasl_user: the first SASL_PLAINTEXT listener enabling
// ringtail.services_sasl_mechanism, else the first such SASL_SSL one.
func (c *Config) ServicesSASLListener() (Listener, bool) {
	for _, proto := range []string{ProtocolSASLPlaintext, ProtocolSASLSSL} {
		for _, l := range c.KafkaListeners() {
			if c.ListenerProtocol(l.Name) == proto && slices.Contains(c.SASLFor(l.Name).EnabledMechanisms, c.ServicesAuth.SASLMechanism) {
				return l, true
			}
		}
	}
	return Listener{}, false
}

func init() { registerAuthorizerKeys(servicesAuthKeys()) }
