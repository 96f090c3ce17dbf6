package restproxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the request count and latency by route and status, and the
// number of consumer instances.
type metrics struct {
	reg       prometheus.Registerer
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	instances prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringtail_http_proxy_requests_total",
			Help: "HTTP Proxy requests by route and status code."}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ringtail_http_proxy_request_duration_seconds",
			Help: "HTTP Proxy request latency by route and status code.", Buckets: prometheus.DefBuckets},
			[]string{"route", "status"}),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ringtail_http_proxy_consumer_instances",
			Help: "HTTP Proxy consumer instances open now."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.instances)
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg != nil {
		m.reg.Unregister(m.requests)
		m.reg.Unregister(m.latency)
		m.reg.Unregister(m.instances)
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

// Unwrap lets http.ResponseController reach the connection (flush, full
// duplex) through the recorder.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// wrap counts and times h under the route pattern.
func (m *metrics) wrap(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h(rec, req)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		st := strconv.Itoa(rec.status)
		m.requests.WithLabelValues(route, st).Inc()
		m.latency.WithLabelValues(route, st).Observe(time.Since(start).Seconds())
	}
}
