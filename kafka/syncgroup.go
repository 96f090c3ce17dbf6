package kafka

// SyncGroup (key 14): versions 0-5.
//
// Behavior:
//   - Drives group.Coordinator.Sync. The leader's assignments are stored
//     in __consumer_offsets (group metadata) and, once durable, handed to
//     every member that has sent its SyncGroup; followers that sync before
//     the leader wait for it (or for the rebalance to be abandoned:
//     REBALANCE_IN_PROGRESS). Assignments are opaque bytes, so eager and
//     cooperative clients both work.
//   - If that write fails, every waiting member gets NOT_COORDINATOR (a
//     storage error, as Kafka maps KAFKA_STORAGE_ERROR) or
//     COORDINATOR_NOT_AVAILABLE and the group rebalances, as in Kafka.
//   - UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID,
//     REBALANCE_IN_PROGRESS, INCONSISTENT_GROUP_PROTOCOL (v5 protocol
//     type/name that differ from the group's), NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS.
//   - A classic member of a consumer (KIP-848) group gets its current
//     assignment, computed by the broker, in the consumer protocol's
//     embedded format (group/convert.go).
//   - Authorization: READ on the group, else GROUP_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
)

func handleSyncGroup(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.SyncGroupRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	respond := func(r group.SyncResult) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = errorCode(s.log, r.Err)
		if r.Err == nil {
			pt, p := r.ProtocolType, r.Protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
			resp.MemberAssignment = r.Assignment
		}
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		finish(resp, nil)
	}
	gc, err := s.groupsAs(cx, req.Group, acl.OpRead)
	if err != nil {
		respond(group.SyncResult{Err: err})
		return
	}
	sr := group.SyncRequest{
		Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation,
		ProtocolType: req.ProtocolType, Protocol: req.Protocol,
		Assignments: make(map[string][]byte, len(req.GroupAssignment)),
	}
	for _, a := range req.GroupAssignment {
		sr.Assignments[a.MemberID] = a.MemberAssignment
	}
	gc.Sync(s.cfg.Now(), sr, respond)
}
