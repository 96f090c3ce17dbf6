package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// TestControllersAndBrokersCluster: three controller-only nodes and two
// broker-only nodes (raft learners) form a cluster from their config files.
// Replicas go only to brokers, records round-trip, the active controller's
// death leaves CreateTopics working on the brokers within 10 s, a third
// broker joins the running cluster, and with 2 of 3 replicas of a
// min.insync.replicas=2 partition down, acks=all produce fails with
// NOT_ENOUGH_REPLICAS instead of acknowledging, and nothing it refused is
// visible to consumers.
func TestControllersAndBrokersCluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	start := time.Now()
	c := testkit.NewMixedCluster(t, 3, 2, testkit.Options{Settings: map[string]string{"broker.session.timeout.ms": "3000", "replica.lag.time.max.ms": "5000"}})
	c.Start()
	t.Logf("3 controllers + 2 brokers formed in %v", time.Since(start).Round(time.Millisecond))

	// Node 4 answers from its own image, which may not hold broker 5's
	// registration yet when another node already does.
	var info string
	testkit.WaitFor(t, 10*time.Second, "cluster info on node 4 to show both brokers and the observers", func() bool {
		info = runCLI(t, c.Node(4), "", "cluster", "info")
		return strings.Count(info, "State: unfenced") == 2 && strings.Contains(info, "Voters: 1,2,3 (observers: 4,5)") && !strings.Contains(info, "Controller: none")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Brokers) != 2 || st.ControllerID < 1 || st.ControllerID > 3 {
		t.Fatalf("brokers %v, controller %d: want brokers 4 and 5 and a controller among 1-3", st.Brokers, st.ControllerID)
	}

	// RF=2 over the two brokers; CreateTopics is answered by a broker,
	// which forwards it to the controller quorum.
	adm := c.Admin()
	if resp, err := adm.CreateTopic(ctx, 4, 2, nil, "mixed"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	// Whichever broker answers must have applied the topic.
	var td kadm.TopicDetails
	testkit.WaitFor(t, 10*time.Second, "the topic in Metadata", func() bool {
		td, err = adm.ListTopics(ctx, "mixed")
		return err == nil && td["mixed"].Err == nil && len(td["mixed"].Partitions) == 4
	})
	for _, p := range td["mixed"].Partitions {
		if r := slices.Sorted(slices.Values(p.Replicas)); !slices.Equal(r, []int32{4, 5}) {
			t.Fatalf("partition %d replicas %v: want brokers 4 and 5 only", p.Partition, p.Replicas)
		}
	}
	const n = 1000
	cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "mixed", Key: []byte(fmt.Sprint(i % 16)), Value: []byte(fmt.Sprintf("m-%d", i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	got := consumeAll(t, c.Node(5).Addr(), "mixed", n, 30*time.Second)
	if len(got) != n {
		t.Fatalf("consumed %d of %d", len(got), n)
	}
	inP0 := 0
	for _, r := range got {
		if r.Partition == 0 {
			inP0++
		}
	}

	// The active controller dies: another voter takes over and a broker's
	// CreateTopics works within 10 s.
	old := c.Controller()
	old.Kill()
	killed := time.Now()
	survivors := c.Admin()
	testkit.WaitFor(t, 10*time.Second, "CreateTopics to work after the controller was killed", func() bool {
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		defer ccancel()
		resp, err := survivors.CreateTopic(cctx, 1, 2, nil, "after-controller-failover")
		if err == nil {
			err = resp.Err
		}
		return err == nil || errors.Is(err, kerr.TopicAlreadyExists)
	})
	t.Logf("controller killed; CreateTopics worked again after %v", time.Since(killed).Round(time.Millisecond))
	if now := c.Controller(); now == old {
		t.Fatal("the killed controller is still reported as active")
	}
	old.Start()

	// A third broker joins the running cluster.
	c.AddBroker()
	// Each broker plans from its own image: wait until every one knows
	// broker 6 before naming it in an assignment.
	own := map[int32]*kgo.Client{} // each asks its seed node only
	for id := int32(4); id <= 6; id++ {
		own[id] = c.Node(id).Client()
	}
	testkit.WaitFor(t, 10*time.Second, "every broker to know broker 6", func() bool {
		for id := int32(4); id <= 6; id++ {
			mctx, mcancel := context.WithTimeout(ctx, time.Second)
			kresp, err := own[id].SeedBrokers()[0].Request(mctx, kmsg.NewPtrMetadataRequest())
			mcancel()
			if err != nil || len(kresp.(*kmsg.MetadataResponse).Brokers) != 3 {
				return false
			}
		}
		return true
	})

	// Reassignment: partition 0 of "mixed" moves to brokers 6 and 4. The
	// new replica catches up, joins the ISR, and the old one leaves.
	var re kadm.AlterPartitionAssignmentsReq
	re.Assign("mixed", 0, []int32{6, 4})
	ares, err := adm.AlterPartitionAssignments(ctx, re)
	if err != nil {
		t.Fatal(err)
	}
	if e := ares["mixed"][0].Err; e != nil {
		t.Fatalf("reassign: %v", e)
	}
	moved := time.Now()
	testkit.WaitFor(t, 60*time.Second, "the reassignment to complete", func() bool {
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"mixed": {0: {}}})
		if err != nil || len(l["mixed"]) != 0 {
			return false
		}
		td, err := adm.ListTopics(ctx, "mixed")
		if err != nil || td["mixed"].Err != nil {
			return false
		}
		p := td["mixed"].Partitions[0]
		return slices.Equal(p.Replicas, []int32{6, 4}) && slices.Equal(slices.Sorted(slices.Values(p.ISR)), []int32{4, 6})
	})
	t.Logf("partition 0 reassigned to [6 4] in %v", time.Since(moved).Round(time.Millisecond))
	// Broker 6, made leader by a preferred election, serves every record.
	el, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"mixed": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := el["mixed"][0].Err; e != nil && !errors.Is(e, kerr.ElectionNotNeeded) {
		t.Fatalf("preferred election: %v", e)
	}
	testkit.WaitFor(t, 20*time.Second, "broker 6 to lead partition 0", func() bool {
		td, err := adm.ListTopics(ctx, "mixed")
		return err == nil && td["mixed"].Err == nil && td["mixed"].Partitions[0].Leader == 6
	})
	again := consumeAll(t, c.Node(6).Addr(), "mixed", n, 30*time.Second)
	p0 := 0
	for _, r := range again {
		if r.Partition == 0 {
			p0++
		}
	}
	if len(again) != n || p0 != inP0 {
		t.Fatalf("after the move: %d records, %d in partition 0; want %d and %d", len(again), p0, n, inP0)
	}
	t.Logf("broker 6 joined; %v since start", time.Since(start).Round(time.Millisecond))
	two := "2"
	if resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &two}, "three"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	const before = 100
	for i := range before {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "three", Value: []byte(fmt.Sprintf("t-%d", i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d with 3 replicas: %v", i, err)
		}
	}
	var leader int32
	testkit.WaitFor(t, 20*time.Second, "a leader with the full ISR", func() bool {
		l, isr, ok := partitionState(ctx, cl, 6, "three")
		leader = l
		return ok && slices.Equal(isr, []int32{4, 5, 6})
	})
	// Two of the three replicas die: the ISR shrinks to the leader.
	for id := int32(4); id <= 6; id++ {
		if id != leader {
			c.Node(id).Kill()
		}
	}
	testkit.WaitFor(t, 30*time.Second, "the ISR to shrink to the leader", func() bool {
		_, isr, ok := partitionState(ctx, cl, leader, "three")
		return ok && slices.Equal(isr, []int32{leader})
	})
	lone := c.Node(leader)
	pcl := lone.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(), kgo.RecordRetries(2))
	err = pcl.ProduceSync(ctx, &kgo.Record{Topic: "three", Value: []byte("refused")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all produce with 1 of 3 replicas in sync: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	// acks=1 still works (min.insync.replicas applies to acks=all only),
	// and consumers see exactly the acknowledged records.
	one := lone.Client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Topic: "three", Value: []byte("acks-1")}).FirstErr(); err != nil {
		t.Fatalf("acks=1 produce: %v", err)
	}
	got = consumeAll(t, lone.Addr(), "three", before+1, 30*time.Second)
	for i, r := range got {
		want := fmt.Sprintf("t-%d", i)
		if i == before {
			want = "acks-1"
		}
		if string(r.Value) != want || r.Offset != int64(i) {
			t.Fatalf("record %d: %q at offset %d, want %q", i, r.Value, r.Offset, want)
		}
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// TestMisconfiguredNodesAreRefused: a broker with another cluster.id, a
// second broker with a node.id in use, and a broker whose voter list
// differs are refused by the voters' handshake and exit with a message
// that says why; the cluster goes on serving.
func TestMisconfiguredNodesAreRefused(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := testkit.StartCluster(t, 3, testkit.Options{})
	c.AddBroker() // node 4
	run := func(what string, n *testkit.Node, want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		out, err := exec.CommandContext(ctx, n.Bin, "serve", "--config", n.ConfigPath).CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("%s: still running after 60 s:\n%s", what, out)
		}
		if err == nil || !strings.Contains(string(out), "refused by the controller quorum") || !strings.Contains(string(out), want) {
			t.Fatalf("%s: exit %v, want a refusal naming %q:\n%s", what, err, want, out)
		}
		t.Logf("%s: refused and exited after %v", what, time.Since(start).Round(time.Millisecond))
	}
	run("wrong cluster.id", c.NewBrokerNode(map[string]string{"cluster.id": `"AAAAAAAAAAAAAAAAAAAAAA"`}),
		`cluster id "AAAAAAAAAAAAAAAAAAAAAA" does not match`)
	run("duplicate node.id", c.NewBrokerNode(map[string]string{"node.id": "4"}), "two brokers share node.id 4")
	voters := fmt.Sprintf(`"%s,9@127.0.0.1:%d"`, c.Voters(), testkit.FreePort(t))
	run("differing voters", c.NewBrokerNode(map[string]string{"controller.quorum.voters": voters}), "controller.quorum.voters differ")
	c.WaitBrokers(4, 30*time.Second)
	adm := c.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "still-serving"); err != nil || resp.Err != nil {
		t.Fatalf("create topic after the refusals: %v %v", err, resp.Err)
	}
}
