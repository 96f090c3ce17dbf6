package kafka

// ListGroups (key 16): versions 0-4.
//
// Behavior:
//   - Lists every group this node coordinates (also groups that only hold
//     committed offsets: Empty, no protocol type), sorted by id.
//   - v4 states_filter: only groups in one of the states named (Kafka's
//     names, case-insensitive); empty means all.
//   - COORDINATOR_LOAD_IN_PROGRESS while any owned __consumer_offsets
//     partition is loading, with the groups loaded so far.
//   - Authorization: with DESCRIBE on the cluster every group is listed;
//     otherwise only the groups the principal may DESCRIBE.
//
// Skipped on purpose: v5 types_filter (KIP-848 group types).

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

func handleListGroups(s *Server, cx *reqCtx, req *kmsg.ListGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	gc, err := s.groups()
	if err != nil {
		resp.ErrorCode = errorCode(s.log, err)
		return resp, nil
	}
	var states []string
	if req.Version >= 4 {
		states = req.StatesFilter
	}
	ls, err := gc.ListGroups(states)
	resp.ErrorCode = errorCode(s.log, err)
	all := cx.allowed(acl.ResourceCluster, acl.ClusterName, acl.OpDescribe)
	for _, l := range ls {
		if !all && !cx.allowed(acl.ResourceGroup, l.ID, acl.OpDescribe) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState = l.ID, l.ProtocolType, l.State.String()
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
