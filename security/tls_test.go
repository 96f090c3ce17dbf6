// This file proves that ServerTLS loads PEM keystores and truststores as
// Kafka's ssl.* keys name them, refuses bad ones with one clear message,
// reloads when a file changes while keeping the old certificate when the
// new one is broken, and names a client by its certificate's subject.
package security

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/youmark/pkcs8"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sslConfig() config.SSLConfig {
	return config.Default().SSL
}

func TestServerTLSLoads(t *testing.T) {
	dir := t.TempDir()
	ca := testkit.NewCA(t, "test CA")
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "broker"})

	s := sslConfig()
	s.KeystoreLocation = testkit.WriteFile(t, dir, "server.pem", key, cert)
	s.TruststoreLocation = testkit.WriteFile(t, dir, "ca.pem", ca.PEM)
	s.ClientAuth = "required"
	s.EnabledProtocols = []string{"TLSv1.3"}
	st, err := NewServerTLS(s, quiet)
	if err != nil {
		t.Fatal(err)
	}
	c := st.Current()
	if c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil || c.MinVersion != tls.VersionTLS13 || c.MaxVersion != tls.VersionTLS13 {
		t.Errorf("config %+v", c)
	}
	if cn := c.Certificates[0].Leaf.Subject.CommonName; cn != "broker" {
		t.Errorf("leaf CN %q", cn)
	}

	// Inline PEM, as ssl.keystore.certificate.chain and ssl.keystore.key.
	s = sslConfig()
	s.KeystoreCertificateChain, s.KeystoreKey = string(cert), string(key)
	s.TruststoreCertificates, s.ClientAuth = string(ca.PEM), "requested"
	st, err = NewServerTLS(s, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current().ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("requested gives %v", st.Current().ClientAuth)
	}
}

func TestServerTLSRefuses(t *testing.T) {
	dir := t.TempDir()
	ca := testkit.NewCA(t, "test CA")
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "broker"})
	_, otherKey := ca.Issue(t, testkit.CertOptions{CN: "other"})
	encrypted := []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")
	missing := dir + "/nope.pem"
	tests := []struct {
		name string
		set  func(s *config.SSLConfig)
		want string
	}{
		{"missing keystore", func(s *config.SSLConfig) { s.KeystoreLocation = missing },
			`security: ssl.keystore.location = "` + missing + `": open ` + missing + `: no such file or directory`},
		{"key does not match", func(s *config.SSLConfig) {
			s.KeystoreLocation = testkit.WriteFile(t, dir, "mismatch.pem", otherKey, cert)
		}, `.pem": private key does not match public key`},
		{"inline mismatch", func(s *config.SSLConfig) { s.KeystoreCertificateChain, s.KeystoreKey = string(cert), string(otherKey) },
			`security: ssl.keystore.certificate.chain and ssl.keystore.key: private key does not match public key`},
		{"no certificate", func(s *config.SSLConfig) { s.KeystoreLocation = testkit.WriteFile(t, dir, "keyonly.pem", key) },
			`keyonly.pem": no PEM certificate (-----BEGIN CERTIFICATE-----) found`},
		{"encrypted key without password", func(s *config.SSLConfig) { s.KeystoreLocation = testkit.WriteFile(t, dir, "enc.pem", encrypted, cert) },
			`the private key is encrypted (ENCRYPTED PRIVATE KEY): set ssl.key.password`},
		{"encrypted key, wrong password", func(s *config.SSLConfig) {
			s.KeystoreLocation = testkit.WriteFile(t, dir, "enc2.pem", encryptKey(t, key, "right"), cert)
			s.KeyPassword = "wrong"
		}, `enc2.pem" with ssl.key.password: cannot decrypt the private key (wrong password`},
		{"garbled encrypted key", func(s *config.SSLConfig) {
			s.KeystoreLocation = testkit.WriteFile(t, dir, "enc3.pem", encrypted, cert)
			s.KeyPassword = "right"
		}, `cannot decrypt the private key`},
		{"password for a plain key", func(s *config.SSLConfig) {
			s.KeystoreLocation = testkit.WriteFile(t, dir, "plain.pem", key, cert)
			s.KeyPassword = "right"
		}, `ssl.key.password is set, but the private key is not encrypted`},
		{"legacy encrypted key", func(s *config.SSLConfig) {
			legacy := []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nMIIB\n-----END RSA PRIVATE KEY-----\n")
			s.KeystoreLocation = testkit.WriteFile(t, dir, "legacy.pem", legacy, cert)
		}, `legacy format (Proc-Type: 4,ENCRYPTED); convert it to encrypted PKCS#8`},
		{"missing truststore", func(s *config.SSLConfig) {
			s.KeystoreLocation = testkit.WriteFile(t, dir, "ok.pem", key, cert)
			s.TruststoreLocation = missing
		}, `security: ssl.truststore.location = "` + missing + `": open `},
		{"empty truststore", func(s *config.SSLConfig) {
			s.KeystoreLocation = testkit.WriteFile(t, dir, "ok.pem", key, cert)
			s.TruststoreCertificates = "not pem"
		}, `security: ssl.truststore.certificates: no PEM CA certificate`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sslConfig()
			tt.set(&s)
			_, err := NewServerTLS(s, quiet)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q\ndoes not contain %q (in one line)", err, tt.want)
			}
		})
	}
}

// An encrypted PKCS#8 key loads with ssl.key.password, from a file and
// inline, and serves a handshake.
func TestServerTLSEncryptedKey(t *testing.T) {
	dir := t.TempDir()
	ca := testkit.NewCA(t, "test CA")
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "broker"})
	enc := encryptKey(t, key, "s3cret")
	for _, inline := range []bool{false, true} {
		s := sslConfig()
		if inline {
			s.KeystoreCertificateChain, s.KeystoreKey = string(cert), string(enc)
		} else {
			s.KeystoreLocation = testkit.WriteFile(t, dir, "enc.pem", enc, cert)
		}
		s.KeyPassword = "s3cret"
		st, err := NewServerTLS(s, quiet)
		if err != nil {
			t.Fatalf("inline=%v: %v", inline, err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", st.Config())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.PEM)
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("inline=%v: handshake with the decrypted key: %v", inline, err)
		}
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "broker" {
			t.Errorf("served CN %q", cn)
		}
		c.Close()
		ln.Close()
	}
}

// encryptKey re-encodes an unencrypted PEM key as encrypted PKCS#8
// (PBES2, AES-256-CBC, as openssl pkcs8 -topk8 -v2 aes-256-cbc writes).
func encryptKey(t *testing.T, keyPEM []byte, password string) []byte {
	t.Helper()
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		t.Fatal("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		if k, err = x509.ParseECPrivateKey(b.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	der, err := pkcs8.MarshalPrivateKey(k, []byte(password), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

// Replacing the keystore file changes the certificate new handshakes get;
// a broken replacement keeps the one in use.
func TestServerTLSWatchReloads(t *testing.T) {
	dir := t.TempDir()
	ca := testkit.NewCA(t, "test CA")
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "first"})
	s := sslConfig()
	s.KeystoreLocation = testkit.WriteFile(t, dir, "server.pem", key, cert)
	st, err := NewServerTLS(s, quiet)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go st.Watch(stop, 10*time.Millisecond)
	served := func() string {
		c, err := st.Config().GetConfigForClient(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificates[0].Leaf.Subject.CommonName
	}

	cert2, key2 := ca.Issue(t, testkit.CertOptions{CN: "second"})
	replace(t, s.KeystoreLocation, append(key2, cert2...))
	testkit.WaitFor(t, 10*time.Second, "the new certificate", func() bool { return served() == "second" })

	replace(t, s.KeystoreLocation, []byte("garbage"))
	if err := st.Reload("test"); err == nil {
		t.Fatal("Reload of a broken keystore succeeded")
	}
	if got := served(); got != "second" {
		t.Fatalf("after a failed Reload, serving %q", got)
	}
}

// replace writes data to a new file and renames it over path, as a
// certificate manager does, with a modification time that differs even on
// a coarse clock.
func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestPrincipal(t *testing.T) {
	ca := testkit.NewCA(t, "test CA")
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "client", Org: "Ringtail"})
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := Principal(tls.ConnectionState{PeerCertificates: []*x509.Certificate{pair.Leaf}}); got != "User:CN=client,O=Ringtail" {
		t.Errorf("Principal = %q", got)
	}
	if got := Principal(tls.ConnectionState{}); got != "User:ANONYMOUS" {
		t.Errorf("Principal without a certificate = %q", got)
	}
}

// A node dials another node's SSL listener with ClientConfig: the server is
// verified against the truststore and host name, and the node's own
// certificate satisfies ssl.client.auth=required.
func TestClientConfigMutual(t *testing.T) {
	dir := t.TempDir()
	ca := testkit.NewCA(t, "test CA")
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "broker", Org: "Ringtail"})
	s := sslConfig()
	s.KeystoreLocation = testkit.WriteFile(t, dir, "server.pem", key, cert)
	s.TruststoreLocation = testkit.WriteFile(t, dir, "ca.pem", ca.PEM)
	s.ClientAuth = "required"
	st, err := NewServerTLS(s, quiet)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	srv := tls.Server(a, st.Config())
	cc := st.ClientConfig()
	cc.ServerName = "localhost"
	cli := tls.Client(b, cc)
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if got := Principal(srv.ConnectionState()); got != "User:CN=broker,O=Ringtail" {
		t.Errorf("server sees %q", got)
	}
	a.Close() // not the tls.Conns, whose close_notify nobody would read
	b.Close()

	// A wrong host name fails verification, as Kafka's default
	// ssl.endpoint.identification.algorithm=https does.
	a, b = net.Pipe()
	cc = st.ClientConfig()
	cc.ServerName = "elsewhere.example"
	go func() { _ = tls.Server(a, st.Config()).Handshake(); a.Close() }()
	if err := tls.Client(b, cc).Handshake(); err == nil {
		t.Error("a certificate for another host was accepted")
	}
	b.Close()
}
