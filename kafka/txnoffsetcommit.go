package kafka

// TxnOffsetCommit (key 28): versions 0-5.
//
// Behavior:
//   - Drives group.Coordinator.TxnCommitOffsets; the response is sent
//     once the offsets are durable in __consumer_offsets, as one
//     transactional batch of the producer. They stay invisible to
//     OffsetFetch until the transaction's commit marker (an abort drops
//     them); OffsetFetch with require_stable answers
//     UNSTABLE_OFFSET_COMMIT for their partitions meanwhile.
//   - An unknown group is created, as in Kafka. v3's member id, group
//     instance id and generation (KIP-447), when sent, must be the
//     member's: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID;
//     v0-v2 (and v3 without them) skip the member checks.
//   - Request-level errors (INVALID_GROUP_ID for an empty or over-long
//     group id, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
//     INVALID_REQUEST for an empty or over-long transactional id) are
//     repeated for every partition.
//   - Partitions of topics or partitions that do not exist:
//     UNKNOWN_TOPIC_OR_PARTITION; metadata over 4096 bytes:
//     OFFSET_METADATA_TOO_LARGE. Other partitions of the request commit.
//   - A producer whose epoch the log refuses gets INVALID_PRODUCER_EPOCH;
//     a failed append otherwise answers as OffsetCommit's does
//     (NOT_COORDINATOR for a storage error, COORDINATOR_NOT_AVAILABLE).
//   - v4 only says the client handles TRANSACTION_ABORTABLE (KIP-890;
//     kgo sends v4 unless transaction.version is 2).
//   - v5 (KIP-890 part 2, transaction version 2): the client skipped
//     AddOffsetsToTxn; the group's __consumer_offsets partition is added
//     to the transaction first, at the transaction coordinator (here or
//     with AddPartitionsToTxn v4 verify_only=false at its node), and its
//     errors answer every partition (a retriable one as
//     COORDINATOR_NOT_AVAILABLE).
//   - Authorization: WRITE on the transactional id
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group
//     (GROUP_AUTHORIZATION_FAILED), READ on each topic
//     (TOPIC_AUTHORIZATION_FAILED), each for every partition it covers.
//
// Skipped on purpose: v6+ (topic ids); KIP-890's verification of the group's partition with the
// transaction coordinator (Kafka's AddPartitionsToTxnManager does it at
// every version when transaction.partition.verification.enable is on):
// the producer id and epoch are not checked against the transaction
// coordinator, the log checks the epoch.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/txn"
)

func handleTxnOffsetCommit(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.TxnOffsetCommitRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	tr := group.TxnCommitRequest{
		Group: req.Group, TransactionalID: req.TransactionalID,
		ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, Generation: -1,
	}
	if req.Version >= 3 {
		tr.MemberID, tr.InstanceID, tr.Generation = req.MemberID, req.InstanceID, req.Generation
	}
	pl := s.planCommit(cx.commitCheck(req.TransactionalID, req.Group), len(req.Topics), func(i int) (string, int) { return req.Topics[i].Topic, len(req.Topics[i].Partitions) },
		func(i, j int) group.CommitOffset {
			p := req.Topics[i].Partitions[j]
			epoch := int32(-1)
			if req.Version >= 2 {
				epoch = p.LeaderEpoch
			}
			return group.CommitOffset{Topic: req.Topics[i].Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: epoch, Metadata: p.Metadata}
		})
	tr.Offsets = pl.offsets
	respond := func(top error, errs []error) {
		pl.settle(s, top, errs)
		for i, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = pl.codes[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		finish(resp, nil)
	}
	if n := len(req.TransactionalID); n == 0 || n > txn.MaxTransactionalIDBytes {
		respond(fmt.Errorf("%w: transactional id of %d bytes (1 to %d)", model.ErrInvalidRequest, n, txn.MaxTransactionalIDBytes), nil)
		return
	}
	gc, err := s.groups()
	if err != nil {
		respond(err, nil)
		return
	}
	if len(tr.Offsets) == 0 {
		// Nothing to write (Kafka answers without asking the
		// coordinator).
		respond(nil, nil)
		return
	}
	if req.Version < 5 {
		gc.TxnCommitOffsets(s.cfg.Now(), tr, respond)
		return
	}
	// The implicit AddOffsetsToTxn may wait on the transaction
	// coordinator (another node): off the connection's reader.
	go func() {
		tp := model.TopicPartition{Topic: group.OffsetsTopic, Partition: group.PartitionFor(req.Group, gc.NumPartitions())}
		if err := s.addTxnPartition(req.TransactionalID, req.ProducerID, req.ProducerEpoch, tp); err != nil {
			respond(err, nil)
			return
		}
		gc.TxnCommitOffsets(s.cfg.Now(), tr, respond)
	}()
}
