package e2e

// TestTxnTransactionVersion2 proves KIP-890 part 2 (transaction.version
// 2) on a real node. franz-go opts in (it sees transaction.version 2
// finalized) and runs three committed transactions without
// AddPartitionsToTxn: the producer epoch moves with each (the partition's
// producer state shows the last marker's epoch), and read_committed sees
// every record. On pinned raw versions: Produce v12 adds its partition,
// TxnOffsetCommit v5 adds the group's offsets partition, EndTxn v5 answers
// the bumped epoch, its retry is answered the same, a late write of the
// ended transaction's epoch is refused, and the offsets commit with the
// transaction.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func TestTxnTransactionVersion2(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n.CreateTopic("tv2", 1, nil)

	// franz-go: three transactions, an epoch each.
	prod := n.Client(kgo.TransactionalID("tv2-franz"), kgo.DefaultProduceTopic("tv2"))
	defer prod.Close()
	for i := range 3 {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "t%d-%d", i, j)}).FirstErr(); err != nil {
				t.Fatalf("produce in transaction %d: %v", i, err)
			}
		}
		if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	adm := kadm.NewClient(n.Client())
	var epochs []int16
	testkit.WaitFor(t, 10*time.Second, "the producer's state on tv2-0", func() bool {
		ds, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"tv2": {0: {}}})
		if err != nil {
			return false
		}
		epochs = nil
		ds.EachProducer(func(p kadm.DescribedProducer) { epochs = append(epochs, p.ProducerEpoch) })
		return len(epochs) == 1
	})
	if epochs[0] != 3 {
		t.Fatalf("producer epoch on tv2-0 after three transactions: %d, want 3 (one bump per transaction)", epochs[0])
	}
	got := consumeAll(t, n.Addr(), "tv2", 6, 20*time.Second, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if len(got) != 6 {
		t.Fatalf("read_committed: %d records, want 6", len(got))
	}

	// Raw, pinned versions.
	cl := n.Client()
	const id, group = "tv2-raw", "tv2-group"
	pid, e0, code := rawInitTxn(t, ctx, cl, id, 60000)
	if code != 0 {
		t.Fatalf("InitProducerId: %d", code)
	}
	if code := rawProduceAtVersion(t, ctx, cl, id, "tv2", 0, txnRecordBatch(pid, e0, 0, "raw"), 12); code != 0 {
		t.Fatalf("Produce v12 without AddPartitionsToTxn: %d", code)
	}
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.Version = 5
	oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = id, group, pid, e0, -1
	ot := kmsg.NewTxnOffsetCommitRequestTopic()
	ot.Topic = "tv2"
	op := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	op.Partition, op.Offset = 0, 42
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	var ocResp *kmsg.TxnOffsetCommitResponse
	testkit.WaitFor(t, 20*time.Second, "TxnOffsetCommit v5 to leave the retriable codes", func() bool {
		r, err := rawRoundTrip(n.Addr(), oc)
		if err != nil {
			t.Fatal(err)
		}
		ocResp = r.(*kmsg.TxnOffsetCommitResponse)
		e := kerr.ErrorForCode(ocResp.Topics[0].Partitions[0].ErrorCode)
		return e == nil || !kerr.IsRetriable(e)
	})
	if c := ocResp.Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("TxnOffsetCommit v5 without AddOffsetsToTxn: %d", c)
	}
	end := func(epoch int16) *kmsg.EndTxnResponse {
		req := kmsg.NewPtrEndTxnRequest()
		req.Version = 5
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, true
		r, err := rawRoundTrip(n.Addr(), req)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*kmsg.EndTxnResponse)
	}
	if r := end(e0); r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != e0+1 {
		t.Fatalf("EndTxn v5: code %d, producer %d epoch %d; want 0, %d, %d", r.ErrorCode, r.ProducerID, r.ProducerEpoch, pid, e0+1)
	}
	if r := end(e0); r.ErrorCode != 0 || r.ProducerEpoch != e0+1 {
		t.Fatalf("EndTxn v5 retried: code %d, epoch %d", r.ErrorCode, r.ProducerEpoch)
	}
	// A late write of the ended transaction (its epoch is now old).
	if code := rawProduceAtVersion(t, ctx, cl, id, "tv2", 0, txnRecordBatch(pid, e0, 1, "zombie"), 12); code == 0 {
		t.Fatal("a write at the ended transaction's epoch was accepted")
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("tv2", 0); !ok || o.At != 42 {
		t.Fatalf("the transaction's offset: %+v %v, want 42", o, ok)
	}
	got = consumeAll(t, n.Addr(), "tv2", 7, 20*time.Second, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for _, r := range got {
		if string(r.Value) == "zombie" {
			t.Fatal("the late write is visible")
		}
	}
}
