package kafka

// LeaveGroup (key 13): versions 0-5.
//
// Behavior:
//   - v0-v2 name one member; v3+ a batch of members, each by member id or
//     group.instance.id (KIP-345), each answered on its own.
//   - A member that leaves starts a rebalance (or completes the one in
//     progress); the last member leaving makes the group Empty.
//   - Per member: UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID (the instance id
//     belongs to another member id). Request level: INVALID_GROUP_ID,
//     NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS. For v0-v2 the member's
//     error is the request's error.
//   - Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED.
//
// Skipped on purpose: the reason field (v5) is only logged at debug.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
)

func handleLeaveGroup(s *Server, cx *reqCtx, req *kmsg.LeaveGroupRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := make([]group.LeaveMember, 0, len(req.Members)+1)
	if req.Version < 3 {
		members = append(members, group.LeaveMember{MemberID: req.MemberID})
	} else {
		for _, m := range req.Members {
			members = append(members, group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID})
			if m.Reason != nil {
				s.log.Debug("leave group", "group", req.Group, "member_id", m.MemberID, "reason", *m.Reason)
			}
		}
	}
	gc, err := s.groupsAs(cx, req.Group, acl.OpRead)
	var errs []error
	if err == nil {
		err, errs = gc.Leave(s.cfg.Now(), req.Group, members)
	}
	if err != nil {
		resp.ErrorCode = errorCode(s.log, err)
		return resp, nil
	}
	if req.Version < 3 {
		resp.ErrorCode = errorCode(s.log, errs[0])
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		rm.ErrorCode = errorCode(s.log, errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
