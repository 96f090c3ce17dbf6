package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/ringtail/ringtail/model"
)

// Records inside a magic-v2 batch, for the log cleaner (which keeps some
// records of a batch) and for the key check of compacted topics. A record:
//
//	length varint | attributes int8 | timestampDelta varlong |
//	offsetDelta varint | keyLength varint | key | valueLength varint |
//	value | headerCount varint | headers (keyLength, key, valueLength, value)
//
// (varints zigzag-encoded, lengths -1 for null). Records are kept byte for
// byte: the cleaner copies the ones it retains and only rebuilds the batch
// around them, so their offset and timestamp deltas, relative to the
// batch's unchanged base offset and first timestamp, stay right.

// record is one record of a batch: its position in the decompressed
// records section and the fields the cleaner looks at.
type record struct {
	raw         []byte // the whole record, length prefix included
	offsetDelta int32
	key         []byte // nil: null key
	value       []byte
	nullValue   bool // a tombstone
}

var errBadRecord = errors.New("malformed record")

// batchRecords returns the records of one whole batch (decompressing its
// records section) and the decompressed section itself.
func batchRecords(batch []byte, h *BatchHeader) ([]record, []byte, error) {
	if len(batch) < BatchHeaderSize || len(batch) != h.Size() {
		return nil, nil, fmt.Errorf("%w: batch of %d bytes, header says %d", errBadRecord, len(batch), h.Size())
	}
	data, err := decompress(h.Compression(), batch[BatchHeaderSize:])
	if err != nil {
		return nil, nil, err
	}
	if h.RecordCount < 0 || int64(h.RecordCount) > int64(len(data)) {
		return nil, nil, fmt.Errorf("%w: %d records in %d bytes", errBadRecord, h.RecordCount, len(data))
	}
	recs := make([]record, 0, h.RecordCount)
	pos := 0
	for i := int32(0); i < h.RecordCount; i++ {
		r, n, err := decodeRecord(data[pos:])
		if err != nil {
			return nil, nil, fmt.Errorf("record %d: %w", i, err)
		}
		recs = append(recs, r)
		pos += n
	}
	if pos != len(data) {
		return nil, nil, fmt.Errorf("%w: %d bytes after the last record", errBadRecord, len(data)-pos)
	}
	return recs, data, nil
}

// decodeRecord parses the record at the start of b and returns its size.
func decodeRecord(b []byte) (record, int, error) {
	length, n := binary.Varint(b)
	if n <= 0 || length < 0 || length > int64(len(b)-n) {
		return record{}, 0, fmt.Errorf("%w: bad length", errBadRecord)
	}
	size := n + int(length)
	body := b[n:size]
	r := record{raw: b[:size]}
	if len(body) < 1 {
		return record{}, 0, fmt.Errorf("%w: empty record", errBadRecord)
	}
	p := 1 // attributes
	next := func() (int64, bool) {
		v, k := binary.Varint(body[p:])
		if k <= 0 {
			return 0, false
		}
		p += k
		return v, true
	}
	if _, ok := next(); !ok { // timestamp delta
		return record{}, 0, fmt.Errorf("%w: timestamp delta", errBadRecord)
	}
	od, ok := next()
	if !ok || od < 0 || od > 1<<31-1 {
		return record{}, 0, fmt.Errorf("%w: offset delta", errBadRecord)
	}
	r.offsetDelta = int32(od)
	bytesField := func(what string) ([]byte, bool, error) {
		l, ok := next()
		if !ok || l < -1 || l > int64(len(body)-p) {
			return nil, false, fmt.Errorf("%w: %s length", errBadRecord, what)
		}
		if l < 0 {
			return nil, true, nil
		}
		v := body[p : p+int(l)]
		p += int(l)
		return v, false, nil
	}
	key, nullKey, err := bytesField("key")
	if err != nil {
		return record{}, 0, err
	}
	if !nullKey {
		r.key = key
		if r.key == nil {
			r.key = []byte{}
		}
	}
	if r.value, r.nullValue, err = bytesField("value"); err != nil {
		return record{}, 0, err
	}
	hc, ok := next()
	if !ok || hc < 0 || hc > int64(len(body)-p) {
		return record{}, 0, fmt.Errorf("%w: header count", errBadRecord)
	}
	for i := int64(0); i < hc; i++ {
		if _, null, err := bytesField("header key"); err != nil || null {
			return record{}, 0, fmt.Errorf("%w: header key", errBadRecord)
		}
		if _, _, err := bytesField("header value"); err != nil {
			return record{}, 0, err
		}
	}
	if p != len(body) {
		return record{}, 0, fmt.Errorf("%w: %d bytes after the headers", errBadRecord, len(body)-p)
	}
	return r, size, nil
}

// rebuildBatch returns a copy of batch (header h) holding only keep, its
// records (of the same batch, in order), compressed with the batch's
// codec. Base offset, last offset delta, timestamps, producer id, epoch
// and base sequence stay, so offsets and idempotence state are what they
// were; with no record left the batch is an empty, uncompressed header
// (Kafka keeps one where a producer's last batch must stay).
func rebuildBatch(batch []byte, h *BatchHeader, keep []record) ([]byte, error) {
	codec := h.Compression()
	var payload []byte
	if len(keep) > 0 {
		var plain []byte
		for _, r := range keep {
			plain = append(plain, r.raw...)
		}
		var err error
		if payload, err = compress(codec, plain); err != nil {
			return nil, err
		}
	} else {
		codec = 0
	}
	out := make([]byte, BatchHeaderSize, BatchHeaderSize+len(payload))
	copy(out, batch[:BatchHeaderSize])
	out = append(out, payload...)
	attrs := binary.BigEndian.Uint16(out[offAttributes:])
	attrs = attrs&^attrCompressionMask | uint16(codec)
	binary.BigEndian.PutUint16(out[offAttributes:], attrs)
	binary.BigEndian.PutUint32(out[offRecordCount:], uint32(len(keep)))
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(len(out)-batchLogOverhead))
	binary.BigEndian.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out, nil
}

// checkRecordKeys refuses records without a key (INVALID_RECORD), as Kafka
// does for compacted topics: compaction keeps the latest record per key,
// and a record without one could never be compacted away. Control batches
// (transaction markers) are exempt.
func checkRecordKeys(records []byte) error {
	for pos := 0; pos < len(records); {
		h, err := ParseBatchHeader(records[pos:])
		if err != nil {
			return err
		}
		end := pos + h.Size()
		if end > len(records) || end <= pos {
			return fmt.Errorf("%w: batch runs past the request", model.ErrCorruptRecord)
		}
		if !h.Control() {
			recs, _, err := batchRecords(records[pos:end], &h)
			if err != nil {
				return fmt.Errorf("%w: %w", model.ErrCorruptRecord, err)
			}
			for _, r := range recs {
				if r.key == nil {
					return fmt.Errorf("%w: compacted topic cannot accept a record without a key (offset delta %d)", model.ErrInvalidRecord, r.offsetDelta)
				}
			}
		}
		pos = end
	}
	return nil
}
