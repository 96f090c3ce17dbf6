package kafka

// OffsetCommit (key 8): versions 0-9.
//
// Behavior:
//   - Drives group.Coordinator.CommitOffsets; the response is sent once
//     the offsets are durable in __consumer_offsets.
//   - Generation -1 with an empty member id (and v0, which has neither)
//     is a simple commit, allowed for a group with no members; for a
//     group with members it is UNKNOWN_MEMBER_ID, as in Kafka. Otherwise
//     the member and generation must match: UNKNOWN_MEMBER_ID,
//     ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS (while the group waits for
//     the leader's assignment), FENCED_INSTANCE_ID. Commits during
//     PreparingRebalance are accepted, so eager consumers can commit
//     before they rejoin.
//   - Request-level errors (also INVALID_GROUP_ID, NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS) are repeated for every partition.
//   - Partitions of topics or partitions that do not exist:
//     UNKNOWN_TOPIC_OR_PARTITION; metadata over 4096 bytes:
//     OFFSET_METADATA_TOO_LARGE. Other partitions of the request commit.
//   - Consumer (KIP-848) groups, v9: the generation field is the member
//     epoch. The member must exist (UNKNOWN_MEMBER_ID); a newer epoch is
//     FENCED_MEMBER_EPOCH; an older one commits only partitions the member
//     still holds or is revoking, else STALE_MEMBER_EPOCH. Epoch -1 with
//     no member id commits to an empty group only.
//   - A share group's id is GROUP_ID_NOT_FOUND (Kafka's KAFKA-17425).
//   - v2-v4 retention_time (when not -1) sets the offsets' expire time.
//   - A failed append to __consumer_offsets leaves the previous offsets
//     (OffsetFetch never shows one that is not durable) and answers
//     NOT_COORDINATOR for a storage error, as Kafka maps
//     KAFKA_STORAGE_ERROR; COORDINATOR_NOT_AVAILABLE otherwise.
//   - Authorization: READ on the group, else every partition is
//     GROUP_AUTHORIZATION_FAILED; READ on each topic, else
//     TOPIC_AUTHORIZATION_FAILED (before UNKNOWN_TOPIC_OR_PARTITION).
//
// Skipped on purpose: the v1 per-partition commit timestamp (the broker's
// time is used, as Kafka does from v2); topic ids (v10) are not served.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
)

func handleOffsetCommit(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.OffsetCommitRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := group.CommitRequest{Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation, RetentionMs: -1}
	if req.Version == 0 {
		cr.Generation, cr.MemberID = -1, ""
	}
	if req.Version >= 2 && req.Version <= 4 {
		cr.RetentionMs = req.RetentionTimeMillis
	}
	pl := s.planCommit(cx.commitCheck("", req.Group), len(req.Topics), func(i int) (string, int) { return req.Topics[i].Topic, len(req.Topics[i].Partitions) },
		func(i, j int) group.CommitOffset {
			p := req.Topics[i].Partitions[j]
			epoch := int32(-1)
			if req.Version >= 6 {
				epoch = p.LeaderEpoch
			}
			return group.CommitOffset{Topic: req.Topics[i].Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: epoch, Metadata: p.Metadata}
		})
	cr.Offsets = pl.offsets
	respond := func(top error, errs []error) {
		pl.settle(s, top, errs)
		for i, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = pl.codes[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		finish(resp, nil)
	}
	gc, err := s.groups()
	if err != nil {
		respond(err, nil)
		return
	}
	if len(cr.Offsets) == 0 {
		// Nothing to write, but the group checks still apply (Kafka
		// answers them for an empty commit too).
		if err := gc.Check(req.Group); err != nil {
			respond(err, nil)
			return
		}
		respond(nil, nil)
		return
	}
	gc.CommitOffsets(s.cfg.Now(), cr, respond)
}

// commitPlan maps the partitions of an offset commit request to the
// offsets the coordinator writes and its outcome back to per-partition
// codes: codes[i][j] is the code of topic i's partition j.
type commitPlan struct {
	codes   [][]int16
	idx     [][2]int // idx[k] is (i, j) of offsets[k]
	offsets []group.CommitOffset
}

// planCommit builds the plan of a request of nTopics topics; check (nil:
// none) answers each topic first (authorization, authz.go); topic(i)
// gives topic i's name and partition count, offset(i, j) its partition
// j's offset. Partitions of unknown topics, or past a topic's count,
// answer UNKNOWN_TOPIC_OR_PARTITION and are not written.
func (s *Server) planCommit(check func(topic string) error, nTopics int, topic func(i int) (string, int), offset func(i, j int) group.CommitOffset) *commitPlan {
	pl := &commitPlan{codes: make([][]int16, nTopics)}
	im := s.ctrl.Image()
	for i := range nTopics {
		name, n := topic(i)
		pl.codes[i] = make([]int16, n)
		t := im.Topics[name]
		var denied error
		if check != nil {
			denied = check(name)
		}
		for j := range n {
			o := offset(i, j)
			if denied != nil {
				pl.codes[i][j] = errorCode(s.log, denied)
				continue
			}
			if t == nil || o.Partition < 0 || int(o.Partition) >= len(t.Partitions) {
				pl.codes[i][j] = errorCode(s.log, model.ErrUnknownTopicOrPartition)
				continue
			}
			pl.offsets = append(pl.offsets, o)
			pl.idx = append(pl.idx, [2]int{i, j})
		}
	}
	return pl
}

// settle records the coordinator's outcome: top for every written
// partition, or errs one by one.
func (pl *commitPlan) settle(s *Server, top error, errs []error) {
	for k, a := range pl.idx {
		switch {
		case top != nil:
			pl.codes[a[0]][a[1]] = errorCode(s.log, top)
		case errs != nil:
			pl.codes[a[0]][a[1]] = errorCode(s.log, errs[k])
		}
	}
}
