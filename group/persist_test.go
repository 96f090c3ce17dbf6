// These tests prove that committed offsets and group metadata survive a
// restart: they are written through real storage (a partition log in
// t.TempDir()), and a new coordinator replaying the log sees the same
// state, with tombstones and expiry applied.
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

type storeLog struct{ p *storage.Partition }

func (l storeLog) Append(records []byte, done func(error)) {
	l.p.Append(records, 0, func(r storage.AppendResult) { done(r.Err) })
}
func (l storeLog) Offsets() (model.Offset, model.Offset) {
	s, hw, _ := l.p.Offsets()
	return s, hw
}
func (l storeLog) Read(o model.Offset, max int32) ([]byte, error) {
	r, err := l.p.Read(o, max, true)
	return r.Records, err
}

// openStore opens dir's storage with one __consumer_offsets partition and
// a coordinator loaded from it (1 partition, so every group lives there).
func openStore(t *testing.T, dir string, now time.Time) (*Coordinator, func()) {
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
	c := New(Config{NumPartitions: 1, Logger: log, OffsetsRetention: time.Hour})
	if err := c.Load(0, storeLog{p}, now); err != nil {
		t.Fatal(err)
	}
	return c, func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		rt.Close()
	}
}

func commitSync(t *testing.T, c *Coordinator, now time.Time, req CommitRequest) {
	t.Helper()
	ch := make(chan error, 1)
	c.CommitOffsets(now, req, func(top error, errs []error) {
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

func TestOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(1_700_000_000_000)
	c, closeFn := openStore(t, dir, now)
	for i := int64(0); i < 3; i++ {
		commitSync(t, c, now, CommitRequest{Group: "simple", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: 10 + i, LeaderEpoch: 2}, {Topic: "t", Partition: 1, Offset: 20}}})
	}
	commitSync(t, c, now, CommitRequest{Group: "gone", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})
	dch := make(chan []error, 1)
	c.DeleteGroups(now, []string{"gone"}, func(e []error) { dch <- e })
	if e := <-dch; e[0] != nil {
		t.Fatal(e[0])
	}
	// A managed group that reached Stable is stored with its members.
	var jr JoinResult
	c.Join(now, JoinRequest{Group: "managed", ClientID: "a", SessionTimeout: 10 * time.Second, ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("sub")}}}, func(r JoinResult) { jr = r })
	sch := make(chan SyncResult, 1)
	c.Sync(now, SyncRequest{Group: "managed", MemberID: jr.MemberID, Generation: jr.Generation, Assignments: map[string][]byte{jr.MemberID: []byte("asg")}}, func(r SyncResult) { sch <- r })
	if r := <-sch; r.Err != nil {
		t.Fatal(r.Err)
	}
	closeFn()

	c, closeFn = openStore(t, dir, now)
	got, err := c.FetchOffsets("simple")
	if err != nil {
		t.Fatal(err)
	}
	if o := got[model.TopicPartition{Topic: "t", Partition: 0}]; o.Offset != 12 || o.LeaderEpoch != 2 || len(got) != 2 {
		t.Fatalf("after restart: %+v", got)
	}
	if gs, _ := c.ListGroups(nil); len(gs) != 2 {
		t.Fatalf("groups after restart (the deleted one must stay deleted): %+v", gs)
	}
	d, _ := c.DescribeGroup("managed")
	if d.State != Stable || len(d.Members) != 1 || string(d.Members[0].Assignment) != "asg" {
		t.Fatalf("managed group after restart: %+v", d)
	}
	// The member keeps heartbeating on the restarted coordinator.
	if err := c.Heartbeat(now, "managed", jr.MemberID, nil, jr.Generation); err != nil {
		t.Fatal(err)
	}
	// Expiry: the simple group's offsets expire an hour after the commit,
	// once the tombstones are durable.
	later := now.Add(time.Hour)
	c.ExpireOffsets(later)
	waitFor(t, "offsets expired", func() bool {
		got, _ := c.FetchOffsets("simple")
		return len(got) == 0
	})
	closeFn()

	c, closeFn = openStore(t, dir, later)
	defer closeFn()
	if got, _ := c.FetchOffsets("simple"); len(got) != 0 {
		t.Fatalf("expired offsets came back after restart: %+v", got)
	}
}

// waitFor waits, up to 10 seconds, for cond to hold: outcomes that the log
// reports on its own goroutine reach memory soon after, not at once.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
