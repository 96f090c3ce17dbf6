// BenchmarkProduceParse measures what the broker does with a Produce request
// frame before any append reaches a shard: the decode of conn.handleFrame
// (request header, kmsg ReadFrom, which leaves each partition's records
// aliasing the frame) and, per partition, the checks of
// storage.Partition.Append (storage.ValidateBatches: framing, CRC-32C, the
// record framing of uncompressed batches, idempotence fields; then one
// BatchHeader per batch). Requests carry one batch of 1 to 1000 records of
// 1 KiB, as v9 (flexible) and v7. allocs/op must not grow with the record
// count: the produce path allocates per request and per batch, never per
// record (TestProduceAllocsPerBatch asserts it on the real path, from the
// socket through storage).
package kafka

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/storage"
)

// produceValueBytes is the value size of every record of produceFrame.
const produceValueBytes = 1 << 10

// recordBatch encodes one uncompressed magic-v2 batch of n records with
// valueBytes-byte values, length and CRC-32C set, as a client sends it.
func recordBatch(n, valueBytes int) []byte {
	var recs []byte
	now := time.Now().UnixMilli()
	for i := 0; i < n; i++ {
		rec := kmsg.NewRecord()
		rec.OffsetDelta = int32(i)
		rec.TimestampDelta64 = int64(i)
		rec.Value = make([]byte, valueBytes)
		for j := range rec.Value {
			rec.Value[j] = byte(i + j)
		}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the body after a 1-byte varint 0
		recs = rec.AppendTo(recs)
	}
	b := kmsg.NewRecordBatch()
	b.Magic = 2
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = -1, -1, -1
	b.NumRecords = int32(n)
	b.LastOffsetDelta = int32(n - 1)
	b.FirstTimestamp, b.MaxTimestamp = now, now+int64(n-1)
	b.Records = recs
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32c(raw[21:]))
	return raw
}

// produceFrame is a Produce request frame (header and body, without the size
// prefix) of the given version carrying one batch of n records to one
// partition.
func produceFrame(version int16, n int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = -1
	req.TimeoutMillis = 30000
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = recordBatch(n, produceValueBytes)
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "orders"
	t.Partitions = []kmsg.ProduceRequestTopicPartition{p}
	req.Topics = []kmsg.ProduceRequestTopic{t}
	return frame(req, 7)[4:]
}

// parseProduce decodes a Produce frame the way conn.handleFrame does and
// checks every partition's records the way storage.Partition.Append does
// before it queues the append. It returns the number of records seen.
func parseProduce(fr []byte, maxMessageBytes int32) (records int, err error) {
	if len(fr) < requestHeaderMinBytes {
		return 0, fmt.Errorf("short request header")
	}
	key := int16(binary.BigEndian.Uint16(fr[0:]))
	version := int16(binary.BigEndian.Uint16(fr[2:]))
	pos := 10
	if l := int16(binary.BigEndian.Uint16(fr[8:])); l > 0 {
		if len(fr) < pos+int(l) {
			return 0, fmt.Errorf("client id runs past the frame")
		}
		pos += int(l) // handleFrame keeps it as cx.clientID, a per-request string
	}
	a, ok := apis[key]
	if !ok || version < a.min || version > a.max {
		return 0, fmt.Errorf("key %d version %d not served", key, version)
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		if pos, ok = skipTags(fr, pos); !ok {
			return 0, fmt.Errorf("bad tagged fields in request header")
		}
	}
	if err := req.ReadFrom(fr[pos:]); err != nil {
		return 0, err
	}
	preq, ok := req.(*kmsg.ProduceRequest)
	if !ok {
		return 0, fmt.Errorf("key %d decoded as %T", key, req)
	}
	for _, t := range preq.Topics {
		for _, p := range t.Partitions {
			// storage.Partition.Append, up to the shard submit.
			n, nrecs, err := storage.ValidateBatches(p.Records, maxMessageBytes)
			if err != nil {
				return records, err
			}
			hdrs := make([]storage.BatchHeader, n)
			off := 0
			for i := range hdrs {
				hdrs[i], _ = storage.ParseBatchHeader(p.Records[off:])
				off += hdrs[i].Size()
			}
			records += nrecs
		}
	}
	return records, nil
}

// produceParseVersions are the Produce versions measured: the newest served
// (flexible) and the newest before flexible versions.
var produceParseVersions = []int16{9, 7}

func BenchmarkProduceParse(b *testing.B) {
	maxBytes := storage.DefaultConfig().MaxMessageBytes
	for _, v := range produceParseVersions {
		for _, n := range []int{1, 10, 100, 1000} {
			b.Run(fmt.Sprintf("v%d/records=%d", v, n), func(b *testing.B) {
				fr := produceFrame(v, n)
				if got, err := parseProduce(fr, maxBytes); err != nil || got != n {
					b.Fatalf("parse: %d records, err %v; want %d", got, err, n)
				}
				b.SetBytes(int64(len(fr)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := parseProduce(fr, maxBytes); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
