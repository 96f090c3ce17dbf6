package e2e

// TestReplicaFetchWakesOnAppend proves, on three real nodes, that a leader
// wakes its followers' parked Fetches when it appends: with
// replica.fetch.wait.max.ms at 25 s and num.replica.fetchers = 2, every
// acks=all produce (each one alone, min.insync.replicas = 3, so both
// followers must fetch it) is answered within a 10 s deadline, which a
// follower that learned of appends only at the end of its wait would miss.
// The records are then read back exactly once.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestReplicaFetchWakesOnAppend(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := testkit.StartCluster(t, 3, testkit.Options{Settings: map[string]string{
		"replica.fetch.wait.max.ms": "25000", "num.replica.fetchers": "2"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, parts = "replica-wake", 4
	adm := kadm.NewClient(c.Client(kgo.RetryTimeout(5 * time.Second)))
	three := "3"
	if resp, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": &three}, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	testkit.WaitFor(t, 30*time.Second, "every partition led with a full ISR", func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil || md.Topics[topic].Err != nil || len(md.Topics[topic].Partitions) != parts {
			return false
		}
		for _, p := range md.Topics[topic].Partitions {
			if p.Leader < 0 || len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	prod := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(30*time.Second))
	defer prod.Close()
	// The first produce to each partition may meet followers still in
	// their first rounds: warm every partition up once, unbounded.
	var ack []acked
	for i := 0; i < parts; i++ {
		r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("w-%d", i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("warm-up produce: %v", err)
		}
		ack = append(ack, acked{r.Partition, r.Offset, string(r.Value)})
	}
	for i := 0; i < 3*parts; i++ {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("w-%d", parts+i))}
		start := time.Now()
		err := prod.ProduceSync(pctx, r).FirstErr()
		pcancel()
		if err != nil {
			t.Fatalf("acks=all produce %d (partition %d) after %v: %v: the followers did not wake on the leader's append", i, r.Partition, time.Since(start), err)
		}
		ack = append(ack, acked{r.Partition, r.Offset, string(r.Value)})
	}
	verifyExactlyOnce(t, ack, consumeAll(t, c.Addrs()[0], topic, len(ack), 30*time.Second))
}
