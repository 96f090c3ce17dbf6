// These tests prove that the controller moves partition leadership off
// fenced brokers to the next live ISR member (or leaves the partition
// leaderless without unclean election), that leaderless partitions get
// their leader back when it returns, and that ISR changes are
// compare-and-set on the partition epoch.
package controlplane

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/replication"
)

func leadershipImage(fenced ...int32) *Image {
	im := emptyImage("c", 1)
	for id := int32(1); id <= 3; id++ {
		im.Brokers[id] = &Broker{ID: id, Epoch: int64(id), Fenced: slices.Contains(fenced, id)}
	}
	top := &Topic{Name: "t", ID: UUID{1}, Configs: map[string]string{}, Partitions: []Partition{
		{Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7},
		{Partition: 1, Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3, 1}, Leader: 2, LeaderEpoch: 0, PartitionEpoch: 0},
	}}
	im.Topics["t"], im.TopicsByID[top.ID] = top, top
	return im
}

// setFenced changes a broker in place: im is a test's own image.
func setFenced(im *Image, id int32, fenced bool) {
	b := *im.Brokers[id]
	b.Fenced = fenced
	im.Brokers[id] = &b
}

func applyAll(t *testing.T, im *Image, recs []Record) *Image {
	t.Helper()
	n, err := im.applyEntry(im.Offset+1, recs)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPlanLeadershipMovesOffFencedBroker(t *testing.T) {
	im := leadershipImage()
	recs := planLeadership(im, map[int32]bool{1: true}, replication.ElectLeader)
	if len(recs) != 2 {
		t.Fatalf("want 2 partition changes, got %d", len(recs))
	}
	im = applyAll(t, im, recs)
	p0, p1 := im.Topics["t"].Partitions[0], im.Topics["t"].Partitions[1]
	if p0.Leader != 2 || p0.LeaderEpoch != 5 || p0.PartitionEpoch != 8 || !slices.Equal(p0.ISR, []int32{2, 3}) {
		t.Fatalf("partition 0 after fencing 1: %+v", p0)
	}
	// Partition 1's leader stays; only its ISR shrinks, same leader epoch.
	if p1.Leader != 2 || p1.LeaderEpoch != 0 || p1.PartitionEpoch != 1 || !slices.Equal(p1.ISR, []int32{2, 3}) {
		t.Fatalf("partition 1 after fencing 1: %+v", p1)
	}
	if again := planLeadership(im, map[int32]bool{1: true}, replication.ElectLeader); len(again) != 0 {
		t.Fatalf("planning twice changed %d partitions", len(again))
	}
}

func TestPlanLeadershipNoCleanLeaderThenReturn(t *testing.T) {
	im := leadershipImage(2, 3)
	im = applyAll(t, im, planLeadership(im, nil, replication.ElectLeader))
	im = applyAll(t, im, planLeadership(im, map[int32]bool{1: true}, replication.ElectLeader))
	setFenced(im, 1, true)
	p0 := im.Topics["t"].Partitions[0]
	if p0.Leader != -1 || !slices.Equal(p0.ISR, []int32{1}) {
		t.Fatalf("all fenced, unclean off: want no leader, ISR [1]: %+v", p0)
	}
	// Broker 2 comes back: it is not in the ISR, so still no leader.
	setFenced(im, 2, false)
	if recs := planLeadership(im, nil, replication.ElectLeader); len(recs) != 0 {
		t.Fatalf("out-of-sync broker elected cleanly: %+v", recs[0].Partition)
	}
	// Broker 1, the last ISR member, comes back and leads again.
	setFenced(im, 1, false)
	im = applyAll(t, im, planLeadership(im, nil, replication.ElectLeader))
	p0 = im.Topics["t"].Partitions[0]
	if p0.Leader != 1 || p0.LeaderEpoch != 6 {
		t.Fatalf("last ISR member back: %+v", p0)
	}
}

func TestPlanLeadershipUnclean(t *testing.T) {
	im := leadershipImage(2, 3)
	im = applyAll(t, im, planLeadership(im, nil, replication.ElectLeader))
	im = applyAll(t, im, planLeadership(im, map[int32]bool{1: true}, replication.ElectLeader))
	setFenced(im, 1, true)
	im.Topics["t"].Configs[uncleanKey] = "true"
	setFenced(im, 3, false)
	im = applyAll(t, im, planLeadership(im, nil, replication.ElectLeader))
	p0 := im.Topics["t"].Partitions[0]
	if p0.Leader != 3 || !slices.Equal(p0.ISR, []int32{3}) {
		t.Fatalf("unclean election: %+v", p0)
	}
}

func TestStalePartitionRecordRejected(t *testing.T) {
	im := leadershipImage()
	a := planLeadership(im, map[int32]bool{1: true}, replication.ElectLeader)
	b := planLeadership(im, map[int32]bool{3: true}, replication.ElectLeader)
	im = applyAll(t, im, a)
	if _, err := im.applyEntry(im.Offset+1, b); !errors.Is(err, ErrStalePartitionEpoch) {
		t.Fatalf("record planned from an old image: %v", err)
	}
}

func TestAlterPartition(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.until("all registered", tc.allRegistered)
	if err := tc.createTopic(lead, "t", 3); err != nil {
		t.Fatal(err)
	}
	p := tc.nodes[lead].Image().Topics["t"].Partitions[0]
	var follower int32 = 1
	if follower == lead {
		follower = 2
	}
	var epoch int32
	var err error
	shrunk := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return id != p.Leader })
	// From a follower voter: forwarded through raft.
	tc.do(func() {
		epoch, err = tc.nodes[follower].AlterPartition(context.Background(), "t", 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, shrunk)
	})
	if err != nil || epoch != p.PartitionEpoch+1 {
		t.Fatalf("AlterPartition: epoch %d, %v", epoch, err)
	}
	tc.until("ISR shrunk everywhere", func() bool {
		for _, c := range tc.nodes {
			if !slices.Equal(c.Image().Topics["t"].Partitions[0].ISR, shrunk) {
				return false
			}
		}
		return true
	})
	tc.do(func() {
		_, err = tc.nodes[lead].AlterPartition(context.Background(), "t", 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.ISR)
	})
	if !errors.Is(err, ErrStalePartitionEpoch) {
		t.Fatalf("stale partition epoch: %v", err)
	}
	tc.do(func() {
		_, err = tc.nodes[lead].AlterPartition(context.Background(), "t", 0, p.Leader, p.LeaderEpoch+1, epoch, p.ISR)
	})
	if !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("wrong leader epoch: %v", err)
	}
	tc.do(func() {
		_, err = tc.nodes[lead].AlterPartition(context.Background(), "t", 0, p.Leader, p.LeaderEpoch, epoch, []int32{9})
	})
	if !errors.Is(err, model.ErrInvalidRequest) {
		t.Fatalf("ISR without the leader: %v", err)
	}
}

func TestControlledShutdownMovesLeadership(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.ElectLeader = replication.ElectLeader })
	lead := tc.leader()
	tc.until("all registered", tc.allRegistered)
	if err := tc.createTopic(lead, "t", 3); err != nil {
		t.Fatal(err)
	}
	p := tc.nodes[lead].Image().Topics["t"].Partitions[0]
	var err error
	tc.do(func() { err = tc.nodes[p.Leader].ControlledShutdown(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // it must not register again
		tc.tick()
	}
	for id, c := range tc.nodes {
		im := c.Image()
		q := im.Topics["t"].Partitions[0]
		if q.Leader == p.Leader || q.Leader < 0 || q.LeaderEpoch != p.LeaderEpoch+1 || slices.Contains(q.ISR, p.Leader) || len(q.ISR) != 2 {
			t.Fatalf("node %d after controlled shutdown of leader %d: %+v", id, p.Leader, q)
		}
		if !im.Brokers[p.Leader].Fenced {
			t.Fatalf("node %d: broker %d not fenced after controlled shutdown", id, p.Leader)
		}
	}
}

// A node whose image lags the quorum (an ISR change it has not applied
// yet) plans its controlled shutdown from that image; the entry is
// rejected at apply as stale, and the node plans again from the image
// that now holds the change instead of giving up, so leadership still
// moves before it stops.
func TestControlledShutdownReplansOnStaleImage(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.ElectLeader = replication.ElectLeader })
	lead := tc.leader()
	tc.until("all registered", tc.allRegistered)
	if err := tc.createTopic(lead, "t", 3); err != nil {
		t.Fatal(err)
	}
	// x leads a partition and is not the quorum leader; other is the third.
	var p Partition
	for _, q := range tc.nodes[lead].Image().Topics["t"].Partitions {
		if q.Leader != lead {
			p = q
		}
	}
	x := p.Leader
	if x < 1 || x == lead {
		t.Fatalf("every partition of t is led by the quorum leader %d: %+v", lead, tc.nodes[lead].Image().Topics["t"].Partitions)
	}
	other := 6 - x - lead
	// x stops hearing from the leader; the ISR change commits without it.
	tc.net.cutOneWay(lead, x)
	shrunk := []int32{x, lead}
	var err error
	tc.do(func() {
		_, err = tc.nodes[lead].AlterPartition(context.Background(), "t", p.Partition, x, p.LeaderEpoch, p.PartitionEpoch, shrunk)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tc.nodes[x].Image().Topics["t"].Partitions[p.Partition]; got.PartitionEpoch != p.PartitionEpoch {
		t.Fatalf("node %d applied the ISR change through a cut link: %+v", x, got)
	}
	// x's controlled shutdown, planned from its stale image, commits and
	// is rejected on the leader; then x hears again.
	applied := tc.nodes[lead].Status().Applied
	done := make(chan error, 1)
	go func() { done <- tc.nodes[x].ControlledShutdown(context.Background()) }()
	deadline := time.Now().Add(20 * time.Second)
	for tc.nodes[lead].Status().Applied == applied {
		if time.Now().After(deadline) {
			t.Fatal("the stale controlled shutdown entry never applied on the leader")
		}
		tc.stabilize()
		time.Sleep(time.Millisecond)
	}
	tc.net.heal()
	for err = nil; ; {
		select {
		case err = <-done:
		default:
			if time.Now().After(deadline) {
				t.Fatal("ControlledShutdown did not return")
			}
			tc.tick() // the leader probes x again on its heartbeat
			time.Sleep(time.Millisecond)
			continue
		}
		break
	}
	if err != nil {
		t.Fatalf("controlled shutdown after a stale plan: %v", err)
	}
	tc.stabilize()
	for id, c := range tc.nodes {
		im := c.Image()
		q := im.Topics["t"].Partitions[p.Partition]
		if q.Leader != lead || !slices.Equal(q.ISR, []int32{lead}) || slices.Contains(q.ISR, other) {
			t.Fatalf("node %d after x=%d's controlled shutdown: %+v, want leader %d and ISR [%d]", id, x, q, lead, lead)
		}
		if !im.Brokers[x].Fenced {
			t.Fatalf("node %d: broker %d not fenced after controlled shutdown", id, x)
		}
	}
}

// Preferred-leader election moves leadership back to the first replica
// when it is live and in the ISR, says when none is needed, and refuses a
// preferred replica that is out of the ISR; unclean election gives a
// leaderless partition a live replica.
func TestElectLeaders(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.until("all registered", tc.allRegistered)
	if err := tc.createTopic(lead, "t", 3); err != nil {
		t.Fatal(err)
	}
	c := tc.nodes[lead]
	p := c.Image().Topics["t"].Partitions[0]
	pref := p.Replicas[0]
	other := p.Replicas[1]
	tp := []model.TopicPartition{{Topic: "t", Partition: 0}}
	elect := func(on int32, typ int8) error {
		var errs []error
		tc.do(func() { _, errs = tc.nodes[on].ElectLeaders(context.Background(), typ, tp) })
		return errs[0]
	}
	if err := elect(lead, ElectPreferred); !errors.Is(err, ErrElectionNotNeeded) {
		t.Fatalf("preferred replica leads already: %v", err)
	}
	// Move leadership away, as a failover would.
	tc.do(func() {
		err := c.commitAnywhere(context.Background(), []Record{{Type: RecPartition, Partition: &PartitionRecord{
			TopicID: c.Image().Topics["t"].ID, Partition: 0, Replicas: p.Replicas, ISR: p.ISR,
			Leader: other, LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1}}})
		if err != nil {
			t.Error(err)
		}
	})
	// From a follower: forwarded through raft.
	var fol int32 = 1
	if fol == lead {
		fol = 2
	}
	if err := elect(fol, ElectPreferred); err != nil {
		t.Fatal(err)
	}
	tc.stabilize()
	got := c.Image().Topics["t"].Partitions[0]
	if got.Leader != pref || got.LeaderEpoch != p.LeaderEpoch+2 {
		t.Fatalf("after preferred election: leader %d epoch %d, want %d epoch %d", got.Leader, got.LeaderEpoch, pref, p.LeaderEpoch+2)
	}
	if err := elect(lead, ElectUnclean); !errors.Is(err, ErrElectionNotNeeded) {
		t.Fatalf("unclean election with a live leader: %v", err)
	}
	// The preferred replica out of the ISR cannot be elected.
	tc.do(func() {
		cur := c.Image().Topics["t"].Partitions[0]
		_, err := c.AlterPartition(context.Background(), "t", 0, cur.Leader, cur.LeaderEpoch, cur.PartitionEpoch, []int32{pref})
		if err != nil {
			t.Error(err)
		}
	})
	cur := c.Image().Topics["t"].Partitions[0]
	tc.do(func() {
		err := c.commitAnywhere(context.Background(), []Record{{Type: RecPartition, Partition: &PartitionRecord{
			TopicID: c.Image().Topics["t"].ID, Partition: 0, Replicas: cur.Replicas, ISR: []int32{other},
			Leader: other, LeaderEpoch: cur.LeaderEpoch + 1, PartitionEpoch: cur.PartitionEpoch + 1}}})
		if err != nil {
			t.Error(err)
		}
	})
	if err := elect(lead, ElectPreferred); !errors.Is(err, ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred replica out of the ISR: %v", err)
	}
	// Leaderless (its leader's broker id gone): unclean election picks the
	// live ISR member.
	cur = c.Image().Topics["t"].Partitions[0]
	tc.do(func() {
		err := c.commitAnywhere(context.Background(), []Record{{Type: RecPartition, Partition: &PartitionRecord{
			TopicID: c.Image().Topics["t"].ID, Partition: 0, Replicas: cur.Replicas, ISR: []int32{other},
			Leader: -1, LeaderEpoch: cur.LeaderEpoch + 1, PartitionEpoch: cur.PartitionEpoch + 1}}})
		if err != nil {
			t.Error(err)
		}
	})
	if err := elect(fol, ElectUnclean); err != nil {
		t.Fatal(err)
	}
	tc.stabilize()
	if got := c.Image().Topics["t"].Partitions[0]; got.Leader != other {
		t.Fatalf("after unclean election: leader %d, want %d", got.Leader, other)
	}
	if _, errs := c.ElectLeaders(context.Background(), ElectPreferred, []model.TopicPartition{{Topic: "nope", Partition: 0}}); !errors.Is(errs[0], model.ErrUnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", errs[0])
	}
}

// With broker.rack set, every partition's replicas span the racks.
func TestPlacementIsRackAware(t *testing.T) {
	im := emptyImage("c", 1)
	racks := map[int32]string{1: "a", 2: "a", 3: "a", 4: "b", 5: "b", 6: "b"}
	for id, r := range racks {
		im.Brokers[id] = &Broker{ID: id, Epoch: 1, Rack: r}
	}
	assign, err := place(im, 0, 12, 2)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for p, reps := range assign {
		if racks[reps[0]] == racks[reps[1]] {
			t.Fatalf("partition %d replicas %v share rack %s", p, reps, racks[reps[0]])
		}
		leaders[reps[0]]++
	}
	for id := range racks {
		if leaders[id] != 2 {
			t.Fatalf("leaders per broker %v, want 2 each", leaders)
		}
	}
	// Without racks: plain round robin over the brokers by id.
	for id := range racks {
		b := *im.Brokers[id]
		b.Rack = ""
		im.Brokers[id] = &b
	}
	if assign, _ = place(im, 0, 2, 2); !slices.Equal(assign[0], []int32{1, 2}) || !slices.Equal(assign[1], []int32{2, 3}) {
		t.Fatalf("without racks: %v", assign)
	}
}
