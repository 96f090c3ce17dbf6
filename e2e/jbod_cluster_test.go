package e2e

// An I/O error on one broker's log dir in a 3-node cluster: the
// partitions whose replica there is on the failed dir lose that replica
// (leadership moves to another ISR member, the replica leaves the ISR and
// Metadata lists it offline) while every other partition keeps its
// replicas; producers and consumers go on through the new leaders without
// losing or repeating an acknowledged record; with the disk back, a
// restart brings the replica back into the ISR.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestJBODDiskErrorMovesLeadershipInCluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	ctl := filepath.Join(t.TempDir(), "eio-dirs")
	if err := os.WriteFile(ctl, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := testkit.StartCluster(t, 3, testkit.Options{ExtraLogDirs: 1, Env: []string{"RINGTAIL_TEST_EIO_FILE=" + ctl}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client(kgo.RetryTimeout(5 * time.Second)))
	defer adm.Close()
	const topic, parts = "eiox", 6
	if resp, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	// kadm answers Metadata from a cache up to 5 s old, and an answer from
	// before a broker applied the topic has no partitions: only a whole
	// answer counts, or a check over its partitions would pass on none.
	var whole kadm.TopicDetail
	describe := func() (kadm.TopicDetail, bool) {
		t.Helper()
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		td := md.Topics[topic]
		if td.Err != nil || len(td.Partitions) != parts {
			return td, false
		}
		whole = td
		return td, true
	}
	testkit.WaitFor(t, 30*time.Second, "every partition led with a full ISR", func() bool {
		td, ok := describe()
		if !ok {
			return false
		}
		for _, p := range td.Partitions {
			if p.Leader < 0 || len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	// Logs are created in the background after CreateTopics answers: wait
	// until every broker has all of them on disk, or a partition whose log
	// is not there yet would be counted on neither dir.
	testkit.WaitFor(t, 30*time.Second, "every broker's logs of the topic on disk", func() bool {
		for id := int32(1); id <= 3; id++ {
			n := c.Node(id)
			if len(partitionsIn(t, n.LogDirs[0], topic))+len(partitionsIn(t, n.LogDirs[1], topic)) != parts {
				return false
			}
		}
		return true
	})
	// The victim: a broker leading a partition whose log there is on its
	// second dir.
	var victim int32
	var failed []int32 // the victim's partitions on that dir
	for id := int32(1); id <= 3 && victim == 0; id++ {
		on2 := partitionsIn(t, c.Node(id).LogDirs[1], topic)
		for _, p := range whole.Partitions {
			if p.Leader == id && slices.Contains(on2, p.Partition) {
				victim, failed = id, on2
				break
			}
		}
	}
	if victim == 0 {
		t.Fatalf("no broker leads a partition on its second log dir: %+v", whole.Partitions)
	}
	t.Logf("broker %d fails its dir %s holding %s partitions %v", victim, c.Node(victim).LogDirs[1], topic, failed)

	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.RetryTimeout(60*time.Second))
	defer cl.Close()
	var ack []acked
	for p := int32(0); p < parts; p++ {
		ack = append(ack, produceToPart(t, cl, topic, p, fmt.Sprintf("p%d", p), 0, 10)...)
	}

	// The disk fails; the next write to a partition led there finds it.
	if err := os.WriteFile(ctl, []byte(c.Node(victim).LogDirs[1]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < parts; p++ {
		ack = append(ack, produceToPart(t, cl, topic, p, fmt.Sprintf("p%d", p), 10, 10)...)
	}
	testkit.WaitFor(t, 30*time.Second, "the failed replicas out of leadership and ISR, listed offline", func() bool {
		td, ok := describe()
		if !ok {
			return false
		}
		for _, p := range td.Partitions {
			inFailed := slices.Contains(failed, p.Partition)
			if inFailed && (p.Leader == victim || p.Leader < 0 || slices.Contains(p.ISR, victim) || !slices.Contains(p.OfflineReplicas, victim)) {
				return false
			}
		}
		return true
	})
	for _, p := range whole.Partitions {
		if !slices.Contains(failed, p.Partition) && (len(p.ISR) != 3 || len(p.OfflineReplicas) != 0) {
			t.Errorf("%s/%d is not on the failed dir but has ISR %v, offline %v", topic, p.Partition, p.ISR, p.OfflineReplicas)
		}
	}
	// Writes and reads go on everywhere, the victim's other dir included.
	for p := int32(0); p < parts; p++ {
		ack = append(ack, produceToPart(t, cl, topic, p, fmt.Sprintf("p%d", p), 20, 10)...)
	}
	verifyExactlyOnce(t, ack, consumeAll(t, c.Node(victim).Addr(), topic, len(ack), 60*time.Second))
	if code := rawProduceCode(t, rawClient(t, c.Node(victim).Addr()), topic, failed[0]); code != kerr.NotLeaderForPartition.Code && code != kerr.KafkaStorageError.Code {
		t.Errorf("produce to %s/%d on the victim: %v, want NOT_LEADER_OR_FOLLOWER or KAFKA_STORAGE_ERROR", topic, failed[0], kerr.ErrorForCode(code))
	}

	// The disk back and the broker restarted: its replicas rejoin.
	if err := os.WriteFile(ctl, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.Node(victim).Restart()
	testkit.WaitFor(t, 60*time.Second, "every ISR full again, nothing offline", func() bool {
		td, ok := describe()
		if !ok {
			return false
		}
		for _, p := range td.Partitions {
			if len(p.ISR) != 3 || len(p.OfflineReplicas) != 0 {
				return false
			}
		}
		return true
	})
	verifyExactlyOnce(t, ack, consumeAll(t, c.Node(victim).Addr(), topic, len(ack), 60*time.Second))
}
