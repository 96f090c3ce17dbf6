package kafka

// OffsetDelete (key 47): version 0.
//
// Behavior:
//   - Drives group.Coordinator.DeleteOffsets: tombstones for the committed
//     offsets named, answered once durable. Partitions with no committed
//     offset succeed (nothing to delete).
//   - A group with members: partitions of topics a consumer-protocol
//     member subscribes to get GROUP_SUBSCRIBED_TO_TOPIC, the others are
//     deleted; a group with members of another protocol type is
//     NON_EMPTY_GROUP.
//   - GROUP_ID_NOT_FOUND (also for a share group), INVALID_GROUP_ID, NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS at the request level.
//   - Authorization: DELETE on the group, else GROUP_AUTHORIZATION_FAILED;
//     READ on each topic, else its partitions are TOPIC_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

func handleOffsetDelete(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.OffsetDeleteRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	var tps []model.TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tps = append(tps, model.TopicPartition{Topic: t.Topic, Partition: p.Partition})
		}
	}
	respond := func(top error, errs []error) {
		resp.ErrorCode = errorCode(s.log, top)
		if top == nil {
			k := 0
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetDeleteResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetDeleteResponseTopicPartition()
					rp.Partition = p.Partition
					rp.ErrorCode = errorCode(s.log, errs[k])
					k++
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		finish(resp, nil)
	}
	gc, err := s.groupsAs(cx, req.Group, acl.OpDelete)
	if err != nil {
		respond(err, nil)
		return
	}
	check := cx.topicCheck(acl.OpRead)
	if check == nil {
		gc.DeleteOffsets(s.cfg.Now(), req.Group, tps, respond)
		return
	}
	// Unauthorized topics' partitions are answered here; the others go
	// to the coordinator.
	var allowed []model.TopicPartition
	var at []int
	denied := make([]error, len(tps))
	for i, tp := range tps {
		if denied[i] = check(tp.Topic); denied[i] == nil {
			allowed = append(allowed, tp)
			at = append(at, i)
		}
	}
	gc.DeleteOffsets(s.cfg.Now(), req.Group, allowed, func(top error, errs []error) {
		if top == nil {
			for k, i := range at {
				denied[i] = errs[k]
			}
			errs = denied
		}
		respond(top, errs)
	})
}
