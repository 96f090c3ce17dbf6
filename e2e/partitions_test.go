// This file proves that one node takes a topic with thousands of
// partitions: CreateTopics answers without timing out (the local logs are
// created after the metadata commits), every partition takes a write and
// gives it back, a new partition logs no warning, and all of it survives a
// clean restart.
package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestManyPartitionsCreateServeRestart(t *testing.T) {
	t.Parallel()
	const parts = 2000
	n := startNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	adm := n.Admin()
	res, err := adm.CreateTopic(ctx, parts, 1, nil, "big")
	if err != nil || res.Err != nil {
		t.Fatalf("CreateTopics of %d partitions: %v / %v (%s)", parts, err, res.Err, res.ErrMessage)
	}

	// One record to every partition; a partition whose log is still being
	// created answers NOT_LEADER_OR_FOLLOWER and the client retries.
	prod := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	recs := make([]*kgo.Record, parts)
	for p := range recs {
		recs[p] = &kgo.Record{Topic: "big", Partition: int32(p), Value: []byte("v" + itoa(p))}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing one record to each of %d partitions: %v", parts, err)
	}
	prod.Close()
	for p, r := range recs {
		if r.Offset != 0 {
			t.Fatalf("partition %d: first record at offset %d", p, r.Offset)
		}
	}

	check := func(when string) {
		t.Helper()
		got := consumeAll(t, n.Addr(), "big", parts, 60*time.Second)
		seen := make([]bool, parts)
		for _, r := range got {
			if r.Partition < 0 || int(r.Partition) >= parts || seen[r.Partition] || r.Offset != 0 || string(r.Value) != "v"+itoa(int(r.Partition)) {
				t.Fatalf("%s: unexpected record %s/%d@%d %q", when, r.Topic, r.Partition, r.Offset, r.Value)
			}
			seen[r.Partition] = true
		}
		if len(got) != parts {
			t.Fatalf("%s: consumed %d records, want %d", when, len(got), parts)
		}
	}
	check("after create")

	for _, bad := range []string{"rebuilding", "too many open files", "cannot create partition"} {
		if strings.Contains(n.Log(), bad) {
			t.Fatalf("log holds %q:\n%s", bad, tailLines(n.Log(), 40))
		}
	}

	n.Restart()
	log := n.LogSinceLastStart()
	if !containsAll(log, "clean_shutdown=true", "rescanned=0", "partitions="+itoa(parts+50)) {
		t.Fatalf("restart did not reopen every partition cleanly:\n%s", tailLines(log, 40))
	}
	if strings.Contains(log, "level=WARN msg=\"index") {
		t.Fatalf("restart rebuilt indexes:\n%s", tailLines(log, 40))
	}
	check("after restart")
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
