package share

// These tests drive one share-partition with a fake clock: locks expire,
// the delivery limit archives, acknowledgements of records a member does
// not hold are refused without changing anything, and the SPSO advances.

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func newPart(c *Counters) *Partition {
	return New(Config{LockDuration: 15 * time.Second, DeliveryCountLimit: 5, MaxRecordLocks: 100, Counters: c}, 0)
}

func ack(first, last int64, t AckType) []AckBatch {
	return []AckBatch{{First: first, Last: last, Types: []AckType{t}}}
}

func TestAcquireAcceptAdvances(t *testing.T) {
	p := newPart(nil)
	got := p.Acquire("m1", 0, 9, 0, t0)
	if len(got) != 1 || got[0] != (AcquiredRange{0, 9, 1}) {
		t.Fatalf("acquired %v", got)
	}
	// Nothing more to acquire in 0..9.
	if got := p.Acquire("m2", 0, 9, 0, t0); got != nil {
		t.Fatalf("acquired twice: %v", got)
	}
	if err := p.Acknowledge("m1", ack(0, 4, AckAccept), false, t0); err != nil {
		t.Fatal(err)
	}
	if p.StartOffset() != 5 || p.EndOffset() != 10 {
		t.Fatalf("SPSO %d SPEO %d", p.StartOffset(), p.EndOffset())
	}
	// Per-offset types: accept 5, release 6, reject 7, gap 8, accept 9.
	b := []AckBatch{{First: 5, Last: 9, Types: []AckType{AckAccept, AckRelease, AckReject, AckGap, AckAccept}}}
	if err := p.Acknowledge("m1", b, false, t0); err != nil {
		t.Fatal(err)
	}
	if p.StartOffset() != 6 || p.NextFetchOffset() != 6 {
		t.Fatalf("SPSO %d next %d", p.StartOffset(), p.NextFetchOffset())
	}
	got = p.Acquire("m2", 5, 20, 3, t0)
	if len(got) != 2 || got[0] != (AcquiredRange{6, 6, 2}) || got[1] != (AcquiredRange{10, 11, 1}) {
		t.Fatalf("re-acquired %v", got)
	}
}

func TestAcknowledgeRefusedWholePartition(t *testing.T) {
	c := &Counters{}
	p := newPart(c)
	p.Acquire("m1", 0, 4, 0, t0)
	p.Acquire("m2", 5, 9, 0, t0)
	// m1 acks its own 0..4 and m2's 5: refused, nothing changes.
	b := []AckBatch{{First: 0, Last: 4, Types: []AckType{AckAccept}}, {First: 5, Last: 5, Types: []AckType{AckAccept}}}
	if err := p.Acknowledge("m1", b, false, t0); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("err %v", err)
	}
	if s, _, m := p.State(0); s != Acquired || m != "m1" || p.StartOffset() != 0 || c.Accepted.Load() != 0 {
		t.Fatalf("state changed: %v %q spso %d", s, m, p.StartOffset())
	}
	for _, bad := range [][]AckBatch{
		{{First: 3, Last: 2, Types: []AckType{AckAccept}}},
		{{First: 0, Last: 2, Types: []AckType{AckAccept, AckAccept}}},
		{{First: 0, Last: 0, Types: []AckType{9}}},
		{{First: 0, Last: 0, Types: []AckType{AckRenew}}},
	} {
		if err := p.Acknowledge("m1", bad, false, t0); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("%v: err %v", bad, err)
		}
	}
	// Beyond the window, or never acquired.
	if err := p.Acknowledge("m1", ack(10, 12, AckAccept), false, t0); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("err %v", err)
	}
	if err := p.Acknowledge("m1", ack(0, 4, AckAccept), false, t0); err != nil {
		t.Fatal(err)
	}
	// Already acknowledged (below the SPSO now).
	if err := p.Acknowledge("m1", ack(0, 0, AckAccept), false, t0); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("err %v", err)
	}
}

func TestLockExpiry(t *testing.T) {
	c := &Counters{}
	p := newPart(c)
	p.Acquire("m1", 0, 2, 0, t0)
	if n := p.Tick(t0.Add(14 * time.Second)); n != 0 {
		t.Fatalf("expired early: %d", n)
	}
	// Renew (v2) extends one record's lock.
	if err := p.Acknowledge("m1", ack(2, 2, AckRenew), true, t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := p.Tick(t0.Add(15 * time.Second)); n != 2 || c.LockExpiries.Load() != 2 {
		t.Fatalf("expired %d", n)
	}
	if s, cnt, _ := p.State(0); s != Available || cnt != 1 {
		t.Fatalf("after expiry %v count %d", s, cnt)
	}
	// The expired member's ack is refused; another member gets them.
	if err := p.Acknowledge("m1", ack(0, 0, AckAccept), false, t0); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("err %v", err)
	}
	got := p.Acquire("m2", 0, 2, 0, t0.Add(16*time.Second))
	if len(got) != 1 || got[0] != (AcquiredRange{0, 1, 2}) {
		t.Fatalf("acquired %v", got)
	}
	if n := p.Tick(t0.Add(25 * time.Second)); n != 1 {
		t.Fatalf("renewed lock expired %d", n)
	}
}

func TestDeliveryLimitArchives(t *testing.T) {
	c := &Counters{}
	p := newPart(c)
	now := t0
	for i := 1; i <= 5; i++ {
		got := p.Acquire("m", 0, 1, 0, now)
		if len(got) != 1 || got[0].DeliveryCount != int16(i) {
			t.Fatalf("delivery %d: %v", i, got)
		}
		if i%2 == 0 {
			now = now.Add(time.Minute)
			p.Tick(now) // expiry counts like a release
		} else if err := p.Acknowledge("m", ack(0, 1, AckRelease), false, now); err != nil {
			t.Fatal(err)
		}
	}
	if s, _, _ := p.State(0); s != Acknowledged || p.StartOffset() != 2 || c.Archived.Load() != 2 {
		t.Fatalf("after 5 deliveries: %v spso %d archived %d", s, p.StartOffset(), c.Archived.Load())
	}
	// Reject archives at once.
	p.Acquire("m", 2, 2, 0, now)
	if err := p.Acknowledge("m", ack(2, 2, AckReject), false, now); err != nil {
		t.Fatal(err)
	}
	if p.StartOffset() != 3 || c.Archived.Load() != 3 || c.Rejected.Load() != 1 {
		t.Fatalf("spso %d archived %d", p.StartOffset(), c.Archived.Load())
	}
}

func TestMaxRecordLocksAndReleaseMember(t *testing.T) {
	p := New(Config{MaxRecordLocks: 10}, 100)
	got := p.Acquire("a", 100, 200, 0, t0)
	if len(got) != 1 || got[0].Last != 109 || p.CanAcquire() {
		t.Fatalf("acquired %v", got)
	}
	if n := p.ReleaseMember("a"); n != 10 || !p.CanAcquire() || p.AcquiredCount() != 0 {
		t.Fatalf("released %d", n)
	}
	// A read past the SPEO with nothing in flight... window not done: the
	// read is cut to the window.
	if got := p.Acquire("b", 500, 600, 0, t0); len(got) != 0 {
		t.Fatalf("acquired past the window: %v", got)
	}
	p.MoveStart(500)
	if got := p.Acquire("b", 500, 502, 0, t0); len(got) != 1 || got[0].First != 500 {
		t.Fatalf("after MoveStart: %v", got)
	}
}

func TestSnapshotRestore(t *testing.T) {
	p := newPart(nil)
	p.Acquire("m", 0, 9, 0, t0)
	p.Acknowledge("m", []AckBatch{{First: 1, Last: 3, Types: []AckType{AckAccept, AckReject, AckRelease}}}, false, t0)
	s := p.Snapshot()
	q := Restore(Config{}, s)
	if q.StartOffset() != 0 || q.EndOffset() != 10 || q.AcquiredCount() != 0 {
		t.Fatalf("restored %d-%d", q.StartOffset(), q.EndOffset())
	}
	for off, want := range map[int64]RecordState{0: Available, 1: Acknowledged, 2: Archived, 3: Available, 9: Available} {
		if st, cnt, _ := q.State(off); st != want || cnt != 1 {
			t.Fatalf("offset %d: %v count %d", off, st, cnt)
		}
	}
	// An update (accept 0) merged into the snapshot moves the SPSO.
	s.Apply(Snapshot{StartOffset: -1, Batches: []StateBatch{{First: 0, Last: 0, State: Acknowledged, DeliveryCount: 1}}}, 0)
	if s.StartOffset != 3 {
		t.Fatalf("applied: %+v", s)
	}
}

func TestSkip(t *testing.T) {
	c := &Counters{}
	p := New(Config{Counters: c}, 0)
	p.Acquire("m", 0, 1, 0, t0)
	// 2..4 are an aborted transaction's records: never delivered.
	if n := p.Skip(2, 4); n != 3 || c.Archived.Load() != 3 {
		t.Fatalf("skipped %d", n)
	}
	got := p.Acquire("m", 0, 6, 0, t0)
	if len(got) != 1 || got[0] != (AcquiredRange{5, 6, 1}) {
		t.Fatalf("acquired %v", got)
	}
	p.Acknowledge("m", ack(0, 1, AckAccept), false, t0)
	if p.StartOffset() != 5 {
		t.Fatalf("SPSO %d", p.StartOffset())
	}
	// An aborted batch past the SPEO: the offsets before it join the
	// window Available, and are acquired; the batch's are not.
	p.Skip(10, 11)
	got = p.Acquire("m", 7, 12, 0, t0)
	if len(got) != 2 || got[0] != (AcquiredRange{7, 9, 1}) || got[1] != (AcquiredRange{12, 12, 1}) {
		t.Fatalf("acquired around the skipped batch: %v", got)
	}
}
