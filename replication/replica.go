package replication

// LeaderReplica: the leader side of one replicated partition as a runtime
// around the Leader state machine. Produce feeds Appended (and wakes the
// replica Fetches parked on the partition), acks=all produces Await,
// follower fetches FollowerFetch, a shared ticker Tick, the metadata
// image Committed; the Effects are performed here: the high watermark is
// published to the store by a Publisher's shared goroutines (or by Run, a
// goroutine of the replica's own; a storage call may not run inside an
// append callback), ISR proposals go to
// Propose on a goroutine of their own, and completions answer produces.
//
// A successful acks=all completion is held until Run has published a high
// watermark that covers it: the Leader's high watermark moves first, and
// an acknowledged record must be readable on this leader as soon as its
// answer leaves.
//
// Locks: LeaderReplica.mu only; callbacks (completions, Propose) run with
// it released.

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringtail/ringtail/model"
)

// HWStore is where a LeaderReplica publishes its high watermark: the
// storage partition in the daemon, a fake in tests.
type HWStore interface {
	// SetHighWatermark publishes hw (clamped to the log) and returns the
	// high watermark now published.
	SetHighWatermark(hw model.Offset) (model.Offset, error)
}

// LeaderReplicaConfig wires a LeaderReplica.
type LeaderReplicaConfig struct {
	TP    model.TopicPartition
	Store HWStore
	// Propose sends an ISR change to the controller; it runs on its own
	// goroutine and calls ProposalRefused when the controller refuses.
	Propose func(ISRProposal)
	// NowMs is the clock in milliseconds; nil: the system clock.
	NowMs func() int64
	// OnPublishError sees a failed SetHighWatermark (it is retried on the
	// next change); nil: ignored.
	OnPublishError func(error)
	// Publisher publishes the high watermark on its shared goroutines;
	// nil: the caller runs Run, one goroutine for this replica.
	Publisher *Publisher
}

type heldAck struct {
	hw model.Offset
	cb func()
}

// LeaderReplica is one partition this node leads with followers.
type LeaderReplica struct {
	cfg    LeaderReplicaConfig
	end    Notifier
	queued atomic.Bool // in cfg.Publisher's queue

	mu      sync.Mutex
	l       *Leader
	nextID  uint64
	waiters map[uint64]func(error)
	closed  bool
	hw      model.Offset // latest high watermark, for Run
	// published is the high watermark Run last set in the store; held
	// are successful completions waiting for it to reach their offsets.
	published model.Offset
	held      []heldAck
	hwc       chan struct{}
	stopc     chan struct{}
}

// NewLeaderReplica wraps l, whose log's published high watermark is
// published. Run must run for the high watermark to move.
func NewLeaderReplica(cfg LeaderReplicaConfig, l *Leader, published model.Offset) *LeaderReplica {
	if cfg.NowMs == nil {
		cfg.NowMs = func() int64 { return time.Now().UnixMilli() }
	}
	return &LeaderReplica{cfg: cfg, l: l, waiters: map[uint64]func(error){}, hw: l.HighWatermark(), published: published,
		hwc: make(chan struct{}, 1), stopc: make(chan struct{})}
}

// Step runs fn on the Leader and performs its effects.
func (lr *LeaderReplica) Step(fn func(l *Leader) Effects) {
	lr.mu.Lock()
	if lr.closed {
		lr.mu.Unlock()
		return
	}
	done := lr.performLocked(fn(lr.l))
	lr.mu.Unlock()
	for _, d := range done {
		d()
	}
}

// performLocked performs e and returns the completions to call unlocked.
func (lr *LeaderReplica) performLocked(e Effects) []func() {
	wake := e.HWChanged
	if e.HWChanged {
		lr.hw = e.HighWatermark
	}
	if prop := e.ProposeISR; prop != nil && lr.cfg.Propose != nil {
		go lr.cfg.Propose(*prop)
	}
	var done []func()
	for _, c := range e.Completions {
		cb, ok := lr.waiters[c.ID]
		if !ok {
			continue
		}
		delete(lr.waiters, c.ID)
		err := c.Err
		call := func() { cb(err) }
		if err != nil || lr.published >= lr.hw {
			done = append(done, call)
			continue
		}
		lr.held = append(lr.held, heldAck{hw: lr.hw, cb: call})
		wake = true
	}
	if wake {
		if pub := lr.cfg.Publisher; pub != nil {
			if !lr.queued.Swap(true) {
				pub.schedule(lr)
			}
		} else {
			select {
			case lr.hwc <- struct{}{}:
			default:
			}
		}
	}
	return done
}

// Run publishes the high watermark in the store, always the latest (the
// Leader never moves it backwards), then answers the completions held for
// it; it returns once Close is called. Only without a Publisher.
func (lr *LeaderReplica) Run() {
	for {
		select {
		case <-lr.stopc:
			return
		case <-lr.hwc:
		}
		lr.publishOnce()
	}
}

func (lr *LeaderReplica) publishOnce() {
	lr.mu.Lock()
	hw, closed := lr.hw, lr.closed
	lr.mu.Unlock()
	if closed {
		return // Close answered what it held
	}
	got, err := lr.cfg.Store.SetHighWatermark(hw)
	if err != nil {
		if lr.cfg.OnPublishError != nil {
			lr.cfg.OnPublishError(err)
		}
		return
	}
	lr.mu.Lock()
	lr.published = max(lr.published, got)
	var ready []heldAck
	kept := lr.held[:0]
	for _, h := range lr.held {
		if h.hw <= lr.published {
			ready = append(ready, h)
		} else {
			kept = append(kept, h)
		}
	}
	clear(lr.held[len(kept):])
	lr.held = kept
	lr.mu.Unlock()
	for _, h := range ready {
		h.cb()
	}
}

// Close ends this leadership: every waiter fails with err (which should
// wrap model.ErrNotLeader), held completions succeed (they are committed
// on the ISR), parked replica fetches wake, Run returns.
func (lr *LeaderReplica) Close(err error) {
	lr.mu.Lock()
	if lr.closed {
		lr.mu.Unlock()
		return
	}
	lr.closed = true
	close(lr.stopc)
	ws := lr.waiters
	lr.waiters = nil
	held := lr.held
	lr.held = nil
	lr.mu.Unlock()
	lr.end.Notify()
	for _, cb := range ws {
		cb(err)
	}
	for _, h := range held {
		h.cb()
	}
}

// Appended tells the leader about a local append and wakes the replica
// fetches parked on the partition.
func (lr *LeaderReplica) Appended(logEnd model.Offset) {
	lr.end.Notify()
	lr.Step(func(l *Leader) Effects { return l.LeaderAppended(logEnd, lr.cfg.NowMs()) })
}

// FollowerChanged is closed on the next Appended or Close: what a replica
// Fetch parked on this partition waits on.
func (lr *LeaderReplica) FollowerChanged() <-chan struct{} { return lr.end.Wait() }

// CheckAppend is the Leader's check before an acks=all append.
func (lr *LeaderReplica) CheckAppend() error {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.closed {
		return fmt.Errorf("%s: %w", lr.cfg.TP, model.ErrNotLeader)
	}
	return lr.l.CheckAppend()
}

// Await calls done once the high watermark, published, passes
// lastOffset, or with the Leader's error (not enough replicas, the
// deadline), or NOT_LEADER once closed.
func (lr *LeaderReplica) Await(lastOffset model.Offset, deadline time.Time, done func(error)) {
	lr.mu.Lock()
	if lr.closed {
		lr.mu.Unlock()
		done(fmt.Errorf("%s: %w", lr.cfg.TP, model.ErrNotLeader))
		return
	}
	lr.nextID++
	id := lr.nextID
	lr.waiters[id] = done
	cbs := lr.performLocked(lr.l.AddWaiter(id, lastOffset, deadline.UnixMilli()))
	lr.mu.Unlock()
	for _, cb := range cbs {
		cb()
	}
}

// FollowerFetch records that replica fetched at offset (its log end).
func (lr *LeaderReplica) FollowerFetch(replica int32, offset model.Offset) {
	lr.Step(func(l *Leader) Effects { return l.FollowerFetch(model.NodeID(replica), offset, lr.cfg.NowMs()) })
}

// Tick runs the Leader's timers: ISR shrink, acks=all deadlines.
func (lr *LeaderReplica) Tick() {
	lr.Step(func(l *Leader) Effects { return l.Tick(lr.cfg.NowMs()) })
}

// Committed applies the ISR the controller committed for this leader
// epoch (a no-op when it is the one in force and nothing is pending).
func (lr *LeaderReplica) Committed(isr []model.NodeID, partitionEpoch int32) {
	lr.Step(func(l *Leader) Effects {
		if slices.Equal(l.ISR(), isr) && l.Pending() == nil && l.Uncertain() == nil {
			return Effects{}
		}
		return l.ISRCommitted(isr, partitionEpoch, lr.cfg.NowMs())
	})
}

// ProposalUnknown tells the Leader that p's outcome is unknown (the
// request timed out or the controller changed before it applied): it may
// propose again, and waits for what p added until a newer ISR commits.
func (lr *LeaderReplica) ProposalUnknown(p ISRProposal) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if pend := lr.l.Pending(); pend != nil && pend.PartitionEpoch == p.PartitionEpoch {
		lr.l.ProposalUnknown()
	}
}

// ProposalRefused tells the Leader that the controller refused p, so
// that it may propose again.
func (lr *LeaderReplica) ProposalRefused(p ISRProposal) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if pend := lr.l.Pending(); pend != nil && pend.PartitionEpoch == p.PartitionEpoch {
		lr.l.ProposalFailed()
	}
}
