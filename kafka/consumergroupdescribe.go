package kafka

// ConsumerGroupDescribe (key 69): versions 0-1 (KIP-848).
//
// Behavior:
//   - Per group: state (Empty, Assigning, Reconciling, Stable), group
//     epoch, target assignment epoch, assignor, and each member's epoch,
//     ids, rack, subscription (names and regex), current and target
//     assignment (topic ids and names); v1 member type 1 (consumer), or
//     0 for a classic member of a converted group.
//   - GROUP_ID_NOT_FOUND for an unknown group or a classic group, as
//     Kafka; INVALID_GROUP_ID, NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS per group.
//   - Authorized operations when asked: READ, DELETE, DESCRIBE.
//   - Authorization: DESCRIBE on each group, else GROUP_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
)

func handleConsumerGroupDescribe(s *Server, cx *reqCtx, req *kmsg.ConsumerGroupDescribeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	gc, gerr := s.groups()
	for _, id := range req.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = id
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = cx.authorizedOps(acl.ResourceGroup, id, 1<<3|1<<6|1<<8)
		}
		err := gerr
		if !cx.authorize(acl.ResourceGroup, id, acl.OpDescribe) {
			err = kerr.GroupAuthorizationFailed
		}
		var d group.ConsumerDescription
		if err == nil {
			d, err = gc.DescribeConsumerGroup(id)
		}
		if err != nil {
			rg.ErrorCode, rg.ErrorMessage = errorCode(s.log, err), errorMessage(err)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State, rg.Epoch, rg.AssignmentEpoch, rg.AssignorName = d.State, d.Epoch, d.AssignmentEpoch, d.Assignor
		for _, m := range d.Members {
			rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.RackID, rm.MemberEpoch = m.MemberID, m.InstanceID, m.RackID, m.MemberEpoch
			rm.ClientID, rm.ClientHost = m.ClientID, m.ClientHost
			rm.SubscribedTopics = m.SubscribedTopicNames
			if rm.SubscribedTopics == nil {
				rm.SubscribedTopics = []string{}
			}
			if m.SubscribedTopicRegex != "" {
				re := m.SubscribedTopicRegex
				rm.SubscribedTopicRegex = &re
			}
			rm.Assignment = describeAssignment(m.Assignment, d.TopicNames)
			rm.TargetAssignment = describeAssignment(m.Target, d.TopicNames)
			if req.Version >= 1 {
				rm.MemberType = 1 // consumer
				if m.Classic {
					rm.MemberType = 0 // a classic member (group/convert.go)
				}
			}
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

func describeAssignment(ts []group.ConsumerTopic, names map[[16]byte]string) kmsg.Assignment {
	a := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
	for _, t := range ts {
		a.TopicPartitions = append(a.TopicPartitions, kmsg.AssignmentTopicPartition{TopicID: t.ID, Topic: names[t.ID], Partitions: t.Partitions})
	}
	return a
}
