// These tests drive KIP-848 consumer groups through heartbeats with a
// fake clock: joins, incremental reconciliation (revoke before assign),
// fencing on session expiry, static members, regex subscriptions and the
// errors of bad heartbeats.
package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"sort"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

type cgFixture struct {
	*fixture
	topics map[string]TopicMeta
	owned  map[string][]ConsumerTopic // what each member holds (as a client would)
	epochs map[string]int32
}

func newCGFixture(t *testing.T) *cgFixture {
	cf := &cgFixture{topics: map[string]TopicMeta{}, owned: map[string][]ConsumerTopic{}, epochs: map[string]int32{}}
	cf.fixture = newFixture(t, func(c *Config) {
		c.Topics = func() map[string]TopicMeta { return cf.topics }
		c.ConsumerSessionTimeout = 45 * time.Second
	})
	return cf
}

func (cf *cgFixture) topic(name string, parts int32) {
	var id [16]byte
	copy(id[:], name)
	cf.topics = maps.Clone(cf.topics) // a new map: the topics changed
	cf.topics[name] = TopicMeta{ID: id, Partitions: parts}
}

func strp(s string) *string { return &s }

// hb sends a full heartbeat for member id (joining at epoch 0 the first
// time) and, like a client, adopts the assignment it gets.
func (cf *cgFixture) hb(id string, topics ...string) ConsumerHeartbeatResult {
	cf.t.Helper()
	epoch, known := cf.epochs[id]
	req := ConsumerHeartbeat{Version: 1, Group: "g", MemberID: id, MemberEpoch: epoch, RebalanceTimeoutMs: 60000, Owned: cf.owned[id]}
	if req.Owned == nil {
		req.Owned = []ConsumerTopic{}
	}
	if !known {
		req.SubscribedTopicNames = topics
	}
	r := syncHB(cf.c, cf.now, req)
	if r.Err != nil {
		cf.t.Fatalf("heartbeat of %s: %v", id, r.Err)
	}
	cf.epochs[id] = r.MemberEpoch
	if r.Assignment != nil {
		cf.owned[id] = r.Assignment
	}
	return r
}

func count(ts []ConsumerTopic) int {
	n := 0
	for _, t := range ts {
		n += len(t.Partitions)
	}
	return n
}

// checkNoOverlap fails if two members hold one partition.
func (cf *cgFixture) checkNoOverlap() int {
	cf.t.Helper()
	seen := map[string]string{}
	for id, ts := range cf.owned {
		for _, t := range ts {
			for _, p := range t.Partitions {
				k := fmt.Sprintf("%x-%d", t.ID, p)
				if o, dup := seen[k]; dup {
					cf.t.Fatalf("partition %s held by %s and %s", k, o, id)
				}
				seen[k] = id
			}
		}
	}
	return len(seen)
}

func TestConsumerGroupReconciles(t *testing.T) {
	cf := newCGFixture(t)
	cf.topic("t", 12)
	r := cf.hb("a", "t")
	if r.MemberEpoch != 1 || count(r.Assignment) != 12 {
		t.Fatalf("first member: epoch %d, %d partitions", r.MemberEpoch, count(r.Assignment))
	}
	// b joins: a must revoke half before b gets them.
	r = cf.hb("b", "t")
	if count(r.Assignment) != 0 {
		t.Fatalf("b got %d partitions while a still holds them", count(r.Assignment))
	}
	r = cf.hb("a")
	if count(r.Assignment) != 6 || r.MemberEpoch != 1 {
		t.Fatalf("a after b joined: %d partitions at epoch %d; want 6 at its old epoch 1", count(r.Assignment), r.MemberEpoch)
	}
	cf.checkNoOverlap()
	r = cf.hb("a") // acks the revocation
	if r.MemberEpoch != 2 {
		t.Fatalf("a's epoch %d after revoking; want 2", r.MemberEpoch)
	}
	r = cf.hb("b")
	if count(r.Assignment) != 6 || r.MemberEpoch != 2 {
		t.Fatalf("b: %d partitions at epoch %d", count(r.Assignment), r.MemberEpoch)
	}
	if n := cf.checkNoOverlap(); n != 12 {
		t.Fatalf("%d partitions held; want 12", n)
	}
	// A stale epoch is fenced.
	stale := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "a", MemberEpoch: 1, RebalanceTimeoutMs: -1})
	mustErr(t, stale.Err, ErrFencedMemberEpoch)
	unknown := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "zz", MemberEpoch: 2, RebalanceTimeoutMs: -1})
	mustErr(t, unknown.Err, ErrUnknownMemberID)

	// Commits: current epoch ok; an older one only for partitions held.
	tp := model.TopicPartition{Topic: "t", Partition: cf.owned["a"][0].Partitions[0]}
	g := cf.c.mu.groups["g"]
	if err := g.cg.validateCommit("a", 2, []model.TopicPartition{tp}); err != nil {
		t.Fatal(err)
	}
	other := model.TopicPartition{Topic: "t", Partition: cf.owned["b"][0].Partitions[0]}
	mustErr(t, g.cg.validateCommit("a", 1, []model.TopicPartition{other}), ErrStaleMemberEpoch)
	mustErr(t, g.cg.validateCommit("a", 9, nil), ErrFencedMemberEpoch)
	mustErr(t, g.cg.validateCommit("", -1, nil), ErrUnknownMemberID)

	// b misses its session: fenced, a gets everything back.
	for i := 0; i < 10; i++ {
		cf.advance(5 * time.Second)
		cf.hb("a")
	}
	if _, ok := cf.c.mu.groups["g"].cg.members["b"]; ok {
		t.Fatal("b was not fenced after its session")
	}
	delete(cf.owned, "b")
	if n := count(cf.owned["a"]); n != 12 {
		t.Fatalf("a holds %d partitions after b was fenced; want 12", n)
	}
	// a leaves: the group is empty.
	r = syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "a", MemberEpoch: -1})
	if r.Err != nil || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	if l, _ := cf.c.ListGroupsOf(nil, []string{"consumer"}); len(l) != 1 || l[0].StateName != "Empty" {
		t.Fatalf("listing %+v", l)
	}
}

func TestConsumerGroupThreeMembersBalanced(t *testing.T) {
	for _, assignor := range []string{"uniform", "range"} {
		t.Run(assignor, func(t *testing.T) {
			cf := newCGFixture(t)
			cf.topic("t", 12)
			for _, id := range []string{"a", "b", "c"} {
				req := ConsumerHeartbeat{Version: 1, Group: "g", MemberID: id, RebalanceTimeoutMs: 1000, SubscribedTopicNames: []string{"t"}, ServerAssignor: strp(assignor), Owned: []ConsumerTopic{}}
				r := syncHB(cf.c, cf.now, req)
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				cf.epochs[id], cf.owned[id] = r.MemberEpoch, r.Assignment
			}
			for round := 0; round < 5; round++ {
				for _, id := range []string{"a", "b", "c"} {
					cf.hb(id)
					cf.checkNoOverlap()
				}
			}
			var counts []int
			for _, id := range []string{"a", "b", "c"} {
				counts = append(counts, count(cf.owned[id]))
			}
			sort.Ints(counts)
			if fmt.Sprint(counts) != "[4 4 4]" {
				t.Fatalf("counts %v", counts)
			}
		})
	}
}

func TestConsumerGroupRegexAndTopicChanges(t *testing.T) {
	cf := newCGFixture(t)
	cf.topic("orders-1", 2)
	cf.topic("other", 2)
	re := "orders-.*"
	r := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "a", RebalanceTimeoutMs: 1000, SubscribedTopicRegex: &re, Owned: []ConsumerTopic{}})
	if r.Err != nil || count(r.Assignment) != 2 {
		t.Fatalf("%+v", r)
	}
	cf.epochs["a"], cf.owned["a"] = r.MemberEpoch, r.Assignment
	cf.topic("orders-2", 3)
	cf.advance(100 * time.Millisecond) // Tick re-evaluates
	if r := cf.hb("a"); count(cf.owned["a"]) != 5 {
		t.Fatalf("after orders-2 was created: %d partitions (%+v)", count(cf.owned["a"]), r)
	}
	cf.topics = maps.Clone(cf.topics)
	delete(cf.topics, "orders-1")
	cf.advance(100 * time.Millisecond)
	cf.hb("a")
	cf.hb("a")
	if count(cf.owned["a"]) != 3 {
		t.Fatalf("after orders-1 was deleted: %d partitions", count(cf.owned["a"]))
	}
	bad := "orders-("
	r = syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "b", RebalanceTimeoutMs: 1000, SubscribedTopicRegex: &bad})
	mustErr(t, r.Err, ErrInvalidRegularExpression)
}

func TestConsumerGroupBadHeartbeatsAndStatic(t *testing.T) {
	cf := newCGFixture(t)
	cf.topic("t", 4)
	for _, tc := range []struct {
		req  ConsumerHeartbeat
		want error
	}{
		{ConsumerHeartbeat{Version: 1, Group: "g", RebalanceTimeoutMs: 1, SubscribedTopicNames: []string{"t"}}, ErrInvalidRequest}, // v1: no member id
		{ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "m", RebalanceTimeoutMs: -1, SubscribedTopicNames: []string{"t"}}, ErrInvalidRequest},
		{ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "m", RebalanceTimeoutMs: 1}, ErrInvalidRequest},
		{ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "m", MemberEpoch: -2}, ErrInvalidRequest},
		{ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "m", RebalanceTimeoutMs: 1, SubscribedTopicNames: []string{"t"}, ServerAssignor: strp("sticky")}, ErrUnsupportedAssignor},
		{ConsumerHeartbeat{Version: 1, Group: "", MemberID: "m", RebalanceTimeoutMs: 1, SubscribedTopicNames: []string{"t"}}, ErrInvalidGroupID},
	} {
		mustErr(t, syncHB(cf.c, cf.now, tc.req).Err, tc.want)
	}
	// v0: the broker makes the member id.
	r := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 0, Group: "g0", ClientID: "cl", RebalanceTimeoutMs: 1, SubscribedTopicNames: []string{"t"}})
	if r.Err != nil || r.MemberID == "" {
		t.Fatalf("v0 join: %+v", r)
	}
	// Static: a second member with the instance id is refused until the
	// first leaves with -2; the new one takes over its assignment.
	join := func(id string) ConsumerHeartbeatResult {
		return syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "s", MemberID: id, InstanceID: strp("i1"), RebalanceTimeoutMs: 1000, SubscribedTopicNames: []string{"t"}})
	}
	first := join("x")
	if first.Err != nil || count(first.Assignment) != 4 {
		t.Fatalf("%+v", first)
	}
	mustErr(t, join("y").Err, ErrUnreleasedInstanceID)
	if r := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "s", MemberID: "x", InstanceID: strp("i1"), MemberEpoch: -2}); r.Err != nil {
		t.Fatal(r.Err)
	}
	second := join("y")
	if second.Err != nil || count(second.Assignment) != 4 || second.MemberEpoch != first.MemberEpoch {
		t.Fatalf("static rejoin: %+v (first %+v)", second, first)
	}
	// A classic group with members refuses the consumer protocol.
	jc := cf.joinNew("classic", "c1")
	cf.advance(0)
	_ = jc
	mustErr(t, syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "classic", MemberID: "m", RebalanceTimeoutMs: 1, SubscribedTopicNames: []string{"t"}}).Err, ErrGroupIDNotFound)
	// ... and a consumer group with members refuses classic joins.
	j := cf.join(JoinRequest{Group: "s", ClientID: "c"})
	mustErr(t, j.res.Err, ErrInconsistentGroupProtocol)
	// Max size.
	cf2 := newCGFixture(t)
	cf2.c.cfg.ConsumerMaxSize = 1
	cf2.topic("t", 1)
	cf2.hb("a", "t")
	mustErr(t, syncHB(cf2.c, cf2.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "b", RebalanceTimeoutMs: 1, SubscribedTopicNames: []string{"t"}}).Err, ErrGroupMaxSizeReached)
}

func TestConsumerGroupSurvivesReload(t *testing.T) {
	cf := newCGFixture(t)
	cf.topic("t", 6)
	cf.topic("u", 2)
	cf.hb("a", "t", "u")
	cf.hb("b", "t")
	for i := 0; i < 3; i++ {
		cf.hb("a")
		cf.hb("b")
	}
	re := "u.*"
	if r := syncHB(cf.c, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "c", InstanceID: strp("i"), RebalanceTimeoutMs: 5000, SubscribedTopicRegex: &re, ServerAssignor: strp("range"), Owned: []ConsumerTopic{}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	before, err := cf.c.DescribeConsumerGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	// A new coordinator (a restart, or the partition's new leader)
	// replays the same log.
	p := PartitionFor("g", 4)
	c2 := New(Config{NumPartitions: 4, Logger: cf.c.log, Topics: cf.c.cfg.Topics})
	if err := c2.Load(p, cf.logs[p], cf.now); err != nil {
		t.Fatal(err)
	}
	after, err := c2.DescribeConsumerGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*ConsumerDescription{&before, &after} {
		for i := range d.Members {
			if id := d.Members[i].InstanceID; id != nil {
				d.Members[i].ClientHost += "instance=" + *id
				d.Members[i].InstanceID = nil
			}
		}
	}
	if fmt.Sprintf("%+v", before) != fmt.Sprintf("%+v", after) {
		t.Fatalf("after reload:\n%+v\nbefore:\n%+v", after, before)
	}
	// The members carry on with their epochs.
	cf.c = c2
	cf.hb("a")
	cf.hb("b", "t")
	// Members leave; DeleteGroups tombstones everything and a reload
	// finds no group.
	for _, id := range []string{"a", "b"} {
		if r := syncHB(c2, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: id, MemberEpoch: -1}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if r := syncHB(c2, cf.now, ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "c", InstanceID: strp("i"), MemberEpoch: -1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	done := make(chan []error, 1)
	c2.DeleteGroups(cf.now, []string{"g"}, func(errs []error) { done <- errs })
	if errs := <-done; errs[0] != nil {
		t.Fatal(errs[0])
	}
	c3 := New(Config{NumPartitions: 4, Logger: cf.c.log, Topics: cf.c.cfg.Topics})
	if err := c3.Load(p, cf.logs[p], cf.now); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.DescribeConsumerGroup("g"); !errors.Is(err, ErrGroupIDNotFound) {
		t.Fatalf("deleted group after reload: %v", err)
	}
}

// FuzzConsumerGroupRecords feeds the consumer-group record decoders
// arbitrary keys and values: they must fail cleanly, never panic, and a
// replay of what they accept must build a group.
func FuzzConsumerGroupRecords(f *testing.F) {
	cg := newCGroup()
	cg.epoch, cg.assignmentEpoch = 3, 3
	m := &cmember{id: "m", instanceID: strp("i"), clientID: "c", topics: []string{"t"}, regex: "t.*", assignor: "range",
		assigned: tpSet{{Topic: "t", Partition: 0}: {}}, revoking: tpSet{{Topic: "t", Partition: 1}: {}}, epoch: 3, state: stateUnrevoked}
	cg.members["m"] = m
	cg.members["k"] = &cmember{id: "k", topics: []string{"t"}, assigned: tpSet{}, revoking: tpSet{},
		classic: &classicMeta{sessionTimeout: time.Second, protocols: []Protocol{{Name: "range", Metadata: []byte{0, 1}}, {Name: "x"}}}}
	cg.target["m"] = tpSet{{Topic: "t", Partition: 0}: {}}
	topics := map[string]TopicMeta{"t": {ID: [16]byte{1}, Partitions: 2}}
	for k, v := range cg.records("g", topics) {
		f.Add([]byte(k), v)
	}
	f.Add([]byte{0, 5, 0, 1, 'g'}, []byte{0, 0, 1, 1})
	f.Add([]byte{0, 8, 0, 1, 'g', 0, 1, 'm'}, []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if len(key) < 2 {
			return
		}
		typ := int16(binary.BigEndian.Uint16(key))
		if typ < recCGMetadata || typ > recCGCurrentAssignment {
			return
		}
		groups := map[string]*group{}
		get := func(id string) *group {
			if groups[id] == nil {
				groups[id] = newGroup(id, time.UnixMilli(0))
			}
			return groups[id]
		}
		if err := replayConsumerRecord(typ, key, value, get); err != nil {
			return
		}
		for _, g := range groups {
			buildConsumerGroup(g, topics, time.UnixMilli(0))
		}
	})
}

// syncHB is a heartbeat whose answer the test's log gives at once.
func syncHB(c *Coordinator, now time.Time, req ConsumerHeartbeat) ConsumerHeartbeatResult {
	var out *ConsumerHeartbeatResult
	c.ConsumerGroupHeartbeat(now, req, func(r ConsumerHeartbeatResult) { out = &r })
	if out == nil {
		panic("heartbeat not answered")
	}
	return *out
}

func TestAssignorsRackAware(t *testing.T) {
	// Partition p has its replica in rack r<p%3>; members a, b, c are in
	// racks r0, r1, r2: each gets the partitions of its own rack.
	parts := map[string]int32{"t": 6}
	racks := make([][]string, 6)
	for p := range racks {
		racks[p] = []string{fmt.Sprintf("r%d", p%3)}
	}
	topics := map[string]TopicMeta{"t": {Partitions: 6, Racks: racks}}
	ms := []assignMember{{id: "a", rack: "r0", topics: []string{"t"}}, {id: "b", rack: "r1", topics: []string{"t"}}, {id: "c", rack: "r2", topics: []string{"t"}}}
	local := rackMatcher(ms, topics)
	if local == nil {
		t.Fatal("no rack matcher with racks on both sides")
	}
	for name, got := range map[string]map[string]tpSet{"range": assignRange(ms, parts, local), "uniform": assignUniform(ms, parts, local)} {
		for i, m := range ms {
			if len(got[m.id]) != 2 {
				t.Fatalf("%s: %s has %d partitions", name, m.id, len(got[m.id]))
			}
			for tp := range got[m.id] {
				if int(tp.Partition)%3 != i {
					t.Fatalf("%s: %s (rack %s) got partition %d of rack r%d", name, m.id, m.rack, tp.Partition, tp.Partition%3)
				}
			}
		}
	}
	// No member racks: racks are ignored.
	for i := range ms {
		ms[i].rack = ""
	}
	if rackMatcher(ms, topics) != nil {
		t.Fatal("rack matcher without member racks")
	}
}

// A consumer group's own consumer.session.timeout.ms and
// consumer.heartbeat.interval.ms (GROUP configs) replace the broker's
// group.consumer.* for that group only.
func TestConsumerGroupConfigTimeouts(t *testing.T) {
	cf := &cgFixture{topics: map[string]TopicMeta{}, owned: map[string][]ConsumerTopic{}, epochs: map[string]int32{}}
	cf.fixture = newFixture(t, func(c *Config) {
		c.Topics = func() map[string]TopicMeta { return cf.topics }
		c.ConsumerSessionTimeout = 45 * time.Second
		c.ConsumerHeartbeatInterval = 5 * time.Second
		c.ConsumerGroupTimeouts = func(id string) GroupTimeouts {
			if id == "g" {
				return GroupTimeouts{Session: 8 * time.Second, Heartbeat: 2 * time.Second}
			}
			return GroupTimeouts{}
		}
	})
	cf.topic("t", 4)
	if r := cf.hb("a", "t"); r.HeartbeatInterval != 2*time.Second {
		t.Fatalf("heartbeat interval %v; want the group's 2s", r.HeartbeatInterval)
	}
	cf.hb("b", "t")
	// b stays silent past the group's 8 s session (well inside the
	// broker's 45 s): it is fenced.
	for i := 0; i < 5; i++ {
		cf.advance(2 * time.Second)
		cf.hb("a")
	}
	if _, ok := cf.c.mu.groups["g"].cg.members["b"]; ok {
		t.Fatal("b outlived the group's consumer.session.timeout.ms")
	}
}
