package controlplane

// Group configs apply as config records, leave earlier images alone,
// survive a snapshot, and are validated as Kafka's GroupConfig: known
// keys, the broker's bounds, session above heartbeat, the share.* enums.

import (
	"strings"
	"testing"
)

func TestGroupConfigImage(t *testing.T) {
	im := emptyImage("c", 1)
	a, err := im.applyEntry(1, configDiff(ResourceGroup, "g", nil, map[string]string{GroupShareSessionTimeoutMs: "50000", GroupShareAutoOffsetReset: "earliest"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.GroupConfigs["g"]; got[GroupShareSessionTimeoutMs] != "50000" || im.GroupConfigs != nil {
		t.Fatalf("applied: %v, base %v", a.GroupConfigs, im.GroupConfigs)
	}
	snap, err := a.marshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := unmarshalSnapshot(snap, "c", 1)
	if err != nil || r.GroupConfigs["g"][GroupShareAutoOffsetReset] != "earliest" {
		t.Fatalf("snapshot: %v %v", err, r.GroupConfigs)
	}
	b, err := a.applyEntry(2, configDiff(ResourceGroup, "g", a.GroupConfigs["g"], nil))
	if err != nil || len(b.GroupConfigs) != 0 || len(a.GroupConfigs["g"]) != 2 {
		t.Fatalf("delete all: %v %v / %v", err, b.GroupConfigs, a.GroupConfigs)
	}
	if n, ok := GroupConfigInt(a.GroupConfigs["g"], GroupShareSessionTimeoutMs); !ok || n != 50000 {
		t.Fatalf("GroupConfigInt: %d %v", n, ok)
	}
}

func TestValidateGroupConfig(t *testing.T) {
	b := KafkaGroupConfigBounds
	for _, tc := range []struct {
		set  map[string]string
		want string // "" valid; else in the error
	}{
		{map[string]string{}, ""},
		{map[string]string{GroupShareSessionTimeoutMs: "60000", GroupShareHeartbeatIntervalMs: "15000"}, ""},
		{map[string]string{GroupShareAutoOffsetReset: "by_duration:PT1H30M"}, ""},
		{map[string]string{GroupShareAutoOffsetReset: "by_duration:P1DT2H"}, ""},
		{map[string]string{GroupShareAutoOffsetReset: "EARLIEST", GroupShareIsolationLevel: "read_committed"}, ""},
		{map[string]string{GroupShareDeliveryCountLimit: "10", GroupShareRecordLockDurationMs: "15000"}, ""},
		{map[string]string{GroupConsumerSessionTimeoutMs: "50000", GroupConsumerHeartbeatIntervalMs: "6000"}, ""},
		{map[string]string{"share.bogus": "1"}, "unknown group config name"},
		{map[string]string{GroupShareSessionTimeoutMs: "x"}, "not an integer"},
		{map[string]string{GroupShareSessionTimeoutMs: "1000"}, "group.share.min.session.timeout.ms"},
		{map[string]string{GroupShareSessionTimeoutMs: "90000"}, "group.share.max.session.timeout.ms"},
		{map[string]string{GroupConsumerHeartbeatIntervalMs: "1"}, "group.consumer.min.heartbeat.interval.ms"},
		{map[string]string{GroupShareRecordLockDurationMs: "70000"}, "group.share.max.record.lock.duration.ms"},
		{map[string]string{GroupShareDeliveryCountLimit: "1"}, "group.share.min.delivery.count.limit"},
		{map[string]string{GroupShareAutoOffsetReset: "sometimes"}, "latest, earliest, by_duration"},
		{map[string]string{GroupShareAutoOffsetReset: "by_duration:1h"}, "ISO-8601"},
		{map[string]string{GroupShareAutoOffsetReset: "by_duration:-PT1H"}, "ISO-8601"},
		{map[string]string{GroupShareIsolationLevel: "serializable"}, "read_uncommitted, read_committed"},
	} {
		err := ValidateGroupConfig(b, tc.set)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.set, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v; want one containing %q", tc.set, err, tc.want)
		}
	}
	// Session must stay above heartbeat with the effective values.
	lo := b
	lo.ShareSessionTimeoutMs.Min, lo.ShareHeartbeatIntervalMs.Max = 1000, 60000
	if err := ValidateGroupConfig(lo, map[string]string{GroupShareSessionTimeoutMs: "5000", GroupShareHeartbeatIntervalMs: "5000"}); err == nil || !strings.Contains(err.Error(), "must be greater than share.heartbeat.interval.ms") {
		t.Fatalf("session not above heartbeat: %v", err)
	}
}
