package kafka

// ShareGroupDescribe (key 77): versions 0-1 (KIP-932 share groups).
//
// Behavior:
//   - Per group: state (Empty, Stable), group epoch, assignment epoch,
//     assignor ("simple"), and each member's id, rack, epoch, client id
//     and host, subscribed topic names and assignment (topic ids and
//     names).
//   - GROUP_ID_NOT_FOUND for an unknown group or one of another type, as
//     Kafka; INVALID_GROUP_ID, NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS per group.
//   - Authorized operations when asked: READ, DELETE, DESCRIBE,
//     DESCRIBE_CONFIGS, ALTER_CONFIGS as the principal is allowed them.
//   - Authorization: DESCRIBE on each group, else
//     GROUP_AUTHORIZATION_FAILED; then DESCRIBE on every topic the group's
//     members subscribe to or are assigned, else the group is answered
//     TOPIC_AUTHORIZATION_FAILED with nothing else (Kafka's KafkaApis).
//
// Skipped on purpose: nothing.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
)

// groupOps are the operations that apply to a group (READ 3, DELETE 6,
// DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11), for authorized
// operations.
const groupOps = 1<<3 | 1<<6 | 1<<8 | 1<<10 | 1<<11

func handleShareGroupDescribe(s *Server, cx *reqCtx, req *kmsg.ShareGroupDescribeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	gc, gerr := s.groups()
	for _, id := range req.GroupIDs {
		rg := kmsg.NewShareGroupDescribeResponseGroup()
		rg.GroupID = id
		err := gerr
		if err == nil && !cx.authorize(acl.ResourceGroup, id, acl.OpDescribe) {
			err = kerr.GroupAuthorizationFailed
		}
		var d group.ShareDescription
		if err == nil {
			d, err = gc.DescribeShareGroup(id)
		}
		if err == nil && !shareTopicsDescribable(cx, d) {
			err = errShareTopicsNotDescribable
		}
		if err != nil {
			rg.ErrorCode, rg.ErrorMessage = errorCode(s.log, err), errorMessage(err)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = cx.authorizedOps(acl.ResourceGroup, id, groupOps)
		}
		rg.GroupState, rg.GroupEpoch, rg.AssignmentEpoch, rg.Assignor = d.State, d.Epoch, d.AssignmentEpoch, d.Assignor
		for _, m := range d.Members {
			rm := kmsg.NewShareGroupDescribeResponseGroupMember()
			rm.MemberID, rm.RackID, rm.MemberEpoch = m.MemberID, m.RackID, m.MemberEpoch
			rm.ClientID, rm.ClientHost = m.ClientID, m.ClientHost
			rm.SubscribedTopicNames = m.SubscribedTopicNames
			if rm.SubscribedTopicNames == nil {
				rm.SubscribedTopicNames = []string{}
			}
			rm.Assignment.TopicPartitions = []kmsg.ShareGroupDescribeResponseGroupMemberAssignmentTopicPartition{}
			for _, t := range m.Assignment {
				tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
				tp.TopicID, tp.Topic, tp.Partitions = t.ID, d.TopicNames[t.ID], t.Partitions
				rm.Assignment.TopicPartitions = append(rm.Assignment.TopicPartitions, tp)
			}
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

// errShareTopicsNotDescribable is Kafka's answer for a group whose topics
// the principal may not DESCRIBE.
var errShareTopicsNotDescribable = fmt.Errorf("%w: the described group uses topics that the client is not authorized to describe", kerr.TopicAuthorizationFailed)

// shareTopicsDescribable reports whether the principal may DESCRIBE every
// topic the group's members subscribe to or hold.
func shareTopicsDescribable(cx *reqCtx, d group.ShareDescription) bool {
	if !cx.authzOn() {
		return true
	}
	seen := map[string]bool{}
	check := func(t string) bool {
		if t == "" || seen[t] {
			return true
		}
		seen[t] = true
		return cx.authorize(acl.ResourceTopic, t, acl.OpDescribe)
	}
	for _, m := range d.Members {
		for _, t := range m.SubscribedTopicNames {
			if !check(t) {
				return false
			}
		}
		for _, t := range m.Assignment {
			if !check(d.TopicNames[t.ID]) {
				return false
			}
		}
	}
	return true
}
