// These tests drive share groups (KIP-932) through ShareGroupHeartbeat
// with a fake clock: joins, the simple assignor's spread (also with more
// members than partitions), session expiry, fencing and the errors of bad
// heartbeats, topic changes, and the records replayed after a restart.
package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

type sgFixture struct {
	*fixture
	topics map[string]TopicMeta
	epochs map[string]int32
	owned  map[string][]ConsumerTopic
}

func newSGFixture(t *testing.T) *sgFixture {
	sf := &sgFixture{topics: map[string]TopicMeta{}, epochs: map[string]int32{}, owned: map[string][]ConsumerTopic{}}
	sf.fixture = newFixture(t, func(c *Config) {
		c.Topics = func() map[string]TopicMeta { return sf.topics }
		c.ShareSessionTimeout = 10 * time.Second
		c.ShareMaxSize = 8
	})
	return sf
}

func (sf *sgFixture) topic(name string, parts int32) {
	var id [16]byte
	copy(id[:], name)
	sf.topics = maps.Clone(sf.topics)
	sf.topics[name] = TopicMeta{ID: id, Partitions: parts}
}

func syncShareHB(c *Coordinator, now time.Time, req ShareHeartbeat) ShareHeartbeatResult {
	var out *ShareHeartbeatResult
	c.ShareGroupHeartbeat(now, req, func(r ShareHeartbeatResult) { out = &r })
	if out == nil {
		panic("share heartbeat not answered")
	}
	return *out
}

// hb heartbeats member id (joining with topics the first time) and keeps
// its assignment as a client would.
func (sf *sgFixture) hb(id string, topics ...string) ShareHeartbeatResult {
	sf.t.Helper()
	epoch, known := sf.epochs[id]
	req := ShareHeartbeat{Group: "sg", MemberID: id, MemberEpoch: epoch, ClientID: "client-" + id}
	if !known {
		req.SubscribedTopicNames = topics
	}
	r := syncShareHB(sf.c, sf.now, req)
	if r.Err != nil {
		sf.t.Fatalf("share heartbeat of %s: %v", id, r.Err)
	}
	sf.epochs[id] = r.MemberEpoch
	if r.Assignment != nil {
		sf.owned[id] = r.Assignment
	}
	return r
}

// spread checks that every partition of the topic is held, and returns
// how many partitions each member holds and how many members each
// partition has.
func (sf *sgFixture) spread(parts int32) (perMember map[string]int, perPart map[int32]int) {
	perMember, perPart = map[string]int{}, map[int32]int{}
	for id, ts := range sf.owned {
		for _, t := range ts {
			for _, p := range t.Partitions {
				perMember[id]++
				perPart[p]++
			}
		}
	}
	for p := int32(0); p < parts; p++ {
		if perPart[p] == 0 {
			sf.t.Fatalf("partition %d is assigned to nobody: %v", p, sf.owned)
		}
	}
	return perMember, perPart
}

func minMax[K comparable](m map[K]int) (lo, hi int) {
	lo = 1 << 30
	for _, v := range m {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

func TestShareGroupJoinAndSpread(t *testing.T) {
	sf := newSGFixture(t)
	sf.topic("t", 4)
	r := sf.hb("a", "t")
	if r.MemberEpoch != 1 || count(r.Assignment) != 4 || r.HeartbeatInterval != DefaultShareHeartbeatInterval {
		t.Fatalf("first member: %+v", r)
	}
	sf.hb("b", "t")
	sf.hb("a")
	perMember, _ := sf.spread(4)
	if perMember["a"] != 2 || perMember["b"] != 2 {
		t.Fatalf("two members over 4 partitions: %v", perMember)
	}
	// Six members over four partitions: each member gets one, each
	// partition is shared by one or two.
	for _, id := range []string{"c", "d", "e", "f"} {
		sf.hb(id, "t")
	}
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		sf.hb(id)
	}
	perMember, perPart := sf.spread(4)
	if lo, hi := minMax(perMember); lo != 1 || hi != 1 || len(perMember) != 6 {
		t.Fatalf("members: %v", perMember)
	}
	if lo, hi := minMax(perPart); lo != 1 || hi != 2 {
		t.Fatalf("partitions: %v", perPart)
	}
	d, err := sf.c.DescribeShareGroup("sg")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != "Stable" || len(d.Members) != 6 || d.Epoch != d.AssignmentEpoch || d.Assignor != "simple" {
		t.Fatalf("describe: %+v", d)
	}
	for _, m := range d.Members {
		if m.MemberEpoch != d.Epoch || m.ClientID != "client-"+m.MemberID {
			t.Fatalf("member: %+v (group epoch %d)", m, d.Epoch)
		}
	}
	ls, _ := sf.c.ListGroupsOf(nil, []string{"share"})
	if len(ls) != 1 || ls[0].Type != "share" || ls[0].StateName != "Stable" || ls[0].ProtocolType != "share" {
		t.Fatalf("list: %+v", ls)
	}
	// The topic grows: the next tick bumps the epoch and the members get
	// the new partitions.
	sf.topic("t", 8)
	sf.advance(time.Second)
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		sf.hb(id)
	}
	perMember, _ = sf.spread(8)
	if lo, hi := minMax(perMember); lo != 1 || hi != 2 {
		t.Fatalf("after growth: %v", perMember)
	}
}

func TestShareGroupSessionExpiryAndLeave(t *testing.T) {
	sf := newSGFixture(t)
	sf.topic("t", 2)
	sf.hb("a", "t")
	sf.hb("b", "t")
	for i := 0; i < 3; i++ {
		sf.advance(4 * time.Second)
		sf.hb("a")
	}
	// b missed its 10 s session: fenced, a gets both partitions.
	d, _ := sf.c.DescribeShareGroup("sg")
	if len(d.Members) != 1 || d.Members[0].MemberID != "a" {
		t.Fatalf("after b's session expired: %+v", d)
	}
	if n := count(sf.owned["a"]); n != 2 {
		t.Fatalf("a holds %d partitions", n)
	}
	r := syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "sg", MemberID: "b", MemberEpoch: sf.epochs["b"]})
	mustErr(t, r.Err, ErrUnknownMemberID)
	// b rejoins with its own id at epoch 0.
	delete(sf.epochs, "b")
	sf.hb("b", "t")
	// a leaves.
	if r := syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "sg", MemberID: "a", MemberEpoch: -1}); r.Err != nil || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	sf.hb("b")
	if n := count(sf.owned["b"]); n != 2 {
		t.Fatalf("b holds %d partitions", n)
	}
	if r := syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "sg", MemberID: "b", MemberEpoch: -1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	d, _ = sf.c.DescribeShareGroup("sg")
	if d.State != "Empty" {
		t.Fatalf("state %s", d.State)
	}
}

func TestShareGroupBadHeartbeats(t *testing.T) {
	sf := newSGFixture(t)
	sf.topic("t", 2)
	sf.hb("a", "t")
	sf.hb("a")
	for _, tc := range []struct {
		req  ShareHeartbeat
		want error
	}{
		{ShareHeartbeat{Group: "sg", MemberID: "", MemberEpoch: 0, SubscribedTopicNames: []string{"t"}}, ErrInvalidRequest},
		{ShareHeartbeat{Group: "", MemberID: "x", MemberEpoch: 0, SubscribedTopicNames: []string{"t"}}, ErrInvalidRequest},
		{ShareHeartbeat{Group: "sg", MemberID: "x", MemberEpoch: 0}, ErrInvalidRequest},
		{ShareHeartbeat{Group: "sg", MemberID: "x", MemberEpoch: -2}, ErrInvalidRequest},
		{ShareHeartbeat{Group: "sg", MemberID: strings.Repeat("m", 256), SubscribedTopicNames: []string{"t"}}, ErrInvalidRequest},
		{ShareHeartbeat{Group: "sg", MemberID: "x", MemberEpoch: 0, RackID: strp(" "), SubscribedTopicNames: []string{"t"}}, ErrInvalidRequest},
		{ShareHeartbeat{Group: "sg", MemberID: "x", MemberEpoch: 3}, ErrUnknownMemberID},
		{ShareHeartbeat{Group: "sg", MemberID: "x", MemberEpoch: -1}, ErrUnknownMemberID},
		{ShareHeartbeat{Group: "sg", MemberID: "a", MemberEpoch: 7}, ErrFencedMemberEpoch},
		{ShareHeartbeat{Group: "nosuch", MemberID: "a", MemberEpoch: 1}, ErrGroupIDNotFound},
		{ShareHeartbeat{Group: "nosuch", MemberID: "a", MemberEpoch: -1}, ErrGroupIDNotFound},
	} {
		mustErr(t, syncShareHB(sf.c, sf.now, tc.req).Err, tc.want)
	}
	// A classic group's id is not a share group's, and back.
	if err := sf.commit(simpleCommit("classic", 5)); err != nil {
		t.Fatal(err)
	}
	mustErr(t, syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "classic", MemberID: "a", SubscribedTopicNames: []string{"t"}}).Err, ErrGroupIDNotFound)
	jc := sf.join(JoinRequest{Group: "sg", ClientID: "c"})
	mustErr(t, jc.res.Err, ErrInconsistentGroupProtocol)
	mustErr(t, sf.commit(simpleCommit("sg", 1)), ErrGroupIDNotFound)
	delDone := make(chan error, 1)
	sf.c.DeleteOffsets(sf.now, "sg", []model.TopicPartition{{Topic: "t"}}, func(top error, _ []error) { delDone <- top })
	mustErr(t, <-delDone, ErrGroupIDNotFound)
	if d, _ := sf.c.DescribeGroup("sg"); d.State != Dead {
		t.Fatalf("DescribeGroups of a share group: %+v", d)
	}
	// group.share.max.size (8).
	for i := 0; i < 7; i++ {
		sf.hb(fmt.Sprint("m", i), "t")
	}
	mustErr(t, syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "sg", MemberID: "over", SubscribedTopicNames: []string{"t"}}).Err, ErrGroupMaxSizeReached)
	// The previous epoch is accepted (its answer may have been lost).
	prev := sf.epochs["a"]
	sf.hb("m0")
	sf.hb("a")
	if sf.epochs["a"] != prev {
		if r := syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "sg", MemberID: "a", MemberEpoch: prev}); r.Err != nil {
			t.Fatalf("previous epoch refused: %v", r.Err)
		}
	}
}

func TestShareGroupSurvivesReload(t *testing.T) {
	sf := newSGFixture(t)
	sf.topic("t", 3)
	sf.topic("u", 1)
	sf.hb("a", "t", "u")
	sf.hb("b", "t")
	sf.hb("c", "t")
	sf.hb("a")
	sf.hb("b")
	before, err := sf.c.DescribeShareGroup("sg")
	if err != nil {
		t.Fatal(err)
	}
	c2 := sf.reload()
	after, err := c2.DescribeShareGroup("sg")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", before) != fmt.Sprintf("%+v", after) {
		t.Fatalf("after reload:\n%+v\nbefore:\n%+v", after, before)
	}
	// The members carry on with their epochs; a member that stops
	// heartbeating after the restart is fenced too.
	sf.c = c2
	sf.hb("a")
	sf.hb("b")
	sf.advance(6 * time.Second)
	sf.hb("a")
	sf.hb("b")
	sf.advance(6 * time.Second)
	d, _ := sf.c.DescribeShareGroup("sg")
	if len(d.Members) != 2 {
		t.Fatalf("c should have been fenced: %+v", d)
	}
	c3 := sf.reload()
	if d3, _ := c3.DescribeShareGroup("sg"); fmt.Sprintf("%+v", d3) != fmt.Sprintf("%+v", d) {
		t.Fatalf("fencing not persisted:\n%+v\n%+v", d3, d)
	}
	// Not deletable with members; deletable once empty, and gone after a
	// reload.
	done := make(chan []error, 1)
	sf.c.DeleteGroups(sf.now, []string{"sg"}, func(errs []error) { done <- errs })
	mustErr(t, (<-done)[0], ErrNonEmptyGroup)
	for _, id := range []string{"a", "b"} {
		if r := syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "sg", MemberID: id, MemberEpoch: -1}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if _, isShare, empty, err := sf.c.ShareGroupState("sg"); !isShare || !empty || err != nil {
		t.Fatalf("state: share %v empty %v err %v", isShare, empty, err)
	}
	sf.c.DeleteGroups(sf.now, []string{"sg"}, func(errs []error) { done <- errs })
	if errs := <-done; errs[0] != nil {
		t.Fatal(errs[0])
	}
	if _, err := sf.reload().DescribeShareGroup("sg"); !errors.Is(err, ErrGroupIDNotFound) {
		t.Fatalf("deleted share group after reload: %v", err)
	}
}

func TestShareAssignSticky(t *testing.T) {
	topics := map[string]TopicMeta{"t": {ID: [16]byte{1}, Partitions: 6}}
	members := map[string]*smember{}
	for _, id := range []string{"a", "b", "c"} {
		members[id] = &smember{id: id, topics: []string{"t"}}
	}
	first := shareAssign(members, nil, topics)
	members["d"] = &smember{id: "d", topics: []string{"t"}}
	second := shareAssign(members, first, topics)
	moved := 0
	for _, id := range []string{"a", "b", "c"} {
		for tp := range first[id] {
			if _, ok := second[id][tp]; !ok {
				moved++
			}
		}
	}
	// 6 over 4: two members keep 2, two have 1; d's one partition is
	// the only one that moves.
	if moved != 1 || len(second["d"]) != 1 {
		t.Fatalf("moved %d: %v -> %v", moved, first, second)
	}
	all := tpSet{}
	for _, s := range second {
		for tp := range s {
			all[tp] = struct{}{}
		}
	}
	if len(all) != 6 {
		t.Fatalf("not all partitions assigned: %v", second)
	}
	if _, ok := all[model.TopicPartition{Topic: "t", Partition: 5}]; !ok {
		t.Fatal("partition 5 missing")
	}
}

// FuzzShareGroupRecords feeds the share-group record decoders arbitrary
// keys and values: they must fail cleanly, never panic, and a replay of
// what they accept must build a group.
func FuzzShareGroupRecords(f *testing.F) {
	sg := newSGroup()
	sg.epoch, sg.assignmentEpoch = 3, 3
	sg.members["m"] = &smember{id: "m", rackID: strp("r"), clientID: "c", clientHost: "h", topics: []string{"t"},
		assigned: tpSet{{Topic: "t", Partition: 0}: {}}, epoch: 3, prevEpoch: 2}
	sg.target["m"] = tpSet{{Topic: "t", Partition: 0}: {}, {Topic: "t", Partition: 1}: {}}
	topics := map[string]TopicMeta{"t": {ID: [16]byte{1}, Partitions: 2}}
	for k, v := range sg.records("g", topics) {
		f.Add([]byte(k), v)
	}
	f.Add([]byte{0, 10, 0, 1, 'g', 0, 1, 'm'}, []byte{0, 0, 0, 1, 1, 2, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0, 14, 0, 1, 'g', 0, 1, 'm'}, []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if len(key) < 2 {
			return
		}
		typ := int16(binary.BigEndian.Uint16(key))
		if !isShareRecord(typ) {
			return
		}
		groups := map[string]*group{}
		get := func(id string) *group {
			if groups[id] == nil {
				groups[id] = newGroup(id, time.UnixMilli(0))
			}
			return groups[id]
		}
		if err := replayShareRecord(typ, key, value, get); err != nil {
			return
		}
		for _, g := range groups {
			buildShareGroup(g, topics, time.UnixMilli(0))
		}
	})
}

// A share group's own share.session.timeout.ms and
// share.heartbeat.interval.ms (GROUP configs) win over the broker's.
func TestShareGroupOwnTimeouts(t *testing.T) {
	sf := newSGFixture(t)
	sf.c.cfg.ShareGroupTimeouts = func(id string) GroupTimeouts {
		if id == "sg" {
			return GroupTimeouts{Session: 3 * time.Second, Heartbeat: time.Second}
		}
		return GroupTimeouts{}
	}
	sf.topic("t", 1)
	if r := sf.hb("a", "t"); r.HeartbeatInterval != time.Second {
		t.Fatalf("heartbeat interval %v", r.HeartbeatInterval)
	}
	sf.hb("b", "t")
	sf.advance(2 * time.Second)
	sf.hb("a")
	sf.advance(2 * time.Second) // b's 3 s session is over; a's is not
	d, _ := sf.c.DescribeShareGroup("sg")
	if len(d.Members) != 1 || d.Members[0].MemberID != "a" {
		t.Fatalf("members: %+v", d.Members)
	}
	if s, h := sf.c.ConsumerTimeouts("sg"); s != DefaultConsumerSessionTimeout || h != DefaultConsumerHeartbeatInterval {
		t.Fatalf("consumer timeouts with no override: %v %v", s, h)
	}
}

// A failed write answers the heartbeat with the store error; the group's
// next write puts every record back, with tombstones for what went
// meanwhile, so a reload matches memory.
func TestShareGroupFailedWriteIsRepaired(t *testing.T) {
	sf := newSGFixture(t)
	sf.topic("t", 2)
	sf.hb("a", "t")
	sf.hb("b", "t")
	l := sf.logOf("sg")
	l.fail = model.ErrStorage
	r := syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "sg", MemberID: "c", SubscribedTopicNames: []string{"t"}})
	mustErr(t, r.Err, ErrNotCoordinator)
	l.fail = nil
	// b leaves; the write carries c's records and b's tombstones.
	if r := syncShareHB(sf.c, sf.now, ShareHeartbeat{Group: "sg", MemberID: "b", MemberEpoch: -1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	want, _ := sf.c.DescribeShareGroup("sg")
	got, err := sf.reload().DescribeShareGroup("sg")
	if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("after reload:\n%+v %v\nin memory:\n%+v", got, err, want)
	}
	if len(got.Members) != 2 {
		t.Fatalf("members: %+v", got.Members)
	}
}
