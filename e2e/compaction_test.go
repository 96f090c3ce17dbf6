package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// Compaction with the real binary and real clients (issue 12): 200,000
// keyed updates over 1,000 keys into a compacted topic with small segments.
// Once the cleaner has run, a consumer from the beginning (franz-go, and
// kcat when installed) reads every key's latest value, offsets strictly
// increasing, far fewer records than were written, and the partition's
// size on disk (DescribeLogDirs) shrank.
func TestCompactionKeepsTheLatestValuePerKey(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	o, adminAddr := withAdmin(t, testkit.Options{Settings: map[string]string{"log.cleaner.backoff.ms": "100"}})
	n := startNode(t, o)
	const topic, keys, updates = "compacted", 1000, 200_000
	seg, ratio, policy := "16384", "0.1", "compact"
	n.CreateTopic(topic, 1, map[string]*string{"segment.bytes": &seg, "min.cleanable.dirty.ratio": &ratio, "cleanup.policy": &policy})

	// Uncompressed, so that the log is hundreds of small segments.
	// Batches of at most 4 KiB, so that the active segment holds at most
	// segment.bytes (a bigger batch would get a segment of its own).
	cl := n.Client(kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(4096))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	latest := make(map[string]string, keys)
	var written int64 // key and value bytes produced
	start := time.Now()
	const chunk = 5000
	for base := 0; base < updates; base += chunk {
		recs := make([]*kgo.Record, 0, chunk)
		for i := base; i < base+chunk; i++ {
			k, v := fmt.Sprintf("key-%04d", (i*7919)%keys), fmt.Sprintf("value-%06d", i)
			latest[k] = v
			written += int64(len(k) + len(v))
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce at %d: %v", base, err)
		}
	}
	t.Logf("%d updates produced in %v", updates, time.Since(start).Round(time.Millisecond))

	sizeOf := func() int64 { return topicSizeOnDisk(t, n, topic) }
	// The cleaner runs while the producer does; the partition ends up a
	// fraction of what was written.
	testkit.WaitFor(t, 2*time.Minute, "the cleaner to compact the topic (passes in /metrics, size on disk)", func() bool {
		fams := scrape(t, adminAddr)
		// Nothing dirty below the active segment: every segment but the
		// active one has been cleaned since the last update.
		clean := metricSum(fams, "ringtail_cleaner_dirty_ratio", map[string]string{"topic": topic}) == 0 &&
			metricSum(fams, "ringtail_log_segments", map[string]string{"topic": topic}) > 1
		return metricSum(fams, "ringtail_cleaner_passes_total", nil) > 0 && clean && sizeOf() < written/4
	})
	t.Logf("%d key and value bytes written; the partition holds %d bytes on disk after cleaning", written, sizeOf())

	hw := endOffsets(t, n, topic, 1)[0]
	consumer := n.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]string{}
	count, last := 0, int64(-1)
	for last < hw-1 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				t.Fatalf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			got[string(r.Key)] = string(r.Value)
			count++
		})
	}
	if len(got) != keys {
		t.Fatalf("read %d keys, want %d", len(got), keys)
	}
	for k, v := range latest {
		if got[k] != v {
			t.Fatalf("key %s: last value read %q, want %q", k, got[k], v)
		}
	}
	// Every key once below the active segment, plus at most what the
	// active segment holds (16 KiB of records of 27 bytes or more).
	if limit := keys + 16384/27; count > limit {
		t.Fatalf("read %d records of %d written, more than one per key (%d) plus an active segment's (%d): the log was not compacted", count, updates, keys, limit-keys)
	}
	t.Logf("franz-go read %d records (%d keys) up to offset %d", count, len(got), last)

	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (apt-get install kcat; .ci/run installs it)")
	}
	out, err := exec.CommandContext(ctx, kcat, "-b", n.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k %s %o\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	kgot := map[string]string{}
	prev := int64(-1)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var k, v string
		var o int64
		if _, err := fmt.Sscanf(sc.Text(), "%s %s %d", &k, &v, &o); err != nil {
			t.Fatalf("kcat line %q: %v", sc.Text(), err)
		}
		if o <= prev {
			t.Fatalf("kcat: offset %d after %d", o, prev)
		}
		prev = o
		kgot[k] = v
	}
	for k, v := range latest {
		if kgot[k] != v {
			t.Fatalf("kcat: key %s: last value %q, want %q", k, kgot[k], v)
		}
	}
}

// topicSizeOnDisk is the bytes of topic's partitions on n (DescribeLogDirs);
// the test fails when n holds none of them.
func topicSizeOnDisk(t *testing.T, n *testkit.Node, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dirs, err := n.Admin().DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	found := false
	dirs.Each(func(d kadm.DescribedLogDir) {
		for _, p := range d.Topics[topic] {
			size += p.Size
			found = true
		}
	})
	if !found {
		t.Fatalf("DescribeLogDirs reports no partition of %s", topic)
	}
	return size
}
