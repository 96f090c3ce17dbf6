package kafka

// FindCoordinator (key 10): versions 0-6.
//
// Behavior:
//   - Key type 0 (group): the coordinator is the leader of the group's
//     __consumer_offsets partition (abs(javaStringHashCode(key)) %
//     partitions, as in Kafka), answered with that broker's endpoint on
//     this listener. No leader, no endpoint, or no __consumer_offsets yet:
//     COORDINATOR_NOT_AVAILABLE (retriable). An invalid group id (empty, or
//     over 255 bytes): INVALID_GROUP_ID.
//   - v4 batches keys (coordinator_keys); each key gets its own answer.
//     v5 only says the client handles TRANSACTION_ABORTABLE (KIP-890).
//   - Key type 1 (transaction): the leader of the transactional id's
//     __transaction_state partition (the same hash over
//     transaction.state.log.num.partitions). An empty id or one over
//     txn.MaxTransactionalIDBytes: INVALID_REQUEST. The first such request
//     creates __transaction_state, as Kafka does, and, like every request
//     for a partition about to be served, waits (up to 10 s) until the
//     topic exists and, where this node leads the id's partition, its
//     transactions are loaded, instead of answering
//     COORDINATOR_NOT_AVAILABLE to a client that may retry only briefly
//     (sarama: 3 times). Any other key type: INVALID_REQUEST.
//   - Authorization: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED) or
//     the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) for each key.
//
//   - v6, key type 2 (share coordinator, KIP-932): the key is
//     "group:topicId:partition"; the coordinator is the leader of the
//     group's __share_group_state partition (Ringtail hashes the group id
//     only, share.PartitionFor); a key of another form is INVALID_REQUEST.
//     The first such request creates __share_group_state. Authorization:
//     CLUSTER_ACTION on the cluster (brokers ask it).
//
// Skipped on purpose: the answer does not depend on whether the
// coordinator has finished loading (the group requests say that).

import (
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/share"
	"github.com/ringtail/ringtail/txn"
)

var errNoGroups = fmt.Errorf("no group coordinator on this node: %w", group.ErrCoordinatorNotAvailable)

func handleFindCoordinator(s *Server, cx *reqCtx, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		err := cx.coordinatorCheck(req.CoordinatorType, key)
		if err == nil {
			err = s.findCoordinator(req.CoordinatorType, key, &c)
		}
		if err != nil {
			c.ErrorCode = errorCode(s.log, err)
			c.ErrorMessage = errorMessage(err)
			c.NodeID, c.Host, c.Port = -1, "", -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if req.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
	}
	return resp, nil
}

func (s *Server) findCoordinator(keyType int8, key string, out *kmsg.FindCoordinatorResponseCoordinator) error {
	var topic string
	var n, partition int32
	switch keyType {
	case 0:
		if key == "" || len(key) > group.MaxGroupIDBytes {
			return fmt.Errorf("%w: %d bytes; valid is 1 to %d", group.ErrInvalidGroupID, len(key), group.MaxGroupIDBytes)
		}
		if s.cfg.Groups == nil {
			return errNoGroups
		}
		topic, n = group.OffsetsTopic, s.cfg.Groups.NumPartitions()
		partition = group.PartitionFor(key, n)
	case 1:
		if key == "" || len(key) > txn.MaxTransactionalIDBytes {
			return fmt.Errorf("%w: transactional id of %d bytes; valid is 1 to %d", kerr.InvalidRequest, len(key), txn.MaxTransactionalIDBytes)
		}
		if s.cfg.Txns == nil {
			return errNoTxns
		}
		topic, n = txn.StateTopic, s.cfg.Txns.NumPartitions()
		partition = txn.PartitionFor(key, n)
	case 2:
		g, ok := shareCoordinatorGroup(key)
		if !ok {
			return fmt.Errorf("%w: share coordinator key %q; want group:topicId:partition", kerr.InvalidRequest, key)
		}
		topic, n = share.StateTopic, s.shares.cfg.StateTopicNumPartitions
		if t := s.ctrl.Image().Topics[topic]; t == nil {
			s.createShareStateTopic()
		} else {
			n = int32(len(t.Partitions))
		}
		partition = share.PartitionFor(g, n)
	default:
		return fmt.Errorf("coordinator key type %d: %w", keyType, kerr.InvalidRequest)
	}
	if keyType == 1 {
		s.awaitTxnCoordinator(partition)
	}
	im := s.ctrl.Image()
	t := im.Topics[topic]
	if t == nil || int32(len(t.Partitions)) != n {
		return fmt.Errorf("%s is not there yet: %w", topic, group.ErrCoordinatorNotAvailable)
	}
	p := t.Partitions[partition]
	b := im.Brokers[p.Leader]
	if b == nil || b.Fenced {
		return fmt.Errorf("%s-%d has no live leader: %w", topic, p.Partition, group.ErrCoordinatorNotAvailable)
	}
	ep, ok := b.Endpoint(s.cfg.ListenerName)
	if !ok {
		return fmt.Errorf("broker %d has no %s listener: %w", b.ID, s.cfg.ListenerName, group.ErrCoordinatorNotAvailable)
	}
	out.NodeID, out.Host, out.Port = b.ID, ep.Host, ep.Port
	return nil
}

// groups is the coordinator, or an error when this node has none.
func (s *Server) groups() (*group.Coordinator, error) {
	if s.cfg.Groups == nil {
		return nil, errNoGroups
	}
	return s.cfg.Groups, nil
}

// clientHost is how Kafka shows a member's host: "/" + its IP.
func clientHost(cx *reqCtx) string {
	host, _, err := net.SplitHostPort(cx.conn.remote)
	if err != nil {
		return "/" + cx.conn.remote
	}
	return "/" + host
}
