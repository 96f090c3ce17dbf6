package kafka

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// authCounts records SASLConfig.Observe calls.
type authCounts struct {
	mu                   sync.Mutex
	ok, failed, reauthOK int
}

func (a *authCounts) observe(_ string, ok, reauth bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !ok:
		a.failed++
	case reauth:
		a.reauthOK++
		a.ok++
	default:
		a.ok++
	}
}

func (a *authCounts) get() (ok, failed, reauth int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ok, a.failed, a.reauthOK
}

const testAuthDelay = 150 * time.Millisecond

func saslHarness(t *testing.T, reauth time.Duration, opts ...harnessOpt) (*harness, *authCounts) {
	counts := &authCounts{}
	h := newHarness(t, append([]harnessOpt{func(c *Config) {
		c.SASL = &SASLConfig{Mechanisms: []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, PlainUsers: map[string]string{"admin": "adminpw", "other": "pw"},
			Reauth: reauth, FailureDelay: testAuthDelay, Observe: counts.observe}
	}}, opts...)...)
	return h, counts
}

func plainOpt(user, pw string) kgo.Opt {
	return kgo.SASL(plain.Auth{User: user, Pass: pw}.AsMechanism())
}

func TestSASLPlainScramAndAdmin(t *testing.T) {
	h, counts := saslHarness(t, 0)
	ctx := testCtx(t)
	adm := kadm.NewClient(h.client(plainOpt("admin", "adminpw")))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bobpw"},
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "bobpw"},
	})
	if err != nil || res.AllFailed() || res["bob"].Err != nil {
		t.Fatalf("alter: %v %+v", err, res)
	}
	for _, m := range []kgo.Opt{
		kgo.SASL(scram.Auth{User: "bob", Pass: "bobpw"}.AsSha512Mechanism()),
		kgo.SASL(scram.Auth{User: "bob", Pass: "bobpw"}.AsSha256Mechanism()),
	} {
		cl := h.client(m, kgo.DefaultProduceTopic("t"))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce as bob: %v", err)
		}
	}
	desc, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(desc["bob"].CredInfos) != 2 {
		t.Fatalf("describe: %v %+v", err, desc)
	}
	if ok, failed, _ := counts.get(); ok < 3 || failed != 0 {
		t.Fatalf("counted %d ok, %d failed", ok, failed)
	}
	// Wrong password and unknown user fail with SASL_AUTHENTICATION_FAILED.
	for _, m := range []kgo.Opt{
		kgo.SASL(scram.Auth{User: "bob", Pass: "nope"}.AsSha512Mechanism()),
		kgo.SASL(scram.Auth{User: "nobody", Pass: "bobpw"}.AsSha256Mechanism()),
		plainOpt("admin", "wrong"),
	} {
		cl := h.client(m, kgo.RequestRetries(0))
		err := cl.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("bad credentials: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	}
	if _, failed, _ := counts.get(); failed != 3 {
		t.Fatalf("counted %d failures, want 3", failed)
	}
}

func TestSASLScramAdminErrors(t *testing.T) {
	h, _ := saslHarness(t, 0)
	rc := h.dial()
	rc.roundTrip(&kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, 1)
	a := rc.roundTrip(&kmsg.SASLAuthenticateRequest{Version: 2, SASLAuthBytes: []byte("\x00admin\x00adminpw")}, 2).(*kmsg.SASLAuthenticateResponse)
	if a.ErrorCode != 0 {
		t.Fatalf("PLAIN: %d", a.ErrorCode)
	}
	sp := make([]byte, 32)
	up := func(name string, mech int8, iters int32, salt, salted []byte) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		return kmsg.AlterUserSCRAMCredentialsRequestUpsertion{Name: name, Mechanism: mech, Iterations: iters, Salt: salt, SaltedPassword: salted}
	}
	req := &kmsg.AlterUserSCRAMCredentialsRequest{
		Deletions: []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "ghost", Mechanism: 1}, {Name: "dup", Mechanism: 1}},
		Upsertions: []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
			up("dup", 1, 4096, []byte("s"), sp), up("few", 1, 4095, []byte("s"), sp), up("many", 1, 16385, []byte("s"), sp),
			up("mech", 3, 4096, []byte("s"), sp), up("", 1, 4096, []byte("s"), sp), up("short", 2, 4096, []byte("s"), sp),
			up("nosalt", 1, 4096, nil, sp), up("good", 1, 4096, []byte("s"), sp),
		},
	}
	resp := rc.roundTrip(req, 3).(*kmsg.AlterUserSCRAMCredentialsResponse)
	want := map[string]*kerr.Error{"ghost": kerr.ResourceNotFound, "dup": kerr.DuplicateResource, "few": kerr.UnacceptableCredential,
		"many": kerr.UnacceptableCredential, "mech": kerr.UnsupportedSaslMechanism, "": kerr.UnacceptableCredential,
		"short": kerr.UnacceptableCredential, "nosalt": kerr.UnacceptableCredential, "good": nil}
	if len(resp.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(resp.Results), len(want))
	}
	for _, r := range resp.Results {
		if w := want[r.User]; (w == nil && r.ErrorCode != 0) || (w != nil && r.ErrorCode != w.Code) {
			t.Errorf("user %q: code %d, want %v", r.User, r.ErrorCode, w)
		}
	}
	d := rc.roundTrip(&kmsg.DescribeUserSCRAMCredentialsRequest{Users: []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: "good"}, {Name: "ghost"}, {Name: "x"}, {Name: "x"}}}, 4).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	got := map[string]int16{}
	for _, r := range d.Results {
		got[r.User] = r.ErrorCode
		if r.User == "good" && (len(r.CredentialInfos) != 1 || r.CredentialInfos[0].Mechanism != 1 || r.CredentialInfos[0].Iterations != 4096) {
			t.Errorf("good: %+v", r.CredentialInfos)
		}
	}
	if got["good"] != 0 || got["ghost"] != kerr.ResourceNotFound.Code || got["x"] != kerr.DuplicateResource.Code || len(d.Results) != 3 {
		t.Fatalf("describe: %+v", got)
	}
}

// A request other than ApiVersions/SaslHandshake before authenticating
// closes the connection, no sooner than the failure delay.
func TestSASLGate(t *testing.T) {
	h, counts := saslHarness(t, 0)
	for _, req := range []kmsg.Request{
		&kmsg.MetadataRequest{Version: 9},
		&kmsg.SASLAuthenticateRequest{Version: 1, SASLAuthBytes: []byte("\x00admin\x00adminpw")},
	} {
		rc := h.dial()
		rc.roundTrip(&kmsg.ApiVersionsRequest{Version: 0}, 1)
		start := time.Now()
		rc.write(frame(req, 2))
		rc.expectClosed()
		if el := time.Since(start); el < testAuthDelay {
			t.Fatalf("closed after %v, before the %v failure delay", el, testAuthDelay)
		}
	}
	// Unsupported mechanism: the answer names the enabled ones.
	rc := h.dial()
	hs := rc.roundTrip(&kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "GSSAPI"}, 1).(*kmsg.SASLHandshakeResponse)
	if hs.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(hs.SupportedMechanisms) != 3 {
		t.Fatalf("GSSAPI handshake: %+v", hs)
	}
	rc.expectClosed()
	if _, failed, _ := counts.get(); failed != 3 {
		t.Fatalf("counted %d failures, want 3", failed)
	}
}

// Handshake v0: raw tokens framed by their length.
func TestSASLHandshakeV0(t *testing.T) {
	h, _ := saslHarness(t, 0)
	rc := h.dial()
	if hs := rc.roundTrip(&kmsg.SASLHandshakeRequest{Version: 0, Mechanism: "PLAIN"}, 1).(*kmsg.SASLHandshakeResponse); hs.ErrorCode != 0 {
		t.Fatalf("handshake: %d", hs.ErrorCode)
	}
	tok := []byte("\x00admin\x00adminpw")
	rc.write(binary.BigEndian.AppendUint32(nil, uint32(len(tok))))
	rc.write(tok)
	var size [4]byte
	rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(rc.nc, size[:]); err != nil || binary.BigEndian.Uint32(size[:]) != 0 {
		t.Fatalf("raw answer: %v %x", err, size)
	}
	m := rc.roundTrip(&kmsg.MetadataRequest{Version: 9}, 2).(*kmsg.MetadataResponse)
	if len(m.Brokers) != 1 {
		t.Fatalf("metadata after raw PLAIN: %+v", m)
	}
	// A wrong password in raw mode: closed without an answer.
	rc = h.dial()
	rc.roundTrip(&kmsg.SASLHandshakeRequest{Version: 0, Mechanism: "PLAIN"}, 1)
	tok = []byte("\x00admin\x00x")
	rc.write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
	rc.expectClosed()
}

// KIP-368: with a session lifetime, franz-go re-authenticates on its own
// (with a lifetime under a second, before every request) and keeps
// producing; re-authenticating as another principal fails.
func TestSASLReauthentication(t *testing.T) {
	h, counts := saslHarness(t, 300*time.Millisecond)
	ctx := testCtx(t)
	cl := h.client(plainOpt("admin", "adminpw"), kgo.DefaultProduceTopic("r"), kgo.AllowAutoTopicCreation())
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; ; n++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", n, err)
		}
		if _, failed, re := counts.get(); re >= 3 && failed == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("re-authentications %d failures %d", re, failed)
		}
	}

	rc := h.dial()
	rc.roundTrip(&kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, 1)
	a := rc.roundTrip(&kmsg.SASLAuthenticateRequest{Version: 1, SASLAuthBytes: []byte("\x00admin\x00adminpw")}, 2).(*kmsg.SASLAuthenticateResponse)
	if a.ErrorCode != 0 || a.SessionLifetimeMillis != 300 {
		t.Fatalf("authenticate: %+v", a)
	}
	// Re-authenticating as someone else fails.
	rc.roundTrip(&kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, 3)
	a = rc.roundTrip(&kmsg.SASLAuthenticateRequest{Version: 1, SASLAuthBytes: []byte("\x00other\x00pw")}, 4).(*kmsg.SASLAuthenticateResponse)
	if a.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as another user: %+v", a)
	}
	rc.expectClosed()
}

func TestSASLExpiredSessionClosed(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	h, _ := saslHarness(t, 100*time.Millisecond, func(c *Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	rc := h.dial()
	rc.roundTrip(&kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, 1)
	rc.roundTrip(&kmsg.SASLAuthenticateRequest{Version: 1, SASLAuthBytes: []byte("\x00admin\x00adminpw")}, 2)
	rc.roundTrip(&kmsg.MetadataRequest{Version: 9}, 3)
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	rc.write(frame(&kmsg.MetadataRequest{Version: 9}, 4))
	rc.expectClosed()
}

// On a listener without SASL both APIs answer ILLEGAL_SASL_STATE.
func TestSASLOnPlaintextListener(t *testing.T) {
	h := newHarness(t)
	rc := h.dial()
	if r := rc.roundTrip(&kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, 1).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("handshake: %d", r.ErrorCode)
	}
	if r := rc.roundTrip(&kmsg.SASLAuthenticateRequest{Version: 1}, 2).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("authenticate: %d", r.ErrorCode)
	}
}

// Before authentication a frame over sasl.server.max.receive.size (512
// KiB) closes the connection as soon as its header arrives, whatever its
// key (Kafka's limit on what an unauthenticated client can make it read);
// one of the small cap (1 MiB) or the list cap would be read otherwise.
func TestSASLMaxReceiveSize(t *testing.T) {
	h, _ := saslHarness(t, 0)
	for _, key := range []int16{saslAuthenticateKey, apiVersionsKey, 3} {
		rc := h.dial()
		b := binary.BigEndian.AppendUint32(nil, 512<<10+1)
		b = binary.BigEndian.AppendUint16(b, uint16(key))
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint32(b, 1)
		rc.write(b)
		rc.expectClosed()
	}
}
