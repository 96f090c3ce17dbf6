package kafka

// ShareAcknowledge (key 79): versions 1-2.
//
// Behavior:
//   - Acknowledges records a share group member acquired with ShareFetch,
//     without fetching: 0 gap, 1 accept, 2 release, 3 reject, and with v2's
//     IsRenewAck 4 renew (the lock of records still held starts over).
//     Each partition's acknowledgements apply all or nothing: records the
//     member does not hold (never acquired, another member's, lock expired,
//     already acknowledged) are INVALID_RECORD_STATE for that partition
//     only. The changed state is written to the share coordinator before
//     the answer.
//   - ShareSessionEpoch must be the member's share session's next epoch
//     (INVALID_SHARE_SESSION_EPOCH; 0 is never valid here; no session:
//     SHARE_SESSION_NOT_FOUND) and moves it on; -1 closes the session after
//     the acknowledgements and releases every record the member still
//     holds on its partitions.
//   - A partition this node does not lead is NOT_LEADER_OR_FOLLOWER with
//     CurrentLeader and its endpoint in NodeEndpoints (KIP-951).
//   - v2: AcquisitionLockTimeoutMillis in the answer.
//   - Authorization: READ on the group (top-level
//     GROUP_AUTHORIZATION_FAILED), READ on each topic.
//
// Skipped on purpose: v0 (Kafka 4.0's early access).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/share"
)

func handleShareAcknowledge(s *Server, cx *reqCtx, req *kmsg.ShareAcknowledgeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	group, member, code := shareIdentity(cx, req.GroupID, req.MemberID)
	gc := s.shareGroupConfig(group)
	resp.AcquisitionLockTimeoutMillis = int32(gc.RecordLockDuration / time.Millisecond)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	key := share.SessionKey{Group: group, Member: member}
	switch epoch := req.ShareSessionEpoch; {
	case epoch == 0:
		resp.ErrorCode = kerr.InvalidShareSessionEpoch.Code
		return resp, nil
	case epoch == -1:
		if err := s.shares.sessions.Check(key); err != nil {
			resp.ErrorCode = s.shareErrorCode(err)
			return resp, nil
		}
	default:
		if _, err := s.shares.sessions.Next(key, epoch, nil, nil); err != nil {
			resp.ErrorCode = s.shareErrorCode(err)
			return resp, nil
		}
	}
	renew := req.Version >= 2 && req.IsRenewAck
	lk := s.newLookup(readyWait(0))
	lk.check = cx.topicCheck(acl.OpRead)
	ctx, cancel := context.WithTimeout(context.Background(), shareStateWait+5*time.Second)
	defer cancel()
	im := s.ctrl.Image()
	seen := map[int32]bool{}
	for _, t := range req.Topics {
		rt := kmsg.NewShareAcknowledgeResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			batches := make([]share.AckBatch, 0, len(p.AcknowledgementBatches))
			for _, b := range p.AcknowledgementBatches {
				batches = append(batches, shareAckTypes(b.FirstOffset, b.LastOffset, b.AcknowledgeTypes))
			}
			out := s.shareAcknowledge(ctx, lk, group, member, t.TopicID, p.Partition, batches, renew)
			rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.ErrorMessage = p.Partition, out.code, errorMessage(out.err)
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
			if errors.Is(out.err, model.ErrNotLeader) {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = out.leader.Leader, out.leader.LeaderEpoch
				if id := out.leader.Leader; id >= 0 && !seen[id] {
					seen[id] = true
					if host, port, rack, ok := s.leaderEndpoint(im, id); ok {
						ne := kmsg.NewShareAcknowledgeResponseNodeEndpoint()
						ne.NodeID, ne.Host, ne.Port, ne.Rack = id, host, port, rack
						resp.NodeEndpoints = append(resp.NodeEndpoints, ne)
					}
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.ShareSessionEpoch == -1 {
		closed, err := s.shares.sessions.Close(key)
		if err != nil {
			resp.ErrorCode = s.shareErrorCode(err)
			return resp, nil
		}
		s.shareReleaseMember(group, member, closed)
	}
	return resp, nil
}
