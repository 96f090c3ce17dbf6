package e2e

// TestReplicaFetchSessions proves, on three real nodes, that followers
// replicate through incremental fetch sessions (KIP-227): each follower
// node keeps one session per leader node it fetches from (the leaders'
// /metrics count exactly one replica session per follower-leader pair,
// holding every followed partition), the leaders keep serving incremental
// fetches while idle, a node stopped with SIGTERM closes its sessions on
// the leaders (no stale session outlives it once it is back), and every
// acks=all record written meanwhile is read back exactly once.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestReplicaFetchSessions(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := testkit.NewCluster(t, 3, testkit.Options{Settings: map[string]string{"broker.session.timeout.ms": "3000"}})
	admins := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		admins[i] = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		b, err := os.ReadFile(n.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		cfg := strings.Replace(string(b), `admin_listen = ""`, fmt.Sprintf("admin_listen = %q", admins[i]), 1)
		if err := os.WriteFile(n.ConfigPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, parts = "replica-sessions", 12
	adm := kadm.NewClient(c.Client(kgo.RetryTimeout(5 * time.Second)))
	two := "2"
	if resp, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": &two}, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	prod := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.RetryTimeout(60*time.Second))
	defer prod.Close()
	acks := map[string][]acked{"a": produceN(t, prod, topic, "a", 600)}

	// pairs is the (follower, leader) node pairs and the followed
	// partitions of every topic (__consumer_offsets is replicated too),
	// from metadata, once the topic is whole and every partition has a
	// leader and a full ISR.
	pairs := func() (sessions, partitions int, ok bool) {
		md, err := adm.Metadata(ctx)
		if err != nil {
			return 0, 0, false
		}
		if td, found := md.Topics[topic]; !found || td.Err != nil || len(td.Partitions) != parts {
			return 0, 0, false
		}
		seen := map[[2]int32]bool{}
		for _, td := range md.Topics {
			if td.Err != nil {
				return 0, 0, false
			}
			for _, p := range td.Partitions {
				if p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
					return 0, 0, false
				}
				for _, r := range p.Replicas {
					if r != p.Leader {
						seen[[2]int32{r, p.Leader}] = true
						partitions++
					}
				}
			}
		}
		return len(seen), partitions, true
	}
	// replicaSessions sums the replica session gauges over running nodes.
	replicaSessions := func(running []int) (sessions, partitions, incremental float64) {
		for _, i := range running {
			fams := scrape(t, admins[i])
			sessions += metricSum(fams, "ringtail_fetch_replica_sessions", nil)
			partitions += metricSum(fams, "ringtail_fetch_replica_session_partitions", nil)
			incremental += metricSum(fams, "ringtail_fetch_session_requests_total", map[string]string{"kind": "incremental"})
		}
		return sessions, partitions, incremental
	}
	all := []int{0, 1, 2}
	settled := func(running []int) func() bool {
		return func() bool {
			wantS, wantP, ok := pairs()
			if !ok {
				return false
			}
			s, p, _ := replicaSessions(running)
			return int(s) == wantS && int(p) == wantP
		}
	}
	testkit.WaitFor(t, 30*time.Second, "one replica session per follower-leader pair, holding every followed partition", settled(all))
	// Idle now (no produce, no consumer): the followers keep fetching,
	// incrementally.
	_, _, inc0 := replicaSessions(all)
	testkit.WaitFor(t, 10*time.Second, "incremental replica fetches", func() bool {
		_, _, inc := replicaSessions(all)
		return inc > inc0+10
	})

	// Node 3 stops gracefully: leadership moves, its fetchers close their
	// sessions; acks=all writes go on with two replicas.
	c.Nodes[2].Stop()
	acks["b"] = produceN(t, prod, topic, "b", 300)
	c.Nodes[2].Start()
	testkit.WaitFor(t, 60*time.Second, "replica sessions settle after node 3 restarts (none left over from before)", settled(all))
	acks["c"] = produceN(t, prod, topic, "c", 300)

	// Every acknowledged record exactly once, each phase's in order.
	got := consumeAll(t, c.Addrs()[0], topic, 1200, 30*time.Second)
	for prefix, ack := range acks {
		var mine []*kgo.Record
		for _, r := range got {
			if strings.HasPrefix(string(r.Value), prefix+"-") {
				mine = append(mine, r)
			}
		}
		verifyExactlyOnce(t, ack, mine)
	}
	if len(got) != 1200 {
		t.Fatalf("consumed %d records, 1,200 were acknowledged", len(got))
	}
}
