package kafka

// OffsetFetch (key 9): versions 1-9.
//
// Behavior:
//   - Answers from group.Coordinator.FetchOffsets. A partition with no
//     committed offset (or a group that does not exist) gets offset -1,
//     leader epoch -1, empty metadata and no error, as in Kafka.
//   - v2+: null topics means every committed offset of the group.
//   - v7+ require_stable (KIP-447): a partition asked for whose offset
//     an open transaction holds (pending until its marker), or whose
//     commit is being written, answers UNSTABLE_OFFSET_COMMIT with offset
//     -1, as Kafka's hasPendingOffsetCommitsForTopicPartition decides; the
//     client retries. With null topics the committed partitions are
//     listed, the unstable ones so answered. Without require_stable the
//     committed offset is returned, pending ones never.
//   - v8 fetches several groups in one request, each answered on its own.
//   - v9 (KIP-848): a group that names a member of a consumer group is
//     checked first: UNKNOWN_MEMBER_ID, or STALE_MEMBER_EPOCH when the
//     epoch is not the member's (group-level error).
//   - Coordinator errors (INVALID_GROUP_ID over 255 bytes,
//     NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS) go in the group-level
//     error (v2+), and in every partition for v1.
//   - Authorization: DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED;
//     DESCRIBE on each topic asked for, else its partitions are
//     TOPIC_AUTHORIZATION_FAILED; a fetch of all topics leaves out those the
//     principal may not describe.
//   - A share group's id is GROUP_ID_NOT_FOUND, as in Kafka.
//
// Skipped on purpose: v0 (offsets in ZooKeeper), v10 (topic ids).

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
)

// fetchedTopic is one topic of the answer for one group.
type fetchedTopic struct {
	topic string
	parts []kmsg.OffsetFetchResponseGroupTopicPartition
}

func handleOffsetFetch(s *Server, cx *reqCtx, req *kmsg.OffsetFetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics map[string][]int32
			if rg.Topics != nil {
				topics = map[string][]int32{}
				for _, t := range rg.Topics {
					topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
				}
			}
			var res []fetchedTopic
			err := s.checkOffsetFetchMember(cx, req.Version, &rg)
			if err == nil {
				res, err = s.fetchOffsets(cx, rg.Group, topics, topicOrder(rg.Topics), req.RequireStable)
			}
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			g.ErrorCode = errorCode(s.log, err)
			for _, ft := range res {
				t := kmsg.NewOffsetFetchResponseGroupTopic()
				t.Topic, t.Partitions = ft.topic, ft.parts
				g.Topics = append(g.Topics, t)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp, nil
	}
	var topics map[string][]int32
	var order []string
	if req.Topics != nil || req.Version < 2 {
		topics = map[string][]int32{}
		for _, t := range req.Topics {
			if _, ok := topics[t.Topic]; !ok {
				order = append(order, t.Topic)
			}
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
	}
	res, err := s.fetchOffsets(cx, req.Group, topics, order, req.Version >= 7 && req.RequireStable)
	code := errorCode(s.log, err)
	if req.Version >= 2 {
		resp.ErrorCode = code
	}
	for _, ft := range res {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = ft.topic
		for _, p := range ft.parts {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			if req.Version < 2 && err != nil {
				rp.ErrorCode = code
			}
			t.Partitions = append(t.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp, nil
}

// checkOffsetFetchMember checks the member id and epoch of a v9+ group
// (KIP-848) that names one, after DESCRIBE on the group.
func (s *Server) checkOffsetFetchMember(cx *reqCtx, version int16, rg *kmsg.OffsetFetchRequestGroup) error {
	if version < 9 || rg.MemberID == nil {
		return nil
	}
	gc, err := s.groupsAs(cx, rg.Group, acl.OpDescribe)
	if err != nil {
		return err
	}
	return gc.CheckOffsetFetch(rg.Group, *rg.MemberID, rg.MemberEpoch)
}

func topicOrder(ts []kmsg.OffsetFetchRequestGroupTopic) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range ts {
		if !seen[t.Topic] {
			seen[t.Topic] = true
			out = append(out, t.Topic)
		}
	}
	return out
}

// fetchOffsets answers one group: the partitions asked for (topics nil:
// every committed one, sorted). On a coordinator error the partitions
// asked for are still listed, with offset -1 (v1 needs them). With
// requireStable, unstable partitions answer UNSTABLE_OFFSET_COMMIT.
func (s *Server) fetchOffsets(cx *reqCtx, groupID string, topics map[string][]int32, order []string, requireStable bool) ([]fetchedTopic, error) {
	var committed map[model.TopicPartition]group.Offset
	var unstable map[model.TopicPartition]bool
	gc, err := s.groupsAs(cx, groupID, acl.OpDescribe)
	if err == nil && gc.IsShareGroup(groupID) {
		err = fmt.Errorf("%w: group %s is not a consumer group", group.ErrGroupIDNotFound, groupID) // as Kafka's ShareGroup.validateOffsetFetch
	}
	if err == nil {
		if requireStable {
			committed, unstable, err = gc.FetchOffsetsStable(groupID)
		} else {
			committed, err = gc.FetchOffsets(groupID)
		}
	}
	part := func(tp model.TopicPartition) kmsg.OffsetFetchResponseGroupTopicPartition {
		p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, -1, -1
		md := ""
		if o, ok := committed[tp]; ok && !unstable[tp] {
			p.Offset, p.LeaderEpoch, md = o.Offset, o.LeaderEpoch, o.Metadata
		}
		if unstable[tp] {
			p.ErrorCode = kerr.UnstableOffsetCommit.Code
		}
		p.Metadata = &md
		return p
	}
	var out []fetchedTopic
	if topics == nil {
		if err != nil {
			return nil, err
		}
		byTopic := map[string][]int32{}
		for tp := range committed {
			if !cx.allowed(acl.ResourceTopic, tp.Topic, acl.OpDescribe) {
				continue
			}
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
		}
		for t := range byTopic {
			order = append(order, t)
		}
		sort.Strings(order)
		for _, ps := range byTopic {
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		}
		topics = byTopic
	}
	for _, t := range order {
		ft := fetchedTopic{topic: t}
		denied := err == nil && !cx.authorize(acl.ResourceTopic, t, acl.OpDescribe)
		for _, p := range topics[t] {
			if denied {
				dp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				md := ""
				dp.Partition, dp.Offset, dp.LeaderEpoch, dp.Metadata = p, -1, -1, &md
				dp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				ft.parts = append(ft.parts, dp)
				continue
			}
			ft.parts = append(ft.parts, part(model.TopicPartition{Topic: t, Partition: p}))
		}
		out = append(out, ft)
	}
	return out, err
}
