package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/kafka"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/replication"
	"github.com/ringtail/ringtail/storage"
)

// The node's replication backend: it reconciles the partitions this node
// holds toward the image's leadership (replicas.update, from reconcile).
//
// A partition with more than one replica keeps its high watermark in
// external mode. Where this node leads it, a leaderReplica drives a
// replication.Leader: produce (through the log adapter in logs.go) feeds
// LeaderAppended and acks=all waiters, follower fetches feed
// FollowerFetch, a shared ticker feeds Tick, image changes feed
// ISRCommitted, and the Effects are performed here: the high watermark
// is published by the partition's own hwLoop goroutine (storage calls may
// not run inside an append callback), ISR proposals go to the controller
// as AlterPartition from a goroutine, completions answer produces.
//
// Lock order: replicas.mu, then leaderReplica.mu. Completion callbacks run
// with neither held.

// leaderTick is how often every led partition's Leader is ticked: ISR
// shrink checks and acks=all deadlines.
const leaderTick = 250 * time.Millisecond

type replicas struct {
	n *Node

	mu        sync.Mutex
	leaders   map[model.TopicPartition]*leaderReplica
	followers map[model.TopicPartition]*followerReplica
	fetchers  map[int32]*leaderFetcher      // by leader node (follower.go)
	external  map[model.TopicPartition]bool // SetExternalHW(true) done
	stopc     chan struct{}
	wg        sync.WaitGroup
	// fetchStats counts the fetchers' requests (follower.go).
	fetchStats replicaFetchStats
}

func newReplicas(n *Node) *replicas {
	r := &replicas{n: n, leaders: map[model.TopicPartition]*leaderReplica{}, followers: map[model.TopicPartition]*followerReplica{},
		fetchers: map[int32]*leaderFetcher{}, external: map[model.TopicPartition]bool{}, stopc: make(chan struct{})}
	r.wg.Add(1)
	go r.tickLoop()
	return r
}

func nowMs() int64 { return time.Now().UnixMilli() }

// heldAck is a successful completion waiting until the published high
// watermark reaches hw.
type heldAck struct {
	hw model.Offset
	cb func()
}

// leaderReplica is one partition this node leads with followers.
type leaderReplica struct {
	r           *replicas
	tp          model.TopicPartition
	part        *storage.Partition
	leaderEpoch int32

	mu      sync.Mutex
	l       *replication.Leader
	nextID  uint64
	waiters map[uint64]func(error)
	closed  bool
	hw      model.Offset // latest high watermark for hwLoop
	hwc     chan struct{}
	// published is the high watermark hwLoop last set in storage; held
	// are successful acks=all answers waiting for it to reach their
	// offsets, so that a client acknowledged at offset o can read o at
	// once from this leader.
	published model.Offset
	held      []heldAck
	stopc     chan struct{}
}

// update reconciles toward im; called by Node.reconcile after the storage
// partitions exist.
func (r *replicas) update(im *controlplane.Image) {
	self := r.n.cfg.NodeID
	// First the storage mode, without r.mu: SetExternalHW waits for the
	// partition's shard, whose append callbacks look up r.leaders.
	for name, t := range im.Topics {
		for _, p := range t.Partitions {
			if len(p.Replicas) < 2 || !slices.Contains(p.Replicas, self) {
				continue
			}
			tp := model.TopicPartition{Topic: name, Partition: p.Partition}
			part, ok := r.n.store.Partition(tp)
			if !ok || r.replicated(tp) {
				continue
			}
			if err := part.SetExternalHW(true); err != nil {
				r.n.log.Error("cannot switch partition to replicated high watermark", "partition", tp.String(), "err", err)
				continue
			}
			r.mu.Lock()
			r.external[tp] = true
			r.mu.Unlock()
		}
	}
	// Then the followers that move to another leader or epoch, or stop:
	// out of their fetchers before this node may lead them, without r.mu
	// (a fetcher waits for its storage appends).
	r.mu.Lock()
	drop, stopped := r.staleFollowersLocked(im)
	r.mu.Unlock()
	r.unfollow(drop, stopped)
	registered := r.n.ctrl.Registered()
	seen := map[model.TopicPartition]bool{}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.stopc:
		return // the node is stopping
	default:
	}
	for name, t := range im.Topics {
		for _, p := range t.Partitions {
			tp := model.TopicPartition{Topic: name, Partition: p.Partition}
			if !r.external[tp] {
				continue
			}
			part, ok := r.n.store.Partition(tp)
			if !ok {
				continue
			}
			if p.Leader == self && !registered {
				// This image may predate what the quorum decided while
				// the node was down: lead nothing until our own
				// registration is in it.
				continue
			}
			if p.Leader != self {
				if p.Leader >= 0 && r.followers[tp] == nil {
					r.follow(im, t, tp, part, p)
				}
				continue
			}
			seen[tp] = true
			lr := r.leaders[tp]
			if lr != nil && lr.leaderEpoch != p.LeaderEpoch {
				lr.close()
				lr = nil
			}
			if lr == nil {
				r.leaders[tp] = r.startLeader(tp, part, t, p)
				continue
			}
			lr.committed(p)
		}
	}
	for tp, lr := range r.leaders {
		if !seen[tp] {
			lr.close()
			delete(r.leaders, tp)
		}
	}
	for tp := range r.external {
		if _, ok := r.n.store.Partition(tp); !ok {
			delete(r.external, tp)
		}
	}
}

func (r *replicas) startLeader(tp model.TopicPartition, part *storage.Partition, t *controlplane.Topic, p controlplane.Partition) *leaderReplica {
	tc, err := r.n.cfg.TopicDefaults().With(t.Configs)
	if err != nil {
		tc = r.n.cfg.TopicDefaults()
	}
	_, hw, end := part.Offsets()
	st := replication.LeaderState{
		Self: model.NodeID(r.n.cfg.NodeID), LeaderEpoch: model.Epoch(p.LeaderEpoch), PartitionEpoch: p.PartitionEpoch,
		Replicas: nodeIDs(p.Replicas), ISR: nodeIDs(p.ISR), LogEnd: end, HighWatermark: hw, EpochStartOffset: end,
	}
	lr := &leaderReplica{r: r, tp: tp, part: part, leaderEpoch: p.LeaderEpoch,
		l: replication.NewLeader(replication.LeaderConfig{MinInsyncReplicas: int(tc.MinInsyncReplicas),
			ReplicaLagTimeMaxMs: int64(r.n.cfg.ReplicaLagTimeMaxMs)}, st, nowMs()),
		waiters: map[uint64]func(error){}, hw: hw, published: hw, hwc: make(chan struct{}, 1), stopc: make(chan struct{})}
	r.n.log.Info("leading partition", "partition", tp.String(), "leader_epoch", p.LeaderEpoch, "isr", p.ISR, "log_end", end, "high_watermark", hw)
	r.wg.Add(1)
	go lr.hwLoop()
	// A single-member ISR commits at once.
	lr.step(func(l *replication.Leader) replication.Effects { return l.LeaderAppended(end, nowMs()) })
	return lr
}

func nodeIDs(ids []int32) []model.NodeID {
	out := make([]model.NodeID, len(ids))
	for i, id := range ids {
		out[i] = model.NodeID(id)
	}
	return out
}

func int32s(ids []model.NodeID) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

// leader returns the leader state of tp, or nil.
func (r *replicas) leader(tp model.TopicPartition) *leaderReplica {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leaders[tp]
}

func (r *replicas) replicated(tp model.TopicPartition) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.external[tp]
}

func (r *replicas) tickLoop() {
	defer r.wg.Done()
	t := time.NewTicker(leaderTick)
	defer t.Stop()
	for {
		select {
		case <-r.stopc:
			return
		case <-t.C:
		}
		r.mu.Lock()
		ls := make([]*leaderReplica, 0, len(r.leaders))
		for _, lr := range r.leaders {
			ls = append(ls, lr)
		}
		r.mu.Unlock()
		for _, lr := range ls {
			lr.step(func(l *replication.Leader) replication.Effects { return l.Tick(nowMs()) })
		}
	}
}

func (r *replicas) close() {
	close(r.stopc)
	r.mu.Lock()
	for tp, lr := range r.leaders {
		lr.close()
		delete(r.leaders, tp)
	}
	fetchers := make([]*leaderFetcher, 0, len(r.fetchers))
	for id, lf := range r.fetchers {
		fetchers = append(fetchers, lf)
		delete(r.fetchers, id)
	}
	clear(r.followers)
	r.mu.Unlock()
	// Outside r.mu, as in update; in parallel, each closing its session.
	var wg sync.WaitGroup
	for _, lf := range fetchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lf.stop()
		}()
	}
	wg.Wait()
	r.wg.Wait()
}

// step runs fn on the Leader and performs its effects.
func (lr *leaderReplica) step(fn func(l *replication.Leader) replication.Effects) {
	lr.mu.Lock()
	if lr.closed {
		lr.mu.Unlock()
		return
	}
	e := fn(lr.l)
	done := lr.performLocked(e)
	lr.mu.Unlock()
	for _, d := range done {
		d()
	}
}

// performLocked performs e and returns the completions to call unlocked.
// A successful completion is held until hwLoop has published a high
// watermark covering it: the Leader's high watermark moves first, and an
// acknowledged produce must be readable as soon as its answer leaves.
func (lr *leaderReplica) performLocked(e replication.Effects) []func() {
	wake := e.HWChanged
	if e.HWChanged {
		lr.hw = e.HighWatermark
	}
	if prop := e.ProposeISR; prop != nil {
		go lr.propose(*prop)
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
		select {
		case lr.hwc <- struct{}{}:
		default:
		}
	}
	return done
}

// hwLoop publishes the high watermark in the storage partition, always
// the latest (the Leader never moves it backwards), then answers the
// acks it held for it.
func (lr *leaderReplica) hwLoop() {
	defer lr.r.wg.Done()
	for {
		select {
		case <-lr.stopc:
			return
		case <-lr.hwc:
		}
		lr.mu.Lock()
		hw := lr.hw
		lr.mu.Unlock()
		got, err := lr.part.SetHighWatermark(hw)
		if err != nil {
			lr.r.n.log.Debug("set high watermark", "partition", lr.tp.String(), "err", err)
			continue
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
}

// propose sends an ISR change to the controller (AlterPartition).
func (lr *leaderReplica) propose(p replication.ISRProposal) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := lr.r.n.ctrl.AlterPartition(ctx, lr.tp.Topic, lr.tp.Partition, lr.r.n.cfg.NodeID,
		int32(p.LeaderEpoch), p.PartitionEpoch, int32s(p.ISR))
	if err != nil {
		lr.r.n.log.Info("ISR change refused", "partition", lr.tp.String(), "isr", int32s(p.ISR), "err", err)
		lr.mu.Lock()
		if lr.l.Pending() != nil && lr.l.Pending().PartitionEpoch == p.PartitionEpoch {
			lr.l.ProposalFailed()
		}
		lr.mu.Unlock()
		return
	}
	lr.r.n.log.Info("ISR changed", "partition", lr.tp.String(), "isr", int32s(p.ISR))
}

// committed applies the image's ISR for the same leader epoch.
func (lr *leaderReplica) committed(p controlplane.Partition) {
	lr.step(func(l *replication.Leader) replication.Effects {
		if slices.Equal(int32s(l.ISR()), p.ISR) && l.Pending() == nil {
			return replication.Effects{}
		}
		return l.ISRCommitted(nodeIDs(p.ISR), p.PartitionEpoch, nowMs())
	})
}

// close fails every waiter: this node no longer leads at this epoch.
func (lr *leaderReplica) close() {
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
	for _, cb := range ws {
		cb(fmt.Errorf("%s: leadership at epoch %d ended: %w", lr.tp, lr.leaderEpoch, model.ErrNotLeader))
	}
	// Held acks are committed on the ISR, only not yet readable here:
	// their success stands.
	for _, h := range held {
		h.cb()
	}
}

// appended tells the leader about a local append.
func (lr *leaderReplica) appended(logEnd model.Offset) {
	lr.step(func(l *replication.Leader) replication.Effects { return l.LeaderAppended(logEnd, nowMs()) })
}

func (lr *leaderReplica) checkAppend() error {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.closed {
		return fmt.Errorf("%s: %w", lr.tp, model.ErrNotLeader)
	}
	return lr.l.CheckAppend()
}

func (lr *leaderReplica) await(lastOffset model.Offset, deadline time.Time, done func(error)) {
	lr.mu.Lock()
	if lr.closed {
		lr.mu.Unlock()
		done(fmt.Errorf("%s: %w", lr.tp, model.ErrNotLeader))
		return
	}
	lr.nextID++
	id := lr.nextID
	lr.waiters[id] = done
	e := lr.l.AddWaiter(id, lastOffset, deadline.UnixMilli())
	cbs := lr.performLocked(e)
	lr.mu.Unlock()
	for _, cb := range cbs {
		cb()
	}
}

func (lr *leaderReplica) followerFetch(replica int32, offset model.Offset) {
	lr.step(func(l *replication.Leader) replication.Effects {
		return l.FollowerFetch(model.NodeID(replica), offset, nowMs())
	})
}

// The log adapter's replicated side (kafka.ReplicatedLog).

func (p partitionLog) CheckAppend() error {
	if lr := p.r.leader(p.tp); lr != nil {
		return lr.checkAppend()
	}
	if p.r.replicated(p.tp) {
		return fmt.Errorf("%s: replication not started: %w", p.tp, model.ErrNotLeader)
	}
	return nil
}

func (p partitionLog) AwaitCommit(lastOffset model.Offset, deadline time.Time, done func(error)) {
	if lr := p.r.leader(p.tp); lr != nil {
		lr.await(lastOffset, deadline, done)
		return
	}
	if p.r.replicated(p.tp) {
		done(fmt.Errorf("%s: %w", p.tp, model.ErrNotLeader))
		return
	}
	done(nil)
}

func (p partitionLog) FollowerRead(replica int32, offset model.Offset, maxBytes int32, minOneBatch bool) (kafka.ReadResult, error) {
	if lr := p.r.leader(p.tp); lr != nil {
		lr.followerFetch(replica, offset)
	}
	rr, err := p.Partition.ReadReplica(offset, maxBytes, minOneBatch)
	return kafka.ReadResult(rr), err
}
