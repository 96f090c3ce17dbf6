package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/replication"
	"github.com/ringtail/ringtail/storage"
)

// A node's replica of one partition: an in-memory log whose appends are
// durable before they complete (storage's default, Durable), its
// leader-epoch cache, and the high watermark (checkpointed every second;
// a crash goes back to the checkpoint). Leading, it runs the real
// replication.Leader as the daemon wires it (daemon/replicas.go);
// following, it does what replication.ReplicaFetcher does: truncate by
// OffsetForLeaderEpoch (TruncationOffset), then fetch from its log end.

const (
	leaderTick     = 250 * time.Millisecond
	followerPoll   = 40 * time.Millisecond
	fetchTimeout   = 3 * time.Second // more than a round trip at the worst delay (2 x 1 s)
	fetchBackoff   = 300 * time.Millisecond
	lagTimeMax     = 2 * time.Second // replica.lag.time.max.ms, shortened
	minISR         = 2
	maxFetchRecs   = 20
	produceTimeout = 5 * time.Second
)

type record struct {
	epoch model.Epoch
	id    uint64 // the producer's unique id for the record
}

type replica struct {
	n      *node
	part   int32
	log    []record // offset = index
	epochs []storage.EpochStart
	hw     model.Offset
	hwCkpt model.Offset

	// Leading.
	leader      *replication.Leader
	leaderEpoch int32
	waiters     map[uint64]produceReq
	nextWaiter  uint64

	// Following.
	following    int32 // leader node, -1 none
	followEpoch  int32
	truncated    bool
	inflight     uint64 // request id, 0 none
	sentAt       time.Duration
	backoffUntil time.Duration
	nextReq      uint64
}

type produceReq struct {
	id     uint64
	offset model.Offset
}

func newReplica(n *node, part int32) *replica {
	return &replica{n: n, part: part, following: -1}
}

func (r *replica) end() model.Offset { return model.Offset(len(r.log)) }

func (r *replica) restart() {
	r.hw = min(r.hwCkpt, r.end())
	r.leader, r.waiters = nil, nil
	r.following, r.truncated, r.inflight = -1, false, 0
}

func (r *replica) crash() {
	r.leader, r.waiters = nil, nil
	r.following, r.inflight = -1, 0
}

// appendLocal adds a record, starting a new epoch entry when its epoch
// is newer than the cache's latest (storage's prepareReplica rule).
func (r *replica) appendLocal(rec record) {
	if n := len(r.epochs); n == 0 || rec.epoch > r.epochs[n-1].Epoch {
		r.epochs = append(r.epochs, storage.EpochStart{Epoch: rec.epoch, StartOffset: r.end()})
	}
	r.log = append(r.log, rec)
}

// truncate cuts the log at to, with the epoch cache and high watermark
// made to match (storage.Partition.TruncateTo).
func (r *replica) truncate(to model.Offset) {
	r.n.w.tracef("n%d p%d truncate %d->%d", r.n.id, r.part, r.end(), to)
	r.log = r.log[:to]
	r.epochs = slices.DeleteFunc(r.epochs, func(e storage.EpochStart) bool { return e.StartOffset >= to })
	r.hw = min(r.hw, to)
}

// reconcile is daemon/replicas.go's update for this partition.
func (r *replica) reconcile() {
	n := r.n
	t := n.ctrl.image.Topics[topicName]
	if t == nil || int(r.part) >= len(t.Partitions) {
		return
	}
	p := t.Partitions[r.part]
	self := n.id
	if p.Leader == self && !n.registered() {
		return // the image may predate what the quorum decided while we were down
	}
	if p.Leader != self {
		if r.leader != nil {
			r.closeLeader()
		}
		if p.Leader < 0 {
			r.following = -1
			return
		}
		if r.following != p.Leader || r.followEpoch != p.LeaderEpoch {
			n.w.tracef("n%d p%d follow %d epoch %d", self, r.part, p.Leader, p.LeaderEpoch)
			r.following, r.followEpoch, r.truncated, r.inflight, r.backoffUntil = p.Leader, p.LeaderEpoch, false, 0, 0
		}
		return
	}
	r.following = -1
	if r.leader != nil && r.leaderEpoch != p.LeaderEpoch {
		r.closeLeader()
	}
	if r.leader == nil {
		end := r.end()
		st := replication.LeaderState{Self: model.NodeID(self), LeaderEpoch: model.Epoch(p.LeaderEpoch), PartitionEpoch: p.PartitionEpoch,
			Replicas: model.NodeIDs(p.Replicas), ISR: model.NodeIDs(p.ISR), LogEnd: end, HighWatermark: r.hw, EpochStartOffset: end}
		r.leader = replication.NewLeader(replication.LeaderConfig{MinInsyncReplicas: minISR, ReplicaLagTimeMaxMs: lagTimeMax.Milliseconds()}, st, n.nowMs())
		r.leaderEpoch = p.LeaderEpoch
		r.waiters = map[uint64]produceReq{}
		n.w.tracef("n%d p%d lead epoch %d isr %v end %d hw %d", self, r.part, p.LeaderEpoch, p.ISR, end, r.hw)
		n.w.chk.leaderStarted(r)
		r.perform(r.leader.LeaderAppended(end, n.nowMs()))
		return
	}
	isr := model.NodeIDs(p.ISR)
	if slices.Equal(r.leader.ISR(), isr) && r.leader.Pending() == nil && r.leader.Uncertain() == nil {
		return
	}
	if n.w.opts.Break == BreakImageClearsPending {
		r.leader.ProposalFailed()
	}
	r.perform(r.leader.ISRCommitted(isr, p.PartitionEpoch, n.nowMs()))
}

func (r *replica) closeLeader() {
	r.n.w.tracef("n%d p%d unlead epoch %d", r.n.id, r.part, r.leaderEpoch)
	r.leader, r.waiters = nil, nil
}

// perform carries out a Leader step's effects in order: publish the high
// watermark, propose the ISR, answer the completions.
func (r *replica) perform(e replication.Effects) {
	w := r.n.w
	if e.HWChanged {
		w.chk.hwMoved(r, r.hw, e.HighWatermark)
		r.hw = min(e.HighWatermark, r.end())
	}
	if prop := e.ProposeISR; prop != nil {
		r.proposeISR(*prop)
	}
	for _, c := range e.Completions {
		req, ok := r.waiters[c.ID]
		if !ok {
			continue
		}
		delete(r.waiters, c.ID)
		if c.Err == nil {
			w.chk.acked(r, req.offset, req.id)
		}
	}
}

// proposeISR is the daemon's propose: AlterPartition through the quorum.
func (r *replica) proposeISR(prop replication.ISRProposal) {
	n := r.n
	rec, _, err := planAlterPartition(n, r.part, prop)
	if err != nil {
		n.w.tracef("n%d p%d isr %v refused: %v", n.id, r.part, prop.ISR, err)
		r.refused(prop)
		return
	}
	if rec == nil {
		return
	}
	leader := r.leader
	n.ctrl.propose(fmt.Sprintf("isr p%d %v", r.part, prop.ISR), rec, func(err error) {
		switch {
		case err == nil || r.leader != leader:
		case errors.Is(err, errGone) && n.w.opts.Break != BreakISRTimeoutIsRefusal:
			// A timeout or a controller change: it may still commit.
			if p := r.leader.Pending(); p != nil && p.PartitionEpoch == prop.PartitionEpoch {
				r.leader.ProposalUnknown()
			}
		default:
			r.refused(prop)
		}
	})
}

func (r *replica) refused(prop replication.ISRProposal) {
	if p := r.leader.Pending(); p != nil && p.PartitionEpoch == prop.PartitionEpoch {
		r.leader.ProposalFailed()
	}
}

func (r *replica) tick() {
	if r.leader != nil {
		r.perform(r.leader.Tick(r.n.nowMs()))
	}
}

// produce is an acks=all Produce of one record at this node.
func (r *replica) produce(id uint64) {
	w := r.n.w
	if r.leader == nil || !r.n.registered() {
		return // NOT_LEADER_OR_FOLLOWER
	}
	if err := r.leader.CheckAppend(); err != nil {
		return // NOT_ENOUGH_REPLICAS
	}
	off := r.end()
	r.appendLocal(record{epoch: model.Epoch(r.leaderEpoch), id: id})
	w.tracef("n%d p%d append %d id=%d", r.n.id, r.part, off, id)
	r.perform(r.leader.LeaderAppended(r.end(), r.n.nowMs()))
	if w.opts.Break == BreakAckBeforeISR {
		w.chk.acked(r, off, id)
		return
	}
	r.nextWaiter++
	r.waiters[r.nextWaiter] = produceReq{id: id, offset: off}
	r.perform(r.leader.AddWaiter(r.nextWaiter, off, r.n.nowMs()+produceTimeout.Milliseconds()))
}

// Follower side.

type epochReq struct {
	from, req    uint64
	currentEpoch int32
	epoch        model.Epoch
}

type fetchResp struct {
	err     error
	records []record
	base    model.Offset
	hw      model.Offset
}

// poll sends the next OffsetForLeaderEpoch or Fetch when none is in
// flight (a lost one times out).
func (r *replica) poll() {
	if r.following < 0 {
		return
	}
	w := r.n.w
	now := w.now
	if r.inflight != 0 && now-r.sentAt < fetchTimeout {
		return
	}
	if now < r.backoffUntil {
		return
	}
	r.nextReq++
	req := r.nextReq
	r.inflight, r.sentAt = req, now
	leader, epoch, from := r.following, r.followEpoch, r.n.id
	part := r.part
	if !r.truncated {
		latest, ok := replication.LatestEpoch(r.epochs)
		if !ok || w.opts.Break == BreakNoTruncate {
			r.cut(replication.EpochEnd{Epoch: storage.UndefinedEpoch, EndOffset: storage.UndefinedOffset})
			r.inflight = 0
			return
		}
		w.net.send(from, leader, fmt.Sprintf("epoch p%d e%d", part, latest), func(dst *node) {
			ans, err := dst.reps[part].answerEpoch(epoch, latest)
			w.net.send(leader, from, fmt.Sprintf("epoch-resp p%d %v", part, err), func(src *node) {
				src.reps[part].onEpoch(leader, epoch, req, ans, err)
				src.afterControllerStep()
			})
		})
		return
	}
	off := r.end()
	w.net.send(from, leader, fmt.Sprintf("fetch p%d o%d", part, off), func(dst *node) {
		resp := dst.reps[part].answerFetch(from, epoch, off)
		dst.afterControllerStep()
		w.net.send(leader, from, fmt.Sprintf("fetch-resp p%d n%d hw%d %v", part, len(resp.records), resp.hw, resp.err), func(src *node) {
			src.reps[part].onFetch(leader, epoch, req, resp)
			src.afterControllerStep()
		})
	})
}

var (
	errNotLeader    = fmt.Errorf("sim: %w", model.ErrNotLeader)
	errFenced       = fmt.Errorf("sim: fenced leader epoch")
	errUnknownEpoch = fmt.Errorf("sim: unknown leader epoch")
	errOutOfRange   = fmt.Errorf("sim: %w", model.ErrOffsetOutOfRange)
)

// checkLeader is the leader's KIP-320 check of a follower's epoch.
func (r *replica) checkLeader(epoch int32) error {
	switch {
	case r.leader == nil:
		return errNotLeader
	case epoch < r.leaderEpoch:
		return errFenced
	case epoch > r.leaderEpoch:
		return errUnknownEpoch
	}
	return nil
}

func (r *replica) answerEpoch(currentEpoch int32, epoch model.Epoch) (replication.EpochEnd, error) {
	if err := r.checkLeader(currentEpoch); err != nil {
		return replication.EpochEnd{}, err
	}
	return replication.EndOffsetForEpoch(r.epochs, epoch, r.end()), nil
}

func (r *replica) answerFetch(from int32, epoch int32, off model.Offset) fetchResp {
	if err := r.checkLeader(epoch); err != nil {
		return fetchResp{err: err}
	}
	if off > r.end() {
		return fetchResp{err: errOutOfRange}
	}
	r.perform(r.leader.FollowerFetch(model.NodeID(from), off, r.n.nowMs()))
	hi := min(r.end(), off+maxFetchRecs)
	return fetchResp{records: slices.Clone(r.log[off:hi]), base: off, hw: r.hw}
}

// current reports whether a response belongs to the request in flight.
func (r *replica) current(leader, epoch int32, req uint64) bool {
	if r.following != leader || r.followEpoch != epoch || r.inflight != req {
		return false
	}
	r.inflight = 0
	return true
}

func (r *replica) onEpoch(leader, epoch int32, req uint64, ans replication.EpochEnd, err error) {
	if !r.current(leader, epoch, req) {
		return
	}
	if err != nil {
		r.backoffUntil = r.n.w.now + fetchBackoff
		return
	}
	r.cut(ans)
}

// cut is ReplicaFetcher.cut: truncate where TruncationOffset says.
func (r *replica) cut(ans replication.EpochEnd) {
	if r.n.w.opts.Break != BreakNoTruncate {
		if to := replication.TruncationOffset(r.epochs, r.end(), r.hw, ans); to < r.end() {
			r.truncate(to)
		}
	}
	r.truncated = true
	r.n.w.after(0, r.poll)
}

func (r *replica) onFetch(leader, epoch int32, req uint64, resp fetchResp) {
	if !r.current(leader, epoch, req) {
		return
	}
	w := r.n.w
	switch {
	case resp.err == errOutOfRange:
		r.truncated = false
		return
	case resp.err != nil:
		r.backoffUntil = w.now + fetchBackoff
		return
	}
	if len(resp.records) > 0 {
		if resp.base != r.end() {
			// AppendReplica refuses a batch that does not start at the
			// log end: truncate again.
			r.truncated = false
			r.backoffUntil = w.now + fetchBackoff
			return
		}
		for _, rec := range resp.records {
			r.appendLocal(rec)
		}
		w.tracef("n%d p%d fetched %d..%d", r.n.id, r.part, resp.base, r.end())
		w.after(0, r.poll)
	}
	r.hw = min(max(resp.hw, 0), r.end())
}

func (w *World) startClient() {
	var next uint64
	var loop func()
	loop = func() {
		if w.quiet {
			return
		}
		next++
		id := next
		part := int32(w.rng.IntN(w.opts.Partitions))
		// The client sends to the leader its metadata (some node's image)
		// names; a stale one gets NOT_LEADER.
		src := w.nodes[w.rng.IntN(len(w.nodes))]
		if t := src.ctrl.image.Topics[topicName]; t != nil && !src.down {
			if l := t.Partitions[part].Leader; l >= 0 {
				w.net.send(-1, l, fmt.Sprintf("produce p%d id%d", part, id), func(dst *node) {
					dst.reps[part].produce(id)
					dst.afterControllerStep()
				})
			}
		}
		w.after(w.jitter(5*time.Millisecond, 60*time.Millisecond), loop)
	}
	w.after(time.Second, loop)
}

func planAlterPartition(n *node, part int32, prop replication.ISRProposal) ([]controlplane.Record, int32, error) {
	rec, e, err := controlplane.PlanAlterPartition(n.ctrl.image, topicName, part, n.id, int32(prop.LeaderEpoch), prop.PartitionEpoch, model.Int32s(prop.ISR))
	if rec == nil {
		return nil, e, err
	}
	return []controlplane.Record{*rec}, e, nil
}
