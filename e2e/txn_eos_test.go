// This file runs the exactly-once pipeline Kafka Streams runs
// (consume-transform-produce with the input offsets committed in the
// output's transaction: franz-go's GroupTransactSession) against the real
// binary while nodes are killed, and checks that every input's output is
// read exactly once with read_committed.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// eosRun is one pipeline run: records inputs go through members
// GroupTransactSessions from topic in to topic out.
type eosRun struct {
	t       *testing.T
	seeds   func() []string
	in, out string
	records int
	members int

	outSeen atomic.Int64 // distinct outputs read so far (read_committed)
}

// feed writes the input with an idempotent acks=all producer.
func (r *eosRun) feed(ctx context.Context) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < r.records; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: r.in, Value: []byte("in-" + strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		r.t.Fatalf("%d input records failed", n)
	}
}

// member runs one GroupTransactSession until ctx ends. A session whose
// transaction cannot be ended is closed and a new one started, as Kafka
// Streams replaces a producer after a fatal error: the new session's
// InitProducerId fences the old one and aborts what it left open.
func (r *eosRun) member(ctx context.Context, i int, errs chan<- error) {
	for ctx.Err() == nil {
		if err := r.session(ctx, i); err != nil {
			errs <- err
			return
		}
	}
}

// session runs one GroupTransactSession until ctx ends (nil) or it cannot
// go on (nil too, after logging: the caller starts a new one); an error
// means the session could not be created.
func (r *eosRun) session(ctx context.Context, i int) error {
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(r.seeds()...),
		kgo.TransactionalID(fmt.Sprintf("%s-member-%d", r.out, i)),
		kgo.TransactionTimeout(20*time.Second),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumerGroup(r.out+"-group"),
		kgo.ConsumeTopics(r.in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryTimeout(30*time.Second),
		kgo.SessionTimeout(10*time.Second),
		kgo.FetchMaxBytes(256<<10),
	)
	if err != nil {
		return fmt.Errorf("member %d: %w", i, err)
	}
	defer sess.Close()
	for ctx.Err() == nil {
		fs := sess.PollRecords(ctx, 2000)
		if fs.Empty() {
			continue
		}
		if err := sess.Begin(); err != nil {
			r.t.Logf("member %d: begin: %v (a new session takes over)", i, err)
			return nil
		}
		var produceErr atomic.Value
		var wg sync.WaitGroup
		fs.EachRecord(func(rec *kgo.Record) {
			v := "out-" + strings.TrimPrefix(string(rec.Value), "in-")
			wg.Add(1)
			sess.Produce(ctx, &kgo.Record{Topic: r.out, Value: []byte(v)}, func(_ *kgo.Record, err error) {
				if err != nil {
					produceErr.Store(err)
				}
				wg.Done()
			})
		})
		wg.Wait()
		action := kgo.TryCommit
		if produceErr.Load() != nil {
			action = kgo.TryAbort
		}
		// A failed End aborts; the records are consumed again from the
		// committed offsets, which is what makes the output exactly once.
		if _, err := sess.End(ctx, action); err != nil && ctx.Err() == nil {
			r.t.Logf("member %d: end: %v (the batch is retried)", i, err)
			if _, err := sess.End(ctx, kgo.TryAbort); err != nil && ctx.Err() == nil {
				r.t.Logf("member %d: abort: %v (a new session takes over)", i, err)
				return nil
			}
		}
	}
	return nil
}

// check reads the output with read_committed until every input's output
// arrived (or the deadline), failing on a duplicate or a stranger.
func (r *eosRun) check(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds()...), kgo.ConsumeTopics(r.out),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	seen := make([]bool, r.records)
	for int(r.outSeen.Load()) < r.records {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("read %d of %d outputs before the deadline", r.outSeen.Load(), r.records)
		}
		var bad error
		fs.EachRecord(func(rec *kgo.Record) {
			n, err := strconv.Atoi(strings.TrimPrefix(string(rec.Value), "out-"))
			switch {
			case err != nil || n < 0 || n >= r.records:
				bad = fmt.Errorf("unexpected output %q at %d/%d", rec.Value, rec.Partition, rec.Offset)
			case seen[n]:
				bad = fmt.Errorf("output %q read twice (again at %d/%d): not exactly once", rec.Value, rec.Partition, rec.Offset)
			default:
				seen[n] = true
				r.outSeen.Add(1)
			}
		})
		if bad != nil {
			return bad
		}
	}
	// Nothing more may follow: a late duplicate would show here.
	extra, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fs := cl.PollFetches(extra)
	if n := fs.NumRecords(); n > 0 {
		return fmt.Errorf("%d outputs beyond the %d inputs, first %q", n, r.records, fs.Records()[0].Value)
	}
	return nil
}

// run feeds the input, starts the members and the checker, calls fault at
// 20%, 45% and 70% of the outputs, and fails on any violation.
func (r *eosRun) run(timeout time.Duration, fault func(round int)) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r.feed(ctx)
	mctx, stop := context.WithCancel(ctx)
	errs := make(chan error, r.members+1)
	var wg sync.WaitGroup
	for i := 0; i < r.members; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.member(mctx, i, errs)
		}()
	}
	checked := make(chan error, 1)
	go func() { checked <- r.check(ctx) }()
	for round, at := range []float64{0.20, 0.45, 0.70} {
		want := int64(at * float64(r.records))
		for r.outSeen.Load() < want {
			select {
			case err := <-checked:
				stop()
				wg.Wait()
				r.t.Fatalf("before fault %d: %v", round+1, err)
			case err := <-errs:
				r.t.Fatalf("member failed: %v", err)
			case <-ctx.Done():
				r.t.Fatalf("fault %d: only %d of %d outputs before the deadline", round+1, r.outSeen.Load(), r.records)
			case <-time.After(50 * time.Millisecond):
			}
		}
		fault(round + 1)
	}
	var err error
	select {
	case err = <-checked:
	case err = <-errs:
	}
	stop()
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		r.t.Fatal(err)
	}
}

// Single node: 100,000 inputs through a 3-member group while the broker is
// SIGKILLed and restarted three times.
func TestTransactionsExactlyOnceThroughKills(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	r := &eosRun{t: t, seeds: func() []string { return []string{n.Addr()} }, in: "eos-in", out: "eos-out", records: 100000, members: 3}
	n.CreateTopic(r.in, 3, nil)
	n.CreateTopic(r.out, 3, nil)
	r.run(8*time.Minute, func(round int) {
		t.Logf("kill %d at %d outputs", round, r.outSeen.Load())
		n.Kill()
		n.Start()
	})
}

// Three nodes, RF=3: the same pipeline while, three times, the node that
// is member 0's transaction coordinator (and leads some data partitions)
// is SIGKILLed, its leadership moves, and it comes back.
func TestTransactionsExactlyOnceClusterFailover(t *testing.T) {
	t.Parallel()
	c := testkit.StartCluster(t, 3, testkit.Options{Settings: map[string]string{
		"broker.session.timeout.ms":        "3000",
		"offsets.topic.replication.factor": "3",
		"min.insync.replicas":              "2",
	}})
	r := &eosRun{t: t, seeds: c.Addrs, in: "eosc-in", out: "eosc-out", records: 100000, members: 3}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client(kgo.RetryTimeout(10 * time.Second)))
	for _, topic := range []string{r.in, r.out} {
		resp, err := adm.CreateTopic(ctx, 3, 3, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	txnID := r.out + "-member-0"
	r.run(9*time.Minute, func(round int) {
		var victim int32 = -1
		testkit.WaitFor(t, 30*time.Second, "member 0's transaction coordinator", func() bool {
			cl := kadm.NewClient(c.Client())
			defer cl.Close()
			res := cl.FindTxnCoordinators(ctx, txnID)
			if co, ok := res[txnID]; ok && co.Err == nil {
				victim = co.NodeID
			}
			return victim > 0
		})
		t.Logf("round %d at %d outputs: killing node %d, member 0's transaction coordinator", round, r.outSeen.Load(), victim)
		c.Node(victim).Kill()
		testkit.WaitFor(t, 60*time.Second, "the coordinator to move", func() bool {
			cl := kadm.NewClient(c.Client())
			defer cl.Close()
			res := cl.FindTxnCoordinators(ctx, txnID)
			co, ok := res[txnID]
			return ok && co.Err == nil && co.NodeID != victim
		})
		c.Node(victim).Start()
	})
}
