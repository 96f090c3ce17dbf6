package config

// Limits against hostile and careless clients, with Kafka's names where
// Kafka has the setting: connections.max.idle.ms (idle connections are
// closed), queued.max.request.bytes (memory of requests read but not yet
// answered, all connections together), sasl.server.max.receive.size (the
// largest frame before SASL authentication), and Ringtail's own
// ringtail.connection_max_inflight_requests (requests one connection may
// have read and not yet answered). socket.request.max.bytes is in keys.go;
// the per-API caps under it are fixed (kafka/limits.go).

import (
	"fmt"
	"math"
	"time"
)

// LimitsConfig is the connection and request-memory limits.
type LimitsConfig struct {
	ConnectionsMaxIdleMs int64 // connections.max.idle.ms
	// QueuedMaxRequestBytes is queued.max.request.bytes: -1 is unbounded,
	// else at least socket.request.max.bytes (as Kafka requires).
	QueuedMaxRequestBytes int64
	SASLMaxReceiveSize    int32 // sasl.server.max.receive.size
	// MaxInflightRequests is ringtail.connection_max_inflight_requests.
	MaxInflightRequests int32
}

const (
	// DefaultQueuedMaxRequestBytes is Ringtail's default for
	// queued.max.request.bytes (Kafka's is -1, unbounded).
	DefaultQueuedMaxRequestBytes = 512 << 20
	// MaxInflightRequestsLimit is the largest
	// ringtail.connection_max_inflight_requests.
	MaxInflightRequestsLimit = 1024
)

func defaultLimits() LimitsConfig {
	return LimitsConfig{
		ConnectionsMaxIdleMs:  600000,
		QueuedMaxRequestBytes: DefaultQueuedMaxRequestBytes,
		SASLMaxReceiveSize:    524288,
		MaxInflightRequests:   64,
	}
}

// ConnectionsMaxIdle is connections.max.idle.ms as a duration.
func (l LimitsConfig) ConnectionsMaxIdle() time.Duration {
	return time.Duration(l.ConnectionsMaxIdleMs) * time.Millisecond
}

func limitsKeys() []brokerKey {
	const grp = "Listeners"
	queued := intKey("queued.max.request.bytes", grp, "Memory for requests read but not yet answered, all connections together; past it no connection reads another request until some are answered (back-pressure). -1: unbounded (Kafka's default).", "536870912", TypeLong,
		intSpec{min: -1, max: math.MaxInt64, unit: "bytes", minusOne: "unbounded"}, func(c *Config) *int64 { return &c.Limits.QueuedMaxRequestBytes })
	inner := queued.check
	queued.check = func(c *Config) error {
		if err := inner(c); err != nil {
			return err
		}
		if n := c.Limits.QueuedMaxRequestBytes; n != -1 && n < int64(c.SocketRequestMaxBytes) {
			return fmt.Errorf("must be -1 (unbounded) or at least socket.request.max.bytes (%d), so that the largest request fits", c.SocketRequestMaxBytes)
		}
		return nil
	}
	return []brokerKey{
		intKey("connections.max.idle.ms", grp, "Close a client connection that has sent nothing for this long, or whose response has not been taken off the socket for this long.", "600000", TypeLong,
			intSpec{min: 1, max: math.MaxInt64 / int64(time.Millisecond), unit: "milliseconds", hideMax: true}, func(c *Config) *int64 { return &c.Limits.ConnectionsMaxIdleMs }),
		queued,
		intKey("sasl.server.max.receive.size", "Security", "Largest request a SASL listener reads before the client has authenticated; a larger one closes the connection.", "524288", TypeInt,
			intSpec{min: 1, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.Limits.SASLMaxReceiveSize }),
		intKey("ringtail.connection_max_inflight_requests", "ringtail", "Requests one connection may have read and not yet answered (pipelined); past it the connection reads nothing more until a response is written. Kafka reads one at a time.", "64", TypeInt,
			intSpec{min: 1, max: MaxInflightRequestsLimit}, func(c *Config) *int32 { return &c.Limits.MaxInflightRequests }),
	}
}

func init() { registerAuthorizerKeys(limitsKeys()) }
