package connect

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A non-leader forwards writes to the leader (forward=false, the body and
// credentials with it), a task restart to the worker running the task,
// and serves everything else itself.
func TestDistributedForwarding(t *testing.T) {
	var got struct{ method, path, query, auth, body string }
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.path, got.query, got.auth, got.body = r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), string(b)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/connectors/c1")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"name":"c1"}`))
	}))
	defer leader.Close()
	d := &Distributed{workerID: "127.0.0.1:1", url: "http://127.0.0.1:1", fwd: leader.Client(),
		statuses: newStatusStore(nil, "connect-status", slog.Default())}
	d.mu.snap = newConfigSnapshot()
	d.mu.leaderURL = leader.URL
	d.statuses.data[taskStatusKey(TaskID{"c1", 0})] = statusValue{State: StateRunning, WorkerID: "127.0.0.1:3"}
	d.statuses.data[taskStatusKey(TaskID{"c1", 1})] = statusValue{State: StateRunning, WorkerID: "127.0.0.1:1"}
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/connectors", leader.URL},
		{"PUT", "/connectors/c1/config", leader.URL},
		{"DELETE", "/connectors/c1", leader.URL},
		{"PUT", "/connectors/c1/pause", leader.URL},
		{"POST", "/connectors/c1/restart", leader.URL},
		{"POST", "/connectors/c1/tasks/0/restart", "http://127.0.0.1:3"},
		{"POST", "/connectors/c1/tasks/1/restart", ""}, // runs here
		{"POST", "/connectors/c1/tasks/7/restart", ""}, // unknown: answered here
		{"PUT", "/connector-plugins/FileStreamSink/config/validate", ""},
	} {
		target, err := d.forwardTarget(httptest.NewRequest(c.method, c.path, nil))
		if err != nil || target != c.want {
			t.Errorf("%s %s: forward to %q (%v), want %q", c.method, c.path, target, err, c.want)
		}
	}
	local := 0
	h := d.forwarder(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { local++ }))
	req := httptest.NewRequest("POST", "/connectors?x=1", strings.NewReader(`{"name":"c1"}`))
	req.Header.Set("Authorization", "Basic YTpi")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated || rec.Body.String() != `{"name":"c1"}` || rec.Header().Get("Location") != "/connectors/c1" {
		t.Fatalf("forwarded answer: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if got.method != "POST" || got.path != "/connectors" || got.query != "forward=false&x=1" || got.auth != "Basic YTpi" || got.body != `{"name":"c1"}` {
		t.Fatalf("leader got %+v", got)
	}
	// forward=false and reads are served here.
	for _, r := range []*http.Request{httptest.NewRequest("POST", "/connectors?forward=false", nil), httptest.NewRequest("GET", "/connectors", nil)} {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if local != 2 {
		t.Fatalf("served here %d times, want 2", local)
	}
	// The leader serves writes itself.
	d.mu.leader = true
	if target, err := d.forwardTarget(httptest.NewRequest("POST", "/connectors", nil)); target != "" || err != nil {
		t.Fatalf("leader forwards to %q (%v)", target, err)
	}
}
