// LeaderReplica tests over a fake store and a fake clock: an acks=all
// answer waits for the followers and then for the high watermark to be
// published; the ISR shrinks on lag (the controller's refusal lets the
// leader propose again; the committed ISR lets the high watermark move
// without the laggard) and expands on catch-up; Close fails waiters, keeps
// held successes and wakes parked fetches; appends wake them too.
package replication

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

// fakeStore is an HWStore whose SetHighWatermark can be held (gate) to
// observe what waits for it.
type fakeStore struct {
	mu    sync.Mutex
	hw    model.Offset
	sets  []model.Offset
	gate  chan struct{} // nil: answer at once
	calls chan model.Offset
}

func newFakeStore() *fakeStore { return &fakeStore{calls: make(chan model.Offset, 100)} }

func (s *fakeStore) SetHighWatermark(hw model.Offset) (model.Offset, error) {
	s.calls <- hw
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hw = hw
	s.sets = append(s.sets, hw)
	return hw, nil
}

func (s *fakeStore) published() model.Offset {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hw
}

// replicaRig is a LeaderReplica of node 1 with followers 2 and 3, its
// Run goroutine, a fake clock (ms) and the proposals it made.
type replicaRig struct {
	t     *testing.T
	lr    *LeaderReplica
	store *fakeStore
	mu    sync.Mutex
	now   int64
	props chan ISRProposal
}

// newReplicaRig runs the replica on pub's goroutines, or with no pub on
// its own Run goroutine.
func newReplicaRig(t *testing.T, minISR int, pub ...*Publisher) *replicaRig {
	rg := &replicaRig{t: t, store: newFakeStore(), props: make(chan ISRProposal, 10), now: 1}
	l := NewLeader(LeaderConfig{MinInsyncReplicas: minISR, ReplicaLagTimeMaxMs: 30_000},
		LeaderState{Self: 1, LeaderEpoch: 3, PartitionEpoch: 5, Replicas: []model.NodeID{1, 2, 3}, ISR: []model.NodeID{1, 2, 3}}, 1)
	cfg := LeaderReplicaConfig{TP: model.TopicPartition{Topic: "t", Partition: 0}, Store: rg.store,
		Propose: func(p ISRProposal) { rg.props <- p }, NowMs: rg.clock}
	if len(pub) > 0 {
		cfg.Publisher = pub[0]
	}
	rg.lr = NewLeaderReplica(cfg, l, 0)
	done := make(chan struct{})
	if cfg.Publisher != nil {
		close(done)
	} else {
		go func() {
			defer close(done)
			rg.lr.Run()
		}()
	}
	t.Cleanup(func() {
		rg.lr.Close(model.ErrNotLeader)
		<-done
	})
	return rg
}

func (rg *replicaRig) clock() int64 {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.now
}

func (rg *replicaRig) at(ms int64) {
	rg.mu.Lock()
	rg.now = ms
	rg.mu.Unlock()
}

func (rg *replicaRig) proposal() ISRProposal {
	rg.t.Helper()
	select {
	case p := <-rg.props:
		return p
	case <-time.After(10 * time.Second):
		rg.t.Fatal("no ISR proposal")
	}
	return ISRProposal{}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func TestLeaderReplicaAcksAllWaitsForFollowersThenPublish(t *testing.T) {
	testAcksAll(t, newReplicaRig(t, 2))
}

// The same on a Publisher shared with other replicas (2 workers, 3
// replicas: the other two keep it busy).
func TestLeaderReplicaOnPublisher(t *testing.T) {
	pub := NewPublisher(2)
	t.Cleanup(pub.Close)
	others := []*replicaRig{newReplicaRig(t, 1, pub), newReplicaRig(t, 1, pub)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, o := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := model.Offset(1); ; off++ {
				select {
				case <-stop:
					return
				default:
				}
				o.lr.Appended(off)
				o.lr.FollowerFetch(2, off)
				o.lr.FollowerFetch(3, off)
				<-o.store.calls
			}
		}()
	}
	testAcksAll(t, newReplicaRig(t, 2, pub))
	close(stop)
	wg.Wait()
}

func testAcksAll(t *testing.T, rg *replicaRig) {
	lr := rg.lr
	if err := lr.CheckAppend(); err != nil {
		t.Fatal(err)
	}
	lr.Appended(10)
	acked := make(chan error, 1)
	lr.Await(9, time.UnixMilli(60_000), func(err error) { acked <- err })
	// One follower is not enough with an ISR of three (all must fetch).
	lr.FollowerFetch(2, 10)
	select {
	case err := <-acked:
		t.Fatalf("acknowledged with follower 3 behind: %v", err)
	default:
	}
	// Both followers have it: the high watermark moves to 10, and the
	// answer waits until the store has published it.
	rg.store.mu.Lock()
	rg.store.gate = make(chan struct{})
	rg.store.mu.Unlock()
	lr.FollowerFetch(3, 10)
	if hw := recv(t, rg.store.calls, "the high watermark published"); hw != 10 {
		t.Fatalf("published %d, want 10", hw)
	}
	select {
	case err := <-acked:
		t.Fatalf("acknowledged before the high watermark was published: %v", err)
	default:
	}
	close(rg.store.gate)
	if err := recv(t, acked, "the acks=all answer"); err != nil {
		t.Fatal(err)
	}
	if rg.store.published() != 10 {
		t.Fatalf("store at %d", rg.store.published())
	}
	// Already covered: answered at once.
	lr.Await(5, time.UnixMilli(60_000), func(err error) { acked <- err })
	if err := recv(t, acked, "an answer below the high watermark"); err != nil {
		t.Fatal(err)
	}
	// A deadline passes on the clock: the waiter fails.
	lr.Appended(20)
	lr.Await(19, time.UnixMilli(5_000), func(err error) { acked <- err })
	rg.at(5_000)
	lr.Tick()
	if err := recv(t, acked, "the deadline"); err == nil {
		t.Fatal("no error past the deadline")
	}
}

func TestLeaderReplicaISRShrinkAndExpand(t *testing.T) {
	rg := newReplicaRig(t, 2)
	lr := rg.lr
	lr.Appended(10)
	rg.at(1_000)
	lr.FollowerFetch(2, 10)
	lr.FollowerFetch(3, 10)
	recv(t, rg.store.calls, "high watermark 10")
	// Follower 3 stops fetching; 2 keeps up. After replica.lag.time.max.ms
	// on the clock the leader proposes 3 out.
	lr.Appended(20)
	rg.at(2_000)
	lr.FollowerFetch(2, 20)
	rg.at(30_000)
	lr.Tick()
	select {
	case p := <-rg.props:
		t.Fatalf("proposed %v before the lag time", p)
	default:
	}
	rg.at(31_001)
	lr.Tick()
	p := rg.proposal()
	if !slices.Equal(p.ISR, []model.NodeID{1, 2}) || p.PartitionEpoch != 5 || p.LeaderEpoch != 3 {
		t.Fatalf("proposal %+v", p)
	}
	// The controller refuses: the leader may propose again.
	lr.ProposalRefused(p)
	rg.at(32_000)
	lr.Tick()
	p = rg.proposal()
	// Until the controller commits the shrink, 3 still holds the high
	// watermark back; the committed ISR lets it move.
	acked := make(chan error, 1)
	lr.Await(19, time.UnixMilli(100_000), func(err error) { acked <- err })
	select {
	case err := <-acked:
		t.Fatalf("answered with the shrink uncommitted: %v", err)
	default:
	}
	lr.Committed([]model.NodeID{1, 2}, 6)
	if err := recv(t, acked, "the answer after the shrink"); err != nil {
		t.Fatal(err)
	}
	// 3 comes back and catches up to the high watermark: proposed in.
	rg.at(40_000)
	lr.FollowerFetch(3, 15)
	lr.FollowerFetch(3, 20)
	p = rg.proposal()
	if !slices.Equal(p.ISR, []model.NodeID{1, 2, 3}) || p.PartitionEpoch != 6 {
		t.Fatalf("expand proposal %+v", p)
	}
	lr.Committed([]model.NodeID{1, 2, 3}, 7)
	if err := lr.CheckAppend(); err != nil {
		t.Fatal(err)
	}
	// With min.insync.replicas 2, an ISR of one refuses acks=all.
	lr.Committed([]model.NodeID{1}, 8)
	if err := lr.CheckAppend(); !errors.Is(err, model.ErrNotEnoughReplicas) {
		t.Fatalf("CheckAppend with ISR [1]: %v", err)
	}
}

func TestLeaderReplicaCloseAndWake(t *testing.T) {
	rg := newReplicaRig(t, 1)
	lr := rg.lr
	wake := lr.FollowerChanged()
	lr.Appended(5)
	select {
	case <-wake:
	default:
		t.Fatal("an append did not wake the parked replica fetches")
	}
	// One answer held for the publish (gated), one waiting on followers.
	rg.store.mu.Lock()
	rg.store.gate = make(chan struct{})
	rg.store.mu.Unlock()
	held, waiting := make(chan error, 1), make(chan error, 1)
	lr.Await(4, time.UnixMilli(100_000), func(err error) { held <- err })
	lr.FollowerFetch(2, 5)
	lr.FollowerFetch(3, 5)
	recv(t, rg.store.calls, "the publish")
	lr.Appended(9)
	lr.Await(8, time.UnixMilli(100_000), func(err error) { waiting <- err })
	wake = lr.FollowerChanged()
	lr.Close(model.ErrNotLeader)
	close(rg.store.gate)
	if err := recv(t, held, "the held answer"); err != nil {
		t.Fatalf("held answer after Close: %v (it is committed)", err)
	}
	if err := recv(t, waiting, "the waiting answer"); !errors.Is(err, model.ErrNotLeader) {
		t.Fatalf("waiting answer after Close: %v", err)
	}
	select {
	case <-wake:
	default:
		t.Fatal("Close did not wake the parked replica fetches")
	}
	if err := lr.CheckAppend(); !errors.Is(err, model.ErrNotLeader) {
		t.Fatalf("CheckAppend after Close: %v", err)
	}
	lr.Await(9, time.UnixMilli(100_000), func(err error) { waiting <- err })
	if err := recv(t, waiting, "an Await after Close"); !errors.Is(err, model.ErrNotLeader) {
		t.Fatalf("Await after Close: %v", err)
	}
}
