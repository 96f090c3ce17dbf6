package fetchsession

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func parts(topic string, n int) []Partition {
	out := make([]Partition, n)
	for i := range out {
		out[i] = Partition{Key: Key{Topic: topic, Partition: int32(i)}, FetchOffset: 0, MaxBytes: 1 << 20, LogStartOffset: -1}
	}
	return out
}

func results(n int, hw int64) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = Result{HighWatermark: hw}
	}
	return out
}

// open creates a session of ps through a full request.
func open(t *testing.T, c *Cache, now time.Time, privileged bool, ps []Partition) int32 {
	t.Helper()
	x, code := c.Begin(now, Request{SessionEpoch: InitialEpoch, Privileged: privileged, Partitions: ps})
	if code != 0 || x.Kind != Full {
		t.Fatalf("Begin full: %v %d", x, code)
	}
	keep, id := x.Respond(now, x.Partitions(), results(len(ps), 10))
	for i, k := range keep {
		if !k {
			t.Fatalf("full response drops partition %d", i)
		}
	}
	return id
}

func TestNextEpoch(t *testing.T) {
	for _, c := range []struct{ in, want int32 }{{-1, -1}, {0, 1}, {1, 2}, {math.MaxInt32, 1}} {
		if got := NextEpoch(c.in); got != c.want {
			t.Errorf("NextEpoch(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestIncrementalOmitsUnchanged(t *testing.T) {
	c := New(10, 0)
	id := open(t, c, t0, false, parts("a", 3))
	if id <= 0 {
		t.Fatalf("session id %d", id)
	}
	// Epoch 1, nothing changed in the request: every partition is read.
	x, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 1})
	if code != 0 || x.Kind != Incremental {
		t.Fatalf("Begin: %d", code)
	}
	ps := x.Partitions()
	if len(ps) != 3 {
		t.Fatalf("reads %d partitions, want 3", len(ps))
	}
	res := results(3, 10)
	res[1] = Result{Records: true, HighWatermark: 12}
	res[2] = Result{HighWatermark: 11}
	keep, sid := x.Respond(t0, ps, res)
	if sid != id || keep[0] || !keep[1] || !keep[2] {
		t.Fatalf("keep %v sid %d", keep, sid)
	}
	// Partition 1 returned records: it goes to the end.
	x, _ = c.Begin(t0, Request{SessionID: id, SessionEpoch: 2})
	ps = x.Partitions()
	if ps[0].Partition != 0 || ps[1].Partition != 2 || ps[2].Partition != 1 {
		t.Fatalf("order %v", ps)
	}
	// Errors are always sent, and again once they clear.
	res = []Result{{HighWatermark: 10, Error: true}, {HighWatermark: 11}, {HighWatermark: 12}}
	keep, _ = x.Respond(t0, ps, res)
	if !keep[0] || keep[1] || keep[2] {
		t.Fatalf("keep %v", keep)
	}
	x, _ = c.Begin(t0, Request{SessionID: id, SessionEpoch: 3})
	keep, _ = x.Respond(t0, x.Partitions(), []Result{{HighWatermark: 10}, {HighWatermark: 11}, {HighWatermark: 12}})
	if !keep[0] || keep[1] || keep[2] {
		t.Fatalf("after error: keep %v", keep)
	}
}

func TestIncrementalUpdatesAndForgets(t *testing.T) {
	c := New(10, 0)
	id := open(t, c, t0, false, parts("a", 2))
	upd := Partition{Key: Key{Topic: "a", Partition: 0}, FetchOffset: 42, MaxBytes: 7}
	add := Partition{Key: Key{Topic: "b", Partition: 5}, FetchOffset: 3}
	x, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 1, Partitions: []Partition{upd, add},
		Forgotten: []Key{{Topic: "a", Partition: 1}, {Topic: "zz", Partition: 9}}})
	if code != 0 {
		t.Fatal(code)
	}
	ps := x.Partitions()
	if len(ps) != 2 || ps[0] != upd || ps[1] != add {
		t.Fatalf("partitions %v", ps)
	}
	keep, _ := x.Respond(t0, ps, []Result{{HighWatermark: 10}, {HighWatermark: 3}})
	if keep[0] || !keep[1] {
		t.Fatalf("keep %v: the new partition must be sent", keep)
	}
	if st := c.Stats(); st.Sessions != 1 || st.Partitions != 2 || st.Incremental != 1 || st.Full != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEpochsAndErrors(t *testing.T) {
	c := New(10, 0)
	id := open(t, c, t0, false, parts("a", 1))
	if _, code := c.Begin(t0, Request{SessionID: id + 1, SessionEpoch: 1}); code != ErrSessionIDNotFound {
		t.Fatalf("unknown id: %d", code)
	}
	if _, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 2}); code != ErrInvalidSessionEpoch {
		t.Fatalf("future epoch: %d", code)
	}
	if _, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 1, ByID: true}); code != ErrSessionTopicIDError {
		t.Fatalf("ids in a name session: %d", code)
	}
	if _, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 1}); code != 0 {
		t.Fatalf("epoch 1: %d", code)
	}
	// The same epoch again (a retry or a racing request) is refused.
	if _, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 1}); code != ErrInvalidSessionEpoch {
		t.Fatalf("replayed epoch: %d", code)
	}
	x, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 2})
	if code != 0 || x.Epoch() != 3 {
		t.Fatalf("epoch 2: %d, next %d", code, x.Epoch())
	}
	// A full request naming the session closes it (epoch -1: no new one).
	x, _ = c.Begin(t0, Request{SessionID: id, SessionEpoch: FinalEpoch, Partitions: parts("a", 1)})
	if _, sid := x.Respond(t0, x.Partitions(), results(1, 0)); sid != 0 || x.Kind != Sessionless {
		t.Fatalf("sessionless got session %d", sid)
	}
	if _, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 3}); code != ErrSessionIDNotFound {
		t.Fatalf("closed session: %d", code)
	}
	if st := c.Stats(); st.Sessions != 0 || st.NotFound != 2 || st.BadEpoch != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestZeroSlotsTurnsSessionsOff(t *testing.T) {
	c := New(0, 0)
	x, _ := c.Begin(t0, Request{SessionEpoch: InitialEpoch, Partitions: parts("a", 3)})
	if _, id := x.Respond(t0, x.Partitions(), results(3, 0)); id != 0 {
		t.Fatalf("session %d with 0 slots", id)
	}
}

func TestEviction(t *testing.T) {
	evict := 120 * time.Second
	c := New(2, evict)
	small := open(t, c, t0, false, parts("a", 1))
	big := open(t, c, t0, false, parts("b", 5))
	// Full, both young: a consumer cannot evict, and gets no session.
	if id := open(t, c, t0.Add(time.Second), false, parts("c", 10)); id != 0 {
		t.Fatalf("young sessions evicted by a consumer")
	}
	// A follower (privileged) evicts the least valuable consumer session:
	// the smaller one.
	f1 := open(t, c, t0.Add(2*time.Second), true, parts("r", 1))
	if f1 == 0 {
		t.Fatal("follower got no session")
	}
	if _, code := c.Begin(t0, Request{SessionID: small, SessionEpoch: 1}); code != ErrSessionIDNotFound {
		t.Fatalf("small session survived: %d", code)
	}
	// A young privileged session is safe from another follower; the
	// consumer session is not.
	f2 := open(t, c, t0.Add(3*time.Second), true, parts("r2", 1))
	if f2 == 0 {
		t.Fatal("second follower got no session")
	}
	if _, code := c.Begin(t0.Add(3*time.Second), Request{SessionID: big, SessionEpoch: 1}); code != ErrSessionIDNotFound {
		t.Fatalf("consumer session survived: %d", code)
	}
	if id := open(t, c, t0.Add(4*time.Second), true, parts("r3", 50)); id != 0 {
		t.Fatal("a young follower session was evicted")
	}
	// Keep f1 in use; f2 goes unused past the interval: it is evicted
	// first, whatever its value.
	later := t0.Add(evict + 10*time.Second)
	if _, code := c.Begin(later, Request{SessionID: f1, SessionEpoch: 1}); code != 0 {
		t.Fatalf("f1: %d", code)
	}
	if id := open(t, c, later, false, parts("c", 1)); id == 0 {
		t.Fatal("stale session not evicted")
	}
	if _, code := c.Begin(later, Request{SessionID: f2, SessionEpoch: 1}); code != ErrSessionIDNotFound {
		t.Fatalf("stale f2 survived: %d", code)
	}
	st := c.Stats()
	if st.Sessions != 2 || st.Evicted != 3 || st.ReplicaSessions != 1 || st.ReplicaPartitions != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEvictionByValue(t *testing.T) {
	evict := time.Minute
	c := New(1, evict)
	id := open(t, c, t0, false, parts("a", 3))
	now := t0.Add(evict + time.Second)
	// In use (not stale), old: evictable by anyone worth as much.
	if _, code := c.Begin(now, Request{SessionID: id, SessionEpoch: 1}); code != 0 {
		t.Fatal(code)
	}
	if got := open(t, c, now, false, parts("b", 3)); got != 0 {
		t.Fatal("an equal newcomer evicted an old session")
	}
	if got := open(t, c, now, false, parts("b", 4)); got == 0 {
		t.Fatal("a bigger newcomer did not evict an old session")
	}
}

func TestRacingForget(t *testing.T) {
	c := New(1, 0)
	id := open(t, c, t0, false, parts("a", 2))
	x, _ := c.Begin(t0, Request{SessionID: id, SessionEpoch: 1})
	ps := x.Partitions()
	if _, code := c.Begin(t0, Request{SessionID: id, SessionEpoch: 2, Forgotten: []Key{{Topic: "a", Partition: 0}}}); code != 0 {
		t.Fatal(code)
	}
	keep, _ := x.Respond(t0, ps, results(2, 10))
	if !keep[0] || keep[1] {
		t.Fatalf("keep %v", keep)
	}
}
