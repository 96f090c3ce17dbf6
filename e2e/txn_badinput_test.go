// Bad transactional input over raw requests: Kafka's error codes, and
// nothing else disturbed.
package e2e

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"net"
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

// txnRecordBatch is recordBatch as a transactional batch of producer pid
// at epoch from sequence seq.
func txnRecordBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	b := recordBatch(values)
	binary.BigEndian.PutUint16(b[21:], 0x10) // transactional
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// rawInitTxn finds the coordinator of id and initializes it; it returns
// the producer id and epoch and the coordinator's client.
func rawInitTxn(t *testing.T, ctx context.Context, cl *kgo.Client, id string, timeoutMs int32) (int64, int16, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = timeoutMs
	var resp *kmsg.InitProducerIDResponse
	testkit.WaitFor(t, 30*time.Second, "InitProducerId to leave the retriable codes", func() bool {
		var err error
		resp, err = req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		e := kerr.ErrorForCode(resp.ErrorCode)
		return e == nil || !kerr.IsRetriable(e)
	})
	return resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode
}

// rawProduceAt is a transactional rawProduce sent to the partition's
// leader.
func rawProduceAt(t *testing.T, ctx context.Context, cl *kgo.Client, txnID, topic string, partition int32, records []byte) int16 {
	t.Helper()
	return rawProduceAtVersion(t, ctx, cl, txnID, topic, partition, records, 11)
}

// rawProduceAtVersion is rawProduceAt at Produce version v.
func rawProduceAtVersion(t *testing.T, ctx context.Context, cl *kgo.Client, txnID, topic string, partition int32, records []byte, v int16) int16 {
	t.Helper()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := td[topic].Partitions[partition].Leader
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	req.TransactionID = &txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// A pinned version: v12 (KIP-890 part 2) adds the partition to the
	// transaction where v11 refuses it, and kgo would pick its own
	// version, so this goes on a raw connection.
	req.Version = v
	bm, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addr := ""
	for _, b := range bm.Brokers {
		if b.NodeID == leader {
			addr = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		}
	}
	resp, err := rawRoundTrip(addr, req)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

func rawAddPartition(t *testing.T, ctx context.Context, cl *kgo.Client, id string, pid int64, epoch int16, topic string, p int32) int16 {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{p}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func rawEndTxn(t *testing.T, ctx context.Context, cl *kgo.Client, id string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.ErrorCode
}

// checkBadTxnInput runs the bad-input cases against cl (any node) for
// topic: partition added is added to the transaction, notAdded is not.
func checkBadTxnInput(t *testing.T, cl *kgo.Client, topic string, added, notAdded int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A timeout above transaction.max.timeout.ms, an id over the limit.
	if _, _, code := rawInitTxn(t, ctx, cl, "bad-timeout", 3_600_000); code != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("timeout above the maximum: code %d, want INVALID_TRANSACTION_TIMEOUT", code)
	}
	long := strings.Repeat("x", 40000)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKey = 1, long
	if resp, err := fc.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("FindCoordinator for a %d-byte transactional id: %v %+v, want INVALID_REQUEST", len(long), err, resp)
	}

	const id = "bad-input"
	pid, epoch, code := rawInitTxn(t, ctx, cl, id, 60000)
	if code != 0 {
		t.Fatalf("InitProducerId: code %d", code)
	}
	// Partition 0 is added, partition 1 is not: its produce is refused
	// (KIP-890), partition 0's goes in.
	if code := rawAddPartition(t, ctx, cl, id, pid, epoch, topic, added); code != 0 {
		t.Fatalf("AddPartitionsToTxn: code %d", code)
	}
	if code := rawProduceAt(t, ctx, cl, id, topic, notAdded, txnRecordBatch(pid, epoch, 0, "not-added")); code != kerr.InvalidTxnState.Code {
		t.Fatalf("transactional produce to a partition not in the transaction: code %d, want INVALID_TXN_STATE", code)
	}
	if code := rawProduceAt(t, ctx, cl, id, topic, added, txnRecordBatch(pid, epoch, 0, "added")); code != 0 {
		t.Fatalf("transactional produce to an added partition: code %d", code)
	}
	// Produce v12 (KIP-890 part 2) adds the partition by itself: the
	// produce goes in, and the abort below writes a marker there too.
	if code := rawProduceAtVersion(t, ctx, cl, id, topic, notAdded, txnRecordBatch(pid, epoch, 0, "implicitly-added"), 12); code != 0 {
		t.Fatalf("transactional produce v12 to a partition not added: code %d, want it added implicitly", code)
	}
	// A second InitProducerId fences this epoch: its EndTxn is refused and
	// the open transaction is aborted, never committed.
	pid2, epoch2 := int64(-1), int16(-1)
	testkit.WaitFor(t, 30*time.Second, "the fencing InitProducerId", func() bool {
		var code int16
		pid2, epoch2, code = rawInitTxn(t, ctx, cl, id, 60000)
		return code == 0
	})
	if pid2 != pid || epoch2 <= epoch {
		t.Fatalf("re-init: producer %d epoch %d after %d/%d", pid2, epoch2, pid, epoch)
	}
	if code := rawEndTxn(t, ctx, cl, id, pid, epoch, true); code != kerr.ProducerFenced.Code && code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("EndTxn from the fenced epoch: code %d, want PRODUCER_FENCED", code)
	}
	adm := kadm.NewClient(cl)
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{added, notAdded} {
		e, _ := end.Lookup(topic, p)
		l, _ := lso.Lookup(topic, p)
		if e.Offset != 2 || l.Offset != 2 {
			t.Fatalf("partition %d after the fenced transaction: end %d LSO %d, want 2 and 2 (the record and its abort marker)", p, e.Offset, l.Offset)
		}
	}
	// Nothing of it is visible to read_committed readers.
	rc := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	rd, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), rc)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if fs := rd.PollFetches(short); fs.NumRecords() != 0 {
		t.Fatalf("read_committed sees %d records of an aborted transaction", fs.NumRecords())
	}
}

func TestTransactionsBadInput(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	n.CreateTopic("txn-bad", 2, nil)
	checkBadTxnInput(t, n.Client(), "txn-bad", 0, 1)
}

// In a cluster the KIP-890 check of a partition whose leader is not the
// transaction coordinator goes over the wire (AddPartitionsToTxn v4
// verify_only).
func TestTransactionsBadInputCluster(t *testing.T) {
	t.Parallel()
	c := testkit.StartCluster(t, 3, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := c.Admin()
	resp, err := adm.CreateTopic(ctx, 3, 3, nil, "txn-bad-c")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	// The coordinator of the id checkBadTxnInput uses, and a partition
	// led by another node for the refused produce.
	var coord int32 = -1
	testkit.WaitFor(t, 30*time.Second, "the transaction coordinator", func() bool {
		co := adm.FindTxnCoordinators(ctx, "bad-input")["bad-input"]
		coord = co.NodeID
		return co.Err == nil && coord > 0
	})
	var leaders kadm.TopicDetails
	testkit.WaitFor(t, 30*time.Second, "partition leaders", func() bool {
		leaders, err = adm.ListTopics(ctx, "txn-bad-c")
		return err == nil && len(leaders["txn-bad-c"].Partitions) == 3
	})
	notAdded, added := int32(-1), int32(-1)
	for p, d := range leaders["txn-bad-c"].Partitions {
		if d.Leader != coord && notAdded < 0 {
			notAdded = p
		} else if added < 0 {
			added = p
		}
	}
	if notAdded < 0 || added < 0 {
		t.Fatalf("coordinator %d leads every partition: %+v", coord, leaders)
	}
	checkBadTxnInput(t, c.Client(), "txn-bad-c", added, notAdded)
}
