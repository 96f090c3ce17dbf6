package controlplane

// Partition reassignment (Kafka's KIP-455): AlterPartitionReassignments
// sets a partition's target replicas. The partition's Replicas become the
// target followed by the replicas leaving, the new replicas start
// fetching, and once every one of them is in the ISR the active
// controller (fenceLoop, planReassignments) completes the move: Replicas
// become the target, the ISR keeps its members that stay, leadership moves
// if the leader is leaving, and the leaving replicas delete their copies.
// Both steps bump the leader epoch, so leader and followers restart their
// replication state with the new replica set, as after a failover.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ringtail/ringtail/model"
)

// ErrNoReassignmentInProgress answers a cancellation of a partition that
// is not being reassigned (Kafka's NO_REASSIGNMENT_IN_PROGRESS).
var ErrNoReassignmentInProgress = errors.New("controlplane: no reassignment in progress")

// Reassign is one partition of AlterPartitionReassignments: its target
// replicas, or nil to cancel a reassignment in progress.
type Reassign struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// AlterPartitionReassignments starts (or cancels) reassignments; one error
// (nil: accepted) per entry. The accepted changes go in one entry.
func (c *Controller) AlterPartitionReassignments(ctx context.Context, reqs []Reassign) []error {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	im := c.image.Load()
	errs := make([]error, len(reqs))
	var recs []Record
	var planned []int
	for i, r := range reqs {
		t, ok := im.Topics[r.Topic]
		if !ok || r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
			errs[i] = fmt.Errorf("%w: %s-%d", model.ErrUnknownTopicOrPartition, r.Topic, r.Partition)
			continue
		}
		p := t.Partitions[r.Partition]
		// The replicas before any reassignment in progress.
		original := slices.DeleteFunc(slices.Clone(p.Replicas), func(id int32) bool { return slices.Contains(p.AddingReplicas, id) })
		var rec *PartitionRecord
		if r.Replicas == nil {
			if !p.Reassigning() {
				errs[i] = fmt.Errorf("%w: %s-%d", ErrNoReassignmentInProgress, r.Topic, r.Partition)
				continue
			}
			rec, errs[i] = moveTo(im, t, p, original)
		} else {
			if err := c.checkAssignments(im, [][]int32{r.Replicas}, -1); err != nil {
				errs[i] = err
				continue
			}
			target := r.Replicas
			union := slices.Clone(target)
			for _, id := range original {
				if !slices.Contains(union, id) {
					union = append(union, id)
				}
			}
			re := &Reassignment{}
			for _, id := range target {
				if !slices.Contains(original, id) {
					re.Adding = append(re.Adding, id)
				}
			}
			for _, id := range original {
				if !slices.Contains(target, id) {
					re.Removing = append(re.Removing, id)
				}
			}
			if len(re.Adding) == 0 && len(re.Removing) == 0 && !p.Reassigning() {
				continue // already there
			}
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return !slices.Contains(union, id) })
			rec = &PartitionRecord{TopicID: t.ID, Partition: p.Partition, Replicas: union, ISR: isr,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1, Reassignment: re}
		}
		if rec != nil {
			recs = append(recs, Record{Type: RecPartition, Partition: rec})
			planned = append(planned, i)
		}
	}
	if len(recs) > 0 {
		if err := c.commitAnywhere(ctx, recs); err != nil {
			for _, i := range planned {
				errs[i] = err
			}
		}
	}
	return errs
}

// moveTo plans the partition's final state with replicas target: the ISR
// keeps its members in target, and a leader outside it (or fenced, or
// offline) gives way to the first live ISR member whose replica is not
// offline. Nil with no error: no member of the
// target is in the ISR and live yet, so it must wait.
func moveTo(im *Image, t *Topic, p Partition, target []int32) (*PartitionRecord, error) {
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return !slices.Contains(target, id) })
	live := func(id int32) bool { b, ok := im.Brokers[id]; return ok && !b.Fenced }
	leader := p.Leader
	if !slices.Contains(isr, leader) || !im.canLead(leader, t.ID, p.Partition) {
		next := int32(-1)
		for _, id := range isr {
			if im.canLead(id, t.ID, p.Partition) {
				next = id
				break
			}
		}
		if next < 0 && slices.Contains(isr, leader) && live(leader) {
			next = leader // an offline leader nobody can replace stays (offline.go)
		}
		leader = next
	}
	if leader < 0 {
		return nil, fmt.Errorf("%w: %s-%d: no replica of %v is live and in the ISR %v", ErrEligibleLeadersNotAvailable, t.Name, p.Partition, target, p.ISR)
	}
	return &PartitionRecord{TopicID: t.ID, Partition: p.Partition, Replicas: slices.Clone(target), ISR: isr,
		Leader: leader, LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1, Reassignment: &Reassignment{}}, nil
}

// planReassignments completes every reassignment whose new replicas are
// all in the ISR (run by the active controller).
func planReassignments(im *Image) []Record {
	var recs []Record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for _, p := range t.Partitions {
			if !p.Reassigning() {
				continue
			}
			caughtUp := true
			for _, id := range p.AddingReplicas {
				caughtUp = caughtUp && slices.Contains(p.ISR, id)
			}
			if !caughtUp {
				continue
			}
			target := slices.DeleteFunc(slices.Clone(p.Replicas), func(id int32) bool { return slices.Contains(p.RemovingReplicas, id) })
			if rec, err := moveTo(im, t, p, target); err == nil {
				recs = append(recs, Record{Type: RecPartition, Partition: rec})
			}
		}
	}
	return recs
}

// PartitionReassignment is one reassignment in progress.
type PartitionReassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
	Adding    []int32
	Removing  []int32
}

// ListPartitionReassignments lists the reassignments in progress, of the
// given partitions (nil: all).
func (c *Controller) ListPartitionReassignments(parts []model.TopicPartition) []PartitionReassignment {
	im := c.image.Load()
	var out []PartitionReassignment
	for _, name := range im.TopicNames() {
		for _, p := range im.Topics[name].Partitions {
			if !p.Reassigning() {
				continue
			}
			if parts != nil && !slices.Contains(parts, model.TopicPartition{Topic: name, Partition: p.Partition}) {
				continue
			}
			out = append(out, PartitionReassignment{Topic: name, Partition: p.Partition, Replicas: slices.Clone(p.Replicas),
				Adding: slices.Clone(p.AddingReplicas), Removing: slices.Clone(p.RemovingReplicas)})
		}
	}
	return out
}
