// These tests prove the API's answers that need no broker: Confluent's
// error bodies for a wrong Content-Type (415), bodies that are not JSON
// (400) or JSON of the wrong shape (422), missing Avro schemas (42201,
// 42202), Avro without a registry (40801), unknown instances (40403), a
// format the instance does not serve (40601), and the instance limit;
// requests and instances are counted on the given Prometheus registry.
package restproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// startTestProxy starts a proxy whose Kafka listener is a closed port.
func startTestProxy(t *testing.T, edit func(*Config)) (*Proxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg := Config{Listen: "127.0.0.1:0", Brokers: []string{dead}}
	if edit != nil {
		edit(&cfg)
	}
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p, "http://" + p.Addr().String()
}

func do(t *testing.T, method, url, ct, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestErrorsWithoutBroker(t *testing.T) {
	_, url := startTestProxy(t, func(c *Config) { c.MaxInstances = 2 })
	for _, c := range []struct {
		name, method, path, ct, body string
		status                       int
		code                         string
	}{
		{"text content type", "POST", "/topics/t", "text/plain", `{"records":[{"value":1}]}`, 415, `"error_code":415`},
		{"no embedded format", "POST", "/topics/t", ctV2, `{"records":[{"value":1}]}`, 415, `"error_code":415`},
		{"protobuf", "POST", "/topics/t", "application/vnd.kafka.protobuf.v2+json", `{"records":[{"value":1}]}`, 415, `"error_code":415`},
		{"not JSON", "POST", "/topics/t", fmtJSON.contentType(), `{"records":[{"value":`, 400, `"error_code":400`},
		{"trailing data", "POST", "/topics/t", fmtJSON.contentType(), `{"records":[{"value":1}]} x`, 400, `"error_code":400`},
		{"records not an array", "POST", "/topics/t", fmtJSON.contentType(), `{"records":{"value":1}}`, 422, `"error_code":422`},
		{"no records", "POST", "/topics/t", fmtJSON.contentType(), `{"records":[]}`, 422, `"error_code":422`},
		{"binary not base64", "POST", "/topics/t", fmtBinary.contentType(), `{"records":[{"value":"%%%"}]}`, 422, `"error_code":422`},
		{"avro key without schema", "POST", "/topics/t", fmtAvro.contentType(), `{"value_schema":"\"int\"","records":[{"key":1,"value":1}]}`, 422, `"error_code":42201`},
		{"avro value without schema", "POST", "/topics/t", fmtAvro.contentType(), `{"records":[{"value":1}]}`, 422, `"error_code":42202`},
		{"partition per record on the partition endpoint", "POST", "/topics/t/partitions/0", fmtJSON.contentType(), `{"records":[{"value":1,"partition":1}]}`, 422, `"error_code":422`},
		{"unknown instance", "GET", "/consumers/g/instances/nope/records", "", "", 404, `"error_code":40403`},
		{"delete unknown instance", "DELETE", "/consumers/g/instances/nope", "", "", 404, `"error_code":40403`},
		{"bad format", "POST", "/consumers/g", ctV2, `{"format":"xml"}`, 422, `"error_code":42204`},
		{"bad reset", "POST", "/consumers/g", ctV2, `{"auto.offset.reset":"middle"}`, 422, `"error_code":42204`},
		{"create wrong content type", "POST", "/consumers/g", "text/plain", `{}`, 415, `"error_code":415`},
	} {
		resp, body := do(t, c.method, url+c.path, c.ct, c.body)
		if resp.StatusCode != c.status || !strings.Contains(body, c.code) {
			t.Errorf("%s: %d %s, want %d with %s", c.name, resp.StatusCode, body, c.status, c.code)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != ctV2 {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
	}

	// A json instance refuses a binary Accept with 40601; an unrelated
	// Accept is 406.
	if resp, body := do(t, "POST", url+"/consumers/g", ctV2, `{"name":"j","format":"json"}`); resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", url+"/consumers/g", ctV2, `{"name":"j"}`); resp.StatusCode != 409 || !strings.Contains(body, `"error_code":40902`) {
		t.Fatalf("duplicate: %d %s", resp.StatusCode, body)
	}
	resp, body := do(t, "GET", url+"/consumers/g/instances/j/records", "", "", "Accept", fmtBinary.contentType())
	if resp.StatusCode != 406 || !strings.Contains(body, `"error_code":40601`) {
		t.Fatalf("format mismatch: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", url+"/consumers/g/instances/j/records", "", "", "Accept", "text/html")
	if resp.StatusCode != 406 {
		t.Fatalf("unrelated Accept: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", url+"/consumers/g/instances/j/records", "", "")
	if resp.StatusCode != 409 || !strings.Contains(body, `"error_code":40903`) {
		t.Fatalf("records before subscribing: %d %s", resp.StatusCode, body)
	}
	// The limit: 2 instances.
	do(t, "POST", url+"/consumers/g", ctV2, `{"name":"k"}`)
	if resp, body := do(t, "POST", url+"/consumers/g", ctV2, `{"name":"l"}`); resp.StatusCode != 429 || !strings.Contains(body, `"error_code":42901`) {
		t.Fatalf("over the limit: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "DELETE", url+"/consumers/g/instances/k", "", ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, body := do(t, "POST", url+"/consumers/g", ctV2, `{"name":"l"}`); resp.StatusCode != 200 {
		t.Fatalf("under the limit again: %d %s", resp.StatusCode, body)
	}
}

// The middleware seam: a wrapper in front of every route sees the request
// first and may answer it.
func TestMiddleware(t *testing.T) {
	_, url := startTestProxy(t, func(c *Config) {
		c.Middleware = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Let-In") == "" {
					http.Error(w, "no", http.StatusUnauthorized)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	})
	if resp, _ := do(t, "GET", url+"/consumers/g/instances/x/offsets", "", ""); resp.StatusCode != 401 {
		t.Fatalf("without the header: %d", resp.StatusCode)
	}
	if resp, body := do(t, "GET", url+"/consumers/g/instances/x/offsets", "", "", "X-Let-In", "1"); resp.StatusCode != 404 || !strings.Contains(body, "40403") {
		t.Fatalf("with it: %d %s", resp.StatusCode, body)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, url := startTestProxy(t, func(c *Config) { c.Metrics = reg })
	do(t, "POST", url+"/topics/t", "text/plain", "x")
	do(t, "POST", url+"/topics/t", "text/plain", "x")
	do(t, "POST", url+"/consumers/g", ctV2, `{"name":"a"}`)
	if n := testutil.ToFloat64(p.metrics.Requests.WithLabelValues("POST /topics/{topic}", "415")); n != 2 {
		t.Fatalf("415s counted: %v", n)
	}
	if n := testutil.ToFloat64(p.metrics.instances); n != 1 {
		t.Fatalf("instances gauge: %v", n)
	}
	if n, err := testutil.GatherAndCount(reg, "ringtail_http_proxy_request_duration_seconds"); err != nil || n != 2 {
		t.Fatalf("latency series: %d %v", n, err)
	}
}
