// This file proves that SSL listeners speak TLS as Kafka's do: franz-go and
// kcat produce and consume over TLS, with and without client certificates
// (mTLS, principal from the certificate subject); a plaintext client on the
// TLS port, a TLS client on the plaintext port, an untrusted client
// certificate and an expired server certificate are all refused while the
// broker keeps serving; a replaced keystore file is picked up without a
// restart; and a bad TLS setup stops startup with one clear message.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// tlsNode is a node with a PLAINTEXT listener (for readiness and
// replication) and an SSL one, its keys from a CA made up by the test.
type tlsNode struct {
	*testkit.Node
	ca       *testkit.CA
	dir      string
	keystore string
	sslPort  int
	admin    string // the admin server's address (/metrics)
}

func (n *tlsNode) sslAddr() string { return fmt.Sprintf("127.0.0.1:%d", n.sslPort) }

// newTLSNode prepares (and, with start, starts) a node whose server
// certificate is issued by its own CA with serverOpts; clientAuth is
// ssl.client.auth; extra are more settings.
func newTLSNode(t *testing.T, clientAuth string, serverOpts testkit.CertOptions, start bool, extra ...map[string]string) *tlsNode {
	t.Helper()
	ca := testkit.NewCA(t, "ringtail test CA")
	dir := t.TempDir()
	if serverOpts.CN == "" {
		serverOpts.CN = "broker"
	}
	cert, key := ca.Issue(t, serverOpts)
	tn := &tlsNode{ca: ca, dir: dir, sslPort: testkit.FreePort(t)}
	tn.keystore = testkit.WriteFile(t, dir, "server.pem", key, cert)
	truststore := testkit.WriteFile(t, dir, "ca.pem", ca.PEM)
	settings := map[string]string{
		"ssl.keystore.location":   fmt.Sprintf("%q", tn.keystore),
		"ssl.truststore.location": fmt.Sprintf("%q", truststore),
		"ssl.client.auth":         fmt.Sprintf("%q", clientAuth),
	}
	for _, e := range extra {
		for k, v := range e {
			settings[k] = v
		}
	}
	o, admin := withAdmin(t, testkit.Options{Settings: settings, Ringtail: map[string]string{"log_level": `"debug"`}})
	tn.Node, tn.admin = testkit.NewNode(t, o), admin
	setListeners(t, tn.Node, tn.sslPort)
	if start {
		tn.Start()
	}
	return tn
}

// setListeners rewrites the node's config to add an SSL listener on port.
func setListeners(t *testing.T, n *testkit.Node, port int) {
	t.Helper()
	data, err := os.ReadFile(n.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		fmt.Sprintf(`listeners = "PLAINTEXT://127.0.0.1:%d,`, n.Port),
		fmt.Sprintf(`listeners = "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d,`, n.Port, port),
		fmt.Sprintf(`advertised.listeners = "PLAINTEXT://127.0.0.1:%d"`, n.Port),
		fmt.Sprintf(`advertised.listeners = "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d"`, n.Port, port),
	).Replace(string(data))
	if s == string(data) || !strings.Contains(s, "SSL://") {
		t.Fatalf("could not add the SSL listener to:\n%s", data)
	}
	if err := os.WriteFile(n.ConfigPath, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// clientTLS trusts ca and, when cert is not nil, presents it.
func clientTLS(t *testing.T, ca *testkit.CA, cert, key []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if cert != nil {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c
}

// roundTrip produces count records over TLS and consumes them back.
func roundTrip(t *testing.T, n *tlsNode, topic string, tc *tls.Config, count int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.sslAddr()), kgo.DialTLSConfig(tc.Clone()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ack := produceN(t, cl, topic, "v", count)
	got := consumeAll(t, n.sslAddr(), topic, count, 30*time.Second, kgo.DialTLSConfig(tc.Clone()))
	verifyExactlyOnce(t, ack, got)
}

// pingErr is the error of a franz-go Ping with opts against addr.
func pingErr(addr string, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DialTimeout(2 * time.Second), kgo.RetryTimeout(3 * time.Second)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// stillServes fails the test unless the plaintext listener answers.
func stillServes(t *testing.T, n *tlsNode) {
	t.Helper()
	if err := pingErr(n.Addr()); err != nil {
		t.Fatalf("broker stopped serving: %v\n%s", err, n.Log())
	}
}

func TestTLSFranzServerAuth(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newTLSNode(t, "none", testkit.CertOptions{}, true)
	roundTrip(t, n, "tls-server-auth", clientTLS(t, n.ca, nil, nil), 500)
	// Only TLS clients fetched: every record byte was copied, none sent
	// with sendfile.
	m := scrape(t, n.admin)
	if copied, sent := metricSum(m, "ringtail_fetch_copied_bytes_total", nil), metricSum(m, "ringtail_fetch_sendfile_bytes_total", nil); copied < 500 || sent != 0 {
		t.Errorf("fetch bytes over TLS: copied %v, sendfile %v; want all copied", copied, sent)
	}
	log := n.Log()
	if !strings.Contains(log, "TLS listener: fetch responses copy record bytes through user space") {
		t.Errorf("no log line on the TLS fetch copy path:\n%s", tail(log))
	}
	if !strings.Contains(log, "principal=User:ANONYMOUS") {
		t.Errorf("no anonymous principal logged:\n%s", tail(log))
	}
}

func TestTLSFranzMutual(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newTLSNode(t, "required", testkit.CertOptions{}, true)
	cert, key := n.ca.Issue(t, testkit.CertOptions{CN: "client", Org: "Ringtail"})
	roundTrip(t, n, "tls-mutual", clientTLS(t, n.ca, cert, key), 500)
	if log := n.Log(); !strings.Contains(log, `principal="User:CN=client,O=Ringtail"`) {
		t.Errorf("the client's principal is not logged:\n%s", tail(log))
	}

	// Without a certificate, or with one from another CA: refused.
	if err := pingErr(n.sslAddr(), kgo.DialTLSConfig(clientTLS(t, n.ca, nil, nil))); err == nil {
		t.Error("a client without a certificate was served under ssl.client.auth=required")
	}
	other := testkit.NewCA(t, "someone else's CA")
	cert, key = other.Issue(t, testkit.CertOptions{CN: "intruder"})
	if err := pingErr(n.sslAddr(), kgo.DialTLSConfig(clientTLS(t, n.ca, cert, key))); err == nil {
		t.Error("a client certificate from an untrusted CA was accepted")
	}
	stillServes(t, n)
}

// ssl.principal.mapping.rules name the client; a certificate no rule
// matches is refused, as Kafka fails its authentication.
func TestTLSPrincipalMappingRules(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newTLSNode(t, "required", testkit.CertOptions{}, true,
		map[string]string{"ssl.principal.mapping.rules": `"RULE:^CN=([a-z]+),O=Ringtail$/$1/U"`})
	cert, key := n.ca.Issue(t, testkit.CertOptions{CN: "client", Org: "Ringtail"})
	roundTrip(t, n, "tls-mapped", clientTLS(t, n.ca, cert, key), 10)
	if log := n.Log(); !strings.Contains(log, "principal=User:CLIENT") {
		t.Errorf("the mapped principal is not logged:\n%s", tail(log))
	}
	cert, key = n.ca.Issue(t, testkit.CertOptions{CN: "client", Org: "Elsewhere"})
	if err := pingErr(n.sslAddr(), kgo.DialTLSConfig(clientTLS(t, n.ca, cert, key))); err == nil {
		t.Error("a certificate no rule matches was served")
	}
	testkit.WaitFor(t, 10*time.Second, "the refusal logged", func() bool {
		return strings.Contains(n.Log(), `no ssl.principal.mapping.rules rule matches the certificate subject \"CN=client,O=Elsewhere\"`)
	})
	stillServes(t, n)
}

// listener.name.ssl.ssl.* override the ssl.* keys for the SSL listener.
func TestTLSListenerOverrides(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ca := testkit.NewCA(t, "listener CA")
	dir := t.TempDir()
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "listener-cert"})
	own := testkit.WriteFile(t, dir, "listener.pem", key, cert)
	n := newTLSNode(t, "none", testkit.CertOptions{CN: "base-cert"}, true, map[string]string{
		"listener.name.ssl.ssl.keystore.location":   fmt.Sprintf("%q", own),
		"listener.name.ssl.ssl.truststore.location": fmt.Sprintf("%q", testkit.WriteFile(t, dir, "ca.pem", ca.PEM)),
		"listener.name.ssl.ssl.client.auth":         `"required"`,
	})
	cert, key = ca.Issue(t, testkit.CertOptions{CN: "client", Org: "Ringtail"})
	tc := clientTLS(t, ca, cert, key)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.sslAddr(), tc)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "listener-cert" {
		t.Errorf("the SSL listener serves %q, want its own listener-cert", cn)
	}
	c.Close()
	roundTrip(t, n, "tls-override", tc, 10)
	if err := pingErr(n.sslAddr(), kgo.DialTLSConfig(clientTLS(t, ca, nil, nil))); err == nil {
		t.Error("a client without a certificate was served where the listener requires one")
	}
	stillServes(t, n)
}

func TestTLSKcatMutual(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kcat := needKcat(t)
	n := newTLSNode(t, "required", testkit.CertOptions{}, true)
	cert, key := n.ca.Issue(t, testkit.CertOptions{CN: "kcat", Org: "Ringtail"})
	certPath := testkit.WriteFile(t, n.dir, "client.pem", cert)
	keyPath := testkit.WriteFile(t, n.dir, "client.key", key)
	caPath := filepath.Join(n.dir, "ca.pem")
	ssl := []string{"-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + caPath,
		"-X", "ssl.certificate.location=" + certPath, "-X", "ssl.key.location=" + keyPath}

	var in bytes.Buffer
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&in, "k%d:line %d over TLS\n", i%13, i)
	}
	prod := exec.Command(kcat, append([]string{"-b", n.sslAddr(), "-P", "-t", "kcat-tls", "-K:", "-X", "acks=all"}, ssl...)...)
	prod.Stdin = bytes.NewReader(in.Bytes())
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P over TLS: %v\n%s\n%s", err, out, tail(n.Log()))
	}
	cons := exec.Command(kcat, append([]string{"-b", n.sslAddr(), "-C", "-t", "kcat-tls", "-o", "beginning", "-e", "-K:", "-q"}, ssl...)...)
	got, err := cons.Output()
	if err != nil {
		t.Fatalf("kcat -C over TLS: %v", err)
	}
	if !bytes.Equal(got, in.Bytes()) {
		t.Fatalf("consumed %d bytes over TLS, produced %d", len(got), in.Len())
	}
	if log := n.Log(); !strings.Contains(log, `principal="User:CN=kcat,O=Ringtail"`) {
		t.Errorf("kcat's principal is not logged:\n%s", tail(log))
	}

	// kcat without its certificate is refused.
	out, err := exec.Command(kcat, "-b", n.sslAddr(), "-L", "-m", "3", "-X", "security.protocol=ssl", "-X", "ssl.ca.location="+caPath).CombinedOutput()
	if err == nil {
		t.Errorf("kcat -L without a client certificate succeeded:\n%s", out)
	}
	stillServes(t, n)
}

// A plaintext Kafka client on the TLS port and a TLS client on the
// plaintext port are disconnected, promptly, and the broker serves on.
func TestTLSWrongProtocol(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newTLSNode(t, "none", testkit.CertOptions{}, true)

	// A client that connects and says nothing is dropped at the handshake
	// deadline (10 s); checked at the end.
	silent, err := net.Dial("tcp", n.sslAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentSince := time.Now()

	// Plaintext ApiVersions to the TLS listener: the broker sees no TLS
	// handshake and closes without answering.
	c, err := net.Dial("tcp", n.sslAddr())
	if err != nil {
		t.Fatal(err)
	}
	req := []byte{0, 18, 0, 0, 0, 0, 0, 1, 0, 4, 't', 'e', 's', 't'} // ApiVersions v0, client id "test"
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(req)))
	if _, err := c.Write(append(frame, req...)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	b, err := io.ReadAll(c)
	c.Close()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a plaintext client on the TLS listener was left hanging (read %d bytes)", len(b))
	}
	if len(b) >= 4 && binary.BigEndian.Uint32(b) == uint32(len(b)-4) {
		t.Fatalf("a plaintext client on the TLS listener got a Kafka answer: %x", b)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("closing the plaintext client took %v", time.Since(start))
	}

	// A plaintext client that sends nothing is dropped by the handshake
	// deadline rather than held forever: checked by franz-go failing fast.
	if err := pingErr(n.sslAddr()); err == nil {
		t.Error("a plaintext franz-go client was served on the TLS listener")
	}

	// TLS to the plaintext listener: the ClientHello reads as a frame of
	// some 370 MB, past socket.request.max.bytes, and the broker closes.
	d := &net.Dialer{Timeout: 5 * time.Second, Deadline: time.Now().Add(15 * time.Second)}
	tc, err := tls.DialWithDialer(d, "tcp", n.Addr(), clientTLS(t, n.ca, nil, nil))
	if err == nil {
		tc.Close()
		t.Fatal("a TLS handshake succeeded on the plaintext listener")
	}
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a TLS client on the plaintext listener was left hanging: %v", err)
	}
	stillServes(t, n)
	if err := pingErr(n.sslAddr(), kgo.DialTLSConfig(clientTLS(t, n.ca, nil, nil))); err != nil {
		t.Fatalf("the TLS listener stopped serving: %v", err)
	}

	silent.SetReadDeadline(silentSince.Add(20 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("a silent client on the TLS listener: read %v after %v, want EOF at the handshake deadline", err, time.Since(silentSince))
	}
	if d := time.Since(silentSince); d < 9*time.Second {
		t.Errorf("a silent client was dropped after %v, before the 10 s handshake deadline", d)
	}
}

// An expired server certificate fails the client's verification.
func TestTLSExpiredServerCertificate(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newTLSNode(t, "none", testkit.CertOptions{NotAfter: time.Now().Add(-time.Hour)}, true)
	_, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.sslAddr(), clientTLS(t, n.ca, nil, nil))
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.Expired {
		t.Fatalf("handshake with an expired server certificate: %v, want x509 Expired", err)
	}
	if err := pingErr(n.sslAddr(), kgo.DialTLSConfig(clientTLS(t, n.ca, nil, nil))); err == nil {
		t.Error("franz-go accepted an expired server certificate")
	}
	if log := n.Log(); !strings.Contains(log, "TLS certificate has expired") {
		t.Errorf("no warning about the expired certificate:\n%s", tail(log))
	}
	stillServes(t, n)
}

// Replacing the keystore file changes the certificate new connections see,
// without a restart; a broken file keeps the one in use.
func TestTLSCertificateReload(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newTLSNode(t, "none", testkit.CertOptions{CN: "broker-1"}, true)
	pid := n.PID()
	served := func() string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.sslAddr(), clientTLS(t, n.ca, nil, nil))
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "broker-1" {
		t.Fatalf("serving %q, want broker-1", got)
	}

	cert, key := n.ca.Issue(t, testkit.CertOptions{CN: "broker-2"})
	replaceFile(t, n.keystore, append(key, cert...))
	testkit.WaitFor(t, 30*time.Second, "the new certificate on new connections", func() bool { return served() == "broker-2" })

	replaceFile(t, n.keystore, []byte("not a keystore"))
	testkit.WaitFor(t, 30*time.Second, "the failed reload logged", func() bool {
		return strings.Contains(n.Log(), "TLS reload failed; keeping the certificate in use")
	})
	if got := served(); got != "broker-2" {
		t.Fatalf("after a broken keystore, serving %q", got)
	}
	roundTrip(t, n, "tls-after-reload", clientTLS(t, n.ca, nil, nil), 10)
	if n.PID() != pid {
		t.Fatal("the node restarted")
	}
}

// SIGHUP re-reads the keystore as well.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newTLSNode(t, "none", testkit.CertOptions{CN: "broker-1"}, true)
	if err := syscall.Kill(n.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "the SIGHUP reload logged", func() bool {
		return strings.Contains(n.Log(), "TLS certificate reloaded") && strings.Contains(n.Log(), "reason=SIGHUP")
	})
	stillServes(t, n)
}

// replaceFile writes data beside path and renames it over path, as a
// certificate manager does.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// A bad TLS setup stops startup with one message naming the key.
func TestTLSStartupRefusals(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ca := testkit.NewCA(t, "ringtail test CA")
	dir := t.TempDir()
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "broker"})
	_, otherKey := ca.Issue(t, testkit.CertOptions{CN: "other"})
	missing := filepath.Join(dir, "missing.pem")
	mismatched := testkit.WriteFile(t, dir, "mismatched.pem", otherKey, cert)
	good := testkit.WriteFile(t, dir, "good.pem", key, cert)
	tests := []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"missing keystore", map[string]string{"ssl.keystore.location": fmt.Sprintf("%q", missing)},
			fmt.Sprintf(`security: ssl.keystore.location = %q: open %s: no such file or directory`, missing, missing)},
		{"key does not match", map[string]string{"ssl.keystore.location": fmt.Sprintf("%q", mismatched)},
			fmt.Sprintf(`security: ssl.keystore.location = %q: private key does not match public key`, mismatched)},
		{"no keystore", map[string]string{},
			`ssl.keystore.location = "": SSL listener SSL needs a key and certificate`},
		{"required without truststore", map[string]string{"ssl.keystore.location": fmt.Sprintf("%q", good), "ssl.client.auth": `"required"`},
			`ssl.client.auth = "required": client certificates are required, but no CA to verify them is set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testkit.NewNode(t, testkit.Options{Settings: tt.settings})
			setListeners(t, n, testkit.FreePort(t))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, n.Bin, "serve", "--config", n.ConfigPath).CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("serve did not fail at startup: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("startup output lacks %q:\n%s", tt.want, out)
			}
			var errLines int
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, tt.want) {
					errLines++
				}
			}
			if errLines != 1 {
				t.Errorf("the error appears %d times:\n%s", errLines, out)
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}
