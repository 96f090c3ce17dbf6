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
//   - An empty share group: its share-partition state is dropped first
//     (Config.ShareStates.DeleteGroup); if that fails, the group is kept
//     and answered that error.
//   - Authorization: DELETE on each group, else GROUP_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
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
	var allowed []string
	var at []int
	errs := make([]error, len(req.Groups))
	for i, id := range req.Groups {
		if !cx.authorize(acl.ResourceGroup, id, acl.OpDelete) {
			errs[i] = kerr.GroupAuthorizationFailed
			continue
		}
		allowed = append(allowed, id)
		at = append(at, i)
	}
	if len(allowed) == 0 {
		respond(errs)
		return
	}
	// Empty share groups first lose their share-partition state
	// (sharegroups.go); a group whose state could not be dropped is kept.
	s.dropShareStates(gc, allowed, errs, at, func(allowed []string, at []int) {
		if len(allowed) == 0 {
			respond(errs)
			return
		}
		gc.DeleteGroups(s.cfg.Now(), allowed, func(res []error) {
			for k, i := range at {
				errs[i] = res[k]
			}
			respond(errs)
		})
	})
}
