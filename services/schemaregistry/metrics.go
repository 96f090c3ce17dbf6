package schemaregistry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the request count and latency by endpoint (the route
// pattern) and status.
type metrics struct {
	reg      prometheus.Registerer
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringtail_schema_registry_requests_total",
			Help: "Schema Registry HTTP requests by endpoint and status code."}, []string{"endpoint", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ringtail_schema_registry_request_duration_seconds",
			Help: "Schema Registry HTTP request latency by endpoint and status code.", Buckets: prometheus.DefBuckets},
			[]string{"endpoint", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency)
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg != nil {
		m.reg.Unregister(m.requests)
		m.reg.Unregister(m.latency)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// wrap counts and times h under the endpoint name.
func (m *metrics) wrap(endpoint string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h(rec, req)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		st := strconv.Itoa(rec.status)
		m.requests.WithLabelValues(endpoint, st).Inc()
		m.latency.WithLabelValues(endpoint, st).Observe(time.Since(start).Seconds())
	}
}
