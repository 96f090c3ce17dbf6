// Package txn is Kafka's transaction coordinator. Coordinator is the state
// machine: per transactional id, its producer id and epoch, the state of
// its transaction and the partitions in it; time is passed in and every
// call returns the Effects the caller performs (records for
// __transaction_state, commit or abort markers for the partitions). The
// Manager (manager.go) is the runtime around it: it owns the
// __transaction_state partitions this node leads, persists the Effects
// and writes the markers (kafka/txn.go serves the requests).
package txn

import (
	"fmt"
	"math"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// State is Kafka's transaction state (TxnMetadataValue.State).
type State = kmsg.TransactionState

// Txn is one transactional id's state.
type Txn struct {
	ID         string
	ProducerID int64
	Epoch      int16
	TimeoutMs  int32
	State      State
	Partitions map[model.TopicPartition]struct{}
	// StartMs is when the ongoing transaction began; LastUpdateMs the
	// last state change.
	StartMs, LastUpdateMs int64
	// Transaction version 2 (tv2.go): NextProducerID is the producer id
	// to continue with once the markers of a transaction that exhausted
	// the epochs are written, PrevProducerID the one left then (noPID:
	// none; both persisted); LastEpoch, the epoch of the EndTxn v5+ that
	// ended the last transaction, for its retry (-1: none). TV2 says that
	// the last end was such an EndTxn and no fence came after it; it is
	// persisted (TxnMetadataValue v1's ClientTransactionVersion 2), and a
	// coordinator that loads it restores LastEpoch from the epoch the end
	// bumped to, so that a client retrying its EndTxn across a coordinator
	// failover is answered from the outcome instead of being fenced.
	NextProducerID, PrevProducerID int64
	LastEpoch                      int16
	TV2                            bool
}

// Markers asks the caller to write a commit or abort marker, at Epoch, to
// each partition, then call MarkersWritten.
type Markers struct {
	TxnID      string
	ProducerID int64
	Epoch      int16
	Commit     bool
	Partitions []model.TopicPartition
}

// Effects is what a call asks the caller to do, in order: append Persist
// to __transaction_state (durably, before answering the client), then
// write Markers.
type Effects struct {
	Persist []Record
	Markers *Markers
}

// Config bounds the coordinator (transaction.max.timeout.ms,
// transactional.id.expiration.ms).
type Config struct {
	MaxTimeoutMs int32
	ExpirationMs int64
	// AllocateProducerID hands out a new producer id.
	AllocateProducerID func() (int64, error)
}

// Coordinator holds the transactions of the __transaction_state
// partitions this node leads. Not safe for concurrent use: the caller
// serialises calls.
type Coordinator struct {
	cfg  Config
	txns map[string]*Txn
}

// New returns an empty coordinator.
func New(cfg Config) *Coordinator {
	if cfg.MaxTimeoutMs <= 0 {
		cfg.MaxTimeoutMs = 900000
	}
	if cfg.ExpirationMs <= 0 {
		cfg.ExpirationMs = 7 * 24 * 3600 * 1000
	}
	return &Coordinator{cfg: cfg, txns: map[string]*Txn{}}
}

// Get returns a copy of id's state.
func (c *Coordinator) Get(id string) (Txn, bool) {
	t, ok := c.txns[id]
	if !ok {
		return Txn{}, false
	}
	cp := *t
	cp.Partitions = make(map[model.TopicPartition]struct{}, len(t.Partitions))
	for tp := range t.Partitions {
		cp.Partitions[tp] = struct{}{}
	}
	return cp, true
}

// InitProducerID gives id its producer id and a new epoch (fencing any
// older producer of the same id). An ongoing transaction of the older
// producer is aborted first: the call answers CONCURRENT_TRANSACTIONS with
// the abort's Effects, and the client retries once the markers are
// written. expectedPID/expectedEpoch (-1: none) are KIP-360's: a producer
// that knows its id and epoch may only bump its own.
func (c *Coordinator) InitProducerID(id string, timeoutMs int32, expectedPID int64, expectedEpoch int16, nowMs int64) (int64, int16, Effects, error) {
	if id == "" {
		return -1, -1, Effects{}, fmt.Errorf("%w: empty transactional id", kerr.InvalidRequest)
	}
	if timeoutMs <= 0 || timeoutMs > c.cfg.MaxTimeoutMs {
		return -1, -1, Effects{}, fmt.Errorf("%w: transaction.timeout.ms %d, valid 1 to %d (transaction.max.timeout.ms)", kerr.InvalidTransactionTimeout, timeoutMs, c.cfg.MaxTimeoutMs)
	}
	t, ok := c.txns[id]
	if !ok {
		pid, err := c.cfg.AllocateProducerID()
		if err != nil {
			return -1, -1, Effects{}, err
		}
		t = &Txn{ID: id, ProducerID: pid, Epoch: 0, TimeoutMs: timeoutMs, State: kmsg.TransactionStateEmpty,
			Partitions: map[model.TopicPartition]struct{}{}, LastUpdateMs: nowMs, NextProducerID: noPID, PrevProducerID: noPID, LastEpoch: -1}
		c.txns[id] = t
		return t.ProducerID, t.Epoch, Effects{Persist: []Record{t.record()}}, nil
	}
	if expectedPID >= 0 && (expectedPID != t.ProducerID || expectedEpoch != t.Epoch) {
		return -1, -1, Effects{}, fmt.Errorf("%w: %s is producer %d epoch %d, not %d/%d", kerr.ProducerFenced, id, t.ProducerID, t.Epoch, expectedPID, expectedEpoch)
	}
	switch t.State {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		return -1, -1, Effects{}, fmt.Errorf("%w: %s is completing a transaction", kerr.ConcurrentTransactions, id)
	case kmsg.TransactionStateOngoing:
		// Fence the old producer and abort its transaction first.
		if err := c.bumpEpoch(t); err != nil {
			return -1, -1, Effects{}, err
		}
		eff := c.prepare(t, false, nowMs)
		return -1, -1, eff, fmt.Errorf("%w: %s had an open transaction; it is being aborted", kerr.ConcurrentTransactions, id)
	}
	if err := c.bumpEpoch(t); err != nil {
		return -1, -1, Effects{}, err
	}
	t.TimeoutMs, t.State, t.LastUpdateMs = timeoutMs, kmsg.TransactionStateEmpty, nowMs
	t.Partitions = map[model.TopicPartition]struct{}{}
	return t.ProducerID, t.Epoch, Effects{Persist: []Record{t.record()}}, nil
}

// bumpEpoch moves t to the next epoch, or to a new producer id at epoch 0
// when the epoch is exhausted. It fences the producer: a retry of its last
// TV2 EndTxn is no longer recognised.
func (c *Coordinator) bumpEpoch(t *Txn) error {
	t.LastEpoch, t.TV2 = -1, false
	if t.Epoch < math.MaxInt16-1 {
		t.Epoch++
		return nil
	}
	pid, err := c.cfg.AllocateProducerID()
	if err != nil {
		return err
	}
	t.ProducerID, t.Epoch = pid, 0
	return nil
}

// check verifies that the caller is t's current producer.
func (c *Coordinator) check(id string, pid int64, epoch int16) (*Txn, error) {
	t, ok := c.txns[id]
	if !ok || t.ProducerID != pid {
		return nil, fmt.Errorf("%w: %s is not producer %d", kerr.InvalidProducerIDMapping, id, pid)
	}
	if epoch < t.Epoch {
		return nil, fmt.Errorf("%w: %s epoch %d is older than %d", kerr.ProducerFenced, id, epoch, t.Epoch)
	}
	if epoch != t.Epoch {
		return nil, fmt.Errorf("%w: %s epoch %d, current %d", kerr.InvalidProducerEpoch, id, epoch, t.Epoch)
	}
	return t, nil
}

// AddPartitions adds partitions to id's transaction, starting one when
// none is open (AddPartitionsToTxn; AddOffsetsToTxn adds the group's
// __consumer_offsets partition).
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, tps []model.TopicPartition, nowMs int64) (Effects, error) {
	t, err := c.check(id, pid, epoch)
	if err != nil {
		return Effects{}, err
	}
	if len(tps) == 0 {
		return Effects{}, nil // nothing to add; an empty call starts no transaction
	}
	switch t.State {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		return Effects{}, fmt.Errorf("%w: %s is completing a transaction", kerr.ConcurrentTransactions, id)
	case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
		t.State, t.StartMs = kmsg.TransactionStateOngoing, nowMs
		t.Partitions = map[model.TopicPartition]struct{}{}
	}
	added := false
	for _, tp := range tps {
		if _, ok := t.Partitions[tp]; !ok {
			t.Partitions[tp] = struct{}{}
			added = true
		}
	}
	if !added {
		return Effects{}, nil
	}
	t.LastUpdateMs = nowMs
	return Effects{Persist: []Record{t.record()}}, nil
}

// HasPartition reports whether tp is in id's ongoing transaction at pid and
// epoch (KIP-890: a transactional produce to a partition not added is
// refused).
func (c *Coordinator) HasPartition(id string, pid int64, epoch int16, tp model.TopicPartition) bool {
	t, ok := c.txns[id]
	if !ok || t.ProducerID != pid || t.Epoch != epoch || t.State != kmsg.TransactionStateOngoing {
		return false
	}
	_, in := t.Partitions[tp]
	return in
}

// EndTxn commits or aborts id's transaction: PrepareCommit/PrepareAbort
// is persisted and markers go to every partition. A retry of an end that
// already completed the same way succeeds; one still writing markers gets
// CONCURRENT_TRANSACTIONS.
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool, nowMs int64) (Effects, error) {
	t, err := c.check(id, pid, epoch)
	if err != nil {
		return Effects{}, err
	}
	switch t.State {
	case kmsg.TransactionStateOngoing:
		t.TV2 = false
		return c.prepare(t, commit, nowMs), nil
	case kmsg.TransactionStateCompleteCommit:
		if commit {
			return Effects{}, nil
		}
	case kmsg.TransactionStateCompleteAbort:
		if !commit {
			return Effects{}, nil
		}
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		if (t.State == kmsg.TransactionStatePrepareCommit) == commit {
			return Effects{}, fmt.Errorf("%w: %s is writing its markers", kerr.ConcurrentTransactions, id)
		}
	}
	return Effects{}, fmt.Errorf("%w: %s cannot %s in state %v", kerr.InvalidTxnState, id, map[bool]string{true: "commit", false: "abort"}[commit], t.State)
}

// prepare moves t to PrepareCommit or PrepareAbort.
func (c *Coordinator) prepare(t *Txn, commit bool, nowMs int64) Effects {
	t.State, t.LastUpdateMs = kmsg.TransactionStatePrepareAbort, nowMs
	if commit {
		t.State = kmsg.TransactionStatePrepareCommit
	}
	return Effects{Persist: []Record{t.record()}, Markers: t.markers()}
}

func (t *Txn) markers() *Markers {
	m := &Markers{TxnID: t.ID, ProducerID: t.ProducerID, Epoch: t.Epoch, Commit: t.State == kmsg.TransactionStatePrepareCommit}
	for tp := range t.Partitions {
		m.Partitions = append(m.Partitions, tp)
	}
	sort.Slice(m.Partitions, func(i, j int) bool {
		a, b := m.Partitions[i], m.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return m
}

// MarkersWritten completes the transaction whose markers the caller
// wrote: PrepareCommit -> CompleteCommit, PrepareAbort -> CompleteAbort.
func (c *Coordinator) MarkersWritten(id string, pid int64, epoch int16, nowMs int64) (Effects, error) {
	t, ok := c.txns[id]
	if !ok || t.ProducerID != pid || t.Epoch != epoch {
		return Effects{}, fmt.Errorf("%w: %s moved on", kerr.InvalidProducerEpoch, id)
	}
	switch t.State {
	case kmsg.TransactionStatePrepareCommit:
		t.State = kmsg.TransactionStateCompleteCommit
	case kmsg.TransactionStatePrepareAbort:
		t.State = kmsg.TransactionStateCompleteAbort
	default:
		return Effects{}, fmt.Errorf("%w: %s is in state %v", kerr.InvalidTxnState, id, t.State)
	}
	t.Partitions = map[model.TopicPartition]struct{}{}
	t.LastUpdateMs = nowMs
	t.switchProducerID()
	return Effects{Persist: []Record{t.record()}}, nil
}

// Tick aborts transactions open longer than their timeout (fencing their
// producer: the epoch is bumped) and forgets ids idle longer than
// transactional.id.expiration.ms (a tombstone).
func (c *Coordinator) Tick(nowMs int64) []Effects {
	var out []Effects
	c.tick(nowMs, nil, func(_ string, e Effects) { out = append(out, e) })
	return out
}

// tick is Tick for the runtime (Manager): ids for which skip (may be nil)
// says true are left alone, because a write of theirs is in flight, and
// each id's Effects go to each. It returns the last error of an epoch
// bump that needed a new producer id and could not get one; that
// transaction stays Ongoing and is aborted by a later tick.
func (c *Coordinator) tick(nowMs int64, skip func(id string) bool, each func(id string, e Effects)) error {
	var bumpErr error
	ids := make([]string, 0, len(c.txns))
	for id := range c.txns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if skip != nil && skip(id) {
			continue
		}
		t := c.txns[id]
		switch t.State {
		case kmsg.TransactionStateOngoing:
			if nowMs-t.StartMs > int64(t.TimeoutMs) {
				if err := c.bumpEpoch(t); err != nil {
					bumpErr = err
					continue
				}
				each(id, c.prepare(t, false, nowMs))
			}
		case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
			if nowMs-t.LastUpdateMs > c.cfg.ExpirationMs {
				delete(c.txns, id)
				each(id, Effects{Persist: []Record{tombstone(id)}})
			}
		}
	}
	return bumpErr
}

// Pending returns the markers still to write after a load: transactions
// left in PrepareCommit or PrepareAbort by the previous coordinator.
func (c *Coordinator) Pending() []*Markers {
	var out []*Markers
	for _, t := range c.txns {
		if t.State == kmsg.TransactionStatePrepareCommit || t.State == kmsg.TransactionStatePrepareAbort {
			out = append(out, t.markers())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TxnID < out[j].TxnID })
	return out
}
