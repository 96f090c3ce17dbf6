package kafka

// DescribeProducers (key 61): version 0.
//
// Behavior (as Kafka's ReplicaManager.activeProducerState, KIP-664):
//   - Per partition this node leads: every producer in the log's producer
//     state (TxnLog.Producers), by producer id: epoch, last sequence (-1
//     for none, e.g. a producer that only wrote markers), last timestamp,
//     the coordinator epoch of its latest marker (-1: none) and the first
//     offset of its open transaction (-1: none). A transaction whose start
//     offset stays set long after its timeout is a hanging transaction
//     (`ringtail txn find-hanging`).
//   - A partition led elsewhere is NOT_LEADER_OR_FOLLOWER, one not in the
//     metadata UNKNOWN_TOPIC_OR_PARTITION, both with an error message; a
//     log that keeps no producer state answers UNKNOWN_SERVER_ERROR.
//   - A partition led here whose log is not open yet is waited for, as by
//     the data requests (partitions.go), then NOT_LEADER_OR_FOLLOWER.
//   - Authorization: READ on each topic, else TOPIC_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

func handleDescribeProducers(s *Server, cx *reqCtx, req *kmsg.DescribeProducersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	lk := s.newLookup(readyWait(0))
	lk.check = cx.topicCheck(acl.OpRead)
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			if err := s.describeProducers(lk, t.Topic, p, &rp); err != nil {
				rp.ErrorCode = errorCode(s.log, err)
				rp.ErrorMessage = errorMessage(err)
				rp.ActiveProducers = nil
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// describeProducers fills rp with the producers of topic's partition p.
func (s *Server) describeProducers(lk *partLookup, topic string, p int32, rp *kmsg.DescribeProducersResponseTopicPartition) error {
	_, l, err := lk.partition(topicRef{name: topic}, p, -1)
	if err != nil {
		return err
	}
	tl, ok := l.(TxnLog)
	if !ok {
		return fmt.Errorf("%s-%d: the log keeps no producer state: %w", topic, p, kerr.UnknownServerError)
	}
	producers, err := tl.Producers()
	if err != nil {
		return err
	}
	for _, pi := range producers {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID = pi.ProducerID
		ap.ProducerEpoch = int32(pi.Epoch)
		ap.LastSequence = pi.LastSequence
		ap.LastTimestamp = pi.LastTimestamp
		ap.CoordinatorEpoch = pi.CoordinatorEpoch
		ap.CurrentTxnStartOffset = int64(pi.TxnStartOffset)
		rp.ActiveProducers = append(rp.ActiveProducers, ap)
	}
	return nil
}
