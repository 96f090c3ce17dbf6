// This file proves that SASL listeners authenticate as Kafka's do:
// franz-go and kcat produce and consume over SASL_SSL with SCRAM-SHA-512
// (users made with `ringtail user create`) and over SASL_PLAINTEXT with
// PLAIN (users from the config), sarama over SASL_SSL with SCRAM-SHA-256;
// a wrong password, an unknown user, a SCRAM exchange with a bad nonce or
// proof and a Produce before SaslHandshake are refused no sooner than
// connection.failed.authentication.delay.ms, counted in the metrics, and
// write nothing; a plaintext client on the SASL_SSL port is dropped; a
// config enabling an unknown mechanism stops startup; and with
// connections.max.reauth.ms a producer re-authenticates and keeps going.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"

	"github.com/ringtail/ringtail/testkit"
)

// saslAuthDelay is connection.failed.authentication.delay.ms in these tests.
const saslAuthDelay = 400 * time.Millisecond

const plainJAAS = `'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";'`

// saslNode has a PLAINTEXT listener (readiness, replication), a SASL_SSL
// one offering SCRAM and a SASL_PLAINTEXT one offering PLAIN (users admin
// and alice) and SCRAM-SHA-512.
type saslNode struct {
	*testkit.Node
	ca                  *testkit.CA
	caPath              string
	sslPort, saslPlPort int
	admin               string
}

func (n *saslNode) sslAddr() string   { return fmt.Sprintf("127.0.0.1:%d", n.sslPort) }
func (n *saslNode) plainAddr() string { return fmt.Sprintf("127.0.0.1:%d", n.saslPlPort) }

func saslSettings(t *testing.T, ca *testkit.CA, dir string) map[string]string {
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "broker"})
	keystore := testkit.WriteFile(t, dir, "server.pem", key, cert)
	return map[string]string{
		"ssl.keystore.location":                                fmt.Sprintf("%q", keystore),
		"sasl.enabled.mechanisms":                              `"SCRAM-SHA-256,SCRAM-SHA-512"`,
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms": `"PLAIN,SCRAM-SHA-512"`,
		"listener.name.sasl_plaintext.plain.sasl.jaas.config":  plainJAAS,
		"connection.failed.authentication.delay.ms":            fmt.Sprint(saslAuthDelay.Milliseconds()),
	}
}

func newSASLNode(t *testing.T, extra map[string]string) *saslNode {
	t.Helper()
	ca := testkit.NewCA(t, "ringtail test CA")
	dir := t.TempDir()
	settings := saslSettings(t, ca, dir)
	for k, v := range extra {
		settings[k] = v
	}
	o, admin := withAdmin(t, testkit.Options{Settings: settings, Ringtail: map[string]string{"log_level": `"debug"`}})
	n := &saslNode{Node: testkit.NewNode(t, o), ca: ca, admin: admin, caPath: testkit.WriteFile(t, dir, "ca.pem", ca.PEM),
		sslPort: testkit.FreePort(t), saslPlPort: testkit.FreePort(t)}
	addSASLListeners(t, n.Node, n.sslPort, n.saslPlPort)
	n.Start()
	return n
}

// addSASLListeners rewrites a node's config to add a SASL_SSL listener on
// sslPort and a SASL_PLAINTEXT one on plainPort.
func addSASLListeners(t *testing.T, n *testkit.Node, sslPort, plainPort int) {
	t.Helper()
	data, err := os.ReadFile(n.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("SASL_SSL://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d", sslPort, plainPort)
	s := strings.NewReplacer(
		fmt.Sprintf(`listeners = "PLAINTEXT://127.0.0.1:%d,`, n.Port),
		fmt.Sprintf(`listeners = "PLAINTEXT://127.0.0.1:%d,%s,`, n.Port, extra),
		fmt.Sprintf(`advertised.listeners = "PLAINTEXT://127.0.0.1:%d"`, n.Port),
		fmt.Sprintf(`advertised.listeners = "PLAINTEXT://127.0.0.1:%d,%s"`, n.Port, extra),
	).Replace(string(data))
	if strings.Count(s, "SASL_SSL://") != 2 {
		t.Fatalf("could not add the SASL listeners to:\n%s", data)
	}
	if err := os.WriteFile(n.ConfigPath, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (n *saslNode) tls(t *testing.T) *tls.Config { return clientTLS(t, n.ca, nil, nil) }

func scram512(user, pw string) kgo.Opt {
	return kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha512Mechanism())
}

func plainAuth(user, pw string) kgo.Opt {
	return kgo.SASL(plain.Auth{User: user, Pass: pw}.AsMechanism())
}

// cli runs a ringtail command against addr with extra flags.
func (n *saslNode) cli(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(n.Bin, append(args, "--bootstrap", addr)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

func (n *saslNode) mustCLI(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, err := n.cli(t, addr, args...)
	if err != nil {
		t.Fatalf("ringtail %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// adminPlain is the CLI's PLAIN login as admin (on the SASL_PLAINTEXT listener).
var adminPlain = []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "admin", "--sasl-password", "admin-secret"}

func (n *saslNode) saslMetric(t *testing.T, name, mech string) float64 {
	return metricSum(scrape(t, n.admin), name, map[string]string{"mechanism": mech})
}

func TestSASLScramSSLFranzKcatAndCLI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newSASLNode(t, nil)
	// Users made with the CLI, over SASL_PLAINTEXT as the PLAIN admin.
	out := n.mustCLI(t, n.plainAddr(), append([]string{"user", "create", "franz", "--password", "franz-pw", "--mechanism", "SCRAM-SHA-512", "--iterations", "8192"}, adminPlain...)...)
	if !strings.Contains(out, "created user franz") {
		t.Fatalf("user create: %s", out)
	}
	n.mustCLI(t, n.plainAddr(), append([]string{"user", "create", "kcat", "--password", "kcat-pw"}, adminPlain...)...)
	n.mustCLI(t, n.plainAddr(), append([]string{"user", "create", "gone", "--password", "x", "--mechanism", "SCRAM-SHA-256"}, adminPlain...)...)
	n.mustCLI(t, n.plainAddr(), append([]string{"user", "delete", "gone"}, adminPlain...)...)
	// user list over SASL_SSL, logged in with SCRAM.
	list := n.mustCLI(t, n.sslAddr(), "user", "list", "--tls-ca", n.caPath, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "franz", "--sasl-password", "franz-pw")
	for _, want := range []string{"franz  SCRAM-SHA-512  8192", "kcat   SCRAM-SHA-512  4096"} {
		if !strings.Contains(list, want) {
			t.Errorf("user list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "gone") {
		t.Errorf("deleted user listed:\n%s", list)
	}

	// franz-go over SASL_SSL with SCRAM-SHA-512.
	opts := []kgo.Opt{kgo.DialTLSConfig(n.tls(t)), scram512("franz", "franz-pw")}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.sslAddr()), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ack := produceN(t, cl, "sasl-franz", "v", 300)
	verifyExactlyOnce(t, ack, consumeAll(t, n.sslAddr(), "sasl-franz", 300, 30*time.Second, opts...))

	// kcat (librdkafka) over SASL_SSL with SCRAM-SHA-512.
	kcat := needKcat(t)
	sasl := []string{"-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + n.caPath, "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=kcat", "-X", "sasl.password=kcat-pw"}
	var in bytes.Buffer
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&in, "k%d:line %d over SASL_SSL\n", i%7, i)
	}
	prod := exec.Command(kcat, append([]string{"-b", n.sslAddr(), "-P", "-t", "sasl-kcat", "-K:", "-X", "acks=all"}, sasl...)...)
	prod.Stdin = bytes.NewReader(in.Bytes())
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P over SASL_SSL: %v\n%s\n%s", err, out, tail(n.Log()))
	}
	got, err := exec.Command(kcat, append([]string{"-b", n.sslAddr(), "-C", "-t", "sasl-kcat", "-o", "beginning", "-e", "-K:", "-q"}, sasl...)...).Output()
	if err != nil || !bytes.Equal(got, in.Bytes()) {
		t.Fatalf("kcat -C over SASL_SSL: %v; consumed %d bytes, produced %d", err, len(got), in.Len())
	}
	// kcat with a wrong password is refused.
	bad := append([]string{"-b", n.sslAddr(), "-L", "-m", "5"}, sasl...)
	bad[len(bad)-1] = "sasl.password=wrong"
	if out, err := exec.Command(kcat, bad...).CombinedOutput(); err == nil {
		t.Errorf("kcat -L with a wrong password succeeded:\n%s", out)
	}
	if log := n.Log(); !strings.Contains(log, `principal=User:kcat`) || !strings.Contains(log, `principal=User:franz`) {
		t.Errorf("the SCRAM principals are not logged:\n%s", tail(log))
	}
	if ok := n.saslMetric(t, "ringtail_sasl_authentication_successes_total", "SCRAM-SHA-512"); ok < 2 {
		t.Errorf("%v SCRAM-SHA-512 successes counted", ok)
	}
}

func TestSASLPlainPlaintextFranzAndKcat(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newSASLNode(t, nil)
	opts := []kgo.Opt{plainAuth("alice", "alice-secret")}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.plainAddr()), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ack := produceN(t, cl, "sasl-plain", "v", 300)
	verifyExactlyOnce(t, ack, consumeAll(t, n.plainAddr(), "sasl-plain", 300, 30*time.Second, opts...))

	kcat := needKcat(t)
	sasl := []string{"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"}
	var in bytes.Buffer
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&in, "line %d over SASL_PLAINTEXT\n", i)
	}
	prod := exec.Command(kcat, append([]string{"-b", n.plainAddr(), "-P", "-t", "sasl-plain-kcat", "-X", "acks=all"}, sasl...)...)
	prod.Stdin = bytes.NewReader(in.Bytes())
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P over SASL_PLAINTEXT: %v\n%s\n%s", err, out, tail(n.Log()))
	}
	got, err := exec.Command(kcat, append([]string{"-b", n.plainAddr(), "-C", "-t", "sasl-plain-kcat", "-o", "beginning", "-e", "-q"}, sasl...)...).Output()
	if err != nil || !bytes.Equal(got, in.Bytes()) {
		t.Fatalf("kcat -C over SASL_PLAINTEXT: %v; consumed %d bytes, produced %d", err, len(got), in.Len())
	}
	if ok := n.saslMetric(t, "ringtail_sasl_authentication_successes_total", "PLAIN"); ok < 2 {
		t.Errorf("%v PLAIN successes counted", ok)
	}
}

// xdgSCRAM is sarama's SCRAM client, on xdg-go/scram.
type xdgSCRAM struct {
	gen  xscram.HashGeneratorFcn
	conv *xscram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, pw, authzID string) error {
	c, err := x.gen.NewClient(user, pw, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}
func (x *xdgSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgSCRAM) Done() bool                            { return x.conv.Done() }

func TestSASLSaramaScram256(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newSASLNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(n.plainAddr()), plainAuth("admin", "admin-secret")))
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "sarama", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "sarama-pw"}})
	if err != nil || res["sarama"].Err != nil {
		t.Fatalf("create user: %v %+v", err, res)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "sasl-sarama"); err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = n.tls(t)
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
	cfg.Net.SASL.User, cfg.Net.SASL.Password = "sarama", "sarama-pw"
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{gen: xscram.SHA256} }
	prod, err := sarama.NewSyncProducer([]string{n.sslAddr()}, cfg)
	if err != nil {
		t.Fatalf("sarama producer over SASL_SSL: %v\n%s", err, tail(n.Log()))
	}
	for i := 0; i < 100; i++ {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sasl-sarama", Value: sarama.StringEncoder(fmt.Sprintf("s-%d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	prod.Close()
	cons, err := sarama.NewConsumer([]string{n.sslAddr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("sasl-sarama", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := 0; i < 100; i++ {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != fmt.Sprintf("s-%d", i) {
				t.Fatalf("message %d: %q", i, m.Value)
			}
		case <-ctx.Done():
			t.Fatalf("consumed %d of 100", i)
		}
	}
	if ok := n.saslMetric(t, "ringtail_sasl_authentication_successes_total", "SCRAM-SHA-256"); ok < 2 {
		t.Errorf("%v SCRAM-SHA-256 successes counted", ok)
	}

	// sarama with the v0 handshake (raw SASL tokens, no SaslAuthenticate).
	cfg.Net.SASL.Version = sarama.SASLHandshakeV0
	cfg.ApiVersionsRequest = false
	cfg.Net.TLS.Config = n.tls(t)
	cl, err := sarama.NewClient([]string{n.sslAddr()}, cfg)
	if err != nil {
		t.Fatalf("sarama with SaslHandshake v0: %v", err)
	}
	if ts, err := cl.Topics(); err != nil || !strings.Contains(strings.Join(ts, ","), "sasl-sarama") {
		t.Errorf("topics after a v0 handshake: %v %v", ts, err)
	}
	cl.Close()
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// saslConn is a raw connection speaking the Kafka protocol by hand.
type saslConn struct {
	t    *testing.T
	nc   net.Conn
	corr int32
}

func dialSASL(t *testing.T, addr string) *saslConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &saslConn{t: t, nc: nc}
}

func (c *saslConn) send(req kmsg.Request) {
	c.t.Helper()
	c.corr++
	b := kmsg.NewRequestFormatter(kmsg.FormatterClientID("sasl-test")).AppendRequest(nil, req, c.corr)
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// roundTrip sends req and reads its response into resp.
func (c *saslConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.send(req)
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, body, err := readFrame(c.nc)
	if err != nil {
		c.t.Fatalf("response to %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// closedAfter waits for the broker to close the connection and returns
// how long after since that was.
func (c *saslConn) closedAfter(since time.Time) time.Duration {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(c.nc); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("connection not closed: %v", err)
	}
	return time.Since(since)
}

// authFailure sends the final SaslAuthenticate of a failing exchange and
// checks SASL_AUTHENTICATION_FAILED comes no sooner than the delay, then
// the close.
func (c *saslConn) authFailure(token []byte, wantMsg string) {
	c.t.Helper()
	start := time.Now()
	r := c.roundTrip(&kmsg.SASLAuthenticateRequest{Version: 2, SASLAuthBytes: token}).(*kmsg.SASLAuthenticateResponse)
	if el := time.Since(start); el < saslAuthDelay {
		c.t.Errorf("failure answered after %v, before the %v delay", el, saslAuthDelay)
	}
	if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, wantMsg) {
		c.t.Fatalf("SaslAuthenticate: code %d message %v, want SASL_AUTHENTICATION_FAILED %q", r.ErrorCode, r.ErrorMessage, wantMsg)
	}
	if el := c.closedAfter(start); el < saslAuthDelay {
		c.t.Errorf("closed after %v, before the %v delay", el, saslAuthDelay)
	}
}

func (c *saslConn) handshake(mech string) {
	c.t.Helper()
	if r := c.roundTrip(&kmsg.SASLHandshakeRequest{Version: 1, Mechanism: mech}).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		c.t.Fatalf("handshake %s: %d", mech, r.ErrorCode)
	}
}

func TestSASLWrongPasswordAndUnknownUser(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newSASLNode(t, nil)
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(n.plainAddr()), plainAuth("admin", "admin-secret")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-pw"}}); err != nil || res["bob"].Err != nil {
		t.Fatalf("create bob: %v %+v", err, res)
	}
	plainFails0 := n.saslMetric(t, "ringtail_sasl_authentication_failures_total", "PLAIN")
	scramFails0 := n.saslMetric(t, "ringtail_sasl_authentication_failures_total", "SCRAM-SHA-512")

	// Raw PLAIN: wrong password, then an unknown user.
	for _, tok := range []string{"\x00alice\x00wrong", "\x00mallory\x00alice-secret"} {
		c := dialSASL(t, n.plainAddr())
		c.handshake("PLAIN")
		c.authFailure([]byte(tok), "Authentication failed: Invalid username or password")
	}
	// franz-go: wrong SCRAM password and unknown SCRAM user over SASL_SSL.
	for _, m := range []kgo.Opt{scram512("bob", "wrong"), scram512("nobody", "bob-pw")} {
		err := pingErr(n.sslAddr(), kgo.DialTLSConfig(n.tls(t)), m)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("bad SCRAM credentials: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	}
	if d := n.saslMetric(t, "ringtail_sasl_authentication_failures_total", "PLAIN") - plainFails0; d != 2 {
		t.Errorf("PLAIN failures moved by %v, want 2", d)
	}
	if d := n.saslMetric(t, "ringtail_sasl_authentication_failures_total", "SCRAM-SHA-512") - scramFails0; d < 2 {
		t.Errorf("SCRAM-SHA-512 failures moved by %v, want >= 2", d)
	}
	if log := n.Log(); !strings.Contains(log, "SASL authentication failed") || !strings.Contains(log, "user=mallory") && !strings.Contains(log, "failures_not_logged") {
		t.Errorf("failures not logged:\n%s", tail(log))
	}
	// The good credentials still work.
	if err := pingErr(n.sslAddr(), kgo.DialTLSConfig(n.tls(t)), scram512("bob", "bob-pw")); err != nil {
		t.Fatalf("bob: %v", err)
	}
}

// A SCRAM exchange whose client-final has a bad nonce or a bad proof.
func TestSASLScramBadNonceAndProof(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newSASLNode(t, nil)
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(n.plainAddr()), plainAuth("admin", "admin-secret")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-pw"}}); err != nil || res["bob"].Err != nil {
		t.Fatalf("create bob: %v %+v", err, res)
	}
	fails0 := n.saslMetric(t, "ringtail_sasl_authentication_failures_total", "SCRAM-SHA-512")
	for _, tc := range []struct {
		name   string
		tamper func(string) string
	}{
		{"bad nonce", func(f string) string {
			// Change the nonce's first character to a different one
			// (a random nonce may already start with any letter).
			i := strings.Index(f, ",r=") + 3
			c := "X"
			if f[i] == 'X' {
				c = "Y"
			}
			return f[:i] + c + f[i+1:]
		}},
		{"bad proof", func(f string) string {
			i := strings.Index(f, ",p=") + 3
			b := []byte(f)
			b[i] ^= 1
			return string(b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialSASL(t, n.plainAddr())
			c.handshake("SCRAM-SHA-512")
			cl, err := xscram.SHA512.NewClient("bob", "bob-pw", "")
			if err != nil {
				t.Fatal(err)
			}
			conv := cl.NewConversation()
			first, _ := conv.Step("")
			r := c.roundTrip(&kmsg.SASLAuthenticateRequest{Version: 2, SASLAuthBytes: []byte(first)}).(*kmsg.SASLAuthenticateResponse)
			if r.ErrorCode != 0 {
				t.Fatalf("client-first: %d", r.ErrorCode)
			}
			final, err := conv.Step(string(r.SASLAuthBytes))
			if err != nil {
				t.Fatal(err)
			}
			c.authFailure([]byte(tc.tamper(final)), "invalid credentials with SASL mechanism SCRAM-SHA-512")
		})
	}
	if d := n.saslMetric(t, "ringtail_sasl_authentication_failures_total", "SCRAM-SHA-512") - fails0; d != 2 {
		t.Errorf("failures moved by %v, want 2", d)
	}
}

// A client that skips SaslHandshake and sends Produce is closed after the
// delay, and nothing is written.
func TestSASLProduceWithoutHandshake(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newSASLNode(t, nil)
	n.CreateTopic("sasl-guarded", 1, nil)
	fails0 := n.saslMetric(t, "ringtail_sasl_authentication_failures_total", "none")
	batch := recordBatch([]string{"x"})
	for _, addr := range []string{n.plainAddr()} {
		c := dialSASL(t, addr)
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "sasl-guarded"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		c.send(req)
		c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(c.nc)
		if len(b) > 0 {
			t.Fatalf("Produce before SaslHandshake was answered: %x", b)
		}
		if el := time.Since(start); el < saslAuthDelay {
			t.Errorf("closed after %v, before the %v delay", el, saslAuthDelay)
		}
	}
	if end := endOffsets(t, n.Node, "sasl-guarded", 1); end[0] != 0 {
		t.Fatalf("the topic has %d records after an unauthenticated Produce", end[0])
	}
	if d := n.saslMetric(t, "ringtail_sasl_authentication_failures_total", "none") - fails0; d != 1 {
		t.Errorf("failures moved by %v, want 1", d)
	}
}

// A plaintext client on the SASL_SSL port is dropped without a Kafka answer.
func TestSASLPlaintextClientOnSASLSSL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n := newSASLNode(t, nil)
	c, err := net.Dial("tcp", n.sslAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte{0, 17, 0, 1, 0, 0, 0, 1, 0, 4, 't', 'e', 's', 't', 0, 5, 'P', 'L', 'A', 'I', 'N'} // SaslHandshake v1 PLAIN
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(req))), req...)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a plaintext client on the SASL_SSL listener was left hanging")
	}
	if len(b) >= 4 && binary.BigEndian.Uint32(b) == uint32(len(b)-4) {
		t.Fatalf("a plaintext client on the SASL_SSL listener got a Kafka answer: %x", b)
	}
	if err := pingErr(n.sslAddr(), scram512("x", "y")); err == nil {
		t.Error("a plaintext franz-go client was served on the SASL_SSL listener")
	}
	if err := pingErr(n.plainAddr(), plainAuth("alice", "alice-secret")); err != nil {
		t.Fatalf("SASL_PLAINTEXT stopped serving: %v", err)
	}
}

// A config enabling a mechanism Ringtail lacks, or a SASL listener with
// none, stops startup with one message naming the key and valid values.
func TestSASLStartupRefusals(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, tt := range []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"unknown mechanism", map[string]string{"sasl.enabled.mechanisms": `"GSSAPI"`},
			`sasl.enabled.mechanisms = "GSSAPI": unsupported SASL mechanism "GSSAPI": valid are PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"no mechanism", map[string]string{"listener.name.sasl_plaintext.sasl.enabled.mechanisms": `""`},
			`listener.name.sasl_plaintext.sasl.enabled.mechanisms is empty: SASL listener SASL_PLAINTEXT needs at least one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ca := testkit.NewCA(t, "ringtail test CA")
			settings := saslSettings(t, ca, t.TempDir())
			for k, v := range tt.settings {
				settings[k] = v
			}
			n := testkit.NewNode(t, testkit.Options{Settings: settings})
			addSASLListeners(t, n, testkit.FreePort(t), testkit.FreePort(t))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, n.Bin, "serve", "--config", n.ConfigPath).CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("serve did not fail at startup: %v\n%s", err, out)
			}
			if c := strings.Count(string(out), tt.want); c != 1 {
				t.Fatalf("startup output has %q %d times:\n%s", tt.want, c, out)
			}
		})
	}
}

// KIP-368: with connections.max.reauth.ms, franz-go re-authenticates its
// connections on its own (about a second before the session ends) and a
// producer keeps going across several session lifetimes, none of its
// connections closed for an expired session.
func TestSASLReauthentication(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const lifetime = 2500 * time.Millisecond
	n := newSASLNode(t, map[string]string{"connections.max.reauth.ms": fmt.Sprint(lifetime.Milliseconds())})
	cl := mustClient(t, kgo.SeedBrokers(n.plainAddr()), plainAuth("alice", "alice-secret"), kgo.DefaultProduceTopic("sasl-reauth"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produced := 0
	start := time.Now()
	testkit.WaitFor(t, 45*time.Second, "three session lifetimes of producing, with re-authentications", func() bool {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(produced))}).FirstErr(); err != nil {
			t.Fatalf("produce %d after %v: %v\n%s", produced, time.Since(start), err, tail(n.Log()))
		}
		produced++
		return time.Since(start) > 3*lifetime && n.saslMetric(t, "ringtail_sasl_reauthentications_total", "PLAIN") >= 2
	})
	if f := metricSum(scrape(t, n.admin), "ringtail_sasl_authentication_failures_total", nil); f != 0 {
		t.Errorf("%v authentication failures while re-authenticating", f)
	}
	if strings.Contains(n.Log(), "SASL session expired") {
		t.Errorf("a connection was closed for an expired session:\n%s", tail(n.Log()))
	}
	got := consumeAll(t, n.plainAddr(), "sasl-reauth", produced, 30*time.Second, plainAuth("alice", "alice-secret"))
	if len(got) != produced {
		t.Fatalf("consumed %d of %d", len(got), produced)
	}
}
