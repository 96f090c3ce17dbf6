package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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
// external mode. Where this node leads it, a leaderReplica runs a
// replication.LeaderReplica (the runtime: acks=all waiters, the high
// watermark published by a replication.Publisher shared by all led
// partitions (no goroutine per partition), the wake of
// parked replica fetches; tested in replication): produce (through the
// log adapter in logs.go) feeds Appended and Await, follower fetches
// FollowerFetch, a shared ticker Tick, image changes Committed; this file
// only wires it to storage and to the controller (AlterPartition).
//
// The produce and fetch paths take no replicas.mu: they look partitions up
// in view, an immutable snapshot of leaders and external that update
// replaces (copy on write, under replicas.mu) once per pass. A lookup may
// find a leaderReplica that has just closed; its own closed flag (under
// its LeaderReplica's mu) answers NOT_LEADER then.
//
// Lock order: replicas.mu, then LeaderReplica.mu, then ReplicaFetcher's
// own. Completion callbacks run with none held.

// leaderTick is how often every led partition's Leader is ticked: ISR
// shrink checks and acks=all deadlines.
const leaderTick = 250 * time.Millisecond

type replicas struct {
	n *Node

	// view is leaders and external as of the last publishLocked: what
	// the hot paths read, without mu.
	view atomic.Pointer[replicaView]

	mu        sync.Mutex
	leaders   map[model.TopicPartition]*leaderReplica
	followers map[model.TopicPartition]*followerReplica
	fetchers  map[fetcherKey]*leaderFetcher // by leader node and fetcher id (follower.go)
	external  map[model.TopicPartition]bool // SetExternalHW(true) done
	// externalLog is the log each external entry was switched on: a
	// re-created topic has a new log to switch.
	externalLog map[model.TopicPartition]*storage.Partition
	stopc       chan struct{}
	wg          sync.WaitGroup
	// pub publishes the led partitions' high watermarks on a few shared
	// goroutines (none per partition).
	pub *replication.Publisher
	// fetchStats counts the fetchers' requests (follower.go).
	fetchStats replicaFetchStats
}

// replicaView is an immutable copy of replicas.leaders and .external.
type replicaView struct {
	leaders  map[model.TopicPartition]*leaderReplica
	external map[model.TopicPartition]bool
}

func newReplicas(n *Node) *replicas {
	r := &replicas{n: n, leaders: map[model.TopicPartition]*leaderReplica{}, followers: map[model.TopicPartition]*followerReplica{},
		fetchers: map[fetcherKey]*leaderFetcher{}, external: map[model.TopicPartition]bool{},
		externalLog: map[model.TopicPartition]*storage.Partition{}, stopc: make(chan struct{})}
	r.view.Store(&replicaView{})
	r.pub = replication.NewPublisher(publisherWorkers())
	r.wg.Add(1)
	go r.tickLoop()
	return r
}

func nowMs() int64 { return time.Now().UnixMilli() }

// leaderReplica is one partition this node leads with followers: the
// replication.LeaderReplica runtime, and what update needs to know of it.
type leaderReplica struct {
	*replication.LeaderReplica
	tp          model.TopicPartition
	leaderEpoch int32
	part        *storage.Partition // the log it leads; a re-created topic has a new one
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
			if !ok {
				continue
			}
			r.mu.Lock()
			done := r.external[tp] && r.externalLog[tp] == part // a re-created topic's new log is switched too
			r.mu.Unlock()
			if done {
				continue
			}
			if err := part.SetExternalHW(true); err != nil {
				r.n.log.Error("cannot switch partition to replicated high watermark", "partition", tp.String(), "err", err)
				continue
			}
			r.mu.Lock()
			r.external[tp], r.externalLog[tp] = true, part
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	r.publishLocked()
	r.mu.Unlock()
	// Then the followers that move to another leader or epoch, or stop:
	// out of their fetchers before this node may lead them, without r.mu
	// (a fetcher waits for its storage appends).
	r.mu.Lock()
	drop, stopped := r.staleFollowersLocked(im)
	r.mu.Unlock()
	r.unfollow(drop, stopped)
	registered := r.n.ctrl.Registered()
	seen := map[model.TopicPartition]bool{}
	adds := map[*leaderFetcher][]replication.Followed{}
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.publishLocked()
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
			if !ok || r.n.store.Offline(tp) {
				continue // an offline replica neither leads nor follows
			}
			if p.Leader == self && !registered {
				// This image may predate what the quorum decided while
				// the node was down: lead nothing until our own
				// registration is in it.
				continue
			}
			if p.Leader != self {
				if p.Leader >= 0 && r.followers[tp] == nil {
					r.follow(im, t, tp, part, p, adds)
				}
				continue
			}
			seen[tp] = true
			lr := r.leaders[tp]
			if lr != nil && (lr.leaderEpoch != p.LeaderEpoch || lr.part != part) {
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
	// One Add per fetcher: each Add cuts short the fetcher's long poll.
	for lf, ps := range adds {
		lf.f.Add(ps...)
	}
	for tp, lr := range r.leaders {
		if !seen[tp] {
			lr.close()
			delete(r.leaders, tp)
		}
	}
	for tp := range r.external {
		if cur, ok := r.n.store.Partition(tp); !ok || cur != r.externalLog[tp] {
			delete(r.external, tp)
			delete(r.externalLog, tp)
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
		Replicas: model.NodeIDs(p.Replicas), ISR: model.NodeIDs(p.ISR), LogEnd: end, HighWatermark: hw, EpochStartOffset: end,
	}
	l := replication.NewLeader(replication.LeaderConfig{MinInsyncReplicas: int(tc.MinInsyncReplicas),
		ReplicaLagTimeMaxMs: int64(r.n.cfg.ReplicaLagTimeMaxMs)}, st, nowMs())
	lr := &leaderReplica{tp: tp, leaderEpoch: p.LeaderEpoch, part: part}
	lr.LeaderReplica = replication.NewLeaderReplica(replication.LeaderReplicaConfig{TP: tp, Store: part,
		Propose: func(prop replication.ISRProposal) { r.propose(lr, prop) }, NowMs: nowMs,
		OnPublishError: func(err error) {
			r.n.log.Debug("set high watermark", "partition", tp.String(), "err", err)
		}, Publisher: r.pub}, l, hw)
	r.n.log.Info("leading partition", "partition", tp.String(), "leader_epoch", p.LeaderEpoch, "isr", p.ISR, "log_end", end, "high_watermark", hw)
	// A single-member ISR commits at once.
	lr.Appended(end)
	return lr
}

// publishLocked replaces view with a copy of leaders and external.
func (r *replicas) publishLocked() {
	r.view.Store(&replicaView{leaders: maps.Clone(r.leaders), external: maps.Clone(r.external)})
}

// leader returns the leader state of tp, or nil (lock free: the view).
func (r *replicas) leader(tp model.TopicPartition) *leaderReplica {
	return r.view.Load().leaders[tp]
}

// replicated reports whether tp keeps a replicated high watermark (lock
// free: the view).
func (r *replicas) replicated(tp model.TopicPartition) bool {
	return r.view.Load().external[tp]
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
		for _, lr := range r.view.Load().leaders {
			lr.Tick()
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
	r.publishLocked()
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
	r.pub.Close()
}

// publisherWorkers is how many goroutines publish high watermarks: each
// waits for one storage shard round trip at a time.
func publisherWorkers() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// propose sends an ISR change to the controller (AlterPartition); it runs
// on a goroutine of its own.
func (r *replicas) propose(lr *leaderReplica, p replication.ISRProposal) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.n.ctrl.AlterPartition(ctx, lr.tp.Topic, lr.tp.Partition, r.n.cfg.NodeID,
		int32(p.LeaderEpoch), p.PartitionEpoch, model.Int32s(p.ISR))
	if err != nil {
		r.n.log.Info("ISR change refused", "partition", lr.tp.String(), "isr", model.Int32s(p.ISR), "err", err)
		if isrRefused(err) {
			lr.ProposalRefused(p)
		} else {
			// A timeout: the change may still commit.
			lr.ProposalUnknown(p)
		}
		return
	}
	r.n.log.Info("ISR changed", "partition", lr.tp.String(), "isr", model.Int32s(p.ISR))
}

// isrRefused reports whether AlterPartition's error is a definite
// refusal (the change was not and will not be applied), not a timeout.
func isrRefused(err error) bool {
	return errors.Is(err, controlplane.ErrFencedLeaderEpoch) || errors.Is(err, controlplane.ErrStalePartitionEpoch) ||
		errors.Is(err, model.ErrInvalidRequest) || errors.Is(err, model.ErrUnknownTopicOrPartition)
}

// committed applies the image's ISR for the same leader epoch.
func (lr *leaderReplica) committed(p controlplane.Partition) {
	lr.Committed(model.NodeIDs(p.ISR), p.PartitionEpoch)
}

// close fails every waiter: this node no longer leads at this epoch.
func (lr *leaderReplica) close() {
	lr.Close(fmt.Errorf("%s: leadership at epoch %d ended: %w", lr.tp, lr.leaderEpoch, model.ErrNotLeader))
}

// The log adapter's replicated side (kafka.ReplicatedLog).

func (p partitionLog) CheckAppend() error {
	if lr := p.r.leader(p.tp); lr != nil {
		return lr.CheckAppend()
	}
	if p.r.replicated(p.tp) {
		return fmt.Errorf("%s: replication not started: %w", p.tp, model.ErrNotLeader)
	}
	return nil
}

func (p partitionLog) AwaitCommit(lastOffset model.Offset, deadline time.Time, done func(error)) {
	if lr := p.r.leader(p.tp); lr != nil {
		lr.Await(lastOffset, deadline, done)
		return
	}
	if p.r.replicated(p.tp) {
		done(fmt.Errorf("%s: %w", p.tp, model.ErrNotLeader))
		return
	}
	done(nil)
}

// FollowerChanged is closed on the next advance of the log end (or the
// end of this leadership): what a replica Fetch waits on
// (kafka.FollowerWaker).
func (p partitionLog) FollowerChanged() <-chan struct{} {
	if lr := p.r.leader(p.tp); lr != nil {
		return lr.FollowerChanged()
	}
	return p.Partition.Changed()
}

func (p partitionLog) FollowerRead(replica int32, offset model.Offset, maxBytes int32, minOneBatch bool) (kafka.ReadResult, error) {
	if lr := p.r.leader(p.tp); lr != nil {
		lr.FollowerFetch(replica, offset)
	}
	rr, err := p.Partition.ReadReplica(offset, maxBytes, minOneBatch)
	return kafka.ReadResult(rr), err
}
