package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ringtail/ringtail/model"
)

// Partition leadership: the active controller moves leadership off fenced
// brokers (planLeadership, run by fenceLoop in the same entry as the
// fencing), and partition leaders change their ISR with AlterPartition.
//
// Every change to an existing partition bumps its partition epoch by one,
// and a leader change bumps its leader epoch; Image.apply refuses a record
// whose partition epoch is not the image's plus one, so a change planned
// from an older image (a fence racing an AlterPartition) is rejected
// rather than undoing the other.

// ErrStalePartitionEpoch rejects a partition change planned from an older
// partition epoch (Kafka's INVALID_UPDATE_VERSION); the proposer re-reads
// the image and tries again.
var ErrStalePartitionEpoch = errors.New("controlplane: stale partition epoch")

// ErrFencedLeaderEpoch rejects an ISR change from a leader that is no
// longer the partition's leader at that epoch (Kafka's FENCED_LEADER_EPOCH).
var ErrFencedLeaderEpoch = errors.New("controlplane: fenced leader epoch")

// ElectFunc picks a partition leader (replication.ElectLeader, passed in by
// the daemon so that controlplane does not import replication): the new
// leader, or -1, and whether it is an unclean choice.
type ElectFunc func(replicas, isr []model.NodeID, live func(model.NodeID) bool, uncleanAllowed bool) (model.NodeID, bool)

const uncleanKey = "unclean.leader.election.enable"

// UncleanAllowed reads unclean.leader.election.enable for a topic: the
// topic override, then the broker-wide one, default false.
func (im *Image) UncleanAllowed(t *Topic) bool {
	if v, ok := t.Configs[uncleanKey]; ok {
		return v == "true"
	}
	return im.BrokerConfigs[uncleanKey] == "true"
}

func toNodes(ids []int32) []model.NodeID {
	out := make([]model.NodeID, len(ids))
	for i, id := range ids {
		out[i] = model.NodeID(id)
	}
	return out
}

// planLeadership returns the partition records that bring every partition
// in line with broker liveness: fenced brokers (in the image, or in
// fencing, about to be) leave the ISR unless they are its last member,
// and a partition whose leader is not live gets the first live ISR member
// (elect), or no leader (-1) when none is live and unclean election is off.
// An offline replica (offline.go) counts as a fenced broker for its
// partition, except that when no other replica can lead it keeps the
// leadership rather than leave the partition leaderless.
func planLeadership(im *Image, fencing map[int32]bool, elect ElectFunc) []Record {
	if elect == nil {
		return nil
	}
	live := func(id int32) bool {
		b, ok := im.Brokers[id]
		return ok && !b.Fenced && !fencing[id]
	}
	hasOffline := false
	for _, b := range im.Brokers {
		hasOffline = hasOffline || len(b.Offline) > 0
	}
	// healthy: live, and its replica of the partition (tid, part) at
	// hand is not offline. The closures are made once: per partition
	// they cost the fence loop's pass several times its time.
	var tid UUID
	var part int32
	healthy := func(id int32) bool { return live(id) && !(hasOffline && im.ReplicaOffline(id, tid, part)) }
	notHealthy := func(id int32) bool { return !healthy(id) }
	notLive := func(id int32) bool { return !live(id) }
	healthyNode := func(id model.NodeID) bool { return healthy(int32(id)) }
	var recs []Record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for _, p := range t.Partitions {
			tid, part = t.ID, p.Partition
			isr := slices.DeleteFunc(slices.Clone(p.ISR), notHealthy)
			if len(isr) == 0 {
				// Keep the last in-sync members: only they may lead
				// cleanly when they come back (or their dirs do).
				isr = slices.DeleteFunc(slices.Clone(p.ISR), notLive)
			}
			if len(isr) == 0 {
				isr = slices.Clone(p.ISR)
			}
			leader, leaderEpoch := p.Leader, p.LeaderEpoch
			if leader < 0 || !healthy(leader) || !slices.Contains(isr, leader) {
				l, unclean := elect(toNodes(p.Replicas), toNodes(isr), healthyNode, im.UncleanAllowed(t))
				switch {
				case l < 0 && leader >= 0 && live(leader) && slices.Contains(isr, leader):
					// An offline leader that nobody can replace keeps
					// the partition.
				default:
					leader = int32(l)
					if unclean {
						isr = []int32{leader}
					}
					if leader != p.Leader {
						leaderEpoch++
					}
				}
			}
			if leader == p.Leader && slices.Equal(isr, p.ISR) {
				continue
			}
			recs = append(recs, Record{Type: RecPartition, Partition: &PartitionRecord{
				TopicID: t.ID, Partition: p.Partition, Replicas: slices.Clone(p.Replicas), ISR: isr,
				Leader: leader, LeaderEpoch: leaderEpoch, PartitionEpoch: p.PartitionEpoch + 1,
			}})
		}
	}
	return recs
}

// AlterPartition is a partition leader's ISR change (Kafka's
// AlterPartition): leader at leaderEpoch, planned from partitionEpoch,
// proposes isr. It runs on any voter (the entry is forwarded to the active
// controller by raft) and returns the new partition epoch. A leader or
// partition epoch that is not the current one fails with
// ErrFencedLeaderEpoch or ErrStalePartitionEpoch; an ISR that leaves out
// the leader, names a non-replica or adds a fenced broker or an offline
// replica (offline.go) fails with model.ErrInvalidRequest.
func (c *Controller) AlterPartition(ctx context.Context, topic string, partition, leader, leaderEpoch, partitionEpoch int32, isr []int32) (int32, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	rec, epoch, err := PlanAlterPartition(c.image.Load(), topic, partition, leader, leaderEpoch, partitionEpoch, isr)
	if err != nil || rec == nil {
		return epoch, err
	}
	if err := c.commitAnywhere(ctx, []Record{*rec}); err != nil {
		return 0, err
	}
	return epoch, nil
}

// ControlledShutdown moves partition leadership off this node before it
// stops (Kafka's controlled shutdown): one entry fences this node's
// registration and moves every partition it leads to the next live ISR
// member, taking it out of the ISRs, so that clients and followers go to
// the new leaders at once instead of after the session timeout. The node
// does not register again until it restarts. A quorum of one has nowhere
// to move leadership and does nothing.
//
// The entry is planned from this node's image, which may lag the quorum:
// when another change to one of its partitions (an ISR change) applies
// first, the entry is rejected as stale. By then this node has applied
// that change too, so it plans again from the newer image, until ctx ends.
func (c *Controller) ControlledShutdown(ctx context.Context) error {
	if c.soleVoter {
		return nil
	}
	c.shuttingDown.Store(true)
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	for {
		im := c.image.Load()
		b, ok := im.Brokers[c.cfg.NodeID]
		if !ok || b.Fenced {
			return nil
		}
		recs := []Record{{Type: RecBrokerFencing, BrokerFencing: &BrokerFencingRecord{BrokerID: c.cfg.NodeID, BrokerEpoch: b.Epoch, Fenced: true}}}
		recs = append(recs, planLeadership(im, map[int32]bool{c.cfg.NodeID: true}, c.cfg.ElectLeader)...)
		err := c.commitAnywhere(ctx, recs)
		if !errors.Is(err, ErrStalePartitionEpoch) || ctx.Err() != nil {
			return err
		}
		// Plan again from a newer image (at once when the rejection came
		// with it, as it does when this node applied the change first).
		if err := c.waitFor(ctx, func() bool { return c.image.Load() != im }); err != nil {
			return err
		}
	}
}

// Election types of ElectLeaders (Kafka's ElectionType).
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// Errors of ElectLeaders, one per partition.
var (
	// ErrElectionNotNeeded: the preferred replica leads already (or, for an
	// unclean election, the partition has a live leader).
	ErrElectionNotNeeded = errors.New("controlplane: election not needed")
	// ErrPreferredLeaderNotAvailable: the preferred replica is fenced or
	// not in the ISR.
	ErrPreferredLeaderNotAvailable = errors.New("controlplane: preferred leader not available")
	// ErrEligibleLeadersNotAvailable: no live replica can lead.
	ErrEligibleLeadersNotAvailable = errors.New("controlplane: no eligible leader available")
)

// ElectLeaders runs Kafka's ElectLeaders: a preferred election makes each
// partition's first replica its leader when it is live and in the ISR; an
// unclean election gives a leaderless partition the first live ISR member,
// or else the first live replica (with the ISR reset to it). parts nil
// means every partition. The changes go in one entry; the result has one
// error (nil: elected) per partition, in the order of the returned slice.
func (c *Controller) ElectLeaders(ctx context.Context, typ int8, parts []model.TopicPartition) ([]model.TopicPartition, []error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	parts, recs, planned, errs := planElections(c.image.Load(), typ, parts)
	if len(recs) > 0 {
		if err := c.commitAnywhere(ctx, recs); err != nil {
			for _, i := range planned {
				errs[i] = err
			}
		}
	}
	return parts, errs
}

// planElections plans ElectLeaders on im: the partitions (all of them
// when parts is nil), the records, the indexes of parts they elect for,
// and one error per partition.
func planElections(im *Image, typ int8, parts []model.TopicPartition) ([]model.TopicPartition, []Record, []int, []error) {
	if parts == nil {
		for _, name := range im.TopicNames() {
			for _, p := range im.Topics[name].Partitions {
				parts = append(parts, model.TopicPartition{Topic: name, Partition: p.Partition})
			}
		}
	}
	errs := make([]error, len(parts))
	var recs []Record
	var planned []int
	for i, tp := range parts {
		t, ok := im.Topics[tp.Topic]
		if !ok || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			errs[i] = fmt.Errorf("%w: %s", model.ErrUnknownTopicOrPartition, tp)
			continue
		}
		p := t.Partitions[tp.Partition]
		// live: unfenced, with this partition's replica not offline.
		live := func(id int32) bool { return im.canLead(id, t.ID, p.Partition) }
		next, isr := int32(-1), slices.Clone(p.ISR)
		switch typ {
		case ElectPreferred:
			pref := p.Replicas[0]
			switch {
			case p.Leader == pref:
				errs[i] = fmt.Errorf("%w: %s: replica %d leads already", ErrElectionNotNeeded, tp, pref)
			case !live(pref) || !slices.Contains(p.ISR, pref):
				errs[i] = fmt.Errorf("%w: %s: replica %d is fenced, offline or not in the ISR %v", ErrPreferredLeaderNotAvailable, tp, pref, p.ISR)
			default:
				next = pref
			}
		case ElectUnclean:
			if p.Leader >= 0 && live(p.Leader) {
				errs[i] = fmt.Errorf("%w: %s: replica %d leads", ErrElectionNotNeeded, tp, p.Leader)
				break
			}
			for _, id := range p.ISR {
				if live(id) {
					next = id
					break
				}
			}
			if next < 0 {
				for _, id := range p.Replicas {
					if live(id) {
						next, isr = id, []int32{id}
						break
					}
				}
			}
			if next < 0 {
				errs[i] = fmt.Errorf("%w: %s: no replica of %v is live", ErrEligibleLeadersNotAvailable, tp, p.Replicas)
			}
		default:
			errs[i] = fmt.Errorf("%w: election type %d (valid: 0 preferred, 1 unclean)", model.ErrInvalidRequest, typ)
		}
		if next < 0 {
			continue
		}
		recs = append(recs, Record{Type: RecPartition, Partition: &PartitionRecord{
			TopicID: t.ID, Partition: p.Partition, Replicas: slices.Clone(p.Replicas), ISR: isr,
			Leader: next, LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1,
		}})
		planned = append(planned, i)
	}
	return parts, recs, planned, errs
}
