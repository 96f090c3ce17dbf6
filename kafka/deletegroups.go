package kafka

// DeleteGroups (key 42): versions 0-2.
//
// Behavior:
//   - Drives group.Coordinator.DeleteGroups: an Empty group is forgotten
//     and tombstones for its offsets and metadata are written; the answer
//     waits until they are durable.
//   - Per group: NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND,
//     INVALID_GROUP_ID (over 255 bytes), NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS.
//
// Skipped on purpose: nothing.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteGroups(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.DeleteGroupsRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	respond := func(errs []error) {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for i, id := range req.Groups {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group = id
			g.ErrorCode = errorCode(s.log, errs[i])
			resp.Groups = append(resp.Groups, g)
		}
		finish(resp, nil)
	}
	gc, err := s.groups()
	if err != nil {
		errs := make([]error, len(req.Groups))
		for i := range errs {
			errs[i] = err
		}
		respond(errs)
		return
	}
	gc.DeleteGroups(s.cfg.Now(), req.Groups, respond)
}
