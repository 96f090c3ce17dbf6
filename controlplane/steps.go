package controlplane

// Steppable pieces of the controller for the deterministic simulation
// (package sim): the code the Controller's goroutines run, callable one
// step at a time from a single goroutine with time and transport outside.
// The Controller uses the same functions, so the simulation exercises what
// the daemon runs.

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/ringtail/ringtail/model"
	"go.etcd.io/raft/v3"
)

// RaftID maps a Kafka node id (0 is valid) to its raft id (0 means none).
func RaftID(node int32) uint64 { return raftID(node) }

// NodeIDOf maps a raft id back to a Kafka node id (-1 for none).
func NodeIDOf(id uint64) int32 { return nodeID(id) }

// NewRaftConfig is the raft configuration of a controller quorum member:
// CheckQuorum and PreVote on, as Open sets them.
func NewRaftConfig(id uint64, st raft.Storage, applied uint64, electionTicks, heartbeatTicks int, logger *slog.Logger) *raft.Config {
	return &raft.Config{
		ID: id, ElectionTick: electionTicks, HeartbeatTick: heartbeatTicks,
		Storage: st, Applied: applied,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		// A leader that cannot hear a quorum steps down, and a node coming
		// back from a partition does not disrupt the term.
		CheckQuorum: true, PreVote: true,
		Logger: raftLogger{logger.With("component", "raft")},
	}
}

// EmptyImage is the image before the first entry.
func EmptyImage(clusterID string) *Image { return emptyImage(clusterID, -1) }

// ApplyEntry folds one committed entry's records into a new image (nil
// and the rejection when the entry does not fit, as on every node).
func (im *Image) ApplyEntry(index int64, recs []Record) (*Image, error) {
	n, err := im.applyEntry(index, recs)
	if err != nil {
		return nil, err
	}
	n.Offset = index
	return n, nil
}

// MarshalSnapshot is the image as a raft snapshot holds it.
func (im *Image) MarshalSnapshot() ([]byte, error) { return im.marshalSnapshot() }

// UnmarshalSnapshot reads an image from a raft snapshot.
func UnmarshalSnapshot(b []byte, clusterID string) (*Image, error) {
	return unmarshalSnapshot(b, clusterID, -1)
}

// EncodeEntry is the payload of a normal raft entry: one command's
// records and the id its proposer waits on.
func EncodeEntry(id uint64, recs []Record) ([]byte, error) {
	data, err := json.Marshal(entryData{ID: id, Records: recs})
	if err != nil {
		return nil, fmt.Errorf("controlplane: encode entry: %w", err)
	}
	return data, nil
}

// DecodeEntry reads EncodeEntry's payload.
func DecodeEntry(data []byte) (uint64, []Record, error) {
	var d entryData
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, nil, fmt.Errorf("controlplane: decode entry: %w", err)
	}
	return d.ID, d.Records, nil
}

// PlanLeadership is what the active controller's fence loop proposes
// along with fencing the brokers in fencing (see planLeadership).
func PlanLeadership(im *Image, fencing map[int32]bool, elect ElectFunc) []Record {
	return planLeadership(im, fencing, elect)
}

// PlanAlterPartition checks a partition leader's ISR change against im
// and returns its record (nil when the ISR is already the one proposed)
// and the partition epoch after it. The errors are AlterPartition's.
func PlanAlterPartition(im *Image, topic string, partition, leader, leaderEpoch, partitionEpoch int32, isr []int32) (*Record, int32, error) {
	t, ok := im.Topics[topic]
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, 0, fmt.Errorf("%w: %s-%d", model.ErrUnknownTopicOrPartition, topic, partition)
	}
	p := t.Partitions[partition]
	if p.Leader != leader || p.LeaderEpoch != leaderEpoch {
		return nil, 0, fmt.Errorf("%w: %s-%d: leader %d epoch %d proposed an ISR; the partition has leader %d epoch %d",
			ErrFencedLeaderEpoch, topic, partition, leader, leaderEpoch, p.Leader, p.LeaderEpoch)
	}
	if p.PartitionEpoch != partitionEpoch {
		return nil, 0, fmt.Errorf("%w: %s-%d: ISR planned at partition epoch %d, now %d", ErrStalePartitionEpoch, topic, partition, partitionEpoch, p.PartitionEpoch)
	}
	if !slices.Contains(isr, leader) {
		return nil, 0, fmt.Errorf("%w: %s-%d: ISR %v leaves out the leader %d", model.ErrInvalidRequest, topic, partition, isr, leader)
	}
	for _, id := range isr {
		if !slices.Contains(p.Replicas, id) {
			return nil, 0, fmt.Errorf("%w: %s-%d: ISR member %d is not a replica %v", model.ErrInvalidRequest, topic, partition, id, p.Replicas)
		}
		if b, ok := im.Brokers[id]; !slices.Contains(p.ISR, id) && (!ok || b.Fenced) {
			return nil, 0, fmt.Errorf("%w: %s-%d: broker %d is fenced and cannot join the ISR", model.ErrInvalidRequest, topic, partition, id)
		}
		if !slices.Contains(p.ISR, id) && im.ReplicaOffline(id, t.ID, partition) {
			// Kafka's INELIGIBLE_REPLICA.
			return nil, 0, fmt.Errorf("%w: %s-%d: broker %d's replica is offline (a failed log dir) and cannot join the ISR", model.ErrInvalidRequest, topic, partition, id)
		}
	}
	// Keep replica order so the ISR reads the same everywhere.
	next := slices.Clone(isr)
	slices.SortFunc(next, func(a, b int32) int { return slices.Index(p.Replicas, a) - slices.Index(p.Replicas, b) })
	next = slices.Compact(next)
	if slices.Equal(next, p.ISR) {
		return nil, p.PartitionEpoch, nil
	}
	rec := &Record{Type: RecPartition, Partition: &PartitionRecord{
		TopicID: t.ID, Partition: partition, Replicas: slices.Clone(p.Replicas), ISR: next,
		Leader: leader, LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch + 1,
	}}
	return rec, partitionEpoch + 1, nil
}
