package kafka

// Heartbeat (key 12): versions 0-4.
//
// Behavior:
//   - Drives group.Coordinator.Heartbeat: resets the member's session
//     timer. REBALANCE_IN_PROGRESS while the group prepares a rebalance
//     (the client rejoins), ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
//     FENCED_INSTANCE_ID, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
//   - A classic member of a consumer (KIP-848) group gets
//     REBALANCE_IN_PROGRESS when it should rejoin to reconcile
//     (group/convert.go).
//   - Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

func handleHeartbeat(s *Server, cx *reqCtx, req *kmsg.HeartbeatRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	gc, err := s.groupsAs(cx, req.Group, acl.OpRead)
	if err == nil {
		err = gc.Heartbeat(s.cfg.Now(), req.Group, req.MemberID, req.InstanceID, req.Generation)
	}
	resp.ErrorCode = errorCode(s.log, err)
	return resp, nil
}
