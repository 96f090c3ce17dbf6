// These tests drive the coordinator's state machine step by step with a
// fake clock and an in-memory log: joins, syncs, heartbeats, expiry,
// static membership and the errors of bad requests, with no goroutines
// and no sleeps.
package group

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

// memLog is a Log in memory: batches get offsets, reads return them.
// Appends fail with fail when it is set; with hold set they wait for
// release, which reports outcomes in any order while the log keeps its
// successful batches in append order (as storage does).
type memLog struct {
	mu      sync.Mutex
	batches [][]byte
	bases   []model.Offset
	next    model.Offset
	fail    error
	hold    bool
	held    []*heldAppend
	flushed int // held[:flushed] are resolved and in batches (or dropped)
}

type heldAppend struct {
	records  []byte
	done     func(error)
	resolved bool
	err      error
}

func (l *memLog) Append(records []byte, done func(error)) {
	l.mu.Lock()
	if l.hold {
		l.held = append(l.held, &heldAppend{records: append([]byte(nil), records...), done: done})
		l.mu.Unlock()
		return
	}
	if l.fail != nil {
		l.mu.Unlock()
		done(l.fail)
		return
	}
	l.writeLocked(records)
	l.mu.Unlock()
	done(nil)
}

// release reports the outcome of held append i (in append order, from 0).
func (l *memLog) release(i int, err error) {
	l.mu.Lock()
	h := l.held[i]
	h.resolved, h.err = true, err
	for l.flushed < len(l.held) && l.held[l.flushed].resolved {
		if f := l.held[l.flushed]; f.err == nil {
			l.writeLocked(f.records)
		}
		l.flushed++
	}
	l.mu.Unlock()
	h.done(err)
}

func (l *memLog) writeLocked(records []byte) {
	b := append([]byte(nil), records...)
	n := int64(int32(b[23])<<24|int32(b[24])<<16|int32(b[25])<<8|int32(b[26])) + 1
	for i := 0; i < 8; i++ {
		b[i] = byte(int64(l.next) >> (56 - 8*i))
	}
	l.batches = append(l.batches, b)
	l.bases = append(l.bases, l.next)
	l.next += model.Offset(n)
}

func (l *memLog) Offsets() (model.Offset, model.Offset) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, l.next
}

func (l *memLog) Read(offset model.Offset, maxBytes int32) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for i, b := range l.batches {
		end := model.Offset(0)
		if i+1 < len(l.bases) {
			end = l.bases[i+1]
		} else {
			end = l.next
		}
		if end <= offset {
			continue
		}
		out = append(out, b...)
		if len(out) >= int(maxBytes) {
			break
		}
	}
	return out, nil
}

type fixture struct {
	t    *testing.T
	c    *Coordinator
	now  time.Time
	logs map[int32]*memLog
	ids  int
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	f := &fixture{t: t, now: time.UnixMilli(1_700_000_000_000), logs: map[int32]*memLog{}}
	cfg := Config{
		NumPartitions: 4, InitialRebalanceDelay: 0,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewMemberID: func(client string) string { f.ids++; return fmt.Sprintf("%s-%d", client, f.ids) },
	}
	if mod != nil {
		mod(&cfg)
	}
	f.c = New(cfg)
	for p := int32(0); p < 4; p++ {
		f.logs[p] = &memLog{}
		if err := f.c.Load(p, f.logs[p], f.now); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.now = f.now.Add(d)
	f.c.Tick(f.now)
}

// joinCall is a JoinGroup in flight.
type joinCall struct {
	res  *JoinResult
	done bool
}

func (f *fixture) join(req JoinRequest) *joinCall {
	jc := &joinCall{}
	if req.SessionTimeout == 0 {
		req.SessionTimeout = 10 * time.Second
	}
	if req.RebalanceTimeout == 0 {
		req.RebalanceTimeout = 30 * time.Second
	}
	if req.ProtocolType == "" {
		req.ProtocolType = "consumer"
	}
	if req.Protocols == nil {
		req.Protocols = []Protocol{{Name: "range", Metadata: []byte("m")}}
	}
	f.c.Join(f.now, req, func(r JoinResult) {
		if jc.done {
			f.t.Fatalf("join answered twice")
		}
		jc.res, jc.done = &r, true
	})
	return jc
}

func (f *fixture) sync(req SyncRequest) *SyncResult {
	var out *SyncResult
	f.c.Sync(f.now, req, func(r SyncResult) { out = &r })
	return out
}

func mustErr(t *testing.T, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("error %v; want %v", got, want)
	}
}

// joinNew runs the v4+ two-step join and returns the pending call.
func (f *fixture) joinNew(group, client string) *joinCall {
	f.t.Helper()
	first := f.join(JoinRequest{Group: group, ClientID: client, RequireKnownMemberID: true})
	if !first.done {
		f.t.Fatal("first join not answered")
	}
	mustErr(f.t, first.res.Err, ErrMemberIDRequired)
	return f.join(JoinRequest{Group: group, ClientID: client, MemberID: first.res.MemberID, RequireKnownMemberID: true})
}

func TestJoinSyncHeartbeatLeave(t *testing.T) {
	f := newFixture(t, nil)
	a := f.joinNew("g", "a")
	if !a.done || a.res.Err != nil || a.res.Generation != 1 || a.res.Leader != a.res.MemberID || len(a.res.Members) != 1 {
		t.Fatalf("single join: %+v", a.res)
	}
	s := f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1, Assignments: map[string][]byte{a.res.MemberID: []byte("all")}})
	if s == nil || s.Err != nil || string(s.Assignment) != "all" || s.Protocol != "range" {
		t.Fatalf("sync: %+v", s)
	}
	if err := f.c.Heartbeat(f.now, "g", a.res.MemberID, nil, 1); err != nil {
		t.Fatal(err)
	}
	// A second member starts a rebalance; a's heartbeat says so.
	b := f.joinNew("g", "b")
	if b.done {
		t.Fatal("b's join answered before a rejoined")
	}
	mustErr(t, f.c.Heartbeat(f.now, "g", a.res.MemberID, nil, 1), ErrRebalanceInProgress)
	a2 := f.join(JoinRequest{Group: "g", ClientID: "a", MemberID: a.res.MemberID})
	if !a2.done || !b.done || a2.res.Generation != 2 || b.res.Generation != 2 {
		t.Fatalf("rebalance: a %+v b %+v", a2.res, b.res)
	}
	if len(a2.res.Members) != 2 || len(b.res.Members) != 0 || b.res.Leader != a.res.MemberID {
		t.Fatalf("leader gets the members: a %+v b %+v", a2.res, b.res)
	}
	// The follower syncs first and waits for the leader.
	var bs *SyncResult
	f.c.Sync(f.now, SyncRequest{Group: "g", MemberID: b.res.MemberID, Generation: 2}, func(r SyncResult) { bs = &r })
	if bs != nil {
		t.Fatal("follower's sync answered before the leader's")
	}
	mustErr(t, f.sync(SyncRequest{Group: "g", MemberID: b.res.MemberID, Generation: 1}).Err, ErrIllegalGeneration)
	as := f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, Generation: 2, Assignments: map[string][]byte{a.res.MemberID: []byte("A"), b.res.MemberID: []byte("B")}})
	if as.Err != nil || string(as.Assignment) != "A" || bs == nil || string(bs.Assignment) != "B" {
		t.Fatalf("assignments: %+v %+v", as, bs)
	}
	mustErr(t, f.c.Heartbeat(f.now, "g", b.res.MemberID, nil, 1), ErrIllegalGeneration)
	mustErr(t, f.c.Heartbeat(f.now, "g", "nobody", nil, 2), ErrUnknownMemberID)
	d, _ := f.c.DescribeGroup("g")
	if d.State != Stable || len(d.Members) != 2 || string(d.Members[1].Assignment) != "B" {
		t.Fatalf("describe: %+v", d)
	}
	// b leaves; a rejoins alone into generation 3.
	top, errs := f.c.Leave(f.now, "g", []LeaveMember{{MemberID: b.res.MemberID}, {MemberID: "ghost"}})
	if top != nil || errs[0] != nil || !errors.Is(errs[1], ErrUnknownMemberID) {
		t.Fatalf("leave: %v %v", top, errs)
	}
	a3 := f.join(JoinRequest{Group: "g", ClientID: "a", MemberID: a.res.MemberID})
	if !a3.done || a3.res.Generation != 3 || len(a3.res.Members) != 1 {
		t.Fatalf("after leave: %+v", a3.res)
	}
	// The last member leaving empties the group.
	f.c.Leave(f.now, "g", []LeaveMember{{MemberID: a.res.MemberID}})
	if d, _ := f.c.DescribeGroup("g"); d.State != Empty {
		t.Fatalf("state after last leave: %v", d.State)
	}
}

func TestSessionTimeoutExpiresMember(t *testing.T) {
	f := newFixture(t, nil)
	a := f.joinNew("g", "a")
	f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1})
	f.advance(9 * time.Second)
	if err := f.c.Heartbeat(f.now, "g", a.res.MemberID, nil, 1); err != nil {
		t.Fatal(err)
	}
	f.advance(9 * time.Second)
	if d, _ := f.c.DescribeGroup("g"); d.State != Stable {
		t.Fatalf("heartbeats keep the member: %v", d.State)
	}
	f.advance(time.Second)
	if d, _ := f.c.DescribeGroup("g"); d.State != Empty || len(d.Members) != 0 {
		t.Fatalf("after the session timeout: %+v", d)
	}
	mustErr(t, f.c.Heartbeat(f.now, "g", a.res.MemberID, nil, 1), ErrUnknownMemberID)
}

func TestRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	f := newFixture(t, nil)
	a := f.joinNew("g", "a")
	f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1})
	// b (a v0-v3 join: no member id round trip) starts a rebalance that a
	// never rejoins, though it keeps heartbeating.
	b := f.join(JoinRequest{Group: "g", ClientID: "b", SessionTimeout: time.Minute})
	for i := 0; i < 29; i++ {
		f.advance(time.Second)
		f.c.Heartbeat(f.now, "g", a.res.MemberID, nil, 1)
	}
	if b.done {
		t.Fatal("b answered before the rebalance timeout")
	}
	f.advance(time.Second)
	if !b.done || b.res.Err != nil || b.res.Generation != 2 || b.res.Leader != b.res.MemberID || len(b.res.Members) != 1 {
		t.Fatalf("after the rebalance timeout: %+v", b.res)
	}
	mustErr(t, f.c.Heartbeat(f.now, "g", a.res.MemberID, nil, 1), ErrUnknownMemberID)
}

func TestInitialRebalanceDelay(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	a := f.joinNew("g", "a")
	f.advance(2 * time.Second)
	b := f.joinNew("g", "b")
	f.advance(time.Second) // the first delay ends; b arrived, so it extends
	if a.done || b.done {
		t.Fatal("answered before the extended delay")
	}
	f.advance(3 * time.Second)
	if !a.done || !b.done || a.res.Generation != 1 || len(a.res.Members)+len(b.res.Members) != 2 {
		t.Fatalf("after the delay: %+v %+v", a.res, b.res)
	}
}

func TestStaticMembership(t *testing.T) {
	f := newFixture(t, nil)
	inst := "i-1"
	a := f.join(JoinRequest{Group: "g", ClientID: "a", InstanceID: &inst, RequireKnownMemberID: true})
	if !a.done || a.res.Err != nil || a.res.Generation != 1 {
		t.Fatalf("static join needs no member id round trip: %+v", a.res)
	}
	f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, InstanceID: &inst, Generation: 1, Assignments: map[string][]byte{a.res.MemberID: []byte("X")}})
	// The instance restarts: a new member id, same generation, same
	// assignment, no rebalance; the old id is fenced.
	a2 := f.join(JoinRequest{Group: "g", ClientID: "a", InstanceID: &inst, RequireKnownMemberID: true})
	if !a2.done || a2.res.Err != nil || a2.res.Generation != 1 || a2.res.MemberID == a.res.MemberID || !a2.res.SkipAssignment {
		t.Fatalf("static rejoin: %+v", a2.res)
	}
	s := f.sync(SyncRequest{Group: "g", MemberID: a2.res.MemberID, InstanceID: &inst, Generation: 1})
	if s.Err != nil || string(s.Assignment) != "X" {
		t.Fatalf("assignment kept: %+v", s)
	}
	mustErr(t, f.c.Heartbeat(f.now, "g", a.res.MemberID, &inst, 1), ErrFencedInstanceID)
	mustErr(t, f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, InstanceID: &inst, Generation: 1}).Err, ErrFencedInstanceID)
	var cerr error
	f.c.CommitOffsets(f.now, CommitRequest{Group: "g", MemberID: a.res.MemberID, InstanceID: &inst, Generation: 1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}}, func(top error, _ []error) { cerr = top })
	mustErr(t, cerr, ErrFencedInstanceID)
	_, errs := f.c.Leave(f.now, "g", []LeaveMember{{MemberID: a.res.MemberID, InstanceID: &inst}})
	mustErr(t, errs[0], ErrFencedInstanceID)
	_, errs = f.c.Leave(f.now, "g", []LeaveMember{{InstanceID: &inst}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
}

func TestBadJoins(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxMemberMetadataBytes = 100; c.MaxGroupSize = 2 })
	cases := []struct {
		name string
		req  JoinRequest
		want error
	}{
		{"empty group id", JoinRequest{Group: ""}, ErrInvalidGroupID},
		{"long group id", JoinRequest{Group: strings.Repeat("g", 256)}, ErrInvalidGroupID},
		{"no protocols", JoinRequest{Group: "g", Protocols: []Protocol{}}, ErrInconsistentGroupProtocol},
		{"big metadata", JoinRequest{Group: "g", Protocols: []Protocol{{Name: "range", Metadata: make([]byte, 200)}}}, ErrMemberMetadataTooLarge},
		{"session timeout", JoinRequest{Group: "g", SessionTimeout: time.Second}, ErrInvalidSessionTimeout},
		{"unknown member", JoinRequest{Group: "g", MemberID: "who"}, ErrUnknownMemberID},
	}
	for _, tc := range cases {
		j := f.join(tc.req)
		if !j.done {
			t.Fatalf("%s: not answered", tc.name)
		}
		mustErr(t, j.res.Err, tc.want)
	}
	if gs, _ := f.c.ListGroups(nil); len(gs) != 0 {
		t.Fatalf("failed joins left groups behind: %+v", gs)
	}
	a := f.joinNew("g", "a")
	f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1})
	mismatch := f.join(JoinRequest{Group: "g", ProtocolType: "connect"})
	mustErr(t, mismatch.res.Err, ErrInconsistentGroupProtocol)
	noCommon := f.join(JoinRequest{Group: "g", Protocols: []Protocol{{Name: "sticky"}}})
	mustErr(t, noCommon.res.Err, ErrInconsistentGroupProtocol)
	f.joinNew("g", "b")
	full := f.join(JoinRequest{Group: "g", ClientID: "c"})
	mustErr(t, full.res.Err, ErrGroupMaxSizeReached)
	if d, _ := f.c.DescribeGroup("other"); d.State != Dead {
		t.Fatalf("unknown group: %v", d.State)
	}
}

func TestProtocolSelection(t *testing.T) {
	f := newFixture(t, nil)
	ps := func(names ...string) []Protocol {
		var out []Protocol
		for _, n := range names {
			out = append(out, Protocol{Name: n, Metadata: []byte(n)})
		}
		return out
	}
	a := f.join(JoinRequest{Group: "g", ClientID: "a", Protocols: ps("cooperative-sticky", "range")})
	f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1})
	b := f.join(JoinRequest{Group: "g", ClientID: "b", Protocols: ps("range")})
	a2 := f.join(JoinRequest{Group: "g", ClientID: "a", MemberID: a.res.MemberID, Protocols: ps("cooperative-sticky", "range")})
	if !b.done || !a2.done || a2.res.Protocol != "range" {
		t.Fatalf("common protocol: %+v", a2.res)
	}
	if string(a2.res.Members[0].Metadata) != "range" {
		t.Fatalf("leader gets metadata of the chosen protocol: %q", a2.res.Members[0].Metadata)
	}
}

func TestCommitChecks(t *testing.T) {
	f := newFixture(t, nil)
	commit := func(req CommitRequest) (error, []error) {
		var top error
		var errs []error
		called := false
		f.c.CommitOffsets(f.now, req, func(t error, e []error) { top, errs, called = t, e, true })
		if !called {
			f.t.Fatal("commit not answered")
		}
		return top, errs
	}
	md := strings.Repeat("x", 5000)
	top, errs := commit(CommitRequest{Group: "simple", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 5}, {Topic: "t", Partition: 1, Offset: 1, Metadata: &md}}})
	if top != nil || errs[0] != nil || !errors.Is(errs[1], ErrOffsetMetadataTooLarge) {
		t.Fatalf("simple commit: %v %v", top, errs)
	}
	got, _ := f.c.FetchOffsets("simple")
	if got[model.TopicPartition{Topic: "t"}].Offset != 5 || len(got) != 1 {
		t.Fatalf("fetch: %+v", got)
	}
	top, _ = commit(CommitRequest{Group: "nogroup", Generation: 3, Offsets: []CommitOffset{{Topic: "t"}}})
	mustErr(t, top, ErrIllegalGeneration)
	a := f.joinNew("g", "a")
	top, _ = commit(CommitRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1, Offsets: []CommitOffset{{Topic: "t"}}})
	mustErr(t, top, ErrRebalanceInProgress)
	f.sync(SyncRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1})
	top, _ = commit(CommitRequest{Group: "g", MemberID: a.res.MemberID, Generation: 0, Offsets: []CommitOffset{{Topic: "t"}}})
	mustErr(t, top, ErrIllegalGeneration)
	top, _ = commit(CommitRequest{Group: "g", MemberID: "x", Generation: 1, Offsets: []CommitOffset{{Topic: "t"}}})
	mustErr(t, top, ErrUnknownMemberID)
	top, _ = commit(CommitRequest{Group: "g", Generation: -1, Offsets: []CommitOffset{{Topic: "t"}}})
	mustErr(t, top, ErrUnknownMemberID)
	top, _ = commit(CommitRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1, Offsets: []CommitOffset{{Topic: "t", Offset: 7}}})
	if top != nil {
		t.Fatal(top)
	}
	dch := make(chan []error, 1)
	f.c.DeleteGroups(f.now, []string{"g", "missing"}, func(e []error) { dch <- e })
	derr := <-dch
	mustErr(t, derr[0], ErrNonEmptyGroup)
	mustErr(t, derr[1], ErrGroupIDNotFound)
}

func TestNotCoordinator(t *testing.T) {
	c := New(Config{NumPartitions: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mustErr(t, c.Heartbeat(time.Now(), "g", "m", nil, 1), ErrNotCoordinator)
	mustErr(t, c.Check("g"), ErrNotCoordinator)
}

func TestPartitionForMatchesKafka(t *testing.T) {
	// Values from Java: Math.abs("...".hashCode()) % 50.
	for id, want := range map[string]int32{"my-group": 12, "test": 48, "": 0, "console-consumer-1": 24} {
		if got := PartitionFor(id, 50); got != want {
			t.Errorf("PartitionFor(%q) = %d; want %d", id, got, want)
		}
	}
}
