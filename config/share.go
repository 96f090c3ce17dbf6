package config

// The share-partition side of share groups (KIP-932) with Kafka's names
// and defaults: acquisition lock durations and their bounds, the delivery
// count limit, the in-flight window and share session bounds, and the
// share coordinator's __share_group_state topic.

import (
	"fmt"
	"math"
)

// ShareConfig is the group.share.* keys of share-partitions and the
// share.coordinator.state.topic.* keys.
type ShareConfig struct {
	RecordLockDurationMs    int32 // group.share.record.lock.duration.ms
	MinRecordLockDurationMs int32 // group.share.min.record.lock.duration.ms
	MaxRecordLockDurationMs int32 // group.share.max.record.lock.duration.ms
	DeliveryCountLimit      int32 // group.share.delivery.count.limit: 2 to 10
	PartitionMaxRecordLocks int32 // group.share.partition.max.record.locks
	MaxShareSessions        int32 // group.share.max.share.sessions

	StateTopicNumPartitions     int32 // share.coordinator.state.topic.num.partitions
	StateTopicReplicationFactor int16 // share.coordinator.state.topic.replication.factor
	StateTopicMinISR            int32 // share.coordinator.state.topic.min.isr
	StateTopicSegmentBytes      int32 // share.coordinator.state.topic.segment.bytes
}

func defaultShare() ShareConfig {
	return ShareConfig{
		RecordLockDurationMs: 30000, MinRecordLockDurationMs: 15000, MaxRecordLockDurationMs: 60000,
		DeliveryCountLimit: 5, PartitionMaxRecordLocks: 2000, MaxShareSessions: 2000,
		StateTopicNumPartitions: 50, StateTopicReplicationFactor: 3, StateTopicMinISR: 2, StateTopicSegmentBytes: 100 << 20,
	}
}

func shareKeys() []brokerKey {
	const grp = "Groups"
	lock := intKey("group.share.record.lock.duration.ms", grp, "How long a share group member holds the records it fetched before they may go to another member (acquisition lock).", "30000", TypeInt,
		intSpec{min: 1000, max: 3600000, unit: "milliseconds"}, func(c *Config) *int32 { return &c.Share.RecordLockDurationMs })
	inner := lock.check
	lock.check = func(c *Config) error {
		if err := inner(c); err != nil {
			return err
		}
		s := c.Share
		if s.MinRecordLockDurationMs > s.MaxRecordLockDurationMs {
			return fmt.Errorf("group.share.min.record.lock.duration.ms (%d) is above group.share.max.record.lock.duration.ms (%d)", s.MinRecordLockDurationMs, s.MaxRecordLockDurationMs)
		}
		if s.RecordLockDurationMs < s.MinRecordLockDurationMs || s.RecordLockDurationMs > s.MaxRecordLockDurationMs {
			return fmt.Errorf("must be within group.share.min.record.lock.duration.ms (%d) and group.share.max.record.lock.duration.ms (%d)", s.MinRecordLockDurationMs, s.MaxRecordLockDurationMs)
		}
		return nil
	}
	const st = grp
	return []brokerKey{
		lock,
		intKey("group.share.min.record.lock.duration.ms", grp, "Shortest acquisition lock a share group may configure.", "15000", TypeInt,
			intSpec{min: 1000, max: 3600000, unit: "milliseconds"}, func(c *Config) *int32 { return &c.Share.MinRecordLockDurationMs }),
		intKey("group.share.max.record.lock.duration.ms", grp, "Longest acquisition lock a share group may configure.", "60000", TypeInt,
			intSpec{min: 1000, max: 3600000, unit: "milliseconds"}, func(c *Config) *int32 { return &c.Share.MaxRecordLockDurationMs }),
		intKey("group.share.delivery.count.limit", grp, "Deliveries of a record to share group members after which a release or lock expiry archives it.", "5", TypeInt,
			intSpec{min: 2, max: 10}, func(c *Config) *int32 { return &c.Share.DeliveryCountLimit }),
		intKey("group.share.partition.max.record.locks", grp, "Most in-flight records (between the share-partition start and end offsets) of one share-partition.", "2000", TypeInt,
			intSpec{min: 100, max: 10000}, func(c *Config) *int32 { return &c.Share.PartitionMaxRecordLocks }),
		intKey("group.share.max.share.sessions", grp, "Most share sessions (ShareFetch) the broker keeps; past it a new one gets SHARE_SESSION_LIMIT_REACHED.", "2000", TypeInt,
			intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.Share.MaxShareSessions }),
		intKey("share.coordinator.state.topic.num.partitions", st, "Partitions of __share_group_state, created on first use; cannot change afterwards.", "50", TypeInt,
			intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.Share.StateTopicNumPartitions }),
		intKey("share.coordinator.state.topic.replication.factor", st, "Replication factor of __share_group_state (capped at the live brokers when created).", "3", TypeShort,
			intSpec{min: 1, max: math.MaxInt16}, func(c *Config) *int16 { return &c.Share.StateTopicReplicationFactor }),
		intKey("share.coordinator.state.topic.min.isr", st, "min.insync.replicas of __share_group_state (capped at its replication factor).", "2", TypeInt,
			intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.Share.StateTopicMinISR }),
		intKey("share.coordinator.state.topic.segment.bytes", st, "segment.bytes of __share_group_state when created.", "104857600", TypeInt,
			intSpec{min: 1 << 20, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.Share.StateTopicSegmentBytes }),
	}
}

func init() { registerAuthorizerKeys(shareKeys()) }
