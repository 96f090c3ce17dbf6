// This file proves that bad input gets the answer a Kafka broker would give
// — a Kafka error code, or a closed connection for unparseable framing — and
// that the broker keeps serving everyone else with its logs intact.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func rawProduce(t *testing.T, cl *kgo.Client, topic string, partition int32, records []byte) int16 {
	t.Helper()
	return rawProduceTo(t, cl, topic, partition, records).ErrorCode
}

// rawProduceTo sends records to topic/partition through r as one acks=all
// Produce with a 10 s timeout and returns the partition's answer.
func rawProduceTo(t *testing.T, r kmsg.Requestor, topic string, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, r)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestBadProduceInput(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{Settings: map[string]string{"auto.create.topics.enable": "false"}})
	maxBytes := "2000"
	n.CreateTopic("bad", 1, map[string]*string{"max.message.bytes": &maxBytes})
	cl := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bad", Value: []byte("good-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Take a real batch off the log and damage it.
	raw := rawClient(t, n.Addr())
	batch := rawFetch(t, raw, "bad", 0, 0, 1<<20).RecordBatches
	if len(batch) < 61 {
		t.Fatalf("fetched %d bytes", len(batch))
	}
	corrupt := append([]byte(nil), batch...)
	corrupt[len(corrupt)-1] ^= 0xff
	if code := rawProduce(t, cl, "bad", 0, corrupt); code != kerr.CorruptMessage.Code {
		t.Errorf("bad CRC: got %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(code))
	}
	torn := append([]byte(nil), batch[:len(batch)-5]...)
	if code := rawProduce(t, cl, "bad", 0, torn); code != kerr.CorruptMessage.Code {
		t.Errorf("torn batch: got %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(code))
	}
	if code := rawProduce(t, cl, "no-such-topic", 0, batch); code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic, auto-create off: got %v", kerr.ErrorForCode(code))
	}
	if code := rawProduce(t, cl, "bad", 7, batch); code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown partition: got %v", kerr.ErrorForCode(code))
	}
	// Random bytes, so compression cannot bring the batch under the limit.
	bigValue := make([]byte, 5000)
	rand.Read(bigValue)
	big := cl.ProduceSync(ctx, &kgo.Record{Topic: "bad", Value: bigValue}).FirstErr()
	if !errors.Is(big, kerr.MessageTooLarge) {
		t.Errorf("record over max.message.bytes: got %v, want MESSAGE_TOO_LARGE", big)
	}

	adm := n.Admin()
	cases := []struct {
		name       string
		partitions int32
		rf         int16
		want       error
	}{
		{"bad/name", 1, 1, kerr.InvalidTopicException},
		{"zero-partitions", 0, 1, kerr.InvalidPartitions},
		{"rf-too-big", 1, 3, kerr.InvalidReplicationFactor},
		{"bad", 1, 1, kerr.TopicAlreadyExists},
	}
	for _, c := range cases {
		resp, err := adm.CreateTopic(ctx, c.partitions, c.rf, nil, c.name)
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, c.want) {
			t.Errorf("create %q (%d partitions, rf %d): got %v, want %v", c.name, c.partitions, c.rf, err, c.want)
		}
	}
	md, err := adm.Metadata(ctx, "missing")
	if err != nil {
		t.Fatal(err)
	}
	if err := md.Topics["missing"].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("metadata for a missing topic with auto-create off: %v", err)
	}

	// Nothing of that touched the good record.
	got := consumeAll(t, n.Addr(), "bad", 1, 30*time.Second)
	if len(got) != 1 || string(got[0].Value) != "good-0" {
		t.Fatalf("log after bad input: %v", got)
	}
	if end := endOffsets(t, n, "bad", 1); end[0] != 1 {
		t.Fatalf("end offset after bad input: %d", end[0])
	}
}

func TestBadFramingAndIdleConnections(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	n.CreateTopic("frames", 1, nil)
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", n.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	expectClosed := func(what string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("%s: connection not closed by the broker: %v", what, err)
		}
	}
	// An oversized frame (over socket.request.max.bytes).
	c := dial()
	c.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	expectClosed("oversized frame", c)
	// Garbage: a small frame that is not a request header.
	c = dial()
	c.Write([]byte{0, 0, 0, 3, 0xde, 0xad, 0xbe})
	expectClosed("garbage frame", c)
	// An unknown API key.
	c = dial()
	frame := []byte{0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0}
	c.Write(frame)
	expectClosed("unknown api key", c)

	// An ApiVersions version from the future gets the v0 fallback answer.
	c = dial()
	req := []byte{0, 18, 0, 99, 0, 0, 0, 7, 0xff, 0xff}
	c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(req))))
	c.Write(req)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("ApiVersions fallback: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	if corr := binary.BigEndian.Uint32(body[0:4]); corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	if code := int16(binary.BigEndian.Uint16(body[4:6])); code != kerr.UnsupportedVersion.Code {
		t.Fatalf("ApiVersions v99: error code %d, want UNSUPPORTED_VERSION", code)
	}

	// Half a request, then silence; and 1,000 idle connections.
	half := dial()
	half.Write([]byte{0, 0, 0, 100, 0, 18, 0})
	idle := make([]net.Conn, 0, 1000)
	for i := 0; i < 1000; i++ {
		idle = append(idle, dial())
	}
	// Everyone else is still served: a produce and a fetch round trip.
	cl := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "frames", Value: []byte("still-served")}).FirstErr(); err != nil {
		t.Fatalf("produce with 1,000 idle connections open: %v", err)
	}
	got := consumeAll(t, n.Addr(), "frames", 1, 30*time.Second)
	if string(got[0].Value) != "still-served" {
		t.Fatalf("got %q", got[0].Value)
	}
	for _, c := range idle {
		c.Close()
	}
}

// TestFullDisk fills a small tmpfs holding the data dir: the produce that
// does not fit fails with KAFKA_STORAGE_ERROR, every acknowledged record
// stays readable, and the broker accepts writes again once space is freed.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	n := startNode(t, testkit.Options{DataDir: dir})
	seg := "1048576"
	n.CreateTopic("fill", 1, map[string]*string{"segment.bytes": &seg})
	n.CreateTopic("spare", 1, nil)
	cl := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0), kgo.ProducerLinger(0),
		kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	value := []byte(strings.Repeat("f", 64<<10))
	var ack []acked
	var storageErr error
	for i := 0; i < 2000 && storageErr == nil; i++ { // 2000 x 64 KiB > 24 MiB
		r := &kgo.Record{Topic: "fill", Value: append([]byte("fill-"+itoa(i)+"-"), value...)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			storageErr = err
			break
		}
		ack = append(ack, acked{r.Partition, r.Offset, string(r.Value)})
	}
	if !errors.Is(storageErr, kerr.KafkaStorageError) {
		t.Fatalf("filling the disk ended with %v after %d records, want KAFKA_STORAGE_ERROR", storageErr, len(ack))
	}
	t.Logf("disk full after %d acknowledged records", len(ack))
	got := consumeAll(t, n.Addr(), "fill", len(ack), time.Minute)
	if len(got) != len(ack) {
		t.Fatalf("read back %d of %d acknowledged records", len(got), len(ack))
	}
	for i, r := range got {
		if r.Offset != ack[i].offset || string(r.Value) != ack[i].value {
			t.Fatalf("record %d: offset %d, acknowledged at %d (values equal: %v)", i, r.Offset, ack[i].offset, string(r.Value) == ack[i].value)
		}
	}
	// Free space by deleting the bulk of the data; writes work again.
	del := make(kadm.Offsets)
	del.Add(kadm.Offset{Topic: "fill", Partition: 0, At: int64(len(ack))})
	resp, err := n.Admin().DeleteRecords(ctx, del)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "a produce to succeed after freeing space", func() bool {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "spare", Value: []byte("after")}).FirstErr() == nil
	})
}
