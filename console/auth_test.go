package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/services/httpauth"
)

// testView is a view whose client dials nothing until asked.
func testView(t *testing.T) *Server {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &Server{cl: cl}
}

func isClosed(v *Server) bool { return v.cl.Context().Err() != nil }

// TestUserViewsExpireEvictAndClose: a view is reused while its user keeps
// coming back, closed once unused for the idle time, pushed out least
// recently used first when the cache is full, never closed while a
// request uses it (it closes when that request ends), and closeAll closes
// them all and refuses new ones.
func TestUserViewsExpireEvictAndClose(t *testing.T) {
	now := time.Unix(1000, 0)
	u := newUserViews(2, time.Minute, func() time.Time { return now })
	made := 0
	mk := func() (*Server, error) { made++; return testView(t), nil }

	a, rel, err := u.acquire(u.key("User:alice", "pw"), mk)
	if err != nil {
		t.Fatal(err)
	}
	rel()
	rel() // a second release is a no-op
	now = now.Add(59 * time.Second)
	a2, rel, _ := u.acquire(u.key("User:alice", "pw"), mk)
	rel()
	if a2 != a || made != 1 {
		t.Fatalf("alice's view not reused (made %d)", made)
	}
	// Another password is another login.
	if u.key("User:alice", "pw") == u.key("User:alice", "pw2") {
		t.Fatal("the key ignores the password")
	}

	// Idle for the idle time: closed at the next acquire.
	now = now.Add(time.Minute)
	b, relB, _ := u.acquire(u.key("User:bob", "pw"), mk)
	if !isClosed(a) || u.len() != 1 {
		t.Fatalf("alice's idle view: closed %v, %d kept", isClosed(a), u.len())
	}

	// bob's view is in use; carol and dave fill the cache: bob, the
	// least recently used, is pushed out but stays open for his request.
	now = now.Add(time.Second)
	c, relC, _ := u.acquire(u.key("User:carol", "pw"), mk)
	relC()
	now = now.Add(time.Second)
	_, relD, _ := u.acquire(u.key("User:dave", "pw"), mk)
	relD()
	if isClosed(b) || u.len() != 2 {
		t.Fatalf("bob's view in use: closed %v, %d kept", isClosed(b), u.len())
	}
	relB()
	if !isClosed(b) {
		t.Fatal("bob's pushed-out view not closed when his request ended")
	}

	// An expired view in use is kept.
	_, relC, _ = u.acquire(u.key("User:carol", "pw"), mk)
	now = now.Add(time.Hour)
	_, relE, _ := u.acquire(u.key("User:erin", "pw"), mk)
	if isClosed(c) {
		t.Fatal("carol's view closed while in use")
	}
	relC()

	u.closeAll()
	if !isClosed(c) {
		t.Fatal("closeAll left carol's view open")
	}
	if _, _, err := u.acquire(u.key("User:frank", "pw"), mk); err != errConsoleClosed {
		t.Fatalf("acquire after closeAll: %v", err)
	}
	relE() // erin's view, pushed out by closeAll while in use, closes now
	if u.len() != 0 {
		t.Fatalf("%d views after closeAll", u.len())
	}
}

// fakeAuth accepts any user with password "pw".
type fakeAuth struct{ closed atomic.Bool }

func (f *fakeAuth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, ok := r.BasicAuth()
		if !ok || pw != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(httpauth.WithPrincipal(r.Context(), "User:"+user)))
	})
}

func (f *fakeAuth) Close() { f.closed.Store(true) }

// TestSignedInPages: with Auth, pages want credentials (static files do
// not), each user is served by a view of their own whose client logs in
// with the user's options (not the console's own), the header names the
// user, and Close closes the views and the authenticator.
func TestSignedInPages(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	fa := &fakeAuth{}
	var logins []string
	s, err := New(Config{Brokers: []string{"127.0.0.1:1"}, // the console's own client must not be used
		Auth: &Auth{Authenticator: fa, Brokers: c.ListenAddrs(), ClientOpts: func(user, password string) []kgo.Opt {
			logins = append(logins, user+":"+password)
			return nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path, user string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if user != "" {
			req.SetBasicAuth(user, "pw")
		}
		return fetch(t, req)
	}
	if st, _ := get("/topics", ""); st != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", st)
	}
	if st, _ := get("/static/console.css", ""); st != http.StatusOK {
		t.Fatalf("static file without credentials: %d", st)
	}
	for _, user := range []string{"alice", "bob", "alice"} {
		st, body := get("/topics", user)
		if st != http.StatusOK || !strings.Contains(body, "orders") || !strings.Contains(body, "signed in as "+user) {
			t.Fatalf("%s: %d %s", user, st, body)
		}
	}
	if strings.Join(logins, ",") != "alice:pw,bob:pw" || s.views.len() != 2 {
		t.Fatalf("logins %v, %d views", logins, s.views.len())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx)
	if !fa.closed.Load() || s.views.len() != 0 {
		t.Fatalf("after Close: authenticator closed %v, %d views", fa.closed.Load(), s.views.len())
	}
}
