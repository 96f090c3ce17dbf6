package kafka

// ListTransactions (key 66): versions 0-2.
//
// Behavior (as Kafka's TransactionStateManager.listTransactionStates,
// KIP-664, KIP-994):
//   - Lists the transactional ids of the __transaction_state partitions
//     this node coordinates (txn.Manager.List), sorted by id; a client
//     asks every broker and merges (kadm.ListTransactions does).
//   - state_filters: only ids in one of the named states (Kafka's names:
//     Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
//     CompleteAbort, PrepareEpochFence; exact case). A name that is not a
//     state is returned in unknown_state_filters and matches nothing.
//     producer_id_filters: only those producer ids. Empty filters match
//     everything.
//   - v1 duration_filter_millis > 0: only transactions ongoing for longer
//     than that.
//   - v2 transactional_id_pattern (KIP-1152), when neither null nor
//     empty: only ids the whole of which the regular expression matches
//     (Kafka's Matcher.matches). Go's RE2 syntax, not Java's; one that
//     does not compile is INVALID_REGULAR_EXPRESSION.
//   - Ids being expired (Dead) are left out, as in Kafka. A node without a
//     coordinator answers COORDINATOR_NOT_AVAILABLE; one loading a
//     partition COORDINATOR_LOAD_IN_PROGRESS (its list would be partial).
//   - Authorization: lists only the transactional ids the principal may
//     DESCRIBE.
//
// Skipped on purpose: Java-only regex syntax (lookarounds, backreferences).

import (
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/txn"
)

func handleListTransactions(s *Server, cx *reqCtx, req *kmsg.ListTransactionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	m, err := s.txns()
	if err != nil {
		resp.ErrorCode = errorCode(s.log, err)
		return resp, nil
	}
	if m.Loading() {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp, nil
	}
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile(`^(?:` + *req.TransactionalIDPattern + `)$`)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
		pattern = re
	}
	resp.UnknownStateFilters = unknownTxnStates(req.StateFilters)
	var minDurationMs int64
	if req.Version >= 1 && req.DurationFilterMillis > 0 {
		minDurationMs = req.DurationFilterMillis
	}
	for _, t := range m.List(req.StateFilters, req.ProducerIDFilters, minDurationMs) {
		if t.State == kmsg.TransactionStateDead || (pattern != nil && !pattern.MatchString(t.ID)) ||
			!cx.allowed(acl.ResourceTransactionalID, t.ID, acl.OpDescribe) {
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = t.ID, t.ProducerID, txn.StateName(t.State)
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}

// unknownTxnStates is the filters that name no transaction state, each
// once, in the order given.
func unknownTxnStates(filters []string) []string {
	var out []string
	for _, name := range filters {
		if !isTxnState(name) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func isTxnState(name string) bool {
	for s := kmsg.TransactionStateEmpty; s <= kmsg.TransactionStatePrepareEpochFence; s++ {
		if txn.StateName(s) == name {
			return true
		}
	}
	return false
}
