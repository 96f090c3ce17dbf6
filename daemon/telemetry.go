package daemon

// Client telemetry (KIP-714) wiring: one store for the node's Kafka
// servers, read by the admin server's /metrics.

import (
	"time"

	"github.com/ringtail/ringtail/admin"
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/telemetry"
)

// newTelemetry is the node's client telemetry store, bounded by cfg.
func newTelemetry(cfg *config.Config) *telemetry.Manager {
	return telemetry.NewManager(telemetry.Config{
		MaxBytes:   cfg.Telemetry.MaxBytes,
		MaxClients: int(cfg.Telemetry.MaxClients),
		MaxSeries:  int(cfg.Telemetry.MaxSeries),
	})
}

// telemetrySource adapts the store for admin; nothing before the Kafka
// listeners open.
func (n *Node) telemetrySource() ([]admin.ClientSeries, admin.TelemetryStats) {
	m := n.telem.Load()
	if m == nil {
		return nil, admin.TelemetryStats{}
	}
	series, st := m.Snapshot(time.Now())
	out := make([]admin.ClientSeries, len(series))
	for i, s := range series {
		out[i] = admin.ClientSeries{InstanceID: s.Meta.InstanceID.String(), ClientID: s.Meta.ClientID,
			SoftwareName: s.Meta.SoftwareName, SoftwareVersion: s.Meta.SoftwareVersion, Name: s.Name, Attrs: s.Attrs, Value: s.Value}
	}
	return out, admin.TelemetryStats{Clients: st.Clients, Series: st.Series, Pushes: st.Pushes, DroppedPoints: st.DroppedPoints}
}
