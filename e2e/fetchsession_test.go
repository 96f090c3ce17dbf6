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
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func TestFetchSessionsThousandPartitions(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const parts, perPart = 1000, 3
	opts, admin := withAdmin(t, testkit.Options{})
	n := startNode(t, opts)
	n.CreateTopic("fs", parts, nil)

	// The produce and each client's read get their own deadline: on a
	// loaded machine sarama alone spends tens of seconds in its 1,000
	// ConsumePartition calls (one offset lookup each).
	subCtx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t.Cleanup(cancel)
		return ctx
	}
	ctx := subCtx(t)
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
		ctx := subCtx(t)
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
		ctx := subCtx(t)
		kcat := needKcat(t)
		out, err := exec.CommandContext(ctx, kcat, "-b", n.Addr(), "-C", "-t", "fs", "-o", "beginning", "-e", "-q", "-f", "%s\n").Output()
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		check("kcat", strings.Fields(string(out)))
	})

	t.Run("sarama", func(t *testing.T) {
		ctx := subCtx(t)
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

// TestFetchSessionEvictedClientRecovers: with one session slot, a replica's
// full fetch (replica_id >= 0 may evict a consumer's session) takes the
// slot from a franz-go consumer; its next incremental fetch gets
// FETCH_SESSION_ID_NOT_FOUND (counted on /metrics), and it starts over with
// full fetches and still reads every record exactly once.
func TestFetchSessionEvictedClientRecovers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	opts, admin := withAdmin(t, testkit.Options{Settings: map[string]string{"max.incremental.fetch.session.cache.slots": "1"}})
	n := startNode(t, opts)
	n.CreateTopic("evict", 8, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prod := n.Client(kgo.DefaultProduceTopic("evict"))
	defer prod.Close()
	cons := n.Client(kgo.ConsumeTopics("evict"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	defer cons.Close()
	sent, seen := 0, map[string]int{}
	round := func() {
		t.Helper()
		var recs []*kgo.Record
		for i := range 50 {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%d", sent+i)})
		}
		sent += len(recs)
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		for len(seen) < sent {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d", len(seen), sent)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if seen[string(r.Value)]++; seen[string(r.Value)] > 1 {
					t.Fatalf("record %s read twice", r.Value)
				}
			})
		}
	}
	metric := func(event string) float64 {
		return metricSum(scrape(t, admin), "ringtail_fetch_session_events_total", map[string]string{"event": event})
	}
	incremental := func() float64 {
		return metricSum(scrape(t, admin), "ringtail_fetch_session_requests_total", map[string]string{"kind": "incremental"})
	}
	for incremental() == 0 {
		round()
	}
	// A "replica" takes the only slot.
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID, req.SessionEpoch, req.MaxBytes = 7, 7, 0, 1<<20
	raw := n.Client()
	defer raw.Close()
	resp, err := req.RequestWith(ctx, raw)
	if err != nil || resp.SessionID <= 0 {
		t.Fatalf("replica fetch: %v, session %v", err, resp)
	}
	testkit.WaitFor(t, 30*time.Second, "the consumer to find its session gone", func() bool {
		round()
		return metric("not_found") >= 1
	})
	round()
	if metric("evicted") < 1 {
		t.Fatal("no eviction counted")
	}
}
