package kafka

// ListOffsets (key 2): versions 1-10.
//
// Behavior:
//   - timestamp -2: the log start offset; -1: the high watermark (the last
//     stable offset for read_committed); -3 (v7+): the largest timestamp and
//     its offset; -4 (v8+, earliest local): the log start offset, since all
//     of the log is local; any timestamp >= 0: the first offset whose
//     timestamp is at or after it.
//   - -5 (v9+, KIP-1005, latest tiered): no log is tiered, so, as Kafka
//     answers for a topic without remote storage, offset -1, timestamp -1,
//     leader epoch -1 with no error.
//   - v10's timeout_ms (KIP-1075) bounds remote-storage lookups; there are
//     none, so it is read and ignored.
//   - No match (empty log for -3, a timestamp after every record) answers
//     offset -1 and timestamp -1. -1/-2/-4 answer timestamp -1.
//   - current_leader_epoch (v4+) is checked (FENCED_LEADER_EPOCH /
//     UNKNOWN_LEADER_EPOCH); the leader epoch returned is the partition's.
//   - Other negative timestamps are INVALID_REQUEST.
//   - Authorization: DESCRIBE on each topic, else TOPIC_AUTHORIZATION_FAILED.
//
// Skipped on purpose: v0 (old-style offset lists); v11 (-6, earliest
// pending upload, KIP-1023).

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

// Special ListOffsets timestamps.
const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3
	listEarliestLocal = -4
	listLatestTiered  = -5
)

func handleListOffsets(s *Server, cx *reqCtx, req *kmsg.ListOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	lk := s.newLookup(readyWaitDefault)
	lk.check = cx.topicCheck(acl.OpDescribe)
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Offset, rp.Timestamp = -1, -1
			epoch := int32(-1)
			if req.Version >= 4 {
				epoch = p.CurrentLeaderEpoch
			}
			part, l, err := lk.partition(topicRef{name: t.Topic}, p.Partition, epoch)
			if err == nil {
				rp.LeaderEpoch = part.LeaderEpoch
				err = listOffset(req, p.Timestamp, l, &rp)
				if p.Timestamp == listLatestTiered && req.Version >= 9 {
					rp.LeaderEpoch = -1
				}
			}
			if err != nil {
				rp.ErrorCode = errorCode(s.log, err)
				rp.LeaderEpoch = -1
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func listOffset(req *kmsg.ListOffsetsRequest, ts int64, l Log, rp *kmsg.ListOffsetsResponseTopicPartition) error {
	logStart, hw, _ := l.Offsets()
	switch {
	case ts == listEarliest || (ts == listEarliestLocal && req.Version >= 8):
		rp.Offset = int64(logStart)
	case ts == listLatest:
		rp.Offset = int64(hw)
		if req.IsolationLevel == isolationReadCommitted {
			// The log reports its last stable offset on reads.
			if rr, err := l.Read(hw, 0, false); err == nil {
				rp.Offset = int64(min(rr.LastStableOffset, hw))
			}
		}
	case ts == listLatestTiered && req.Version >= 9:
		// Nothing is tiered: offset and timestamp stay -1.
	case ts == listMaxTimestamp && req.Version >= 7:
		mts, off := l.MaxTimestamp()
		if mts >= 0 {
			rp.Timestamp, rp.Offset = mts, int64(off)
		}
	case ts >= 0:
		if off, found, ok := l.OffsetForTime(ts); ok {
			rp.Offset, rp.Timestamp = int64(off), found
		}
	default:
		return fmt.Errorf("timestamp %d is not valid for ListOffsets v%d: %w", ts, req.Version, kerr.InvalidRequest)
	}
	return nil
}
