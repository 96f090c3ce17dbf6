package daemon

// Wiring of the HTTP services' authentication (services/httpauth): which
// of this node's listeners the services' own Kafka clients use, and an
// Authenticator per service built from ringtail.services_*.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/security"
	"github.com/ringtail/ringtail/services/httpauth"
)

// listenerAddr is the loopback-reachable address listener name is bound to.
func (n *Node) listenerAddr(name string) (string, bool) {
	for i, l := range n.cfg.KafkaListeners() {
		if l.Name == name && i < len(n.lns) {
			return loopbackIfAny(n.lns[i].Addr().(*net.TCPAddr)), true
		}
	}
	return "", false
}

// pinnedTLS dials this node's own SASL_SSL listener name: it trusts the
// certificate that listener serves and nothing else (the listener's
// truststore is for its clients, and its certificate need not name
// 127.0.0.1), and presents the listener's certificate if asked for one.
func (n *Node) pinnedTLS(name string) *tls.Config {
	st := n.tls[name]
	if st == nil {
		return nil
	}
	tc := st.ClientConfig()
	tc.RootCAs = nil
	tc.InsecureSkipVerify = true // replaced by the pin below
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		own := st.Current().Certificates[0].Certificate[0]
		if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, own) {
			return errors.New("the listener's certificate is not this node's")
		}
		return nil
	}
	return tc
}

// servicesClientOpts are the seed broker and options of the HTTP services'
// own Kafka clients: this node's first PLAINTEXT listener, else the SASL
// listener of ringtail.services_sasl_mechanism with
// ringtail.services_sasl_user. what names the service for the error.
func (n *Node) servicesClientOpts(what string) ([]string, []kgo.Opt, error) {
	for _, l := range n.cfg.KafkaListeners() {
		if n.cfg.ListenerProtocol(l.Name) == config.ProtocolPlaintext {
			if addr, ok := n.listenerAddr(l.Name); ok {
				return []string{addr}, nil, nil
			}
		}
	}
	sa := n.cfg.ServicesAuth
	l, ok := n.cfg.ServicesSASLListener()
	if sa.SASLUser == "" || !ok {
		return nil, nil, fmt.Errorf("daemon: %s needs a Kafka listener for its own client: a PLAINTEXT listener, or a SASL listener enabling ringtail.services_sasl_mechanism = %s with ringtail.services_sasl_user and ringtail.services_sasl_password set; none is configured",
			what, sa.SASLMechanism)
	}
	addr, _ := n.listenerAddr(l.Name)
	opts := []kgo.Opt{httpauth.SASLOpt(sa.SASLMechanism, sa.SASLUser, sa.SASLPassword)}
	if n.cfg.ListenerProtocol(l.Name) == config.ProtocolSASLSSL {
		opts = append(opts, kgo.DialTLSConfig(n.pinnedTLS(l.Name)))
	}
	return []string{addr}, opts, nil
}

// servicesAuth is one service's Authenticator and the client it fetches
// ACLs with (mtls).
type servicesAuth struct {
	*httpauth.Authenticator
	aclClient  *kgo.Client
	forwardTLS *tls.Config // mtls: what the service presents to its peers
}

func (s *servicesAuth) Close() {
	if s == nil {
		return
	}
	if s.Authenticator != nil { // nil when httpauth.New failed
		s.Authenticator.Close()
	}
	if s.aclClient != nil {
		s.aclClient.Close()
	}
}

// newServicesAuth builds the Authenticator of hc.Service from
// ringtail.services_*; hc names the service and its error bodies
// (Service, ErrorContentType, StatusErrorCodes) and may add ClientOpts to
// the clients acting as its callers (http_basic); brokers and own are the
// service's own client (servicesClientOpts).
func (n *Node) newServicesAuth(hc httpauth.Config, brokers []string, own []kgo.Opt) (*servicesAuth, error) {
	sa := n.cfg.ServicesAuth
	service := hc.Service
	hc.Mode, hc.Logger, hc.Metrics = httpauth.Mode(sa.Mode), n.log, n.servicesMetrics()
	out := &servicesAuth{}
	switch sa.Mode {
	case config.ServicesAuthHTTPBasic:
		l, ok := n.cfg.ServicesSASLListener()
		if !ok {
			return nil, fmt.Errorf("daemon: ringtail.services_auth = http_basic: no SASL listener enables ringtail.services_sasl_mechanism = %s", sa.SASLMechanism)
		}
		addr, _ := n.listenerAddr(l.Name)
		hc.SASLBrokers, hc.SASLMechanism = []string{addr}, sa.SASLMechanism
		if n.cfg.ListenerProtocol(l.Name) == config.ProtocolSASLSSL {
			hc.SASLDialTLS = n.pinnedTLS(l.Name)
		}
	case config.ServicesAuthMTLS:
		st, err := servicesServerTLS(n.cfg, n.log)
		if err != nil {
			return nil, err
		}
		cur := st.Current()
		hc.TLS, hc.PrincipalOf = cur, st.Principal
		hc.AuthzOn = n.cfg.Authorizer.Enabled()
		hc.SuperUsers, hc.AllowIfNoACL = n.cfg.Authorizer.SuperUserList(), n.cfg.Authorizer.AllowEveryoneIfNoACLFound
		if hc.AuthzOn {
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("ringtail-" + service + "-acls")}, own...)...)
			if err != nil {
				return nil, fmt.Errorf("daemon: %s: %w", service, err)
			}
			out.aclClient, hc.ACLs = cl, httpauth.DescribeAllACLs(cl)
		}
		out.forwardTLS = &tls.Config{RootCAs: cur.ClientCAs, Certificates: cur.Certificates, MinVersion: cur.MinVersion, MaxVersion: cur.MaxVersion}
	}
	a, err := httpauth.New(hc)
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("daemon: %s: %w", service, err)
	}
	out.Authenticator = a
	if sa.Mode != config.ServicesAuthNone {
		n.log.Info("HTTP service authentication on", "service", service, "mode", sa.Mode, "authorization", n.cfg.Authorizer.Enabled())
	}
	return out, nil
}

// serviceSetup is the own Kafka client (servicesClientOpts) and the
// Authenticator (newServicesAuth) of the service that enableKey turns on.
func (n *Node) serviceSetup(enableKey string, hc httpauth.Config) ([]string, []kgo.Opt, *servicesAuth, error) {
	brokers, own, err := n.servicesClientOpts(enableKey + " = true")
	if err != nil {
		return nil, nil, nil, err
	}
	auth, err := n.newServicesAuth(hc, brokers, own)
	return brokers, own, auth, err
}

// servicesMetrics is the registry the services register their metrics
// on: the admin server's, nil without one.
func (n *Node) servicesMetrics() prometheus.Registerer {
	if n.ops.metrics == nil {
		return nil
	}
	return n.ops.metrics.Registry()
}

// serviceNotStarted closes auth after a service failed to start: the
// failure stops the node when enableKey is in the config file; a service
// on only because no config file was given (a taken port) is a warning.
func (n *Node) serviceNotStarted(what, enableKey string, auth *servicesAuth, err error) error {
	auth.Close()
	if !n.cfg.Set[enableKey] {
		n.log.Warn(what+" not started", "err", err)
		return nil
	}
	return err
}

// stopService closes a service, waiting at most timeout for it, then its
// Authenticator.
func (n *Node) stopService(what string, timeout time.Duration, close func(context.Context) error, auth *servicesAuth) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := close(ctx); err != nil {
		n.log.Warn(what+" shutdown", "err", err)
	}
	auth.Close()
}

// serviceURL is http:// (https:// with mtls) and listen, an empty or
// all-interfaces host replaced by the advertised Kafka host (localhost
// without one): the URL a service's peers reach it at.
func (n *Node) serviceURL(listen string) string {
	host, port, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
		if len(n.cfg.AdvertisedListeners) > 0 && n.cfg.AdvertisedListeners[0].Host != "" {
			host = n.cfg.AdvertisedListeners[0].Host
		}
	}
	scheme := "http://"
	if n.cfg.ServicesAuth.Mode == config.ServicesAuthMTLS {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
}

// servicesServerTLS loads ringtail.services_tls_* through the security
// package, with the broker's TLS versions, cipher suites and
// ssl.principal.mapping.rules, client certificates required. The files
// are read once: a new certificate takes a restart.
func servicesServerTLS(cfg *config.Config, log *slog.Logger) (*security.ServerTLS, error) {
	sa := cfg.ServicesAuth
	cert, err := os.ReadFile(sa.TLSCertFile)
	if err != nil {
		return nil, fmt.Errorf("daemon: ringtail.services_tls_cert_file: %w", err)
	}
	key, err := os.ReadFile(sa.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("daemon: ringtail.services_tls_key_file: %w", err)
	}
	ssl := config.SSLConfig{KeystoreType: "PEM", KeystoreCertificateChain: string(cert), KeystoreKey: string(key),
		TruststoreType: "PEM", TruststoreLocation: sa.TLSCAFile, ClientAuth: "required",
		EnabledProtocols: cfg.SSL.EnabledProtocols, CipherSuites: cfg.SSL.CipherSuites, PrincipalMappingRules: cfg.SSL.PrincipalMappingRules}
	st, err := security.NewServerTLS(ssl, log.With("listener", "services"))
	if err != nil {
		return nil, fmt.Errorf("daemon: ringtail.services_tls_cert_file, services_tls_key_file, services_tls_ca_file: %w", err)
	}
	return st, nil
}

// registryAuthorize maps the registry's operations onto the _schemas
// topic's ACLs: reads need DESCRIBE, writes WRITE.
func registryAuthorize(a *httpauth.Authenticator, topic string) func(req *http.Request, write bool) error {
	return func(req *http.Request, write bool) error {
		op := acl.OpDescribe
		if write {
			op = acl.OpWrite
		}
		return a.Authorize(req.Context(), acl.ResourceTopic, topic, op)
	}
}
