package kafka

// DescribeTopicPartitions (key 75): version 0 (KIP-966), as Kafka's
// DescribeTopicPartitionsRequestHandler.
//
// Behavior:
//   - Topics empty: every topic, else the ones named (duplicates once);
//     either way only names at or after the cursor's topic, in name order.
//   - At most min(response_partition_limit, 2000) partitions are answered
//     (2000 is Kafka's max.request.partition.size.limit default; a limit
//     below 1 counts as 1). A topic that does not fit whole ends the
//     answer with next_cursor at its first partition not sent; a topic
//     that does not fit at all gets next_cursor at its partition 0.
//   - The cursor's topic starts at the cursor's partition; a cursor whose
//     topic is not among the named topics, or whose partition is negative,
//     is INVALID_REQUEST for every named topic.
//   - Named topics that do not exist are UNKNOWN_TOPIC_OR_PARTITION (or
//     INVALID_TOPIC_EXCEPTION for a name Kafka would refuse) and use no
//     partitions of the limit; a listing of all topics has no such errors.
//   - Per partition: leader, leader epoch, replicas, ISR;
//     LEADER_NOT_AVAILABLE when there is no leader. Eligible leader
//     replicas, last known ELR and offline replicas are empty (no KIP-966
//     ELR and no replica health tracking).
//   - Authorization: DESCRIBE on each topic. A named topic the principal
//     may not describe is TOPIC_AUTHORIZATION_FAILED with no id or
//     partitions, listed after the others; a listing of all topics leaves
//     those out silently. Authorized operations are always filled.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/group"
)

// maxDescribePartitions is Kafka's max.request.partition.size.limit
// default: the most partitions one DescribeTopicPartitions answers.
const maxDescribePartitions = 2000

func handleDescribeTopicPartitions(s *Server, cx *reqCtx, req *kmsg.DescribeTopicPartitionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	im := s.ctrl.Image()
	all := len(req.Topics) == 0
	cursorTopic, cursorPartition := "", int32(0)
	if req.Cursor != nil {
		cursorTopic, cursorPartition = req.Cursor.Topic, req.Cursor.Partition
	}
	var names []string
	if all {
		for _, n := range im.TopicNames() {
			if n >= cursorTopic {
				names = append(names, n)
			}
		}
	} else {
		for _, t := range req.Topics {
			if t.Topic >= cursorTopic && !slices.Contains(names, t.Topic) {
				names = append(names, t.Topic)
			}
		}
	}
	slices.Sort(names)
	if req.Cursor != nil && (cursorPartition < 0 || (!all && !slices.Contains(names, cursorTopic))) {
		for _, t := range req.Topics {
			rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
			name := t.Topic
			rt.Topic, rt.ErrorCode = &name, kerr.InvalidRequest.Code
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}

	var denied []kmsg.DescribeTopicPartitionsResponseTopic
	remaining := max(min(req.ResponsePartitionLimit, maxDescribePartitions), 1)
	for _, name := range names {
		ok := cx.allowed(acl.ResourceTopic, name, acl.OpDescribe)
		if !all && !ok {
			ok = cx.authorize(acl.ResourceTopic, name, acl.OpDescribe) // logs the denial
		}
		if !ok {
			if !all {
				rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				n := name
				rt.Topic, rt.ErrorCode = &n, kerr.TopicAuthorizationFailed.Code
				denied = append(denied, rt)
			}
			continue
		}
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
			break
		}
		t := im.Topics[name]
		if t == nil {
			if !all {
				rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				n := name
				rt.Topic, rt.ErrorCode = &n, kerr.UnknownTopicOrPartition.Code
				if controlplane.ValidateTopicName(name) != nil {
					rt.ErrorCode = kerr.InvalidTopicException.Code
				}
				rt.IsInternal = name == group.OffsetsTopic
				resp.Topics = append(resp.Topics, rt)
			}
			continue
		}
		start := int32(0)
		if name == cursorTopic {
			start = cursorPartition
		}
		rt, next := describeTopicPartitions(im, t, start, remaining)
		rt.AuthorizedOperations = cx.authorizedOps(acl.ResourceTopic, name, topicAuthorizedOps)
		resp.Topics = append(resp.Topics, rt)
		if next >= 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: next}
			break
		}
		remaining -= int32(len(rt.Partitions))
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp, nil
}

// describeTopicPartitions answers t's partitions from start, at most
// limit of them; next is the first partition left out, -1 when none is.
// Offline replicas are those the controller recorded in im.
func describeTopicPartitions(im *controlplane.Image, t *controlplane.Topic, start, limit int32) (kmsg.DescribeTopicPartitionsResponseTopic, int32) {
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	name := t.Name
	rt.Topic, rt.TopicID, rt.IsInternal = &name, t.ID, name == group.OffsetsTopic
	rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	next := int32(-1)
	for i := start; i < int32(len(t.Partitions)); i++ {
		if int32(len(rt.Partitions)) == limit {
			next = i
			break
		}
		p := t.Partitions[i]
		rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
		rp.Partition, rp.LeaderID, rp.LeaderEpoch = p.Partition, p.Leader, p.LeaderEpoch
		rp.Replicas = append([]int32{}, p.Replicas...)
		rp.ISR = append([]int32{}, p.ISR...)
		rp.EligibleLeaderReplicas, rp.LastKnownELR = []int32{}, []int32{}
		rp.OfflineReplicas = append([]int32{}, im.OfflineReplicas(t.ID, &p)...)
		if p.Leader < 0 {
			rp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	return rt, next
}
