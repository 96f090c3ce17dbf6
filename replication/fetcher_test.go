// ReplicaFetcher tests on real storage: one fetcher replicates several
// partitions from one fake leader (a real fetch session cache in front of
// Leader state machines), with incremental requests that name only the
// partitions that moved; an idle partition left out of the requests still
// counts as fetched for the ISR (the leader reads it at its cached fetch
// offset); a partition that is removed is forgotten; a partition that the
// leader no longer leads backs off and leaves the session; an evicted
// session starts over with a full fetch.
package replication

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

// openParts creates tps in one storage manager, in external-HW mode.
func openParts(t *testing.T, rt *iocore.Runtime, tps []model.TopicPartition) []*storage.Partition {
	t.Helper()
	m, err := storage.OpenManager(storage.ManagerConfig{Dir: t.TempDir(), Runtime: rt, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(model.TopicPartition) storage.Config { return storage.DefaultConfig() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var out []*storage.Partition
	for _, tp := range tps {
		p, err := m.CreatePartition(tp, storage.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SetExternalHW(true); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// sentNames is what one request named and forgot.
func sentNames(r SessionRequest) (sent, forgotten []string) {
	for _, p := range r.Partitions {
		sent = append(sent, p.TP.String())
	}
	for _, p := range r.Forgotten {
		forgotten = append(forgotten, p.TP.String())
	}
	return sent, forgotten
}

func TestReplicaFetcherSession(t *testing.T) {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineSync})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	tps := []model.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}, {Topic: "t", Partition: 2}}
	leaderLogs, followerLogs := openParts(t, rt, tps), openParts(t, rt, tps)
	lead := newFakeLeader(t, 2)
	var lps []*leaderPart
	for i, tp := range tps {
		lp := lead.lead(tp, leaderLogs[i], NewLeader(LeaderConfig{MinInsyncReplicas: 1, ReplicaLagTimeMaxMs: 1000},
			LeaderState{Self: 1, LeaderEpoch: 1, Replicas: []model.NodeID{1, 2}, ISR: []model.NodeID{1, 2}}, 0))
		appendAs(t, leaderLogs[i], 1, testBatch(2, 'a'))
		lead.perform(lp, lp.l.LeaderAppended(2, 0))
		lps = append(lps, lp)
	}
	f := NewReplicaFetcher(lead, FetcherConfig{Backoff: time.Hour})
	for i, tp := range tps {
		f.Add(Followed{TP: tp, Local: followerLogs[i], LeaderEpoch: 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	now := time.Unix(1000, 0)
	step := func() error {
		t.Helper()
		now = now.Add(100 * time.Millisecond)
		_, err := f.Step(ctx, now)
		for _, lp := range lps {
			lead.perform(lp, lp.l.Tick(lead.nowMs))
		}
		return err
	}
	mustStep := func() {
		t.Helper()
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	last := func() SessionRequest { return lead.sent[len(lead.sent)-1] }

	// Round 1 is full and opens the session; round 2 names what it
	// appended; then every partition is caught up and the HWs are copied.
	mustStep()
	if r := last(); !r.Full || r.SessionEpoch != 0 || len(r.Partitions) != 3 {
		t.Fatalf("first request %+v", r)
	}
	mustStep()
	if sent, _ := sentNames(last()); last().Full || len(sent) != 3 {
		t.Fatalf("second request: full %v, sent %v", last().Full, sent)
	}
	for i := range tps {
		if _, hw, end := followerLogs[i].Offsets(); hw != 2 || end != 2 {
			t.Fatalf("%s: follower hw %d end %d", tps[i], hw, end)
		}
	}

	// Only t-0 is written for 3 s of fake time (3x replica.lag.time.max.ms):
	// each request names t-0 alone, yet the leader of the idle t-1 and t-2
	// sees the follower fetch them every round (from the session).
	for i := range 30 {
		appendAs(t, leaderLogs[0], 1, testBatch(1, 'b'))
		lead.perform(lps[0], lps[0].l.LeaderAppended(model.Offset(3+i), lead.nowMs))
		mustStep()
		if r := last(); r.Full || r.SessionEpoch <= 0 {
			t.Fatalf("round %d: not incremental: %+v", i, r)
		}
		if sent, forgot := sentNames(last()); i > 0 && (!slices.Equal(sent, []string{"t-0"}) || forgot != nil) {
			t.Fatalf("round %d: sent %v forgot %v, want [t-0] only", i, sent, forgot)
		}
	}
	// t-1 is written now: the follower is behind its new end, and in sync
	// only because its last fetch (100 ms ago, at its cached offset)
	// reached the end then. Had the leader skipped omitted partitions, its
	// last fetch would be 3 s old and the ISR would shrink.
	appendAs(t, leaderLogs[1], 1, testBatch(1, 'c'))
	lead.perform(lps[1], lps[1].l.LeaderAppended(3, lead.nowMs))
	lead.perform(lps[1], lps[1].l.Tick(lead.nowMs))
	for i, lp := range lps {
		if len(lp.proposd) != 0 || len(lp.l.ISR()) != 2 {
			t.Fatalf("%s: ISR %v, proposals %v", tps[i], lp.l.ISR(), lp.proposd)
		}
	}
	mustStep()
	mustStep()
	for i := range tps {
		_, lhw, lend := leaderLogs[i].Offsets()
		_, fhw, fend := followerLogs[i].Offsets()
		if fend != lend || lhw != lend || fhw != lhw {
			t.Fatalf("%s: leader hw %d end %d, follower hw %d end %d", tps[i], lhw, lend, fhw, fend)
		}
	}

	// t-2 is removed (its leadership moved elsewhere): forgotten.
	f.Remove(tps[2])
	mustStep()
	if sent, forgot := sentNames(last()); sent != nil || !slices.Equal(forgot, []string{"t-2"}) {
		t.Fatalf("after remove: sent %v forgot %v", sent, forgot)
	}
	// The leader stops leading t-1: NOT_LEADER_OR_FOLLOWER; t-1 backs off
	// and leaves the session with the next request.
	delete(lead.parts, tps[1])
	if err := step(); err != nil {
		t.Fatal(err)
	}
	mustStep()
	if sent, forgot := sentNames(last()); sent != nil || !slices.Equal(forgot, []string{"t-1"}) {
		t.Fatalf("after NOT_LEADER: sent %v forgot %v", sent, forgot)
	}

	// The session is evicted: FETCH_SESSION_ID_NOT_FOUND, then a full
	// fetch that opens a new one.
	id, _ := f.Session()
	lead.evict = true
	if err := step(); !errors.Is(err, ErrSessionReset) {
		t.Fatalf("after eviction: %v", err)
	}
	mustStep()
	if r := last(); !r.Full || r.SessionID != 0 || len(r.Partitions) != 1 {
		t.Fatalf("after eviction: %+v", r)
	}
	if nid, epoch := f.Session(); nid == 0 || nid == id || epoch != 1 {
		t.Fatalf("new session %d epoch %d (old %d)", nid, epoch, id)
	}
	appendAs(t, leaderLogs[0], 1, testBatch(1, 'd'))
	_, _, lend := leaderLogs[0].Offsets()
	lead.perform(lps[0], lps[0].l.LeaderAppended(lend, lead.nowMs))
	mustStep()
	mustStep()
	if _, hw, end := followerLogs[0].Offsets(); end != lend || hw != lend {
		t.Fatalf("t-0 after the new session: hw %d end %d", hw, end)
	}
	if r, ok := f.CloseSession(); !ok || r.SessionEpoch != -1 {
		t.Fatalf("close: %+v %v", r, ok)
	}
}

// A Remove while a sessionless or incremental round waits on the leader
// cancels the round and returns once it is over. A round that opens a
// session is not cancelled (the leader would keep a session the follower
// never learns of): Remove waits for its answer.
func TestReplicaFetcherRemoveCancelsRound(t *testing.T) {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineSync})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	tp := model.TopicPartition{Topic: "t", Partition: 0}
	logs := openParts(t, rt, []model.TopicPartition{tp})
	bl := &blockingLeader{entered: make(chan struct{})}
	f := NewReplicaFetcher(bl, FetcherConfig{NoSessions: true})
	f.Add(Followed{TP: tp, Local: logs[0], LeaderEpoch: 1})
	done := make(chan error, 1)
	go func() {
		_, err := f.Step(context.Background(), time.Now())
		done <- err
	}()
	<-bl.entered
	f.Remove(tp)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("round after Remove: %v", err)
	}
	if f.Len() != 0 {
		t.Fatal("partition still fetched")
	}
	if _, err := f.Step(context.Background(), time.Now()); !errors.Is(err, ErrIdle) {
		t.Fatalf("empty fetcher: %v", err)
	}

	// With sessions: the first round opens one and runs to its answer.
	bl = &blockingLeader{entered: make(chan struct{}), release: make(chan struct{})}
	f = NewReplicaFetcher(bl, FetcherConfig{})
	f.Add(Followed{TP: tp, Local: logs[0], LeaderEpoch: 1})
	go func() {
		_, err := f.Step(context.Background(), time.Now())
		done <- err
	}()
	<-bl.entered
	removed := make(chan struct{})
	go func() {
		f.Remove(tp)
		close(removed)
	}()
	select {
	case <-removed:
		t.Fatal("Remove returned while the session-opening round was still out")
	case err := <-done:
		t.Fatalf("the session-opening round was cancelled: %v", err)
	case <-time.After(50 * time.Millisecond): // a bound for the negative check
	}
	close(bl.release)
	if err := <-done; err != nil {
		t.Fatalf("session-opening round: %v", err)
	}
	<-removed
	if id, _ := f.Session(); id != 7 {
		t.Fatalf("session %d after the answer, want 7", id)
	}
}

// blockingLeader holds every Fetch until its context ends, or with
// release, until release is closed (then it opens session 7).
type blockingLeader struct{ entered, release chan struct{} }

func (b *blockingLeader) OffsetsForLeaderEpoch(context.Context, []EpochQuery) (map[model.TopicPartition]EpochAnswer, error) {
	return nil, nil
}

func (b *blockingLeader) Fetch(ctx context.Context, _ SessionRequest, _ int32) (FetchResponse, error) {
	close(b.entered)
	if b.release != nil {
		<-b.release
		return FetchResponse{SessionID: 7}, nil
	}
	<-ctx.Done()
	return FetchResponse{}, ctx.Err()
}
