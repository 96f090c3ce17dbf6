// These tests prove the connection and request-memory limit keys parse with
// their defaults, refuse bad values naming the key and the valid values,
// and survive TOML().
package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimitsKeys(t *testing.T) {
	d := Default()
	want := LimitsConfig{ConnectionsMaxIdleMs: 600000, QueuedMaxRequestBytes: 512 << 20, SASLMaxReceiveSize: 524288, MaxInflightRequests: 64}
	if d.Limits != want {
		t.Fatalf("defaults %+v, want %+v", d.Limits, want)
	}
	if d.Limits.ConnectionsMaxIdle() != 10*time.Minute {
		t.Fatalf("idle %v", d.Limits.ConnectionsMaxIdle())
	}
	c := parseOK(t, `
connections.max.idle.ms = 2000
queued.max.request.bytes = -1
sasl.server.max.receive.size = 1024
[ringtail]
connection_max_inflight_requests = 1
`)
	want = LimitsConfig{ConnectionsMaxIdleMs: 2000, QueuedMaxRequestBytes: -1, SASLMaxReceiveSize: 1024, MaxInflightRequests: 1}
	if c.Limits != want {
		t.Fatalf("parsed %+v, want %+v", c.Limits, want)
	}
	if c2 := parseOK(t, c.TOML()); c2.Limits != want {
		t.Fatalf("round trip %+v, want %+v", c2.Limits, want)
	}
	// Equal to socket.request.max.bytes is enough.
	if c := parseOK(t, "socket.request.max.bytes = 1048576\nqueued.max.request.bytes = 1048576"); c.Limits.QueuedMaxRequestBytes != 1<<20 {
		t.Fatalf("queued %d", c.Limits.QueuedMaxRequestBytes)
	}
}

func TestLimitsKeysRefused(t *testing.T) {
	for doc, want := range map[string]string{
		`connections.max.idle.ms = 0`:                         "connections.max.idle.ms = 0: must be a positive integer (milliseconds)",
		`queued.max.request.bytes = 0`:                        "queued.max.request.bytes = 0: must be -1 (unbounded) or at least socket.request.max.bytes (104857600)",
		`queued.max.request.bytes = 1000`:                     "at least socket.request.max.bytes (104857600)",
		`queued.max.request.bytes = -2`:                       "queued.max.request.bytes = -2: must be -1 (unbounded) or",
		`sasl.server.max.receive.size = 0`:                    "sasl.server.max.receive.size = 0",
		"socket.request.max.bytes = 2147483647":               "queued.max.request.bytes",
		"[ringtail]\nconnection_max_inflight_requests = 0":    "ringtail.connection_max_inflight_requests = 0: must be an integer from 1 to 1024",
		"[ringtail]\nconnection_max_inflight_requests = 1025": "ringtail.connection_max_inflight_requests = 1025",
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one with %q", doc, err, want)
		}
	}
}
