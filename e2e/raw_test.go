package e2e

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/ringtail/ringtail/testkit"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// endOffsets returns the high watermark of each partition of topic.
func endOffsets(t *testing.T, n *testkit.Node, topic string, partitions int32) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := n.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, partitions)
	for p := int32(0); p < partitions; p++ {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, p, o.Err)
		}
		out[p] = o.Offset
	}
	return out
}

// rawClient is a client for hand-built requests. It caps versions at Kafka
// 3.0's (Fetch v12) so that fetches name topics rather than topic ids.
func rawClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V3_0_0()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// rawFetch sends one Fetch for topic/partition at offset and returns the
// partition's response.
func rawFetch(t *testing.T, cl *kgo.Client, topic string, partition int32, offset int64, maxBytes int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = maxBytes
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch %s/%d@%d: %v", topic, partition, offset, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %s/%d@%d: response has %d topics", topic, partition, offset, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// checkServedBatches fetches topic/partition from offset 0 to end with raw
// Fetch requests and checks every served batch: framing, CRC-32C over
// attributes..end, and contiguous offsets.
func checkServedBatches(t *testing.T, addr, topic string, partition int32, end int64) {
	t.Helper()
	cl := rawClient(t, addr)
	next := int64(0)
	for next < end {
		p := rawFetch(t, cl, topic, partition, next, 1<<20)
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("fetch %s/%d@%d: %v", topic, partition, next, err)
		}
		b := p.RecordBatches
		if len(b) == 0 {
			t.Fatalf("fetch %s/%d@%d below end %d returned nothing", topic, partition, next, end)
		}
		for len(b) > 0 {
			if len(b) < 61 {
				t.Fatalf("%s/%d: %d trailing bytes, less than a batch header", topic, partition, len(b))
			}
			base := int64(binary.BigEndian.Uint64(b[0:8]))
			length := int(binary.BigEndian.Uint32(b[8:12]))
			if 12+length > len(b) {
				t.Fatalf("%s/%d: batch at %d claims %d bytes, %d served", topic, partition, base, length, len(b)-12)
			}
			batch := b[:12+length]
			if batch[16] != 2 {
				t.Fatalf("%s/%d: batch at %d has magic %d", topic, partition, base, batch[16])
			}
			if crc32.Checksum(batch[21:], castagnoli) != binary.BigEndian.Uint32(batch[17:21]) {
				t.Fatalf("%s/%d: batch at %d fails its CRC: a torn batch was served", topic, partition, base)
			}
			if base > next {
				t.Fatalf("%s/%d: gap: expected offset %d, batch starts at %d", topic, partition, next, base)
			}
			last := base + int64(binary.BigEndian.Uint32(batch[23:27]))
			if last >= next {
				next = last + 1
			}
			b = b[12+length:]
		}
	}
}
