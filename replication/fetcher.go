package replication

// ReplicaFetcher: Kafka's ReplicaFetcherThread, num.replica.fetchers per
// source leader node (FetcherID, runner.go). It replicates the partitions
// it is given from that leader with one Fetch per round, in an incremental
// fetch session (session.go), and truncates partitions that need it with
// one OffsetForLeaderEpoch for all of them first.
//
// A partition's life in a fetcher:
//
//	Add ──▶ truncating ──OffsetForLeaderEpoch, TruncateTo──▶ fetching
//	            ▲                                               │
//	            └── OFFSET_OUT_OF_RANGE, or an append failed ───┘
//	any other partition error (NOT_LEADER_OR_FOLLOWER, a fenced or unknown
//	leader epoch, ...): left out of the fetch (so out of the session) for
//	Backoff, then fetched again; Remove ends it.
//
// Remove waits until the round in flight no longer touches the removed
// partitions (it cancels the round and waits for its appends), so that a
// node that becomes a partition's leader never sees an append from the
// follower it was. The caller must not hold a lock that a storage append
// callback takes while it calls Remove.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

// EpochQuery is one partition of an OffsetForLeaderEpoch request.
type EpochQuery struct {
	TP                 model.TopicPartition
	TopicID            [16]byte
	CurrentLeaderEpoch model.Epoch
	Epoch              model.Epoch // the follower's latest
}

// EpochAnswer is the leader's answer for one EpochQuery; Err wraps the
// model sentinels (model.ErrNotLeader for a partition it cannot answer).
type EpochAnswer struct {
	EpochEnd
	Err error
}

// PartitionData is one partition of a Fetch response.
type PartitionData struct {
	TP             model.TopicPartition
	Err            error  // model.ErrOffsetOutOfRange: truncate again; others: back off
	Records        []byte // whole batches from the fetch offset; may be empty
	HighWatermark  model.Offset
	LogStartOffset model.Offset
}

// FetchResponse is a Fetch answer: a top-level error code (the session
// errors), the session id, and the partitions it carries.
type FetchResponse struct {
	ErrorCode  int16
	SessionID  int32
	Partitions []PartitionData
}

// SessionLeader is a leader node as its ReplicaFetcher sees it. In the
// daemon: Kafka OffsetForLeaderEpoch and Fetch requests with replica_id
// (replica_state) set to this node; in tests a fake in front of real
// storage partitions. A returned error is a failed round trip.
type SessionLeader interface {
	OffsetsForLeaderEpoch(ctx context.Context, qs []EpochQuery) (map[model.TopicPartition]EpochAnswer, error)
	Fetch(ctx context.Context, req SessionRequest, responseMaxBytes int32) (FetchResponse, error)
}

// Followed is a partition handed to a ReplicaFetcher.
type Followed struct {
	TP          model.TopicPartition
	TopicID     [16]byte
	Local       *storage.Partition // in external-HW mode
	LeaderEpoch model.Epoch        // the epoch of the leader being followed
}

// ErrIdle is Step's answer when no partition can be fetched now (none
// added, or all backing off): the caller waits for Wake or a backoff.
var ErrIdle = errors.New("replication: nothing to fetch")

// ErrSessionReset wraps a session error from the leader
// (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, ...): the next
// Step sends a full fetch at once.
var ErrSessionReset = errors.New("replication: fetch session reset")

// FetcherConfig is a ReplicaFetcher's settings.
type FetcherConfig struct {
	MaxBytes         int32         // per partition, replica.fetch.max.bytes; <= 0: 1 MiB
	ResponseMaxBytes int32         // replica.fetch.response.max.bytes; <= 0: 10 MiB
	Backoff          time.Duration // a failed partition sits out this long; <= 0: 1 s
	NoSessions       bool          // full requests with session epoch -1
}

type fetchPart struct {
	Followed
	// Step's own (one Step at a time):
	truncated  bool
	delayUntil time.Time
	leaderHW   model.Offset // last high watermark the leader sent; -1 none
	hwSet      model.Offset // last one given to Local.SetHighWatermark
	// under ReplicaFetcher.mu:
	removed bool
}

// ReplicaFetcher fetches a set of partitions from one leader. Add, Remove
// and Len are safe from any goroutine; Step runs on one goroutine at a
// time.
type ReplicaFetcher struct {
	leader SessionLeader
	cfg    FetcherConfig
	sess   FetchSession // Step's own

	mu struct {
		sync.Mutex
		parts  map[model.TopicPartition]*fetchPart
		order  []model.TopicPartition // fetch order; partitions that got records move last
		cancel context.CancelFunc     // the round in flight
		done   chan struct{}          // closed when it ends
		// poll is where the round is: in a Fetch that may be cancelled
		// (Add cancels it so that new partitions do not wait for the
		// leader's long poll), or in one that opens a session (never
		// cancelled: the leader would keep a session whose id the
		// follower never learns).
		poll pollState
	}
	wake chan struct{}
}

// NewReplicaFetcher returns a fetcher of no partitions from leader.
func NewReplicaFetcher(leader SessionLeader, cfg FetcherConfig) *ReplicaFetcher {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.ResponseMaxBytes <= 0 {
		cfg.ResponseMaxBytes = 10 << 20
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	f := &ReplicaFetcher{leader: leader, cfg: cfg, wake: make(chan struct{}, 1)}
	f.sess.Disabled = cfg.NoSessions
	f.mu.parts = map[model.TopicPartition]*fetchPart{}
	return f
}

// Add starts fetching ps (each truncates first). A partition already
// present is replaced. A round waiting in an incremental Fetch is
// cancelled (not waited for), so that the new partitions go out at once
// rather than after the leader's long poll; add many partitions in one
// call. (The leader still serves the cancelled request, which moves the
// session on; the next, full, request names the session and so closes it.)
func (f *ReplicaFetcher) Add(ps ...Followed) {
	f.mu.Lock()
	for _, p := range ps {
		if old, ok := f.mu.parts[p.TP]; ok {
			old.removed = true
		} else {
			f.mu.order = append(f.mu.order, p.TP)
		}
		f.mu.parts[p.TP] = &fetchPart{Followed: p, leaderHW: -1, hwSet: -1}
	}
	if f.mu.poll == pollCancellable && len(ps) > 0 {
		f.mu.cancel()
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Remove stops fetching tps and returns once the round in flight, if any,
// is over (cancelled, unless it is opening a session): nothing of it
// touches them afterwards.
func (f *ReplicaFetcher) Remove(tps ...model.TopicPartition) {
	f.mu.Lock()
	gone := map[model.TopicPartition]bool{}
	for _, tp := range tps {
		if p, ok := f.mu.parts[tp]; ok {
			p.removed = true
			delete(f.mu.parts, tp)
			gone[tp] = true
		}
	}
	if len(gone) > 0 {
		f.mu.order = slices.DeleteFunc(f.mu.order, func(tp model.TopicPartition) bool { return gone[tp] })
	}
	cancel, done, poll := f.mu.cancel, f.mu.done, f.mu.poll
	f.mu.Unlock()
	if len(gone) > 0 && cancel != nil {
		if poll != pollOpening {
			cancel()
		}
		<-done
	}
}

// Len is the number of partitions fetched.
func (f *ReplicaFetcher) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.mu.parts)
}

// Wake is signalled when partitions are added (for a caller waiting after
// ErrIdle; Run waits on it).
func (f *ReplicaFetcher) Wake() <-chan struct{} { return f.wake }

// Session is the fetch session's id and the next request's epoch (for
// logs and tests).
func (f *ReplicaFetcher) Session() (id, epoch int32) { return f.sess.ID(), f.sess.Epoch() }

// CloseSession forgets the session and returns the request that closes it
// on the leader, for the caller to send (best effort) once it has stopped
// calling Step; ok is false when there is no session.
func (f *ReplicaFetcher) CloseSession() (SessionRequest, bool) { return f.sess.Close() }

// pollState is where a round stands with its Fetch.
type pollState uint8

const (
	pollNone        pollState = iota
	pollCancellable           // an incremental or sessionless Fetch
	pollOpening               // a full Fetch that opens a session
)

func (f *ReplicaFetcher) setPoll(s pollState) {
	f.mu.Lock()
	f.mu.poll = s
	f.mu.Unlock()
}

func (f *ReplicaFetcher) isRemoved(p *fetchPart) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return p.removed
}

// Step does one round at now: truncation for the partitions that need it,
// then one Fetch for every partition not backing off, the appends of what
// came (waited for), and the leader's high watermarks. appended is the
// record bytes written. ErrIdle: nothing to fetch; ErrSessionReset: the
// leader refused the session (retry at once); another error is a failed
// round trip (back off).
func (f *ReplicaFetcher) Step(ctx context.Context, now time.Time) (appended int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	f.mu.Lock()
	f.mu.cancel, f.mu.done = cancel, make(chan struct{})
	parts := make([]*fetchPart, 0, len(f.mu.order))
	for _, tp := range f.mu.order {
		parts = append(parts, f.mu.parts[tp])
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		close(f.mu.done)
		f.mu.cancel, f.mu.done = nil, nil
		f.mu.Unlock()
		cancel()
	}()

	var trunc []*fetchPart
	for _, p := range parts {
		if !p.truncated && !now.Before(p.delayUntil) {
			trunc = append(trunc, p)
		}
	}
	if len(trunc) > 0 {
		if err := f.truncate(ctx, now, trunc); err != nil {
			return 0, err
		}
	}
	var want []*fetchPart
	var fetches []PartitionFetch
	for _, p := range parts {
		if !p.truncated || now.Before(p.delayUntil) || f.isRemoved(p) {
			continue
		}
		_, _, end := p.Local.Offsets()
		want = append(want, p)
		fetches = append(fetches, PartitionFetch{TP: p.TP, TopicID: p.TopicID, CurrentLeaderEpoch: p.LeaderEpoch,
			FetchOffset: end, LogStartOffset: -1, MaxBytes: f.cfg.MaxBytes})
	}
	if len(want) == 0 {
		return 0, ErrIdle
	}
	req := f.sess.Build(fetches)
	if req.Full && req.SessionEpoch != sessionFinalEpoch {
		f.setPoll(pollOpening)
	} else {
		f.setPoll(pollCancellable)
	}
	resp, err := f.leader.Fetch(ctx, req, f.cfg.ResponseMaxBytes)
	f.setPoll(pollNone)
	if err != nil {
		f.sess.Failed(0)
		return 0, fmt.Errorf("replication: fetch of %d partitions: %w", len(want), err)
	}
	if resp.ErrorCode != 0 {
		f.sess.Failed(resp.ErrorCode)
		return 0, fmt.Errorf("%w: session %d epoch %d: error code %d", ErrSessionReset, req.SessionID, req.SessionEpoch, resp.ErrorCode)
	}
	f.sess.Succeeded(req, resp.SessionID)
	return f.apply(now, want, resp.Partitions)
}

// apply appends what a Fetch brought and copies the leader's high
// watermarks; it waits for every append it starts.
func (f *ReplicaFetcher) apply(now time.Time, want []*fetchPart, data []PartitionData) (appended int, err error) {
	byTP := make(map[model.TopicPartition]*fetchPart, len(want))
	for _, p := range want {
		byTP[p.TP] = p
	}
	type pending struct {
		p   *fetchPart
		n   int
		res storage.AppendResult
	}
	var (
		touched []*fetchPart
		appends []*pending
		wg      sync.WaitGroup
	)
	for _, d := range data {
		p := byTP[d.TP]
		if p == nil || f.isRemoved(p) {
			continue
		}
		if d.Err != nil {
			if errors.Is(d.Err, model.ErrOffsetOutOfRange) {
				p.truncated = false
			} else {
				p.delayUntil = now.Add(f.cfg.Backoff)
			}
			continue
		}
		p.leaderHW = d.HighWatermark
		if len(d.Records) > 0 || p.leaderHW != p.hwSet {
			touched = append(touched, p)
		}
		if len(d.Records) > 0 {
			a := &pending{p: p, n: len(d.Records)}
			appends = append(appends, a)
			wg.Add(1)
			p.Local.AppendReplica(d.Records, func(r storage.AppendResult) { a.res = r; wg.Done() })
		}
	}
	// Local appends always answer; waiting for them (not for ctx) keeps
	// a removed partition untouched once Remove returns.
	wg.Wait()
	var firstErr error
	var moved []model.TopicPartition
	for _, a := range appends {
		if a.res.Err != nil {
			a.p.truncated = false
			a.p.delayUntil = now.Add(f.cfg.Backoff)
			if firstErr == nil {
				firstErr = fmt.Errorf("replication: %s: append: %w", a.p.TP, a.res.Err)
			}
			continue
		}
		appended += a.n
		moved = append(moved, a.p.TP)
	}
	for _, p := range touched {
		if p.truncated && !f.isRemoved(p) {
			if _, err := p.Local.SetHighWatermark(p.leaderHW); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			p.hwSet = p.leaderHW
		}
	}
	if len(moved) > 0 {
		f.moveLast(moved)
	}
	return appended, firstErr
}

// moveLast puts tps at the end of the fetch order, as Kafka's fetcher
// does, so that a full fetch's byte budget is not always spent on the same
// partitions.
func (f *ReplicaFetcher) moveLast(tps []model.TopicPartition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := make(map[model.TopicPartition]bool, len(tps))
	for _, tp := range tps {
		if f.mu.parts[tp] != nil {
			in[tp] = true
		}
	}
	f.mu.order = slices.DeleteFunc(f.mu.order, func(tp model.TopicPartition) bool { return in[tp] })
	for _, tp := range tps {
		if in[tp] {
			f.mu.order = append(f.mu.order, tp)
		}
	}
}

// truncate runs one OffsetForLeaderEpoch for ps and cuts their logs; a
// partition the leader cannot answer for backs off.
func (f *ReplicaFetcher) truncate(ctx context.Context, now time.Time, ps []*fetchPart) error {
	var qs []EpochQuery
	asked := map[model.TopicPartition]*fetchPart{}
	locals := map[model.TopicPartition][]storage.EpochStart{}
	for _, p := range ps {
		local, err := p.Local.LeaderEpochs()
		if err != nil {
			p.delayUntil = now.Add(f.cfg.Backoff)
			continue
		}
		epoch, ok := LatestEpoch(local)
		if !ok {
			// No epochs: nothing to ask; cut to the high watermark.
			f.cut(p, local, EpochEnd{Epoch: storage.UndefinedEpoch, EndOffset: storage.UndefinedOffset}, now)
			continue
		}
		locals[p.TP] = local
		asked[p.TP] = p
		qs = append(qs, EpochQuery{TP: p.TP, TopicID: p.TopicID, CurrentLeaderEpoch: p.LeaderEpoch, Epoch: epoch})
	}
	if len(qs) == 0 {
		return nil
	}
	ans, err := f.leader.OffsetsForLeaderEpoch(ctx, qs)
	if err != nil {
		for _, p := range asked {
			p.delayUntil = now.Add(f.cfg.Backoff)
		}
		return fmt.Errorf("replication: offset for leader epoch of %d partitions: %w", len(qs), err)
	}
	for tp, p := range asked {
		a, ok := ans[tp]
		if !ok || a.Err != nil {
			p.delayUntil = now.Add(f.cfg.Backoff)
			continue
		}
		f.cut(p, locals[tp], a.EpochEnd, now)
	}
	return nil
}

// cut truncates p's log where TruncationOffset says, and marks it
// fetching.
func (f *ReplicaFetcher) cut(p *fetchPart, local []storage.EpochStart, leader EpochEnd, now time.Time) {
	if f.isRemoved(p) {
		return
	}
	_, hw, end := p.Local.Offsets()
	if to := TruncationOffset(local, end, hw, leader); to < end {
		if err := p.Local.TruncateTo(to); err != nil {
			p.delayUntil = now.Add(f.cfg.Backoff)
			return
		}
	}
	p.truncated = true
}
