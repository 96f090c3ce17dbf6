package kafka

// ListGroups (key 16): versions 0-5.
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
//   - v5 types_filter: "classic", "consumer" (KIP-848 groups) or "share"
//     (KIP-932 share groups), case-insensitive; each group's type is
//     listed. Consumer groups have their own state names (Empty,
//     Assigning, Reconciling, Stable), share groups theirs (Empty,
//     Stable) and protocol type "share".
//
// Skipped on purpose: nothing.

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
	var states, types []string
	if req.Version >= 4 {
		states = req.StatesFilter
	}
	if req.Version >= 5 {
		types = req.TypesFilter
	}
	ls, err := gc.ListGroupsOf(states, types)
	resp.ErrorCode = errorCode(s.log, err)
	all := cx.allowed(acl.ResourceCluster, acl.ClusterName, acl.OpDescribe)
	for _, l := range ls {
		if !all && !cx.allowed(acl.ResourceGroup, l.ID, acl.OpDescribe) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.ID, l.ProtocolType, l.StateName, l.Type
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
