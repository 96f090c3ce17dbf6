package torture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Workload is the writers and the final reader of a run. Every send, ack,
// error, transaction outcome and read goes into H.
type Workload struct {
	H          *History
	Seeds      func() []string // bootstrap addresses
	Topic      string          // written by the idempotent producers
	TxnTopic   string          // written by the transactional producers, read read_committed
	Partitions int32
	Producers  int // idempotent producers
	TxnWriters int // transactional producers
	Seed       uint64
	// Interval paces each producer: one record per Interval.
	Interval time.Duration
	// RunID makes transactional ids unique per run.
	RunID string
	Logf  func(format string, args ...any)
}

const (
	deliveryTimeout = 20 * time.Second
	txnTimeout      = 10 * time.Second
	flushTimeout    = 60 * time.Second
	maxPadBytes     = 200
	// sentinelProducer writes one record per partition after the load; the
	// reader reads up to them.
	sentinelProducer ProducerID = 9999
	txnProducerBase  ProducerID = 1000
)

// Run writes until ctx ends, then waits for every outstanding record to be
// answered or failed (bounded by flushTimeout per producer).
func (w *Workload) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.Producers {
		wg.Add(1)
		go func() { defer wg.Done(); w.produce(ctx, ProducerID(i+1)) }()
	}
	for i := range w.TxnWriters {
		wg.Add(1)
		go func() { defer wg.Done(); w.transact(ctx, txnProducerBase+ProducerID(i)) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.liveRead(ctx) }()
	wg.Wait()
}

// liveRead reads both topics read_committed while the load and the faults
// run, so the checker can tell whether anything read then was later lost
// or replaced (a read past what the ISR holds) or belonged to an aborted
// transaction.
func (w *Workload) liveRead(ctx context.Context) {
	cl, err := w.consumer()
	if err != nil {
		w.Logf("live reader: %v", err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			w.H.Add(Event{Kind: EvLive, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
		})
	}
}

// consumer reads both topics from the start, read_committed.
func (w *Workload) consumer() (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(w.Seeds()...), kgo.ConsumeTopics(w.Topic, w.TxnTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.DialTimeout(2*time.Second))
}

func (w *Workload) client(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(w.Seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(deliveryTimeout),
		kgo.ProducerLinger(2 * time.Millisecond), kgo.MaxBufferedRecords(500), kgo.DialTimeout(2 * time.Second),
		kgo.RetryTimeout(deliveryTimeout)}
	return kgo.NewClient(append(opts, extra...)...)
}

// send hands one record to cl, recording the send and its answer.
func (w *Workload) send(cl *kgo.Client, wg *sync.WaitGroup, topic string, p ProducerID, seq Seq, txn TxnNum, part int32, pad int, failed *atomic.Bool) {
	w.H.Add(Event{Kind: EvSend, Topic: topic, Producer: p, Seq: seq, Txn: txn, Partition: part})
	wg.Add(1)
	r := &kgo.Record{Topic: topic, Partition: part, Value: Encode(Rec{Producer: p, Seq: seq, Txn: txn}, pad)}
	cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		defer wg.Done()
		if err != nil {
			w.H.Add(Event{Kind: EvFail, Topic: topic, Producer: p, Seq: seq, Txn: txn, Partition: part, Err: err.Error()})
			if failed != nil {
				failed.Store(true)
			}
			return
		}
		w.H.Add(Event{Kind: EvAck, Topic: topic, Producer: p, Seq: seq, Txn: txn, Partition: r.Partition, Offset: r.Offset})
	})
}

// produce is one idempotent acks=all producer.
func (w *Workload) produce(ctx context.Context, p ProducerID) {
	cl, err := w.client()
	if err != nil {
		w.Logf("producer %d: %v", p, err)
		return
	}
	rng := WorkloadRand(w.Seed, uint64(p))
	var wg sync.WaitGroup
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	for seq := Seq(1); ; seq++ {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			if err := cl.Flush(fctx); err != nil {
				w.Logf("producer %d: flush: %v (the rest fail at close)", p, err)
			}
			cancel()
			cl.Close()
			wg.Wait()
			return
		case <-tick.C:
		}
		w.send(cl, &wg, w.Topic, p, seq, 0, rng.Int32N(w.Partitions), rng.IntN(maxPadBytes), nil)
	}
}

// transact is one transactional producer: transactions of 1-5 records,
// committed (70%) or aborted at random.
func (w *Workload) transact(ctx context.Context, p ProducerID) {
	rng := WorkloadRand(w.Seed, uint64(p))
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	seq := Seq(0)
	for txn := TxnNum(1); ctx.Err() == nil; txn++ {
		if cl == nil {
			var err error
			cl, err = w.client(kgo.TransactionalID(fmt.Sprintf("torture-%s-%d", w.RunID, p)), kgo.TransactionTimeout(txnTimeout))
			if err != nil {
				w.Logf("txn producer %d: %v", p, err)
				return
			}
		}
		if err := cl.BeginTransaction(); err != nil {
			w.Logf("txn producer %d: begin: %v (new client)", p, err)
			cl.Close()
			cl = nil
			continue
		}
		var wg sync.WaitGroup
		var failed atomic.Bool
		for range 1 + rng.IntN(5) {
			seq++
			w.send(cl, &wg, w.TxnTopic, p, seq, txn, rng.Int32N(w.Partitions), rng.IntN(maxPadBytes), &failed)
		}
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		ferr := cl.Flush(fctx)
		cancel()
		wg.Wait()
		commit := ferr == nil && !failed.Load() && rng.Float64() < 0.7
		if !w.endTxn(cl, p, txn, commit) {
			cl.Close()
			cl = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.Interval * 10):
		}
	}
}

// endTxn ends transaction txn and records its outcome; false when the
// client should be replaced (its state is unknown).
func (w *Workload) endTxn(cl *kgo.Client, p ProducerID, txn TxnNum, commit bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if !commit {
		cl.AbortBufferedRecords(ctx)
	}
	start := time.Now()
	err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
	took := time.Since(start)
	outcome := TxnAborted
	switch {
	case err == nil && commit:
		outcome = TxnCommitted
	case err == nil:
	case commit && !errors.Is(err, kerr.OperationNotAttempted):
		outcome = TxnUnknown
	}
	ok := true
	if err != nil {
		w.Logf("txn producer %d: txn %d: end (commit %v) after %v: %v (outcome %s)", p, txn, commit, took.Round(time.Millisecond), err, outcome)
		// The documented recovery: abort; it fences what is still open.
		if aerr := cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			w.Logf("txn producer %d: txn %d: end: %v; abort: %v (new client)", p, txn, err, aerr)
			ok = false
		}
	}
	w.H.Add(Event{Kind: EvTxn, Producer: p, Txn: txn, Outcome: outcome, Err: errString(err),
		Note: fmt.Sprintf("end took %v", took.Round(time.Millisecond))})
	return ok
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ReadAll writes a sentinel record to every partition of both topics, then
// reads both from the start (read_committed) until each partition's
// sentinel, recording every read. It fails if that takes past ctx.
func (w *Workload) ReadAll(ctx context.Context) error {
	ends, err := w.sentinels(ctx)
	if err != nil {
		return err
	}
	cl, err := w.consumer()
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("read back: %d partitions short of their sentinel: %v", len(ends), ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			w.H.Add(Event{Kind: EvRead, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
			tp := tpKey{r.Topic, r.Partition}
			if end, ok := ends[tp]; ok && r.Offset >= end {
				delete(ends, tp)
			}
		})
	}
	return nil
}

type tpKey struct {
	topic string
	part  int32
}

func (k tpKey) String() string { return fmt.Sprintf("%s/%d", k.topic, k.part) }

// sentinels writes one acknowledged record to every partition and returns
// their offsets.
func (w *Workload) sentinels(ctx context.Context) (map[tpKey]int64, error) {
	cl, err := w.client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends := map[tpKey]int64{}
	seq := Seq(0)
	for _, topic := range []string{w.Topic, w.TxnTopic} {
		for part := range w.Partitions {
			for {
				seq++
				w.H.Add(Event{Kind: EvSend, Topic: topic, Producer: sentinelProducer, Seq: seq, Partition: part})
				r := &kgo.Record{Topic: topic, Partition: part, Value: Encode(Rec{Producer: sentinelProducer, Seq: seq}, 0)}
				err := cl.ProduceSync(ctx, r).FirstErr()
				if err == nil {
					w.H.Add(Event{Kind: EvAck, Topic: topic, Producer: sentinelProducer, Seq: seq, Partition: part, Offset: r.Offset})
					ends[tpKey{topic, part}] = r.Offset
					break
				}
				w.H.Add(Event{Kind: EvFail, Topic: topic, Producer: sentinelProducer, Seq: seq, Partition: part, Err: err.Error()})
				if ctx.Err() != nil {
					return nil, fmt.Errorf("sentinel for %s/%d: %w", topic, part, err)
				}
			}
		}
	}
	return ends, nil
}
