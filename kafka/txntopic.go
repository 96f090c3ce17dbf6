package kafka

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/txn"
)

// createTxnTopic creates __transaction_state in the background, as Kafka
// does on the first FindCoordinator for a transactional id (the client
// retries COORDINATOR_NOT_AVAILABLE meanwhile):
// transaction.state.log.num.partitions partitions, the replication factor
// capped at the live brokers, compacted, min.insync.replicas capped at the
// replication factor. One creation runs at a time.
func (s *Server) createTxnTopic() {
	if s.cfg.Broker == nil || !s.txnTopicCreating.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.txnTopicCreating.Store(false)
		c := s.cfg.Broker
		im := s.ctrl.Image()
		live := 0
		for _, b := range im.Brokers {
			if !b.Fenced {
				live++
			}
		}
		rf := min(int(c.TransactionStateLogReplicationFactor), max(live, 1))
		isr := min(int(c.TransactionStateLogMinISR), rf)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res := s.ctrl.CreateTopics(ctx, []controlplane.CreateTopic{{
			Name: txn.StateTopic, NumPartitions: c.TransactionStateLogNumPartitions, ReplicationFactor: int16(rf),
			Configs: map[string]string{
				"cleanup.policy":      "compact",
				"segment.bytes":       strconv.Itoa(int(c.TransactionStateLogSegmentBytes)),
				"compression.type":    "producer",
				"min.insync.replicas": strconv.Itoa(isr),
			},
		}}, false)
		if err := res[0].Err; err != nil && !errors.Is(err, model.ErrTopicAlreadyExists) {
			s.log.Warn("creating internal topic failed; the next FindCoordinator retries", "topic", txn.StateTopic, "err", err)
			return
		}
		s.log.Info("created internal topic", "topic", txn.StateTopic, "partitions", c.TransactionStateLogNumPartitions, "replication_factor", rf)
	}()
}

// txnCoordinatorWait bounds how long FindCoordinator waits for the
// transaction coordinator of an id to come up.
const txnCoordinatorWait = 10 * time.Second

// awaitTxnCoordinator waits, up to txnCoordinatorWait, until
// __transaction_state exists (creating it), and, when this node leads
// partition, until the coordinator has loaded it. It gives up quietly: the
// caller answers from what it then sees.
func (s *Server) awaitTxnCoordinator(partition int32) {
	deadline := time.Now().Add(txnCoordinatorWait)
	for {
		t := s.ctrl.Image().Topics[txn.StateTopic]
		if t == nil {
			s.createTxnTopic()
		} else if int(partition) < len(t.Partitions) {
			if t.Partitions[partition].Leader != s.cfg.NodeID || s.cfg.Txns == nil || slices.Contains(s.cfg.Txns.Owned(), partition) {
				return
			}
		} else {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		select {
		case <-s.stopping:
			return
		case <-time.After(min(left, 20*time.Millisecond)):
		}
	}
}
