package admin

import "github.com/prometheus/client_golang/prometheus"

// saslMetrics count SASL authentications (kafka/sasl.go), by mechanism.
type saslMetrics struct {
	successes, failures, reauths *prometheus.CounterVec
}

func newSASLMetrics(reg *prometheus.Registry) *saslMetrics {
	s := &saslMetrics{
		successes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringtail_sasl_authentication_successes_total",
			Help: "Successful SASL authentications (re-authentications included), by mechanism.",
		}, []string{"mechanism"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringtail_sasl_authentication_failures_total",
			Help: "Failed SASL authentications and connections closed for a request before authenticating, by mechanism (\"none\": before one was chosen).",
		}, []string{"mechanism"}),
		reauths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringtail_sasl_reauthentications_total",
			Help: "Successful SASL re-authentications of an open connection (KIP-368), by mechanism.",
		}, []string{"mechanism"}),
	}
	reg.MustRegister(s.successes, s.failures, s.reauths)
	return s
}

// ObserveAuthentication counts one SASL authentication (kafka.SASLConfig.Observe).
func (m *Metrics) ObserveAuthentication(mechanism string, ok, reauth bool) {
	if mechanism == "" {
		mechanism = "none"
	}
	switch {
	case !ok:
		m.sasl.failures.WithLabelValues(mechanism).Inc()
	case reauth:
		m.sasl.successes.WithLabelValues(mechanism).Inc()
		m.sasl.reauths.WithLabelValues(mechanism).Inc()
	default:
		m.sasl.successes.WithLabelValues(mechanism).Inc()
	}
}
