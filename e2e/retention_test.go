// This file proves retention: a topic with a small retention.bytes drops
// whole old segments, one with a small retention.ms drops records older than
// it, and in both ListOffsets earliest moves forward while what remains
// reads back contiguously.
package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestRetentionDropsOldSegments(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{Settings: map[string]string{"log.retention.check.interval.ms": "100"}})
	seg, retBytes, retMs := "4096", "16384", "60000"
	n.CreateTopic("by-size", 1, map[string]*string{"segment.bytes": &seg, "retention.bytes": &retBytes})
	n.CreateTopic("by-time", 1, map[string]*string{"segment.bytes": &seg, "retention.ms": &retMs})

	// Uncompressed, so sizes on disk are what the test computes.
	prod := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	value := []byte(strings.Repeat("r", 400))
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 200; i++ {
		// One record per request: many small batches, many segments.
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "by-size", Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "by-time", Value: value, Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	adm := n.Admin()
	earliest := func(topic string) (int64, int64) {
		s, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		e, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		so, _ := s.Lookup(topic, 0)
		eo, _ := e.Lookup(topic, 0)
		return so.Offset, eo.Offset
	}
	// Retention runs every 100 ms, maybe mid-way through the produce loop,
	// so wait for its settled outcome: it drops the oldest whole segments
	// while the partition holds more than retention.bytes, so once it holds
	// at most that (DescribeLogDirs) and nothing more is produced, no later
	// pass deletes anything and the records counted below stay readable.
	testkit.WaitFor(t, 30*time.Second, "size retention", func() bool {
		start, end := earliest("by-size")
		return start > 0 && end == 200 && topicSizeOnDisk(t, n, "by-size") <= 16384
	})
	start, end := earliest("by-size")
	if start >= end {
		t.Fatalf("by-size: start %d end %d: size retention must keep the newest records", start, end)
	}
	recs := consumeAll(t, n.Addr(), "by-size", int(end-start), time.Minute)
	for i, r := range recs {
		if r.Offset != start+int64(i) {
			t.Fatalf("by-size: record %d has offset %d, want %d", i, r.Offset, start+int64(i))
		}
	}

	testkit.WaitFor(t, 30*time.Second, "time retention", func() bool {
		start, end := earliest("by-time")
		return start == end && end == 200
	})
}
