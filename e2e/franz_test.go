// This file proves that franz-go's idempotent producer with acks=all gets
// every record stored exactly once, in order per partition, for uncompressed
// batches and for each compression codec (batches are stored as sent).
package e2e

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestFranzIdempotentRoundTrip(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"gzip", kgo.GzipCompression()},
	}
	const records = 100000
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "franz-" + c.name
			n.CreateTopic(topic, 3, nil)
			prod := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(c.codec),
				kgo.ProducerLinger(5*time.Millisecond))
			ack := produceN(t, prod, topic, c.name, records)
			perPartition := map[int32]int{}
			for _, a := range ack {
				perPartition[a.partition]++
			}
			if len(perPartition) != 3 {
				t.Fatalf("records landed on %d partitions, want 3: %v", len(perPartition), perPartition)
			}
			got := consumeAll(t, n.Addr(), topic, records, 3*time.Minute)
			verifyExactlyOnce(t, ack, got)
		})
	}
}
