package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// producerWindowBatches is how many recent batches per producer are kept for
// duplicate detection (Kafka keeps 5, matching
// max.in.flight.requests.per.connection <= 5 for idempotent producers).
const producerWindowBatches = 5

// producerBatch is what is remembered of one appended idempotent batch.
type producerBatch struct {
	firstSeq, lastSeq int32
	firstOff, lastOff model.Offset
}

// producerEntry is the state of one producer id in one partition.
type producerEntry struct {
	epoch   int16
	n       uint8 // batches held, <= producerWindowBatches
	head    uint8 // index of the oldest batch in the ring
	batches [producerWindowBatches]producerBatch
	// lastOff is the last offset of the producer's latest batch (data or
	// marker), lastTs that batch's max timestamp.
	lastOff model.Offset
	lastTs  int64
	// txnFirst is the first offset of the producer's ongoing transaction,
	// -1 when none; coordEpoch the coordinator epoch of its latest marker
	// (-1 before any).
	txnFirst   model.Offset
	coordEpoch int32
}

func newProducerEntry(epoch int16) *producerEntry {
	return &producerEntry{epoch: epoch, lastOff: -1, lastTs: -1, txnFirst: -1, coordEpoch: -1}
}

func (e *producerEntry) latest() *producerBatch {
	return &e.batches[(int(e.head)+int(e.n)-1)%producerWindowBatches]
}

func (e *producerEntry) push(b producerBatch) {
	if e.n < producerWindowBatches {
		e.batches[(int(e.head)+int(e.n))%producerWindowBatches] = b
		e.n++
		return
	}
	e.batches[e.head] = b
	e.head = (e.head + 1) % producerWindowBatches
}

// newEpoch forgets the sequence window for a new producer epoch; the open
// transaction and the coordinator epoch stay.
func (e *producerEntry) newEpoch(epoch int16) {
	e.epoch, e.n, e.head = epoch, 0, 0
}

// producerUndo restores one entry when prepared appends are rolled back.
type producerUndo struct {
	pid     int64
	prev    producerEntry
	existed bool
}

// producerState maps producer ids to entries. Shard only.
type producerState map[int64]*producerEntry

// errDuplicate is returned by check when the batch is one of the last five.
type duplicateBatch struct{ first, last model.Offset }

// check validates an idempotent or transactional batch against the state.
// It returns a non-nil dup when the batch was already appended.
// Transactional batches without a sequence (-1) are written by a
// coordinator (transactional offset commits): only the epoch is checked.
func (ps producerState) check(h *BatchHeader) (dup *duplicateBatch, err error) {
	e := ps[h.ProducerID]
	last := h.LastSequence()
	if e == nil {
		// An unknown producer is accepted at any sequence, as Kafka does
		// since KIP-360: its state may have been trimmed because retention
		// or DeleteRecords removed all its batches, and refusing it would
		// stall a live producer (franz-go backs off for the metadata age).
		return nil, nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return nil, fmt.Errorf("producer %d epoch %d is older than %d: %w", h.ProducerID, h.ProducerEpoch, e.epoch, model.ErrInvalidProducerEpoch)
	case e.txnFirst >= 0 && !h.Transactional():
		return nil, fmt.Errorf("producer %d has a transaction open since offset %d; a non-transactional batch cannot join it: %w", h.ProducerID, int64(e.txnFirst), model.ErrInvalidTxnState)
	case h.BaseSequence < 0:
		return nil, nil
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("producer %d new epoch %d must start at sequence 0, got %d: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, model.ErrOutOfOrderSequence)
		}
		return nil, nil
	}
	for i := 0; i < int(e.n); i++ {
		b := &e.batches[(int(e.head)+i)%producerWindowBatches]
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return &duplicateBatch{first: b.firstOff, last: b.lastOff}, nil
		}
	}
	if e.n == 0 {
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("producer %d sequence %d, expected 0: %w", h.ProducerID, h.BaseSequence, model.ErrOutOfOrderSequence)
		}
		return nil, nil
	}
	if want := addSequence(e.latest().lastSeq, 1); h.BaseSequence != want {
		return nil, fmt.Errorf("producer %d epoch %d sequence %d, expected %d: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, want, model.ErrOutOfOrderSequence)
	}
	return nil, nil
}

// checkMarker validates a transaction marker against the state: its
// producer epoch may not be older than the producer's, nor its
// coordinator epoch older than the last marker's.
func (ps producerState) checkMarker(m Marker) error {
	e := ps[m.ProducerID]
	if e == nil {
		return nil
	}
	if m.Epoch < e.epoch {
		return fmt.Errorf("marker for producer %d at epoch %d, producer is at %d: %w", m.ProducerID, m.Epoch, e.epoch, model.ErrInvalidProducerEpoch)
	}
	if m.CoordinatorEpoch < e.coordEpoch {
		return fmt.Errorf("marker for producer %d from coordinator epoch %d, last was %d: %w", m.ProducerID, m.CoordinatorEpoch, e.coordEpoch, model.ErrTxnCoordinatorFenced)
	}
	return nil
}

// txnEnd is what a marker did: the transaction it closed (first offset
// -1 when the producer had none open).
type txnEnd struct {
	pid         int64
	first, last model.Offset
	commit      bool
}

// update records an appended batch (already assigned offsets) and returns
// the undo record. A control batch (batch holds its bytes) is a marker: it
// closes the producer's open transaction, which is returned.
func (ps producerState) update(h *BatchHeader, batch []byte) (producerUndo, *txnEnd) {
	e := ps[h.ProducerID]
	u := producerUndo{pid: h.ProducerID}
	if e == nil {
		e = newProducerEntry(h.ProducerEpoch)
		ps[h.ProducerID] = e
	} else {
		u.existed = true
		u.prev = *e
	}
	if h.ProducerEpoch != e.epoch {
		e.newEpoch(h.ProducerEpoch)
	}
	e.lastOff, e.lastTs = h.LastOffset(), h.MaxTimestamp
	if h.Control() {
		m, ok, err := ParseMarker(batch)
		if err != nil || !ok {
			return u, nil // another control type: nothing to track
		}
		e.coordEpoch = m.CoordinatorEpoch
		end := &txnEnd{pid: h.ProducerID, first: e.txnFirst, last: h.BaseOffset, commit: m.Commit}
		e.txnFirst = -1
		return u, end
	}
	if h.Transactional() && e.txnFirst < 0 {
		e.txnFirst = h.BaseOffset
	}
	if h.BaseSequence >= 0 {
		e.push(producerBatch{firstSeq: h.BaseSequence, lastSeq: h.LastSequence(), firstOff: h.BaseOffset, lastOff: h.LastOffset()})
	}
	return u, nil
}

func (ps producerState) undo(u producerUndo) {
	if !u.existed {
		delete(ps, u.pid)
		return
	}
	e := u.prev
	ps[u.pid] = &e
}

// trim drops producers whose last batch is below logStart and that have
// no open transaction.
func (ps producerState) trim(logStart model.Offset) {
	for pid, e := range ps {
		if e.lastOff < logStart && e.txnFirst < 0 {
			delete(ps, pid)
		}
	}
}

// firstOpen is the smallest first offset of an open transaction, or
// noOpenTxn.
func (ps producerState) firstOpen() model.Offset {
	first := noOpenTxn
	for _, e := range ps {
		if e.txnFirst >= 0 && e.txnFirst < first {
			first = e.txnFirst
		}
	}
	return first
}

// noteTxn keeps p.firstOpen up to date after producer state applied h
// (end: the transaction its marker closed) in O(1), except when the
// earliest open transaction ends, which takes a scan of the producers.
func (p *Partition) noteTxn(h *BatchHeader, end *txnEnd) {
	switch {
	case end != nil:
		if end.first >= 0 && end.first <= p.firstOpen {
			p.firstOpen = p.producers.firstOpen()
		}
	case h.Transactional():
		if e := p.producers[h.ProducerID]; e != nil && e.txnFirst >= 0 {
			p.firstOpen = min(p.firstOpen, e.txnFirst)
		}
	}
}

// noOpenTxn is firstOpen's answer when no transaction is open.
const noOpenTxn = model.Offset(math.MaxInt64)

// Snapshot file format constants (see the package doc). Version 1 (before
// transactions) is still read.
const (
	snapshotMagic   = "RTPS"
	snapshotVersion = 2
)

// snapshotEntryBytes is a v2 entry without its batches.
const snapshotEntryBytes = 8 + 2 + 8 + 8 + 8 + 4 + 1

func (ps producerState) encode(offset model.Offset) []byte {
	pids := make([]int64, 0, len(ps))
	for pid := range ps {
		pids = append(pids, pid)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	b := make([]byte, 0, 18+len(ps)*(snapshotEntryBytes+producerWindowBatches*24)+4)
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint16(b, snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(pids)))
	for _, pid := range pids {
		e := ps[pid]
		b = binary.BigEndian.AppendUint64(b, uint64(pid))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastOff))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		b = append(b, e.n)
		for i := 0; i < int(e.n); i++ {
			pb := e.batches[(int(e.head)+i)%producerWindowBatches]
			b = binary.BigEndian.AppendUint32(b, uint32(pb.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(pb.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(pb.firstOff))
			b = binary.BigEndian.AppendUint64(b, uint64(pb.lastOff))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadSnapshot = errors.New("bad producer snapshot")

func decodeProducerSnapshot(b []byte) (producerState, model.Offset, error) {
	if len(b) < 22 || string(b[:4]) != snapshotMagic {
		return nil, 0, errBadSnapshot
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	version := binary.BigEndian.Uint16(body[4:])
	if crc32.Checksum(body, castagnoli) != sum || version < 1 || version > snapshotVersion {
		return nil, 0, errBadSnapshot
	}
	off := model.Offset(binary.BigEndian.Uint64(body[6:]))
	n := binary.BigEndian.Uint32(body[14:])
	r := body[18:]
	ps := producerState{}
	for i := uint32(0); i < n; i++ {
		if len(r) < 11 {
			return nil, 0, errBadSnapshot
		}
		pid := int64(binary.BigEndian.Uint64(r))
		e := newProducerEntry(int16(binary.BigEndian.Uint16(r[8:])))
		r = r[10:]
		if version >= 2 {
			if len(r) < snapshotEntryBytes-10 {
				return nil, 0, errBadSnapshot
			}
			e.lastOff = model.Offset(binary.BigEndian.Uint64(r))
			e.lastTs = int64(binary.BigEndian.Uint64(r[8:]))
			e.txnFirst = model.Offset(binary.BigEndian.Uint64(r[16:]))
			e.coordEpoch = int32(binary.BigEndian.Uint32(r[24:]))
			r = r[28:]
			if e.txnFirst < -1 || e.lastOff < -1 {
				return nil, 0, errBadSnapshot
			}
		}
		nb := int(r[0])
		r = r[1:]
		if nb > producerWindowBatches || len(r) < nb*24 {
			return nil, 0, errBadSnapshot
		}
		for j := 0; j < nb; j++ {
			e.push(producerBatch{
				firstSeq: int32(binary.BigEndian.Uint32(r)),
				lastSeq:  int32(binary.BigEndian.Uint32(r[4:])),
				firstOff: model.Offset(binary.BigEndian.Uint64(r[8:])),
				lastOff:  model.Offset(binary.BigEndian.Uint64(r[16:])),
			})
			r = r[24:]
		}
		if version == 1 && nb > 0 {
			e.lastOff = e.latest().lastOff
		}
		ps[pid] = e
	}
	if len(r) != 0 {
		return nil, 0, errBadSnapshot
	}
	return ps, off, nil
}

// writeProducerSnapshot writes <offset>.snapshot through a temporary file
// and a rename, with an fsync when durable is set.
func writeProducerSnapshot(fsys vfs.FS, dir string, ps producerState, offset model.Offset, durable bool) error {
	return writeFileAtomic(fsys, filepath.Join(dir, segmentName(offset, snapshotSuffix)), ps.encode(offset), durable)
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(dir string) ([]model.Offset, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []model.Offset
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, snapshotSuffix) {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(name, snapshotSuffix), 10, 64)
		if err != nil || v < 0 {
			continue
		}
		out = append(out, model.Offset(v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// removeSnapshots deletes snapshot files whose offset satisfies drop.
func removeSnapshots(fsys vfs.FS, dir string, drop func(model.Offset) bool) {
	offs, _ := listSnapshots(dir)
	for _, o := range offs {
		if drop(o) {
			fsys.Remove(filepath.Join(dir, segmentName(o, snapshotSuffix)))
		}
	}
}

// ProducerInfo is one producer's state in a partition (DescribeProducers).
type ProducerInfo struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32 // -1 when none
	LastTimestamp int64 // -1 when none
	// CoordinatorEpoch is that of the producer's latest marker (-1: none);
	// TxnStartOffset the first offset of its open transaction (-1: none).
	CoordinatorEpoch int32
	TxnStartOffset   model.Offset
}

// Producers returns the partition's producers, by id.
func (p *Partition) Producers() ([]ProducerInfo, error) {
	var out []ProducerInfo
	err := p.onShard(nil, func() error {
		for pid, e := range p.producers {
			pi := ProducerInfo{ProducerID: pid, Epoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTs,
				CoordinatorEpoch: e.coordEpoch, TxnStartOffset: e.txnFirst}
			if e.n > 0 {
				pi.LastSequence = e.latest().lastSeq
			}
			out = append(out, pi)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out, p.shardErr("producers", -1, err)
}
