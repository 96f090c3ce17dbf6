// This test proves throttles and refused connections reach /metrics.
package admin

import (
	"testing"
	"time"
)

func TestQuotaMetrics(t *testing.T) {
	m := NewMetrics(nil)
	m.ObserveThrottle("produce", 1500*time.Millisecond)
	m.ObserveConnectionRefused("max_connections_per_ip")
	m.ObserveConnectionRefused("max_connections_per_ip")
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			switch f.GetName() {
			case "ringtail_connections_refused_total":
				got[f.GetName()+"/"+mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
			case "ringtail_quota_throttle_time_seconds":
				got[f.GetName()+"/"+mt.GetLabel()[0].GetValue()] = mt.GetHistogram().GetSampleSum()
			}
		}
	}
	if got["ringtail_connections_refused_total/max_connections_per_ip"] != 2 || got["ringtail_quota_throttle_time_seconds/produce"] != 1.5 {
		t.Fatalf("metrics: %v", got)
	}
}
