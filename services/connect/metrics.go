package connect

// Prometheus metrics of the worker, served on the REST listener's /metrics
// (a standalone worker has no admin port).

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	polledTotal  *prometheus.CounterVec
	writtenTotal *prometheus.CounterVec
	txns         *prometheus.CounterVec
	state        *prometheus.GaugeVec
	requests     *prometheus.CounterVec
}

var taskStates = []string{StateRunning, StatePaused, StateFailed, StateUnassigned}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polledTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringtail_connect_source_records_polled_total",
			Help: "Records a source task polled and committed to Kafka, by connector and task."}, []string{"connector", "task"}),
		writtenTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringtail_connect_sink_records_written_total",
			Help: "Records a sink task wrote and flushed, by connector and task."}, []string{"connector", "task"}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringtail_connect_source_transactions_total",
			Help: "Source task transactions by result (commit or abort)."}, []string{"connector", "task", "result"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ringtail_connect_task_state",
			Help: "1 for a task's current state (RUNNING, PAUSED, FAILED, UNASSIGNED), 0 for the others."}, []string{"connector", "task", "state"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringtail_connect_rest_requests_total",
			Help: "Connect REST API requests by endpoint and status code."}, []string{"endpoint", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.polledTotal, m.writtenTotal, m.txns, m.state, m.requests)
	}
	return m
}

func (m *metrics) polled(id TaskID, n int) {
	m.polledTotal.WithLabelValues(id.Connector, strconv.Itoa(id.Task)).Add(float64(n))
}

func (m *metrics) written(id TaskID, n int) {
	m.writtenTotal.WithLabelValues(id.Connector, strconv.Itoa(id.Task)).Add(float64(n))
}

func (m *metrics) txn(id TaskID, result string) {
	m.txns.WithLabelValues(id.Connector, strconv.Itoa(id.Task), result).Inc()
}

func (m *metrics) taskState(id TaskID, state string) {
	t := strconv.Itoa(id.Task)
	for _, s := range taskStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.WithLabelValues(id.Connector, t, s).Set(v)
	}
}

// forgetTask drops a stopped task's state series.
func (m *metrics) forgetTask(id TaskID) {
	t := strconv.Itoa(id.Task)
	for _, s := range taskStates {
		m.state.DeleteLabelValues(id.Connector, t, s)
	}
}
