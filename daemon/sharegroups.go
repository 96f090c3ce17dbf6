package daemon

// Wiring of share groups' group side: the coordinator's group.share.*
// settings and per-group share.* configs, the GROUP config bounds, and the
// ShareGroups seam the share-partition side reads.

import (
	"time"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/kafka"
)

// shareCoordinatorConfig fills the coordinator config's share-group
// settings.
func (n *Node) shareCoordinatorConfig(gc *group.Config) {
	c := n.cfg.GroupShare
	gc.ShareSessionTimeout = time.Duration(c.SessionTimeoutMs) * time.Millisecond
	gc.ShareHeartbeatInterval = time.Duration(c.HeartbeatIntervalMs) * time.Millisecond
	gc.ShareMaxSize = int(c.MaxSize)
	gc.ShareGroupTimeouts = n.groupTimeouts(controlplane.GroupShareSessionTimeoutMs, controlplane.GroupShareHeartbeatIntervalMs)
	gc.ConsumerGroupTimeouts = n.groupTimeouts(controlplane.GroupConsumerSessionTimeoutMs, controlplane.GroupConsumerHeartbeatIntervalMs)
}

// groupTimeouts reads a group's session timeout and heartbeat interval
// GROUP configs (the two keys named) from the metadata image.
func (n *Node) groupTimeouts(sessionKey, heartbeatKey string) func(string) group.GroupTimeouts {
	return func(id string) group.GroupTimeouts {
		im := n.ctrl.Image()
		if im == nil {
			return group.GroupTimeouts{}
		}
		set := im.GroupConfigs[id]
		var t group.GroupTimeouts
		if v, ok := controlplane.GroupConfigInt(set, sessionKey); ok {
			t.Session = time.Duration(v) * time.Millisecond
		}
		if v, ok := controlplane.GroupConfigInt(set, heartbeatKey); ok {
			t.Heartbeat = time.Duration(v) * time.Millisecond
		}
		return t
	}
}

// shareStateDefaults are the share-partition side's broker keys
// (group.share.record.lock.duration.ms and its min/max keys,
// group.share.delivery.count.limit) as GROUP config defaults and bounds;
// a group's share.delivery.count.limit may range over Kafka's 2-10.
func shareStateDefaults(cfg *config.Config) (lock, deliveries controlplane.IntBound) {
	s := cfg.Share
	return controlplane.IntBound{Default: s.RecordLockDurationMs, Min: s.MinRecordLockDurationMs, Max: s.MaxRecordLockDurationMs},
		controlplane.IntBound{Default: s.DeliveryCountLimit, Min: 2, Max: 10}
}

// groupConfigBounds are the broker's defaults and bounds of GROUP configs.
func groupConfigBounds(cfg *config.Config) *controlplane.GroupConfigBounds {
	s, c := cfg.GroupShare, cfg.GroupConsumer
	lock, deliveries := shareStateDefaults(cfg)
	b := controlplane.GroupConfigBounds{
		ConsumerSessionTimeoutMs:    controlplane.IntBound{Default: c.SessionTimeoutMs, Min: s.ConsumerMinSessionTimeoutMs, Max: s.ConsumerMaxSessionTimeoutMs},
		ConsumerHeartbeatIntervalMs: controlplane.IntBound{Default: c.HeartbeatIntervalMs, Min: s.ConsumerMinHeartbeatIntervalMs, Max: s.ConsumerMaxHeartbeatIntervalMs},
		ShareSessionTimeoutMs:       controlplane.IntBound{Default: s.SessionTimeoutMs, Min: s.MinSessionTimeoutMs, Max: s.MaxSessionTimeoutMs},
		ShareHeartbeatIntervalMs:    controlplane.IntBound{Default: s.HeartbeatIntervalMs, Min: s.MinHeartbeatIntervalMs, Max: s.MaxHeartbeatIntervalMs},
		ShareRecordLockDurationMs:   lock,
		ShareDeliveryCountLimit:     deliveries,
	}
	k := controlplane.KafkaGroupConfigBounds
	for _, p := range []struct{ dst, src *controlplane.IntBound }{
		{&b.ConsumerSessionTimeoutMs, &k.ConsumerSessionTimeoutMs}, {&b.ConsumerHeartbeatIntervalMs, &k.ConsumerHeartbeatIntervalMs},
		{&b.ShareSessionTimeoutMs, &k.ShareSessionTimeoutMs}, {&b.ShareHeartbeatIntervalMs, &k.ShareHeartbeatIntervalMs},
		{&b.ShareRecordLockDurationMs, &k.ShareRecordLockDurationMs}, {&b.ShareDeliveryCountLimit, &k.ShareDeliveryCountLimit},
	} {
		p.dst.MinKey, p.dst.MaxKey = p.src.MinKey, p.src.MaxKey
	}
	return &b
}

// shareGroups is the ShareGroups seam of this node's listeners.
func (n *Node) shareGroups() kafka.ShareGroups {
	lock, deliveries := shareStateDefaults(n.cfg)
	return kafka.NewShareGroups(n.groups, n.ctrl.Image, kafka.ShareDefaults{
		RecordLockDuration: time.Duration(lock.Default) * time.Millisecond,
		DeliveryCountLimit: int(deliveries.Default),
	})
}
