package console

// The schemas and connectors pages against httptest fakes of the Schema
// Registry and Connect REST APIs, the charts' JSON from a registry, and
// each service's error (or its being down) shown in words.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
)

func newDashConsole(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg.Brokers = c.ListenAddrs()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return srv
}

func writeJSONTest(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fakeSubjectsRegistry serves subject "users-value" with two Avro versions.
func fakeSubjectsRegistry(t *testing.T) *httptest.Server {
	v1 := `{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}`
	v2 := `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /subjects", func(w http.ResponseWriter, r *http.Request) {
		writeJSONTest(w, 200, []string{"users-value", "orders-value"})
	})
	mux.HandleFunc("GET /subjects/{s}/versions", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("s") != "users-value" {
			writeJSONTest(w, 404, map[string]any{"error_code": 40401, "message": "Subject '" + r.PathValue("s") + "' not found."})
			return
		}
		writeJSONTest(w, 200, []int{1, 2})
	})
	mux.HandleFunc("GET /subjects/users-value/versions/{v}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("v") {
		case "1":
			writeJSONTest(w, 200, map[string]any{"subject": "users-value", "version": 1, "id": 1, "schema": v1})
		case "2", "latest":
			writeJSONTest(w, 200, map[string]any{"subject": "users-value", "version": 2, "id": 2, "schema": v2})
		default:
			writeJSONTest(w, 404, map[string]any{"error_code": 40402, "message": "Version " + r.PathValue("v") + " not found."})
		}
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		writeJSONTest(w, 200, map[string]string{"compatibilityLevel": "BACKWARD"})
	})
	mux.HandleFunc("GET /config/{s}", func(w http.ResponseWriter, r *http.Request) {
		writeJSONTest(w, 404, map[string]any{"error_code": 40408, "message": "Subject does not have subject-level compatibility configured"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestSchemasPages(t *testing.T) {
	reg := fakeSubjectsRegistry(t)
	srv := newDashConsole(t, Config{RegistryURL: reg.URL})
	for _, c := range []struct {
		path string
		code int
		want []string
	}{
		{"/", 200, []string{`href="/schemas"`}},
		{"/schemas", 200, []string{`href="/schemas/users-value">users-value</a>`, `id="global-compat">BACKWARD<`}},
		{"/schemas?q=USER", 200, []string{`users-value`}},
		{"/schemas/users-value", 200, []string{`id="version-count">2<`, `none: the global level applies`, `id="global-compat">BACKWARD<`, `&#34;email&#34;`, "(schema id 2)"}},
		{"/schemas/users-value?v=1", 200, []string{"(schema id 1)"}},
		{"/schemas/users-value?from=1&v=2", 200, []string{
			"Version 1 → version 2: 0 lines removed, 8 added",
			`<span class="add">&#43;       &#34;name&#34;: &#34;email&#34;,</span>`,
			`<span class="same">    &#34;type&#34;: &#34;record&#34;,</span>`}},
		{"/schemas/nope", 404, []string{"error 40401", "Subject &#39;nope&#39; not found."}},
		{"/schemas/users-value?v=9", 404, []string{"error 40402"}},
		{"/schemas/users-value?v=x", 400, []string{"is not a version number"}},
		{"/connectors", 404, []string{"no Kafka Connect configured"}},
	} {
		code, body := get(t, srv.URL+c.path)
		if code != c.code {
			t.Errorf("GET %s: %d, want %d\n%s", c.path, code, c.code, body)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q:\n%s", c.path, w, body)
			}
		}
	}
	if _, body := get(t, srv.URL+"/schemas?q=zzz"); strings.Contains(body, "users-value") || !strings.Contains(body, "No subject name contains") {
		t.Errorf("search without a match:\n%s", body)
	}

	// The registry down: the page says so and what to check.
	reg.Close()
	code, body := get(t, srv.URL+"/schemas")
	if code != http.StatusBadGateway || !strings.Contains(body, "UNREACHABLE") || !strings.Contains(body, "did not answer") ||
		!strings.Contains(body, "Check that the Schema Registry is running at "+reg.URL) {
		t.Errorf("registry down: %d\n%s", code, body)
	}
}

// fakeConnect is one FileStreamSource connector whose state the pause and
// resume calls change; it counts the calls.
type fakeConnect struct {
	srv   *httptest.Server
	mu    sync.Mutex
	state string
	calls []string
}

func newFakeConnect(t *testing.T) *fakeConnect {
	f := &fakeConnect{state: "RUNNING"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /connectors", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if got := r.URL.Query()["expand"]; len(got) != 2 {
			writeJSONTest(w, 200, []string{"file-source"})
			return
		}
		writeJSONTest(w, 200, map[string]any{"file-source": map[string]any{
			"status": map[string]any{"name": "file-source", "type": "source",
				"connector": map[string]any{"state": f.state, "worker_id": "127.0.0.1:8083"},
				"tasks":     []any{map[string]any{"id": 0, "state": f.state, "worker_id": "127.0.0.1:8083"}}},
			"info": map[string]any{"name": "file-source", "type": "source",
				"config": map[string]string{"connector.class": "FileStreamSource"}},
		}})
	})
	act := func(state string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
			if r.PathValue("c") != "file-source" {
				writeJSONTest(w, 404, map[string]any{"error_code": 404, "message": "Connector " + r.PathValue("c") + " not found"})
				return
			}
			if state != "" {
				f.state = state
			}
			w.WriteHeader(http.StatusAccepted)
		}
	}
	mux.HandleFunc("PUT /connectors/{c}/pause", act("PAUSED"))
	mux.HandleFunc("PUT /connectors/{c}/resume", act("RUNNING"))
	mux.HandleFunc("POST /connectors/{c}/restart", act(""))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func TestConnectorsPage(t *testing.T) {
	fc := newFakeConnect(t)
	srv := newDashConsole(t, Config{ConnectURL: fc.srv.URL})
	code, body := get(t, srv.URL+"/connectors")
	if code != 200 || !strings.Contains(body, `<td class="state" title="">RUNNING</td>`) ||
		!strings.Contains(body, `0: <span class="task-state">RUNNING</span> on <code>127.0.0.1:8083</code>`) ||
		!strings.Contains(body, "FileStreamSource") || !strings.Contains(body, `action="/connectors/file-source/pause"`) {
		t.Fatalf("connectors page: %d\n%s", code, body)
	}
	if _, body := get(t, srv.URL+"/schemas"); !strings.Contains(body, "no Schema Registry configured") {
		t.Errorf("schemas without a registry:\n%s", body)
	}
	code, loc, _ := post(t, srv.URL+"/connectors/file-source/pause", url.Values{})
	if code != http.StatusSeeOther || loc != "/connectors?paused=file-source" {
		t.Fatalf("pause: %d %q", code, loc)
	}
	if _, body := get(t, srv.URL+loc); !strings.Contains(body, "Connector file-source asked to pause.") || !strings.Contains(body, ">PAUSED</td>") {
		t.Fatalf("after pause:\n%s", body)
	}
	post(t, srv.URL+"/connectors/file-source/resume", url.Values{})
	post(t, srv.URL+"/connectors/file-source/restart", url.Values{})
	code, _, body = post(t, srv.URL+"/connectors/gone/pause", url.Values{})
	if code != http.StatusNotFound || !strings.Contains(body, "Connector gone not found") || !strings.Contains(body, "error 404") {
		t.Fatalf("pause of an unknown connector: %d\n%s", code, body)
	}
	if code, _, _ := post(t, srv.URL+"/connectors/file-source/explode", url.Values{}); code != http.StatusNotFound {
		t.Fatalf("unknown action: %d", code)
	}
	// Another site open in the same browser cannot press the buttons.
	if code, _, _ := post(t, srv.URL+"/connectors/file-source/restart", url.Values{}, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Fatalf("cross-site restart: %d, want 403", code)
	}
	fc.mu.Lock()
	want := []string{"PUT /connectors/file-source/pause", "PUT /connectors/file-source/resume",
		"POST /connectors/file-source/restart?includeTasks=true&onlyFailed=false", "PUT /connectors/gone/pause"}
	if strings.Join(fc.calls, "|") != strings.Join(want, "|") {
		t.Errorf("Connect saw %q, want %q", fc.calls, want)
	}
	fc.mu.Unlock()

	// Read-only: no buttons, and a POST is refused before Connect hears of it.
	ro := newDashConsole(t, Config{ConnectURL: fc.srv.URL, ReadOnly: true})
	if _, body := get(t, ro.URL+"/connectors"); strings.Contains(body, "/pause") || !strings.Contains(body, "RUNNING") {
		t.Errorf("read-only connectors page offers actions:\n%s", body)
	}
	if code, _, body := post(t, ro.URL+"/connectors/file-source/pause", url.Values{}); code != http.StatusForbidden || !strings.Contains(body, "read-only") {
		t.Errorf("read-only pause: %d\n%s", code, body)
	}
	fc.mu.Lock()
	if len(fc.calls) != len(want) {
		t.Errorf("read-only console called Connect: %q", fc.calls[len(want):])
	}
	fc.mu.Unlock()

	fc.srv.Close()
	if code, body := get(t, srv.URL+"/connectors"); code != http.StatusBadGateway || !strings.Contains(body, "Kafka Connect at "+fc.srv.URL+" did not answer") {
		t.Errorf("Connect down: %d\n%s", code, body)
	}
}

// TestChartSeries checks the charts' JSON and page from a node registry
// (the daemon's case): points appear after the second sample.
func TestChartSeries(t *testing.T) {
	b := newFakeBroker()
	srv := newDashConsole(t, Config{})
	if code, body := get(t, srv.URL+"/charts/series"); code != http.StatusNotFound || !strings.Contains(body, "--metrics-url") {
		t.Errorf("series without metrics: %d %s", code, body)
	}
	if _, body := get(t, srv.URL+"/"); !strings.Contains(body, `id="charts-off"`) || strings.Contains(body, "uplot") {
		t.Errorf("overview without metrics offers charts:\n%s", body)
	}
	b.bytesIn.WithLabelValues("a").Add(10)
	srv = newDashConsole(t, Config{Gatherer: b.reg})
	if _, body := get(t, srv.URL+"/"); !strings.Contains(body, `<script src="/static/uplot.iife.min.js"></script>`) || !strings.Contains(body, `id="chart-bytes"`) {
		t.Errorf("overview lacks the charts:\n%s", body)
	}
	for _, f := range []string{"/static/uplot.iife.min.js", "/static/uplot.min.css", "/static/dash.js", "/static/dash.css"} {
		if code, _ := get(t, srv.URL+f); code != 200 {
			t.Errorf("GET %s: %d", f, code)
		}
	}
	code, body := get(t, srv.URL+"/charts/series")
	var s struct {
		Sources []string `json:"sources"`
		T       []int64  `json:"t"`
		Window  float64  `json:"window_s"`
	}
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil || len(s.Sources) != 1 || s.Sources[0] != "this node" || s.Window != 900 {
		t.Fatalf("series: %d %v %s", code, err, body)
	}
	for _, bad := range []Config{{RegistryURL: "127.0.0.1:8081"}, {ConnectURL: "ftp://x"}, {MetricsURLs: []string{"x"}}} {
		bad.Brokers = []string{"127.0.0.1:1"}
		if s, err := New(bad); err == nil {
			s.Close(context.Background())
			t.Errorf("New(%+v) accepted", bad)
		}
	}
	// A typed nil registry is no source.
	var nilReg *prometheus.Registry
	if srcs, _ := metricSources(Config{Gatherer: nilReg}); len(srcs) != 0 {
		t.Errorf("nil registry as a source")
	}
}
