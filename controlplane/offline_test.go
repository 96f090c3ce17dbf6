// These tests prove that a replica reported offline (a failed log dir)
// loses leadership and ISR membership for its partition only, is not
// elected or admitted back until its broker restarts, and that the offline
// set is recorded for the reporting registration only, replays from the
// log and a snapshot, and is cleared by a restart.
package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/replication"
)

var tp0 = []model.TopicPartition{{Topic: "t", Partition: 0}}

// reportOffline plans broker's report of parts on im and applies it.
func reportOffline(t *testing.T, im *Image, broker int32, parts []model.TopicPartition) (*Image, []Record) {
	t.Helper()
	recs, err := planOfflineReplicas(im, broker, parts, replication.ElectLeader)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		return im, nil
	}
	return applyAll(t, im, recs), recs
}

func TestOfflineReplicaLosesLeadershipAndISR(t *testing.T) {
	im := leadershipImage()
	id := im.Topics["t"].ID
	// Broker 1's replica of partition 0 (it leads) and an unknown
	// partition: the unknown one is skipped.
	im, recs := reportOffline(t, im, 1, []model.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 9}, {Topic: "nope", Partition: 0}})
	if len(recs) != 2 || recs[0].Type != RecOfflineReplicas || len(recs[0].OfflineReplicas.Replicas) != 1 {
		t.Fatalf("want the offline record and one partition change: %+v", recs)
	}
	p0, p1 := im.Topics["t"].Partitions[0], im.Topics["t"].Partitions[1]
	if p0.Leader != 2 || p0.LeaderEpoch != 5 || p0.PartitionEpoch != 8 || !slices.Equal(p0.ISR, []int32{2, 3}) {
		t.Fatalf("partition 0 after broker 1's replica went offline: %+v", p0)
	}
	// Partition 1 is on another dir of broker 1: untouched.
	if p1.Leader != 2 || p1.PartitionEpoch != 0 || !slices.Equal(p1.ISR, []int32{2, 3, 1}) {
		t.Fatalf("partition 1 changed: %+v", p1)
	}
	if !im.ReplicaOffline(1, id, 0) || im.ReplicaOffline(1, id, 1) || im.ReplicaOffline(2, id, 0) {
		t.Fatal("ReplicaOffline answers for the wrong replicas")
	}
	if !im.TopicPartitionOffline(1, tp0[0]) || im.TopicPartitionOffline(1, model.TopicPartition{Topic: "t", Partition: 1}) || im.TopicPartitionOffline(1, model.TopicPartition{Topic: "x"}) {
		t.Fatal("TopicPartitionOffline answers for the wrong replicas")
	}
	if got := im.OfflineReplicas(id, &p0); !slices.Equal(got, []int32{1}) {
		t.Fatalf("OfflineReplicas of partition 0: %v", got)
	}
	if got := im.OfflineReplicas(id, &p1); got != nil {
		t.Fatalf("OfflineReplicas of partition 1: %v", got)
	}
	// Idempotent: the same report again plans nothing.
	if again, _ := planOfflineReplicas(im, 1, tp0, replication.ElectLeader); again != nil {
		t.Fatalf("reporting again planned %+v", again)
	}
	// The fence loop's pass leaves it alone: broker 1 is live, but its
	// replica is not elected or brought back.
	if recs := planLeadership(im, nil, replication.ElectLeader); len(recs) != 0 {
		t.Fatalf("planLeadership changed %+v", recs[0].Partition)
	}
	// Brokers 2 and 3 fenced: broker 1, live, does not lead partition 0.
	next := applyAll(t, im, planLeadership(im, map[int32]bool{2: true, 3: true}, replication.ElectLeader))
	if p := next.Topics["t"].Partitions[0]; p.Leader != -1 || !slices.Equal(p.ISR, []int32{2, 3}) {
		t.Fatalf("offline replica elected when the others were fenced: %+v", p)
	}
	if p := next.Topics["t"].Partitions[1]; p.Leader != 1 {
		t.Fatalf("broker 1's healthy replica of partition 1 not elected: %+v", p)
	}
}

// The offline replica that is the ISR's last member stays in it, and
// keeps a leadership nobody else can take; with unclean election on, a
// live out-of-sync replica takes it.
func TestOfflineLastISRMember(t *testing.T) {
	im := leadershipImage()
	p := &im.Topics["t"].Partitions[0]
	p.ISR = []int32{1}
	im, recs := reportOffline(t, im, 1, tp0)
	if len(recs) != 1 {
		t.Fatalf("want only the offline record: %+v", recs)
	}
	if q := im.Topics["t"].Partitions[0]; q.Leader != 1 || q.LeaderEpoch != 4 || !slices.Equal(q.ISR, []int32{1}) {
		t.Fatalf("last ISR member: %+v", q)
	}
	im.Topics["t"].Configs[uncleanKey] = "true"
	im = applyAll(t, im, planLeadership(im, nil, replication.ElectLeader))
	if q := im.Topics["t"].Partitions[0]; q.Leader != 2 || q.LeaderEpoch != 5 || !slices.Equal(q.ISR, []int32{2}) {
		t.Fatalf("unclean election off an offline last member: %+v", q)
	}

	// An offline leader whose only other ISR member is fenced keeps the
	// leadership; the fenced member leaves the ISR as before.
	im = leadershipImage(3)
	p = &im.Topics["t"].Partitions[0]
	p.ISR = []int32{1, 3}
	im, _ = reportOffline(t, im, 1, tp0)
	if q := im.Topics["t"].Partitions[0]; q.Leader != 1 || q.LeaderEpoch != 4 || q.PartitionEpoch != 8 || !slices.Equal(q.ISR, []int32{1}) {
		t.Fatalf("offline leader with the other ISR member fenced: %+v", q)
	}
}

// A leaderless partition whose last ISR member comes back with its
// replica offline stays leaderless until the broker registers again.
func TestOfflineNotReelectedUntilRestart(t *testing.T) {
	im := leadershipImage()
	p := &im.Topics["t"].Partitions[0]
	p.ISR, p.Leader = []int32{1}, -1
	im, recs := reportOffline(t, im, 1, tp0)
	if len(recs) != 1 {
		t.Fatalf("want only the offline record: %+v", recs)
	}
	if recs := planLeadership(im, nil, replication.ElectLeader); len(recs) != 0 {
		t.Fatalf("offline replica elected: %+v", recs[0].Partition)
	}
	// Unfenced again by the same process (same incarnation, new epoch):
	// still offline.
	b := im.Brokers[1]
	im = applyAll(t, im, []Record{{Type: RecRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: 1, BrokerEpoch: 50, Incarnation: b.Incarnation}}})
	if !im.ReplicaOffline(1, im.Topics["t"].ID, 0) {
		t.Fatal("a re-registration of the same process cleared the offline set")
	}
	// A restart (new incarnation) clears it, and the broker leads again.
	im = applyAll(t, im, []Record{{Type: RecRegisterBroker, RegisterBroker: &RegisterBrokerRecord{BrokerID: 1, BrokerEpoch: 60, Incarnation: UUID{9}}}})
	if im.ReplicaOffline(1, im.Topics["t"].ID, 0) || im.Brokers[1].Offline != nil {
		t.Fatal("a restart kept the offline set")
	}
	im = applyAll(t, im, planLeadership(im, nil, replication.ElectLeader))
	if q := im.Topics["t"].Partitions[0]; q.Leader != 1 || q.LeaderEpoch != 5 {
		t.Fatalf("after the restart: %+v", q)
	}
}

func TestAlterPartitionRefusesOfflineReplica(t *testing.T) {
	im, _ := reportOffline(t, leadershipImage(), 1, tp0)
	p := im.Topics["t"].Partitions[0] // leader 2, ISR [2 3]
	_, _, err := PlanAlterPartition(im, "t", 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, []int32{1, 2, 3})
	if !errors.Is(err, model.ErrInvalidRequest) || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("adding an offline replica to the ISR: %v", err)
	}
	// Shrinking is still fine, and broker 1's healthy partition 1 may
	// take it back.
	if _, _, err := PlanAlterPartition(im, "t", 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, []int32{2}); err != nil {
		t.Fatal(err)
	}
	q := im.Topics["t"].Partitions[1]
	if _, _, err := PlanAlterPartition(im, "t", 1, q.Leader, q.LeaderEpoch, q.PartitionEpoch, q.ISR); err != nil {
		t.Fatal(err)
	}
}

func TestElectLeadersSkipsOfflineReplica(t *testing.T) {
	im, _ := reportOffline(t, leadershipImage(), 1, tp0)
	_, recs, _, errs := planElections(im, ElectPreferred, tp0)
	if len(recs) != 0 || !errors.Is(errs[0], ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred election of an offline replica: %v %+v", errs[0], recs)
	}
	// Leaderless with ISR [1] (offline) and 3 live: unclean picks 2 or 3,
	// never 1.
	p := &im.Topics["t"].Partitions[0]
	p.Leader, p.ISR = -1, []int32{1}
	_, recs, _, errs = planElections(im, ElectUnclean, tp0)
	if errs[0] != nil || len(recs) != 1 || recs[0].Partition.Leader != 2 || !slices.Equal(recs[0].Partition.ISR, []int32{2}) {
		t.Fatalf("unclean election: %v %+v", errs[0], recs)
	}
	// An offline leader is not "live": an unclean election is needed.
	im, _ = reportOffline(t, leadershipImage(), 2, []model.TopicPartition{{Topic: "t", Partition: 1}})
	p = &im.Topics["t"].Partitions[1]
	p.Leader, p.ISR = 2, []int32{2}
	_, recs, _, errs = planElections(im, ElectUnclean, []model.TopicPartition{{Topic: "t", Partition: 1}})
	if errs[0] != nil || len(recs) != 1 || recs[0].Partition.Leader != 3 {
		t.Fatalf("unclean election off an offline leader: %v %+v", errs[0], recs)
	}
}

func TestReassignmentSkipsOfflineReplica(t *testing.T) {
	im, _ := reportOffline(t, leadershipImage(), 1, tp0)
	// Moving partition 0 from [1 2 3] to [1 2] while 3 leads: the new
	// leader is the first target ISR member whose replica is not offline.
	p := Partition{Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 3, LeaderEpoch: 5, PartitionEpoch: 8, RemovingReplicas: []int32{3}}
	r, err := moveTo(im, im.Topics["t"], p, []int32{1, 2})
	if err != nil || r.Leader != 2 || !slices.Equal(r.Replicas, []int32{1, 2}) {
		t.Fatalf("completion: %+v %v", r, err)
	}
	// The only target ISR member offline: it keeps the leadership rather
	// than block the move.
	p.ISR, p.Leader = []int32{1, 3}, 1
	r, err = moveTo(im, im.Topics["t"], p, []int32{1, 2})
	if err != nil || r.Leader != 1 {
		t.Fatalf("offline sole target ISR member: %+v %v", r, err)
	}
	// Through planReassignments on the image.
	im.Topics["t"].Partitions[0] = Partition{Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 3, LeaderEpoch: 5, PartitionEpoch: 8, RemovingReplicas: []int32{3}}
	recs := planReassignments(im)
	if len(recs) != 1 || recs[0].Partition.Leader != 2 {
		t.Fatalf("planReassignments: %+v", recs)
	}
	applyAll(t, im, recs)
}

func TestOfflineRecordStaleEpochAndSnapshot(t *testing.T) {
	im := leadershipImage()
	id := im.Topics["t"].ID
	stale := []Record{{Type: RecOfflineReplicas, OfflineReplicas: &OfflineReplicasRecord{BrokerID: 1, BrokerEpoch: 0,
		Replicas: []OfflineReplica{{TopicID: id, Partition: 0}}}}}
	if _, err := im.applyEntry(1, stale); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale broker epoch: %v", err)
	}
	if im.ReplicaOffline(1, id, 0) {
		t.Fatal("rejected record changed the image")
	}
	unknown := []Record{{Type: RecOfflineReplicas, OfflineReplicas: &OfflineReplicasRecord{BrokerID: 7, BrokerEpoch: 1}}}
	if _, err := im.applyEntry(1, unknown); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("unknown broker: %v", err)
	}
	// Both partitions, one twice, plus one broker 1 does not replicate.
	im.Topics["u"] = &Topic{Name: "u", ID: UUID{2}, Configs: map[string]string{}, Partitions: []Partition{{Replicas: []int32{2}, ISR: []int32{2}, Leader: 2}}}
	im.TopicsByID[UUID{2}] = im.Topics["u"]
	n := applyAll(t, im, []Record{{Type: RecOfflineReplicas, OfflineReplicas: &OfflineReplicasRecord{BrokerID: 1, BrokerEpoch: 1,
		Replicas: []OfflineReplica{{TopicID: id, Partition: 1}, {TopicID: id, Partition: 0}, {TopicID: id, Partition: 1}, {TopicID: UUID{2}, Partition: 0}}}}})
	if want := []OfflineReplica{{TopicID: id, Partition: 0}, {TopicID: id, Partition: 1}}; !slices.Equal(n.Brokers[1].Offline, want) {
		t.Fatalf("offline set %v, want %v", n.Brokers[1].Offline, want)
	}
	if im.Brokers[1].Offline != nil {
		t.Fatal("applying changed the earlier image")
	}
	b := snapshotBytes(t, n)
	back, err := unmarshalSnapshot(b, "c", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !back.ReplicaOffline(1, id, 1) || !bytes.Equal(snapshotBytes(t, back), b) {
		t.Fatalf("snapshot round trip lost the offline set:\n%s\n%s", b, snapshotBytes(t, back))
	}
	// Deleting the topic drops its entries.
	n = applyAll(t, n, []Record{{Type: RecRemoveTopic, RemoveTopic: &RemoveTopicRecord{TopicID: id}}})
	if n.Brokers[1].Offline != nil {
		t.Fatalf("deleted topic left in the offline set: %v", n.Brokers[1].Offline)
	}
}

// openElecting opens a sole voter that moves leadership.
func openElecting(t *testing.T, dir string) *Controller {
	t.Helper()
	c, err := Open(Config{Dir: dir, NodeID: 1, ClusterID: "test-cluster",
		Endpoints:         []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}},
		DefaultPartitions: 2, DefaultReplicationFactor: 1, ElectLeader: replication.ElectLeader,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A quorum of one records the offline set but has nowhere to move
// leadership; a restart clears the set.
func TestOfflineSoleVoter(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := openElecting(t, dir)
	if r := c.CreateTopics(ctx, []CreateTopic{{Name: "t", NumPartitions: 2, ReplicationFactor: 1}}, false); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	before := c.Image().Topics["t"].Partitions[0]
	if err := c.ReportOfflineReplicas(ctx, tp0); err != nil {
		t.Fatal(err)
	}
	im := c.Image()
	id := im.Topics["t"].ID
	p := im.Topics["t"].Partitions[0]
	if !im.ReplicaOffline(1, id, 0) || im.ReplicaOffline(1, id, 1) {
		t.Fatalf("offline set: %v", im.Brokers[1].Offline)
	}
	if p.Leader != before.Leader || p.LeaderEpoch != before.LeaderEpoch || p.PartitionEpoch != before.PartitionEpoch {
		t.Fatalf("sole voter moved leadership: %+v -> %+v", before, p)
	}
	// Reporting again commits nothing.
	if err := c.ReportOfflineReplicas(ctx, tp0); err != nil || c.Image().Offset != im.Offset {
		t.Fatalf("second report: offset %d -> %d, %v", im.Offset, c.Image().Offset, err)
	}
	if recs := planLeadership(c.Image(), nil, replication.ElectLeader); len(recs) != 0 {
		t.Fatalf("the fence loop would change %+v", recs[0].Partition)
	}
	c.Close()
	c = openElecting(t, dir)
	if c.Image().ReplicaOffline(1, id, 0) {
		t.Fatal("offline set survived a restart")
	}
	if q := c.Image().Topics["t"].Partitions[0]; q.Leader != 1 {
		t.Fatalf("after restart: %+v", q)
	}
}

// Through a real three-voter quorum: a follower voter reports its replica
// of a partition it leads offline; every node moves leadership and ISR.
func TestReportOfflineReplicasFromFollower(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.ElectLeader = replication.ElectLeader })
	lead := tc.leader()
	tc.until("all registered", tc.allRegistered)
	if err := tc.createTopic(lead, "t", 3); err != nil {
		t.Fatal(err)
	}
	// The partition led by a node other than the active controller.
	var part int32 = -1
	var before Partition
	for _, p := range tc.nodes[lead].Image().Topics["t"].Partitions {
		if p.Leader != lead {
			part, before = p.Partition, p
			break
		}
	}
	if part < 0 {
		t.Fatalf("the controller %d leads every partition", lead)
	}
	from := before.Leader
	tc.until("node caught up", func() bool { return tc.nodes[from].Image().Topics["t"] != nil })
	var err error
	tc.do(func() {
		err = tc.nodes[from].ReportOfflineReplicas(context.Background(), []model.TopicPartition{{Topic: "t", Partition: part}})
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.until("leadership moved on every node", func() bool {
		for _, c := range tc.nodes {
			im := c.Image()
			q := im.Topics["t"].Partitions[part]
			if q.Leader == from || q.Leader < 0 || q.LeaderEpoch != before.LeaderEpoch+1 || slices.Contains(q.ISR, from) ||
				!im.ReplicaOffline(from, im.Topics["t"].ID, part) {
				return false
			}
		}
		return true
	})
	for range 20 { // the fence loop must not bring it back
		tc.tick()
	}
	tc.sameImages()
	im := tc.nodes[lead].Image()
	if q := im.Topics["t"].Partitions[part]; slices.Contains(q.ISR, from) || q.Leader == from {
		t.Fatalf("offline replica back: %+v", q)
	}
	if im.Brokers[from].Fenced {
		t.Fatal("reporting broker fenced")
	}
	// The other partition of the reporting broker is untouched.
	other := im.Topics["t"].Partitions[1-part]
	if !slices.Contains(other.ISR, from) {
		t.Fatalf("healthy replica of %d left the ISR: %+v", from, other)
	}
}

// FuzzApplyRecords decodes arbitrary bytes as one metadata entry's
// records (what a log entry holds, any record type) and applies them to an
// image with topics and an offline set. Invariants: no panic; the earlier
// image is unchanged; an accepted entry's image has sorted, duplicate-free
// offline sets of existing topics and survives a snapshot round trip.
func FuzzApplyRecords(f *testing.F) {
	base, _ := func() (*Image, error) {
		im := leadershipImage()
		recs, _ := planOfflineReplicas(im, 1, tp0, replication.ElectLeader)
		return im.applyEntry(1, recs)
	}()
	if base == nil {
		f.Fatal("base image")
	}
	want, err := base.marshalSnapshot()
	if err != nil {
		f.Fatal(err)
	}
	tid := `"01000000000000000000000000000000"`
	f.Add([]byte(`[{"type":"offline_replicas","offline_replicas":{"broker_id":2,"broker_epoch":2,"replicas":[{"topic_id":` + tid + `,"partition":1},{"topic_id":` + tid + `,"partition":0}]}}]`))
	f.Add([]byte(`[{"type":"offline_replicas","offline_replicas":{"broker_id":1,"broker_epoch":1,"replicas":[{"topic_id":` + tid + `,"partition":-1},{"topic_id":` + tid + `,"partition":99}]}}]`))
	f.Add([]byte(`[{"type":"offline_replicas"}]`))
	f.Add([]byte(`[{"type":"register_broker","register_broker":{"broker_id":1,"broker_epoch":9,"incarnation":"00000000000000000000000000000000"}}]`))
	f.Add([]byte(`[{"type":"remove_topic","remove_topic":{"topic_id":` + tid + `}}]`))
	f.Add([]byte(`[{"type":"partition","partition":{"topic_id":` + tid + `,"partition":0,"replicas":[2,3],"isr":[2],"leader":2,"leader_epoch":6,"partition_epoch":9}}]`))
	f.Add([]byte(`[{"type":"partition"},{"type":"topic"},{"type":"broker_fencing"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []Record
		if json.Unmarshal(data, &recs) != nil {
			return
		}
		n, err := base.applyEntry(2, recs)
		if got := snapshotBytes(t, base); !bytes.Equal(got, want) {
			t.Fatalf("applying changed the earlier image:\n%s\n%s", got, want)
		}
		if err != nil {
			return
		}
		for _, b := range n.Brokers {
			if !slices.IsSortedFunc(b.Offline, compareReplica) || len(slices.CompactFunc(slices.Clone(b.Offline), func(a, b OfflineReplica) bool { return a == b })) != len(b.Offline) {
				t.Fatalf("broker %d offline set not sorted and unique: %v", b.ID, b.Offline)
			}
			for _, x := range b.Offline {
				if n.TopicsByID[x.TopicID] == nil {
					t.Fatalf("broker %d offline set names a deleted topic: %v", b.ID, x)
				}
			}
		}
		s := snapshotBytes(t, n)
		back, err := unmarshalSnapshot(s, "c", 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := snapshotBytes(t, back); !bytes.Equal(got, s) {
			t.Fatalf("snapshot round trip:\n%s\n%s", got, s)
		}
		planLeadership(n, nil, replication.ElectLeader)
		planReassignments(n)
	})
}

// From a broker-only node (a raft learner) under controller-only voters.
func TestReportOfflineReplicasFromLearner(t *testing.T) {
	tc := newTestCluster(t, 1, func(c *Config) {
		c.ControllerOnly = c.NodeID == 1
		c.ElectLeader = replication.ElectLeader
	})
	tc.controllerOnly[1] = true
	tc.leader()
	tc.addLearner(4)
	tc.addLearner(5)
	tc.until("learners registered", tc.allRegistered)
	if err := tc.createTopic(4, "t", 2); err != nil {
		t.Fatal(err)
	}
	tc.until("learners caught up", func() bool { return tc.nodes[4].Image().Topics["t"] != nil && tc.nodes[5].Image().Topics["t"] != nil })
	p := tc.nodes[1].Image().Topics["t"].Partitions[0]
	from, to := p.Leader, p.ISR[1]
	if p.ISR[0] != from {
		to = p.ISR[0]
	}
	var err, errCtl error
	tc.do(func() {
		errCtl = tc.nodes[1].ReportOfflineReplicas(context.Background(), tp0) // controller-only: holds nothing
		err = tc.nodes[from].ReportOfflineReplicas(context.Background(), tp0)
	})
	if err != nil || errCtl != nil {
		t.Fatal(err, errCtl)
	}
	tc.until("leadership moved", func() bool {
		for _, c := range tc.nodes {
			q := c.Image().Topics["t"].Partitions[0]
			if q.Leader != to || !slices.Equal(q.ISR, []int32{to}) {
				return false
			}
		}
		return true
	})
	tc.sameImages()
}

// ClearOfflineReplicas takes replicas out of the set again (a quarantined
// partition started anew), leaving the others; clearing again commits
// nothing.
func TestClearOfflineReplicas(t *testing.T) {
	ctx := context.Background()
	c := openElecting(t, t.TempDir())
	if r := c.CreateTopics(ctx, []CreateTopic{{Name: "t", NumPartitions: 2, ReplicationFactor: 1}}, false); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	both := []model.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}}
	if err := c.ReportOfflineReplicas(ctx, both); err != nil {
		t.Fatal(err)
	}
	if err := c.ClearOfflineReplicas(ctx, tp0); err != nil {
		t.Fatal(err)
	}
	im := c.Image()
	id := im.Topics["t"].ID
	if im.ReplicaOffline(1, id, 0) || !im.ReplicaOffline(1, id, 1) {
		t.Fatalf("after clearing t-0: offline set %v, want only t-1", im.Brokers[1].Offline)
	}
	if err := c.ClearOfflineReplicas(ctx, tp0); err != nil || c.Image().Offset != im.Offset {
		t.Fatalf("second clear: offset %d -> %d, %v", im.Offset, c.Image().Offset, err)
	}
	if err := c.ClearOfflineReplicas(ctx, both[1:]); err != nil || c.Image().Brokers[1].Offline != nil {
		t.Fatalf("after clearing both: %v, %v", c.Image().Brokers[1].Offline, err)
	}
}
