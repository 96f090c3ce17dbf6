package e2e

// A cluster of three combined nodes forms from config files alone, spreads a
// topic's partitions over its brokers with clients following the leaders,
// survives the loss of its active controller (a new one takes commands
// within 10 s), fences the lost broker and unfences it when it returns; and
// a node with a bad cluster configuration refuses to start.

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestClusterFormsRoutesAndSurvivesControllerLoss(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	start := time.Now()
	c := testkit.StartCluster(t, 3, testkit.Options{})
	t.Logf("cluster of 3 formed in %v", time.Since(start).Round(time.Millisecond))

	info := runCLI(t, c.Node(1), "", "cluster", "info")
	if strings.Count(info, "State: unfenced") != 3 || !strings.Contains(info, "Voters: 1,2,3") || strings.Contains(info, "Controller: none") {
		t.Fatalf("cluster info:\n%s", info)
	}

	// Six partitions, RF=1, over three brokers: two each.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := c.Admin()
	if resp, err := adm.CreateTopic(ctx, 6, 1, nil, "spread"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	var leaders map[int32]int32
	testkit.WaitFor(t, 10*time.Second, "every node to see the topic's leaders", func() bool {
		td, err := adm.ListTopics(ctx, "spread")
		if err != nil || td["spread"].Err != nil || len(td["spread"].Partitions) != 6 {
			return false
		}
		leaders = map[int32]int32{}
		for _, p := range td["spread"].Partitions {
			leaders[p.Leader]++
		}
		return true
	})
	for id := int32(1); id <= 3; id++ {
		if leaders[id] != 2 {
			t.Fatalf("partition leaders per broker %v, want 2 on each of 1, 2, 3", leaders)
		}
	}

	// An idempotent producer (its producer id comes from whichever node it
	// asks) writes to every partition, each at its leader.
	const perPartition = 50
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 6*perPartition; i++ {
		r := &kgo.Record{Topic: "spread", Partition: int32(i % 6), Value: []byte("v-" + itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", i%6, err)
		}
	}
	got := consumeAll(t, c.Node(2).Addr(), "spread", 6*perPartition, 30*time.Second)
	per := map[int32]int{}
	for _, r := range got {
		per[r.Partition]++
	}
	for p := int32(0); p < 6; p++ {
		if per[p] != perPartition {
			t.Fatalf("consumed per partition %v, want %d each", per, perPartition)
		}
	}

	// A consumer group on the cluster: its coordinator is the leader of the
	// group's __consumer_offsets partition, wherever that is; it commits,
	// and the offsets read back through another node.
	gcl := c.Client(kgo.ConsumerGroup("cluster-group"), kgo.ConsumeTopics("spread"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	consumed := 0
	testkit.WaitFor(t, 60*time.Second, "the group to consume every record", func() bool {
		fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
		defer fcancel()
		consumed += gcl.PollFetches(fctx).NumRecords()
		return consumed >= 6*perPartition
	})
	if err := gcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("group commit: %v", err)
	}
	if consumed != 6*perPartition {
		t.Fatalf("the group consumed %d records, want %d", consumed, 6*perPartition)
	}
	other := kadm.NewClient(c.Node(3).Client())
	offs, err := other.FetchOffsets(ctx, "cluster-group")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 6; p++ {
		if o, ok := offs.Lookup("spread", p); !ok || o.Err != nil || o.At != perPartition {
			t.Fatalf("committed offset of partition %d: %+v (found %v), want %d", p, o, ok, perPartition)
		}
	}
	gcl.Close()

	// The group's coordinator is killed: the next leader of its
	// __consumer_offsets partition (RF=3, the default on 3 nodes) loads
	// the group and serves the committed offsets; back, the old
	// coordinator rejoins.
	fc := c.Admin().FindGroupCoordinators(ctx, "cluster-group")
	coord := fc["cluster-group"]
	if coord.Err != nil || coord.NodeID < 1 || coord.NodeID > 3 {
		t.Fatalf("find coordinator: %+v", coord)
	}
	c.Node(coord.NodeID).Kill()
	coordKilled := time.Now()
	testkit.WaitFor(t, 40*time.Second, "another coordinator to serve the group's offsets", func() bool {
		octx, ocancel := context.WithTimeout(ctx, 3*time.Second)
		defer ocancel()
		surv := kadm.NewClient(c.Client())
		offs, err := surv.FetchOffsets(octx, "cluster-group")
		if err != nil {
			return false
		}
		for p := int32(0); p < 6; p++ {
			if o, ok := offs.Lookup("spread", p); !ok || o.Err != nil || o.At != perPartition {
				return false
			}
		}
		return true
	})
	t.Logf("coordinator %d killed; offsets served by another node after %v", coord.NodeID, time.Since(coordKilled).Round(time.Millisecond))
	c.Node(coord.NodeID).Start()
	c.WaitBrokers(3, 30*time.Second)

	// Kill the active controller: another takes CreateTopics within 10 s.
	old := c.Controller()
	var oldID int32
	for i, n := range c.Nodes {
		if n == old {
			oldID = int32(i + 1)
		}
	}
	old.Kill()
	killed := time.Now()
	survivors := kadm.NewClient(c.Client(kgo.RetryTimeout(2 * time.Second)))
	testkit.WaitFor(t, 10*time.Second, "CreateTopics to work after the controller was killed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		resp, err := survivors.CreateTopic(ctx, 1, 1, nil, "after-failover")
		if err == nil {
			err = resp.Err
		}
		return err == nil || errors.Is(err, kerr.TopicAlreadyExists)
	})
	t.Logf("controller %d killed; CreateTopics worked again after %v", oldID, time.Since(killed).Round(time.Millisecond))
	if now := c.Controller(); now == old {
		t.Fatalf("killed node %d is still reported as the controller", oldID)
	}

	// The killed broker is fenced once the new controller has not heard
	// from it for the session timeout (9 s), and unfenced on restart.
	testkit.WaitFor(t, 20*time.Second, "the killed broker to be fenced", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		st, err := c.Describe(ctx)
		return err == nil && st.Brokers[oldID]
	})
	t.Logf("broker %d fenced %v after the kill", oldID, time.Since(killed).Round(time.Millisecond))
	old.Start()
	c.WaitBrokers(3, 20*time.Second)
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// TestClusterConfigRefusals: a controller port that is taken and a voter
// list without cluster.id stop start-up with a message that says why.
func TestClusterConfigRefusals(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := testkit.NewCluster(t, 3, testkit.Options{})
	n := c.Node(2)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(n.CtrlPort)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(n.Bin, "serve", "--config", n.ConfigPath).CombinedOutput()
	ln.Close()
	if err == nil || !strings.Contains(string(out), "controller listener CONTROLLER://127.0.0.1") || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("start with the controller port taken: err %v, output:\n%s", err, out)
	}

	noID := testkit.NewCluster(t, 3, testkit.Options{Settings: map[string]string{"cluster.id": `""`}})
	out, err = exec.Command(n.Bin, "serve", "--config", noID.Node(1).ConfigPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cluster.id is not set") {
		t.Fatalf("start of a 3-voter node without cluster.id: err %v, output:\n%s", err, out)
	}
}
