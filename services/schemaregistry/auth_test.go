// These tests prove the registry's authentication and authorization hooks:
// every request passes the middleware (401 without credentials), each
// route asks Authorize as a read or a write (lookups and compatibility
// checks read), a denial is 403 40301 and a failure to decide 500, and a
// write forwarded to the writer carries the caller's credentials there.
package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/services/httpauth"
)

// anyPassword accepts every user whose password is "pw".
type anyPassword struct{}

func (anyPassword) Verify(_ context.Context, _, pw string) (*kgo.Client, error) {
	if pw == "pw" {
		return nil, nil
	}
	return nil, httpauth.ErrBadCredentials
}

// authLog records the decisions asked of the hook, by registry.
type authLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *authLog) authorize(name string) func(*http.Request, bool) error {
	return func(req *http.Request, write bool) error {
		p := httpauth.Principal(req.Context())
		l.mu.Lock()
		l.calls = append(l.calls, name+" "+p+" "+map[bool]string{true: "write", false: "read"}[write])
		l.mu.Unlock()
		switch {
		case p == "User:carol":
			return errors.New("broker unreachable")
		case p == "User:bob" && write:
			return &httpauth.DeniedError{Principal: p, Resource: acl.ResourceTopic, Name: "_schemas", Op: acl.OpWrite}
		}
		return nil
	}
}

func (l *authLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if c == s {
			return true
		}
	}
	return false
}

func startAuthRegistry(t *testing.T, brokers []string, name string, log *authLog) *Registry {
	t.Helper()
	a, err := httpauth.New(httpauth.Config{Mode: httpauth.ModeHTTPBasic, Service: "schema-registry", Verifier: anyPassword{},
		ErrorContentType: contentType, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	r, err := Start(Config{Listen: "127.0.0.1:0", Brokers: brokers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Middleware: a.Middleware, Authorize: log.authorize(name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	return r
}

func authDo(t *testing.T, url, user, method, path, body string) (int, int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, "pw")
	}
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Code int `json:"error_code"`
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Code, string(b)
}

func TestAuthHooks(t *testing.T) {
	brokers := newFake(t)
	log := &authLog{}
	first := startAuthRegistry(t, brokers, "first", log)
	if st, code, b := authDo(t, first.URL(), "", "GET", "/subjects", ""); st != 401 || code != 40101 {
		t.Fatalf("no credentials: %d %s", st, b)
	}
	if st, _, b := authDo(t, first.URL(), "alice", "POST", "/subjects/s/versions", body(avroV1)); st != 200 {
		t.Fatalf("alice registers: %d %s", st, b)
	}
	second := startAuthRegistry(t, brokers, "second", log)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, self, err := second.writer(ctx); err != nil || self {
		t.Fatalf("second registry is the writer (%v) or has none: %v", self, err)
	}
	// Forwarded: the writer authenticates alice again and asks the hook.
	if st, _, b := authDo(t, second.URL(), "alice", "POST", "/subjects/s/versions", body(avroOptional)); st != 200 {
		t.Fatalf("alice registers through the second registry: %d %s", st, b)
	}
	if !log.has("second User:alice write") || !log.has("first User:alice write") {
		t.Fatalf("forwarded write not authorized on both registries: %q", log.calls)
	}
	for _, c := range []struct {
		user, method, path, body string
		status, code             int
	}{
		{"bob", "POST", "/subjects/s/versions", body(avroV1), 403, 40301},
		{"bob", "DELETE", "/subjects/s", "", 403, 40301},
		{"bob", "PUT", "/config", `{"compatibility":"NONE"}`, 403, 40301},
		{"bob", "GET", "/subjects", "", 200, 0},
		{"bob", "POST", "/subjects/s", body(avroV1), 200, 0},                                     // lookup: a read
		{"bob", "POST", "/compatibility/subjects/s/versions/latest", body(avroOptional), 200, 0}, // a read
		{"carol", "GET", "/subjects", "", 500, 50001},
		{"carol", "GET", "/", "", 200, 0}, // the root asks nothing
	} {
		st, code, b := authDo(t, first.URL(), c.user, c.method, c.path, c.body)
		if st != c.status || code != c.code {
			t.Errorf("%s %s %s: %d %s, want %d %d", c.user, c.method, c.path, st, b, c.status, c.code)
		}
		if c.status == 403 && !strings.Contains(b, "User is denied operation Write on Topic: _schemas") {
			t.Errorf("%s %s %s: message %s", c.user, c.method, c.path, b)
		}
	}
}
