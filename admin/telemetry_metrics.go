package admin

// Client telemetry (KIP-714) on /metrics: the latest value of each metric
// that clients pushed, as one gauge family with fixed labels (the pushed
// metric's name and attributes are label values, so any name a client
// sends is safe and the family keeps one label set), and the counters of
// the broker's bounded store.

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// ClientSeries is one pushed client metric at scrape time.
type ClientSeries struct {
	InstanceID, ClientID, SoftwareName, SoftwareVersion string
	// Name is the metric's OpenTelemetry name (histograms and summaries
	// give name.count and name.sum); Attrs its sorted key=value pairs.
	Name, Attrs string
	Value       float64
}

// TelemetryStats are the client telemetry store's counters.
type TelemetryStats struct {
	Clients, Series       int
	Pushes, DroppedPoints uint64
}

// TelemetrySource reads the broker's client telemetry store.
type TelemetrySource func() ([]ClientSeries, TelemetryStats)

var (
	clientMetricDesc = prometheus.NewDesc("ringtail_client_metric",
		"Latest value of a metric pushed by a client (KIP-714 client telemetry), by client instance and metric name; attributes are the metric's sorted key=value pairs.",
		[]string{"client_instance_id", "client_id", "client_software_name", "client_software_version", "name", "attributes"}, nil)
	telemetryClientsDesc = prometheus.NewDesc("ringtail_telemetry_client_instances",
		"Client instances the broker holds telemetry state for.", nil, nil)
	telemetrySeriesDesc = prometheus.NewDesc("ringtail_telemetry_series",
		"Pushed client metric series kept (ringtail.telemetry_max_series bounds it).", nil, nil)
	telemetryPushesDesc = prometheus.NewDesc("ringtail_telemetry_pushes_total",
		"Client telemetry pushes with a payload that the broker decoded or refused as malformed.", nil, nil)
	telemetryDroppedDesc = prometheus.NewDesc("ringtail_telemetry_dropped_points_total",
		"Pushed data points dropped by the bounds (series or points per push).", nil, nil)
)

type telemetryCollector struct{ src TelemetrySource }

func (c telemetryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clientMetricDesc
	ch <- telemetryClientsDesc
	ch <- telemetrySeriesDesc
	ch <- telemetryPushesDesc
	ch <- telemetryDroppedDesc
}

func (c telemetryCollector) Collect(ch chan<- prometheus.Metric) {
	series, st := c.src()
	for _, s := range series {
		// Client ids and software names are any bytes a client sent;
		// Prometheus label values must be UTF-8.
		m, err := prometheus.NewConstMetric(clientMetricDesc, prometheus.GaugeValue, s.Value,
			validUTF8(s.InstanceID), validUTF8(s.ClientID), validUTF8(s.SoftwareName), validUTF8(s.SoftwareVersion), validUTF8(s.Name), validUTF8(s.Attrs))
		if err == nil {
			ch <- m
		}
	}
	ch <- prometheus.MustNewConstMetric(telemetryClientsDesc, prometheus.GaugeValue, float64(st.Clients))
	ch <- prometheus.MustNewConstMetric(telemetrySeriesDesc, prometheus.GaugeValue, float64(st.Series))
	ch <- prometheus.MustNewConstMetric(telemetryPushesDesc, prometheus.CounterValue, float64(st.Pushes))
	ch <- prometheus.MustNewConstMetric(telemetryDroppedDesc, prometheus.CounterValue, float64(st.DroppedPoints))
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// RegisterTelemetry exports the client telemetry store read from src.
func (m *Metrics) RegisterTelemetry(src TelemetrySource) {
	m.reg.MustRegister(telemetryCollector{src})
}
