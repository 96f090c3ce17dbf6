package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// Tombstones in a compacted topic (issue 12): deleted keys disappear for a
// reader that starts after delete.retention.ms, and are delivered to a
// reader that was inside that window. Keys are written, some deleted
// (records with a null value), and enough other updates follow for the
// segments to roll and the cleaner to pass: a reader from the beginning
// then gets each deleted key once, as its tombstone, with the values before
// it gone. Once delete.retention.ms has passed since that pass, more
// updates make the log dirty again; after the next pass a reader from the
// beginning gets neither the deleted keys' values nor their tombstones,
// and every other key's latest value.
func TestCompactionTombstonesOutliveTheirRetentionOnly(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	o, adminAddr := withAdmin(t, testkit.Options{Settings: map[string]string{"log.cleaner.backoff.ms": "100"}})
	n := startNode(t, o)
	const (
		topic     = "tombstones"
		keys      = 100
		deleted   = 20 // key-000 to key-019
		retention = 2 * time.Second
	)
	seg, ratio, policy, del := "4096", "0.01", "compact", strconv.Itoa(int(retention.Milliseconds()))
	n.CreateTopic(topic, 1, map[string]*string{"segment.bytes": &seg, "min.cleanable.dirty.ratio": &ratio,
		"cleanup.policy": &policy, "delete.retention.ms": &del})

	cl := n.Client(kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	latest := map[string]string{}
	seq := 0
	produce := func(recs []*kgo.Record) {
		t.Helper()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	// updates writes count updates of the keys that are not deleted, in
	// batches of 50.
	updates := func(count int) {
		t.Helper()
		for done := 0; done < count; done += 50 {
			var recs []*kgo.Record
			for i := 0; i < 50; i++ {
				seq++
				k, v := fmt.Sprintf("key-%03d", deleted+seq%(keys-deleted)), fmt.Sprintf("value-%06d", seq)
				latest[k] = v
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)})
			}
			produce(recs)
		}
	}
	// clean waits for a pass after passes (a counter value) that leaves
	// nothing dirty below the active segment.
	passes := func() float64 { return metricSum(scrape(t, adminAddr), "ringtail_cleaner_passes_total", nil) }
	clean := func(after float64, what string) {
		t.Helper()
		testkit.WaitFor(t, 2*time.Minute, what, func() bool {
			m := scrape(t, adminAddr)
			return metricSum(m, "ringtail_cleaner_passes_total", nil) > after &&
				metricSum(m, "ringtail_cleaner_dirty_ratio", map[string]string{"topic": topic}) == 0
		})
	}

	var recs []*kgo.Record
	for k := 0; k < keys; k++ {
		key, v := fmt.Sprintf("key-%03d", k), fmt.Sprintf("first-%03d", k)
		latest[key] = v
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(v)})
	}
	produce(recs)
	recs = nil
	for k := 0; k < deleted; k++ {
		key := fmt.Sprintf("key-%03d", k)
		delete(latest, key)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key)}) // Value nil: a tombstone
	}
	produce(recs)
	updates(2000)
	clean(0, "the cleaner to clean past the tombstones (passes and dirty ratio in /metrics)")
	cleanedAt, passesThen := time.Now(), passes()

	// A reader inside delete.retention.ms: each deleted key once, as its
	// tombstone.
	got, count := readKeyedRecords(t, n, topic)
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("key-%03d", k)
		rs := got[key]
		if k < deleted {
			if len(rs) != 1 || rs[0].Value != nil {
				t.Fatalf("inside delete.retention.ms: deleted key %s read as %s, want its tombstone alone", key, describeKeyRecords(rs))
			}
			continue
		}
		if len(rs) == 0 || string(rs[len(rs)-1].Value) != latest[key] {
			t.Fatalf("inside delete.retention.ms: key %s read as %s, want latest value %q", key, describeKeyRecords(rs), latest[key])
		}
	}
	t.Logf("a reader inside delete.retention.ms read %d records, with the %d tombstones", count, deleted)

	// delete.retention.ms passes after the last pass; new updates make the
	// log dirty, and the next pass drops the tombstones.
	testkit.WaitFor(t, retention+30*time.Second, "delete.retention.ms to pass since the last cleaning pass", func() bool {
		return time.Now().After(cleanedAt.Add(retention + 500*time.Millisecond))
	})
	updates(1000)
	clean(passesThen, "the cleaner to pass again after delete.retention.ms (passes and dirty ratio in /metrics)")

	got, count = readKeyedRecords(t, n, topic)
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("key-%03d", k)
		rs := got[key]
		if k < deleted {
			if len(rs) != 0 {
				t.Fatalf("after delete.retention.ms: deleted key %s read as %s, want nothing", key, describeKeyRecords(rs))
			}
			continue
		}
		if len(rs) == 0 || string(rs[len(rs)-1].Value) != latest[key] {
			t.Fatalf("after delete.retention.ms: key %s read as %s, want latest value %q", key, describeKeyRecords(rs), latest[key])
		}
	}
	t.Logf("a reader after delete.retention.ms read %d records, no tombstone", count)
}

// readKeyedRecords reads topic's partition 0 from the beginning to its high
// watermark with franz-go, checking offsets strictly increase, and returns
// the records of each key in order and how many were read.
func readKeyedRecords(t *testing.T, n *testkit.Node, topic string) (map[string][]*kgo.Record, int) {
	t.Helper()
	hw := endOffsets(t, n, topic, 1)[0]
	cl := n.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string][]*kgo.Record{}
	count, last := 0, int64(-1)
	for last < hw-1 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consume %s up to %d (at %d): %v", topic, hw, last, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				t.Fatalf("consume %s: offset %d after %d", topic, r.Offset, last)
			}
			last = r.Offset
			out[string(r.Key)] = append(out[string(r.Key)], r)
			count++
		})
	}
	return out, count
}

func describeKeyRecords(rs []*kgo.Record) string {
	if len(rs) == 0 {
		return "nothing"
	}
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		if r.Value == nil {
			s += fmt.Sprintf("tombstone@%d", r.Offset)
		} else {
			s += fmt.Sprintf("%q@%d", r.Value, r.Offset)
		}
	}
	return s
}
