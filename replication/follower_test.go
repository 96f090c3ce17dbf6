// Follower tests: the truncation decision as a table, and a divergent
// follower converging on real storage (two managers in t.TempDir()) through
// a ReplicaFetcher and a fake leader that runs the Leader state machine
// behind a real fetch session cache.
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

	"github.com/ringtail/ringtail/fetchsession"
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

// fakeLeader serves a follower's ReplicaFetcher from real partitions, the
// way the kafka Fetch handler does: through a real fetchsession.Cache (an
// incremental request reads every partition of the session at its cached
// fetch offset), stepping each partition's Leader with a fake clock on
// every read and performing its effects.
type fakeLeader struct {
	t      *testing.T
	parts  map[model.TopicPartition]*leaderPart
	follow model.NodeID
	nowMs  int64
	cut    bool // the network is down
	cache  *fetchsession.Cache
	sent   []SessionRequest // every Fetch's session part
	// evict drops every session before the next Fetch.
	evict bool
}

type leaderPart struct {
	part    *storage.Partition
	l       *Leader
	proposd []*ISRProposal
}

func newFakeLeader(t *testing.T, follow model.NodeID) *fakeLeader {
	return &fakeLeader{t: t, follow: follow, parts: map[model.TopicPartition]*leaderPart{}, cache: fetchsession.New(10, 0)}
}

func (f *fakeLeader) lead(tp model.TopicPartition, part *storage.Partition, l *Leader) *leaderPart {
	lp := &leaderPart{part: part, l: l}
	f.parts[tp] = lp
	return lp
}

func (f *fakeLeader) perform(lp *leaderPart, e Effects) {
	if e.HWChanged {
		if _, err := lp.part.SetHighWatermark(e.HighWatermark); err != nil {
			f.t.Fatal(err)
		}
	}
	if e.ProposeISR != nil {
		lp.proposd = append(lp.proposd, e.ProposeISR)
	}
}

func (f *fakeLeader) OffsetsForLeaderEpoch(_ context.Context, qs []EpochQuery) (map[model.TopicPartition]EpochAnswer, error) {
	if f.cut {
		return nil, context.DeadlineExceeded
	}
	out := map[model.TopicPartition]EpochAnswer{}
	for _, q := range qs {
		lp := f.parts[q.TP]
		if lp == nil {
			out[q.TP] = EpochAnswer{Err: model.ErrNotLeader}
			continue
		}
		e, o, err := lp.part.EndOffsetForEpoch(q.Epoch)
		out[q.TP] = EpochAnswer{EpochEnd: EpochEnd{e, o}, Err: err}
	}
	return out, nil
}

func (f *fakeLeader) Fetch(_ context.Context, req SessionRequest, _ int32) (FetchResponse, error) {
	if f.cut {
		return FetchResponse{}, context.DeadlineExceeded
	}
	f.sent = append(f.sent, req)
	f.nowMs += 100
	now := time.UnixMilli(f.nowMs)
	if f.evict {
		f.evict = false
		f.cache = fetchsession.New(10, 0)
	}
	key := func(p PartitionFetch) fetchsession.Key {
		return fetchsession.Key{Topic: p.TP.Topic, Partition: p.TP.Partition}
	}
	r := fetchsession.Request{SessionID: req.SessionID, SessionEpoch: req.SessionEpoch, Privileged: true}
	for _, p := range req.Partitions {
		r.Partitions = append(r.Partitions, fetchsession.Partition{Key: key(p), FetchOffset: int64(p.FetchOffset), MaxBytes: p.MaxBytes,
			CurrentLeaderEpoch: int32(p.CurrentLeaderEpoch), LastFetchedEpoch: -1, LogStartOffset: int64(p.LogStartOffset)})
	}
	for _, p := range req.Forgotten {
		r.Forgotten = append(r.Forgotten, key(p))
	}
	sx, code := f.cache.Begin(now, r)
	if code != 0 {
		return FetchResponse{ErrorCode: code}, nil
	}
	parts := sx.Partitions()
	data := make([]PartitionData, len(parts))
	res := make([]fetchsession.Result, len(parts))
	for i, sp := range parts {
		tp := model.TopicPartition{Topic: sp.Topic, Partition: sp.Partition}
		data[i].TP = tp
		lp := f.parts[tp]
		if lp == nil {
			data[i].Err, res[i].Error = model.ErrNotLeader, true
			continue
		}
		// The leader learns the follower's log end from every session
		// partition, named in this request or not.
		f.perform(lp, lp.l.FollowerFetch(f.follow, model.Offset(sp.FetchOffset), f.nowMs))
		rr, err := lp.part.ReadReplica(model.Offset(sp.FetchOffset), sp.MaxBytes, true)
		if err != nil {
			data[i].Err, res[i].Error = err, true
			continue
		}
		data[i].Records, data[i].HighWatermark, data[i].LogStartOffset = rr.Records, rr.HighWatermark, rr.LogStartOffset
		res[i] = fetchsession.Result{Records: len(rr.Records) > 0, HighWatermark: int64(rr.HighWatermark), LogStartOffset: int64(rr.LogStartOffset)}
	}
	keep, id := sx.Respond(now, parts, res)
	out := FetchResponse{SessionID: id}
	for i := range data {
		if keep[i] {
			out.Partitions = append(out.Partitions, data[i])
		}
	}
	return out, nil
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
	lead := newFakeLeader(t, 2)
	lp := lead.lead(tp, a, NewLeader(LeaderConfig{MinInsyncReplicas: 1}, LeaderState{Self: 1, LeaderEpoch: 1, Replicas: []model.NodeID{1, 2}, ISR: []model.NodeID{1, 2}}, 0))
	for i := 0; i < 5; i++ {
		appendAs(t, a, 1, testBatch(2, 'a'))
	}
	lead.perform(lp, lp.l.LeaderAppended(10, 0))
	fb := NewReplicaFetcher(lead, FetcherConfig{})
	fb.Add(Followed{TP: tp, Local: b, LeaderEpoch: 1})
	for i := 0; i < 3; i++ {
		if _, err := fb.Step(ctx, time.Now()); err != nil {
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
	lead.perform(lp, lp.l.LeaderAppended(16, 1_000))
	if _, hw, _ := a.Offsets(); hw != 10 {
		t.Fatalf("old leader's HW %d with its follower cut off", hw)
	}

	// Epoch 2: 2 is elected (1 is unreachable, 2 is in the ISR) and
	// writes 10..13 of its own.
	if got, _ := ElectLeader([]model.NodeID{1, 2}, []model.NodeID{1, 2}, func(n model.NodeID) bool { return n == 2 }, false); got != 2 {
		t.Fatalf("elected %d", got)
	}
	lead2 := newFakeLeader(t, 1)
	lead2.nowMs = 2_000
	lp2 := lead2.lead(tp, b, NewLeader(LeaderConfig{MinInsyncReplicas: 1}, LeaderState{Self: 2, LeaderEpoch: 2, Replicas: []model.NodeID{1, 2}, ISR: []model.NodeID{2}, LogEnd: 10, HighWatermark: 10, EpochStartOffset: 10}, 2_000))
	for i := 0; i < 2; i++ {
		appendAs(t, b, 2, testBatch(2, 'b'))
	}
	lead2.perform(lp2, lp2.l.LeaderAppended(14, 2_000))

	// 1 comes back as a follower of epoch 2: asks for the end of its epoch
	// 1 (10 on the new leader), truncates 10..15 away, fetches 10..13.
	fa := NewReplicaFetcher(lead2, FetcherConfig{})
	fa.Add(Followed{TP: tp, Local: a, LeaderEpoch: 2})
	for i := 0; i < 3; i++ {
		if _, err := fa.Step(ctx, time.Now()); err != nil {
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
	if len(lp2.proposd) == 0 || len(lp2.proposd[len(lp2.proposd)-1].ISR) != 2 {
		t.Fatalf("ISR proposals %v", lp2.proposd)
	}
}
