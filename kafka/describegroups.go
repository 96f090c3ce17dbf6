package kafka

// DescribeGroups (key 15): versions 0-5.
//
// Behavior:
//   - Per group: state (Kafka's names), protocol type, and its members
//     (member id, group.instance.id v4+, client id, client host). Protocol
//     name, member metadata and assignments are filled only while Stable,
//     as in Kafka.
//   - An unknown group is state "Dead" with no error, as in Kafka; so is a
//     share group (Kafka describes only classic groups here before v6).
//   - A consumer (KIP-848) group, as Kafka shows it to old tools: protocol
//     type "consumer", the assignor as protocol, its own state names
//     (Empty, Assigning, Reconciling, Stable), and each member's
//     subscription and current assignment in the classic consumer
//     protocol's encoding.
//   - INVALID_GROUP_ID (over 255 bytes), NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS per group.
//   - v3+ authorized operations: -2147483648 unless asked for; then READ,
//     DELETE and DESCRIBE as the principal is allowed them.
//   - Authorization: DESCRIBE on each group, else GROUP_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
)

func handleDescribeGroups(s *Server, cx *reqCtx, req *kmsg.DescribeGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	gc, gerr := s.groups()
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		rg.AuthorizedOperations = math.MinInt32
		if req.IncludeAuthorizedOperations {
			// READ 3, DELETE 6, DESCRIBE 8: what applies to a group.
			rg.AuthorizedOperations = cx.authorizedOps(acl.ResourceGroup, id, 1<<3|1<<6|1<<8)
		}
		d, err := group.Description{State: group.Dead}, gerr
		if !cx.authorize(acl.ResourceGroup, id, acl.OpDescribe) {
			err = kerr.GroupAuthorizationFailed
		}
		if err == nil {
			d, err = gc.DescribeGroup(id)
		}
		rg.ErrorCode = errorCode(s.log, err)
		rg.State, rg.ProtocolType, rg.Protocol = d.State.String(), d.ProtocolType, d.Protocol
		if d.StateName != "" {
			rg.State = d.StateName // a consumer (KIP-848) group
		}
		if err != nil {
			rg.State = ""
		}
		for _, m := range d.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
			if rm.ProtocolMetadata == nil {
				rm.ProtocolMetadata = []byte{}
			}
			if rm.MemberAssignment == nil {
				rm.MemberAssignment = []byte{}
			}
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
