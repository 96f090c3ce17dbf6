package txn

// Transaction version 2 (KIP-890 part 2) on the state machine: every end
// bumps the epoch and the markers carry it; a retried EndTxn is answered
// from the outcome; an abort with nothing open completes empty; the epochs
// running out move the producer to a new id once the markers are written,
// and that survives a reload; an InitProducerId fence forgets the retry.

import (
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

func TestTV2EndBumpsEpoch(t *testing.T) {
	f := newFixture(t)
	pid, e0 := f.init("tv2")
	f.apply(mustEff(t)(f.c.AddPartitions("tv2", pid, e0, []model.TopicPartition{tpA, tpB}, f.now)))

	npid, e1, eff, err := f.c.EndTxnTV2("tv2", pid, e0, true, f.now)
	if err != nil || npid != pid || e1 != e0+1 {
		t.Fatalf("end: pid %d epoch %d, %v (want %d/%d)", npid, e1, err, pid, e0+1)
	}
	f.apply(eff)
	if eff.Markers == nil || eff.Markers.Epoch != e1 || !eff.Markers.Commit || len(eff.Markers.Partitions) != 2 {
		t.Fatalf("markers %+v, want commit at the bumped epoch %d", eff.Markers, e1)
	}
	// The retry while the markers are written; the old epoch elsewhere is
	// fenced.
	_, _, _, err = f.c.EndTxnTV2("tv2", pid, e0, true, f.now)
	wantErr(t, "retry while writing markers", err, kerr.ConcurrentTransactions)
	_, err = f.c.AddPartitions("tv2", pid, e0, []model.TopicPartition{tpA}, f.now)
	wantErr(t, "the ended transaction's epoch", err, kerr.ProducerFenced)

	f.apply(mustEff(t)(f.c.MarkersWritten("tv2", pid, e1, f.now)))
	if rp, re, _, err := f.c.EndTxnTV2("tv2", pid, e0, true, f.now); err != nil || rp != pid || re != e1 {
		t.Fatalf("retry after completion: %d/%d %v", rp, re, err)
	}
	_, _, _, err = f.c.EndTxnTV2("tv2", pid, e0, false, f.now)
	wantErr(t, "retry asking the other outcome", err, kerr.InvalidTxnState)

	// Nothing open: a commit is refused, an abort completes empty with
	// a bump.
	_, _, _, err = f.c.EndTxnTV2("tv2", pid, e1, true, f.now)
	wantErr(t, "commit with nothing open", err, kerr.InvalidTxnState)
	_, e2, eff, err := f.c.EndTxnTV2("tv2", pid, e1, false, f.now)
	if err != nil || e2 != e1+1 || eff.Markers == nil || len(eff.Markers.Partitions) != 0 {
		t.Fatalf("empty abort: epoch %d %+v %v", e2, eff.Markers, err)
	}
	f.apply(eff)
	f.apply(mustEff(t)(f.c.MarkersWritten("tv2", pid, e2, f.now)))
	if tx, _ := f.c.Get("tv2"); tx.State != kmsg.TransactionStateCompleteAbort || tx.Epoch != e2 {
		t.Fatalf("after the empty abort: %v epoch %d", tx.State, tx.Epoch)
	}

	// InitProducerId fences: the retry of the last end is not answered
	// any more.
	_, e3 := f.init("tv2")
	if e3 != e2+1 {
		t.Fatalf("init epoch %d", e3)
	}
	_, _, _, err = f.c.EndTxnTV2("tv2", pid, e1, false, f.now)
	wantErr(t, "a retry after a fence", err, kerr.ProducerFenced)
}

func TestTV2EpochOverflow(t *testing.T) {
	f := newFixture(t)
	pid, _ := f.init("ovf")
	tx := f.c.txns["ovf"]
	tx.Epoch = math.MaxInt16 - 1
	last := tx.Epoch
	f.apply(mustEff(t)(f.c.AddPartitions("ovf", pid, last, []model.TopicPartition{tpA}, f.now)))
	npid, ne, eff, err := f.c.EndTxnTV2("ovf", pid, last, false, f.now)
	if err != nil || npid == pid || ne != 0 {
		t.Fatalf("end at the last epoch: %d/%d %v", npid, ne, err)
	}
	if eff.Markers.ProducerID != pid || eff.Markers.Epoch != math.MaxInt16 {
		t.Fatalf("markers %d/%d, want the old id at %d", eff.Markers.ProducerID, eff.Markers.Epoch, math.MaxInt16)
	}
	f.apply(eff)
	// A reload in the middle keeps the next producer id.
	g := New(f.c.cfg)
	if errs := g.Load(f.log); len(errs) != 0 {
		t.Fatal(errs)
	}
	if gt, _ := g.Get("ovf"); gt.NextProducerID != npid {
		t.Fatalf("reloaded next producer id %d, want %d", gt.NextProducerID, npid)
	}
	f.apply(mustEff(t)(f.c.MarkersWritten("ovf", pid, math.MaxInt16, f.now)))
	if tx, _ := f.c.Get("ovf"); tx.ProducerID != npid || tx.Epoch != 0 || tx.PrevProducerID != pid {
		t.Fatalf("after the markers: %+v", tx)
	}
	// The retry (old id, its epoch) and the new id's first transaction.
	if rp, re, _, err := f.c.EndTxnTV2("ovf", pid, last, false, f.now); err != nil || rp != npid || re != 0 {
		t.Fatalf("retry: %d/%d %v", rp, re, err)
	}
	f.apply(mustEff(t)(f.c.AddPartitions("ovf", npid, 0, []model.TopicPartition{tpB}, f.now)))
	if _, e, _, err := f.c.EndTxnTV2("ovf", npid, 0, true, f.now); err != nil || e != 1 {
		t.Fatalf("the new id's commit: epoch %d %v", e, err)
	}
	g = New(f.c.cfg)
	if errs := g.Load(f.log); len(errs) != 0 {
		t.Fatal(errs)
	}
}

func mustEff(t *testing.T) func(Effects, error) Effects {
	return func(e Effects, err error) Effects {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

// A coordinator that takes over (loads __transaction_state after a
// failover) answers a TV2 client's retried EndTxn from the outcome, while
// the markers are written and after, as the old coordinator would have:
// the client whose answer was lost with the old coordinator is not fenced.
// A retry after a timeout's fence is still fenced.
func TestTV2EndRetryAfterCoordinatorFailover(t *testing.T) {
	f := newFixture(t)
	pid, e0 := f.init("fo")
	f.apply(mustEff(t)(f.c.AddPartitions("fo", pid, e0, []model.TopicPartition{tpA}, f.now)))
	_, e1, eff, err := f.c.EndTxnTV2("fo", pid, e0, true, f.now)
	if err != nil {
		t.Fatal(err)
	}
	f.apply(eff)
	reload := func() *Coordinator {
		t.Helper()
		g := New(f.c.cfg)
		if errs := g.Load(f.log); len(errs) != 0 {
			t.Fatal(errs)
		}
		return g
	}
	// Failover while the markers are written: the retry waits.
	g := reload()
	_, _, _, err = g.EndTxnTV2("fo", pid, e0, true, f.now)
	wantErr(t, "retry on the new coordinator while writing markers", err, kerr.ConcurrentTransactions)
	_, _, _, err = g.EndTxnTV2("fo", pid, e0, false, f.now)
	wantErr(t, "retry asking the other outcome", err, kerr.InvalidTxnState)
	// The new coordinator completes the markers; the retry succeeds.
	f.c = g
	f.apply(mustEff(t)(f.c.MarkersWritten("fo", pid, e1, f.now)))
	g = reload()
	if rp, re, _, err := g.EndTxnTV2("fo", pid, e0, true, f.now); err != nil || rp != pid || re != e1 {
		t.Fatalf("retry after completion on a reloaded coordinator: %d/%d %v, want %d/%d", rp, re, err, pid, e1)
	}
	// An older epoch is fenced all the same.
	if e0 > 0 {
		_, _, _, err = g.EndTxnTV2("fo", pid, e0-1, true, f.now)
		wantErr(t, "an older epoch", err, kerr.ProducerFenced)
	}

	// A timeout fences the producer: after a reload, its retry is
	// fenced, not answered.
	f.c = g
	f.apply(mustEff(t)(f.c.AddPartitions("fo", pid, e1, []model.TopicPartition{tpB}, f.now)))
	f.now += 11_000
	for _, e := range f.c.Tick(f.now) {
		f.apply(e)
		if e.Markers != nil {
			f.apply(mustEff(t)(f.c.MarkersWritten("fo", e.Markers.ProducerID, e.Markers.Epoch, f.now)))
		}
	}
	if tx, _ := f.c.Get("fo"); tx.State != kmsg.TransactionStateCompleteAbort {
		t.Fatalf("after the timeout: %v", tx.State)
	}
	g = reload()
	_, _, _, err = g.EndTxnTV2("fo", pid, e1, false, f.now)
	wantErr(t, "an end from the fenced producer after a reload", err, kerr.ProducerFenced)
}
