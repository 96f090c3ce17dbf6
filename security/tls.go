// Package security is TLS for the listeners whose security protocol is SSL
// or SASL_SSL and for the controller quorum (Kafka's ssl.* keys, PEM
// only): ServerTLS builds the crypto/tls configuration, re-reads the key,
// certificate chain and CAs when their files change or on SIGHUP (Reload),
// and Principal names the client a certificate authenticates, as Kafka
// does. SASL is package sasl, authorization package acl, client quotas
// package quota.
//
// A reload that fails keeps the configuration in use; connections already
// open keep the certificate they shook hands with, new ones get the new.
package security

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youmark/pkcs8"

	"github.com/ringtail/ringtail/config"
)

// HandshakeTimeout bounds a TLS handshake: a client that connects and
// sends nothing, or plaintext, is disconnected after at most this long.
const HandshakeTimeout = 10 * time.Second

// ServerTLS is the TLS side of a node's SSL listeners.
type ServerTLS struct {
	ssl   config.SSLConfig
	rules []config.PrincipalRule // ssl.principal.mapping.rules
	log   *slog.Logger
	cur   atomic.Pointer[tls.Config]

	mu struct {
		sync.Mutex
		stamps string // the files' sizes and modification times at the last load
	}
}

// NewServerTLS loads the key, certificate chain and CAs that ssl names. An
// error names the key and the file and says what is wrong, in one line.
func NewServerTLS(ssl config.SSLConfig, log *slog.Logger) (*ServerTLS, error) {
	if log == nil {
		log = slog.Default()
	}
	t := &ServerTLS{ssl: ssl, log: log.With("component", "tls")}
	if ssl.PrincipalMappingRules != "" {
		var err error
		if t.rules, err = config.ParsePrincipalMappingRules(ssl.PrincipalMappingRules); err != nil {
			return nil, fmt.Errorf("security: ssl.principal.mapping.rules = %q: %w", ssl.PrincipalMappingRules, err)
		}
	}
	stamps := t.stamps()
	cfg, err := t.load()
	if err != nil {
		return nil, err
	}
	t.cur.Store(cfg)
	t.mu.stamps = stamps
	t.logLoaded("TLS certificate loaded", cfg)
	return t, nil
}

// Config is the *tls.Config a listener serves with: each handshake takes
// the configuration loaded last.
func (t *ServerTLS) Config() *tls.Config {
	return &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return t.cur.Load(), nil },
	}
}

// ClientConfig is the *tls.Config with which this node dials other brokers'
// SSL listeners (inter.broker.listener.name), as Kafka's brokers use their
// listener's ssl.* keys for it: the server is verified against the
// truststore (the system's CAs when none is set) and its host name (Kafka's
// default ssl.endpoint.identification.algorithm=https; franz-go sets
// ServerName to the host dialled), and the keystore's certificate is
// presented when the server asks for one. Each handshake takes the
// certificate loaded last; the CAs are those loaded when it is called.
func (t *ServerTLS) ClientConfig() *tls.Config {
	cur := t.cur.Load()
	return &tls.Config{
		RootCAs:      cur.ClientCAs,
		MinVersion:   cur.MinVersion,
		MaxVersion:   cur.MaxVersion,
		CipherSuites: cur.CipherSuites,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &t.cur.Load().Certificates[0], nil
		},
	}
}

// Current is the configuration loaded last (tests, and the leaf's details
// for logs).
func (t *ServerTLS) Current() *tls.Config { return t.cur.Load() }

// Reload re-reads the files (and inline PEM). On failure it logs the error
// and keeps the configuration in use.
func (t *ServerTLS) Reload(why string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	stamps := t.stamps()
	cfg, err := t.load()
	t.mu.stamps = stamps // a broken file is reported once, not every poll
	if err != nil {
		t.log.Error("TLS reload failed; keeping the certificate in use", "reason", why, "err", err)
		return err
	}
	t.cur.Store(cfg)
	t.logLoaded("TLS certificate reloaded", cfg, "reason", why)
	return nil
}

// Watch polls the keystore and truststore files every interval until stop
// is closed, and reloads when one changes (size or modification time).
func (t *ServerTLS) Watch(stop <-chan struct{}, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		changed := t.stamps() != t.mu.stamps
		t.mu.Unlock()
		if changed {
			_ = t.Reload("file changed")
		}
	}
}

// stamps sums up the files' identity for Watch: a change of any of them
// (including one appearing or disappearing) changes the string.
func (t *ServerTLS) stamps() string {
	var b strings.Builder
	for _, p := range []string{t.ssl.KeystoreLocation, t.ssl.TruststoreLocation} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s:missing;", p)
		}
	}
	return b.String()
}

func (t *ServerTLS) logLoaded(msg string, cfg *tls.Config, args ...any) {
	leaf := cfg.Certificates[0].Leaf
	args = append(args, "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	t.log.Info(msg, args...)
	if time.Now().After(leaf.NotAfter) {
		t.log.Warn("TLS certificate has expired; clients will refuse it", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// load builds a tls.Config from t.ssl.
func (t *ServerTLS) load() (*tls.Config, error) {
	s := t.ssl
	cert, err := loadKeystore(s)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, CipherSuites: s.TLSCipherSuites()}
	if vs := s.TLSVersions(); len(vs) > 0 {
		cfg.MinVersion, cfg.MaxVersion = vs[0], vs[len(vs)-1]
	}
	if s.TruststoreLocation != "" || s.TruststoreCertificates != "" {
		if cfg.ClientCAs, err = loadTruststore(s); err != nil {
			return nil, err
		}
	}
	switch s.ClientAuth {
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case "requested":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		cfg.ClientAuth = tls.NoClientCert
	}
	return cfg, nil
}

func loadKeystore(s config.SSLConfig) (tls.Certificate, error) {
	key, chain, where := []byte(s.KeystoreKey), []byte(s.KeystoreCertificateChain), "ssl.keystore.certificate.chain and ssl.keystore.key"
	if s.KeystoreLocation != "" {
		where = "ssl.keystore.location = " + strconv.Quote(s.KeystoreLocation)
		data, err := os.ReadFile(s.KeystoreLocation)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("security: %s: %w", where, err)
		}
		key, chain = data, data
	}
	if encryptedPEM(key) {
		return tls.Certificate{}, fmt.Errorf("security: %s: the private key is encrypted in OpenSSL's legacy format (Proc-Type: 4,ENCRYPTED); convert it to encrypted PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key8.pem) and set ssl.key.password, as Kafka's PEM keystores need", where)
	}
	switch enc := hasBlock(key, "ENCRYPTED PRIVATE KEY"); {
	case enc && s.KeyPassword == "":
		return tls.Certificate{}, fmt.Errorf("security: %s: the private key is encrypted (ENCRYPTED PRIVATE KEY): set ssl.key.password", where)
	case enc:
		plain, err := decryptKey(key, s.KeyPassword)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("security: %s with ssl.key.password: %w", where, err)
		}
		key = plain
	case s.KeyPassword != "":
		return tls.Certificate{}, fmt.Errorf("security: %s: ssl.key.password is set, but the private key is not encrypted (no -----BEGIN ENCRYPTED PRIVATE KEY-----)", where)
	}
	if !hasBlock(chain, "CERTIFICATE") {
		return tls.Certificate{}, fmt.Errorf("security: %s: no PEM certificate (-----BEGIN CERTIFICATE-----) found", where)
	}
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("security: %s: %s", where, strings.TrimPrefix(err.Error(), "tls: "))
	}
	return cert, nil // Go 1.23+ fills cert.Leaf
}

func loadTruststore(s config.SSLConfig) (*x509.CertPool, error) {
	data, where := []byte(s.TruststoreCertificates), "ssl.truststore.certificates"
	if s.TruststoreLocation != "" {
		where = "ssl.truststore.location = " + strconv.Quote(s.TruststoreLocation)
		var err error
		if data, err = os.ReadFile(s.TruststoreLocation); err != nil {
			return nil, fmt.Errorf("security: %s: %w", where, err)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("security: %s: no PEM CA certificate (-----BEGIN CERTIFICATE-----) found", where)
	}
	return pool, nil
}

// decryptKey decrypts the first ENCRYPTED PRIVATE KEY block of data
// (PKCS#8, PBES2 as OpenSSL and Kafka write it) and returns it as an
// unencrypted PKCS#8 PEM block.
func decryptKey(data []byte, password string) ([]byte, error) {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, errors.New("no ENCRYPTED PRIVATE KEY block")
		}
		if b.Type != "ENCRYPTED PRIVATE KEY" {
			continue
		}
		k, err := pkcs8.ParsePKCS8PrivateKey(b.Bytes, []byte(password))
		if err != nil {
			return nil, fmt.Errorf("cannot decrypt the private key (wrong password, or an unsupported cipher): %v", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
}

func hasBlock(data []byte, typ string) bool {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return false
		}
		if b.Type == typ {
			return true
		}
	}
}

// encryptedPEM reports an OpenSSL-style encrypted key (Proc-Type: 4,ENCRYPTED).
func encryptedPEM(data []byte) bool {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return false
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") && strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return true
		}
	}
}

// Principal is the Kafka principal of a TLS connection under
// ssl.principal.mapping.rules: "User:" and the name the first matching rule
// gives the client certificate's subject (RFC 2253), User:ANONYMOUS without
// a certificate. No matching rule is an error: Kafka fails the
// authentication, and the connection is closed.
func (t *ServerTLS) Principal(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 || len(t.rules) == 0 {
		return Principal(cs), nil
	}
	dn := cs.PeerCertificates[0].Subject.String()
	name, ok := config.MapPrincipal(t.rules, dn)
	if !ok {
		return "", fmt.Errorf("no ssl.principal.mapping.rules rule matches the certificate subject %q", dn)
	}
	return "User:" + name, nil
}

// Anonymous is Kafka's principal for a client that authenticated nothing.
const Anonymous = "User:ANONYMOUS"

// Principal is the Kafka principal of a TLS connection: "User:" and the
// client certificate's subject in RFC 2253 form ("User:CN=client,O=Ringtail"),
// as Kafka's default ssl.principal.mapping.rules give it; without a client
// certificate, User:ANONYMOUS.
func Principal(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return Anonymous
	}
	return "User:" + cs.PeerCertificates[0].Subject.String()
}
