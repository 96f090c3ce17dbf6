package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// Transactions in a compacted topic: rounds of updates to every key,
// committed and aborted in turn, until the cleaner has passed. A
// read_committed reader then gets every key's value from the last
// committed round and never a value of an aborted round; the cleaner
// removed the aborted records (a read_uncommitted reader gets fewer
// records than were written), and an aborted update never replaced a
// committed value.
func TestTransactionsInACompactedTopic(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	o, adminAddr := withAdmin(t, testkit.Options{Settings: map[string]string{"log.cleaner.backoff.ms": "100"}})
	n := startNode(t, o)
	const topic, keys, rounds = "txn-compacted", 40, 60
	seg, ratio, policy := "4096", "0.01", "compact"
	n.CreateTopic(topic, 1, map[string]*string{"segment.bytes": &seg, "min.cleanable.dirty.ratio": &ratio, "cleanup.policy": &policy})
	cl := txnProducer(t, n, "compacted-1", kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	latest := map[string]string{}
	for r := 0; r < rounds; r++ {
		commit := r%2 == 0 || r == rounds-1
		var recs []*kgo.Record
		for k := 0; k < keys; k++ {
			key, v := fmt.Sprintf("key-%02d", k), fmt.Sprintf("round-%02d-%v-%s", r, commit, strings.Repeat("x", 40))
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(v)})
			if commit {
				latest[key] = v
			}
		}
		if err := txnWrite(ctx, cl, commit, recs...); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
	testkit.WaitFor(t, 2*time.Minute, "the cleaner to leave nothing dirty below the active segment", func() bool {
		m := scrape(t, adminAddr)
		return metricSum(m, "ringtail_cleaner_passes_total", nil) > 0 &&
			metricSum(m, "ringtail_cleaner_dirty_ratio", map[string]string{"topic": topic}) == 0
	})

	end := endOffsets(t, n, topic, 1)[0]
	read := func(committed bool) (map[string]string, int) {
		opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
		if committed {
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		}
		rd := n.Client(opts...)
		defer rd.Close()
		got, count, last := map[string]string{}, 0, int64(-1)
		// The log ends with the last (committed) round's marker at end-1:
		// its last record is at end-2.
		for last < end-2 {
			fs := rd.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("read (committed %v) at %d of %d: %v", committed, last, end, err)
			}
			fs.EachRecord(func(rec *kgo.Record) {
				if committed && strings.Contains(string(rec.Value), "-false-") {
					t.Fatalf("read_committed got %q of an aborted round at offset %d", rec.Value, rec.Offset)
				}
				got[string(rec.Key)] = string(rec.Value)
				count++
				last = rec.Offset
			})
		}
		return got, count
	}
	got, _ := read(true)
	for k, v := range latest {
		if got[k] != v {
			t.Fatalf("read_committed: %s = %q, want %q (the last committed round's)", k, got[k], v)
		}
	}
	_, count := read(false)
	if count >= rounds*keys {
		t.Fatalf("read_uncommitted got %d records of the %d written: nothing was cleaned", count, rounds*keys)
	}
	t.Logf("%d records written in %d transactions (half aborted), %d left after cleaning", rounds*keys, rounds, count)
}
