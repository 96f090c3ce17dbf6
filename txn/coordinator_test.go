package txn

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// fixture is a coordinator with a producer-id counter and a log that keeps
// every persisted record, so that a second coordinator can load it.
type fixture struct {
	t    *testing.T
	c    *Coordinator
	next int64
	log  []Record
	now  int64
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, next: 1000, now: 1_700_000_000_000}
	f.c = New(Config{MaxTimeoutMs: 60_000, ExpirationMs: 3_600_000, AllocateProducerID: func() (int64, error) {
		f.next++
		return f.next, nil
	}})
	return f
}

func (f *fixture) apply(e Effects) Effects {
	f.log = append(f.log, e.Persist...)
	return e
}

func (f *fixture) init(id string) (int64, int16) {
	f.t.Helper()
	pid, epoch, e, err := f.c.InitProducerID(id, 10_000, -1, -1, f.now)
	if err != nil {
		f.t.Fatalf("init %s: %v", id, err)
	}
	f.apply(e)
	return pid, epoch
}

var (
	tpA = model.TopicPartition{Topic: "a", Partition: 0}
	tpB = model.TopicPartition{Topic: "b", Partition: 3}
)

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

// A transaction's whole life: init, add, commit (markers to every
// partition), markers written, the next transaction, an abort.
func TestCommitAndAbort(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("tx")
	if epoch != 0 {
		t.Fatalf("first epoch %d", epoch)
	}
	if _, err := f.c.AddPartitions("tx", pid, epoch, []model.TopicPartition{tpB, tpA}, f.now); err != nil {
		t.Fatal(err)
	}
	if !f.c.HasPartition("tx", pid, epoch, tpA) || f.c.HasPartition("tx", pid, epoch, model.TopicPartition{Topic: "c"}) {
		t.Fatal("HasPartition does not follow AddPartitions")
	}
	e, err := f.c.EndTxn("tx", pid, epoch, true, f.now)
	if err != nil {
		t.Fatal(err)
	}
	f.apply(e)
	if m := e.Markers; m == nil || !m.Commit || len(m.Partitions) != 2 || m.Partitions[0] != tpA || m.Epoch != epoch {
		t.Fatalf("commit markers: %+v", e.Markers)
	}
	// A retry while markers are in flight, and a contrary end.
	_, err = f.c.EndTxn("tx", pid, epoch, true, f.now)
	wantErr(t, "commit retry while writing markers", err, kerr.ConcurrentTransactions)
	_, err = f.c.EndTxn("tx", pid, epoch, false, f.now)
	wantErr(t, "abort while committing", err, kerr.InvalidTxnState)
	_, err = f.c.AddPartitions("tx", pid, epoch, []model.TopicPartition{tpA}, f.now)
	wantErr(t, "add while committing", err, kerr.ConcurrentTransactions)
	f.apply(must(f.c.MarkersWritten("tx", pid, epoch, f.now)))
	if st, _ := f.c.Get("tx"); st.State != kmsg.TransactionStateCompleteCommit || len(st.Partitions) != 0 {
		t.Fatalf("after markers: %+v", st)
	}
	if _, err := f.c.EndTxn("tx", pid, epoch, true, f.now); err != nil {
		t.Fatalf("commit retry after completion: %v", err)
	}
	// The next transaction, aborted.
	if _, err := f.c.AddPartitions("tx", pid, epoch, []model.TopicPartition{tpB}, f.now); err != nil {
		t.Fatal(err)
	}
	e, err = f.c.EndTxn("tx", pid, epoch, false, f.now)
	if err != nil || e.Markers == nil || e.Markers.Commit || len(e.Markers.Partitions) != 1 {
		t.Fatalf("abort: %+v %v", e.Markers, err)
	}
}

func must(e Effects, err error) Effects {
	if err != nil {
		panic(err)
	}
	return e
}

// A second InitProducerID with the same id fences the first producer; an
// open transaction of the old one is aborted first (the new one retries
// through CONCURRENT_TRANSACTIONS).
func TestFencing(t *testing.T) {
	f := newFixture(t)
	pid, e0 := f.init("tx")
	f.apply(must(f.c.AddPartitions("tx", pid, e0, []model.TopicPartition{tpA}, f.now)))
	_, _, e, err := f.c.InitProducerID("tx", 10_000, -1, -1, f.now)
	wantErr(t, "init over an open transaction", err, kerr.ConcurrentTransactions)
	if e.Markers == nil || e.Markers.Commit || e.Markers.Epoch != e0+1 {
		t.Fatalf("the old transaction's abort: %+v", e.Markers)
	}
	f.apply(e)
	_, err = f.c.AddPartitions("tx", pid, e0, []model.TopicPartition{tpB}, f.now)
	wantErr(t, "the fenced producer adds", err, kerr.ProducerFenced)
	_, _, _, err = f.c.InitProducerID("tx", 10_000, -1, -1, f.now)
	wantErr(t, "init while the abort's markers are in flight", err, kerr.ConcurrentTransactions)
	f.apply(must(f.c.MarkersWritten("tx", pid, e0+1, f.now)))
	pid2, e2 := f.init("tx")
	if pid2 != pid || e2 != e0+2 {
		t.Fatalf("after the abort: producer %d epoch %d, want %d/%d", pid2, e2, pid, e0+2)
	}
	_, err = f.c.EndTxn("tx", pid, e0, true, f.now)
	wantErr(t, "the fenced producer commits", err, kerr.ProducerFenced)
	_, err = f.c.EndTxn("tx", pid+7, e2, true, f.now)
	wantErr(t, "another producer id", err, kerr.InvalidProducerIDMapping)
	// KIP-360: a producer naming an id and epoch that are not current.
	_, _, _, err = f.c.InitProducerID("tx", 10_000, pid, e0, f.now)
	wantErr(t, "KIP-360 bump from a stale epoch", err, kerr.ProducerFenced)
	if _, e3, _, err := f.c.InitProducerID("tx", 10_000, pid, e2, f.now); err != nil || e3 != e2+1 {
		t.Fatalf("KIP-360 bump of the current epoch: %d %v", e3, err)
	}
	_, _, _, err = f.c.InitProducerID("other", 60_001, -1, -1, f.now)
	wantErr(t, "timeout above transaction.max.timeout.ms", err, kerr.InvalidTransactionTimeout)
}

// A transaction open past its timeout is aborted by Tick and its producer
// fenced; an id idle past transactional.id.expiration.ms is forgotten.
func TestTimeoutAndExpiration(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("slow")
	f.apply(must(f.c.AddPartitions("slow", pid, epoch, []model.TopicPartition{tpA}, f.now)))
	f.now += 9_000
	if effs := f.c.Tick(f.now); len(effs) != 0 {
		t.Fatalf("aborted before its timeout: %+v", effs)
	}
	f.now += 2_000
	effs := f.c.Tick(f.now)
	if len(effs) != 1 || effs[0].Markers == nil || effs[0].Markers.Commit {
		t.Fatalf("timeout: %+v", effs)
	}
	f.apply(effs[0])
	_, err := f.c.EndTxn("slow", pid, epoch, true, f.now)
	wantErr(t, "commit after the timeout", err, kerr.ProducerFenced)
	f.apply(must(f.c.MarkersWritten("slow", pid, epoch+1, f.now)))
	f.now += 3_600_001
	effs = f.c.Tick(f.now)
	if len(effs) != 1 || effs[0].Persist[0].Value != nil {
		t.Fatalf("expiration: %+v", effs)
	}
	f.apply(effs[0])
	if _, ok := f.c.Get("slow"); ok {
		t.Fatal("expired id still known")
	}
}

// A new coordinator loading the log has the same state, and the markers of
// a transaction left half-completed are pending for it to write.
func TestLoadResumesAndFinishesMarkers(t *testing.T) {
	f := newFixture(t)
	p1, e1 := f.init("done")
	f.apply(must(f.c.AddPartitions("done", p1, e1, []model.TopicPartition{tpA}, f.now)))
	f.apply(must(f.c.EndTxn("done", p1, e1, true, f.now)))
	f.apply(must(f.c.MarkersWritten("done", p1, e1, f.now)))
	p2, e2 := f.init("half")
	f.apply(must(f.c.AddPartitions("half", p2, e2, []model.TopicPartition{tpA, tpB}, f.now)))
	f.apply(must(f.c.EndTxn("half", p2, e2, true, f.now)))
	f.init("gone")
	f.log = append(f.log, tombstone("gone"))

	g := New(Config{AllocateProducerID: func() (int64, error) { return 0, errors.New("unused") }})
	if errs := g.Load(f.log); len(errs) != 0 {
		t.Fatal(errs)
	}
	for _, id := range []string{"done", "half"} {
		a, _ := f.c.Get(id)
		b, ok := g.Get(id)
		if !ok || a.ProducerID != b.ProducerID || a.Epoch != b.Epoch || a.State != b.State || len(a.Partitions) != len(b.Partitions) || a.TimeoutMs != b.TimeoutMs {
			t.Fatalf("%s: loaded %+v, had %+v", id, b, a)
		}
	}
	if _, ok := g.Get("gone"); ok {
		t.Fatal("a tombstoned id was loaded")
	}
	pend := g.Pending()
	if len(pend) != 1 || pend[0].TxnID != "half" || !pend[0].Commit || len(pend[0].Partitions) != 2 {
		t.Fatalf("pending markers after load: %+v", pend)
	}
	if errs := g.Load([]Record{{Key: []byte{0, 0, 0, 5, 'x'}}, {Key: encodeKey("bad"), Value: []byte{0, 0, 1}}}); len(errs) != 2 {
		t.Fatalf("bad records: %v", errs)
	}
}

// FuzzDecodeRecord: the __transaction_state decoder never panics, and what
// it accepts re-encodes to a record that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	fx := newFixture(&testing.T{})
	pid, epoch := fx.init("seed")
	fx.apply(must(fx.c.AddPartitions("seed", pid, epoch, []model.TopicPartition{tpA, tpB}, fx.now)))
	// A version 1 value (KIP-890 part 2's next producer id).
	tv2 := fx.c.txns["seed"]
	tv2.NextProducerID = 7
	fx.log = append(fx.log, tv2.record())
	for _, r := range fx.log {
		f.Add(r.Key, r.Value)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		id, tx, err := decodeRecord(Record{Key: key, Value: value})
		if err != nil || tx == nil {
			return
		}
		id2, tx2, err := decodeRecord(tx.record())
		if err != nil || id2 != id || tx2.ProducerID != tx.ProducerID || tx2.State != tx.State || len(tx2.Partitions) != len(tx.Partitions) ||
			tx2.NextProducerID != tx.NextProducerID || tx2.PrevProducerID != tx.PrevProducerID {
			t.Fatalf("re-encoded %q: %+v %v", id, tx2, err)
		}
	})
}
