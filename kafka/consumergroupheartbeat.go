package kafka

// ConsumerGroupHeartbeat (key 68): versions 0-1 (KIP-848).
//
// Behavior:
//   - Drives group.Coordinator.ConsumerGroupHeartbeat, answered once what
//     it changed is durable in __consumer_offsets: joins (epoch 0),
//     heartbeats, leaves (-1) and static members' temporary leaves (-2);
//     the answer carries the member's epoch, the heartbeat interval
//     (group.consumer.heartbeat.interval.ms) and, when it changed (or the
//     request sent its full state), the member's assignment by topic id.
//   - v0: the broker makes the member id on the first heartbeat; v1: the
//     client sends its own (KIP-1082), and an empty one is INVALID_REQUEST.
//   - Errors: FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID,
//     UNRELEASED_INSTANCE_ID, FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED
//     (group.consumer.max.size), INVALID_REGULAR_EXPRESSION,
//     UNSUPPORTED_ASSIGNOR (not in group.consumer.assignors),
//     INVALID_REQUEST (a bad first heartbeat), GROUP_ID_NOT_FOUND (a
//     classic group with members, or a share group), NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS; each with an error message.
//   - Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED;
//     DESCRIBE on every subscribed topic name, else
//     TOPIC_AUTHORIZATION_FAILED (as Kafka's KafkaApis); a regex
//     subscription resolves only to topics the member's principal may
//     DESCRIBE (as Kafka 4), checked again on each heartbeat, so a grant
//     or a revoke reaches the assignment on the member's next heartbeat.
//
// Skipped on purpose: nothing.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
)

func handleConsumerGroupHeartbeat(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(err error) {
		resp.ErrorCode, resp.ErrorMessage = errorCode(s.log, err), errorMessage(err)
		resp.MemberEpoch = req.MemberEpoch
		if req.MemberID != "" {
			id := req.MemberID
			resp.MemberID = &id
		}
		finish(resp, nil)
	}
	gc, err := s.heartbeatGroups(cx, req.Group, req.SubscribedTopicNames)
	if err != nil {
		fail(err)
		return
	}
	hb := group.ConsumerHeartbeat{
		Version: req.Version, Group: req.Group, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch,
		InstanceID: req.InstanceID, RackID: req.RackID, RebalanceTimeoutMs: req.RebalanceTimeoutMillis,
		SubscribedTopicNames: req.SubscribedTopicNames, SubscribedTopicRegex: req.SubscribedTopicRegex,
		ServerAssignor: req.ServerAssignor, ClientID: cx.clientID,
	}
	if cx.conn != nil {
		hb.ClientHost = clientHost(cx)
	}
	if req.Version < 1 {
		hb.SubscribedTopicRegex = nil
	}
	hb.TopicAllowed = cx.describeFilter()
	if req.Topics != nil {
		hb.Owned = make([]group.ConsumerTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			hb.Owned = append(hb.Owned, group.ConsumerTopic{ID: t.TopicID, Partitions: t.Partitions})
		}
	}
	gc.ConsumerGroupHeartbeat(s.cfg.Now(), hb, func(r group.ConsumerHeartbeatResult) {
		if r.Err != nil {
			fail(r.Err)
			return
		}
		respondHeartbeat(resp, r)
		finish(resp, nil)
	})
}

func respondHeartbeat(resp *kmsg.ConsumerGroupHeartbeatResponse, r group.ConsumerHeartbeatResult) {
	id := r.MemberID
	resp.MemberID = &id
	resp.MemberEpoch = r.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(r.HeartbeatInterval / time.Millisecond)
	if r.Assignment != nil {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
		for _, t := range r.Assignment {
			at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			at.TopicID, at.Partitions = t.ID, t.Partitions
			a.Topics = append(a.Topics, at)
		}
		resp.Assignment = &a
	}
}

// describeFilter is whether cx's principal may DESCRIBE a topic, for the
// coordinator to filter regex matches with (nil: no authorizer). It reads
// the ACLs current when called, and none of cx's per-request state: the
// coordinator keeps it past the request.
func (cx *reqCtx) describeFilter() func(string) bool {
	if !cx.authzOn() {
		return nil
	}
	s, c := cx.conn.s, cx.conn
	az, principal, host := s.authz.az, c.kafkaPrincipal(), c.hostIP
	return func(topic string) bool {
		return az.Authorize(s.ctrl.Image().ACLSnapshot(),
			acl.Action{Principal: principal, Host: host, Resource: acl.ResourceTopic, Name: topic, Op: acl.OpDescribe})
	}
}
