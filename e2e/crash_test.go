// This file proves Ringtail's durability promise: while an idempotent
// acks=all producer writes continuously, the broker is SIGKILLed at a random
// moment and restarted, five times; afterwards every acknowledged record is
// read back at its acknowledged offset exactly once, and every batch the
// broker serves passes its CRC-32C (no torn batch is ever served).
package e2e

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestCrashLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	const topic = "crash"
	n.CreateTopic(topic, 3, nil)

	prod := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))

	var (
		mu       sync.Mutex
		ack      []acked
		failures []error
		nacked   atomic.Int64
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const maxRecords = 2_000_000 // bound on the load loop
	produced := make(chan int, 1)
	go func() {
		i := 0
		defer func() { produced <- i }()
		for ; i < maxRecords && ctx.Err() == nil; i++ {
			wg.Add(1)
			prod.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte("crash-" + strconv.Itoa(i))}, func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, err)
					return
				}
				ack = append(ack, acked{r.Partition, r.Offset, string(r.Value)})
				nacked.Add(1)
			})
		}
	}()

	for round := 1; round <= 5; round++ {
		base := nacked.Load()
		testkit.WaitFor(t, 2*time.Minute, "acknowledgements before a kill", func() bool { return nacked.Load() >= base+2000 })
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond) // a random moment, not a synchronisation
		n.Kill()
		n.Start()
		if log := n.LogSinceLastStart(); !containsAll(log, "clean_shutdown=false") {
			t.Fatalf("round %d: restart after SIGKILL did not run recovery:\n%s", round, log)
		}
	}
	base := nacked.Load()
	testkit.WaitFor(t, 2*time.Minute, "acknowledgements after the last restart", func() bool { return nacked.Load() >= base+1000 })
	cancel()
	total := <-produced
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	// Records still buffered when the load stopped fail with the context's
	// error; with unlimited retries nothing else may fail.
	for _, err := range failures {
		if err != context.Canceled {
			t.Fatalf("producer saw a failure other than its own cancellation: %v", err)
		}
	}
	t.Logf("%d records produced, %d acknowledged, %d cancelled", total, len(ack), len(failures))

	end := endOffsets(t, n, topic, 3)
	var stored int64
	for _, e := range end {
		stored += e
	}
	got := consumeAll(t, n.Addr(), topic, int(stored), 3*time.Minute)
	// Records whose acknowledgement was cut off by cancellation may be
	// stored; every acknowledged one must be at its offset.
	verifyAckedPresent(t, ack, got)
	for p := int32(0); p < 3; p++ {
		checkServedBatches(t, n.Addr(), topic, p, end[p])
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !contains(s, sub) {
			return false
		}
	}
	return true
}
