package kafka

// DescribeTransactions (key 65): version 0.
//
// Behavior (as Kafka's TransactionCoordinator.handleDescribeTransactions,
// KIP-664):
//   - Per transactional id, from the transaction coordinator
//     (txn.Manager.Describe): state by Kafka's name (txn.StateName),
//     timeout, start timestamp of the ongoing transaction (-1: none),
//     producer id and epoch, and the partitions of the transaction, by
//     topic, sorted.
//   - An id whose __transaction_state partition this node does not lead is
//     NOT_COORDINATOR (clients look the coordinator up with
//     FindCoordinator key type 1), one that is loading
//     COORDINATOR_LOAD_IN_PROGRESS, an unknown, empty or oversized id, or
//     one being expired (Dead), TRANSACTIONAL_ID_NOT_FOUND. A node without
//     a coordinator answers COORDINATOR_NOT_AVAILABLE.
//   - Authorization: DESCRIBE on each transactional id, else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
//
// Skipped on purpose: DESCRIBE on the transaction's topics (Kafka hides
// the partitions of topics the principal may not describe; they are all
// listed here).

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/txn"
)

func handleDescribeTransactions(s *Server, cx *reqCtx, req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	m, merr := s.txns()
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		err := merr
		if !cx.authorize(acl.ResourceTransactionalID, id, acl.OpDescribe) {
			err = kerr.TransactionalIDAuthorizationFailed
		}
		if err == nil {
			var t txn.Txn
			if t, err = m.Describe(id); err == nil {
				describedTxn(&st, t)
			}
		}
		if err != nil {
			if !errors.Is(err, kerr.NotCoordinator) && !errors.Is(err, kerr.TransactionalIDNotFound) {
				s.log.Debug("DescribeTransactions refused", "transactional_id", id, "err", err)
			}
			st.ErrorCode = errorCode(s.log, err)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}

// describedTxn fills st from t; an id being expired (Dead) is not found,
// as in Kafka.
func describedTxn(st *kmsg.DescribeTransactionsResponseTransactionState, t txn.Txn) {
	if t.State == kmsg.TransactionStateDead {
		st.ErrorCode = kerr.TransactionalIDNotFound.Code
		return
	}
	st.State = txn.StateName(t.State)
	st.TimeoutMillis = t.TimeoutMs
	st.ProducerID, st.ProducerEpoch = t.ProducerID, t.Epoch
	if t.StartMs > 0 {
		st.StartTimestamp = t.StartMs
	}
	byTopic := map[string][]int32{}
	for tp := range t.Partitions {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	topics := make([]string, 0, len(byTopic))
	for name := range byTopic {
		topics = append(topics, name)
	}
	slices.Sort(topics)
	for _, name := range topics {
		rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
		rt.Topic = name
		rt.Partitions = byTopic[name]
		slices.Sort(rt.Partitions)
		st.Topics = append(st.Topics, rt)
	}
}
