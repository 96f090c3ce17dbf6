package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/ringtail/ringtail/model"
)

// Byte positions inside a magic-v2 record batch header (see the package doc).
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// BatchHeaderSize is the size of a v2 batch header (records follow it).
	BatchHeaderSize = 61
	// batchLogOverhead is the part not counted by batchLength.
	batchLogOverhead = 12

	attrCompressionMask = 0x07
	attrTimestampType   = 0x08 // 1 = LogAppendTime
	attrTransactional   = 0x10
	attrControl         = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded header of one magic-v2 record batch.
type BatchHeader struct {
	BaseOffset           model.Offset
	BatchLength          int32 // bytes after the length field; the batch is BatchLength+12 bytes
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the batch's total size on the wire and on disk.
func (h *BatchHeader) Size() int { return int(h.BatchLength) + batchLogOverhead }

// LastOffset is the offset of the batch's last record.
func (h *BatchHeader) LastOffset() model.Offset {
	return h.BaseOffset + model.Offset(h.LastOffsetDelta)
}

// Compression is the codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (h *BatchHeader) Compression() int { return int(h.Attributes & attrCompressionMask) }

// LogAppendTime reports whether the timestamps are broker append times.
func (h *BatchHeader) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// Transactional reports the transactional attribute bit.
func (h *BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports the control-batch attribute bit.
func (h *BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// LastSequence is the sequence of the batch's last record; sequences wrap
// at MaxInt32 to 0.
func (h *BatchHeader) LastSequence() int32 { return addSequence(h.BaseSequence, h.LastOffsetDelta) }

func addSequence(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// ParseBatchHeader decodes the first BatchHeaderSize bytes of b. It checks
// only that there are enough bytes and that the batch length is plausible;
// ValidateBatches does the full checks.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("batch header needs %d bytes, have %d: %w", BatchHeaderSize, len(b), model.ErrCorruptRecord)
	}
	h := BatchHeader{
		BaseOffset:           model.Offset(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(binary.BigEndian.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	if int(h.BatchLength) < BatchHeaderSize-batchLogOverhead {
		return h, fmt.Errorf("batch length %d below the v2 minimum %d: %w", h.BatchLength, BatchHeaderSize-batchLogOverhead, model.ErrCorruptRecord)
	}
	return h, nil
}

// batchCRC computes the CRC-32C of a whole batch (attributes to the end).
func batchCRC(batch []byte) uint32 { return crc32.Checksum(batch[offAttributes:], castagnoli) }

// checkBatch verifies framing, magic and CRC of the batch at the start of b
// and returns its header. The batch must lie entirely within b.
func checkBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() > len(b) {
		return h, fmt.Errorf("batch length %d exceeds the %d bytes available: %w", h.BatchLength, len(b)-batchLogOverhead, model.ErrCorruptRecord)
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("magic %d, only v2 is supported: %w", h.Magic, model.ErrInvalidRecord)
	}
	if got := batchCRC(b[:h.Size()]); got != h.CRC {
		return h, fmt.Errorf("crc32c %08x, header says %08x: %w", got, h.CRC, model.ErrCorruptRecord)
	}
	return h, nil
}

// ValidateBatches checks a produce request's records for one partition: one
// or more whole magic-v2 batches, each with a correct length, CRC-32C,
// record count > 0 matching lastOffsetDelta+1, records framing (when
// uncompressed), size <= maxBytes (when maxBytes > 0), no control batches,
// and valid idempotence fields when producerId >= 0 (transactional
// batches need one; a sequence of -1 is allowed for them, which a group
// coordinator writes). Errors wrap
// model.ErrCorruptRecord, ErrRecordTooLarge or ErrInvalidRecord.
func ValidateBatches(records []byte, maxBytes int32) (batches int, recs int, err error) {
	if len(records) == 0 {
		return 0, 0, fmt.Errorf("no record batches: %w", model.ErrInvalidRecord)
	}
	pos := 0
	for pos < len(records) {
		h, err := checkBatch(records[pos:])
		if err != nil {
			return batches, recs, fmt.Errorf("batch %d at byte %d: %w", batches, pos, err)
		}
		if err := checkBatchRules(&h, records[pos:pos+h.Size()], maxBytes); err != nil {
			return batches, recs, fmt.Errorf("batch %d at byte %d: %w", batches, pos, err)
		}
		batches++
		recs += int(h.RecordCount)
		pos += h.Size()
	}
	return batches, recs, nil
}

// checkBatchRules applies the rules for client batches beyond framing and CRC.
func checkBatchRules(h *BatchHeader, batch []byte, maxBytes int32) error {
	if maxBytes > 0 && h.Size() > int(maxBytes) {
		return fmt.Errorf("%d bytes exceeds max.message.bytes %d: %w", h.Size(), maxBytes, model.ErrRecordTooLarge)
	}
	if h.RecordCount <= 0 {
		return fmt.Errorf("record count %d: %w", h.RecordCount, model.ErrInvalidRecord)
	}
	if h.LastOffsetDelta != h.RecordCount-1 {
		return fmt.Errorf("lastOffsetDelta %d does not match record count %d: %w", h.LastOffsetDelta, h.RecordCount, model.ErrInvalidRecord)
	}
	if h.Control() {
		return fmt.Errorf("control batch from a client: %w", model.ErrInvalidRecord)
	}
	if h.Transactional() && h.ProducerID < 0 {
		return fmt.Errorf("transactional batch without a producer id: %w", model.ErrInvalidRecord)
	}
	if h.ProducerID >= 0 {
		if h.ProducerEpoch < 0 {
			return fmt.Errorf("producer %d with epoch %d: %w", h.ProducerID, h.ProducerEpoch, model.ErrInvalidRecord)
		}
		// A transactional batch without a sequence is a coordinator's
		// (transactional offset commits).
		if h.BaseSequence < 0 && !(h.Transactional() && h.BaseSequence == -1) {
			return fmt.Errorf("producer %d with base sequence %d: %w", h.ProducerID, h.BaseSequence, model.ErrInvalidRecord)
		}
	}
	if h.Compression() == 0 {
		n := int32(0)
		err := forEachRecord(batch, func(delta int32, _ int64) bool {
			if delta != n {
				return false
			}
			n++
			return true
		})
		if err != nil {
			return err
		}
		if n != h.RecordCount {
			return fmt.Errorf("record offset deltas are not 0..%d: %w", h.RecordCount-1, model.ErrInvalidRecord)
		}
	} else if h.Compression() > 4 {
		return fmt.Errorf("unknown compression codec %d: %w", h.Compression(), model.ErrInvalidRecord)
	}
	return nil
}

// forEachRecord walks the records of an uncompressed batch, checking their
// framing, and calls fn with each record's offset delta and timestamp delta
// until fn returns false. It does not allocate.
func forEachRecord(batch []byte, fn func(offsetDelta int32, timestampDelta int64) bool) error {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return err
	}
	b := batch[BatchHeaderSize:h.Size()]
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(b)
		if n <= 0 || length < 0 || int64(len(b)-n) < length {
			return fmt.Errorf("record %d: bad length: %w", i, model.ErrCorruptRecord)
		}
		rec := b[n : n+int(length)]
		b = b[n+int(length):]
		tsDelta, offDelta, err := parseRecord(rec)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if !fn(offDelta, tsDelta) {
			return nil
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the last record: %w", len(b), model.ErrCorruptRecord)
	}
	return nil
}

// parseRecord checks one record body (after its length) and returns its
// timestamp and offset deltas.
func parseRecord(r []byte) (tsDelta int64, offDelta int32, err error) {
	bad := func(what string) error { return fmt.Errorf("bad %s: %w", what, model.ErrCorruptRecord) }
	if len(r) < 1 {
		return 0, 0, bad("attributes")
	}
	r = r[1:]
	ts, n := binary.Varint(r)
	if n <= 0 {
		return 0, 0, bad("timestamp delta")
	}
	r = r[n:]
	od, n := binary.Varint(r)
	if n <= 0 || od < math.MinInt32 || od > math.MaxInt32 {
		return 0, 0, bad("offset delta")
	}
	r = r[n:]
	skipBytes := func(what string) error {
		l, n := binary.Varint(r)
		if n <= 0 || l < -1 || int64(len(r)-n) < l {
			return bad(what)
		}
		if l < 0 {
			l = 0
		}
		r = r[n+int(l):]
		return nil
	}
	if err := skipBytes("key"); err != nil {
		return 0, 0, err
	}
	if err := skipBytes("value"); err != nil {
		return 0, 0, err
	}
	hc, n := binary.Varint(r)
	if n <= 0 || hc < 0 || hc > int64(len(r)) {
		return 0, 0, bad("header count")
	}
	r = r[n:]
	for i := int64(0); i < hc; i++ {
		if err := skipBytes("header key"); err != nil {
			return 0, 0, err
		}
		if err := skipBytes("header value"); err != nil {
			return 0, 0, err
		}
	}
	if len(r) != 0 {
		return 0, 0, bad("record length")
	}
	return ts, int32(od), nil
}

// setBatchOffsetAndEpoch rewrites the two header fields the CRC does not cover.
func setBatchOffsetAndEpoch(batch []byte, base model.Offset, epoch model.Epoch) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(base))
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// setLogAppendTime sets maxTimestamp and the timestamp-type bit and
// recomputes the CRC.
func setLogAppendTime(batch []byte, ts int64) {
	attr := binary.BigEndian.Uint16(batch[offAttributes:]) | attrTimestampType
	binary.BigEndian.PutUint16(batch[offAttributes:], attr)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offCRC:], batchCRC(batch))
}
