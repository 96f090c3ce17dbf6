package admin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// quotaMetrics are the client quota and connection limit metrics
// (kafka.QuotaObserver).
type quotaMetrics struct {
	throttle *prometheus.HistogramVec
	refused  *prometheus.CounterVec
}

func (m *Metrics) registerQuotaMetrics() {
	m.quota.throttle = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ringtail_quota_throttle_time_seconds",
		Help:    "Throttle times given to clients over a quota (throttle_time_ms, for which their connection is muted), by quota type: produce, fetch, request, controller_mutation.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1ms .. 33s
	}, []string{"type"})
	m.quota.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_connections_refused_total",
		Help: "Connections closed at accept by a limit, by reason: max_connections, max_connections_per_ip.",
	}, []string{"reason"})
	m.reg.MustRegister(m.quota.throttle, m.quota.refused)
}

// ObserveThrottle implements kafka.QuotaObserver.
func (m *Metrics) ObserveThrottle(kind string, d time.Duration) {
	m.quota.throttle.WithLabelValues(kind).Observe(d.Seconds())
}

// ObserveConnectionRefused implements kafka.QuotaObserver.
func (m *Metrics) ObserveConnectionRefused(reason string) {
	m.quota.refused.WithLabelValues(reason).Inc()
}
