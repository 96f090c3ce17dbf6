package config

// Client telemetry (KIP-714): telemetry.max.bytes with Kafka's name and
// default, and Ringtail's bounds on what the broker keeps of pushed metrics
// for /metrics. The subscriptions themselves are metadata (the
// CLIENT_METRICS config resource), not config.

import "math"

// TelemetryConfig is the client telemetry keys.
type TelemetryConfig struct {
	MaxBytes   int32 // telemetry.max.bytes: largest PushTelemetry payload
	MaxClients int32 // ringtail.telemetry_max_clients: client instances kept
	MaxSeries  int32 // ringtail.telemetry_max_series: pushed series kept, all clients
}

func defaultTelemetry() TelemetryConfig {
	return TelemetryConfig{MaxBytes: 1 << 20, MaxClients: 16384, MaxSeries: 50000}
}

const telemetryGroup = "Telemetry"

func telemetryKeys() []brokerKey {
	return []brokerKey{
		intKey("telemetry.max.bytes", telemetryGroup, "Largest client metrics payload (KIP-714 PushTelemetry) the broker accepts.", "1048576", TypeInt,
			intSpec{min: 1, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.Telemetry.MaxBytes }),
		intKey("ringtail.telemetry_max_clients", "ringtail", "Client instances whose pushed metrics the broker keeps; the least recently seen is dropped past it.", "16384", TypeInt,
			intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.Telemetry.MaxClients }),
		intKey("ringtail.telemetry_max_series", "ringtail", "Pushed client metric series the broker keeps for /metrics, over all clients; new ones past it are dropped.", "50000", TypeInt,
			intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.Telemetry.MaxSeries }),
	}
}

// The keys join the registry at init, as the authorizer's do.
func init() { registerAuthorizerKeys(telemetryKeys()) }
