package kafka

// InitializeShareGroupState (key 83): version 0.
// ReadShareGroupState (key 84): version 0.
// WriteShareGroupState (key 85): versions 0-1.
// DeleteShareGroupState (key 86): version 0.
// ReadShareGroupStateSummary (key 87): versions 0-1.
//
// Behavior:
//   - The share coordinator's APIs (KIP-932), sent by partition leaders to
//     the node leading the group's __share_group_state partition (Ringtail
//     hashes the group id only: share.PartitionFor). A node that does not
//     lead it answers NOT_COORDINATOR, one still replaying it
//     COORDINATOR_LOAD_IN_PROGRESS, per partition.
//   - Read of a share-partition with no state answers start offset -1 and
//     state epoch -1 (the leader then initializes it); Write stores the
//     whole state as one ShareSnapshot record (a state epoch below the
//     stored one is FENCED_STATE_EPOCH); Initialize writes an empty state
//     at the start offset; Delete writes tombstones; the summary answers
//     the state epoch and start offset.
//   - Ringtail extension: a Read with no topics lists every share-partition
//     of the group with state here (one Topics entry per topic id), which
//     DeleteGroups and DescribeShareGroupOffsets use over the wire.
//   - Authorization: CLUSTER_ACTION on the cluster, else
//     CLUSTER_AUTHORIZATION_FAILED per partition.
//
// Skipped on purpose: ShareUpdate records are read (replay applies them)
// but never written; DeliveryCompleteCount (v1) is answered as -1 (not
// tracked) and ignored on write; leader epochs are stored, not checked.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/share"
)

// shareStateCheck is the handlers' error for every partition before any
// work: CLUSTER_ACTION, and a share coordinator on this node.
func (s *Server) shareStateCheck(cx *reqCtx) error {
	if !cx.authorizeCluster(acl.OpClusterAction) {
		return kerr.ClusterAuthorizationFailed
	}
	if s.shares.coord == nil {
		return share.ErrNotCoordinator
	}
	return nil
}

func handleInitializeShareGroupState(s *Server, cx *reqCtx, req *kmsg.InitializeShareGroupStateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitializeShareGroupStateResponse)
	check := s.shareStateCheck(cx)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, t := range req.Topics {
		rt := kmsg.NewInitializeShareGroupStateResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewInitializeShareGroupStateResponseTopicPartition()
			rp.Partition = p.Partition
			err := check
			if err == nil {
				err = s.shares.coord.Write(ctx, share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition},
					share.Snapshot{StateEpoch: p.StateEpoch, LeaderEpoch: -1, StartOffset: max(p.StartOffset, 0)})
			}
			rp.ErrorCode, rp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func handleReadShareGroupState(s *Server, cx *reqCtx, req *kmsg.ReadShareGroupStateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ReadShareGroupStateResponse)
	check := s.shareStateCheck(cx)
	topics := req.Topics
	if len(topics) == 0 && check == nil {
		// The listing extension: every share-partition of the group.
		keys, err := s.shares.coord.Keys(req.GroupID)
		if err != nil {
			rt := kmsg.NewReadShareGroupStateResponseTopic()
			rp := kmsg.NewReadShareGroupStateResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.ErrorMessage = -1, s.shareErrorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
			resp.Topics = append(resp.Topics, rt)
			return resp, nil
		}
		for _, k := range keys {
			rt := kmsg.NewReadShareGroupStateRequestTopic()
			rt.TopicID = k.TopicID
			rp := kmsg.NewReadShareGroupStateRequestTopicPartition()
			rp.Partition = k.Partition
			rt.Partitions = append(rt.Partitions, rp)
			topics = append(topics, rt)
		}
	}
	for _, t := range topics {
		rt := kmsg.NewReadShareGroupStateResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewReadShareGroupStateResponseTopicPartition()
			rp.Partition, rp.StateEpoch, rp.StartOffset = p.Partition, -1, -1
			err := check
			if err == nil {
				var snap share.Snapshot
				var ok bool
				snap, ok, err = s.shares.coord.Read(share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition})
				if err == nil && ok {
					rp.StateEpoch, rp.StartOffset = snap.StateEpoch, snap.StartOffset
					for _, b := range snap.Batches {
						rb := kmsg.NewReadShareGroupStateResponseTopicPartitionStateBatch()
						rb.FirstOffset, rb.LastOffset, rb.DeliveryState, rb.DeliveryCount = b.First, b.Last, int8(b.State), b.DeliveryCount
						rp.StateBatches = append(rp.StateBatches, rb)
					}
				}
			}
			rp.ErrorCode, rp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func handleWriteShareGroupState(s *Server, cx *reqCtx, req *kmsg.WriteShareGroupStateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.WriteShareGroupStateResponse)
	check := s.shareStateCheck(cx)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, t := range req.Topics {
		rt := kmsg.NewWriteShareGroupStateResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewWriteShareGroupStateResponseTopicPartition()
			rp.Partition = p.Partition
			err := check
			if err == nil && p.StartOffset < 0 {
				err = fmt.Errorf("%w: start offset %d", kerr.InvalidRequest, p.StartOffset)
			}
			if err == nil {
				snap := share.Snapshot{StateEpoch: p.StateEpoch, LeaderEpoch: p.LeaderEpoch, StartOffset: p.StartOffset}
				for _, b := range p.StateBatches {
					if b.LastOffset < b.FirstOffset {
						err = fmt.Errorf("%w: state batch %d-%d", kerr.InvalidRequest, b.FirstOffset, b.LastOffset)
						break
					}
					snap.Batches = append(snap.Batches, share.StateBatch{First: b.FirstOffset, Last: b.LastOffset, State: share.RecordState(b.DeliveryState), DeliveryCount: b.DeliveryCount})
				}
				if err == nil {
					err = s.shares.coord.Write(ctx, share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition}, snap)
				}
			}
			rp.ErrorCode, rp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func handleDeleteShareGroupState(s *Server, cx *reqCtx, req *kmsg.DeleteShareGroupStateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupStateResponse)
	check := s.shareStateCheck(cx)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteShareGroupStateResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewDeleteShareGroupStateResponseTopicPartition()
			rp.Partition = p.Partition
			err := check
			if err == nil {
				err = s.shares.coord.Delete(ctx, share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition})
			}
			rp.ErrorCode, rp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func handleReadShareGroupStateSummary(s *Server, cx *reqCtx, req *kmsg.ReadShareGroupStateSummaryRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ReadShareGroupStateSummaryResponse)
	check := s.shareStateCheck(cx)
	for _, t := range req.Topics {
		rt := kmsg.NewReadShareGroupStateSummaryResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewReadShareGroupStateSummaryResponseTopicPartition()
			rp.Partition, rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset, rp.DeliveryCompleteCount = p.Partition, -1, -1, -1, -1
			err := check
			if err == nil {
				var snap share.Snapshot
				var ok bool
				snap, ok, err = s.shares.coord.Read(share.Key{Group: req.GroupID, TopicID: t.TopicID, Partition: p.Partition})
				if err == nil && ok {
					rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset = snap.StateEpoch, snap.LeaderEpoch, snap.StartOffset
				}
			}
			rp.ErrorCode, rp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// shareStateRequest sends req to node's share coordinator directly (not
// through the client's routing).
func (s *Server) shareStateRequest(ctx context.Context, node int32, req kmsg.Request) (kmsg.Response, error) {
	cl, err := s.peer(node)
	if err != nil {
		return nil, fmt.Errorf("share coordinator %d: %w: %w", node, kerr.CoordinatorNotAvailable, err)
	}
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("share coordinator %d: no connection: %w", node, kerr.CoordinatorNotAvailable)
	}
	resp, err := seeds[0].Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("share coordinator %d: %w: %w", node, kerr.CoordinatorNotAvailable, err)
	}
	return resp, nil
}

func (s *Server) shareReadRemote(ctx context.Context, node int32, key share.Key) (share.Snapshot, bool, error) {
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.GroupID = key.Group
	rt := kmsg.NewReadShareGroupStateRequestTopic()
	rt.TopicID = key.TopicID
	rp := kmsg.NewReadShareGroupStateRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch = key.Partition, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := s.shareStateRequest(ctx, node, req)
	if err != nil {
		return share.Snapshot{}, false, err
	}
	resp := kresp.(*kmsg.ReadShareGroupStateResponse)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.TopicID != key.TopicID || p.Partition != key.Partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return share.Snapshot{}, false, err
			}
			if p.StartOffset < 0 {
				return share.Snapshot{}, false, nil
			}
			snap := share.Snapshot{StateEpoch: p.StateEpoch, LeaderEpoch: -1, StartOffset: p.StartOffset}
			for _, b := range p.StateBatches {
				snap.Batches = append(snap.Batches, share.StateBatch{First: b.FirstOffset, Last: b.LastOffset, State: share.RecordState(b.DeliveryState), DeliveryCount: b.DeliveryCount})
			}
			return snap, true, nil
		}
	}
	return share.Snapshot{}, false, fmt.Errorf("share coordinator %d did not answer for %s: %w", node, key, kerr.CoordinatorNotAvailable)
}

func (s *Server) shareWriteRemote(ctx context.Context, node int32, key share.Key, snap share.Snapshot) error {
	req := kmsg.NewPtrWriteShareGroupStateRequest()
	req.GroupID = key.Group
	rt := kmsg.NewWriteShareGroupStateRequestTopic()
	rt.TopicID = key.TopicID
	rp := kmsg.NewWriteShareGroupStateRequestTopicPartition()
	rp.Partition, rp.StateEpoch, rp.LeaderEpoch, rp.StartOffset, rp.DeliveryCompleteCount = key.Partition, snap.StateEpoch, snap.LeaderEpoch, snap.StartOffset, -1
	for _, b := range snap.Batches {
		rb := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
		rb.FirstOffset, rb.LastOffset, rb.DeliveryState, rb.DeliveryCount = b.First, b.Last, int8(b.State), b.DeliveryCount
		rp.StateBatches = append(rp.StateBatches, rb)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := s.shareStateRequest(ctx, node, req)
	if err != nil {
		return err
	}
	for _, t := range kresp.(*kmsg.WriteShareGroupStateResponse).Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) shareDeleteRemote(ctx context.Context, node int32, group string, keys []share.Key) error {
	if len(keys) == 0 {
		return nil
	}
	req := kmsg.NewPtrDeleteShareGroupStateRequest()
	req.GroupID = group
	byTopic := map[[16]byte]int{}
	for _, k := range keys {
		i, ok := byTopic[k.TopicID]
		if !ok {
			i = len(req.Topics)
			byTopic[k.TopicID] = i
			rt := kmsg.NewDeleteShareGroupStateRequestTopic()
			rt.TopicID = k.TopicID
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewDeleteShareGroupStateRequestTopicPartition()
		rp.Partition = k.Partition
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	kresp, err := s.shareStateRequest(ctx, node, req)
	if err != nil {
		return err
	}
	for _, t := range kresp.(*kmsg.DeleteShareGroupStateResponse).Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}

// shareKeysRemote lists group's share-partitions at node (the Read
// listing extension).
func (s *Server) shareKeysRemote(ctx context.Context, node int32, group string) ([]share.Key, error) {
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.GroupID = group
	kresp, err := s.shareStateRequest(ctx, node, req)
	if err != nil {
		return nil, err
	}
	var keys []share.Key
	for _, t := range kresp.(*kmsg.ReadShareGroupStateResponse).Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, err
			}
			if p.StartOffset >= 0 {
				keys = append(keys, share.Key{Group: group, TopicID: t.TopicID, Partition: p.Partition})
			}
		}
	}
	return keys, nil
}

// createShareStateTopic creates __share_group_state in the background,
// as createTxnTopic does __transaction_state:
// share.coordinator.state.topic.num.partitions partitions, the
// replication factor capped at the live brokers, compacted,
// min.insync.replicas capped at the replication factor.
func (s *Server) createShareStateTopic() {
	if !s.shareTopicCreating.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.shareTopicCreating.Store(false)
		c := s.shares.cfg
		live := 0
		for _, b := range s.ctrl.Image().Brokers {
			if !b.Fenced {
				live++
			}
		}
		rf := min(int(c.StateTopicReplicationFactor), max(live, 1))
		isr := min(int(c.StateTopicMinISR), rf)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res := s.ctrl.CreateTopics(ctx, []controlplane.CreateTopic{{
			Name: share.StateTopic, NumPartitions: c.StateTopicNumPartitions, ReplicationFactor: int16(rf),
			Configs: map[string]string{
				"cleanup.policy":      "compact",
				"segment.bytes":       strconv.Itoa(int(c.StateTopicSegmentBytes)),
				"compression.type":    "producer",
				"min.insync.replicas": strconv.Itoa(isr),
			},
		}}, false)
		if err := res[0].Err; err != nil && !errors.Is(err, model.ErrTopicAlreadyExists) {
			s.log.Warn("creating internal topic failed; the next share fetch retries", "topic", share.StateTopic, "err", err)
			return
		}
		s.log.Info("created internal topic", "topic", share.StateTopic, "partitions", c.StateTopicNumPartitions, "replication_factor", rf)
	}()
}

// shareCoordinatorGroup is the group of a share coordinator key
// "group:topicId:partition" (the group may itself hold colons).
func shareCoordinatorGroup(key string) (string, bool) {
	j := strings.LastIndexByte(key, ':')
	if j <= 0 {
		return "", false
	}
	if _, err := strconv.ParseInt(key[j+1:], 10, 32); err != nil {
		return "", false
	}
	i := strings.LastIndexByte(key[:j], ':')
	if i <= 0 || i == j-1 {
		return "", false
	}
	return key[:i], true
}
