// These tests prove the middleware's answers (401 with a Basic challenge
// and the services' error body, the principal handed on), that credential
// checks are cached for their lifetimes on a fake clock and bounded, that
// mTLS names the caller with ssl.principal.mapping.rules, and that the
// ACL-based decisions for mTLS follow Kafka's rules.
package httpauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/security"
	"github.com/ringtail/ringtail/testkit"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeVerifier knows alice:secret; "broken" cannot be checked.
type fakeVerifier struct {
	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeVerifier) Verify(_ context.Context, user, pw string) (*kgo.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[user+":"+pw]++
	switch {
	case user == "broken":
		return nil, errors.New("broker unreachable")
	case user == "alice" && pw == "secret":
		return nil, nil
	}
	return nil, ErrBadCredentials
}

func (f *fakeVerifier) count(k string) int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls[k] }

// echo answers with the principal it was handed.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, Principal(r.Context())) })

func do(t *testing.T, h http.Handler, user, pw string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", "/subjects", nil)
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func newBasic(t *testing.T) (*Authenticator, *fakeVerifier, *fakeClock) {
	t.Helper()
	fv := &fakeVerifier{}
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	a, err := New(Config{Mode: ModeHTTPBasic, Service: "test", Verifier: fv, Now: clk.now, ErrorContentType: "application/vnd.schemaregistry.v1+json"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a, fv, clk
}

func TestNoneIsAnonymous(t *testing.T) {
	a, err := New(Config{Mode: ModeNone})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := do(t, a.Middleware(echo), "", "")
	if rec.Code != 200 || rec.Body.String() != "User:ANONYMOUS" {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
	if err := a.Authorize(context.Background(), acl.ResourceTopic, "_schemas", acl.OpWrite); err != nil {
		t.Fatalf("mode none denied: %v", err)
	}
}

func TestBasicAnswers(t *testing.T) {
	a, _, _ := newBasic(t)
	h := a.Middleware(echo)
	for _, c := range []struct {
		name, user, pw string
		status         int
		body           string
	}{
		{"no credentials", "", "", 401, "HTTP basic credentials"},
		{"wrong password", "alice", "nope", 401, "invalid user name or password"},
		{"unknown user", "mallory", "secret", 401, "invalid user name or password"},
		{"broker unreachable", "broken", "x", 500, "Could not check"},
		{"right", "alice", "secret", 200, "User:alice"},
	} {
		rec := do(t, h, c.user, c.pw)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%s: got %d %s, want %d containing %q", c.name, rec.Code, rec.Body, c.status, c.body)
			continue
		}
		if c.status == 200 {
			continue
		}
		var body struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Code != c.status*100+1 {
			t.Errorf("%s: body %s: want error_code %d (%v)", c.name, rec.Body, c.status*100+1, err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/vnd.schemaregistry.v1+json" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		if wa := rec.Header().Get("WWW-Authenticate"); (c.status == 401) != (wa == `Basic realm="ringtail"`) {
			t.Errorf("%s: WWW-Authenticate %q", c.name, wa)
		}
	}
}

// TestStatusErrorCodes: Kafka Connect's errors carry the HTTP status as
// their error_code, its authentication failures too.
func TestStatusErrorCodes(t *testing.T) {
	a, err := New(Config{Mode: ModeHTTPBasic, Service: "connect", Verifier: &fakeVerifier{}, StatusErrorCodes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, c := range []struct{ user, pw string }{{"", ""}, {"alice", "nope"}} {
		rec := do(t, a.Middleware(echo), c.user, c.pw)
		var body struct {
			Code int `json:"error_code"`
		}
		if rec.Code != 401 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Code != 401 ||
			rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("user %q: %d %v %s, want 401 with error_code 401", c.user, rec.Code, rec.Header(), rec.Body)
		}
	}
}

func TestBasicCacheLifetimes(t *testing.T) {
	a, fv, clk := newBasic(t)
	h := a.Middleware(echo)
	for range 3 {
		if rec := do(t, h, "alice", "secret"); rec.Code != 200 {
			t.Fatalf("got %d", rec.Code)
		}
	}
	if n := fv.count("alice:secret"); n != 1 {
		t.Fatalf("verified %d times within the TTL, want 1", n)
	}
	clk.add(verifiedTTL - time.Second)
	do(t, h, "alice", "secret")
	if n := fv.count("alice:secret"); n != 1 {
		t.Fatalf("verified %d times just before the TTL, want 1", n)
	}
	clk.add(2 * time.Second)
	do(t, h, "alice", "secret")
	if n := fv.count("alice:secret"); n != 2 {
		t.Fatalf("verified %d times after the TTL, want 2", n)
	}

	// A failure is remembered briefly, so a client hammering one wrong
	// password reaches the broker once per failedTTL.
	for range 5 {
		if rec := do(t, h, "alice", "bad"); rec.Code != 401 {
			t.Fatalf("got %d", rec.Code)
		}
	}
	if n := fv.count("alice:bad"); n != 1 {
		t.Fatalf("wrong password checked %d times within its TTL, want 1", n)
	}
	clk.add(failedTTL)
	do(t, h, "alice", "bad")
	if n := fv.count("alice:bad"); n != 2 {
		t.Fatalf("wrong password checked %d times after its TTL, want 2", n)
	}

	// An error reaching the broker is not remembered.
	do(t, h, "broken", "x")
	do(t, h, "broken", "x")
	if n := fv.count("broken:x"); n != 2 {
		t.Fatalf("unreachable broker asked %d times, want 2", n)
	}
}

func TestCacheKeyHidesPassword(t *testing.T) {
	a, _, _ := newBasic(t)
	k1, k2 := a.key("alice", "secret"), a.key("alice", "secret2")
	if k1 == k2 || k1 != a.key("alice", "secret") {
		t.Fatal("keys do not tell passwords apart, or are not stable")
	}
	if strings.Contains(string(k1.mac[:]), "secret") {
		t.Fatal("the key holds the password")
	}
	b, _, _ := newBasic(t)
	if b.key("alice", "secret") == k1 {
		t.Fatal("two authenticators hash alike: the HMAC key is not per process")
	}
}

func TestTTLCacheBounded(t *testing.T) {
	c := newTTLCache[int, bool](3)
	t0 := time.Unix(0, 0)
	for i := range 10 {
		c.put(i, true, t0, time.Duration(i+1)*time.Second)
	}
	if n := c.len(); n != 3 {
		t.Fatalf("len %d, want 3", n)
	}
	// The latest three (7, 8, 9) are kept: the soonest to expire goes.
	for i := 7; i < 10; i++ {
		if _, ok := c.get(i, t0); !ok {
			t.Fatalf("entry %d dropped", i)
		}
	}
	if _, ok := c.get(9, t0.Add(10*time.Second)); ok {
		t.Fatal("entry served at its expiry")
	}
	// Past their expiry, entries make room before any live one goes.
	c.put(100, true, t0.Add(9500*time.Millisecond), time.Minute)
	if _, ok := c.get(9, t0.Add(9500*time.Millisecond)); !ok || c.len() != 2 {
		t.Fatalf("expired entries not dropped first: len %d", c.len())
	}
}

func TestClientCacheIdleAndBound(t *testing.T) {
	c := newClientCache(2, time.Minute)
	t0 := time.Unix(0, 0)
	mk := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	a, b, d := credKey{user: "a"}, credKey{user: "b"}, credKey{user: "d"}
	c.put(a, mk(), t0)
	c.put(b, mk(), t0.Add(time.Second))
	c.get(a, t0.Add(2*time.Second)) // a is now the most recently used
	c.put(d, mk(), t0.Add(3*time.Second))
	if c.get(b, t0) != nil || c.get(a, t0.Add(30*time.Second)) == nil || c.get(d, t0.Add(30*time.Second)) == nil {
		t.Fatal("the least recently used client was not the one dropped")
	}
	c.sweep(t0.Add(100 * time.Second)) // a was last used at 30 s
	if c.get(a, t0) != nil {
		t.Fatal("idle client kept")
	}
	c.closeAll()
}

// mtlsServer serves echo over TLS requiring client certificates, with
// the principal mapping rules given.
func mtlsServer(t *testing.T, rules string, acls []acl.Binding) (*httptest.Server, *Authenticator, *testkit.CA) {
	t.Helper()
	ca := testkit.NewCA(t, "httpauth test CA")
	dir := t.TempDir()
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "registry"})
	ssl := config.SSLConfig{KeystoreType: "PEM", KeystoreLocation: testkit.WriteFile(t, dir, "server.pem", key, cert),
		TruststoreType: "PEM", TruststoreLocation: testkit.WriteFile(t, dir, "ca.pem", ca.PEM), ClientAuth: "required",
		EnabledProtocols: []string{"TLSv1.2", "TLSv1.3"}, PrincipalMappingRules: rules}
	st, err := security.NewServerTLS(ssl, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := st.Current().Clone()
	a, err := New(Config{Mode: ModeMTLS, Service: "test", TLS: tc, PrincipalOf: st.Principal, AuthzOn: true,
		SuperUsers: []string{"User:admin"},
		ACLs:       func(context.Context) ([]acl.Binding, error) { return acls, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := acl.OpDescribe
		if r.Method != "GET" {
			op = acl.OpWrite
		}
		if err := a.Authorize(r.Context(), acl.ResourceTopic, "_schemas", op); err != nil {
			http.Error(w, err.Error(), 403)
			return
		}
		echo(w, r)
	}))
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = a.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, a, ca
}

func mtlsClient(t *testing.T, ca *testkit.CA, cn string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if cn != "" {
		cert, key := ca.Issue(t, testkit.CertOptions{CN: cn, Org: "Ringtail"})
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

func get(t *testing.T, cl *http.Client, method, url string) (int, string, error) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestMTLSPrincipalMapping(t *testing.T) {
	// Kafka's example rule: the CN, lower-cased.
	srv, _, ca := mtlsServer(t, `RULE:^CN=([^,]+),O=.*$/$1/L,DEFAULT`, []acl.Binding{
		{ResourceType: acl.ResourceTopic, ResourceName: "_schemas", PatternType: acl.PatternLiteral, Principal: "User:alice", Host: "*", Operation: acl.OpAll, Permission: acl.PermAllow},
	})
	status, body, err := get(t, mtlsClient(t, ca, "Alice"), "GET", srv.URL)
	if err != nil || status != 200 || body != "User:alice" {
		t.Fatalf("got %d %q %v, want 200 User:alice", status, body, err)
	}
	if _, _, err := get(t, mtlsClient(t, ca, ""), "GET", srv.URL); err == nil {
		t.Fatal("a client without a certificate was served")
	}
}

func TestMTLSAuthorizeWithACLs(t *testing.T) {
	lit := func(p string, op acl.Operation, perm acl.Permission) acl.Binding {
		return acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: "_schemas", PatternType: acl.PatternLiteral,
			Principal: p, Host: "*", Operation: op, Permission: perm}
	}
	srv, _, ca := mtlsServer(t, `RULE:^CN=([^,]+),O=.*$/$1/,DEFAULT`, []acl.Binding{
		lit("User:writer", acl.OpWrite, acl.PermAllow),
		lit("User:reader", acl.OpDescribe, acl.PermAllow),
		lit("User:banned", acl.OpAll, acl.PermAllow), lit("User:banned", acl.OpWrite, acl.PermDeny),
	})
	for _, c := range []struct {
		cn, method string
		status     int
	}{
		{"writer", "POST", 200}, {"writer", "GET", 200}, // WRITE implies DESCRIBE
		{"reader", "GET", 200}, {"reader", "POST", 403},
		{"banned", "GET", 200}, {"banned", "POST", 403}, // DENY wins over ALL
		{"nobody", "GET", 403},
		{"admin", "POST", 200}, // super user
	} {
		status, body, err := get(t, mtlsClient(t, ca, c.cn), c.method, srv.URL)
		if err != nil || status != c.status {
			t.Errorf("%s %s: got %d %q %v, want %d", c.cn, c.method, status, body, err, c.status)
		}
		if status == 403 && !strings.Contains(body, "User is denied operation") {
			t.Errorf("%s %s: body %q", c.cn, c.method, body)
		}
	}
}

func TestDeniedErrorMessage(t *testing.T) {
	err := error(&DeniedError{Principal: "User:bob", Resource: acl.ResourceTopic, Name: "_schemas", Op: acl.OpWrite})
	if got := err.Error(); got != "User is denied operation Write on Topic: _schemas" {
		t.Fatalf("message %q", got)
	}
	if !errors.Is(err, ErrDenied) {
		t.Fatal("not ErrDenied")
	}
	if got := title("TRANSACTIONAL_ID"); got != "TransactionalId" {
		t.Fatalf("title %q", got)
	}
}

// NewClient makes a new client acting as the caller on each call (the
// service owns and closes it), and refuses in the modes without one.
func TestNewClientActsAsCaller(t *testing.T) {
	a, err := New(Config{Mode: ModeHTTPBasic, Service: "test", Verifier: &fakeVerifier{}, SASLBrokers: []string{"127.0.0.1:1"}, SASLMechanism: "PLAIN"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var ctx context.Context
	h := http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) { ctx = req.Context() })
	if rec := do(t, a.Middleware(h), "alice", "secret"); rec.Code != 200 {
		t.Fatalf("authenticating: %d", rec.Code)
	}
	c1, err := a.NewClient(ctx, kgo.ConsumerGroup("g"))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := a.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c1 == c2 {
		t.Fatal("NewClient returned a shared client")
	}
	if _, err := a.NewClient(context.Background()); !errors.Is(err, ErrNoImpersonation) {
		t.Fatalf("without a caller: %v", err)
	}
	none, err := New(Config{Mode: ModeNone})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Close()
	if _, err := none.NewClient(WithPrincipal(context.Background(), "User:alice")); !errors.Is(err, ErrNoImpersonation) {
		t.Fatalf("mode none: %v", err)
	}
}

// TestAuthorizeQuietNotCounted: a list filtered with AuthorizeQuiet hides
// what the caller may not describe without counting a denial; Authorize
// counts its refusals.
func TestAuthorizeQuietNotCounted(t *testing.T) {
	_, a, _ := mtlsServer(t, "DEFAULT", nil)
	ctx := WithPrincipal(context.Background(), "User:nobody")
	denied := a.metrics.denied.WithLabelValues("test", acl.OpDescribe.String(), acl.ResourceTopic.String())
	if err := a.AuthorizeQuiet(ctx, acl.ResourceTopic, "hidden", acl.OpDescribe); !errors.Is(err, ErrDenied) {
		t.Fatalf("quiet check: %v, want a denial", err)
	}
	if n := testutil.ToFloat64(denied); n != 0 {
		t.Fatalf("a quiet refusal counted: %v", n)
	}
	if err := a.Authorize(ctx, acl.ResourceTopic, "hidden", acl.OpDescribe); !errors.Is(err, ErrDenied) {
		t.Fatalf("check: %v, want a denial", err)
	}
	if n := testutil.ToFloat64(denied); n != 1 {
		t.Fatalf("denials counted %v, want 1", n)
	}
}

// TestTTLCacheBatchEviction: a full cache that a long list overflows
// keeps its bound and the newest entries.
func TestTTLCacheBatchEviction(t *testing.T) {
	c := newTTLCache[int, bool](64)
	t0 := time.Unix(0, 0)
	for i := range 1000 {
		c.put(i, true, t0, time.Duration(i+1)*time.Second)
		if n := c.len(); n > 64 {
			t.Fatalf("len %d after %d puts, over 64", n, i+1)
		}
	}
	if _, ok := c.get(999, t0); !ok {
		t.Fatal("the newest entry was dropped")
	}
}

// BenchmarkTTLCacheFull is a put into a full cache of maxAuthzEntries
// (what the console's topic filter does past 4,096 topics under mtls).
func BenchmarkTTLCacheFull(b *testing.B) {
	c := newTTLCache[int, bool](maxAuthzEntries)
	t0 := time.Unix(0, 0)
	for i := range maxAuthzEntries {
		c.put(i, true, t0, time.Hour)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.put(maxAuthzEntries+i, true, t0, time.Hour)
	}
}
