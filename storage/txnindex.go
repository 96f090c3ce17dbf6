package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"slices"

	"github.com/ringtail/ringtail/model"
)

// Transactions on disk, in Kafka's formats:
//
// <base>.txnindex holds one 34-byte entry per transaction aborted in the
// segment, in the order their markers were written (Kafka's AbortedTxn):
//
//	+---------+------------+-------------+------------+------------------+
//	| version | producerId | firstOffset | lastOffset | lastStableOffset |
//	| int16=0 | int64      | int64       | int64      | int64            |
//	+---------+------------+-------------+------------+------------------+
//
// A transaction marker is a control batch (attributes: transactional and
// control bits) of one record whose key is (version int16 = 0, type int16:
// 0 abort, 1 commit) and whose value is (version int16 = 0,
// coordinatorEpoch int32).

// txnIndexSuffix names a segment's aborted-transaction index.
const txnIndexSuffix = ".txnindex"

// txnIndexEntryBytes is the size of one .txnindex entry.
const txnIndexEntryBytes = 34

// AbortedTxn is one aborted transaction of a partition: the producer, the
// offsets of its first record and of its abort marker, and the last
// stable offset when the marker was written.
type AbortedTxn struct {
	ProducerID              int64
	FirstOffset, LastOffset model.Offset
	LastStableOffset        model.Offset
}

func encodeAbortedTxn(a AbortedTxn) []byte {
	b := make([]byte, 0, txnIndexEntryBytes)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(a.LastStableOffset))
}

var errBadTxnIndex = errors.New("storage: malformed .txnindex")

// decodeTxnIndex parses a whole .txnindex. A torn last entry (a crash in
// the middle of its write) is left out and reported by torn, as Kafka's
// recovery truncates it; anything else malformed is an error.
func decodeTxnIndex(data []byte) (out []AbortedTxn, torn bool, err error) {
	n := len(data) / txnIndexEntryBytes
	for i := 0; i < n; i++ {
		e := data[i*txnIndexEntryBytes:]
		if v := binary.BigEndian.Uint16(e); v != 0 {
			return nil, false, fmt.Errorf("%w: entry %d has version %d", errBadTxnIndex, i, v)
		}
		a := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(e[2:])),
			FirstOffset:      model.Offset(binary.BigEndian.Uint64(e[10:])),
			LastOffset:       model.Offset(binary.BigEndian.Uint64(e[18:])),
			LastStableOffset: model.Offset(binary.BigEndian.Uint64(e[26:])),
		}
		if a.ProducerID < 0 || a.FirstOffset < 0 || a.LastOffset < a.FirstOffset || a.LastStableOffset < 0 {
			return nil, false, fmt.Errorf("%w: entry %d: %+v", errBadTxnIndex, i, a)
		}
		out = append(out, a)
	}
	return out, len(data)%txnIndexEntryBytes != 0, nil
}

// Control record types (the marker key's type field).
const (
	markerAbort  = 0
	markerCommit = 1
)

// MarkerBatch builds the control batch of a transaction marker for
// producer pid at epoch, with the coordinator's epoch, at timestamp ms.
// Its base offset is 0; the append path assigns it.
func MarkerBatch(pid int64, epoch int16, commit bool, coordinatorEpoch int32, ms int64) []byte {
	typ := uint16(markerAbort)
	if commit {
		typ = markerCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), typ)
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	var rec []byte
	rec = append(rec, 0)              // attributes
	rec = binary.AppendVarint(rec, 0) // timestamp delta
	rec = binary.AppendVarint(rec, 0) // offset delta
	rec = binary.AppendVarint(rec, int64(len(key)))
	rec = append(rec, key...)
	rec = binary.AppendVarint(rec, int64(len(value)))
	rec = append(rec, value...)
	rec = binary.AppendVarint(rec, 0) // headers
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(rec)+2)
	b = binary.AppendVarint(b, int64(len(rec)))
	b = append(b, rec...)
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-batchLogOverhead))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], attrTransactional|attrControl)
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(ms))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ms))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(pid))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], 0xffffffff)
	binary.BigEndian.PutUint32(b[offRecordCount:], 1)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// Marker is a decoded transaction marker.
type Marker struct {
	ProducerID       int64
	Epoch            int16
	Commit           bool
	CoordinatorEpoch int32
}

// ParseMarker decodes a control batch as a transaction marker; ok is false
// for a batch that is not one (data, or another control type).
func ParseMarker(batch []byte) (m Marker, ok bool, err error) {
	h, err := checkBatch(batch)
	if err != nil {
		return m, false, err
	}
	if !h.Control() {
		return m, false, nil
	}
	recs, _, err := batchRecords(batch[:h.Size()], &h)
	if err != nil {
		return m, false, err
	}
	if len(recs) != 1 || len(recs[0].key) != 4 || binary.BigEndian.Uint16(recs[0].key) != 0 {
		return m, false, fmt.Errorf("%w: control batch with %d records", model.ErrCorruptRecord, len(recs))
	}
	typ := binary.BigEndian.Uint16(recs[0].key[2:])
	if typ != markerAbort && typ != markerCommit {
		return m, false, nil
	}
	if len(recs[0].value) < 6 {
		return m, false, fmt.Errorf("%w: marker value of %d bytes", model.ErrCorruptRecord, len(recs[0].value))
	}
	return Marker{ProducerID: h.ProducerID, Epoch: h.ProducerEpoch, Commit: typ == markerCommit,
		CoordinatorEpoch: int32(binary.BigEndian.Uint32(recs[0].value[2:]))}, true, nil
}

// readTxnIndex loads the .txnindex of the segment at base; a missing file
// is no entries. Entries after the first malformed or impossible one (a
// marker outside the segment, a transaction that does not end after it
// starts, markers out of order) are left out and reported in bad: after a
// power loss the unsynced tail of the file may hold zeros or garbage, and
// recovery's replay rebuilds the entries from the batches after the
// recovery point (recoverProducers).
func readTxnIndex(path string, base model.Offset) (out []AbortedTxn, bad error, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+txnIndexEntryBytes <= len(data); i += txnIndexEntryBytes {
		e, _, derr := decodeTxnIndex(data[i : i+txnIndexEntryBytes])
		if derr == nil && (e[0].LastOffset < base || e[0].FirstOffset >= e[0].LastOffset ||
			len(out) > 0 && e[0].LastOffset < out[len(out)-1].LastOffset) {
			derr = fmt.Errorf("%w: entry %d: %+v in the segment at %d", errBadTxnIndex, i/txnIndexEntryBytes, e[0], base)
		}
		if derr != nil {
			return out, fmt.Errorf("%s: %w", path, derr), nil
		}
		out = append(out, e[0])
	}
	return out, nil, nil
}

// txnIndexFile opens the segment's .txnindex for writing, creating it.
func (s *segment) txnIndexFile() (*cachedFile, error) {
	if s.txnF != nil {
		return s.txnF, nil
	}
	f, err := s.fc.openCachedFile(s.path(txnIndexSuffix), os.O_RDWR|os.O_CREATE, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	s.txnF = f
	return f, nil
}

// setAborted replaces the segment's aborted transactions (recovery's
// rebuild) and rewrites its .txnindex durably when they changed. Shard
// only, nothing in flight.
func (s *segment) setAborted(list []AbortedTxn) error {
	if slices.Equal(list, s.comm.aborted) {
		return nil
	}
	var buf []byte
	for _, a := range list {
		buf = append(buf, encodeAbortedTxn(a)...)
	}
	if len(list) == 0 {
		if s.txnF != nil {
			s.txnF.Close()
			s.txnF = nil
		}
		if err := s.fc.fsys.Remove(s.path(txnIndexSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	} else {
		f, err := s.txnIndexFile()
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(buf, 0); err != nil {
			return err
		}
		if err := f.Truncate(int64(len(buf))); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	s.comm.aborted = slices.Clip(slices.Clone(list))
	s.pend.aborted = s.comm.aborted
	a := s.comm.aborted
	s.abortedPub.Store(&a)
	return nil
}

// abortedBetween returns the aborted transactions of the view's segments
// that overlap [from, to): those whose marker is at or after from and whose
// first offset is below to (what a read_committed fetch of that range must
// filter, Kafka's collectAbortedTxns).
// The search starts at the segment holding from (earlier markers are
// below it) and stops at an entry whose last stable offset reaches to:
// every transaction open below to had completed by then.
func (v *view) abortedBetween(from, to model.Offset) []AbortedTxn {
	var out []AbortedTxn
	_, i := v.segFor(from)
	for _, s := range v.segs[i:] {
		for _, a := range s.abortedTxns() {
			if a.LastOffset >= from && a.FirstOffset < to {
				out = append(out, a)
			}
			if a.LastStableOffset >= to {
				return out
			}
		}
	}
	return out
}
