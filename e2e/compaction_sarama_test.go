package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// IBM/sarama reads a compacted topic after cleaning (issue 12): from the
// oldest offset it gets every key's latest value, offsets strictly
// increasing across the gaps the cleaner left, up to the high watermark,
// with no error; the log includes a batch that cleaning emptied (an
// idempotent producer's only batch, all its records superseded, kept as a
// bare header for its producer state), and a consumer that starts at that
// batch's offset resumes at the next record that is left.
func TestCompactionSaramaReadsCleanedTopic(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	o, adminAddr := withAdmin(t, testkit.Options{Settings: map[string]string{"log.cleaner.backoff.ms": "100"}})
	n := startNode(t, o)
	// hot keys are updated all the time; every 49th record is a cold key
	// written once, so that the cleaned log is many batches with gaps.
	const topic, hot, updates, chunk = "compacted-sarama", 100, 20_000, 250
	seg, ratio, policy := "16384", "0.1", "compact"
	n.CreateTopic(topic, 1, map[string]*string{"segment.bytes": &seg, "min.cleanable.dirty.ratio": &ratio, "cleanup.policy": &policy})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	latest := map[string]string{}

	// Producer B writes keyed updates in batches of up to 250; half way,
	// producer A (franz-go's default idempotent producer, as B) writes one
	// batch of ten keys, all of which B's second half overwrites.
	b := n.Client(kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	produceB := func(from, to int) {
		t.Helper()
		for base := from; base < to; base += chunk {
			recs := make([]*kgo.Record, 0, chunk)
			for i := base; i < base+chunk; i++ {
				k, v := fmt.Sprintf("key-%03d", (i*37)%hot), fmt.Sprintf("value-%05d", i)
				if i%49 == 0 {
					k = fmt.Sprintf("cold-%03d", i/49) // written once: every batch keeps some
				}
				latest[k] = v
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)})
			}
			if err := b.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("producer B at %d: %v", base, err)
			}
		}
	}
	produceB(0, updates/2)
	a := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var recsA []*kgo.Record
	for k := 0; k < 10; k++ {
		recsA = append(recsA, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%03d", k)), Value: []byte(fmt.Sprintf("from-a-%d", k))})
	}
	resA, err := a.ProduceSync(ctx, recsA...).First()
	if err != nil {
		t.Fatalf("producer A: %v", err)
	}
	pidA, baseA := resA.ProducerID, resA.Offset
	if pidA < 0 {
		t.Fatalf("producer A is not idempotent (producer id %d)", pidA)
	}
	produceB(updates/2, updates)
	hw := endOffsets(t, n, topic, 1)[0]
	if want := int64(updates + len(recsA)); hw != want {
		t.Fatalf("high watermark %d, want %d", hw, want)
	}

	// Cleaned, and no pass to come: passes ran, nothing below the active
	// segment is dirty, and producer A's batch is a bare header.
	var batches []kmsg.RecordBatch
	testkit.WaitFor(t, 2*time.Minute, "the cleaner to clean everything below the active segment (passes and dirty ratio in /metrics) and empty producer A's batch", func() bool {
		m := scrape(t, adminAddr)
		if metricSum(m, "ringtail_cleaner_passes_total", nil) == 0 || metricSum(m, "ringtail_cleaner_dirty_ratio", map[string]string{"topic": topic}) != 0 {
			return false
		}
		batches = servedRecordBatches(t, n.Addr(), topic, 0, hw)
		for _, bt := range batches {
			if bt.ProducerID == pidA && bt.FirstOffset == baseA {
				if bt.NumRecords != 0 {
					t.Fatalf("producer A's batch at offset %d still holds %d records after cleaning; B overwrote all its keys", baseA, bt.NumRecords)
				}
				return true
			}
		}
		t.Fatalf("producer A's batch at offset %d is gone: it is its producer's last batch and must stay as a bare header", baseA)
		return false
	})
	served := 0
	for _, bt := range batches {
		served += int(bt.NumRecords)
	}
	t.Logf("after cleaning: %d batches, %d records served of %d written; producer A's batch at %d is empty", len(batches), served, hw, baseA)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Fetch.Default = 4096 // many fetches, many of them starting inside a gap
	cons, err := sarama.NewConsumer([]string{n.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()

	// consume reads from offset to the high watermark.
	consume := func(from int64) []*sarama.ConsumerMessage {
		t.Helper()
		pc, err := cons.ConsumePartition(topic, 0, from)
		if err != nil {
			t.Fatalf("sarama: consume from %d: %v", from, err)
		}
		defer pc.Close()
		var out []*sarama.ConsumerMessage
		last := int64(-1)
		timeout := time.After(time.Minute)
		for last < hw-1 {
			select {
			case m := <-pc.Messages():
				if m.Offset <= last {
					t.Fatalf("sarama: offset %d after %d", m.Offset, last)
				}
				if m.Offset >= hw {
					t.Fatalf("sarama: offset %d at or past the high watermark %d", m.Offset, hw)
				}
				last = m.Offset
				out = append(out, m)
			case err := <-pc.Errors():
				t.Fatalf("sarama: consume from %d: %v", from, err)
			case <-timeout:
				t.Fatalf("sarama: consume from %d: reached offset %d of high watermark %d in a minute", from, last, hw)
			}
		}
		if got := pc.HighWaterMarkOffset(); got != hw {
			t.Fatalf("sarama: high watermark %d, want %d", got, hw)
		}
		return out
	}

	msgs := consume(sarama.OffsetOldest)
	got := map[string]string{}
	for _, m := range msgs {
		got[string(m.Key)] = string(m.Value)
	}
	for k, v := range latest {
		if got[k] != v {
			t.Fatalf("sarama: key %s: last value read %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(latest) {
		t.Fatalf("sarama read %d keys, want %d", len(got), len(latest))
	}
	if len(msgs) != served {
		t.Fatalf("sarama read %d records; the broker serves %d", len(msgs), served)
	}
	if len(msgs) >= updates/4 {
		t.Fatalf("sarama read %d records of %d written: the topic was not compacted", len(msgs), updates)
	}
	t.Logf("sarama read %d records (%d keys) from the oldest offset up to %d", len(msgs), len(got), hw-1)

	// From producer A's emptied batch: the first record sarama gets is the
	// first one left after it.
	var want int64 = -1
	for _, m := range msgs {
		if m.Offset > baseA {
			want = m.Offset
			break
		}
	}
	from := consume(baseA)
	if len(from) == 0 || from[0].Offset != want {
		t.Fatalf("sarama from offset %d (an emptied batch): first record at %v, want %d", baseA, firstSaramaOffset(from), want)
	}
}

func firstSaramaOffset(ms []*sarama.ConsumerMessage) any {
	if len(ms) == 0 {
		return "none"
	}
	return ms[0].Offset
}

// servedRecordBatches fetches topic/partition from offset 0 to end with raw Fetch
// requests and returns every batch served, decoded (records not parsed),
// checking that the batches follow each other in offset order.
func servedRecordBatches(t *testing.T, addr, topic string, partition int32, end int64) []kmsg.RecordBatch {
	t.Helper()
	cl := rawClient(t, addr)
	defer cl.Close()
	var out []kmsg.RecordBatch
	next := int64(0)
	for next < end {
		p := rawFetch(t, cl, topic, partition, next, 1<<20)
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("fetch %s/%d@%d: %v", topic, partition, next, err)
		}
		buf := p.RecordBatches
		if len(buf) == 0 {
			t.Fatalf("fetch %s/%d@%d below end %d returned nothing", topic, partition, next, end)
		}
		for len(buf) >= 61 {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(buf); err != nil {
				break // a partial batch at the end of the response
			}
			size := 12 + int(b.Length)
			if size > len(buf) {
				break
			}
			buf = buf[size:]
			last := b.FirstOffset + int64(b.LastOffsetDelta)
			if last < next {
				continue // the batch that holds next began before it
			}
			if b.FirstOffset < next && len(out) > 0 {
				t.Fatalf("%s/%d: batch at %d overlaps the previous one, which ended before %d", topic, partition, b.FirstOffset, next)
			}
			out = append(out, b)
			next = last + 1
		}
	}
	return out
}
