package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

// txnBatch is a transactional batch of n keyed records for producer pid at
// epoch, sequences from seq.
func txnBatch(pid int64, epoch int16, seq int32, ts int64, keys ...string) []byte {
	var recs []testRec
	for i, k := range keys {
		recs = append(recs, testRec{key: []byte(k), value: []byte("v-" + k), tsDelta: int64(i)})
	}
	return buildBatch(batchOpts{firstTs: ts, producerID: pid, epoch: epoch, baseSeq: seq, compression: attrTransactional}, recs)
}

// markerWait appends a marker and waits for it.
func markerWait(t *testing.T, p *Partition, m Marker) AppendResult {
	t.Helper()
	ch := make(chan AppendResult, 1)
	p.AppendMarker(m, 0, func(r AppendResult) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatalf("marker did not complete within %v", waitTimeout)
		return AppendResult{}
	}
}

// committedKeys reads with ReadCommitted from the log start and returns the
// keys a read_committed consumer keeps: records of aborted transactions
// (by the returned aborted list) and control batches dropped.
func committedKeys(t *testing.T, p *Partition) []string {
	t.Helper()
	start, _, _ := p.Offsets()
	var out []string
	for off := start; ; {
		res, err := p.ReadCommitted(off, 1<<20, true)
		if err != nil {
			t.Fatalf("read committed at %d: %v", off, err)
		}
		if len(res.Records) == 0 {
			if off < res.LastStableOffset {
				t.Fatalf("read committed at %d below the LSO %d returned nothing", off, res.LastStableOffset)
			}
			return out
		}
		for pos := 0; pos < len(res.Records); {
			h, err := checkBatch(res.Records[pos:])
			if err != nil {
				t.Fatal(err)
			}
			aborted := false
			for _, a := range res.Aborted {
				if a.ProducerID == h.ProducerID && a.FirstOffset <= h.BaseOffset && h.BaseOffset <= a.LastOffset {
					aborted = true
				}
			}
			if !h.Control() && !(h.Transactional() && aborted) && h.BaseOffset >= off {
				recs, _, err := batchRecords(res.Records[pos:pos+h.Size()], &h)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					out = append(out, string(r.key))
				}
			}
			off = h.LastOffset() + 1
			pos += h.Size()
		}
	}
}

func equalKeys(a []string, b ...string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// An open transaction holds the last stable offset at its first offset
// while the high watermark moves on; a commit releases it, an abort hides
// its records from read_committed readers through the .txnindex.
func TestTransactionsLastStableOffsetAndMarkers(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		appendKV(t, p, 1000, "plain", "x")                    // offset 0
		mustAppend(t, p, txnBatch(7, 0, 0, 1001, "a1", "a2")) // 1-2, committed later
		mustAppend(t, p, txnBatch(8, 0, 0, 1002, "b1"))       // 3, aborted later
		appendKV(t, p, 1003, "plain2", "y")                   // 4
		if lso := p.LastStableOffset(); lso != 1 {
			t.Fatalf("LSO %d with two open transactions from offset 1, want 1", lso)
		}
		if got := committedKeys(t, p); !equalKeys(got, "plain") {
			t.Fatalf("read_committed before any marker: %v", got)
		}
		if r := markerWait(t, p, Marker{ProducerID: 7, Epoch: 0, Commit: true, CoordinatorEpoch: 1}); r.Err != nil || r.BaseOffset != 5 {
			t.Fatalf("commit marker: %+v", r)
		}
		if lso := p.LastStableOffset(); lso != 3 {
			t.Fatalf("LSO %d after the first commit, want 3", lso)
		}
		if r := markerWait(t, p, Marker{ProducerID: 8, Epoch: 0, Commit: false, CoordinatorEpoch: 1}); r.Err != nil || r.BaseOffset != 6 {
			t.Fatalf("abort marker: %+v", r)
		}
		_, hw, _ := p.Offsets()
		if lso := p.LastStableOffset(); lso != hw || hw != 7 {
			t.Fatalf("LSO %d, HW %d after both markers, want 7 and 7", lso, hw)
		}
		if got := committedKeys(t, p); !equalKeys(got, "plain", "a1", "a2", "plain2") {
			t.Fatalf("read_committed after the markers: %v", got)
		}
		res, err := p.ReadCommitted(0, 1<<20, true)
		if err != nil || len(res.Aborted) != 1 || res.Aborted[0] != (AbortedTxn{ProducerID: 8, FirstOffset: 3, LastOffset: 6, LastStableOffset: 7}) {
			t.Fatalf("aborted transactions %+v (%v)", res.Aborted, err)
		}
		// Uncommitted readers see everything, markers included.
		if n := len(readAll(t, p, 0)); n != 6 {
			t.Fatalf("read_uncommitted got %d batches, want 6", n)
		}
		if _, err := os.Stat(filepath.Join(p.dir, segmentName(0, txnIndexSuffix))); err != nil {
			t.Fatalf("no .txnindex after an abort: %v", err)
		}
	})
}

// Bad input against the producer state: a plain batch inside an open
// transaction, a marker from an older producer epoch or coordinator epoch.
func TestTransactionsRefuseWhatDoesNotFit(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		mustAppend(t, p, txnBatch(7, 2, 0, 1000, "a"))
		plain := buildBatch(batchOpts{firstTs: 1001, producerID: 7, epoch: 2, baseSeq: 1}, []testRec{{key: []byte("x"), value: []byte("y")}})
		if r := appendWait(t, p, plain); !errors.Is(r.Err, model.ErrInvalidTxnState) {
			t.Fatalf("plain batch inside a transaction: %v", r.Err)
		}
		if r := markerWait(t, p, Marker{ProducerID: 7, Epoch: 1, Commit: true, CoordinatorEpoch: 3}); !errors.Is(r.Err, model.ErrInvalidProducerEpoch) {
			t.Fatalf("marker from an older producer epoch: %v", r.Err)
		}
		if r := markerWait(t, p, Marker{ProducerID: 7, Epoch: 3, Commit: false, CoordinatorEpoch: 3}); r.Err != nil {
			t.Fatalf("abort with a bumped epoch: %v", r.Err)
		}
		if r := markerWait(t, p, Marker{ProducerID: 7, Epoch: 3, Commit: false, CoordinatorEpoch: 2}); !errors.Is(r.Err, model.ErrTxnCoordinatorFenced) {
			t.Fatalf("marker from an older coordinator: %v", r.Err)
		}
		// The bumped epoch fences the old producer's writes.
		if r := appendWait(t, p, txnBatch(7, 2, 1, 1002, "late")); !errors.Is(r.Err, model.ErrInvalidProducerEpoch) {
			t.Fatalf("write of the fenced epoch: %v", r.Err)
		}
		if got := committedKeys(t, p); len(got) != 0 {
			t.Fatalf("read_committed after the abort: %v", got)
		}
	})
}

// An open transaction survives a clean restart and a crash (the LSO stays
// held), and the aborted index is rebuilt from the log when its file is
// lost.
func TestTransactionsSurviveRestartAndCrash(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		mustAppend(t, p, txnBatch(7, 0, 0, 1000, "a"))
		markerWait(t, p, Marker{ProducerID: 7, Epoch: 0, Commit: false, CoordinatorEpoch: 0})
		mustAppend(t, p, txnBatch(9, 0, 0, 1001, "open"))
		appendKV(t, p, 1002, "plain", "x")
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m = e.open()
		p, _ = m.Partition(tp0)
		if lso := p.LastStableOffset(); lso != 2 {
			t.Fatalf("LSO %d after a clean restart, want 2", lso)
		}
		mustAppend(t, p, txnBatch(9, 0, 1, 1003, "open2"))
		crash(m)
		os.Remove(filepath.Join(p.dir, segmentName(0, txnIndexSuffix)))
		for _, s := range mustList(t, p.dir, snapshotSuffix) {
			os.Remove(filepath.Join(p.dir, s))
		}
		m = e.open()
		defer m.Close()
		p, _ = m.Partition(tp0)
		if lso := p.LastStableOffset(); lso != 2 {
			t.Fatalf("LSO %d after a crash, want 2", lso)
		}
		if r := markerWait(t, p, Marker{ProducerID: 9, Epoch: 0, Commit: true, CoordinatorEpoch: 0}); r.Err != nil {
			t.Fatal(r.Err)
		}
		if got := committedKeys(t, p); !equalKeys(got, "open", "plain", "open2") {
			t.Fatalf("read_committed after the crash and the commit: %v (the rebuilt index must hide the aborted a)", got)
		}
	})
}

func mustList(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) == suffix {
			out = append(out, e.Name())
		}
	}
	return out
}

// A follower applies markers as fetched: same LSO and aborted index; a
// truncation below a marker reopens the transaction.
func TestTransactionsOnAReplica(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		leader := e.create(m, tp0)
		follower := e.create(m, model.TopicPartition{Topic: "orders", Partition: 1})
		mustAppend(t, leader, txnBatch(7, 0, 0, 1000, "a", "b"))
		markerWait(t, leader, Marker{ProducerID: 7, Epoch: 0, Commit: false, CoordinatorEpoch: 0})
		mustAppend(t, leader, txnBatch(7, 0, 2, 1001, "c"))
		res, err := leader.ReadReplica(0, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan AppendResult, 1)
		follower.AppendReplica(res.Records, func(r AppendResult) { ch <- r })
		if r := <-ch; r.Err != nil {
			t.Fatal(r.Err)
		}
		if lso := follower.LastStableOffset(); lso != 3 {
			t.Fatalf("follower LSO %d, want 3", lso)
		}
		if got := committedKeys(t, follower); len(got) != 0 {
			t.Fatalf("follower read_committed: %v", got)
		}
		if err := follower.TruncateTo(2); err != nil {
			t.Fatal(err)
		}
		if lso := follower.LastStableOffset(); lso != 0 {
			t.Fatalf("LSO %d after truncating below the abort marker, want 0", lso)
		}
		if res, _ := follower.ReadCommitted(0, 1<<20, true); len(res.Records) != 0 {
			t.Fatalf("read_committed below an open transaction returned %d bytes", len(res.Records))
		}
	})
}

// The cleaner drops aborted records (which never shadow a committed value
// of the same key), stops below open transactions, and keeps markers while
// their transaction has data.
func TestCleanerAndTransactions(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		appendKV(t, p, 1000, "k", "committed")
		seq := int32(0)
		for i := 0; i < 30; i++ { // aborted updates of k, spread over segments
			mustAppend(t, p, txnBatch(7, 0, seq, int64(1001+i), "k", fmt.Sprintf("pad%02d-%s", i, string(make([]byte, 60)))))
			seq += 2
		}
		for i := 0; i < 30; i++ { // segments between the abort and the open transaction
			appendKV(t, p, int64(1500+i), fmt.Sprintf("y%02d", i), string(make([]byte, 80)))
		}
		markerWait(t, p, Marker{ProducerID: 7, Epoch: 0, Commit: false})
		mustAppend(t, p, txnBatch(8, 0, 0, 2000, "c"))
		markerWait(t, p, Marker{ProducerID: 8, Epoch: 0, Commit: true})
		mustAppend(t, p, txnBatch(9, 0, 0, 2001, "open"))
		for i := 0; i < 30; i++ {
			appendKV(t, p, int64(2002+i), fmt.Sprintf("z%02d", i), string(make([]byte, 80)))
		}
		before, _ := p.Size()
		end, err := m.Clean(tp0)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := p.Size()
		if after >= before {
			t.Fatalf("size %d -> %d: the aborted records stayed", before, after)
		}
		got := committedKeys(t, p)
		if len(got) < 2 || got[0] != "k" || got[1] != "y00" {
			t.Fatalf("read_committed after cleaning starts %v, want [k y00 ...]", got)
		}
		found := false
		for _, k := range got {
			found = found || k == "c"
		}
		if !found {
			t.Fatalf("the committed transaction's c is missing: %v", got)
		}
		kvs := readKVs(t, p)
		for _, r := range kvs {
			if r.off < end && r.val != "committed" && (r.key == "k" || r.key[:3] == "pad") {
				t.Fatalf("aborted record %s=%q at %d survived cleaning below %d", r.key, r.val, r.off, end)
			}
		}
		if lso := p.LastStableOffset(); lso >= p.view.Load().hw {
			t.Fatalf("LSO %d: the open transaction was lost", lso)
		}
	})
}

// FuzzProducerSnapshot: the snapshot decoder never panics, and what it
// accepts encodes to a snapshot that decodes to the same state.
func FuzzProducerSnapshot(f *testing.F) {
	ps := producerState{}
	for i := int64(0); i < 3; i++ {
		h, _ := ParseBatchHeader(txnBatch(i, 1, int32(i), 1000, "a", "b"))
		h.BaseOffset = model.Offset(10 * i)
		ps.update(&h, nil)
	}
	f.Add(ps.encode(42))
	f.Add(producerState{}.encode(0))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, off, err := decodeProducerSnapshot(b)
		if err != nil {
			return
		}
		again, off2, err := decodeProducerSnapshot(got.encode(off))
		if err != nil || off2 != off || len(again) != len(got) {
			t.Fatalf("re-encoded snapshot: %v, offset %d vs %d, %d vs %d producers", err, off2, off, len(again), len(got))
		}
		for pid, e := range got {
			if a := again[pid]; a == nil || *a != *e {
				t.Fatalf("producer %d: %+v vs %+v", pid, a, e)
			}
		}
	})
}
