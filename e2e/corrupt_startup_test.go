// This file proves that bad files found at startup do not stop the real
// broker: after a SIGKILL, bytes flipped in the middle of a segment and a
// partition dir that cannot be opened at all, the node becomes ready, logs
// the truncation and the quarantine, returns the acknowledged records
// before the corruption in order, keeps the quarantined partition (its
// only copy) offline until unclean.leader.election.enable lets it start
// empty, accepts new records on both topics then, and its next restart
// truncates and quarantines nothing.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/storage"
	"github.com/ringtail/ringtail/testkit"
)

func TestCorruptSegmentAndUnopenablePartitionAtStartup(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	const topic, doomed = "corrupt", "doomed"
	n.CreateTopic(topic, 1, nil)
	n.CreateTopic(doomed, 1, nil)
	prod := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 20 batches of 25 records: one ProduceSync call is one batch.
	var values []string
	for b := 0; b < 20; b++ {
		recs := make([]*kgo.Record, 25)
		for i := range recs {
			v := fmt.Sprintf("r-%04d", len(values))
			values = append(values, v)
			recs[i] = &kgo.Record{Value: []byte(v)}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: doomed, Value: []byte("lost")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	n.Kill()

	// Flip bytes inside the records of the middle batch of the segment.
	seg := filepath.Join(n.DataDir, topic+"-0", "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	type batch struct {
		pos, size int
		base      int64
	}
	var batches []batch
	for pos := 0; pos < len(data); {
		h, err := storage.ParseBatchHeader(data[pos:])
		if err != nil {
			t.Fatalf("segment at byte %d: %v", pos, err)
		}
		batches = append(batches, batch{pos, h.Size(), int64(h.BaseOffset)})
		pos += h.Size()
	}
	victim := batches[len(batches)/2]
	for i := victim.pos + victim.size/2; i < victim.pos+victim.size/2+8; i++ {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory where a segment file should be: the partition cannot
	// be opened at all.
	if err := os.Mkdir(filepath.Join(n.DataDir, doomed+"-0", "00000000000000099999.log"), 0o755); err != nil {
		t.Fatal(err)
	}

	n.Start()
	log := n.LogSinceLastStart()
	if !containsAll(log, "log truncated at a torn or corrupt batch", "partition="+topic+"-0", fmt.Sprintf("offset=%d ", victim.base),
		fmt.Sprintf("bytes_dropped=%d ", len(data)-victim.pos)) {
		t.Fatalf("no truncation line at offset %d:\n%s", victim.base, log)
	}
	if !containsAll(log, "partition quarantined", "partition="+doomed+"-0", "-quarantine", "00000000000000099999.log") {
		t.Fatalf("no quarantine line:\n%s", log)
	}
	quarantined, _ := filepath.Glob(filepath.Join(n.DataDir, doomed+"-0.*-quarantine"))
	if len(quarantined) != 1 {
		t.Fatalf("quarantine dirs %v", quarantined)
	}

	// Every record before the corrupt batch, in order, and nothing after.
	recs := consumeAll(t, n.Addr(), topic, int(victim.base), 30*time.Second)
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Value) != values[i] {
			t.Fatalf("record %d: offset %d value %q, want %q", i, r.Offset, r.Value, values[i])
		}
	}
	if end := endOffset(t, n, topic); end != victim.base {
		t.Fatalf("end offset %d, want %d (the corrupt batch and those after it cut)", end, victim.base)
	}

	// The quarantined partition held its only in-sync copy: it stays
	// offline (never silently restarted at offset 0) and says why, until
	// unclean.leader.election.enable accepts starting it empty.
	if code := rawProduceCode(t, rawClient(t, n.Addr()), doomed, 0); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to the quarantined %s-0: %v, want KAFKA_STORAGE_ERROR", doomed, kerr.ErrorForCode(code))
	}
	testkit.WaitFor(t, 30*time.Second, "the stays-offline line", func() bool {
		return containsAll(n.LogSinceLastStart(), "quarantined partition stays offline", "partition="+doomed+"-0")
	})
	adm := n.Admin()
	defer adm.Close()
	if res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "unclean.leader.election.enable", Value: kadm.StringPtr("true")}}, doomed); err != nil || res[0].Err != nil {
		t.Fatalf("alter %s: %v %+v", doomed, err, res)
	}

	// New records are accepted on both topics: the quarantined partition
	// was started anew, empty.
	prod = n.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	defer prod.Close()
	testkit.WaitFor(t, 30*time.Second, "produce after the restart", func() bool {
		res := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}, &kgo.Record{Topic: doomed, Value: []byte("after")})
		if res.FirstErr() != nil {
			return false
		}
		for _, r := range res {
			if r.Record.Topic == topic && r.Record.Offset != victim.base || r.Record.Topic == doomed && r.Record.Offset != 0 {
				t.Fatalf("%s appended at %d", r.Record.Topic, r.Record.Offset)
			}
		}
		return true
	})

	// The next restart finds nothing to cut or move.
	n.Kill()
	n.Start()
	log = n.LogSinceLastStart()
	if strings.Contains(log, "log truncated") || strings.Contains(log, "partition quarantined") || !contains(log, "truncated_bytes=0") {
		t.Fatalf("second restart not clean:\n%s", log)
	}
	if end := endOffset(t, n, topic); end != victim.base+1 {
		t.Fatalf("end offset after the second restart %d, want %d", end, victim.base+1)
	}
	if q, _ := filepath.Glob(filepath.Join(n.DataDir, doomed+"-0.*-quarantine")); len(q) != 1 || q[0] != quarantined[0] {
		t.Fatalf("quarantine dir after the second restart: %v", q)
	}
}

// endOffset is partition 0's log end offset.
func endOffset(t *testing.T, n *testkit.Node, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := n.Admin()
	defer adm.Close()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %v %v", topic, ok, o.Err)
	}
	return o.Offset
}

// A replica quarantined at startup in a 3-node cluster, on a follower and
// on the leader (restarted at once, before its session expired): it is
// reported offline, so leadership and the ISR move off it before its
// empty log could serve; then it is started anew, refetches every record
// from the leader, and is back in the ISR. Nothing acknowledged is hidden
// or lost.
func TestQuarantinedReplicaRefetches(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	for _, role := range []string{"follower", "leader"} {
		t.Run(role, func(t *testing.T) { quarantinedReplicaRefetches(t, role == "leader") })
	}
}

func quarantinedReplicaRefetches(t *testing.T, onLeader bool) {
	c := testkit.StartCluster(t, 3, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := c.Admin()
	defer adm.Close()
	const topic = "q"
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	prod := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	var values []string
	for b := 0; b < 10; b++ {
		recs := make([]*kgo.Record, 20)
		for i := range recs {
			v := fmt.Sprintf("q-%04d", len(values))
			values = append(values, v)
			recs[i] = &kgo.Record{Value: []byte(v)}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	prod.Close()
	meta := c.Client()
	defer meta.Close()
	leader, isr, ok := partitionState(ctx, meta, 1, topic)
	if !ok || len(isr) != 3 {
		t.Fatalf("leader %d isr %v (%v)", leader, isr, ok)
	}
	victimID := leader%3 + 1
	if onLeader {
		victimID = leader
	}
	other := victimID%3 + 1 // state questions go to a node that stays up
	victim := c.Node(victimID)
	victim.Kill()
	if err := os.Mkdir(filepath.Join(victim.DataDir, topic+"-0", "00000000000000099999.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	victim.Start()
	if !containsAll(victim.LogSinceLastStart(), "partition quarantined", "partition="+topic+"-0") {
		t.Fatalf("no quarantine line:\n%s", victim.LogSinceLastStart())
	}
	var newLeader int32
	testkit.WaitFor(t, 30*time.Second, "leadership off the quarantined replica and every record readable", func() bool {
		l, _, ok := partitionState(ctx, meta, other, topic)
		newLeader = l
		return ok && l > 0 && l != victimID
	})
	if onLeader && newLeader == leader {
		t.Fatalf("leader %d kept the partition with its log quarantined", leader)
	}
	// A new leader's high watermark may trail its log end until the other
	// in-sync follower's next fetch (Kafka's rule too); every acknowledged
	// record must become visible once it has.
	testkit.WaitFor(t, 30*time.Second, "every acknowledged record visible after the quarantine", func() bool {
		return endOffset(t, c.Node(other), topic) == int64(len(values))
	})
	want, err := os.ReadFile(filepath.Join(c.Node(newLeader).DataDir, topic+"-0", "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("victim log:\n%s", tail(victim.LogSinceLastStart()))
		}
	}()
	testkit.WaitFor(t, 30*time.Second, "the re-created replica refetched the leader's segment", func() bool {
		got, _ := os.ReadFile(filepath.Join(victim.DataDir, topic+"-0", "00000000000000000000.log"))
		return string(got) == string(want)
	})
	testkit.WaitFor(t, 30*time.Second, "the replica back in the ISR", func() bool {
		_, isr, ok := partitionState(ctx, meta, other, topic)
		return ok && len(isr) == 3
	})
	recs := consumeAll(t, c.Addrs()[0], topic, len(values), 30*time.Second)
	for i, r := range recs {
		if string(r.Value) != values[i] {
			t.Fatalf("record %d = %q, want %q", i, r.Value, values[i])
		}
	}
	if !containsAll(victim.LogSinceLastStart(), "quarantined partition started anew", "a follower refetching from the leader") {
		t.Errorf("no started-anew line:\n%s", victim.LogSinceLastStart())
	}
}
