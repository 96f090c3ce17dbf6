// This test proves that transactional offset commits survive a restart
// through real storage: the log takes the coordinator's transactional
// batches, storage's own markers end them, and a new coordinator
// replaying the partition sees the committed offsets and the transaction
// still open.
package group

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

// openTxnStore is openStore that also hands out the partition, to write
// markers as the broker does.
func openTxnStore(t *testing.T, dir string, now time.Time) (*Coordinator, *storage.Partition, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: "sync", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	m, err := storage.OpenManager(storage.ManagerConfig{Dir: dir, Runtime: rt, Logger: log},
		func(model.TopicPartition) storage.Config { return storage.DefaultConfig() })
	if err != nil {
		t.Fatal(err)
	}
	tp := model.TopicPartition{Topic: OffsetsTopic, Partition: 0}
	p, ok := m.Partition(tp)
	if !ok {
		if p, err = m.CreatePartition(tp, storage.DefaultConfig()); err != nil {
			t.Fatal(err)
		}
	}
	c := New(Config{NumPartitions: 1, Logger: log})
	if err := c.Load(0, storeLog{p}, now); err != nil {
		t.Fatal(err)
	}
	return c, p, func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		rt.Close()
	}
}

func txnCommitSync(t *testing.T, c *Coordinator, now time.Time, req TxnCommitRequest) {
	t.Helper()
	ch := make(chan error, 1)
	c.TxnCommitOffsets(now, req, func(top error, errs []error) {
		for _, e := range errs {
			if top == nil {
				top = e
			}
		}
		ch <- top
	})
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

func writeMarker(t *testing.T, c *Coordinator, p *storage.Partition, pid int64, epoch int16, commit bool, now time.Time) {
	t.Helper()
	ch := make(chan error, 1)
	p.AppendMarker(storage.Marker{ProducerID: pid, Epoch: epoch, Commit: commit}, 0, func(r storage.AppendResult) { ch <- r.Err })
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	c.CompleteTxn(0, pid, commit, now)
}

func TestTxnOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(1_700_000_000_000)
	tp1 := model.TopicPartition{Topic: "t", Partition: 1}
	c, p, closeFn := openTxnStore(t, dir, now)
	r := txnReq("g", 7, 5)
	r.ProducerEpoch = 0
	r.Offsets = append(r.Offsets, CommitOffset{Topic: "t", Partition: 1, Offset: 50, LeaderEpoch: -1})
	txnCommitSync(t, c, now, r)
	commitSync(t, c, now, CommitRequest{Group: "g", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 6, LeaderEpoch: -1}}})
	writeMarker(t, c, p, 7, 0, true, now)
	aborted := txnReq("g", 8, 80)
	aborted.ProducerEpoch = 0
	txnCommitSync(t, c, now, aborted)
	writeMarker(t, c, p, 8, 0, false, now)
	open := txnReq("g", 9, 90)
	open.ProducerEpoch = 0
	txnCommitSync(t, c, now, open)
	check := func(c *Coordinator, what string) {
		t.Helper()
		got, err := c.FetchOffsets("g")
		if err != nil {
			t.Fatal(err)
		}
		if got[tp0].Offset != 6 || got[tp1].Offset != 50 || len(got) != 2 || !c.HasPendingTxnOffsets("g", tp0) {
			t.Fatalf("%s: %+v, pending %v; want t-0 6 (the later commit), t-1 50, t-0 pending", what, got, c.HasPendingTxnOffsets("g", tp0))
		}
	}
	check(c, "before the restart")
	closeFn()

	c, p, closeFn = openTxnStore(t, dir, now)
	defer closeFn()
	check(c, "after the restart")
	writeMarker(t, c, p, 9, 0, true, now)
	if got, _ := c.FetchOffsets("g"); got[tp0].Offset != 90 || c.HasPendingTxnOffsets("g") {
		t.Fatalf("after the open transaction commits: %+v", got)
	}
}
