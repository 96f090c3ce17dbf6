package txn

// Transaction version 2 (KIP-890 part 2): a client that sends EndTxn v5+
// has its producer epoch bumped by the coordinator at the end of every
// transaction. The markers carry the bumped epoch, so the partitions fence
// any late write of the ended transaction (its epoch is now old), and the
// EndTxn answer tells the client the producer id and epoch it goes on
// with. Such a client also skips AddPartitionsToTxn (Produce v12 adds the
// partition) and AddOffsetsToTxn (TxnOffsetCommit v5 adds the group's
// partition); both go through AddPartitions like an explicit add.
//
//   - Ongoing, the client's epoch: bump, then PrepareCommit/PrepareAbort
//     with markers at the bumped epoch. When the epoch is exhausted
//     (math.MaxInt16-1), the markers go out at math.MaxInt16 and the
//     producer continues under a new producer id at epoch 0 once they are
//     written (NextProducerID, then PrevProducerID).
//   - A retry of that EndTxn (the epoch it sent, kept as LastEpoch, as
//     Kafka's lastProducerEpoch is, and restored by a coordinator that
//     loads the state after a failover: Txn.TV2): the same outcome,
//     complete: success with the current id and epoch; still writing
//     markers: CONCURRENT_TRANSACTIONS; the other outcome: INVALID_TXN_STATE.
//   - An abort with no transaction open (Empty, CompleteCommit,
//     CompleteAbort; the client may not know whether a produce added a
//     partition): bump and complete an empty abort. A commit there is
//     INVALID_TXN_STATE, as before.

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// noPID is "no producer id" in NextProducerID and PrevProducerID.
const noPID = -1

// EndTxnTV2 is EndTxn for a transaction-version-2 client (EndTxn v5+). It
// returns the producer id and epoch the client continues with.
func (c *Coordinator) EndTxnTV2(id string, pid int64, epoch int16, commit bool, nowMs int64) (int64, int16, Effects, error) {
	t, ok := c.txns[id]
	if ok && t.LastEpoch >= 0 && epoch == t.LastEpoch && (pid == t.ProducerID || pid == t.PrevProducerID) {
		return c.retryEnd(t, commit)
	}
	t, err := c.check(id, pid, epoch)
	if err != nil {
		return -1, -1, Effects{}, err
	}
	verb := map[bool]string{true: "commit", false: "abort"}[commit]
	switch t.State {
	case kmsg.TransactionStateOngoing:
	case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
		if commit {
			return -1, -1, Effects{}, fmt.Errorf("%w: %s has no transaction to commit", kerr.InvalidTxnState, id)
		}
		t.Partitions = nil // an empty abort: no markers
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		if (t.State == kmsg.TransactionStatePrepareCommit) == commit {
			return -1, -1, Effects{}, fmt.Errorf("%w: %s is writing its markers", kerr.ConcurrentTransactions, id)
		}
		return -1, -1, Effects{}, fmt.Errorf("%w: %s cannot %s in state %v", kerr.InvalidTxnState, id, verb, t.State)
	default:
		return -1, -1, Effects{}, fmt.Errorf("%w: %s cannot %s in state %v", kerr.InvalidTxnState, id, verb, t.State)
	}
	if t.Epoch >= math.MaxInt16-1 {
		next, err := c.cfg.AllocateProducerID()
		if err != nil {
			return -1, -1, Effects{}, err
		}
		t.NextProducerID, t.Epoch = next, math.MaxInt16
	} else {
		t.Epoch++
	}
	t.LastEpoch, t.TV2 = epoch, true
	eff := c.prepare(t, commit, nowMs)
	pid, ep := t.continueAs()
	return pid, ep, eff, nil
}

// retryEnd answers a retried TV2 EndTxn.
func (c *Coordinator) retryEnd(t *Txn, commit bool) (int64, int16, Effects, error) {
	switch {
	case t.State == kmsg.TransactionStateCompleteCommit && commit, t.State == kmsg.TransactionStateCompleteAbort && !commit:
		pid, ep := t.continueAs()
		return pid, ep, Effects{}, nil
	case t.State == kmsg.TransactionStatePrepareCommit && commit, t.State == kmsg.TransactionStatePrepareAbort && !commit:
		return -1, -1, Effects{}, fmt.Errorf("%w: %s is writing its markers", kerr.ConcurrentTransactions, t.ID)
	}
	return -1, -1, Effects{}, fmt.Errorf("%w: %s: a retried end of its last transaction that asks the other outcome (state %v)", kerr.InvalidTxnState, t.ID, t.State)
}

// continueAs is the producer id and epoch a TV2 client goes on with after
// t's transaction ends: the next producer id at epoch 0 when the epochs
// ran out.
func (t *Txn) continueAs() (int64, int16) {
	if t.NextProducerID != noPID {
		return t.NextProducerID, 0
	}
	return t.ProducerID, t.Epoch
}

// restoreLastEpoch sets LastEpoch of a TV2 transaction just loaded from
// __transaction_state: the epoch its last EndTxn v5+ came with, which is
// one below the epoch that end bumped to, or the last epoch of the
// previous producer id when the end moved the producer to a new id.
func (t *Txn) restoreLastEpoch() {
	t.LastEpoch = -1
	if !t.TV2 {
		return
	}
	switch t.State {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		t.LastEpoch = t.Epoch - 1 // at math.MaxInt16 with NextProducerID: MaxInt16-1
	case kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
		if t.Epoch == 0 && t.PrevProducerID != noPID {
			t.LastEpoch = math.MaxInt16 - 1
		} else if t.Epoch > 0 {
			t.LastEpoch = t.Epoch - 1
		}
	}
}

// switchProducerID moves t to its next producer id once the markers of
// the transaction that exhausted the epochs are written.
func (t *Txn) switchProducerID() {
	if t.NextProducerID == noPID {
		return
	}
	t.PrevProducerID, t.ProducerID, t.Epoch, t.NextProducerID = t.ProducerID, t.NextProducerID, 0, noPID
}

// EndTxnTV2 is Manager.EndTxn for a transaction-version-2 client (EndTxn
// v5+): it also returns the producer id and epoch the client continues
// with. A producer id is allocated first when the epochs are exhausted.
func (m *Manager) EndTxnTV2(ctx context.Context, id string, pid int64, epoch int16, commit bool) (int64, int16, error) {
	if err := validID(id); err != nil {
		return -1, -1, err
	}
	for try := 0; try < initAllocateTries; try++ {
		m.mu.Lock()
		p, err := m.checkLocked(id)
		if err != nil {
			m.mu.Unlock()
			return -1, -1, err
		}
		if t, ok := p.coord.txns[id]; ok && t.Epoch >= math.MaxInt16-1 && len(m.mu.spare) == 0 {
			m.mu.Unlock()
			next, err := m.cfg.AllocateProducerID(ctx)
			if err != nil {
				return -1, -1, allocError(err)
			}
			m.mu.Lock()
			m.mu.spare = append(m.mu.spare, next)
			m.mu.Unlock()
			continue
		}
		nowMs := m.cfg.Now().UnixMilli()
		npid, nepoch, eff, err := p.coord.EndTxnTV2(id, pid, epoch, commit, nowMs)
		if errors.Is(err, errNoSparePID) {
			m.mu.Unlock()
			continue // another request took the spare id
		}
		if err != nil || len(eff.Persist) == 0 {
			m.mu.Unlock()
			return npid, nepoch, err
		}
		o := m.startLocked(p, id, eff, nowMs)
		m.mu.Unlock()
		if err := waitPersisted(ctx, o); err != nil {
			return -1, -1, err
		}
		select {
		case <-o.done:
		case <-ctx.Done():
		}
		return npid, nepoch, nil
	}
	return -1, -1, fmt.Errorf("%w: %s: no producer id available", kerr.CoordinatorLoadInProgress, id)
}
