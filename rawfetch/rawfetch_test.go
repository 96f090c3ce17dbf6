package rawfetch

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// v2Batch is a v2 batch header of base offset and n records followed by
// body bytes (standing in for the records, which WalkBatches never reads).
func v2Batch(base int64, n int32, body int) []byte {
	b := make([]byte, batchHeaderBytes+body)
	binary.BigEndian.PutUint64(b[0:8], uint64(base))
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-logOverhead))
	b[16] = 2
	binary.BigEndian.PutUint32(b[23:27], uint32(n-1))
	binary.BigEndian.PutUint32(b[57:61], uint32(n))
	return b
}

func TestWalkBatches(t *testing.T) {
	a, b, c := v2Batch(0, 3, 100), v2Batch(3, 2, 50), v2Batch(5, 4, 10)
	all := append(append(append([]byte{}, a...), b...), c...)
	w, err := WalkBatches(all, 0, -1)
	if err != nil || w.Batches != 3 || w.Records != 9 || w.Bytes != int64(len(all)) || w.Next != 9 {
		t.Fatalf("whole: %+v, %v", w, err)
	}
	// A partial trailing batch is left for the next fetch.
	w, err = WalkBatches(all[:len(a)+len(b)+20], 0, -1)
	if err != nil || w.Batches != 2 || w.Records != 5 || w.Next != 5 {
		t.Errorf("partial: %+v, %v", w, err)
	}
	// Batches below the fetch offset and at or past the end are not counted.
	w, err = WalkBatches(all, 3, 5)
	if err != nil || w.Batches != 1 || w.Records != 2 || w.Bytes != int64(len(b)) || w.Next != 9 {
		t.Errorf("window [3,5): %+v, %v", w, err)
	}
	if w, err := WalkBatches(nil, 0, -1); err != nil || w.Next != -1 || w.Batches != 0 {
		t.Errorf("empty: %+v, %v", w, err)
	}
	bad := v2Batch(0, 1, 0)
	bad[16] = 7
	if _, err := WalkBatches(bad, 0, -1); err == nil || !strings.Contains(err.Error(), "magic 7") {
		t.Errorf("magic 7: %v", err)
	}
	short := v2Batch(0, 1, 0)
	binary.BigEndian.PutUint32(short[8:12], 20)
	if _, err := WalkBatches(short, 0, -1); err == nil {
		t.Error("want an error for a v2 batch shorter than its header")
	}
}

func TestParseResponse(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = FetchVersion
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition, rp.HighWatermark, rp.RecordBatches = 2, 3, v2Batch(0, 3, 8)
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	body := binary.BigEndian.AppendUint32(nil, 7)
	body = resp.AppendTo(body)
	got, err := ParseResponse(body, 7, FetchVersion)
	if err != nil || len(got.Topics) != 1 || got.Topics[0].Partitions[0].Partition != 2 || len(got.Topics[0].Partitions[0].RecordBatches) != batchHeaderBytes+8 {
		t.Fatalf("ParseResponse: %+v, %v", got, err)
	}
	if _, err := ParseResponse(body, 8, FetchVersion); err == nil {
		t.Error("want a correlation id mismatch")
	}
	if _, err := ParseResponse(body[:10], 7, FetchVersion); err == nil {
		t.Error("want an error for a cut response")
	}
}

// TestRunAgainstKfake reads a topic franz-go produced into kfake, over
// two partitions, and counts every record.
func TestRunAgainstKfake(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const per = 500
	for p := int32(0); p < 2; p++ {
		for i := 0; i < per; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: "raw", Partition: p, Value: make([]byte, 100)}, nil)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var c Counters
	cfg := Config{Topic: "raw", Deadline: time.Now().Add(20 * time.Second), PartitionMaxBytes: 4096,
		Targets: []Target{{Addr: cluster.ListenAddrs()[0], Partitions: []Partition{{ID: 0, End: per}, {ID: 1, Start: 100, End: per}}}}}
	if err := Run(ctx, cfg, &c); err != nil {
		t.Fatal(err)
	}
	// Partition 1 starts at 100, inside a batch: that batch is counted
	// whole, so at least per-100 records and at most per.
	if got := c.Records.Load(); got < 2*per-100 || got > 2*per {
		t.Errorf("records %d, want %d to %d", got, 2*per-100, 2*per)
	}
	if c.Bytes.Load() < int64(c.Records.Load())*100 || c.WireBytes.Load() < c.Bytes.Load() || c.Responses.Load() < 2 {
		t.Errorf("bytes %d, wire %d, responses %d", c.Bytes.Load(), c.WireBytes.Load(), c.Responses.Load())
	}
}
