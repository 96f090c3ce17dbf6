package restproxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtail/ringtail/services/internal/httpsvc"
)

// metrics are the request count and latency by route and status, and the
// number of consumer instances.
type metrics struct {
	*httpsvc.RequestMetrics
	reg       prometheus.Registerer
	instances prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{reg: reg, RequestMetrics: httpsvc.NewRequestMetrics(reg, "ringtail_http_proxy", "HTTP Proxy", "route"),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ringtail_http_proxy_consumer_instances",
			Help: "HTTP Proxy consumer instances open now."}),
	}
	if reg != nil {
		reg.MustRegister(m.instances)
	}
	return m
}

func (m *metrics) unregister() {
	m.Unregister()
	if m.reg != nil {
		m.reg.Unregister(m.instances)
	}
}
