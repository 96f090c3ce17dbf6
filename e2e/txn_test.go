// This file proves Kafka's transaction contract against the real binary
// with franz-go: atomic commits and aborts across partitions and a group's
// offsets, read_committed against read_uncommitted, fencing by a second
// producer of the same transactional id, the abort of a transaction past
// its timeout, and open transactions across a restart and a kill -9.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// txnProducer is a franz-go transactional producer.
func txnProducer(t *testing.T, n *testkit.Node, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return n.Client(append([]kgo.Opt{kgo.TransactionalID(id), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.TransactionTimeout(60 * time.Second), kgo.ProducerLinger(0)}, opts...)...)
}

// txnWrite produces one record per value in a transaction and ends it.
func txnWrite(ctx context.Context, cl *kgo.Client, commit bool, recs ...*kgo.Record) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	for _, r := range recs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			cl.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	return cl.EndTransaction(ctx, end)
}

// txnWriteWithOffset is txnWrite that also commits offset for partition 0
// of topic in group within the transaction (AddOffsetsToTxn and
// TxnOffsetCommit, what a consume-transform-produce loop sends).
func txnWriteWithOffset(ctx context.Context, cl *kgo.Client, commit bool, group, topic string, offset int64, recs ...*kgo.Record) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	abort := func(err error) error {
		cl.EndTransaction(ctx, kgo.TryAbort)
		return err
	}
	for _, r := range recs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return abort(err)
		}
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return abort(err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnIDOf(cl), pid, epoch, group
	ar, err := add.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(ar.ErrorCode)
	}
	if err != nil {
		return abort(fmt.Errorf("AddOffsetsToTxn: %w", err))
	}
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch = txnIDOf(cl), group, pid, epoch
	oc.Generation, oc.MemberID = -1, ""
	ot := kmsg.NewTxnOffsetCommitRequestTopic()
	ot.Topic = topic
	op := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	op.Partition, op.Offset = 0, offset
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	or, err := oc.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(or.Topics[0].Partitions[0].ErrorCode)
	}
	if err != nil {
		return abort(fmt.Errorf("TxnOffsetCommit: %w", err))
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	return cl.EndTransaction(ctx, end)
}

// txnIDOf is the client's transactional id.
func txnIDOf(cl *kgo.Client) string {
	id, _ := cl.OptValue(kgo.TransactionalID).(string)
	return id
}

// readValues reads topic from the start with the given isolation until
// want values arrived, then polls once more briefly to catch any extra
// value, and returns them.
func readValues(t *testing.T, n *testkit.Node, topic string, committed bool, want int) []string {
	t.Helper()
	opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl := n.Client(opts...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []string
	poll := func(ctx context.Context) {
		fs := cl.PollFetches(ctx)
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
				t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	for len(out) < want {
		poll(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d values of %s before the timeout: %v", len(out), want, topic, out)
		}
	}
	extra, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	poll(extra)
	return out
}

// Transactions over five partitions, about half aborted at random:
// read_committed readers see exactly the committed ones, whole;
// read_uncommitted readers see every record.
func TestTransactionsAtomicity(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	const topic = "txn-atomic"
	n.CreateTopic(topic, 5, nil)
	cl := txnProducer(t, n, "atomic-1")
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewSource(1))
	var committed, all []string
	lastCommitted := int64(-1)
	for i := 0; i < 40; i++ {
		commit := rng.Intn(2) == 0
		var recs []*kgo.Record
		for p := int32(0); p < 5; p++ {
			v := fmt.Sprintf("t%03d-p%d-%v", i, p, commit)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
			all = append(all, v)
			if commit {
				committed = append(committed, v)
			}
		}
		if err := txnWriteWithOffset(ctx, cl, commit, "atomic-group", topic, int64(i), recs...); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if commit {
			lastCommitted = int64(i)
		}
	}
	// The group's offset moved with the committed transactions only.
	adm := n.Admin()
	defer adm.Close()
	offs, err := adm.FetchOffsets(ctx, "atomic-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.At != lastCommitted {
		t.Fatalf("group offset %+v after the transactions, want %d (the last committed one's)", o, lastCommitted)
	}
	got := readValues(t, n, topic, true, len(committed))
	sort.Strings(got)
	sort.Strings(committed)
	if strings.Join(got, ",") != strings.Join(committed, ",") {
		t.Fatalf("read_committed got %d values, want the %d committed ones:\n got %v\nwant %v", len(got), len(committed), got, committed)
	}
	gotAll := readValues(t, n, topic, false, len(all))
	sort.Strings(gotAll)
	sort.Strings(all)
	if strings.Join(gotAll, ",") != strings.Join(all, ",") {
		t.Fatalf("read_uncommitted got %d values, want all %d", len(gotAll), len(all))
	}
}

// A second producer with the same transactional id fences the first: the
// first's writes then fail with PRODUCER_FENCED (or the log's
// INVALID_PRODUCER_EPOCH) and never become visible.
func TestTransactionsFencing(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	const topic = "txn-fence"
	n.CreateTopic(topic, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := txnProducer(t, n, "fence-1")
	defer first.Close()
	if err := first.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := first.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("zombie-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	second := txnProducer(t, n, "fence-1")
	defer second.Close()
	if err := txnWrite(ctx, second, true, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("live-0")}); err != nil {
		t.Fatalf("the new producer's transaction: %v", err)
	}
	err := first.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("zombie-1")}).FirstErr()
	if err == nil {
		err = first.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("the fenced producer's write or commit: %v; want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	got := readValues(t, n, topic, true, 1)
	if strings.Join(got, ",") != "live-0" {
		t.Fatalf("read_committed after fencing: %v, want [live-0]", got)
	}
}

// A producer that stalls mid-transaction is aborted after its timeout: the
// LSO moves on and a read_committed consumer sees the later commits.
func TestTransactionsTimeout(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{Settings: map[string]string{"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"}})
	const topic = "txn-timeout"
	n.CreateTopic(topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stalled := txnProducer(t, n, "stall-1", kgo.TransactionTimeout(2*time.Second))
	defer stalled.Close()
	if err := stalled.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := stalled.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("stalled")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	live := txnProducer(t, n, "live-1")
	defer live.Close()
	if err := txnWrite(ctx, live, true, &kgo.Record{Topic: topic, Value: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	// The stalled transaction holds the LSO until the coordinator aborts
	// it; then the committed record is readable.
	adm := n.Admin()
	defer adm.Close()
	testkit.WaitFor(t, time.Minute, "the stalled transaction's abort (the LSO reaching the high watermark)", func() bool {
		_, hw, lso := offsetsOf(t, adm, topic)
		return lso == hw
	})
	if got := readValues(t, n, topic, true, 1); strings.Join(got, ",") != "after" {
		t.Fatalf("read_committed after the timeout: %v, want [after]", got)
	}
	if err := stalled.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the timed-out producer committed")
	}
}

// offsetsOf returns partition 0's start, high watermark (end) and LSO.
func offsetsOf(t *testing.T, adm *kadm.Client, topic string) (start, hw, lso int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	e, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	c, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	so, _ := s.Lookup(topic, 0)
	eo, _ := e.Lookup(topic, 0)
	co, _ := c.Lookup(topic, 0)
	return so.Offset, eo.Offset, co.Offset
}

// An open transaction survives a clean restart and a kill -9 (the LSO
// stays held) and then commits.
func TestTransactionsSurviveRestart(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	const topic = "txn-restart"
	n.CreateTopic(topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, how := range []string{"restart", "kill"} {
		cl := txnProducer(t, n, "restart-"+how)
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(how + "-" + strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		adm := n.Admin()
		_, hw, lso := offsetsOf(t, adm, topic)
		adm.Close()
		if lso >= hw {
			t.Fatalf("%s: LSO %d not held below the high watermark %d by the open transaction", how, lso, hw)
		}
		if how == "restart" {
			n.Restart()
		} else {
			n.Kill()
			n.Start()
		}
		adm = n.Admin()
		_, hw2, lso2 := offsetsOf(t, adm, topic)
		adm.Close()
		if lso2 != lso || hw2 != hw {
			t.Fatalf("after %s: LSO %d HW %d, want %d %d", how, lso2, hw2, lso, hw)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit after %s: %v", how, err)
		}
		cl.Close()
	}
	got := readValues(t, n, topic, true, 6)
	if strings.Join(got, ",") != "restart-0,restart-1,restart-2,kill-0,kill-1,kill-2" {
		t.Fatalf("read_committed after both restarts: %v", got)
	}
}
