package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

// Lookups shared by the data-path handlers (Produce, Fetch, ListOffsets,
// OffsetForLeaderEpoch, DeleteRecords).
//
// One rule keeps a client that never retries correct: a partition that
// this node is about to serve is waited for, not refused. Metadata lists a
// partition's leader as soon as the metadata quorum has committed it, and
// a client may send its first request right away, before this node's log
// exists or its replication has started, or even before this node has
// applied the entry (the client learned of the topic through another
// node). So a data request:
//   - finding the topic or partition missing, led elsewhere, or at an
//     older leader epoch than the client names, first catches up with the
//     quorum (Controller.CatchUp, once per request) and looks again;
//   - finding the partition led here but its log not ready, waits for the
//     node's logs to change (Logs.Changed) until it is ready or the
//     request's own timeout (readyWait) runs out, and only then answers
//     NOT_LEADER_OR_FOLLOWER.
// A partition that is ready costs one map lookup, as before.

// Bounds of the wait for a partition that is not ready yet: the request's
// own timeout, but at least readyWaitMin (a Fetch's max wait may be 0) and
// at most readyWaitMax; requests without a timeout wait readyWaitDefault.
const (
	readyWaitMin     = time.Second
	readyWaitMax     = 30 * time.Second
	readyWaitDefault = 5 * time.Second
)

// readyWait is how long a request with timeout ms (<= 0: none) waits.
func readyWait(ms int32) time.Duration {
	if ms <= 0 {
		return readyWaitDefault
	}
	return min(max(time.Duration(ms)*time.Millisecond, readyWaitMin), readyWaitMax)
}

// errLogNotReady: the image says this node leads the partition, but its
// log is not open (or replication not started) yet. Clients see
// NOT_LEADER_OR_FOLLOWER once the wait runs out.
var errLogNotReady = fmt.Errorf("log not ready on this node yet: %w", model.ErrNotLeader)

// partLookup resolves the partitions of one request.
type partLookup struct {
	s        *Server
	deadline time.Time
	caughtUp bool
	// check, when set, authorizes the request on each topic it resolves
	// (authz.go); its error is the partition's answer, before any other.
	check func(topic string) error
}

func (s *Server) newLookup(wait time.Duration) *partLookup {
	return &partLookup{s: s, deadline: time.Now().Add(wait)}
}

// topicRef names a topic by name or, for requests that carry ids
// (Fetch v13+), by id.
type topicRef struct {
	name string
	id   controlplane.UUID
	byID bool
}

// partition resolves a partition this node must lead. A name that fails
// Kafka's rules is INVALID_TOPIC_EXCEPTION; a topic or partition not in the
// image is UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID by id); one led
// elsewhere, or not ready here within the wait, is NOT_LEADER_OR_FOLLOWER;
// a client epoch (currentEpoch >= 0) that differs from the leader's is
// FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH (KIP-320).
func (lk *partLookup) partition(ref topicRef, partition, currentEpoch int32) (controlplane.Partition, Log, error) {
	for {
		changed := lk.s.logs.Changed()
		im := lk.s.ctrl.Image()
		if err := lk.authorize(im, ref); err != nil {
			return controlplane.Partition{}, nil, err
		}
		p, l, err := lk.s.localPartition(im, ref, partition)
		if err == nil && currentEpoch >= 0 {
			err = checkLeaderEpoch(currentEpoch, p)
		}
		if err == nil {
			return p, l, nil
		}
		remaining := time.Until(lk.deadline)
		switch {
		case errors.Is(err, errLogNotReady):
			if remaining <= 0 {
				return p, nil, err
			}
			t := time.NewTimer(remaining)
			select {
			case <-changed:
			case <-t.C:
			case <-lk.s.stopping:
				t.Stop()
				return p, nil, err
			}
			t.Stop()
		case !lk.caughtUp && behind(err):
			lk.caughtUp = true
			ctx, cancel := context.WithTimeout(context.Background(), max(remaining, readyWaitMin))
			cerr := lk.s.ctrl.CatchUp(ctx)
			cancel()
			if cerr != nil {
				lk.s.log.Debug("catching up with the metadata quorum for a data request", "err", cerr)
				return p, nil, err
			}
		default:
			return p, nil, err
		}
	}
}

// behind reports whether err may only mean that this node's image is
// older than the client's.
func behind(err error) bool {
	return errors.Is(err, model.ErrUnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID) ||
		errors.Is(err, model.ErrNotLeader) || errors.Is(err, kerr.UnknownLeaderEpoch)
}

// localPartition resolves a partition against im without waiting.
func (s *Server) localPartition(im *controlplane.Image, ref topicRef, partition int32) (controlplane.Partition, Log, error) {
	var t *controlplane.Topic
	if ref.byID {
		if t = im.TopicsByID[ref.id]; t == nil {
			return controlplane.Partition{}, nil, fmt.Errorf("topic id %s: %w", ref.id, kerr.UnknownTopicID)
		}
	} else if t = im.Topics[ref.name]; t == nil {
		if err := controlplane.ValidateTopicName(ref.name); err != nil {
			return controlplane.Partition{}, nil, err
		}
		return controlplane.Partition{}, nil, fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, ref.name)
	}
	if partition < 0 || int(partition) >= len(t.Partitions) {
		return controlplane.Partition{}, nil, fmt.Errorf("%w: %s has no partition %d", model.ErrUnknownTopicOrPartition, t.Name, partition)
	}
	p := t.Partitions[partition]
	if p.Leader != s.cfg.NodeID {
		return p, nil, fmt.Errorf("%w: %s-%d is led by node %d", model.ErrNotLeader, t.Name, partition, p.Leader)
	}
	if s.offline(model.TopicPartition{Topic: t.Name, Partition: partition}) {
		return p, nil, fmt.Errorf("%s-%d: the log dir holding it is offline: %w", t.Name, partition, model.ErrStorage)
	}
	l, ok := s.logs.LeaderLog(t, p)
	if !ok {
		return p, nil, fmt.Errorf("%s-%d: %w", t.Name, partition, errLogNotReady)
	}
	return p, l, nil
}

// offline reports whether this node's replica of tp is on an offline log
// dir (OfflineLogs).
func (s *Server) offline(tp model.TopicPartition) bool {
	ol, ok := s.logs.(OfflineLogs)
	return ok && ol.Offline(tp)
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

// awaitLeading waits until every partition of the named topics that this
// node leads by the image is ready to serve (CreateTopics, CreatePartitions
// and Metadata's auto-creation answer once the topic is usable here), or
// until ctx ends; it reports whether they all were.
func (s *Server) awaitLeading(ctx context.Context, topics []string) bool {
	for {
		changed := s.logs.Changed()
		im := s.ctrl.Image()
		ready := true
		for _, name := range topics {
			t := im.Topics[name]
			if t == nil {
				continue
			}
			for _, p := range t.Partitions {
				if p.Leader != s.cfg.NodeID {
					continue
				}
				if _, ok := s.logs.LeaderLog(t, p); !ok && !s.offline(model.TopicPartition{Topic: name, Partition: p.Partition}) {
					ready = false
					break
				}
			}
			if !ready {
				break
			}
		}
		if ready {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		case <-s.stopping:
			return false
		}
	}
}
