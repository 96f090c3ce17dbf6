package kafka

// The seams between the two halves of share groups (KIP-932): the group
// side (membership, assignment, group configs: ShareGroupHeartbeat,
// ShareGroupDescribe, in the group coordinator) and the share-partition
// side (acquisition locks, delivery counts and their durable state:
// ShareFetch, ShareAcknowledge, the share coordinator of
// __share_group_state). Each side reaches the other only through these.

import (
	"context"
	"time"
)

// ShareGroupConfig is one share group's share.* configs (Kafka's GROUP
// config resource), with the broker's group.share.* defaults filled in.
type ShareGroupConfig struct {
	// AutoOffsetReset is share.auto.offset.reset: "latest" (Kafka's
	// default), "earliest", or "by_duration:<ISO-8601 duration>".
	AutoOffsetReset string
	// RecordLockDuration is share.record.lock.duration.ms.
	RecordLockDuration time.Duration
	// DeliveryCountLimit is share.delivery.count.limit.
	DeliveryCountLimit int
	// IsolationLevel is share.isolation.level: 0 read_uncommitted
	// (Kafka's default), 1 read_committed.
	IsolationLevel int8
}

// ShareGroups is the group side as the share-partition side uses it.
type ShareGroups interface {
	// ShareConfig returns group's share configs (the broker defaults for
	// a group with no overrides). Every node can answer it: group configs
	// are metadata.
	ShareConfig(group string) ShareGroupConfig
	// ShareGroupState reports, on the group's coordinator, whether group
	// exists, whether it is a share group, and whether it has no members
	// (AlterShareGroupOffsets and DeleteShareGroupOffsets need an empty
	// group). err is a coordinator error (NOT_COORDINATOR, ...).
	ShareGroupState(group string) (exists, isShare, empty bool, err error)
}

// ShareStates is the share-partition side as the group side uses it.
type ShareStates interface {
	// DeleteGroup drops every share-partition state of group (DeleteGroups
	// of an empty share group), wherever its share coordinator is.
	DeleteGroup(ctx context.Context, group string) error
}
