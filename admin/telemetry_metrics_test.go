package admin

// Pushed client metrics appear as ringtail_client_metric gauges with their
// labels, next to the store's counters.

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTelemetryMetrics(t *testing.T) {
	m := NewMetrics(nil)
	m.RegisterTelemetry(func() ([]ClientSeries, TelemetryStats) {
		return []ClientSeries{{InstanceID: "i", ClientID: "c", SoftwareName: "kgo", SoftwareVersion: "1", Name: "a.b", Attrs: "node_id=1", Value: 2.5},
			{InstanceID: "i", ClientID: "c\xff\xfe", Name: "weird \"name\"\n", Value: 1}}, TelemetryStats{Clients: 1, Series: 2, Pushes: 3}
	})
	want := `
# HELP ringtail_telemetry_series Pushed client metric series kept (ringtail.telemetry_max_series bounds it).
# TYPE ringtail_telemetry_series gauge
ringtail_telemetry_series 2
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "ringtail_telemetry_series"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(m.reg, "ringtail_client_metric"); err != nil || n != 2 {
		t.Fatalf("client metrics: %d %v", n, err)
	}
}
