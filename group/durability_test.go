// These tests prove that memory never runs ahead of __consumer_offsets:
// a commit, offset deletion, group deletion or SyncGroup assignment is
// visible only once its append is durable; a failed append leaves memory
// as it was and answers Kafka's error (NOT_COORDINATOR for a storage
// error); and appends in flight apply in log order, whatever order the
// log reports them in, so the later commit of a partition wins.
package group

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

var errDiskFull = fmt.Errorf("%w: no space left on device", model.ErrStorage)

// commitResult is the answer to a CommitOffsets, when it came.
type commitResult struct {
	top  error
	errs []error
}

func (f *fixture) commitAsync(req CommitRequest) chan commitResult {
	ch := make(chan commitResult, 1)
	f.c.CommitOffsets(f.now, req, func(top error, errs []error) { ch <- commitResult{top, errs} })
	return ch
}

func (f *fixture) commit(req CommitRequest) error {
	f.t.Helper()
	select {
	case r := <-f.commitAsync(req):
		if r.top != nil {
			return r.top
		}
		for _, e := range r.errs {
			if e != nil {
				return e
			}
		}
		return nil
	default:
		f.t.Fatal("commit not answered")
		return nil
	}
}

func (f *fixture) logOf(group string) *memLog { return f.logs[PartitionFor(group, 4)] }

func (f *fixture) offsetOf(group string, tp model.TopicPartition) (int64, bool) {
	f.t.Helper()
	got, err := f.c.FetchOffsets(group)
	if err != nil {
		f.t.Fatal(err)
	}
	o, ok := got[tp]
	return o.Offset, ok
}

// reload replays the fixture's logs into a new coordinator: what a
// restart would see.
func (f *fixture) reload() *Coordinator {
	f.t.Helper()
	c := New(f.c.cfg)
	for p, l := range f.logs {
		if err := c.Load(p, l, f.now); err != nil {
			f.t.Fatal(err)
		}
	}
	return c
}

func wait[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10s")
		panic("unreachable")
	}
}

var tp0 = model.TopicPartition{Topic: "t", Partition: 0}

func simpleCommit(group string, offset int64) CommitRequest {
	return CommitRequest{Group: group, Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: offset, LeaderEpoch: -1}}}
}

func TestFailedCommitKeepsPreviousOffset(t *testing.T) {
	f := newFixture(t, nil)
	l := f.logOf("g")
	if err := f.commit(simpleCommit("g", 5)); err != nil {
		t.Fatal(err)
	}
	l.fail = errDiskFull
	err := f.commit(simpleCommit("g", 9))
	mustErr(t, err, ErrNotCoordinator) // Kafka maps KAFKA_STORAGE_ERROR so
	if errors.Is(err, model.ErrStorage) {
		t.Fatalf("the storage error must not reach the client as KAFKA_STORAGE_ERROR: %v", err)
	}
	if o, _ := f.offsetOf("g", tp0); o != 5 {
		t.Fatalf("offset after a failed commit: %d; want the previous 5", o)
	}
	// A group whose only commit failed does not appear at all.
	f.logOf("fresh").fail = errDiskFull
	mustErr(t, f.commit(simpleCommit("fresh", 1)), ErrNotCoordinator)
	if _, ok := f.offsetOf("fresh", tp0); ok {
		t.Fatal("a failed first commit is visible")
	}
	if d, _ := f.c.DescribeGroup("fresh"); d.State != Dead {
		t.Fatalf("group of a failed first commit: %v", d.State)
	}
	// Other errors of the log are COORDINATOR_NOT_AVAILABLE.
	l.fail = errors.New("something else")
	mustErr(t, f.commit(simpleCommit("g", 10)), ErrCoordinatorNotAvailable)

	l.fail = nil
	if err := f.commit(simpleCommit("g", 11)); err != nil {
		t.Fatal(err)
	}
	if o, _ := f.offsetOf("g", tp0); o != 11 {
		t.Fatalf("offset after a successful commit: %d", o)
	}
	got, _ := f.reload().FetchOffsets("g")
	if got[tp0].Offset != 11 || len(got) != 1 {
		t.Fatalf("after restart: %+v", got)
	}
}

// TestInFlightCommitsApplyInLogOrder commits twice to one partition with
// both appends in flight, then reports their outcomes in either order:
// the later commit wins whenever it is durable, and memory always equals
// what a restart replays.
func TestInFlightCommitsApplyInLogOrder(t *testing.T) {
	for _, tc := range []struct {
		name         string
		laterFirst   bool
		first, later error
		want         int64 // 0: the offset before (1)
	}{
		{"in order", false, nil, nil, 3},
		{"later reported first", true, nil, nil, 3},
		{"earlier fails", false, errDiskFull, nil, 3},
		{"earlier fails, reported last", true, errDiskFull, nil, 3},
		{"later fails", false, nil, errDiskFull, 2},
		{"later fails, reported first", true, nil, errDiskFull, 2},
		{"both fail", false, errDiskFull, errDiskFull, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if err := f.commit(simpleCommit("g", 1)); err != nil {
				t.Fatal(err)
			}
			l := f.logOf("g")
			l.mu.Lock()
			l.hold = true
			l.mu.Unlock()
			a := f.commitAsync(simpleCommit("g", 2))
			b := f.commitAsync(simpleCommit("g", 3))
			if o, _ := f.offsetOf("g", tp0); o != 1 {
				t.Fatalf("offset while commits are in flight: %d; want 1", o)
			}
			if tc.laterFirst {
				l.release(1, tc.later)
				// The later outcome waits for the earlier one.
				if o, _ := f.offsetOf("g", tp0); o != 1 {
					t.Fatalf("later commit applied before the earlier one's outcome: %d", o)
				}
				l.release(0, tc.first)
			} else {
				l.release(0, tc.first)
				l.release(1, tc.later)
			}
			ra, rb := wait(t, a), wait(t, b)
			if (ra.top == nil) != (tc.first == nil) || (rb.top == nil) != (tc.later == nil) {
				t.Fatalf("answers: %v, %v", ra.top, rb.top)
			}
			if o, _ := f.offsetOf("g", tp0); o != tc.want {
				t.Fatalf("offset: %d; want %d", o, tc.want)
			}
			got, _ := f.reload().FetchOffsets("g")
			if got[tp0].Offset != tc.want {
				t.Fatalf("after restart: %d; want %d", got[tp0].Offset, tc.want)
			}
		})
	}
}

// TestFailedSyncStoreRebalances: as in Kafka's SyncGroup, the group stays
// CompletingRebalance (no assignment visible) while the leader's
// assignment is written; if the write fails, every waiting member gets
// the error and the group prepares a rebalance with no assignment kept.
func TestFailedSyncStoreRebalances(t *testing.T) {
	f := newFixture(t, nil)
	l := f.logOf("g")
	a := f.joinNew("g", "a")
	b := f.joinNew("g", "b")
	a2 := f.join(JoinRequest{Group: "g", ClientID: "a", MemberID: a.res.MemberID})
	if !a2.done || !b.done || a2.res.Generation != 2 {
		t.Fatalf("rebalance: %+v %+v", a2.res, b.res)
	}
	ida, idb := a.res.MemberID, b.res.MemberID
	gen := a2.res.Generation
	bsync := make(chan SyncResult, 1)
	f.c.Sync(f.now, SyncRequest{Group: "g", MemberID: idb, Generation: gen}, func(r SyncResult) { bsync <- r })

	l.mu.Lock()
	l.hold = true
	l.mu.Unlock()
	async := make(chan SyncResult, 1)
	f.c.Sync(f.now, SyncRequest{Group: "g", MemberID: ida, Generation: gen, Assignments: map[string][]byte{ida: []byte("A"), idb: []byte("B")}}, func(r SyncResult) { async <- r })
	d, _ := f.c.DescribeGroup("g")
	if d.State != CompletingRebalance || d.Members[0].Assignment != nil || d.Members[1].Assignment != nil {
		t.Fatalf("group while its assignment is written: %+v", d)
	}
	if err := f.c.Heartbeat(f.now, "g", ida, nil, gen); err != nil {
		t.Fatal(err)
	}
	l.release(0, errDiskFull)
	mustErr(t, wait(t, async).Err, ErrNotCoordinator)
	mustErr(t, wait(t, bsync).Err, ErrNotCoordinator)
	d, _ = f.c.DescribeGroup("g")
	if d.State != PreparingRebalance {
		t.Fatalf("state after a failed assignment write: %v", d.State)
	}
	mustErr(t, f.c.Heartbeat(f.now, "g", ida, nil, gen), ErrRebalanceInProgress)
	if d, _ := f.reload().DescribeGroup("g"); d.State == Stable {
		t.Fatalf("a restart sees the failed assignment: %+v", d)
	}

	// The members rejoin and a durable assignment makes the group Stable.
	l.mu.Lock()
	l.hold = false
	l.mu.Unlock()
	a3 := f.join(JoinRequest{Group: "g", ClientID: "a", MemberID: ida})
	b3 := f.join(JoinRequest{Group: "g", ClientID: "b", MemberID: idb})
	if !a3.done || !b3.done || a3.res.Generation != gen+1 {
		t.Fatalf("rejoin: %+v %+v", a3.res, b3.res)
	}
	bs := make(chan SyncResult, 1)
	f.c.Sync(f.now, SyncRequest{Group: "g", MemberID: idb, Generation: gen + 1}, func(r SyncResult) { bs <- r })
	as := f.sync(SyncRequest{Group: "g", MemberID: ida, Generation: gen + 1, Assignments: map[string][]byte{ida: []byte("A"), idb: []byte("B")}})
	if as == nil || as.Err != nil || string(as.Assignment) != "A" {
		t.Fatalf("leader sync: %+v", as)
	}
	if r := wait(t, bs); r.Err != nil || string(r.Assignment) != "B" {
		t.Fatalf("follower sync: %+v", r)
	}
	if d, _ := f.c.DescribeGroup("g"); d.State != Stable || string(d.Members[1].Assignment) != "B" {
		t.Fatalf("after a durable sync: %+v", d)
	}
}

// TestSyncAnswersFollowersThatSyncDuringTheWrite: a follower that syncs
// while the leader's assignment is in flight waits and gets it once
// durable.
func TestSyncAnswersFollowersThatSyncDuringTheWrite(t *testing.T) {
	f := newFixture(t, nil)
	l := f.logOf("g")
	a := f.joinNew("g", "a")
	b := f.joinNew("g", "b")
	f.join(JoinRequest{Group: "g", ClientID: "a", MemberID: a.res.MemberID})
	ida, idb := a.res.MemberID, b.res.MemberID
	l.mu.Lock()
	l.hold = true
	l.mu.Unlock()
	as, bs := make(chan SyncResult, 1), make(chan SyncResult, 1)
	f.c.Sync(f.now, SyncRequest{Group: "g", MemberID: ida, Generation: 2, Assignments: map[string][]byte{ida: []byte("A"), idb: []byte("B")}}, func(r SyncResult) { as <- r })
	f.c.Sync(f.now, SyncRequest{Group: "g", MemberID: idb, Generation: 2}, func(r SyncResult) { bs <- r })
	l.release(0, nil)
	if r := wait(t, as); r.Err != nil || string(r.Assignment) != "A" {
		t.Fatalf("leader: %+v", r)
	}
	if r := wait(t, bs); r.Err != nil || string(r.Assignment) != "B" {
		t.Fatalf("follower: %+v", r)
	}
}

func TestFailedDeletesKeepState(t *testing.T) {
	f := newFixture(t, nil)
	l := f.logOf("g")
	if err := f.commit(CommitRequest{Group: "g", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 5}, {Topic: "t", Partition: 1, Offset: 6}}}); err != nil {
		t.Fatal(err)
	}
	deleteOffsets := func() error {
		ch := make(chan error, 1)
		f.c.DeleteOffsets(f.now, "g", []model.TopicPartition{tp0}, func(top error, errs []error) {
			if top == nil && errs[0] != nil {
				top = errs[0]
			}
			ch <- top
		})
		return wait(t, ch)
	}
	deleteGroup := func() error {
		ch := make(chan []error, 1)
		f.c.DeleteGroups(f.now, []string{"g"}, func(e []error) { ch <- e })
		return wait(t, ch)[0]
	}

	l.fail = errDiskFull
	mustErr(t, deleteOffsets(), ErrNotCoordinator)
	if o, ok := f.offsetOf("g", tp0); !ok || o != 5 {
		t.Fatalf("offset after a failed OffsetDelete: %d %v", o, ok)
	}
	mustErr(t, deleteGroup(), ErrNotCoordinator)
	if got, _ := f.c.FetchOffsets("g"); len(got) != 2 {
		t.Fatalf("offsets after a failed DeleteGroups: %+v", got)
	}
	if gs, _ := f.c.ListGroups(nil); len(gs) != 1 {
		t.Fatalf("groups after a failed DeleteGroups: %+v", gs)
	}
	// The group is usable again (no longer marked deleting).
	l.fail = nil
	if err := f.commit(simpleCommit("g", 7)); err != nil {
		t.Fatal(err)
	}

	// While the tombstones are in flight the group is shown as it was and
	// refuses changes.
	l.mu.Lock()
	l.hold = true
	l.mu.Unlock()
	ch := make(chan []error, 1)
	f.c.DeleteGroups(f.now, []string{"g"}, func(e []error) { ch <- e })
	if gs, _ := f.c.ListGroups(nil); len(gs) != 1 {
		t.Fatalf("group vanished before its tombstones were durable: %+v", gs)
	}
	mustErr(t, f.commit(simpleCommit("g", 8)), ErrCoordinatorNotAvailable)
	l.release(0, nil)
	if e := wait(t, ch); e[0] != nil {
		t.Fatal(e[0])
	}
	if gs, _ := f.c.ListGroups(nil); len(gs) != 0 {
		t.Fatalf("groups after DeleteGroups: %+v", gs)
	}
	if gs, _ := f.reload().ListGroups(nil); len(gs) != 0 {
		t.Fatalf("groups after restart: %+v", gs)
	}
}

// TestFailedStaticRejoinReverts: a static member rejoining a Stable group
// with a new member id keeps its old id if the write fails (Kafka's
// revert), and the joiner gets the error.
func TestFailedStaticRejoinReverts(t *testing.T) {
	f := newFixture(t, nil)
	inst := "i1"
	a := f.join(JoinRequest{Group: "g", ClientID: "a", InstanceID: &inst})
	if !a.done || a.res.Err != nil {
		t.Fatalf("join: %+v", a.res)
	}
	if s := f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, InstanceID: &inst, Generation: a.res.Generation}); s == nil || s.Err != nil {
		t.Fatalf("sync: %+v", s)
	}
	f.logOf("g").fail = errDiskFull
	r := f.join(JoinRequest{Group: "g", ClientID: "a", InstanceID: &inst})
	if !r.done {
		t.Fatal("rejoin not answered")
	}
	mustErr(t, r.res.Err, ErrNotCoordinator)
	if err := f.c.Heartbeat(f.now, "g", a.res.MemberID, &inst, a.res.Generation); err != nil {
		t.Fatalf("the old member id after a failed rejoin: %v", err)
	}
	d, _ := f.c.DescribeGroup("g")
	if len(d.Members) != 1 || d.Members[0].MemberID != a.res.MemberID {
		t.Fatalf("members: %+v", d.Members)
	}
}
