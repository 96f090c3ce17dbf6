// These tests prove that a transaction's offsets stay invisible until its
// commit marker and vanish on an abort, that a commit does not undo a
// later ordinary commit, that the member checks of a TxnOffsetCommit are
// Kafka's, that deletion and expiry cope with pending offsets, and that a
// replay of the log (transactional batches, markers, an open transaction
// at the end) rebuilds exactly what memory held.
package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// txnCommit runs a TxnOffsetCommit that must be answered at once and
// returns its first error.
func (f *fixture) txnCommit(req TxnCommitRequest) error {
	f.t.Helper()
	var got error
	called := false
	f.c.TxnCommitOffsets(f.now, req, func(top error, errs []error) {
		called, got = true, top
		for _, e := range errs {
			if got == nil {
				got = e
			}
		}
	})
	if !called {
		f.t.Fatal("txn commit not answered")
	}
	return got
}

func txnReq(group string, pid int64, offset int64) TxnCommitRequest {
	return TxnCommitRequest{Group: group, TransactionalID: "tx", ProducerID: pid, ProducerEpoch: 1, Generation: -1,
		Offsets: []CommitOffset{{Topic: "t", Offset: offset, LeaderEpoch: -1}}}
}

// markerBatch is the control batch the broker writes to end producer
// pid's transaction (Kafka's ControlRecordKey and EndTxnMarker).
func markerBatch(pid int64, epoch int16, commit bool, nowMs int64) []byte {
	key := kmsg.ControlRecordKey{Version: 0, Type: kmsg.ControlRecordKeyTypeAbort}
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	val := kmsg.EndTxnMarker{Version: 0, CoordinatorEpoch: 3}
	b := buildBatch([]kv{{key.AppendTo(nil), val.AppendTo(nil)}}, txnProducer{id: pid, epoch: epoch}, nowMs)
	binary.BigEndian.PutUint16(b[21:], attrTransactional|attrControl)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[crcStart:], castagnoli))
	return b
}

// marker does what the broker does at the end of a transaction: it
// appends the marker to the group's partition, then tells the
// coordinator.
func (f *fixture) marker(group string, pid int64, commit bool) {
	f.t.Helper()
	l := f.logOf(group)
	l.mu.Lock()
	l.writeLocked(markerBatch(pid, 1, commit, f.now.UnixMilli()))
	l.mu.Unlock()
	f.c.CompleteTxn(PartitionFor(group, 4), pid, commit, f.now)
}

func (f *fixture) unstable(group string) map[model.TopicPartition]bool {
	f.t.Helper()
	_, u, err := f.c.FetchOffsetsStable(group)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func TestTxnOffsetsPendingUntilCommitMarker(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.txnCommit(txnReq("tg", 7, 5)); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.offsetOf("tg", tp0); ok {
		t.Fatal("a pending transactional offset is visible")
	}
	if !f.c.HasPendingTxnOffsets("tg") || !f.c.HasPendingTxnOffsets("tg", tp0) || f.c.HasPendingTxnOffsets("tg", model.TopicPartition{Topic: "u"}) {
		t.Fatal("HasPendingTxnOffsets does not see the pending offset")
	}
	if u := f.unstable("tg"); !u[tp0] || len(u) != 1 {
		t.Fatalf("unstable partitions %v; want t-0", u)
	}
	// The batch on disk is transactional, of the producer, without a
	// sequence.
	l := f.logOf("tg")
	var b kmsg.RecordBatch
	if err := b.ReadFrom(l.batches[len(l.batches)-1]); err != nil {
		t.Fatal(err)
	}
	if b.Attributes != attrTransactional || b.ProducerID != 7 || b.ProducerEpoch != 1 || b.FirstSequence != -1 {
		t.Fatalf("batch header: attributes %#x producer %d epoch %d sequence %d", b.Attributes, b.ProducerID, b.ProducerEpoch, b.FirstSequence)
	}
	// Another producer's marker changes nothing.
	f.marker("tg", 8, true)
	if _, ok := f.offsetOf("tg", tp0); ok {
		t.Fatal("another producer's marker committed the offset")
	}
	// A restart before the marker keeps the offset pending.
	if c := f.reload(); !c.HasPendingTxnOffsets("tg", tp0) {
		t.Fatal("the open transaction's offset is not pending after a reload")
	}
	f.marker("tg", 7, true)
	if o, ok := f.offsetOf("tg", tp0); !ok || o != 5 {
		t.Fatalf("after the commit marker: %d %v; want 5", o, ok)
	}
	if f.c.HasPendingTxnOffsets("tg") || len(f.unstable("tg")) != 0 {
		t.Fatal("offsets still pending after the commit")
	}
	// A second marker for the producer is a no-op.
	f.c.CompleteTxn(PartitionFor("tg", 4), 7, false, f.now)
	if o, _ := f.offsetOf("tg", tp0); o != 5 {
		t.Fatalf("a marker with nothing pending changed the offset to %d", o)
	}
	c := f.reload()
	got, _ := c.FetchOffsets("tg")
	if got[tp0].Offset != 5 || c.HasPendingTxnOffsets("tg") {
		t.Fatalf("after reload: %+v pending %v", got, c.HasPendingTxnOffsets("tg"))
	}
}

func TestTxnOffsetsAbortDrops(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.commit(simpleCommit("tg", 3)); err != nil {
		t.Fatal(err)
	}
	if err := f.txnCommit(txnReq("tg", 7, 9)); err != nil {
		t.Fatal(err)
	}
	// A group that only a transaction wrote to.
	if err := f.txnCommit(txnReq("only-txn", 7, 1)); err != nil {
		t.Fatal(err)
	}
	f.marker("tg", 7, false)
	f.marker("only-txn", 7, false)
	if o, _ := f.offsetOf("tg", tp0); o != 3 || f.c.HasPendingTxnOffsets("tg") {
		t.Fatalf("after the abort: offset %d; want 3 and nothing pending", o)
	}
	for _, c := range []*Coordinator{f.c, f.reload()} {
		gs, _ := c.ListGroups(nil)
		if len(gs) != 1 || gs[0].ID != "tg" {
			t.Fatalf("groups after the abort: %+v; the transaction-only group must be gone", gs)
		}
		got, _ := c.FetchOffsets("tg")
		if got[tp0].Offset != 3 {
			t.Fatalf("offsets: %+v", got)
		}
	}
}

func TestTxnCommitDoesNotUndoLaterCommit(t *testing.T) {
	f := newFixture(t, nil)
	tp1 := model.TopicPartition{Topic: "t", Partition: 1}
	// t-1: committed before the transaction, so the transaction wins.
	if err := f.commit(CommitRequest{Group: "tg", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Partition: 1, Offset: 1}}}); err != nil {
		t.Fatal(err)
	}
	req := txnReq("tg", 7, 5)
	req.Offsets = append(req.Offsets, CommitOffset{Topic: "t", Partition: 1, Offset: 50})
	if err := f.txnCommit(req); err != nil {
		t.Fatal(err)
	}
	// t-0: committed after the transaction's batch, so it stays.
	if err := f.commit(simpleCommit("tg", 7)); err != nil {
		t.Fatal(err)
	}
	if o, _ := f.offsetOf("tg", tp0); o != 7 {
		t.Fatalf("before the marker: %d", o)
	}
	f.marker("tg", 7, true)
	for i, c := range []*Coordinator{f.c, f.reload()} {
		got, _ := c.FetchOffsets("tg")
		if got[tp0].Offset != 7 || got[tp1].Offset != 50 {
			t.Fatalf("coordinator %d (1: reloaded): %+v; want t-0 7 (the later commit), t-1 50", i, got)
		}
	}
}

func TestTxnCommitChecks(t *testing.T) {
	f := newFixture(t, nil)
	// Unknown group: created (and kept, since the offset is pending).
	if err := f.txnCommit(txnReq("fresh", 1, 1)); err != nil {
		t.Fatal(err)
	}
	// With a generation the member must exist, even in an unknown group.
	req := txnReq("nogroup", 1, 1)
	req.Generation = 3
	mustErr(t, f.txnCommit(req), ErrUnknownMemberID)
	if gs, _ := f.c.ListGroups(nil); len(gs) != 1 {
		t.Fatalf("a refused commit left a group: %+v", gs)
	}
	mustErr(t, f.txnCommit(txnReq("", 1, 1)), ErrInvalidGroupID)
	bad := txnReq("g2", -1, 1)
	mustErr(t, f.txnCommit(bad), model.ErrInvalidProducerEpoch)

	inst := "i1"
	first := f.join(JoinRequest{Group: "g", ClientID: "a", InstanceID: &inst})
	if !first.done || first.res.Err != nil {
		t.Fatalf("join: %+v", first.res)
	}
	a := first.res
	// CompletingRebalance does not refuse transactional commits.
	member := func(memberID string, instance *string, gen int32, offset int64) TxnCommitRequest {
		r := txnReq("g", 2, offset)
		r.MemberID, r.InstanceID, r.Generation = memberID, instance, gen
		return r
	}
	if err := f.txnCommit(member(a.MemberID, &inst, a.Generation, 1)); err != nil {
		t.Fatalf("commit while CompletingRebalance: %v", err)
	}
	mustErr(t, f.txnCommit(member(a.MemberID, &inst, a.Generation+1, 1)), ErrIllegalGeneration)
	mustErr(t, f.txnCommit(member("other", nil, a.Generation, 1)), ErrUnknownMemberID)
	mustErr(t, f.txnCommit(member("other", &inst, a.Generation, 1)), ErrFencedInstanceID)
	// A member id without a generation is checked too (generation -1
	// is then illegal).
	mustErr(t, f.txnCommit(member(a.MemberID, nil, -1, 1)), ErrIllegalGeneration)
	// No member information: v0-v2, accepted in a group with members.
	if err := f.txnCommit(txnReq("g", 2, 2)); err != nil {
		t.Fatal(err)
	}
	md := strings.Repeat("x", 5000)
	r := txnReq("g", 2, 3)
	r.Offsets = append(r.Offsets, CommitOffset{Topic: "t", Partition: 1, Metadata: &md})
	var errs []error
	f.c.TxnCommitOffsets(f.now, r, func(top error, e []error) { errs = append(e, top) })
	if len(errs) != 3 || errs[0] != nil || !errors.Is(errs[1], ErrOffsetMetadataTooLarge) || errs[2] != nil {
		t.Fatalf("metadata too large: %v", errs)
	}
	// A producer fenced by the log gets the log's error and nothing
	// stays pending.
	f.logOf("g3").fail = fmt.Errorf("epoch 0 is older than 1: %w", model.ErrInvalidProducerEpoch)
	mustErr(t, f.txnCommit(txnReq("g3", 9, 1)), model.ErrInvalidProducerEpoch)
	if f.c.HasPendingTxnOffsets("g3") {
		t.Fatal("a failed append left a pending offset")
	}
	f.logOf("g3").fail = nil
	f.c.Unload(PartitionFor("g", 4))
	mustErr(t, f.txnCommit(txnReq("g", 2, 1)), ErrNotCoordinator)
}

func TestTxnOffsetsDeleteAndExpiry(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.OffsetsRetention = time.Hour })
	tp1 := model.TopicPartition{Topic: "t", Partition: 1}
	if err := f.commit(CommitRequest{Group: "tg", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}, {Topic: "t", Partition: 1, Offset: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.txnCommit(txnReq("tg", 7, 5)); err != nil {
		t.Fatal(err)
	}
	// Expiry skips the partition a transaction holds; the group stays.
	f.now = f.now.Add(2 * time.Hour)
	f.c.ExpireOffsets(f.now)
	if _, ok := f.offsetOf("tg", tp1); ok {
		t.Fatal("t-1 did not expire")
	}
	if o, ok := f.offsetOf("tg", tp0); !ok || o != 1 {
		t.Fatal("t-0 expired while a transaction holds it")
	}
	// DeleteGroups of an Empty group proceeds; its pending offsets go.
	dch := make(chan []error, 1)
	f.c.DeleteGroups(f.now, []string{"tg"}, func(e []error) { dch <- e })
	if e := wait(t, dch); e[0] != nil {
		t.Fatal(e[0])
	}
	f.marker("tg", 7, true)
	for i, c := range []*Coordinator{f.c, f.reload()} {
		if got, _ := c.FetchOffsets("tg"); len(got) != 0 || c.HasPendingTxnOffsets("tg") {
			t.Fatalf("coordinator %d (1: reloaded): deleted group has %+v", i, got)
		}
	}
	// OffsetDelete drops the partition's pending offsets with it.
	if err := f.commit(simpleCommit("od", 1)); err != nil {
		t.Fatal(err)
	}
	if err := f.txnCommit(txnReq("od", 8, 5)); err != nil {
		t.Fatal(err)
	}
	och := make(chan error, 1)
	f.c.DeleteOffsets(f.now, "od", []model.TopicPartition{tp0}, func(top error, _ []error) { och <- top })
	if err := wait(t, och); err != nil {
		t.Fatal(err)
	}
	f.marker("od", 8, true)
	for i, c := range []*Coordinator{f.c, f.reload()} {
		if got, _ := c.FetchOffsets("od"); len(got) != 0 {
			t.Fatalf("coordinator %d (1: reloaded): %+v after OffsetDelete and commit", i, got)
		}
	}
}

// TestTxnCompleteWhileInFlight: a transaction that ends while its offset
// batch is being written (a timeout abort) does not leave the offsets
// pending once the batch is durable, as Kafka drops them.
func TestTxnCompleteWhileInFlight(t *testing.T) {
	for _, commit := range []bool{false, true} {
		f := newFixture(t, nil)
		l := f.logOf("tg")
		l.hold = true
		ch := make(chan error, 1)
		f.c.TxnCommitOffsets(f.now, txnReq("tg", 7, 5), func(top error, _ []error) { ch <- top })
		if !f.unstable("tg")[tp0] {
			t.Fatal("a transactional commit in flight is not unstable")
		}
		f.c.CompleteTxn(PartitionFor("tg", 4), 7, commit, f.now)
		l.release(0, nil)
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "applied", func() bool { return len(f.unstable("tg")) == 0 })
		o, ok := f.offsetOf("tg", tp0)
		if f.c.HasPendingTxnOffsets("tg") || ok != commit || commit && o != 5 {
			t.Fatalf("commit=%v: offset %d %v, pending %v", commit, o, ok, f.c.HasPendingTxnOffsets("tg"))
		}
	}
}

// lateMarkerLog hides the marker at the end of the log from the replay
// and reports it, through CompleteTxn, while the load runs: the marker
// that the broker writes during a load.
type lateMarkerLog struct {
	*memLog
	hw   model.Offset
	once func()
}

func (l *lateMarkerLog) Offsets() (model.Offset, model.Offset) { return 0, l.hw }
func (l *lateMarkerLog) Read(o model.Offset, max int32) ([]byte, error) {
	if l.once != nil {
		l.once()
		l.once = nil
	}
	b, err := l.memLog.Read(o, max)
	if err != nil || len(b) == 0 {
		return b, err
	}
	// Only the batches below hw.
	var out []byte
	for len(b) >= 12 {
		n := 12 + int(binary.BigEndian.Uint32(b[8:]))
		if int64(binary.BigEndian.Uint64(b)) >= int64(l.hw) {
			break
		}
		out, b = append(out, b[:n]...), b[n:]
	}
	return out, nil
}

func TestTxnReplay(t *testing.T) {
	f := newFixture(t, nil)
	tp1 := model.TopicPartition{Topic: "t", Partition: 1}
	// Producer 1 commits, 2 aborts, 3 stays open; a later ordinary
	// commit of t-1 outranks 1's; a marker of a producer with nothing
	// pending changes nothing.
	l := f.logOf("tg")
	l.mu.Lock()
	l.writeLocked(markerBatch(42, 0, true, f.now.UnixMilli()))
	l.mu.Unlock()
	r1 := txnReq("tg", 1, 10)
	r1.Offsets = append(r1.Offsets, CommitOffset{Topic: "t", Partition: 1, Offset: 10})
	if err := f.txnCommit(r1); err != nil {
		t.Fatal(err)
	}
	if err := f.txnCommit(txnReq("tg", 2, 20)); err != nil {
		t.Fatal(err)
	}
	if err := f.commit(CommitRequest{Group: "tg", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Partition: 1, Offset: 11}}}); err != nil {
		t.Fatal(err)
	}
	f.marker("tg", 1, true)
	f.marker("tg", 2, false)
	if err := f.txnCommit(txnReq("tg", 3, 30)); err != nil {
		t.Fatal(err)
	}
	check := func(c *Coordinator, what string) {
		t.Helper()
		got, _ := c.FetchOffsets("tg")
		if got[tp0].Offset != 10 || got[tp1].Offset != 11 || len(got) != 2 {
			t.Fatalf("%s: %+v; want t-0 10, t-1 11", what, got)
		}
		if !c.HasPendingTxnOffsets("tg", tp0) || c.HasPendingTxnOffsets("tg", tp1) {
			t.Fatalf("%s: producer 3's t-0 must be pending, nothing else", what)
		}
	}
	check(f.c, "memory")
	c := f.reload()
	check(c, "reloaded")
	// The reloaded coordinator resolves the open transaction.
	l.mu.Lock()
	l.writeLocked(markerBatch(3, 1, true, f.now.UnixMilli()))
	l.mu.Unlock()
	c.CompleteTxn(PartitionFor("tg", 4), 3, true, f.now)
	if got, _ := c.FetchOffsets("tg"); got[tp0].Offset != 30 || c.HasPendingTxnOffsets("tg") {
		t.Fatalf("after producer 3's commit: %+v", got)
	}

	// The same marker written while a new coordinator loads: the replay
	// stops before it, CompleteTxn comes during the load.
	c2 := New(f.c.cfg)
	p := PartitionFor("tg", 4)
	ll := &lateMarkerLog{memLog: l, hw: l.bases[len(l.bases)-1]}
	ll.once = func() { c2.CompleteTxn(p, 3, true, f.now) }
	if err := c2.Load(p, ll, f.now); err != nil {
		t.Fatal(err)
	}
	if got, _ := c2.FetchOffsets("tg"); got[tp0].Offset != 30 || c2.HasPendingTxnOffsets("tg") {
		t.Fatalf("marker during the load: %+v", got)
	}
}

func TestReplaySkipsOtherControlBatches(t *testing.T) {
	l := &memLog{}
	// A control batch of another type (KRaft's leader change, type 2).
	key := kmsg.ControlRecordKey{Version: 0, Type: 2}
	b := buildBatch([]kv{{key.AppendTo(nil), []byte{0, 0}}}, txnProducer{id: 5, epoch: 0}, 0)
	binary.BigEndian.PutUint16(b[21:], attrControl)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[crcStart:], castagnoli))
	l.writeLocked(b)
	l.writeLocked(buildBatch([]kv{{offsetKey("g", tp0), offsetValue(committed{offset: 4, expireMs: -1})}}, noProducer, 0))
	groups, st, err := replay(l, PartitionFor("g", 1), 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if g := groups["g"]; g == nil || g.offsets[tp0].offset != 4 || st.markers != 0 || st.records != 1 {
		t.Fatalf("replay: %+v %+v", groups, st)
	}
}

// fuzzLog serves a byte string as a log: Read returns the batches from
// the first one whose last offset is at or past the one asked for, as
// framed by their length fields (a broken frame ends the log).
type fuzzLog struct{ data []byte }

func (l fuzzLog) Append([]byte, func(error))            {}
func (l fuzzLog) Offsets() (model.Offset, model.Offset) { return 0, 1 << 40 }
func (l fuzzLog) Read(o model.Offset, _ int32) ([]byte, error) {
	b := l.data
	for len(b) >= batchHeaderBytes {
		n := 12 + int(int32(binary.BigEndian.Uint32(b[8:])))
		if n < batchHeaderBytes || n > len(b) {
			return nil, nil
		}
		last := int64(binary.BigEndian.Uint64(b)) + int64(int32(binary.BigEndian.Uint32(b[23:])))
		if last >= int64(o) {
			return b, nil
		}
		b = b[n:]
	}
	return nil, nil
}

// FuzzReplay feeds arbitrary bytes to replay as the content of a
// __consumer_offsets partition (ordinary and transactional batches,
// markers, other control batches, garbage). Invariants: replay never
// panics nor loops forever; when it succeeds, every group it returns
// belongs to the partition, and replaying the same bytes again gives the
// same committed and pending offsets.
func FuzzReplay(f *testing.F) {
	tx := func(pid int64, off int64) []byte {
		return buildBatch([]kv{{offsetKey("g", tp0), offsetValue(committed{offset: off, expireMs: -1})}}, txnProducer{id: pid, epoch: 0}, 0)
	}
	at := func(b []byte, base int64) []byte {
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint64(b, uint64(base))
		return b
	}
	var seed []byte
	seed = append(seed, at(tx(1, 5), 0)...)
	seed = append(seed, at(buildBatch([]kv{{offsetKey("g", tp0), offsetValue(committed{offset: 7, expireMs: -1})}}, noProducer, 0), 1)...)
	seed = append(seed, at(markerBatch(1, 0, true, 0), 2)...)
	seed = append(seed, at(tx(2, 9), 3)...)
	seed = append(seed, at(markerBatch(2, 0, false, 0), 4)...)
	seed = append(seed, at(tx(3, 11), 5)...)
	f.Add(seed)
	f.Add(at(markerBatch(1, 0, true, 0), 0))
	f.Add([]byte{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		part := PartitionFor("g", 1)
		groups, _, err := replay(fuzzLog{data}, part, 1, log)
		if err != nil {
			return
		}
		again, _, err := replay(fuzzLog{data}, part, 1, log)
		if err != nil {
			t.Fatalf("second replay failed: %v", err)
		}
		for id, g := range groups {
			if PartitionFor(id, 1) != part {
				t.Fatalf("group %q in the wrong partition", id)
			}
			h := again[id]
			if h == nil || len(h.offsets) != len(g.offsets) || len(h.txnOffsets) != len(g.txnOffsets) {
				t.Fatalf("group %q replayed differently", id)
			}
			for tp, o := range g.offsets {
				if h.offsets[tp] != o {
					t.Fatalf("group %q %v: %+v then %+v", id, tp, o, h.offsets[tp])
				}
			}
		}
	})
}
