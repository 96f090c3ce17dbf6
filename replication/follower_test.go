// Follower tests: the truncation decision as a table, and a divergent
// follower converging on real storage (two managers in t.TempDir()) through
// the Fetcher and a fake leader that runs the Leader state machine.
package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

func TestTruncationOffset(t *testing.T) {
	local := []storage.EpochStart{{Epoch: 1, StartOffset: 0}, {Epoch: 3, StartOffset: 10}, {Epoch: 4, StartOffset: 20}}
	for _, c := range []struct {
		name   string
		leader EpochEnd
		want   model.Offset
	}{
		{"leader has our epoch and more", EpochEnd{4, 30}, 25},
		{"leader's epoch 4 ended earlier", EpochEnd{4, 22}, 22},
		{"leader never had epoch 4; its epoch 3 ends at 15", EpochEnd{3, 15}, 15},
		{"leader's epoch 3 ends after ours (KIP-279)", EpochEnd{3, 24}, 20},
		{"leader cannot place the epoch: the HW", EpochEnd{-1, -1}, 12},
	} {
		if got := TruncationOffset(local, 25, 12, c.leader); got != c.want {
			t.Errorf("%s: TruncationOffset = %d, want %d", c.name, got, c.want)
		}
	}
	if got := TruncationOffset(nil, 5, 3, EpochEnd{-1, -1}); got != 3 {
		t.Errorf("empty cache: %d, want the HW 3", got)
	}
}

func TestElectLeader(t *testing.T) {
	live := func(ids ...model.NodeID) func(model.NodeID) bool {
		return func(n model.NodeID) bool {
			for _, id := range ids {
				if id == n {
					return true
				}
			}
			return false
		}
	}
	r := []model.NodeID{3, 1, 2}
	for _, c := range []struct {
		name        string
		isr         []model.NodeID
		live        func(model.NodeID) bool
		unclean     bool
		want        model.NodeID
		wantUnclean bool
	}{
		{"first live ISR member in replica order", []model.NodeID{1, 2, 3}, live(1, 2, 3), false, 3, false},
		{"preferred replica down", []model.NodeID{1, 2, 3}, live(1, 2), false, 1, false},
		{"live replica not in ISR is skipped", []model.NodeID{2}, live(1, 2), false, 2, false},
		{"no live ISR member, clean", []model.NodeID{2}, live(1, 3), false, NoLeader, false},
		{"no live ISR member, unclean", []model.NodeID{2}, live(1), true, 1, true},
		{"unclean prefers a live ISR member", []model.NodeID{2}, live(1, 2), true, 2, false},
		{"nobody live", []model.NodeID{1, 2, 3}, live(), true, NoLeader, false},
	} {
		got, unclean := ElectLeader(r, c.isr, c.live, c.unclean)
		if got != c.want || unclean != c.wantUnclean {
			t.Errorf("%s: ElectLeader = %d (unclean %v), want %d (%v)", c.name, got, unclean, c.want, c.wantUnclean)
		}
	}
}

// testBatch is a magic-v2 batch of n small records with a correct CRC.
func testBatch(n int, tag byte) []byte {
	var body []byte
	for i := 0; i < n; i++ {
		rec := []byte{0}
		rec = binary.AppendVarint(rec, 0)
		rec = binary.AppendVarint(rec, int64(i))
		rec = binary.AppendVarint(rec, -1)
		rec = binary.AppendVarint(rec, 2)
		rec = append(rec, tag, byte(i))
		rec = binary.AppendVarint(rec, 0)
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	b := make([]byte, storage.BatchHeaderSize, storage.BatchHeaderSize+len(body))
	binary.BigEndian.PutUint32(b[8:], uint32(storage.BatchHeaderSize-12+len(body)))
	b[16] = 2
	binary.BigEndian.PutUint32(b[23:], uint32(n-1))
	binary.BigEndian.PutUint64(b[27:], 1000)
	binary.BigEndian.PutUint64(b[35:], 1000)
	binary.BigEndian.PutUint64(b[43:], ^uint64(0))
	binary.BigEndian.PutUint16(b[51:], 0xffff)
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[57:], uint32(n))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func appendAs(t *testing.T, p *storage.Partition, epoch model.Epoch, b []byte) {
	t.Helper()
	ch := make(chan storage.AppendResult, 1)
	p.Append(b, epoch, func(r storage.AppendResult) { ch <- r })
	if r := <-ch; r.Err != nil {
		t.Fatalf("append: %v", r.Err)
	}
}

// fakeLeader serves a follower from a real partition, stepping a Leader
// with a fake clock and performing its effects.
type fakeLeader struct {
	t       *testing.T
	part    *storage.Partition
	l       *Leader
	follow  model.NodeID
	nowMs   int64
	cut     bool // the network is down
	proposd []*ISRProposal
}

func (f *fakeLeader) perform(e Effects) {
	if e.HWChanged {
		if _, err := f.part.SetHighWatermark(e.HighWatermark); err != nil {
			f.t.Fatal(err)
		}
	}
	if e.ProposeISR != nil {
		f.proposd = append(f.proposd, e.ProposeISR)
	}
}

func (f *fakeLeader) OffsetForLeaderEpoch(_ context.Context, _ model.TopicPartition, _, epoch model.Epoch) (EpochEnd, error) {
	if f.cut {
		return EpochEnd{}, context.DeadlineExceeded
	}
	e, o, err := f.part.EndOffsetForEpoch(epoch)
	return EpochEnd{e, o}, err
}

func (f *fakeLeader) Fetch(_ context.Context, _ model.TopicPartition, _ model.Epoch, offset model.Offset, maxBytes int32) (FetchResult, error) {
	if f.cut {
		return FetchResult{}, context.DeadlineExceeded
	}
	f.nowMs += 100
	f.perform(f.l.FollowerFetch(f.follow, offset, f.nowMs))
	res, err := f.part.ReadReplica(offset, maxBytes, true)
	if err != nil {
		return FetchResult{}, err
	}
	return FetchResult{Records: res.Records, HighWatermark: res.HighWatermark, LogStartOffset: res.LogStartOffset}, nil
}

func openNode(t *testing.T, rt *iocore.Runtime, tp model.TopicPartition) *storage.Partition {
	t.Helper()
	m, err := storage.OpenManager(storage.ManagerConfig{Dir: t.TempDir(), Runtime: rt, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(model.TopicPartition) storage.Config { return storage.DefaultConfig() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.CreatePartition(tp, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetExternalHW(true); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDivergentFollowerTruncatesAndConverges(t *testing.T) {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineSync})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	tp := model.TopicPartition{Topic: "orders", Partition: 0}
	a, b := openNode(t, rt, tp), openNode(t, rt, tp) // nodes 1 and 2
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Epoch 1: 1 leads, 2 follows and catches up to offset 10.
	lead := &fakeLeader{t: t, part: a, follow: 2}
	lead.l = NewLeader(LeaderConfig{MinInsyncReplicas: 1}, LeaderState{Self: 1, LeaderEpoch: 1, Replicas: []model.NodeID{1, 2}, ISR: []model.NodeID{1, 2}}, 0)
	for i := 0; i < 5; i++ {
		appendAs(t, a, 1, testBatch(2, 'a'))
	}
	lead.perform(lead.l.LeaderAppended(10, 0))
	fb := &Fetcher{TP: tp, Local: b, Leader: lead, LeaderEpoch: 1}
	for i := 0; i < 3; i++ {
		if _, err := fb.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, hw, end := b.Offsets(); end != 10 || hw != 10 {
		t.Fatalf("follower after catch-up: hw %d end %d", hw, end)
	}
	// 1 appends 10..15 under epoch 1 that never reach 2 (the network is
	// cut), and its HW cannot move past 10.
	lead.cut = true
	for i := 0; i < 3; i++ {
		appendAs(t, a, 1, testBatch(2, 'x'))
	}
	lead.perform(lead.l.LeaderAppended(16, 1_000))
	if _, hw, _ := a.Offsets(); hw != 10 {
		t.Fatalf("old leader's HW %d with its follower cut off", hw)
	}

	// Epoch 2: 2 is elected (1 is unreachable, 2 is in the ISR) and
	// writes 10..13 of its own.
	if got, _ := ElectLeader([]model.NodeID{1, 2}, []model.NodeID{1, 2}, func(n model.NodeID) bool { return n == 2 }, false); got != 2 {
		t.Fatalf("elected %d", got)
	}
	lead2 := &fakeLeader{t: t, part: b, follow: 1}
	lead2.l = NewLeader(LeaderConfig{MinInsyncReplicas: 1}, LeaderState{Self: 2, LeaderEpoch: 2, Replicas: []model.NodeID{1, 2}, ISR: []model.NodeID{2}, LogEnd: 10, HighWatermark: 10, EpochStartOffset: 10}, 2_000)
	for i := 0; i < 2; i++ {
		appendAs(t, b, 2, testBatch(2, 'b'))
	}
	lead2.perform(lead2.l.LeaderAppended(14, 2_000))

	// 1 comes back as a follower of epoch 2: asks for the end of its epoch
	// 1 (10 on the new leader), truncates 10..15 away, fetches 10..13.
	fa := &Fetcher{TP: tp, Local: a, Leader: lead2, LeaderEpoch: 2}
	for i := 0; i < 3; i++ {
		if _, err := fa.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, hwA, endA := a.Offsets()
	_, hwB, endB := b.Offsets()
	if endA != 14 || endB != 14 || hwB != 14 || hwA != 14 {
		t.Fatalf("not converged: node 1 hw %d end %d, node 2 hw %d end %d", hwA, endA, hwB, endB)
	}
	ra, _ := a.Read(0, 1<<20, true)
	rb, _ := b.Read(0, 1<<20, true)
	if !bytes.Equal(ra.Records, rb.Records) {
		t.Fatal("logs differ after convergence")
	}
	if bytes.Contains(ra.Records, []byte{'x', 0}) {
		t.Fatal("the divergent records survived")
	}
	ea, _ := a.LeaderEpochs()
	eb, _ := b.LeaderEpochs()
	if len(ea) != 2 || len(eb) != 2 || ea[1] != eb[1] || ea[1] != (storage.EpochStart{Epoch: 2, StartOffset: 10}) {
		t.Fatalf("epoch caches: node 1 %v, node 2 %v", ea, eb)
	}
	// Node 1 reached the HW and the epoch start: proposed back into the ISR.
	if len(lead2.proposd) == 0 || len(lead2.proposd[len(lead2.proposd)-1].ISR) != 2 {
		t.Fatalf("ISR proposals %v", lead2.proposd)
	}
}
