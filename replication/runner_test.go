// Run loop tests over a fake transport and a fake clock: a follower parked
// in the leader's long poll gets an append at once (the fake clock never
// moves, so a follower that polled on a timer would never see it), an idle
// fetcher waits for Add rather than polling, a failed round trip backs off
// on the clock, and an Add cuts a parked round short. Also: the Notifier's
// broadcast and FetcherID's split.
package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/testkit"
)

// fakeClock only moves when Advance is called; After's channels fire
// then. waiting receives d whenever Run starts a wait.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	waiting chan time.Duration
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1000, 0), waiting: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.waiting <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// pollLeader is fakeLeader with the kafka Fetch handler's long poll: a
// Fetch in which no partition has records past its fetch offset parks
// until an append (end.Notify), the fake clock's max wait, or ctx. It
// tracks each session partition's fetch offset from the requests (an
// incremental request names only those that moved).
type pollLeader struct {
	mu      sync.Mutex // over fl and its Leaders
	fl      *fakeLeader
	clk     *fakeClock
	maxWait time.Duration
	end     Notifier
	offsets map[model.TopicPartition]model.Offset
	fetches int
	parked  chan struct{}
	failing bool // every Fetch fails
}

func newPollLeader(fl *fakeLeader, clk *fakeClock) *pollLeader {
	return &pollLeader{fl: fl, clk: clk, maxWait: 500 * time.Millisecond, offsets: map[model.TopicPartition]model.Offset{},
		parked: make(chan struct{}, 100)}
}

func (p *pollLeader) OffsetsForLeaderEpoch(ctx context.Context, qs []EpochQuery) (map[model.TopicPartition]EpochAnswer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fl.OffsetsForLeaderEpoch(ctx, qs)
}

// ready reports whether some session partition has records past its
// fetch offset.
func (p *pollLeader) ready() bool {
	for tp, off := range p.offsets {
		if lp := p.fl.parts[tp]; lp != nil {
			if _, _, end := lp.part.Offsets(); end > off {
				return true
			}
		}
	}
	return false
}

func (p *pollLeader) Fetch(ctx context.Context, req SessionRequest, maxBytes int32) (FetchResponse, error) {
	p.mu.Lock()
	p.fetches++
	if p.failing {
		p.mu.Unlock()
		return FetchResponse{}, errors.New("connection refused")
	}
	if req.Full {
		clear(p.offsets)
	}
	for _, f := range req.Partitions {
		p.offsets[f.TP] = f.FetchOffset
	}
	for _, f := range req.Forgotten {
		delete(p.offsets, f.TP)
	}
	// As the kafka handler's first fill does, the leader learns every
	// session partition's fetch offset before it parks.
	for tp, off := range p.offsets {
		if lp := p.fl.parts[tp]; lp != nil {
			p.fl.perform(lp, lp.l.FollowerFetch(p.fl.follow, off, p.fl.nowMs))
		}
	}
	// The first answer of a session is at once (it carries the high
	// watermarks); later ones wait, as min_bytes = 1 does.
	first := req.Full
	wake := p.end.Wait()
	ready := p.ready()
	p.mu.Unlock()
	if !first && !ready {
		timeout := p.clk.After(p.maxWait)
		p.parked <- struct{}{}
		select {
		case <-wake:
		case <-timeout:
		case <-ctx.Done():
			return FetchResponse{}, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fl.Fetch(ctx, req, maxBytes)
}

// appendLeader appends a batch on the leader of tp and tells the Leader
// and the parked fetches; it returns the new log end.
func (p *pollLeader) appendLeader(t *testing.T, tp model.TopicPartition) model.Offset {
	t.Helper()
	p.mu.Lock()
	lp := p.fl.parts[tp]
	appendAs(t, lp.part, 1, testBatch(2, 'n'))
	_, _, end := lp.part.Offsets()
	p.fl.perform(lp, lp.l.LeaderAppended(end, p.fl.nowMs))
	p.mu.Unlock()
	p.end.Notify()
	return end
}

func (p *pollLeader) highWatermark(tp model.TopicPartition) model.Offset {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fl.parts[tp].l.HighWatermark()
}

func (p *pollLeader) fetchCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
}

// within fails t unless cond holds before a real-time deadline.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, what, cond)
}

func waitParked(t *testing.T, p *pollLeader) {
	t.Helper()
	select {
	case <-p.parked:
	case <-time.After(10 * time.Second):
		t.Fatal("the fetcher never parked in the leader's long poll")
	}
}

func startRun(t *testing.T, f *ReplicaFetcher, clk Clock) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx, clk, nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// An append wakes the follower parked in the long poll: the follower
// replicates it and its next fetch moves the leader's high watermark
// (what an acks=all produce waits for) without the clock moving at all.
func TestRunWakesOnAppend(t *testing.T) {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineSync})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	tps := []model.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}}
	leaderLogs, followerLogs := openParts(t, rt, tps), openParts(t, rt, tps)
	clk := newFakeClock()
	fl := newFakeLeader(t, 2)
	for i, tp := range tps {
		fl.lead(tp, leaderLogs[i], NewLeader(LeaderConfig{MinInsyncReplicas: 2, ReplicaLagTimeMaxMs: 30000},
			LeaderState{Self: 1, LeaderEpoch: 1, Replicas: []model.NodeID{1, 2}, ISR: []model.NodeID{1, 2}}, 0))
	}
	pl := newPollLeader(fl, clk)
	f := NewReplicaFetcher(pl, FetcherConfig{Backoff: time.Second})
	f.Add(Followed{TP: tps[0], Local: followerLogs[0], LeaderEpoch: 1}, Followed{TP: tps[1], Local: followerLogs[1], LeaderEpoch: 1})
	startRun(t, f, clk)

	for round := 0; round < 3; round++ {
		waitParked(t, pl)
		tp := tps[round%2]
		end := pl.appendLeader(t, tp)
		within(t, fmt.Sprintf("round %d: follower log end %d and leader high watermark", round, end), func() bool {
			_, _, got := followerLogs[round%2].Offsets()
			return got == end && pl.highWatermark(tp) == end
		})
	}
	if now := clk.Now(); !now.Equal(time.Unix(1000, 0)) {
		t.Fatalf("the clock moved to %v", now)
	}
	// Idle: the follower is parked, and the leader's max wait (the clock)
	// ends the round with nothing; the next one parks again.
	waitParked(t, pl)
	n := pl.fetchCount()
	clk.Advance(pl.maxWait)
	waitParked(t, pl)
	if got := pl.fetchCount(); got != n+1 {
		t.Fatalf("%d fetches after one max wait, want 1", got-n)
	}
}

// An idle fetcher waits for Add, not for a timer; a failed round trip
// waits Backoff on the clock before the next one.
func TestRunIdleWaitsForAddAndBacksOffOnError(t *testing.T) {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineSync})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	tp := model.TopicPartition{Topic: "t", Partition: 0}
	leaderLogs, followerLogs := openParts(t, rt, []model.TopicPartition{tp}), openParts(t, rt, []model.TopicPartition{tp})
	clk := newFakeClock()
	fl := newFakeLeader(t, 2)
	fl.lead(tp, leaderLogs[0], NewLeader(LeaderConfig{MinInsyncReplicas: 1},
		LeaderState{Self: 1, LeaderEpoch: 1, Replicas: []model.NodeID{1, 2}, ISR: []model.NodeID{1, 2}}, 0))
	pl := newPollLeader(fl, clk)
	f := NewReplicaFetcher(pl, FetcherConfig{Backoff: 200 * time.Millisecond})
	startRun(t, f, clk)

	// Nothing to fetch: Run waits (on Wake, with Backoff as a bound).
	if d := <-clk.waiting; d != 200*time.Millisecond {
		t.Fatalf("idle wait %v", d)
	}
	if pl.fetchCount() != 0 {
		t.Fatal("fetched with nothing to fetch")
	}
	// Add wakes it with no clock movement.
	pl.mu.Lock()
	pl.failing = true
	pl.mu.Unlock()
	f.Add(Followed{TP: tp, Local: followerLogs[0], LeaderEpoch: 1})
	within(t, "a fetch after Add", func() bool { return pl.fetchCount() == 1 })
	// The round trip failed: Run backs off for Backoff on the clock.
	for d := range clk.waiting {
		if d == 200*time.Millisecond {
			break
		}
	}
	if pl.fetchCount() != 1 {
		t.Fatalf("%d fetches before the backoff ended", pl.fetchCount())
	}
	pl.mu.Lock()
	pl.failing = false
	pl.mu.Unlock()
	clk.Advance(200 * time.Millisecond)
	within(t, "the fetch after the backoff", func() bool { return pl.fetchCount() >= 2 })
	waitParked(t, pl)
}

// A round parked in the long poll is cut short by Add: the new partition
// is fetched (and replicates) without waiting for the leader's max wait.
func TestRunAddCutsLongPollShort(t *testing.T) {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineSync})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	tps := []model.TopicPartition{{Topic: "a", Partition: 0}, {Topic: "b", Partition: 0}}
	leaderLogs, followerLogs := openParts(t, rt, tps), openParts(t, rt, tps)
	clk := newFakeClock()
	fl := newFakeLeader(t, 2)
	for i, tp := range tps {
		fl.lead(tp, leaderLogs[i], NewLeader(LeaderConfig{MinInsyncReplicas: 1},
			LeaderState{Self: 1, LeaderEpoch: 1, Replicas: []model.NodeID{1, 2}, ISR: []model.NodeID{1, 2}}, 0))
	}
	appendAs(t, leaderLogs[1], 1, testBatch(3, 'b'))
	pl := newPollLeader(fl, clk)
	f := NewReplicaFetcher(pl, FetcherConfig{Backoff: time.Second})
	f.Add(Followed{TP: tps[0], Local: followerLogs[0], LeaderEpoch: 1})
	startRun(t, f, clk)
	waitParked(t, pl)
	f.Add(Followed{TP: tps[1], Local: followerLogs[1], LeaderEpoch: 1})
	within(t, "partition b replicated", func() bool {
		_, _, end := followerLogs[1].Offsets()
		return end == 3
	})
	if now := clk.Now(); !now.Equal(time.Unix(1000, 0)) {
		t.Fatalf("the clock moved to %v", now)
	}
}

func TestNotifier(t *testing.T) {
	var n Notifier
	n.Notify() // nobody waits: nothing to close
	a := n.Wait()
	b := n.Wait()
	select {
	case <-a:
		t.Fatal("closed before Notify")
	default:
	}
	n.Notify()
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("a waiter was not woken")
		}
	}
	c := n.Wait()
	select {
	case <-c:
		t.Fatal("a channel taken after Notify is already closed")
	default:
	}
	// Concurrent Wait and Notify: every channel taken before a Notify
	// closes.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				ch := n.Wait()
				n.Notify()
				<-ch
			}
		}()
	}
	wg.Wait()
}

func TestFetcherID(t *testing.T) {
	// Kafka's values: "a".hashCode() = 97, so 31*97 + p; "hello world"
	// hashes to 1794106052, and 31 times it wraps to -217287236.
	for _, tt := range []struct {
		tp   model.TopicPartition
		n    int
		want int
	}{
		{model.TopicPartition{Topic: "a", Partition: 0}, 3, 3007 % 3},
		{model.TopicPartition{Topic: "a", Partition: 5}, 4, 3012 % 4},
		{model.TopicPartition{Topic: "hello world", Partition: 0}, 7, 217287236 % 7},
		{model.TopicPartition{Topic: "anything", Partition: 9}, 1, 0},
	} {
		if got := FetcherID(tt.tp, tt.n); got != tt.want {
			t.Errorf("FetcherID(%s, %d) = %d, want %d", tt.tp, tt.n, got, tt.want)
		}
	}
	// Partitions of one topic spread over every fetcher.
	seen := map[int]int{}
	for p := int32(0); p < 64; p++ {
		seen[FetcherID(model.TopicPartition{Topic: "orders", Partition: p}, 4)]++
	}
	if len(seen) != 4 {
		t.Fatalf("split %v", seen)
	}
}
