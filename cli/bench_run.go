package cli

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// interruptDrainTimeout bounds the wait for acknowledgements after an
// interrupt: the operator wants out, and what is in flight is reported as
// it stands.
const interruptDrainTimeout = 5 * time.Second

// benchRun is the shared state of one run.
type benchRun struct {
	c     benchConfig
	start time.Time
	// base is the zero of the send times stamped into e2e records: a
	// monotonic clock reading shared by producers and the consumer, which
	// live in this one process.
	base  time.Time
	runID uint64

	acked    meter // acknowledged records
	consumed meter // consumed records (consume, e2e)
	ackHist  *latencyHist
	e2eHist  *latencyHist

	mu struct {
		sync.Mutex
		errors   int64
		firstErr error
	}
}

func (r *benchRun) fail(err error) {
	r.mu.Lock()
	r.mu.errors++
	if r.mu.firstErr == nil {
		r.mu.firstErr = err
	}
	r.mu.Unlock()
}

func (r *benchRun) errs() (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.errors, r.mu.firstErr
}

func (a *app) bench(ctx context.Context, c benchConfig) error {
	admin, err := a.client()
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := a.ensureBenchTopic(ctx, admin, c); err != nil {
		return err
	}
	r := &benchRun{c: c, runID: rand.Uint64(), ackHist: newLatencyHist(), e2eHist: newLatencyHist()}
	switch c.mode {
	case benchProduce:
		return a.benchProduce(ctx, r)
	case benchConsume:
		return a.benchConsume(ctx, r, kadm.NewClient(admin))
	default:
		return a.benchE2E(ctx, r, kadm.NewClient(admin))
	}
}

// startReporter starts the progress reporter on m; the returned function stops it
// and waits until it has stopped, so the result line is always last.
func (a *app) startReporter(r *benchRun, m *meter, target int64) func() *benchReporter {
	rep := &benchReporter{w: a.stdout, text: r.c.output == "text", start: r.start, m: m}
	switch {
	case target > 0:
		rep.progress = func(_ time.Duration, records int64) float64 { return float64(records) / float64(target) }
	case r.c.duration > 0:
		rep.progress = func(elapsed time.Duration, _ int64) float64 { return elapsed.Seconds() / r.c.duration.Seconds() }
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go rep.run(r.c.reportInterval, stop, done)
	return func() *benchReporter {
		close(stop)
		<-done
		return rep
	}
}

// loadEnd is when the load stops and why, unless the count runs out first.
func (r *benchRun) loadEnd() (time.Time, string) {
	if r.c.duration > 0 {
		return r.start.Add(r.c.duration), "duration"
	}
	return r.start.Add(r.c.timeout), "timeout"
}

func (r *benchRun) result(m *meter, elapsed time.Duration, stopped string) benchResult {
	records, bytes := m.records.Load(), m.bytes.Load()
	rps, mbps := rates(records, bytes, elapsed)
	errs, _ := r.errs()
	return benchResult{
		Type: "result", Mode: r.c.mode, Records: records, Bytes: bytes,
		ElapsedS: round3(elapsed.Seconds()), RecordsPerS: rps, MBPerS: mbps,
		Errors: errs, Stopped: stopped, Config: r.c.json(),
	}
}

// producerClients opens and connects the producers, so that connecting is
// not counted as latency.
func (a *app) producerClients(ctx context.Context, c benchConfig) ([]*kgo.Client, error) {
	opts := []kgo.Opt{
		kgo.ClientID("ringtail-bench"),
		kgo.DefaultProduceTopic(c.topic),
		kgo.RequiredAcks(c.acks),
		kgo.ProducerBatchCompression(c.codec),
		kgo.ProducerLinger(c.linger),
		kgo.RecordDeliveryTimeout(deliveryTimeout),
	}
	if !c.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	var cls []*kgo.Client
	for i := range c.producers {
		o := opts
		if c.txnSize > 0 {
			o = append(o[:len(o):len(o)], kgo.TransactionalID(fmt.Sprintf("ringtail-bench-%x-%d", rand.Uint64(), i)))
		}
		cl, err := a.client(o...)
		if err == nil {
			err = cl.Ping(ctx)
			if err != nil {
				cl.Close()
			}
		}
		if err != nil {
			closeAll(cls)
			return nil, failed("bench: producer", err, "")
		}
		cls = append(cls, cl)
	}
	return cls, nil
}

func closeAll(cls []*kgo.Client) {
	for _, cl := range cls {
		cl.Close()
	}
}

// produceLoad runs the producers until the count, the end time or an
// interrupt, then waits for every acknowledgement. It returns why the load
// stopped.
func (r *benchRun) produceLoad(ctx context.Context, cls []*kgo.Client) string {
	c := r.c
	end, endReason := r.loadEnd()
	var wg sync.WaitGroup
	var allSent atomic.Int64 // producers that sent their whole quota
	for i, cl := range cls {
		quota := int64(math.MaxInt64)
		if c.count > 0 {
			quota = c.count / int64(len(cls))
			if int64(i) < c.count%int64(len(cls)) {
				quota++
			}
		}
		wg.Go(func() {
			if r.produceOne(ctx, cl, i, quota, end) {
				allSent.Add(1)
			}
		})
	}
	wg.Wait()

	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), benchDrainTimeout)
	if ctx.Err() != nil {
		cancel()
		drain, cancel = context.WithTimeout(context.WithoutCancel(ctx), interruptDrainTimeout)
	}
	defer cancel()
	for _, cl := range cls {
		if err := cl.Flush(drain); err != nil {
			r.fail(fmt.Errorf("waiting for acknowledgements: %w", err))
		}
	}
	switch {
	case ctx.Err() != nil:
		return "interrupted"
	case c.count > 0 && allSent.Load() == int64(len(cls)):
		return "count"
	}
	return endReason
}

// produceOne is one producer's loop; it reports whether it sent its quota.
func (r *benchRun) produceOne(ctx context.Context, cl *kgo.Client, id int, quota int64, end time.Time) bool {
	c := r.c
	payload := make([]byte, c.recordSize)
	rng := rand.New(rand.NewPCG(r.runID, uint64(id)))
	for i := range payload {
		payload[i] = 'A' + byte(rng.IntN(26)) // letters, as kafka-producer-perf-test
	}
	var pace *pacer
	if c.rate > 0 {
		pace = &pacer{start: time.Now(), perRecord: time.Duration(float64(time.Second) * float64(c.producers) / c.rate)}
	}
	inTxn := false
	defer func() {
		if inTxn {
			r.endTxn(ctx, cl)
		}
	}()
	for seq := int64(0); seq < quota; seq++ {
		if ctx.Err() != nil || !time.Now().Before(end) {
			return false
		}
		if c.txnSize > 0 && !inTxn {
			if err := cl.BeginTransaction(); err != nil {
				r.fail(err)
				return false
			}
			inTxn = true
		}
		if pace != nil && !pace.wait(ctx, seq, end) {
			return false
		}
		rec := &kgo.Record{Value: payload}
		if c.mode == benchE2E {
			rec.Value = make([]byte, c.recordSize)
			copy(rec.Value, payload)
			binary.BigEndian.PutUint64(rec.Value[0:], r.runID)
			binary.BigEndian.PutUint64(rec.Value[8:], uint64(time.Since(r.base)))
		}
		if c.keyed {
			k := uint64(seq)*uint64(c.producers) + uint64(id)
			if c.keySpace > 0 {
				k %= uint64(c.keySpace)
			}
			rec.Key = binary.BigEndian.AppendUint64(nil, k)
		}
		sent := time.Now()
		cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
			if err != nil {
				r.fail(err)
				return
			}
			r.ackHist.record(time.Since(sent))
			r.acked.add(1, int64(len(rec.Key)+len(rec.Value)))
		})
		if inTxn && ((seq+1)%c.txnSize == 0 || seq+1 == quota) {
			inTxn = false
			if !r.endTxn(ctx, cl) {
				return false
			}
		}
	}
	return true
}

// endTxn waits for the transaction's records and commits it.
func (r *benchRun) endTxn(ctx context.Context, cl *kgo.Client) bool {
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), benchDrainTimeout)
	defer cancel()
	if err := cl.Flush(drain); err != nil {
		r.fail(fmt.Errorf("waiting for a transaction's records: %w", err))
		return false
	}
	if err := cl.EndTransaction(drain, kgo.TryCommit); err != nil {
		r.fail(fmt.Errorf("committing a transaction: %w", err))
		return false
	}
	return true
}

// pacer spaces one producer's records perRecord apart from start. A
// producer that falls behind sends at once until it has caught up, so the
// average rate holds; it waits only when it is a millisecond or more ahead,
// as timers are no finer than that.
type pacer struct {
	start     time.Time
	perRecord time.Duration
	timer     *time.Timer
}

// wait blocks until record seq is due; false if ctx ends or it would be due
// after end.
func (p *pacer) wait(ctx context.Context, seq int64, end time.Time) bool {
	due := p.start.Add(time.Duration(seq) * p.perRecord)
	if !due.Before(end) {
		return false
	}
	d := time.Until(due)
	if d < time.Millisecond {
		return true
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		return false
	case <-p.timer.C:
		return true
	}
}

func (a *app) benchProduce(ctx context.Context, r *benchRun) error {
	cls, err := a.producerClients(ctx, r.c)
	if err != nil {
		return err
	}
	defer closeAll(cls)
	r.start = time.Now()
	r.base = r.start
	stopReport := a.startReporter(r, &r.acked, r.c.count)
	stopped := r.produceLoad(ctx, cls)
	elapsed := time.Since(r.start)
	rep := stopReport()
	res := r.result(&r.acked, elapsed, stopped)
	res.LatencyMs = r.ackHist.summary()
	rep.result(res)
	return r.outcome(ctx, res, 0)
}

// outcome is the exit status of a run whose result is printed: an error if
// records failed or went missing, or the run was interrupted.
func (r *benchRun) outcome(ctx context.Context, res benchResult, missing int64) error {
	what := fmt.Sprintf("bench %s on %q", r.c.mode, r.c.topic)
	errs, first := r.errs()
	switch {
	case errs > 0:
		return failed(fmt.Sprintf("%s: %d errors, the first", what, errs), first, "")
	case missing > 0:
		return fmt.Errorf("%s: %d acknowledged records were not consumed within %s", what, missing, benchDrainTimeout)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: interrupted after %d records", what, res.Records)
	case res.Stopped == "timeout":
		return fmt.Errorf("%s: stopped by --timeout %s after %d of %d records", what, r.c.timeout, res.Records, r.c.count)
	case res.Stopped == "idle" && r.c.count > 0:
		return fmt.Errorf("%s: only %d of %d records: nothing arrived for %s", what, res.Records, r.c.count, benchIdleTimeout)
	}
	return nil
}

func (a *app) benchConsume(ctx context.Context, r *benchRun, adm *kadm.Client) error {
	c := r.c
	what := fmt.Sprintf("bench consume on %q", c.topic)
	starts, err := adm.ListStartOffsets(ctx, c.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return failed(what+": listing start offsets", err, "")
	}
	ends, err := adm.ListEndOffsets(ctx, c.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return failed(what+": listing end offsets", err, "")
	}
	var held int64
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			held += o.Offset - s.Offset
		}
	})
	if c.count < 0 {
		r.c.count = held
		c.count = held
		if held == 0 {
			fmt.Fprintf(a.stderr, "ringtail: warning: %s: the topic is empty; fill it with `ringtail bench produce --topic %s`\n", what, c.topic)
		}
	}
	if c.raw {
		return a.benchConsumeRaw(ctx, r, adm, starts, ends)
	}

	cl, err := a.client(kgo.ClientID("ringtail-bench"), kgo.ConsumePartitions(starts.KOffsets()))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return failed(what, err, "")
	}

	r.start = time.Now()
	stopReport := a.startReporter(r, &r.consumed, c.count)
	end, stopped := r.loadEnd()
	lastRecord := r.start
	var consumed int64
	for {
		if c.count > 0 && consumed >= c.count || c.count == 0 && c.duration == 0 {
			stopped = "count"
			break
		}
		idleEnd := lastRecord.Add(benchIdleTimeout)
		pollEnd := end
		if idleEnd.Before(pollEnd) {
			pollEnd = idleEnd
		}
		pollCtx, cancel := context.WithDeadline(ctx, pollEnd)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			stopped = "interrupted"
			break
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.fail(fmt.Errorf("partition %d: %w", p, err))
			}
		})
		if errs, _ := r.errs(); errs > 0 {
			stopped = "error"
			break
		}
		var n, bytes int64
		fetches.EachRecord(func(rec *kgo.Record) {
			if c.count > 0 && consumed+n >= c.count {
				return
			}
			n++
			bytes += int64(len(rec.Key) + len(rec.Value))
		})
		now := time.Now()
		if n > 0 {
			consumed += n
			r.consumed.add(n, bytes)
			lastRecord = now
			continue
		}
		if !now.Before(end) {
			break // duration, or timeout
		}
		if !now.Before(idleEnd) {
			stopped = "idle"
			break
		}
	}
	elapsed := time.Since(r.start)
	if stopped == "idle" {
		elapsed = lastRecord.Sub(r.start) // the idle wait is not load
	}
	rep := stopReport()
	res := r.result(&r.consumed, elapsed, stopped)
	rep.result(res)
	return r.outcome(ctx, res, 0)
}

func (a *app) benchE2E(ctx context.Context, r *benchRun, adm *kadm.Client) error {
	c := r.c
	what := fmt.Sprintf("bench e2e on %q", c.topic)
	// The consumer starts exactly at today's ends, so it sees every record
	// this run produces and nothing older.
	ends, err := adm.ListEndOffsets(ctx, c.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return failed(what+": listing end offsets", err, "")
	}
	cons, err := a.client(kgo.ClientID("ringtail-bench"), kgo.ConsumePartitions(ends.KOffsets()))
	if err != nil {
		return err
	}
	defer cons.Close()
	if err := cons.Ping(ctx); err != nil {
		return failed(what, err, "")
	}
	cls, err := a.producerClients(ctx, c)
	if err != nil {
		return err
	}
	defer closeAll(cls)

	r.start = time.Now()
	r.base = r.start
	stopReport := a.startReporter(r, &r.consumed, c.count)

	// target is the number of records to consume, -1 until the producers
	// are done. The consumer stops when it has them; whoever of the two
	// notices second ends the run, so neither waits on the other.
	var target atomic.Int64
	target.Store(-1)
	consCtx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	consDone := make(chan struct{})
	var lastConsumed atomic.Int64 // nanoseconds since start
	go func() {
		defer close(consDone)
		for {
			fetches := cons.PollFetches(consCtx)
			if consCtx.Err() != nil {
				return
			}
			fetches.EachError(func(_ string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					r.fail(fmt.Errorf("consumer, partition %d: %w", p, err))
				}
			})
			var n, bytes int64
			fetches.EachRecord(func(rec *kgo.Record) {
				v := rec.Value
				if len(v) < e2eHeaderBytes || binary.BigEndian.Uint64(v) != r.runID {
					return // another run's record
				}
				sent := r.base.Add(time.Duration(binary.BigEndian.Uint64(v[8:])))
				r.e2eHist.record(time.Since(sent))
				n++
				bytes += int64(len(rec.Key) + len(v))
			})
			if n > 0 {
				r.consumed.add(n, bytes)
				lastConsumed.Store(int64(time.Since(r.start)))
			}
			if t := target.Load(); t >= 0 && r.consumed.records.Load() >= t {
				return
			}
		}
	}()

	stopped := r.produceLoad(ctx, cls)
	want := r.acked.records.Load()
	target.Store(want)
	if r.consumed.records.Load() >= want || ctx.Err() != nil {
		stopConsumer()
	}
	drain := time.NewTimer(benchDrainTimeout)
	select {
	case <-consDone:
	case <-drain.C:
		stopConsumer()
		<-consDone
	}
	drain.Stop()
	elapsed := time.Duration(lastConsumed.Load())
	if elapsed == 0 {
		elapsed = time.Since(r.start)
	}
	rep := stopReport()
	res := r.result(&r.consumed, elapsed, stopped)
	res.LatencyMs = r.e2eHist.summary()
	res.AckLatencyMs = r.ackHist.summary()
	res.Produced = &want
	rep.result(res)
	var missing int64
	if ctx.Err() == nil {
		missing = max(want-res.Records, 0)
	}
	return r.outcome(ctx, res, missing)
}
