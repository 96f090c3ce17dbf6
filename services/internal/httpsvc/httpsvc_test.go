package httpsvc

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/services/httpauth"
)

func TestErrorfStatus(t *testing.T) {
	for code, status := range map[int]int{40401: 404, 42201: 422, 50001: 500, 404: 404, 4220101: 422} {
		if e := Errorf(code, "x %d", 1); e.Status != status || e.Code != code || e.Message != "x 1" {
			t.Errorf("Errorf(%d): %+v, want status %d", code, e, status)
		}
	}
}

func TestAuthzError(t *testing.T) {
	if err := AuthzError(nil); err != nil {
		t.Fatalf("allowed: %v", err) // a nil *Error in an error would be non-nil
	}
	denied := fmt.Errorf("wrapped: %w", &httpauth.DeniedError{Principal: "User:bob", Resource: acl.ResourceTopic, Name: "t", Op: acl.OpWrite})
	var e *Error
	if !errors.As(AuthzError(denied), &e) || e.Status != 403 || e.Code != 40301 || e.Message != denied.Error() {
		t.Fatalf("denied: %+v", e)
	}
	if !errors.As(AuthzError(errors.New("broker down")), &e) || e.Status != 500 || e.Code != 50001 {
		t.Fatalf("undecided: %+v", e)
	}
}

func TestRequestMetricsWrap(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewRequestMetrics(reg, "test_svc", "Test", "route")
	h := m.Wrap("GET /x", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		// Nothing written: 200, as net/http answers.
	})
	for _, q := range []string{"", "?fail=1", "?fail=1"} {
		h(httptest.NewRecorder(), httptest.NewRequest("GET", "/x"+q, nil))
	}
	if n := testutil.ToFloat64(m.Requests.WithLabelValues("GET /x", "200")); n != 1 {
		t.Errorf("200s: %v", n)
	}
	if n := testutil.ToFloat64(m.Requests.WithLabelValues("GET /x", "418")); n != 2 {
		t.Errorf("418s: %v", n)
	}
	if n := testutil.CollectAndCount(m.Latency); n != 2 {
		t.Errorf("latency series: %d", n)
	}
	m.Unregister()
	NewRequestMetrics(reg, "test_svc", "Test", "route") // registers again without a panic
}

func TestStatusRecorder(t *testing.T) {
	rec := &StatusRecorder{ResponseWriter: httptest.NewRecorder()}
	if rec.Code() != 200 {
		t.Fatalf("nothing written: %d", rec.Code())
	}
	_, _ = rec.Write([]byte("x"))
	rec.WriteHeader(500) // too late: the body started a 200
	if rec.Code() != 200 {
		t.Fatalf("after a body: %d", rec.Code())
	}
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, 201, "application/vnd.x+json", map[string]int{"a": 1})
	if rec.Code != 201 || rec.Body.String() != `{"a":1}` || rec.Header().Get("Content-Type") != "application/vnd.x+json" {
		t.Fatalf("got %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = httptest.NewRecorder()
	WriteJSON(rec, 200, "application/json", make(chan int))
	if rec.Code != 500 || rec.Body.String() != `{"error_code":50001,"message":"encoding the response failed"}` {
		t.Fatalf("unencodable: %d %s", rec.Code, rec.Body)
	}
}
