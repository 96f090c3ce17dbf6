// This file proves that incremental fetch sessions (KIP-227) work with real
// clients over many partitions: one topic of 1,000 partitions, 3 records in
// each, read back in full by franz-go (which opens a session and then
// fetches incrementally, as /metrics shows), kcat (librdkafka) and sarama
// (both sessionless), every record exactly once.
package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestFetchSessionsThousandPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const parts, perPart = 1000, 3
	opts, admin := withAdmin(t, testkit.Options{})
	n := startNode(t, opts)
	n.CreateTopic("fs", parts, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prod := n.Client(kgo.DefaultProduceTopic("fs"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	want := map[string]bool{}
	for p := range int32(parts) {
		for i := range perPart {
			v := fmt.Sprintf("%d-%d", p, i)
			want[v] = true
			recs = append(recs, &kgo.Record{Partition: p, Value: []byte(v)})
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	prod.Close()
	check := func(client string, got []string) {
		t.Helper()
		seen := map[string]int{}
		for _, v := range got {
			seen[v]++
			if !want[v] || seen[v] > 1 {
				t.Fatalf("%s: record %q unexpected or read twice", client, v)
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("%s: read %d distinct records, want %d", client, len(seen), len(want))
		}
	}

	t.Run("franz-go", func(t *testing.T) {
		before := metricSum(scrape(t, admin), "ringtail_fetch_session_requests_total", map[string]string{"kind": "incremental"})
		cons := n.Client(kgo.ConsumeTopics("fs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
		defer cons.Close()
		var got []string
		for len(got) < len(want) {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("franz-go: read %d of %d", len(got), len(want))
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		check("franz-go", got)
		// Keep the consumer fetching until it has sent incremental fetches
		// (it does from its second fetch on), and nothing more arrives.
		testkit.WaitFor(t, 30*time.Second, "incremental fetches", func() bool {
			pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			fs := cons.PollFetches(pctx)
			pcancel()
			if fs.NumRecords() > 0 {
				t.Fatalf("franz-go: %d records past the end", fs.NumRecords())
			}
			fams := scrape(t, admin)
			return metricSum(fams, "ringtail_fetch_session_requests_total", map[string]string{"kind": "incremental"}) > before &&
				metricSum(fams, "ringtail_fetch_sessions", nil) >= 1
		})
		fams := scrape(t, admin)
		t.Logf("sessions %v, partitions in sessions %v, incremental fetches %v, full %v",
			metricSum(fams, "ringtail_fetch_sessions", nil), metricSum(fams, "ringtail_fetch_session_partitions", nil),
			metricSum(fams, "ringtail_fetch_session_requests_total", map[string]string{"kind": "incremental"}),
			metricSum(fams, "ringtail_fetch_session_requests_total", map[string]string{"kind": "full"}))
	})

	t.Run("kcat", func(t *testing.T) {
		kcat := needKcat(t)
		out, err := exec.CommandContext(ctx, kcat, "-b", n.Addr(), "-C", "-t", "fs", "-o", "beginning", "-e", "-q", "-f", "%s\n").Output()
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		check("kcat", strings.Fields(string(out)))
	})

	t.Run("sarama", func(t *testing.T) {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cons, err := sarama.NewConsumer([]string{n.Addr()}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		pcs := make([]sarama.PartitionConsumer, parts)
		for p := range int32(parts) {
			if pcs[p], err = cons.ConsumePartition("fs", p, sarama.OffsetOldest); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for p, pc := range pcs {
			for range perPart {
				select {
				case m := <-pc.Messages():
					got = append(got, string(m.Value))
				case err := <-pc.Errors():
					t.Fatalf("sarama partition %d: %v", p, err)
				case <-ctx.Done():
					t.Fatalf("sarama partition %d: read %d records in all", p, len(got))
				}
			}
		}
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		check("sarama", got)
	})
}
