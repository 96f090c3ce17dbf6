package kafka

// JoinGroup (key 11): versions 0-9.
//
// Behavior:
//   - Drives group.Coordinator.Join; the answer comes when the rebalance
//     completes (all known members rejoined, the rebalance timeout, or
//     group.initial.rebalance.delay.ms for a group that was empty), so the
//     response may take seconds. The connection's reader is not blocked:
//     later requests on the connection are read and handled, and their
//     responses wait behind this one (Kafka answers in order too; clients
//     send group requests on their own connection).
//   - v4+: a first join without a member id gets MEMBER_ID_REQUIRED with
//     the member id to use.
//   - v0 has no rebalance timeout: the session timeout is used.
//   - INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT (outside 6 s - 30 min),
//     INCONSISTENT_GROUP_PROTOCOL (no protocols, empty or mismatched
//     protocol type, no protocol in common, a share group's id), UNKNOWN_MEMBER_ID,
//     FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED, NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS, and INVALID_REQUEST for protocol
//     metadata over 1 MiB.
//   - v9: a static leader that rejoins without a rebalance gets the member
//     list with skip_assignment (KIP-814); older versions get no list.
//   - A consumer (KIP-848) group with members takes a consumer-protocol
//     joiner as a classic member (group/convert.go): answered at once
//     with its member epoch as the generation, no leader and no member
//     list; an empty consumer group becomes a classic group.
//   - Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED.
//
// Skipped on purpose: the reason field (v8+) is only logged at debug.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
)

func handleJoinGroup(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.JoinGroupRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	respond := func(r group.JoinResult) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = errorCode(s.log, r.Err)
		resp.Generation = r.Generation
		resp.MemberID = r.MemberID
		if r.Err == nil {
			pt, p := r.ProtocolType, r.Protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
			resp.LeaderID = r.Leader
			resp.SkipAssignment = r.SkipAssignment
			if !r.SkipAssignment || req.Version >= 9 {
				for _, m := range r.Members {
					rm := kmsg.NewJoinGroupResponseMember()
					rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
					resp.Members = append(resp.Members, rm)
				}
			}
		} else if req.Version < 7 {
			empty := ""
			resp.Protocol = &empty
		}
		finish(resp, nil)
	}
	gc, err := s.groupsAs(cx, req.Group, acl.OpRead)
	if err != nil {
		respond(group.JoinResult{Err: err, MemberID: req.MemberID, Generation: -1})
		return
	}
	if req.Reason != nil {
		s.log.Debug("join group", "group", req.Group, "member_id", req.MemberID, "reason", *req.Reason)
	}
	jr := group.JoinRequest{
		Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID,
		ClientID: cx.clientID, ClientHost: clientHost(cx),
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		ProtocolType:         req.ProtocolType,
		RequireKnownMemberID: req.Version >= 4,
	}
	if req.Version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	gc.Join(s.cfg.Now(), jr, respond)
}
