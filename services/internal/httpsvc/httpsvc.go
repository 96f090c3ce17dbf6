// Package httpsvc is the skeleton Ringtail's built-in HTTP services
// (Schema Registry, HTTP Proxy, Connect) share: request metrics by route
// and status, Confluent's error body with its HTTP status, the answer to a
// refused authorization, and serving an http.Server in the background.
package httpsvc

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtail/ringtail/services/httpauth"
)

// StatusRecorder is a ResponseWriter that remembers the status written.
type StatusRecorder struct {
	http.ResponseWriter
	Status int // 0 until a header or body is written
}

func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush, full
// duplex) through the recorder.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Code is the status answered: 200 when the handler wrote nothing.
func (s *StatusRecorder) Code() int {
	if s.Status == 0 {
		return http.StatusOK
	}
	return s.Status
}

// RequestMetrics count and time a service's requests by route and status
// as <prefix>_requests_total and <prefix>_request_duration_seconds.
type RequestMetrics struct {
	reg      prometheus.Registerer
	Requests *prometheus.CounterVec
	Latency  *prometheus.HistogramVec
}

// NewRequestMetrics makes the metrics (help texts name the service as
// what, the route label as label) and registers them on reg unless nil.
func NewRequestMetrics(reg prometheus.Registerer, prefix, what, label string) *RequestMetrics {
	m := &RequestMetrics{reg: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_requests_total",
			Help: what + " requests by " + label + " and status code."}, []string{label, "status"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: prefix + "_request_duration_seconds",
			Help: what + " request latency by " + label + " and status code.", Buckets: prometheus.DefBuckets},
			[]string{label, "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Latency)
	}
	return m
}

// Unregister takes the metrics off their registry, so that a service
// started again in the same process registers anew.
func (m *RequestMetrics) Unregister() {
	if m.reg != nil {
		m.reg.Unregister(m.Requests)
		m.reg.Unregister(m.Latency)
	}
}

// Wrap counts and times h under route.
func (m *RequestMetrics) Wrap(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		rec := &StatusRecorder{ResponseWriter: w}
		h(rec, req)
		st := strconv.Itoa(rec.Code())
		m.Requests.WithLabelValues(route, st).Inc()
		m.Latency.WithLabelValues(route, st).Observe(time.Since(start).Seconds())
	}
}

// Error is Confluent's error body, {"error_code":40401,"message":...},
// with the HTTP status it is answered with.
type Error struct {
	Status  int    `json:"-"`
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// Errorf makes an Error whose HTTP status is the first three digits of
// code (40401: 404).
func Errorf(code int, format string, args ...any) *Error {
	status := code
	for status >= 1000 {
		status /= 10
	}
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WriteJSON answers status with v as JSON of contentType; v that does
// not encode is a 500 50001.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error_code":50001,"message":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// AuthzError is the answer to an authorization's outcome: nil when
// allowed, 403 40301 with the denial ("User is denied operation ...")
// when httpauth denied it, 500 50001 when it could not be decided.
func AuthzError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, httpauth.ErrDenied):
		return Errorf(40301, "%s", err.Error())
	}
	return Errorf(50001, "Could not authorize the request: %v", err)
}

// Serve runs srv on ln in the background, counted in wg; an end other
// than Shutdown is logged as what's server stopping.
func Serve(srv *http.Server, ln net.Listener, log *slog.Logger, what string, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" server stopped", "err", err)
		}
	}()
}
