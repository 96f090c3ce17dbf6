package e2e

// The follower's fetch loop answers acks=all produce without waiting out
// its long poll, shown on three real nodes with replica.fetch.wait.max.ms
// at 25 s and num.replica.fetchers = 2. Each produce is a raw Produce sent
// to the partition's leader with acks=all and a 10 s timeout
// (min.insync.replicas = 3, so both followers must fetch it): the leader
// answers REQUEST_TIMED_OUT when its followers have not fetched the
// record within that timeout, which a follower that waited out its 25 s
// poll would cause. (A kgo idempotent producer would retry such a timeout
// and hide it.) The records are then read back exactly once.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// wakeCluster starts three nodes with a 25 s replica long poll and two
// fetchers per leader.
func wakeCluster(t *testing.T) *testkit.Cluster {
	return testkit.StartCluster(t, 3, testkit.Options{Settings: map[string]string{
		"replica.fetch.wait.max.ms": "25000", "num.replica.fetchers": "2"}})
}

// leaderProduce sends value to topic/p on leader as one acks=all Produce
// with a 10 s timeout and returns its error code and offset.
func leaderProduce(t *testing.T, c *testkit.Cluster, leader int32, topic string, p int32, value string) (int16, int64) {
	t.Helper()
	part := rawProduceTo(t, rawClient(t, c.Node(leader).Addr()).SeedBrokers()[0], topic, p, recordBatch([]string{value}))
	return part.ErrorCode, part.BaseOffset
}

// mustLeaderProduce is leaderProduce that fails the test on an error
// code, naming what took too long.
func mustLeaderProduce(t *testing.T, c *testkit.Cluster, leader int32, topic string, p int32, value, what string) acked {
	t.Helper()
	start := time.Now()
	code, off := leaderProduce(t, c, leader, topic, p, value)
	if code != 0 {
		t.Fatalf("acks=all produce to %s/%d answered %v after %v: %s", topic, p, kerr.ErrorForCode(code), time.Since(start).Round(time.Millisecond), what)
	}
	return acked{p, off, value}
}

func TestReplicaFetchWakesOnAppend(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := wakeCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, parts = "replica-wake", 4
	adm := kadm.NewClient(c.Client(kgo.RetryTimeout(5 * time.Second)))
	three := "3"
	if resp, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": &three}, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	leaders := map[int32]int32{}
	testkit.WaitFor(t, 30*time.Second, "every partition led with a full ISR", func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil || md.Topics[topic].Err != nil || len(md.Topics[topic].Partitions) != parts {
			return false
		}
		for _, p := range md.Topics[topic].Partitions {
			if p.Leader < 0 || len(p.ISR) != 3 {
				return false
			}
			leaders[p.Partition] = p.Leader
		}
		return true
	})
	// The first produce to each partition may meet followers still in
	// their first rounds: warm every partition up, retrying timeouts (a
	// timed-out record is in the log and commits later, at an offset the
	// answer does not give: the warm-up records are left out of the check).
	warm := 0 // records appended, each attempt one
	for p := int32(0); p < parts; p++ {
		testkit.WaitFor(t, 60*time.Second, "a warm-up produce to every partition", func() bool {
			warm++
			code, _ := leaderProduce(t, c, leaders[p], topic, p, "warm")
			if code != 0 && code != kerr.RequestTimedOut.Code {
				t.Fatalf("warm-up produce to %s/%d: %v", topic, p, kerr.ErrorForCode(code))
			}
			return code == 0
		})
	}
	var ack []acked
	for i := 0; i < 3*parts; i++ {
		p := int32(i % parts)
		ack = append(ack, mustLeaderProduce(t, c, leaders[p], topic, p, fmt.Sprintf("w-%d", i),
			"the followers did not wake on the leader's append"))
	}
	verifyExactlyOnce(t, ack, withoutValue(consumeAll(t, c.Addrs()[0], topic, warm+len(ack), 30*time.Second), "warm"))
}

// withoutValue is recs less those whose value is v.
func withoutValue(recs []*kgo.Record, v string) []*kgo.Record {
	var out []*kgo.Record
	for _, r := range recs {
		if string(r.Value) != v {
			out = append(out, r)
		}
	}
	return out
}

// TestReplicaFetchAddsPartitionsAfterSessionReset: deleting a topic makes
// each follower cut its fetch round short and open a new session with the
// leader; a topic created right after must join the fetch at once, not
// after the session-opening request's wait. All partitions are led by
// node 1, and a third topic keeps every fetcher of the followers busy
// with node 1 throughout.
func TestReplicaFetchAddsPartitionsAfterSessionReset(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := wakeCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := c.Client(kgo.RetryTimeout(5 * time.Second))
	// Two partitions each, on nodes 1, 2, 3 (led by 1): consecutive
	// partitions go to different fetchers (replication.FetcherID), so
	// every fetcher has some.
	const parts = 2
	create := func(topic string) {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
		for p := int32(0); p < parts; p++ {
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: p, Replicas: []int32{1, 2, 3}})
		}
		three := "3"
		rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{Name: "min.insync.replicas", Value: &three})
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create %s: %v %+v", topic, err, resp)
		}
	}
	create("reset-keep")
	create("reset-gone")
	// The first produces to a new topic may meet followers in their first
	// rounds and time out; the record commits later.
	for _, topic := range []string{"reset-keep", "reset-gone"} {
		for p := int32(0); p < parts; p++ {
			testkit.WaitFor(t, 60*time.Second, "a warm-up produce to "+topic, func() bool {
				code, _ := leaderProduce(t, c, 1, topic, p, "warm")
				if code != 0 && code != kerr.RequestTimedOut.Code && code != kerr.NotLeaderForPartition.Code {
					t.Fatalf("warm-up produce to %s/%d: %v", topic, p, kerr.ErrorForCode(code))
				}
				return code == 0
			})
		}
	}
	if resp, err := kadm.NewClient(cl).DeleteTopics(ctx, "reset-gone"); err != nil || resp["reset-gone"].Err != nil {
		t.Fatalf("delete reset-gone: %v %+v", err, resp)
	}
	create("reset-new")
	var ack []acked
	for p := int32(0); p < parts; p++ {
		// The leader may still be creating the log: NOT_LEADER_OR_FOLLOWER
		// until then, which is not the wait this test is about.
		var a acked
		testkit.WaitFor(t, 30*time.Second, "node 1 to lead reset-new", func() bool {
			code, off := leaderProduce(t, c, 1, "reset-new", p, fmt.Sprintf("new-%d", p))
			switch code {
			case kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code:
				return false
			case 0:
				a = acked{p, off, fmt.Sprintf("new-%d", p)}
				return true
			}
			t.Fatalf("first acks=all produce to reset-new/%d: %v: the followers did not add the new partition at once", p, kerr.ErrorForCode(code))
			return false
		})
		ack = append(ack, a)
	}
	verifyExactlyOnce(t, ack, consumeAll(t, c.Addrs()[0], "reset-new", len(ack), 30*time.Second))
}
