// This file proves that IBM/sarama's transactional producer works against
// Ringtail: transactions over three partitions commit and abort atomically
// (sarama's read_committed consumer sees exactly the committed records,
// read_uncommitted sees them all), and a consume-transform-produce loop
// that puts a group's offsets into its transactions (AddMessageToTxn,
// AddOffsetsToTxn) moves the group's committed offsets on commit only.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// saramaTxnConfig is a sarama config for a transactional producer (and,
// with IsolationLevel set, a consumer).
func saramaTxnConfig(txnID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "ringtail-e2e-sarama-txn"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Consumer.Return.Errors = true
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	if txnID != "" {
		cfg.Producer.Idempotent = true
		cfg.Producer.Transaction.ID = txnID
		cfg.Producer.Transaction.Timeout = 60 * time.Second
		cfg.Producer.Transaction.Retry.Backoff = 50 * time.Millisecond
		cfg.Producer.Transaction.Retry.Max = 100
		cfg.Net.MaxOpenRequests = 1
	}
	return cfg
}

// saramaTxnProducer starts a transactional sync producer.
func saramaTxnProducer(t *testing.T, n *testkit.Node, txnID string) sarama.SyncProducer {
	t.Helper()
	prod, err := sarama.NewSyncProducer([]string{n.Addr()}, saramaTxnConfig(txnID))
	if err != nil {
		t.Fatalf("sarama transactional producer %q: %v", txnID, err)
	}
	t.Cleanup(func() { prod.Close() })
	return prod
}

// saramaReadUntil reads one partition from its start with sarama's
// consumer at the given isolation level until the value last arrives, and
// returns every value read, in offset order. Since a partition is read in
// offset order, a record that should not be visible and was written
// before last would have shown up by then.
func saramaReadUntil(t *testing.T, n *testkit.Node, topic string, partition int32, level sarama.IsolationLevel, last string) []string {
	t.Helper()
	cfg := saramaTxnConfig("")
	cfg.Consumer.IsolationLevel = level
	cons, err := sarama.NewConsumer([]string{n.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, partition, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume %s/%d: %v", topic, partition, err)
	}
	defer pc.Close()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	var got []string
	for {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
			if string(m.Value) == last {
				return got
			}
		case err := <-pc.Errors():
			t.Fatalf("consume %s/%d (isolation %d): %v", topic, partition, level, err)
		case <-deadline.C:
			t.Fatalf("%s/%d (isolation %d): %q not read within a minute; read %q", topic, partition, level, last, got)
		}
	}
}

// txnPlan says which of a run of transactions commit: 'c' commits, 'a'
// aborts. It ends with a commit so that readers know when they are done.
const txnPlan = "ccacaaccac"

// Transactions over three partitions, some committed and some aborted:
// sarama's read_committed consumer reads exactly the committed records in
// order, its read_uncommitted consumer all of them, and franz-go's
// read_committed reader agrees.
func TestTxnSaramaCommitAbort(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	const topic = "sarama-txn"
	n.CreateTopic(topic, 3, nil)
	prod := saramaTxnProducer(t, n, "sarama-txn-1")
	if !prod.IsTransactional() {
		t.Fatal("the producer is not transactional")
	}

	committed := map[int32][]string{}
	all := map[int32][]string{}
	var committedN int
	for i, c := range txnPlan {
		commit := c == 'c'
		if err := prod.BeginTxn(); err != nil {
			t.Fatalf("transaction %d: BeginTxn: %v", i, err)
		}
		// Two records per partition: one by SendMessage, the next two
		// partitions' together by SendMessages.
		var batch []*sarama.ProducerMessage
		for p := int32(0); p < 3; p++ {
			for k := 0; k < 2; k++ {
				v := fmt.Sprintf("t%02d-p%d-%d-%c", i, p, k, c)
				batch = append(batch, &sarama.ProducerMessage{Topic: topic, Partition: p,
					Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(v)})
				all[p] = append(all[p], v)
				if commit {
					committed[p] = append(committed[p], v)
					committedN++
				}
			}
		}
		if _, _, err := prod.SendMessage(batch[0]); err != nil {
			t.Fatalf("transaction %d: send: %v", i, err)
		}
		if err := prod.SendMessages(batch[1:]); err != nil {
			t.Fatalf("transaction %d: send batch: %v", i, err)
		}
		if commit {
			err := prod.CommitTxn()
			if err != nil {
				t.Fatalf("transaction %d: CommitTxn: %v (status %v)", i, err, prod.TxnStatus())
			}
		} else if err := prod.AbortTxn(); err != nil {
			t.Fatalf("transaction %d: AbortTxn: %v (status %v)", i, err, prod.TxnStatus())
		}
		if s := prod.TxnStatus(); s&sarama.ProducerTxnFlagInTransaction != 0 || s&sarama.ProducerTxnFlagInError != 0 {
			t.Fatalf("transaction %d: status after its end: %v", i, s)
		}
	}

	for p := int32(0); p < 3; p++ {
		want := committed[p]
		got := saramaReadUntil(t, n, topic, p, sarama.ReadCommitted, want[len(want)-1])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("partition %d read_committed:\n got %q\nwant %q", p, got, want)
		}
		wantAll := all[p]
		gotAll := saramaReadUntil(t, n, topic, p, sarama.ReadUncommitted, wantAll[len(wantAll)-1])
		if !reflect.DeepEqual(gotAll, wantAll) {
			t.Errorf("partition %d read_uncommitted:\n got %q\nwant %q", p, gotAll, wantAll)
		}
	}
	// franz-go's read_committed reader sees the same records.
	got := readCommittedPerPartition(t, n, topic, committedN)
	for p := int32(0); p < 3; p++ {
		if !reflect.DeepEqual(got[p], committed[p]) {
			t.Errorf("partition %d franz-go read_committed:\n got %q\nwant %q", p, got[p], committed[p])
		}
	}
}

// readCommittedPerPartition reads topic from the start with franz-go at
// read_committed until want records arrived and the partitions are read up
// to their end (the LSO, which equals the high watermark once no
// transaction is open), returning the values per partition in offset
// order.
func readCommittedPerPartition(t *testing.T, n *testkit.Node, topic string, want int) map[int32][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := n.Admin()
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cl := n.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer cl.Close()
	out := map[int32][]string{}
	count := 0
	for count < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed read %d of %d records of %s before the timeout: %v", count, want, topic, out)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], string(r.Value))
			count++
		})
	}
	// The committed offsets (read_committed ListOffsets) equal the high
	// watermarks: every transaction is over.
	testkit.WaitFor(t, 30*time.Second, "the LSO of "+topic+" to reach the high watermark", func() bool {
		lso, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		end.Each(func(o kadm.ListedOffset) {
			if l, _ := lso.Lookup(topic, o.Partition); l.Offset != o.Offset {
				ok = false
			}
		})
		return ok
	})
	return out
}

// stableGroupOffsets returns the group's committed offsets per topic and
// partition once no transaction holds any of them: it polls OffsetFetch
// with require_stable while the broker answers UNSTABLE_OFFSET_COMMIT.
func stableGroupOffsets(t *testing.T, adm *kadm.Client, group string) map[string]map[int32]int64 {
	t.Helper()
	var out map[string]map[int32]int64
	testkit.WaitFor(t, 30*time.Second, "stable offsets of group "+group+" (OffsetFetch kept answering UNSTABLE_OFFSET_COMMIT)", func() bool {
		ctx, cancel := context.WithTimeout(kadm.RequireStable(context.Background()), 10*time.Second)
		defer cancel()
		resp, err := adm.FetchOffsets(ctx, group)
		if errors.Is(err, kerr.UnstableOffsetCommit) {
			return false
		}
		if err != nil {
			t.Fatalf("fetch offsets of group %s: %v", group, err)
		}
		out = map[string]map[int32]int64{}
		stable := true
		resp.Each(func(o kadm.OffsetResponse) {
			switch {
			case errors.Is(o.Err, kerr.UnstableOffsetCommit):
				stable = false
			case o.Err != nil:
				t.Fatalf("fetch offsets of group %s: %s/%d: %v", group, o.Topic, o.Partition, o.Err)
			default:
				if out[o.Topic] == nil {
					out[o.Topic] = map[int32]int64{}
				}
				out[o.Topic][o.Partition] = o.At
			}
		})
		return stable
	})
	return out
}

// A consume-transform-produce loop with sarama: input read with sarama's
// consumer, output and the group's offsets written in one transaction
// (AddMessageToTxn, and AddOffsetsToTxn in one round). After a commit the
// group's committed offsets are exactly those the transaction added; after
// an abort they are unchanged; the output read_committed holds exactly the
// committed rounds' records.
func TestTxnSaramaConsumeTransformProduce(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	const (
		in     = "sarama-ctp-in"
		out    = "sarama-ctp-out"
		group  = "sarama-ctp"
		rounds = "ccacac" // 'c' commits, 'a' aborts; ends with a commit
		per    = 2        // input records per partition per round
	)
	n.CreateTopic(in, 3, nil)
	n.CreateTopic(out, 3, nil)

	// The input: per partition, per*len(rounds) records.
	src := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for p := int32(0); p < 3; p++ {
		for i := 0; i < per*len(rounds); i++ {
			v := fmt.Sprintf("in-p%d-%02d", p, i)
			if err := src.ProduceSync(ctx, &kgo.Record{Topic: in, Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Read it with sarama's consumer.
	cons, err := sarama.NewConsumer([]string{n.Addr()}, saramaTxnConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	input := map[int32][]*sarama.ConsumerMessage{}
	for p := int32(0); p < 3; p++ {
		pc, err := cons.ConsumePartition(in, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.NewTimer(time.Minute)
		for len(input[p]) < per*len(rounds) {
			select {
			case m := <-pc.Messages():
				input[p] = append(input[p], m)
			case err := <-pc.Errors():
				t.Fatalf("consume %s/%d: %v", in, p, err)
			case <-deadline.C:
				t.Fatalf("%s/%d: read %d of %d input records", in, p, len(input[p]), per*len(rounds))
			}
		}
		deadline.Stop()
		pc.Close()
	}

	prod := saramaTxnProducer(t, n, "sarama-ctp-1")
	adm := n.Admin()
	defer adm.Close()
	if got := stableGroupOffsets(t, adm, group); len(got) != 0 {
		t.Fatalf("group %s has offsets before any transaction: %v", group, got)
	}
	wantOffsets := map[string]map[int32]int64{}
	committed := map[int32][]string{}
	for r, c := range rounds {
		commit := c == 'c'
		if err := prod.BeginTxn(); err != nil {
			t.Fatalf("round %d: BeginTxn: %v", r, err)
		}
		added := map[int32]int64{}
		var produced []string
		for p := int32(0); p < 3; p++ {
			for _, m := range input[p][r*per : (r+1)*per] {
				v := "out-" + string(m.Value)
				if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: out, Partition: m.Partition,
					Value: sarama.StringEncoder(v)}); err != nil {
					t.Fatalf("round %d: send: %v", r, err)
				}
				produced = append(produced, v)
				added[m.Partition] = m.Offset + 1
				if r != 3 {
					if err := prod.AddMessageToTxn(m, group, nil); err != nil {
						t.Fatalf("round %d: AddMessageToTxn %s/%d@%d: %v", r, m.Topic, m.Partition, m.Offset, err)
					}
				}
			}
		}
		if r == 3 {
			// This round names its offsets itself.
			var pos []*sarama.PartitionOffsetMetadata
			for p, o := range added {
				pos = append(pos, &sarama.PartitionOffsetMetadata{Partition: p, Offset: o})
			}
			if err := prod.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{in: pos}, group); err != nil {
				t.Fatalf("round %d: AddOffsetsToTxn: %v", r, err)
			}
		}
		if commit {
			if err := prod.CommitTxn(); err != nil {
				t.Fatalf("round %d: CommitTxn: %v (status %v)", r, err, prod.TxnStatus())
			}
			wantOffsets[in] = added
			for _, v := range produced {
				p := int32(v[len("out-in-p")] - '0')
				committed[p] = append(committed[p], v)
			}
		} else if err := prod.AbortTxn(); err != nil {
			t.Fatalf("round %d: AbortTxn: %v (status %v)", r, err, prod.TxnStatus())
		}
		got := stableGroupOffsets(t, adm, group)
		if !reflect.DeepEqual(got, wantOffsets) {
			t.Fatalf("round %d (%c): group %s offsets %v, want %v", r, c, group, got, wantOffsets)
		}
	}

	for p := int32(0); p < 3; p++ {
		want := committed[p]
		got := saramaReadUntil(t, n, out, p, sarama.ReadCommitted, want[len(want)-1])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s/%d read_committed:\n got %q\nwant %q", out, p, got, want)
		}
	}
}
