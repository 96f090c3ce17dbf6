// These tests prove the pages over HTTP against an in-process fake Kafka
// cluster (kfake): each page renders, a refusal shows Kafka's error name
// and message rather than a blank 500, a read-only console answers every
// change with a 403 page, changes from another origin are refused, and the
// static files come from the binary itself.
package console

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
)

func newTestConsole(t *testing.T, readOnly bool) *httptest.Server {
	t.Helper()
	srv, _ := newTestConsoleMetrics(t, readOnly)
	return srv
}

func newTestConsoleMetrics(t *testing.T, readOnly bool) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s, err := New(Config{Brokers: c.ListenAddrs(), ReadOnly: readOnly, Metrics: reg})
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
	return srv, reg
}

// get returns the status and body; redirects are not followed.
func fetch(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, u string) (int, string) {
	req, _ := http.NewRequest("GET", u, nil)
	return fetch(t, req)
}

func post(t *testing.T, u string, form url.Values, hdr ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	cl := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func TestPages(t *testing.T) {
	srv, reg := newTestConsoleMetrics(t, false)
	for _, c := range []struct{ path, want string }{
		{"/", `id="stat-brokers">1<`},
		{"/topics", `href="/topics/orders">orders</a>`},
		{"/topics?q=ORD", `href="/topics/orders">orders</a>`},
		{"/topics/orders", `id="topic-name">orders<`},
		{"/topics/orders/messages", `id="window-summary">0 of 0 records`},
		{"/topics/orders/delete", `<strong>3 partitions</strong>`},
		{"/groups", "No consumer groups."},
	} {
		code, body := get(t, srv.URL+c.path)
		if code != http.StatusOK || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d, want 200 with %q:\n%s", c.path, code, c.want, body)
		}
	}
	if _, body := get(t, srv.URL+"/topics?q=nomatch"); !strings.Contains(body, "No topic name contains “nomatch”") {
		t.Errorf("search without a match:\n%s", body)
	}
	get(t, srv.URL+"/nowhere")
	for _, c := range []struct {
		route, code string
		want        float64
	}{{"GET /topics", "2xx", 3}, {"GET /topics/{topic}", "2xx", 1}, {"/", "4xx", 1}} {
		if got := testutil.ToFloat64(mustCounter(t, reg, c.route, c.code)); got != c.want {
			t.Errorf("ringtail_console_requests_total{route=%q,code=%q} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
}

// mustCounter finds the request counter with these labels.
func mustCounter(t *testing.T, reg *prometheus.Registry, route, code string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if mf.GetName() == "ringtail_console_requests_total" && labels["route"] == route && labels["code"] == code {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no ringtail_console_requests_total{route=%q,code=%q}", route, code)
	return nil
}

func TestErrorsInWords(t *testing.T) {
	srv := newTestConsole(t, false)
	for _, c := range []struct {
		path string
		code int
		want []string
	}{
		{"/topics/missing", http.StatusNotFound, []string{"Could not describe topic &#34;missing&#34;", "UNKNOWN_TOPIC_OR_PARTITION"}},
		{"/topics/orders/messages?partition=0&from=offset&offset=5", http.StatusBadRequest, []string{"OFFSET_OUT_OF_RANGE", "partition 0 holds no records", "read the newest records"}},
		{"/topics/orders/messages?partition=7", http.StatusNotFound, []string{"has no partition 7"}},
		{"/topics/orders/messages?count=500", http.StatusBadRequest, []string{"want 1 to 100 records"}},
		{"/nowhere", http.StatusNotFound, []string{"There is no such page"}},
		{"/groups/g/reset?to=sideways", http.StatusBadRequest, []string{"want earliest or latest"}},
	} {
		code, body := get(t, srv.URL+c.path)
		if code != c.code {
			t.Errorf("GET %s: %d, want %d", c.path, code, c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q:\n%s", c.path, w, body)
			}
		}
	}
	code, _, body := post(t, srv.URL+"/topics", url.Values{"name": {"orders"}, "partitions": {"1"}, "replication_factor": {"1"}})
	if code != http.StatusConflict || !strings.Contains(body, "TOPIC_ALREADY_EXISTS") || !strings.Contains(body, `value="orders"`) {
		t.Errorf("create an existing topic: %d\n%s", code, body)
	}
	code, _, body = post(t, srv.URL+"/topics", url.Values{"name": {"x"}, "partitions": {"many"}, "replication_factor": {"1"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `partitions &#34;many&#34;: want a whole number`) {
		t.Errorf("create with bad partitions: %d\n%s", code, body)
	}
	code, _, body = post(t, srv.URL+"/topics/orders/delete", url.Values{"confirm": {"other"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "nothing was deleted") {
		t.Errorf("delete without the confirmation: %d\n%s", code, body)
	}
	// An htmx refresh that fails puts the error where the refreshed part was.
	req, _ := http.NewRequest("GET", srv.URL+"/topics/missing", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "group-live")
	if _, body := fetch(t, req); !strings.Contains(body, `id="group-live"`) {
		t.Errorf("htmx error lacks the target's id:\n%s", body)
	}
}

func TestCreateAndDelete(t *testing.T) {
	srv := newTestConsole(t, false)
	code, loc, _ := post(t, srv.URL+"/topics", url.Values{"name": {"fresh"}, "partitions": {"2"}, "replication_factor": {"1"}})
	if code != http.StatusSeeOther || loc != "/topics/fresh?created=fresh" {
		t.Fatalf("create: %d %q", code, loc)
	}
	if _, body := get(t, srv.URL+loc); !strings.Contains(body, "Topic fresh created.") {
		t.Errorf("after create:\n%s", body)
	}
	code, loc, _ = post(t, srv.URL+"/topics/fresh/delete", url.Values{"confirm": {"fresh"}})
	if code != http.StatusSeeOther || loc != "/topics?deleted=fresh" {
		t.Fatalf("delete: %d %q", code, loc)
	}
	if _, body := get(t, srv.URL+loc); !strings.Contains(body, "Topic fresh deleted.") || strings.Contains(body, `href="/topics/fresh"`) {
		t.Errorf("after delete:\n%s", body)
	}
}

func TestReadOnly(t *testing.T) {
	srv := newTestConsole(t, true)
	if _, body := get(t, srv.URL+"/topics"); strings.Contains(body, "Create a topic") || !strings.Contains(body, "read-only") {
		t.Errorf("read-only topics page offers to create:\n%s", body)
	}
	if _, body := get(t, srv.URL+"/topics/orders"); strings.Contains(body, "delete-topic") {
		t.Errorf("read-only topic page offers to delete")
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/topics"}, {"GET", "/topics/orders/delete"}, {"POST", "/topics/orders/delete"},
		{"GET", "/groups/g/reset?to=earliest"}, {"POST", "/groups/g/reset"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader("name=x&partitions=1&replication_factor=1&confirm=orders&to=earliest"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		code, body := fetch(t, req)
		if code != http.StatusForbidden || !strings.Contains(body, "This console is read-only") {
			t.Errorf("%s %s on a read-only console: %d\n%s", c.method, c.path, code, body)
		}
	}
	if _, body := get(t, srv.URL+"/topics"); !strings.Contains(body, "orders") {
		t.Error("the topic is gone after refused changes")
	}
}

func TestCrossOriginRefused(t *testing.T) {
	srv := newTestConsole(t, false)
	code, _, _ := post(t, srv.URL+"/topics/orders/delete", url.Values{"confirm": {"orders"}}, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example")
	if code != http.StatusForbidden {
		t.Errorf("cross-site delete: %d, want 403", code)
	}
	if _, body := get(t, srv.URL+"/topics"); !strings.Contains(body, `href="/topics/orders"`) {
		t.Error("a cross-site POST deleted the topic")
	}
}

func TestStaticFromBinary(t *testing.T) {
	srv := newTestConsole(t, false)
	code, body := get(t, srv.URL+"/static/htmx.min.js")
	if code != http.StatusOK || !strings.Contains(body, `version:"2.0.11"`) {
		t.Errorf("htmx: %d, %d bytes", code, len(body))
	}
	_, page := get(t, srv.URL+"/")
	for _, bad := range []string{"http://", "https://", "//cdn", "//unpkg"} {
		if i := strings.Index(page, bad); i >= 0 && !strings.Contains(page[max(0, i-20):i], "xmlns") {
			t.Errorf("the page refers to another address: %q", page[max(0, i-40):min(len(page), i+60)])
		}
	}
}
