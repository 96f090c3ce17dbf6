package kafka

// ShareGroupHeartbeat (key 76): version 1 (KIP-932 share groups).
//
// Behavior:
//   - Drives group.Coordinator.ShareGroupHeartbeat, answered once what it
//     changed is durable in __consumer_offsets: joins (epoch 0, with the
//     client's own member id, KIP-1082), heartbeats, leaves (-1); the
//     answer carries the member's epoch, the heartbeat interval
//     (group.share.heartbeat.interval.ms, or the group's
//     share.heartbeat.interval.ms) and, on a join, a full request (one
//     with subscribed topic names) or a changed assignment, the member's
//     assignment by topic id.
//   - Errors: INVALID_REQUEST (empty member id, group id or rack, no
//     topics on a join, epoch below -1, a member id over 255 bytes),
//     FENCED_MEMBER_EPOCH,
//     UNKNOWN_MEMBER_ID, GROUP_ID_NOT_FOUND (an unknown group on a
//     heartbeat or leave, or a group of another type),
//     GROUP_MAX_SIZE_REACHED (group.share.max.size), NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE; each with
//     an error message.
//   - Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED;
//     DESCRIBE on every subscribed topic, else TOPIC_AUTHORIZATION_FAILED
//     (as Kafka's KafkaApis).
//
// Skipped on purpose: version 0 (Kafka 4.0's early-access version, which
// Kafka 4.1 dropped); the share-partition state is not initialized here
// (the share-partition side initializes a partition on its first
// ShareFetch).

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/group"
)

func handleShareGroupHeartbeat(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.ShareGroupHeartbeatRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	fail := func(err error) {
		resp.ErrorCode, resp.ErrorMessage = errorCode(s.log, err), errorMessage(err)
		resp.MemberEpoch = req.MemberEpoch
		if req.MemberID != "" {
			id := req.MemberID
			resp.MemberID = &id
		}
		finish(resp, nil)
	}
	gc, err := s.heartbeatGroups(cx, req.GroupID, req.SubscribedTopicNames)
	if err != nil {
		fail(err)
		return
	}
	hb := group.ShareHeartbeat{
		Group: req.GroupID, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch,
		RackID: req.RackID, SubscribedTopicNames: req.SubscribedTopicNames, ClientID: cx.clientID,
	}
	if cx.conn != nil {
		hb.ClientHost = clientHost(cx)
	}
	gc.ShareGroupHeartbeat(s.cfg.Now(), hb, func(r group.ShareHeartbeatResult) {
		if r.Err != nil {
			fail(r.Err)
			return
		}
		id := r.MemberID
		resp.MemberID = &id
		resp.MemberEpoch = r.MemberEpoch
		resp.HeartbeatIntervalMillis = int32(r.HeartbeatInterval / time.Millisecond)
		if r.Assignment != nil {
			a := kmsg.NewShareGroupHeartbeatResponseAssignment()
			a.TopicPartitions = []kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition{}
			for _, t := range r.Assignment {
				tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
				tp.TopicID, tp.Partitions = t.ID, t.Partitions
				a.TopicPartitions = append(a.TopicPartitions, tp)
			}
			resp.Assignment = &a
		}
		finish(resp, nil)
	})
}
