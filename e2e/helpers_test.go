package e2e

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// acked is one acknowledged record: where the broker said it is.
type acked struct {
	partition int32
	offset    int64
	value     string
}

// produceN sends count records valued "<prefix>-<i>" asynchronously and
// returns the acknowledged ones, failing the test on any produce error.
func produceN(t *testing.T, cl *kgo.Client, topic, prefix string, count int) []acked {
	t.Helper()
	var (
		mu   sync.Mutex
		out  = make([]acked, 0, count)
		errs []error
		wg   sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := 0; i < count; i++ {
		wg.Add(1)
		v := prefix + "-" + strconv.Itoa(i)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out = append(out, acked{r.Partition, r.Offset, string(r.Value)})
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d produce errors, first: %v", len(errs), errs[0])
	}
	return out
}

// consumeAll reads topic from the start until want records arrived or the
// timeout passes, returning them in arrival order.
func consumeAll(t *testing.T, addr, topic string, want int, timeout time.Duration, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the timeout", len(recs), want)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch error on %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// verifyExactlyOnce checks that consumed holds every acknowledged record
// exactly once, at its acknowledged offset, and that within each partition
// the values keep the order in which they were produced (their sequence
// number rises with the offset).
func verifyExactlyOnce(t *testing.T, ack []acked, consumed []*kgo.Record) {
	t.Helper()
	type key struct {
		p int32
		o int64
	}
	want := make(map[key]string, len(ack))
	for _, a := range ack {
		want[key{a.partition, a.offset}] = a.value
	}
	seen := make(map[key]bool, len(consumed))
	lastSeq := map[int32]int{}
	lastOff := map[int32]int64{}
	for _, r := range consumed {
		k := key{r.Partition, r.Offset}
		if seen[k] {
			t.Fatalf("partition %d offset %d consumed twice", r.Partition, r.Offset)
		}
		seen[k] = true
		v, ok := want[k]
		if !ok {
			t.Fatalf("partition %d offset %d (%q) was never acknowledged", r.Partition, r.Offset, r.Value)
		}
		if v != string(r.Value) {
			t.Fatalf("partition %d offset %d: got %q, acknowledged %q", r.Partition, r.Offset, r.Value, v)
		}
		if lo, ok := lastOff[r.Partition]; ok && r.Offset <= lo {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, lo)
		}
		lastOff[r.Partition] = r.Offset
		seq := seqOf(t, string(r.Value))
		if ls, ok := lastSeq[r.Partition]; ok && seq <= ls {
			t.Fatalf("partition %d: record %d stored after record %d", r.Partition, seq, ls)
		}
		lastSeq[r.Partition] = seq
	}
	if len(seen) != len(want) {
		t.Fatalf("consumed %d distinct records, %d were acknowledged", len(seen), len(want))
	}
}

func seqOf(t *testing.T, v string) int {
	i := strings.LastIndexByte(v, '-')
	n, err := strconv.Atoi(v[i+1:])
	if err != nil {
		t.Fatalf("value %q has no sequence number", v)
	}
	return n
}

// startNode is testkit.StartNode that skips under -short.
func startNode(t *testing.T, o testkit.Options) *testkit.Node {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	return testkit.StartNode(t, o)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// verifyAckedPresent checks every acknowledged record is in consumed at its
// acknowledged offset, that no offset and no value appears twice, and that
// per partition values keep their produce order.
func verifyAckedPresent(t *testing.T, ack []acked, consumed []*kgo.Record) {
	t.Helper()
	type key struct {
		p int32
		o int64
	}
	at := make(map[key]string, len(consumed))
	values := make(map[string]key, len(consumed))
	lastSeq := map[int32]int{}
	for _, r := range consumed {
		k := key{r.Partition, r.Offset}
		if _, dup := at[k]; dup {
			t.Fatalf("partition %d offset %d consumed twice", r.Partition, r.Offset)
		}
		if prev, dup := values[string(r.Value)]; dup {
			t.Fatalf("value %q stored twice: at %v and %v", r.Value, prev, k)
		}
		at[k] = string(r.Value)
		values[string(r.Value)] = k
		seq := seqOf(t, string(r.Value))
		if ls, ok := lastSeq[r.Partition]; ok && seq <= ls {
			t.Fatalf("partition %d: record %d stored after record %d", r.Partition, seq, ls)
		}
		lastSeq[r.Partition] = seq
	}
	for _, a := range ack {
		v, ok := at[key{a.partition, a.offset}]
		if !ok {
			t.Fatalf("acknowledged record %q at partition %d offset %d is missing", a.value, a.partition, a.offset)
		}
		if v != a.value {
			t.Fatalf("partition %d offset %d holds %q, but %q was acknowledged there", a.partition, a.offset, v, a.value)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
