package kafka

// DeleteRecords (key 21): versions 0-2.
//
// Behavior:
//   - Moves each partition's log start offset to the given offset (-1: the
//     high watermark) and answers the new low watermark.
//   - An offset below -1 or above the high watermark is
//     OFFSET_OUT_OF_RANGE; unknown partitions UNKNOWN_TOPIC_OR_PARTITION,
//     partitions led elsewhere NOT_LEADER_OR_FOLLOWER.
//   - Authorization: DELETE on each topic, else TOPIC_AUTHORIZATION_FAILED.
//
// Skipped on purpose: waiting for followers to move their log start (there
// are none yet), so timeout_ms is not used.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

func handleDeleteRecords(s *Server, cx *reqCtx, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	lk := s.newLookup(readyWait(req.TimeoutMillis))
	lk.check = cx.topicCheck(acl.OpDelete)
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LowWatermark = -1
			_, l, err := lk.partition(topicRef{name: t.Topic}, p.Partition, -1)
			if err == nil && p.Offset < -1 {
				err = fmt.Errorf("%w: delete records before offset %d", model.ErrOffsetOutOfRange, p.Offset)
			}
			if err == nil {
				var low model.Offset
				if low, err = l.DeleteRecords(model.Offset(p.Offset)); err == nil {
					rp.LowWatermark = int64(low)
				}
			}
			if err != nil {
				rp.ErrorCode = errorCode(s.log, err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
