package txn

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// A __transaction_state write is one uncompressed magic-v2 record batch
// with no producer, appended through the partition's log like client data
// (the layout group/persist.go writes to __consumer_offsets):
//
//	+------------+--------+-------------+-------+-----+------------+-----------+
//	| baseOffset | length | leaderEpoch | magic | crc | attributes | ...       |
//	| int64 (0)  | int32  | int32 (-1)  | 2     | u32 | 0          | producer  |
//	+------------+--------+-------------+-------+-----+------------+ id -1,    |
//	| records: key TxnMetadataKey v0, value TxnMetadataValue v0 or   | epoch -1, |
//	| null (a tombstone); one record per transactional id written    | seq -1    |
//	+----------------------------------------------------------------+-----------+
//
// The log assigns baseOffset on append; the CRC-32C covers attributes
// onwards.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	// batchHeaderBytes is the magic-v2 batch header up to and including
	// the record count; crcStart is where the CRC's coverage begins.
	batchHeaderBytes = 61
	crcStart         = 21
	// replayReadBytes is how much of a partition a load reads at a time.
	replayReadBytes = 1 << 20
)

// buildBatch encodes recs as one uncompressed magic-v2 record batch with
// no producer.
func buildBatch(recs []Record, nowMs int64) []byte {
	var body []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		enc := rec.AppendTo(nil) // Length 0 encodes as one byte
		rec.Length = int32(len(enc) - 1)
		body = rec.AppendTo(body)
	}
	b := kmsg.RecordBatch{
		FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: nowMs, MaxTimestamp: nowMs,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: body,
	}
	b.Length = int32(batchHeaderBytes - 12 + len(body))
	out := b.AppendTo(make([]byte, 0, batchHeaderBytes+len(body)))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[crcStart:], castagnoli))
	return out
}

// batchRecords is what decodeBatches hands over for each batch past from:
// its records, or skipped set for a compressed or control batch (Ringtail
// writes neither to __transaction_state; a client may have produced one).
type batchRecords struct {
	firstOffset int64
	recs        []Record
	skipped     bool
}

// decodeBatches parses the whole batches at the front of buf (a Read's
// answer) and calls fn for each that ends at or after from, in order. It
// returns the offset after the last batch it parsed (from when none), so
// the caller reads on from there; a partial batch at the end of buf is
// left for the next read. A batch whose framing, CRC or records do not
// parse is an error wrapping model.ErrCorruptRecord.
func decodeBatches(buf []byte, from model.Offset, fn func(batchRecords)) (model.Offset, error) {
	next := from
	for len(buf) >= 12 {
		size := 12 + int64(int32(binary.BigEndian.Uint32(buf[8:])))
		if size < batchHeaderBytes {
			return next, fmt.Errorf("batch after offset %d: %w: length %d", next, model.ErrCorruptRecord, size-12)
		}
		if size > int64(len(buf)) {
			break // a partial batch at the end of the read
		}
		raw := buf[:size]
		buf = buf[size:]
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			return next, fmt.Errorf("batch after offset %d: %w: %v", next, model.ErrCorruptRecord, err)
		}
		if b.Magic != 2 {
			return next, fmt.Errorf("batch at offset %d: %w: magic %d", b.FirstOffset, model.ErrCorruptRecord, b.Magic)
		}
		if uint32(b.CRC) != crc32.Checksum(raw[crcStart:], castagnoli) {
			return next, fmt.Errorf("batch at offset %d: %w: CRC mismatch", b.FirstOffset, model.ErrCorruptRecord)
		}
		if b.LastOffsetDelta < 0 || b.FirstOffset < 0 {
			return next, fmt.Errorf("batch at offset %d: %w: last offset delta %d", b.FirstOffset, model.ErrCorruptRecord, b.LastOffsetDelta)
		}
		end := model.Offset(b.FirstOffset + int64(b.LastOffsetDelta) + 1)
		if end <= from {
			continue // a batch before from, returned because it holds from
		}
		if end > next {
			next = end
		}
		if b.Attributes&0x07 != 0 || b.Attributes&0x20 != 0 {
			fn(batchRecords{firstOffset: b.FirstOffset, skipped: true})
			continue
		}
		out := batchRecords{firstOffset: b.FirstOffset}
		recs := b.Records
		for i := int32(0); i < b.NumRecords; i++ {
			n, w := binary.Varint(recs)
			if w <= 0 || n < 0 || int64(len(recs)-w) < n {
				return next, fmt.Errorf("batch at offset %d: %w: bad record length", b.FirstOffset, model.ErrCorruptRecord)
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:w+int(n)]); err != nil {
				return next, fmt.Errorf("batch at offset %d: record %d: %w: %v", b.FirstOffset, i, model.ErrCorruptRecord, err)
			}
			recs = recs[w+int(n):]
			out.recs = append(out.recs, Record{Key: r.Key, Value: r.Value})
		}
		fn(out)
	}
	return next, nil
}

type replayStats struct {
	records, tombstones, skipped int
	bytes                        int64
}

// replay reads a __transaction_state partition from its log start to its
// high watermark into a new state machine: the last record of an id wins,
// a tombstone forgets it. Records that do not decode, compressed or
// control batches and ids that hash to another partition are logged and
// skipped (a client may have produced to the topic); a batch that does
// not parse stops the load with an error.
func replay(l StateLog, partition, numPartitions int32, cfg Config, log *slog.Logger) (*Coordinator, replayStats, error) {
	var st replayStats
	c := New(cfg)
	start, hw := l.Offsets()
	for off := start; off < hw; {
		buf, err := l.Read(off, replayReadBytes)
		if err != nil {
			return nil, st, fmt.Errorf("read at offset %d: %w", off, err)
		}
		if len(buf) == 0 {
			break
		}
		st.bytes += int64(len(buf))
		next, err := decodeBatches(buf, off, func(b batchRecords) {
			if b.skipped {
				st.skipped++
				log.Warn("skipping a compressed or control batch in __transaction_state", "partition", partition, "offset", b.firstOffset)
				return
			}
			for _, r := range b.recs {
				st.records++
				if r.Value == nil {
					st.tombstones++
				}
			}
			for _, err := range c.Load(b.recs) {
				log.Warn("skipping an unreadable record in __transaction_state", "partition", partition, "batch_offset", b.firstOffset, "err", err)
			}
		})
		if err != nil {
			return nil, st, err
		}
		if next <= off {
			return nil, st, fmt.Errorf("read at offset %d: %w: no whole batch in %d bytes", off, model.ErrCorruptRecord, len(buf))
		}
		off = next
	}
	for id := range c.txns {
		if PartitionFor(id, numPartitions) != partition {
			log.Warn("transactional id found in the wrong __transaction_state partition; ignored", "transactional_id", id, "partition", partition)
			delete(c.txns, id)
		}
	}
	return c, st, nil
}
