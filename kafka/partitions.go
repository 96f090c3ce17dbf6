package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

// Lookups shared by the data-path handlers (Produce, Fetch, ListOffsets,
// DeleteRecords).

// localPartition resolves a partition this node must lead. A name that
// fails Kafka's rules is INVALID_TOPIC_EXCEPTION; a topic or partition not
// in the image is UNKNOWN_TOPIC_OR_PARTITION; one led elsewhere, or whose
// log this node has not opened yet (the storage side follows the image a
// moment later), is NOT_LEADER_OR_FOLLOWER so that the client refreshes
// metadata and retries.
func (s *Server) localPartition(t *controlplane.Topic, topicName string, partition int32) (controlplane.Partition, Log, error) {
	if t == nil {
		if err := controlplane.ValidateTopicName(topicName); err != nil {
			return controlplane.Partition{}, nil, err
		}
		return controlplane.Partition{}, nil, fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, topicName)
	}
	if partition < 0 || int(partition) >= len(t.Partitions) {
		return controlplane.Partition{}, nil, fmt.Errorf("%w: %s has no partition %d", model.ErrUnknownTopicOrPartition, t.Name, partition)
	}
	p := t.Partitions[partition]
	if p.Leader != s.cfg.NodeID {
		return p, nil, fmt.Errorf("%w: %s-%d is led by node %d", model.ErrNotLeader, t.Name, partition, p.Leader)
	}
	l, ok := s.logs.Log(model.TopicPartition{Topic: t.Name, Partition: partition})
	if !ok {
		return p, nil, fmt.Errorf("%w: %s-%d is not open on this node yet", model.ErrNotLeader, t.Name, partition)
	}
	return p, l, nil
}

// checkLeaderEpoch applies KIP-320: a client that names an older leader
// epoch is fenced, a newer one means this node is behind. -1 skips it.
func checkLeaderEpoch(current int32, p controlplane.Partition) error {
	switch {
	case current < 0 || current == p.LeaderEpoch:
		return nil
	case current < p.LeaderEpoch:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}
