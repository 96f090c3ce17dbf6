// These tests drive conversions between classic and consumer groups with
// a fake clock: offline both ways, the online upgrade with classic
// members that keep working in the consumer group, the online downgrade
// when the last consumer-protocol member leaves, the migration policy,
// and restarts in between.
package group

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// classicSub is a consumer protocol subscription to t owning parts.
func classicSub(parts ...int32) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 1
	m.Topics = []string{"t"}
	if len(parts) > 0 {
		m.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "t", Partitions: parts}}
	}
	return m.AppendTo(nil)
}

func classicAssign(parts ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t", Partitions: parts}}
	return a.AppendTo(nil)
}

func decodeAssign(t *testing.T, b []byte) []int32 {
	t.Helper()
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(b); err != nil {
		t.Fatalf("assignment: %v", err)
	}
	var out []int32
	for _, tp := range a.Topics {
		out = append(out, tp.Partitions...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// classicGroup builds classic group g with members a (t-0, t-1) and b
// (t-2, t-3) at generation 2.
func classicGroup(cf *cgFixture) (a, b string) {
	t := cf.t
	proto := func(owned ...int32) []Protocol {
		return []Protocol{{Name: "cooperative-sticky", Metadata: classicSub(owned...)}}
	}
	fa := cf.join(JoinRequest{Group: "g", ClientID: "a", RequireKnownMemberID: true, Protocols: proto()})
	ja := cf.join(JoinRequest{Group: "g", ClientID: "a", MemberID: fa.res.MemberID, RequireKnownMemberID: true, Protocols: proto()})
	if !ja.done || ja.res.Err != nil {
		t.Fatalf("first member's join: %+v", ja.res)
	}
	a = ja.res.MemberID
	cf.sync(SyncRequest{Group: "g", MemberID: a, Generation: 1, Assignments: map[string][]byte{a: classicAssign(0, 1, 2, 3)}})
	first := cf.join(JoinRequest{Group: "g", ClientID: "b", RequireKnownMemberID: true, Protocols: proto()})
	jb := cf.join(JoinRequest{Group: "g", ClientID: "b", MemberID: first.res.MemberID, RequireKnownMemberID: true, Protocols: proto()})
	ja = cf.join(JoinRequest{Group: "g", ClientID: "a", MemberID: a, Protocols: proto(0, 1, 2, 3)})
	if !ja.done || !jb.done || ja.res.Generation != 2 {
		t.Fatalf("rebalance: %+v %+v", ja.res, jb.res)
	}
	b = jb.res.MemberID
	cf.sync(SyncRequest{Group: "g", MemberID: b, Generation: 2})
	if r := cf.sync(SyncRequest{Group: "g", MemberID: a, Generation: 2, Assignments: map[string][]byte{a: classicAssign(0, 1), b: classicAssign(2, 3)}}); r == nil || r.Err != nil {
		t.Fatalf("leader sync: %+v", r)
	}
	return a, b
}

func listing(t *testing.T, c *Coordinator) Listing {
	t.Helper()
	l, err := c.ListGroups(nil)
	if err != nil || len(l) != 1 {
		t.Fatalf("ListGroups: %v %+v", err, l)
	}
	return l[0]
}

// classicMember is a classic client in a consumer group: it joins,
// syncs and keeps what it is given.
type classicMember struct {
	id    string
	gen   int32
	owned []int32
}

func (cf *cgFixture) rejoin(m *classicMember) {
	cf.t.Helper()
	j := cf.join(JoinRequest{Group: "g", MemberID: m.id, Protocols: []Protocol{{Name: "cooperative-sticky", Metadata: classicSub(m.owned...)}}})
	if !j.done || j.res.Err != nil {
		cf.t.Fatalf("rejoin of %s: %+v", m.id, j.res)
	}
	if j.res.ProtocolType != "consumer" || j.res.Protocol != "cooperative-sticky" || j.res.Leader != "" {
		cf.t.Fatalf("join answer %+v", j.res)
	}
	m.gen = j.res.Generation
	s := cf.sync(SyncRequest{Group: "g", MemberID: m.id, Generation: m.gen})
	if s == nil || s.Err != nil {
		cf.t.Fatalf("sync of %s: %+v", m.id, s)
	}
	m.owned = decodeAssign(cf.t, s.Assignment)
}

func TestOnlineUpgradeThenDowngrade(t *testing.T) {
	cf := newCGFixture(t)
	cf.topic("t", 4)
	a, b := classicGroup(cf)
	if l := listing(t, cf.c); l.Type != "classic" {
		t.Fatalf("listing %+v", l)
	}
	// A consumer-protocol member joins: the group converts, a and b keep
	// their partitions, the newcomer waits for some to be released.
	r := cf.hb("c", "t")
	if l := listing(t, cf.c); l.Type != "consumer" {
		t.Fatalf("after the upgrade: %+v", l)
	}
	if count(r.Assignment) != 0 {
		t.Fatalf("c got %v while a and b hold everything", r.Assignment)
	}
	ma, mb := &classicMember{id: a, gen: 2, owned: []int32{0, 1}}, &classicMember{id: b, gen: 2, owned: []int32{2, 3}}
	// Classic members hear of the rebalance through their heartbeats,
	// rejoin with what they own, and give up what they lose.
	for i := 0; i < 4; i++ {
		for _, m := range []*classicMember{ma, mb} {
			err := cf.c.Heartbeat(cf.now, "g", m.id, nil, m.gen)
			switch {
			case errors.Is(err, ErrRebalanceInProgress):
				cf.rejoin(m)
			case err != nil:
				t.Fatalf("heartbeat of %s: %v", m.id, err)
			}
		}
		cf.hb("c")
	}
	got := map[int32]string{}
	for id, ps := range map[string][]int32{a: ma.owned, b: mb.owned} {
		for _, p := range ps {
			if o, dup := got[p]; dup {
				t.Fatalf("t-%d held by %s and %s", p, o, id)
			}
			got[p] = id
		}
	}
	for _, ct := range cf.owned["c"] {
		for _, p := range ct.Partitions {
			if o, dup := got[p]; dup {
				t.Fatalf("t-%d held by %s and c", p, o)
			}
			got[p] = "c"
		}
	}
	if len(got) != 4 || len(ma.owned) == 0 || len(mb.owned) == 0 || count(cf.owned["c"]) == 0 {
		t.Fatalf("not balanced: a %v b %v c %v", ma.owned, mb.owned, cf.owned["c"])
	}
	// Commits of classic members are checked by epoch exactly.
	commit := func(m *classicMember, gen int32) error {
		return cf.commit(CommitRequest{Group: "g", MemberID: m.id, Generation: gen, RetentionMs: -1,
			Offsets: []CommitOffset{{Topic: "t", Partition: m.owned[0], Offset: 7, LeaderEpoch: -1}}})
	}
	mustErr(t, commit(ma, ma.gen-1), ErrIllegalGeneration)
	if err := commit(ma, ma.gen); err != nil {
		t.Fatal(err)
	}
	// So are their transactional commits (KIP-447's member fields).
	txnCommit := func(gen int32) error {
		var out error
		req := TxnCommitRequest{Group: "g", TransactionalID: "tx", ProducerID: 9, ProducerEpoch: 1, MemberID: ma.id, Generation: gen,
			Offsets: []CommitOffset{{Topic: "t", Partition: ma.owned[0], Offset: 3, LeaderEpoch: -1}}}
		cf.c.TxnCommitOffsets(cf.now, req, func(top error, errs []error) {
			out = top
			for _, e := range errs {
				if out == nil {
					out = e
				}
			}
		})
		return out
	}
	mustErr(t, txnCommit(ma.gen+1), ErrIllegalGeneration)
	if err := txnCommit(ma.gen); err != nil {
		t.Fatal(err)
	}
	// SyncGroup with a wrong protocol name, and members unknown.
	s := cf.sync(SyncRequest{Group: "g", MemberID: a, Generation: ma.gen, Protocol: strp("range")})
	mustErr(t, s.Err, ErrInconsistentGroupProtocol)
	mustErr(t, cf.c.Heartbeat(cf.now, "g", "nobody", nil, 1), ErrUnknownMemberID)

	// A restart keeps the mixed group, classic members included.
	cf.c = cf.reload()
	if l := listing(t, cf.c); l.Type != "consumer" {
		t.Fatalf("after reload: %+v", l)
	}
	if err := cf.c.Heartbeat(cf.now, "g", a, nil, ma.gen); err != nil {
		t.Fatalf("classic heartbeat after reload: %v", err)
	}
	if off, ok := cf.offsetOf("g", model.TopicPartition{Topic: "t", Partition: ma.owned[0]}); !ok || off != 7 {
		t.Fatalf("offset after reload %d %v", off, ok)
	}

	// The consumer-protocol member leaves: only classic members remain,
	// so the group goes back to classic and rebalances.
	if r := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "c", MemberEpoch: -1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if l := listing(t, cf.c); l.Type != "classic" || l.State != PreparingRebalance {
		t.Fatalf("after the downgrade: %+v", l)
	}
	mustErr(t, cf.c.Heartbeat(cf.now, "g", a, nil, ma.gen), ErrRebalanceInProgress)
	j1 := cf.join(JoinRequest{Group: "g", MemberID: a, Protocols: []Protocol{{Name: "cooperative-sticky", Metadata: classicSub(ma.owned...)}}})
	j2 := cf.join(JoinRequest{Group: "g", MemberID: b, Protocols: []Protocol{{Name: "cooperative-sticky", Metadata: classicSub(mb.owned...)}}})
	if !j1.done || !j2.done || j1.res.Err != nil || j1.res.Generation <= ma.gen {
		t.Fatalf("classic rebalance after the downgrade: %+v %+v", j1.res, j2.res)
	}
	// And a restart finds the classic group.
	cf.c = cf.reload()
	if l := listing(t, cf.c); l.Type != "classic" {
		t.Fatalf("after the downgrade and a reload: %+v", l)
	}
}

func TestMigrationPolicy(t *testing.T) {
	for _, p := range []string{"disabled", "downgrade"} {
		pol, err := ParseMigrationPolicy(p)
		if err != nil {
			t.Fatal(err)
		}
		cf := newCGFixture(t)
		cf.c.cfg.ConsumerMigrationPolicy = pol
		cf.topic("t", 4)
		classicGroup(cf)
		r := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "c", RebalanceTimeoutMs: 1000, SubscribedTopicNames: []string{"t"}, Owned: []ConsumerTopic{}})
		mustErr(t, r.Err, ErrGroupIDNotFound)
		r = syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "c", MemberEpoch: 3, RebalanceTimeoutMs: -1})
		mustErr(t, r.Err, ErrGroupIDNotFound)
		if l := listing(t, cf.c); l.Type != "classic" || l.State != Stable {
			t.Fatalf("%s: %+v", p, l)
		}
	}
	if _, err := ParseMigrationPolicy("sideways"); err == nil {
		t.Fatal("bad policy accepted")
	}
	// upgrade only: the last consumer member leaving keeps the group a
	// consumer group; classic members go on in it.
	cf := newCGFixture(t)
	cf.c.cfg.ConsumerMigrationPolicy = MigrationUpgrade
	cf.topic("t", 4)
	a, _ := classicGroup(cf)
	cf.hb("c", "t")
	if r := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "c", MemberEpoch: -1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if l := listing(t, cf.c); l.Type != "consumer" {
		t.Fatalf("upgrade-only policy downgraded: %+v", l)
	}
	ma := &classicMember{id: a, owned: []int32{0, 1}}
	cf.rejoin(ma)
	// A classic member that stops heartbeating is fenced after its own
	// session timeout (10 s in these joins), not the consumer one.
	cf.advance(11 * time.Second)
	mustErr(t, cf.c.Heartbeat(cf.now, "g", a, nil, ma.gen), ErrUnknownMemberID)
}

func TestOfflineConversions(t *testing.T) {
	cf := newCGFixture(t)
	cf.topic("t", 2)
	// Offsets only (a simple commit): the first consumer member makes it
	// a consumer group that keeps them, whatever the policy.
	cf.c.cfg.ConsumerMigrationPolicy = MigrationDisabled
	if err := cf.commit(simpleCommit("g", 5)); err != nil {
		t.Fatal(err)
	}
	cf.hb("c", "t")
	if l := listing(t, cf.c); l.Type != "consumer" {
		t.Fatalf("%+v", l)
	}
	if r := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "c", MemberEpoch: -1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	// Empty again: a classic JoinGroup makes it classic.
	j := cf.joinNew("g", "k")
	if !j.done || j.res.Err != nil {
		t.Fatalf("%+v", j.res)
	}
	if l := listing(t, cf.c); l.Type != "classic" {
		t.Fatalf("%+v", l)
	}
	cf.c = cf.reload()
	if l := listing(t, cf.c); l.Type != "classic" {
		t.Fatalf("after reload: %+v", l)
	}
	if off, ok := cf.offsetOf("g", tp0); !ok || off != 5 {
		t.Fatalf("offset %d %v", off, ok)
	}
}

func TestClassicMemberTimeouts(t *testing.T) {
	cf := newCGFixture(t)
	cf.topic("t", 4)
	a, b := classicGroup(cf)
	cf.hb("c", "t")
	// a rejoins but never syncs: fenced after its rebalance timeout,
	// though it heartbeats.
	j := cf.join(JoinRequest{Group: "g", MemberID: a, RebalanceTimeout: 3 * time.Second,
		Protocols: []Protocol{{Name: "cooperative-sticky", Metadata: classicSub(0, 1)}}})
	if !j.done || j.res.Err != nil {
		t.Fatalf("%+v", j.res)
	}
	cf.advance(2 * time.Second)
	_ = cf.c.Heartbeat(cf.now, "g", a, nil, j.res.Generation)
	cf.hb("c")
	cf.advance(2 * time.Second)
	mustErr(t, cf.c.Heartbeat(cf.now, "g", a, nil, j.res.Generation), ErrUnknownMemberID)
	// b is told to rejoin and does not: fenced after its rebalance
	// timeout (30 s in these joins) though its session (10 s) is kept
	// alive by heartbeats.
	for i := 0; i < 5; i++ {
		err := cf.c.Heartbeat(cf.now, "g", b, nil, 2)
		if i < 4 {
			mustErr(t, err, ErrRebalanceInProgress)
		} else {
			mustErr(t, err, ErrUnknownMemberID)
		}
		cf.hb("c")
		cf.advance(9 * time.Second)
	}
	d, err := cf.c.DescribeConsumerGroup("g")
	if err != nil || len(d.Members) != 1 || d.Members[0].Classic {
		t.Fatalf("%v %+v", err, d)
	}
}
