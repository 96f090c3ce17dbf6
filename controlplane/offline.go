package controlplane

// Offline replicas (Kafka's KIP-858, simplified): when a log dir of a
// broker fails, the broker reports the partitions whose replica it held
// there (ReportOfflineReplicas). One entry records them in the broker's
// offline set (OfflineReplicasRecord) and moves leadership and ISR off
// them, as for a fenced broker but for those partitions only: an offline
// replica leaves the ISR unless it is its last member, gives up leadership
// to another live, healthy ISR member (new leader epoch), and is not
// elected leader (planLeadership, ElectLeaders, reassignment completion)
// nor added back to the ISR (AlterPartition) while the set holds it.
//
// The set lives on the broker's registration and lasts until the broker
// process restarts: a RegisterBrokerRecord of a new incarnation clears it.
// A re-registration of the same process (unfencing after a session
// timeout) keeps it, since the dir is still failed. When no other replica
// can lead, an offline leader keeps the leadership rather than leave the
// partition leaderless (the partition answers storage errors from it until
// the broker restarts): a quorum of one, or a partition whose other ISR
// members are gone, has nowhere to move it.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ringtail/ringtail/model"
)

// ErrStaleBrokerEpoch rejects a record planned for an earlier registration
// of a broker (Kafka's STALE_BROKER_EPOCH).
var ErrStaleBrokerEpoch = errors.New("controlplane: stale broker epoch")

// OfflineReplica names one partition by topic id and partition number.
type OfflineReplica struct {
	TopicID   UUID  `json:"topic_id"`
	Partition int32 `json:"partition"`
}

func compareReplica(a, b OfflineReplica) int {
	if c := bytes.Compare(a.TopicID[:], b.TopicID[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// OfflineReplicasRecord adds partitions to the offline set of one
// registration of a broker: the broker's replicas of them are on a failed
// log dir. It applies only while the broker's epoch is BrokerEpoch (an
// entry planned for an earlier registration is rejected); partitions that
// do not exist or that the broker does not replicate are skipped.
//
// With Online set it removes them from the set instead
// (ClearOfflineReplicas): the broker starts their replicas anew, out of
// the ISR, and they rejoin it as followers that caught up.
type OfflineReplicasRecord struct {
	BrokerID    int32            `json:"broker_id"`
	BrokerEpoch int64            `json:"broker_epoch"`
	Replicas    []OfflineReplica `json:"replicas"`
	Online      bool             `json:"online,omitempty"`
}

// applyOfflineReplicas folds r into n, an entry's working copy.
func (n *Image) applyOfflineReplicas(offset int64, r *OfflineReplicasRecord) error {
	b, ok := n.Brokers[r.BrokerID]
	if !ok || b.Epoch != r.BrokerEpoch {
		return fmt.Errorf("%w: offline replicas of broker %d epoch %d, which is not its current registration (entry %d)", ErrStaleBrokerEpoch, r.BrokerID, r.BrokerEpoch, offset)
	}
	set := slices.Clone(b.Offline)
	if r.Online {
		set = slices.DeleteFunc(set, func(x OfflineReplica) bool {
			return slices.ContainsFunc(r.Replicas, func(y OfflineReplica) bool { return compareReplica(x, y) == 0 })
		})
		if len(set) == 0 {
			set = nil
		}
		nb := *b
		nb.Offline = set
		n.Brokers[r.BrokerID] = &nb
		return nil
	}
	for _, x := range r.Replicas {
		t, ok := n.TopicsByID[x.TopicID]
		if !ok || x.Partition < 0 || int(x.Partition) >= len(t.Partitions) || !slices.Contains(t.Partitions[x.Partition].Replicas, r.BrokerID) {
			continue // deleted since planned, or not this broker's
		}
		set = append(set, x)
	}
	slices.SortFunc(set, compareReplica)
	set = slices.Compact(set)
	nb := *b
	nb.Offline = set
	n.Brokers[r.BrokerID] = &nb
	return nil
}

// dropOfflineTopic removes a deleted topic's partitions from every offline
// set of n, an entry's working copy.
func (n *Image) dropOfflineTopic(id UUID) {
	for bid, b := range n.Brokers {
		if !slices.ContainsFunc(b.Offline, func(x OfflineReplica) bool { return x.TopicID == id }) {
			continue
		}
		nb := *b
		nb.Offline = slices.DeleteFunc(slices.Clone(b.Offline), func(x OfflineReplica) bool { return x.TopicID == id })
		if len(nb.Offline) == 0 {
			nb.Offline = nil
		}
		n.Brokers[bid] = &nb
	}
}

// ReplicaOffline reports whether broker's replica of the partition is
// offline (on a failed log dir of its current process).
func (im *Image) ReplicaOffline(broker int32, topicID UUID, partition int32) bool {
	b, ok := im.Brokers[broker]
	if !ok || len(b.Offline) == 0 {
		return false
	}
	_, found := slices.BinarySearchFunc(b.Offline, OfflineReplica{TopicID: topicID, Partition: partition}, compareReplica)
	return found
}

// TopicPartitionOffline is ReplicaOffline by topic name; false for an
// unknown topic.
func (im *Image) TopicPartitionOffline(broker int32, tp model.TopicPartition) bool {
	t, ok := im.Topics[tp.Topic]
	return ok && im.ReplicaOffline(broker, t.ID, tp.Partition)
}

// OfflineReplicas returns the replicas of partition p of topic topicID
// that are offline, in replica order (Metadata's offline_replicas); nil
// when none is.
func (im *Image) OfflineReplicas(topicID UUID, p *Partition) []int32 {
	var out []int32
	for _, id := range p.Replicas {
		if im.ReplicaOffline(id, topicID, p.Partition) {
			out = append(out, id)
		}
	}
	return out
}

// canLead reports whether broker id may lead (or join the ISR of)
// partition part of topic tid: registered, unfenced, and its replica not
// offline.
func (im *Image) canLead(id int32, tid UUID, part int32) bool {
	b, ok := im.Brokers[id]
	return ok && !b.Fenced && !im.ReplicaOffline(id, tid, part)
}

// ReportOfflineReplicas records that this node's replicas of parts are
// offline (their log dir failed) and, in the same entry, moves leadership
// and ISR membership off them (see the top of this file). It works on any
// node; it waits (bounded by ctx and the command timeout) until this
// process's broker registration is in the image. Partitions that do not
// exist, that this node does not replicate, or that are offline already
// are skipped: reporting the same partitions again commits nothing. A
// controller-only node holds no replicas and does nothing.
func (c *Controller) ReportOfflineReplicas(ctx context.Context, parts []model.TopicPartition) error {
	if c.cfg.ControllerOnly || len(parts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	if err := c.waitFor(ctx, func() bool {
		b, ok := c.image.Load().Brokers[c.cfg.NodeID]
		return ok && (c.soleVoter || b.Incarnation == c.incarnation)
	}); err != nil {
		return fmt.Errorf("controlplane: reporting offline replicas before node %d registered: %w", c.cfg.NodeID, err)
	}
	for attempt := 0; ; attempt++ {
		if err := c.catchUpToPlan(ctx); err != nil {
			return err
		}
		err := c.reportOfflineOnce(ctx, parts)
		if attempt < 5 && (errors.Is(err, ErrStalePartitionEpoch) || errors.Is(err, ErrStaleBrokerEpoch)) {
			continue // a fence, an ISR change or a re-registration came first: plan again
		}
		return err
	}
}

func (c *Controller) reportOfflineOnce(ctx context.Context, parts []model.TopicPartition) error {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	recs, err := planOfflineReplicas(c.image.Load(), c.cfg.NodeID, parts, c.cfg.ElectLeader)
	if err != nil || len(recs) == 0 {
		return err
	}
	for _, r := range recs[1:] {
		c.cfg.Logger.Info("partition leadership: replica offline", "topic_id", r.Partition.TopicID, "partition", r.Partition.Partition,
			"leader", r.Partition.Leader, "leader_epoch", r.Partition.LeaderEpoch, "isr", r.Partition.ISR)
	}
	return c.commitAnywhere(ctx, recs)
}

// planOfflineReplicas returns the entry that marks broker's replicas of
// parts offline, followed by the leadership and ISR changes that follow
// from it (planLeadership on the image with the record applied); nil when
// every one of parts is unknown, not the broker's, or offline already.
func planOfflineReplicas(im *Image, broker int32, parts []model.TopicPartition, elect ElectFunc) ([]Record, error) {
	b, ok := im.Brokers[broker]
	if !ok {
		return nil, nil
	}
	var add []OfflineReplica
	for _, tp := range parts {
		t, ok := im.Topics[tp.Topic]
		if !ok || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue
		}
		if !slices.Contains(t.Partitions[tp.Partition].Replicas, broker) || im.ReplicaOffline(broker, t.ID, tp.Partition) {
			continue
		}
		add = append(add, OfflineReplica{TopicID: t.ID, Partition: tp.Partition})
	}
	if len(add) == 0 {
		return nil, nil
	}
	slices.SortFunc(add, compareReplica)
	add = slices.Compact(add)
	recs := []Record{{Type: RecOfflineReplicas, OfflineReplicas: &OfflineReplicasRecord{BrokerID: broker, BrokerEpoch: b.Epoch, Replicas: add}}}
	next, err := im.applyEntry(im.Offset+1, recs)
	if err != nil {
		return nil, err
	}
	return append(recs, planLeadership(next, nil, elect)...), nil
}

// ClearOfflineReplicas takes this node's replicas of parts out of its
// offline set (the inverse of ReportOfflineReplicas) once the node starts
// them anew: a partition quarantined at startup, reported offline so that
// leadership and the ISR left this broker before its empty log serves.
// The replicas stay out of the ISR until they catch up as followers.
// Partitions not in the set are skipped; nothing left commits nothing.
func (c *Controller) ClearOfflineReplicas(ctx context.Context, parts []model.TopicPartition) error {
	if c.cfg.ControllerOnly || len(parts) == 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		if err := c.catchUpToPlan(ctx); err != nil {
			return err
		}
		c.cmdMu.Lock()
		im := c.image.Load()
		b, ok := im.Brokers[c.cfg.NodeID]
		var clear []OfflineReplica
		for _, tp := range parts {
			if t, found := im.Topics[tp.Topic]; found && ok && im.ReplicaOffline(c.cfg.NodeID, t.ID, tp.Partition) {
				clear = append(clear, OfflineReplica{TopicID: t.ID, Partition: tp.Partition})
			}
		}
		if len(clear) == 0 {
			c.cmdMu.Unlock()
			return nil
		}
		rec := Record{Type: RecOfflineReplicas, OfflineReplicas: &OfflineReplicasRecord{BrokerID: c.cfg.NodeID, BrokerEpoch: b.Epoch, Replicas: clear, Online: true}}
		err := c.commitAnywhere(ctx, []Record{rec})
		c.cmdMu.Unlock()
		if attempt < 5 && errors.Is(err, ErrStaleBrokerEpoch) {
			continue
		}
		return err
	}
}
