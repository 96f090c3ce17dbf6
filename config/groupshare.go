package config

// Share groups' group side (group.share.*: session timeout, heartbeat
// interval, largest group) and the bounds a GROUP config may take
// (group.share.min/max.*, group.consumer.min/max.*), with Kafka's names
// and defaults. The share-partition side's keys (record lock duration,
// delivery count limit) are declared with that side.

import (
	"fmt"
	"math"
)

// GroupShareConfig is the group side's group.share.* keys and the
// group.consumer.min/max.* bounds of GROUP configs.
type GroupShareConfig struct {
	SessionTimeoutMs       int32 // group.share.session.timeout.ms
	MinSessionTimeoutMs    int32 // group.share.min.session.timeout.ms
	MaxSessionTimeoutMs    int32 // group.share.max.session.timeout.ms
	HeartbeatIntervalMs    int32 // group.share.heartbeat.interval.ms
	MinHeartbeatIntervalMs int32 // group.share.min.heartbeat.interval.ms
	MaxHeartbeatIntervalMs int32 // group.share.max.heartbeat.interval.ms
	MaxSize                int32 // group.share.max.size

	ConsumerMinSessionTimeoutMs    int32 // group.consumer.min.session.timeout.ms
	ConsumerMaxSessionTimeoutMs    int32 // group.consumer.max.session.timeout.ms
	ConsumerMinHeartbeatIntervalMs int32 // group.consumer.min.heartbeat.interval.ms
	ConsumerMaxHeartbeatIntervalMs int32 // group.consumer.max.heartbeat.interval.ms
}

func defaultGroupShare() GroupShareConfig {
	return GroupShareConfig{
		SessionTimeoutMs: 45000, MinSessionTimeoutMs: 45000, MaxSessionTimeoutMs: 60000,
		HeartbeatIntervalMs: 5000, MinHeartbeatIntervalMs: 5000, MaxHeartbeatIntervalMs: 15000,
		MaxSize:                     200,
		ConsumerMinSessionTimeoutMs: 45000, ConsumerMaxSessionTimeoutMs: 60000,
		ConsumerMinHeartbeatIntervalMs: 5000, ConsumerMaxHeartbeatIntervalMs: 15000,
	}
}

// within adds to k's check that its value lies in [lo, hi] (the named
// keys' values).
func within(k brokerKey, v, lo, hi func(*Config) int32, loKey, hiKey string) brokerKey {
	inner := k.check
	k.check = func(c *Config) error {
		if err := inner(c); err != nil {
			return err
		}
		switch {
		case v(c) < lo(c):
			return fmt.Errorf("must be at least %s (%d)", loKey, lo(c))
		case v(c) > hi(c):
			return fmt.Errorf("must be at most %s (%d)", hiKey, hi(c))
		}
		return nil
	}
	return k
}

func groupShareKeys() []brokerKey {
	const grp = "Groups"
	ms := intSpec{min: 1, max: math.MaxInt32, unit: "milliseconds"}
	f := func(get func(*GroupShareConfig) *int32) func(*Config) *int32 {
		return func(c *Config) *int32 { return get(&c.GroupShare) }
	}
	v := func(get func(*GroupShareConfig) *int32) func(*Config) int32 {
		return func(c *Config) int32 { return *get(&c.GroupShare) }
	}
	session := func(g *GroupShareConfig) *int32 { return &g.SessionTimeoutMs }
	minSession := func(g *GroupShareConfig) *int32 { return &g.MinSessionTimeoutMs }
	maxSession := func(g *GroupShareConfig) *int32 { return &g.MaxSessionTimeoutMs }
	hb := func(g *GroupShareConfig) *int32 { return &g.HeartbeatIntervalMs }
	minHB := func(g *GroupShareConfig) *int32 { return &g.MinHeartbeatIntervalMs }
	maxHB := func(g *GroupShareConfig) *int32 { return &g.MaxHeartbeatIntervalMs }
	hbKey := within(intKey("group.share.heartbeat.interval.ms", grp, "Heartbeat interval given to members of share groups.", "5000", TypeInt, ms, f(hb)),
		v(hb), v(minHB), v(maxHB), "group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms")
	inner := hbKey.check
	hbKey.check = func(c *Config) error {
		if err := inner(c); err != nil {
			return err
		}
		if c.GroupShare.HeartbeatIntervalMs >= c.GroupShare.SessionTimeoutMs {
			return fmt.Errorf("must be below group.share.session.timeout.ms (%d)", c.GroupShare.SessionTimeoutMs)
		}
		return nil
	}
	return []brokerKey{
		within(intKey("group.share.session.timeout.ms", grp, "How long a member of a share group may go without a heartbeat before it is fenced and its partitions reassigned.", "45000", TypeInt, ms, f(session)),
			v(session), v(minSession), v(maxSession), "group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"),
		intKey("group.share.min.session.timeout.ms", grp, "Smallest share.session.timeout.ms a share group may be given (and smallest group.share.session.timeout.ms).", "45000", TypeInt, ms, f(minSession)),
		intKey("group.share.max.session.timeout.ms", grp, "Largest share.session.timeout.ms a share group may be given (and largest group.share.session.timeout.ms).", "60000", TypeInt, ms, f(maxSession)),
		hbKey,
		intKey("group.share.min.heartbeat.interval.ms", grp, "Smallest share.heartbeat.interval.ms a share group may be given.", "5000", TypeInt, ms, f(minHB)),
		intKey("group.share.max.heartbeat.interval.ms", grp, "Largest share.heartbeat.interval.ms a share group may be given.", "15000", TypeInt, ms, f(maxHB)),
		intKey("group.share.max.size", grp, "Most members a share group may have; a join past it gets GROUP_MAX_SIZE_REACHED.", "200", TypeInt,
			intSpec{min: 1, max: 1000}, f(func(g *GroupShareConfig) *int32 { return &g.MaxSize })),
		intKey("group.consumer.min.session.timeout.ms", grp, "Smallest consumer.session.timeout.ms a consumer (KIP-848) group may be given as a group config.", "45000", TypeInt, ms,
			f(func(g *GroupShareConfig) *int32 { return &g.ConsumerMinSessionTimeoutMs })),
		intKey("group.consumer.max.session.timeout.ms", grp, "Largest consumer.session.timeout.ms a consumer (KIP-848) group may be given as a group config.", "60000", TypeInt, ms,
			f(func(g *GroupShareConfig) *int32 { return &g.ConsumerMaxSessionTimeoutMs })),
		intKey("group.consumer.min.heartbeat.interval.ms", grp, "Smallest consumer.heartbeat.interval.ms a consumer (KIP-848) group may be given as a group config.", "5000", TypeInt, ms,
			f(func(g *GroupShareConfig) *int32 { return &g.ConsumerMinHeartbeatIntervalMs })),
		intKey("group.consumer.max.heartbeat.interval.ms", grp, "Largest consumer.heartbeat.interval.ms a consumer (KIP-848) group may be given as a group config.", "15000", TypeInt, ms,
			f(func(g *GroupShareConfig) *int32 { return &g.ConsumerMaxHeartbeatIntervalMs })),
	}
}

func init() { registerAuthorizerKeys(groupShareKeys()) }
