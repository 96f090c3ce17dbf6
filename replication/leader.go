package replication

import (
	"context"
	"fmt"
	"slices"

	"github.com/ringtail/ringtail/model"
)

// Defaults from Kafka.
const (
	DefaultReplicaLagTimeMaxMs = 30_000
	DefaultMinInsyncReplicas   = 1
	// maxWaiters bounds the acks=all produces one partition holds; beyond
	// it AddWaiter refuses (the produce path should apply backpressure
	// long before).
	maxWaiters = 1 << 16
)

// LeaderConfig holds the topic and broker settings the leader applies.
type LeaderConfig struct {
	ReplicaLagTimeMaxMs int64 // replica.lag.time.max.ms; <= 0 means the default
	MinInsyncReplicas   int   // min.insync.replicas; <= 0 means the default
}

func (c LeaderConfig) normalized() LeaderConfig {
	if c.ReplicaLagTimeMaxMs <= 0 {
		c.ReplicaLagTimeMaxMs = DefaultReplicaLagTimeMaxMs
	}
	if c.MinInsyncReplicas <= 0 {
		c.MinInsyncReplicas = DefaultMinInsyncReplicas
	}
	return c
}

// LeaderState is what the metadata image says when a node becomes leader.
type LeaderState struct {
	Self           model.NodeID
	LeaderEpoch    model.Epoch
	PartitionEpoch int32          // bumped by every ISR or replica change
	Replicas       []model.NodeID // in preference order, Self included
	ISR            []model.NodeID // Self included
	LogEnd         model.Offset   // local log end
	HighWatermark  model.Offset   // local high watermark
	// EpochStartOffset is where this leader epoch starts in the log (the
	// log end when it became leader): a follower joins the ISR only once
	// it has reached it.
	EpochStartOffset model.Offset
}

// ISRProposal asks the controller to change the ISR (AlterPartition).
type ISRProposal struct {
	LeaderEpoch    model.Epoch
	PartitionEpoch int32
	ISR            []model.NodeID
}

// Completion is the answer to one acks=all waiter: Err is nil, or wraps
// model.ErrNotEnoughReplicasAfterAppend or context.DeadlineExceeded.
type Completion struct {
	ID  uint64
	Err error
}

// Effects is what a Leader step asks the caller to do, in field order.
type Effects struct {
	// HighWatermark is the new high watermark when HWChanged.
	HighWatermark model.Offset
	HWChanged     bool
	// ProposeISR, when non-nil, is to be sent to the controller.
	ProposeISR *ISRProposal
	// Completions answer acks=all waiters, in offset order.
	Completions []Completion
}

func (e *Effects) empty() bool {
	return !e.HWChanged && e.ProposeISR == nil && len(e.Completions) == 0
}

// replicaState is what the leader knows of one follower.
type replicaState struct {
	logEnd             model.Offset
	lastCaughtUpMs     int64
	lastFetchMs        int64
	lastFetchLeaderEnd model.Offset
	fetchedThisEpoch   bool
}

type waiter struct {
	id         uint64
	lastOffset model.Offset
	deadlineMs int64
}

// Leader is the replication state of one partition this node leads. It is
// not safe for concurrent use: one goroutine (or a mutex held by the
// caller) steps it.
type Leader struct {
	cfg     LeaderConfig
	st      LeaderState
	isr     []model.NodeID // committed
	pending *ISRProposal   // in flight, nil when none
	// uncertain is an ISR change whose outcome is unknown (the request
	// timed out, the controller changed): it may still commit, so its
	// additions count in the maximal ISR until an ISR at a newer
	// partition epoch is committed.
	uncertain *ISRProposal
	replicas  map[model.NodeID]*replicaState
	logEnd    model.Offset
	hw        model.Offset
	waiters   []waiter // ascending lastOffset (appends are ordered)
}

// NewLeader starts the leader state at nowMs. Every follower counts as
// caught up at nowMs, as in Kafka, so nobody is dropped for lag that
// happened under the previous leader.
func NewLeader(cfg LeaderConfig, st LeaderState, nowMs int64) *Leader {
	l := &Leader{cfg: cfg.normalized(), st: st, isr: slices.Clone(st.ISR),
		replicas: map[model.NodeID]*replicaState{}, logEnd: st.LogEnd, hw: st.HighWatermark}
	for _, r := range st.Replicas {
		if r == st.Self {
			continue
		}
		l.replicas[r] = &replicaState{logEnd: -1, lastCaughtUpMs: nowMs, lastFetchMs: nowMs, lastFetchLeaderEnd: st.LogEnd}
	}
	return l
}

// ISR returns the committed ISR.
func (l *Leader) ISR() []model.NodeID { return slices.Clone(l.isr) }

// HighWatermark returns the leader's high watermark.
func (l *Leader) HighWatermark() model.Offset { return l.hw }

// Pending returns the ISR proposal in flight, or nil.
func (l *Leader) Pending() *ISRProposal { return l.pending }

// Uncertain returns the ISR proposal whose outcome is unknown
// (ProposalUnknown), or nil.
func (l *Leader) Uncertain() *ISRProposal { return l.uncertain }

// FollowerLogEnd returns what the leader last heard of a follower's log
// end (-1 before its first fetch).
func (l *Leader) FollowerLogEnd(id model.NodeID) model.Offset {
	if r := l.replicas[id]; r != nil {
		return r.logEnd
	}
	return -1
}

// CheckAppend is called before an acks=all append: it refuses when the
// committed ISR is smaller than min.insync.replicas.
func (l *Leader) CheckAppend() error {
	if len(l.isr) < l.cfg.MinInsyncReplicas {
		return fmt.Errorf("partition ISR %v, min.insync.replicas %d: %w", l.isr, l.cfg.MinInsyncReplicas, model.ErrNotEnoughReplicas)
	}
	return nil
}

// LeaderAppended records the leader's new log end after an append.
func (l *Leader) LeaderAppended(logEnd model.Offset, nowMs int64) Effects {
	if logEnd > l.logEnd {
		l.logEnd = logEnd
	}
	var e Effects
	l.advance(&e)
	return e
}

// AddWaiter registers an acks=all produce whose records end at lastOffset;
// it answers at once when the high watermark is already past it.
func (l *Leader) AddWaiter(id uint64, lastOffset model.Offset, deadlineMs int64) Effects {
	var e Effects
	if len(l.waiters) >= maxWaiters {
		e.Completions = append(e.Completions, Completion{ID: id, Err: fmt.Errorf("%d acks=all produces waiting: %w", len(l.waiters), model.ErrNotEnoughReplicasAfterAppend)})
		return e
	}
	i := len(l.waiters) // appends are ordered: usually the end
	for i > 0 && l.waiters[i-1].lastOffset > lastOffset {
		i--
	}
	l.waiters = slices.Insert(l.waiters, i, waiter{id: id, lastOffset: lastOffset, deadlineMs: deadlineMs})
	l.completeWaiters(&e)
	return e
}

// FollowerFetch records a follower's fetch at fetchOffset (its log end).
// Fetches from a node that is not a replica are ignored.
func (l *Leader) FollowerFetch(id model.NodeID, fetchOffset model.Offset, nowMs int64) Effects {
	var e Effects
	r := l.replicas[id]
	if r == nil || fetchOffset > l.logEnd {
		// Past our end: a divergent follower; its fetch fails with
		// OFFSET_OUT_OF_RANGE and it truncates. It must not count as
		// caught up.
		return e
	}
	// Kafka's lastCaughtUpTime: caught up now when it reached the leader
	// end; caught up as of its previous fetch when it reached the leader
	// end seen at that fetch.
	if fetchOffset >= l.logEnd {
		r.lastCaughtUpMs = max(r.lastCaughtUpMs, nowMs)
	} else if r.fetchedThisEpoch && fetchOffset >= r.lastFetchLeaderEnd {
		r.lastCaughtUpMs = max(r.lastCaughtUpMs, r.lastFetchMs)
	}
	r.logEnd = fetchOffset
	r.lastFetchMs, r.lastFetchLeaderEnd, r.fetchedThisEpoch = nowMs, l.logEnd, true
	l.advance(&e)
	l.maybeExpand(id, &e)
	return e
}

// Tick checks the ISR for followers that fell behind and waiters past
// their deadline.
func (l *Leader) Tick(nowMs int64) Effects {
	var e Effects
	l.maybeShrink(nowMs, &e)
	if l.pending == nil && l.uncertain != nil && l.uncertain.PartitionEpoch == l.st.PartitionEpoch {
		// Settle the unknown outcome: this commits, or is refused because
		// the partition epoch moved (the image then says what did).
		l.propose(l.uncertain.ISR, &e)
	}
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if w.deadlineMs > 0 && nowMs >= w.deadlineMs {
			e.Completions = append(e.Completions, Completion{ID: w.id, Err: fmt.Errorf("acks=all waiting for offset %d, high watermark %d: %w", int64(w.lastOffset), int64(l.hw), context.DeadlineExceeded)})
			continue
		}
		kept = append(kept, w)
	}
	clear(l.waiters[len(kept):])
	l.waiters = kept
	return e
}

// ISRCommitted applies the ISR the controller committed (from the
// metadata image), clears the proposal once the image has decided it (a
// partition epoch past the one it was planned at), and fails
// every waiter when the ISR is now below min.insync.replicas.
func (l *Leader) ISRCommitted(isr []model.NodeID, partitionEpoch int32, nowMs int64) Effects {
	var e Effects
	l.isr = slices.Clone(isr)
	l.st.PartitionEpoch = partitionEpoch
	// A proposal planned at an epoch the image has not passed is still
	// undecided: an image change elsewhere (another partition, a broker)
	// says nothing of it, and it may yet commit.
	if l.pending != nil && partitionEpoch > l.pending.PartitionEpoch {
		l.pending = nil
	}
	if l.uncertain != nil && partitionEpoch > l.uncertain.PartitionEpoch {
		l.uncertain = nil
	}
	if len(l.isr) < l.cfg.MinInsyncReplicas {
		for _, w := range l.waiters {
			e.Completions = append(e.Completions, Completion{ID: w.id, Err: fmt.Errorf("ISR %v shrank below min.insync.replicas %d: %w", l.isr, l.cfg.MinInsyncReplicas, model.ErrNotEnoughReplicasAfterAppend)})
		}
		l.waiters = l.waiters[:0]
	}
	l.advance(&e)
	// Another change may have become due while this one was in flight.
	l.maybeShrink(nowMs, &e)
	if e.ProposeISR == nil {
		for _, r := range l.st.Replicas {
			l.maybeExpand(r, &e)
		}
	}
	return e
}

// ProposalFailed forgets the in-flight proposal (the controller refused
// it) so that the next step may propose again.
func (l *Leader) ProposalFailed() { l.pending = nil }

// ProposalUnknown is called when the outcome of the in-flight proposal is
// unknown (a timeout, a controller change before it applied): the next
// step may propose again, but an addition it made may still commit, so
// the high watermark keeps waiting for the members it added until an ISR
// at a newer partition epoch is committed; Tick proposes it again so that
// the question is settled.
func (l *Leader) ProposalUnknown() {
	if l.pending != nil {
		l.uncertain = l.pending
	}
	l.pending = nil
}

// maximalISR is the committed ISR plus a pending addition or one whose
// outcome is unknown: the set the high watermark waits for.
func (l *Leader) maximalISR() []model.NodeID {
	out := slices.Clone(l.isr)
	for _, p := range []*ISRProposal{l.pending, l.uncertain} {
		if p == nil {
			continue
		}
		for _, r := range p.ISR {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// advance moves the high watermark to the minimum log end of the maximal
// ISR, never backwards, and completes the waiters it passes.
func (l *Leader) advance(e *Effects) {
	hw := l.logEnd
	for _, id := range l.maximalISR() {
		if id == l.st.Self {
			continue
		}
		r := l.replicas[id]
		if r == nil || r.logEnd < 0 {
			hw = min(hw, l.hw)
			continue
		}
		hw = min(hw, r.logEnd)
	}
	if hw > l.hw {
		l.hw = hw
		e.HighWatermark, e.HWChanged = hw, true
	}
	l.completeWaiters(e)
}

func (l *Leader) completeWaiters(e *Effects) {
	n := 0
	for n < len(l.waiters) && l.waiters[n].lastOffset < l.hw {
		w := l.waiters[n]
		c := Completion{ID: w.id}
		if len(l.isr) < l.cfg.MinInsyncReplicas {
			c.Err = fmt.Errorf("ISR %v below min.insync.replicas %d: %w", l.isr, l.cfg.MinInsyncReplicas, model.ErrNotEnoughReplicasAfterAppend)
		}
		e.Completions = append(e.Completions, c)
		n++
	}
	if n > 0 {
		l.waiters = slices.Delete(l.waiters, 0, n)
	}
}

// caughtUp is Kafka's Replica.isCaughtUp.
func (l *Leader) caughtUp(r *replicaState, nowMs int64) bool {
	return r.logEnd == l.logEnd || nowMs-r.lastCaughtUpMs <= l.cfg.ReplicaLagTimeMaxMs
}

func (l *Leader) maybeShrink(nowMs int64, e *Effects) {
	if l.pending != nil {
		return
	}
	var out []model.NodeID
	for _, id := range l.isr {
		if id == l.st.Self {
			continue
		}
		if r := l.replicas[id]; r == nil || !l.caughtUp(r, nowMs) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return
	}
	next := slices.DeleteFunc(slices.Clone(l.isr), func(id model.NodeID) bool { return slices.Contains(out, id) })
	l.propose(next, e)
}

func (l *Leader) maybeExpand(id model.NodeID, e *Effects) {
	if l.pending != nil || id == l.st.Self || slices.Contains(l.isr, id) {
		return
	}
	r := l.replicas[id]
	if r == nil || r.logEnd < 0 || r.logEnd < l.hw || r.logEnd < l.st.EpochStartOffset {
		return
	}
	next := append(slices.Clone(l.isr), id)
	// Keep replica order so proposals read the same everywhere.
	order := func(a, b model.NodeID) int { return slices.Index(l.st.Replicas, a) - slices.Index(l.st.Replicas, b) }
	slices.SortFunc(next, order)
	l.propose(next, e)
}

func (l *Leader) propose(isr []model.NodeID, e *Effects) {
	l.pending = &ISRProposal{LeaderEpoch: l.st.LeaderEpoch, PartitionEpoch: l.st.PartitionEpoch, ISR: isr}
	p := *l.pending
	p.ISR = slices.Clone(isr)
	e.ProposeISR = &p
}
