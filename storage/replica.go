package storage

// This file holds the seams the replication layer uses: a high watermark
// set from outside (the leader's ISR decides it, a follower copies the
// leader's), the follower append path that keeps the leader's offsets and
// epochs, reads up to the log end for replica fetches, truncation to an
// offset, and the leader-epoch cache (OffsetForLeaderEpoch).

import (
	"errors"
	"fmt"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
)

// EpochStart is one leader-epoch cache entry: the first offset written
// under Epoch.
type EpochStart struct {
	Epoch       model.Epoch
	StartOffset model.Offset
}

// UndefinedEpoch and UndefinedOffset are Kafka's answers for an epoch the
// cache cannot place (-1, -1).
const (
	UndefinedEpoch  model.Epoch  = -1
	UndefinedOffset model.Offset = -1
)

func (p *Partition) shardErr(what string, off model.Offset, err error) error {
	if errors.Is(err, iocore.ErrClosed) {
		return p.errf(nil, off, "%s: %w: %w", what, model.ErrClosed, err)
	}
	return err
}

// SetExternalHW switches the partition between the single-node rule (the
// high watermark follows the committed log end) and the replicated one
// (the high watermark moves only through SetHighWatermark). Turning it off
// moves the high watermark to the log end at once.
func (p *Partition) SetExternalHW(on bool) error {
	err := p.onShard(nil, func() error {
		p.externalHW = on
		if !on && p.advanceHW() {
			p.publish()
			p.notifyChanged()
		}
		return nil
	})
	return p.shardErr("set external high watermark", -1, err)
}

// SetHighWatermark sets the high watermark, clamped to [log start, log
// end], and publishes it (Changed fires). It only has effect in external
// mode. The caller keeps it monotonic where that matters (the leader's
// ISR logic never moves it backwards; a follower may lower it only after
// a truncation). It returns the high watermark now published.
func (p *Partition) SetHighWatermark(hw model.Offset) (model.Offset, error) {
	var got model.Offset
	err := p.onShard(nil, func() error {
		if p.closed {
			return p.errf(nil, hw, "set high watermark: %w", model.ErrClosed)
		}
		if !p.externalHW {
			got = p.hw
			return nil
		}
		hw = min(max(hw, p.logStart), p.logEnd)
		if hw != p.hw {
			p.hw = hw
			p.publish()
			p.notifyChanged()
		}
		got = p.hw
		return nil
	})
	return got, p.shardErr("set high watermark", hw, err)
}

// ReadReplica is Read for a follower's fetch: it reads up to the log end,
// not the high watermark.
func (p *Partition) ReadReplica(offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error) {
	return p.read(offset, maxBytes, minOneBatch, toLogEnd)
}

// AppendReplica appends batches as fetched from the leader: offsets and
// partition leader epochs are kept, not assigned. Each batch must pass its
// CRC and framing checks and the first must start at the log end, the rest
// contiguously; idempotent producer state is updated but never refuses a
// batch (the leader already decided). A batch with a leader epoch newer
// than the cache's latest starts a new epoch entry. done is called exactly
// once and must not block; records must stay untouched until it runs.
func (p *Partition) AppendReplica(records []byte, done func(AppendResult)) {
	cfg := p.config()
	if len(records) == 0 {
		done(p.failResult(p.errf(nil, -1, "append replica: no record batches: %w", model.ErrInvalidRecord)))
		return
	}
	var hdrs []BatchHeader
	nrecs, txn := 0, false
	for pos := 0; pos < len(records); {
		h, err := checkBatch(records[pos:])
		if err == nil && h.LastOffsetDelta < 0 {
			err = fmt.Errorf("lastOffsetDelta %d: %w", h.LastOffsetDelta, model.ErrInvalidRecord)
		}
		if err == nil && cfg.MaxMessageBytes > 0 && h.Size() > int(cfg.MaxMessageBytes) {
			// The leader's limit may be larger than ours; Kafka followers
			// accept what the leader wrote, but a batch we could not serve
			// back to a consumer of ours is worth a loud refusal.
			err = fmt.Errorf("%d bytes exceeds max.message.bytes %d: %w", h.Size(), cfg.MaxMessageBytes, model.ErrRecordTooLarge)
		}
		if err == nil && len(hdrs) > 0 && h.BaseOffset <= hdrs[len(hdrs)-1].LastOffset() {
			err = fmt.Errorf("base offset %d after last offset %d: %w", int64(h.BaseOffset), int64(hdrs[len(hdrs)-1].LastOffset()), model.ErrInvalidRecord)
		}
		if err != nil {
			done(p.failResult(p.errf(nil, -1, "append replica: batch %d at byte %d: %w", len(hdrs), pos, err)))
			return
		}
		hdrs = append(hdrs, h)
		txn = txn || h.Transactional() || h.Control()
		nrecs += int(h.RecordCount)
		pos += h.Size()
	}
	t := &appendTask{p: p, records: records, done: done, nrecs: nrecs, hdrs: hdrs, replica: true, txnBatches: txn}
	if err := p.shard.Submit(t); err != nil {
		done(p.failResult(p.errf(nil, -1, "append replica: %w: %w", model.ErrClosed, err)))
	}
}

// prepareReplica runs in Prepare for AppendReplica: it checks that the
// batches continue the log, applies producer state (with undo records, so
// a failed write rolls it back) and the epoch cache. false means t.res
// holds the refusal.
func (p *Partition) prepareReplica(t *appendTask) bool {
	// A compacted leader's log has gaps: a batch may start past the end.
	if first := t.hdrs[0].BaseOffset; first < p.nextOffset {
		t.res.Err = p.errf(nil, first, "append replica: log end is %d: %w", int64(p.nextOffset), model.ErrOffsetOutOfRange)
		return false
	}
	pos := 0
	for i := range t.hdrs {
		h := &t.hdrs[i]
		batch := t.records[pos : pos+h.Size()]
		pos += h.Size()
		if h.ProducerID >= 0 {
			u, end := p.producers.update(h, batch)
			p.undo = append(p.undo, u)
			t.undoN++
			p.noteTxn(h, end)
			if end != nil {
				t.ends = append(t.ends, *end)
			}
		}
		e := model.Epoch(h.PartitionLeaderEpoch)
		if n := len(p.epochs); e >= 0 && (n == 0 || e > p.epochs[n-1].epoch) {
			p.epochs = append(p.epochs[:n:n], epochEntry{epoch: e, start: h.BaseOffset})
			if err := p.noteEpochs(); err != nil {
				p.m.logger.Warn("cannot write leader-epoch-checkpoint", "partition", p.tp.String(), "err", err)
			}
		}
	}
	return true
}

// LeaderEpochs returns a copy of the leader-epoch cache, oldest first.
func (p *Partition) LeaderEpochs() ([]EpochStart, error) {
	var out []EpochStart
	err := p.onShard(nil, func() error {
		for _, e := range p.epochs {
			out = append(out, EpochStart{Epoch: e.epoch, StartOffset: e.start})
		}
		return nil
	})
	return out, p.shardErr("leader epochs", -1, err)
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch for this log, with
// Kafka's semantics: for the latest epoch, (that epoch, log end); for an
// older one, the largest cached epoch <= it and the start offset of the
// first epoch after it; for an epoch older than every entry, (the epoch,
// the first entry's start); for an unknown newer epoch or an empty cache,
// (UndefinedEpoch, UndefinedOffset).
func (p *Partition) EndOffsetForEpoch(epoch model.Epoch) (model.Epoch, model.Offset, error) {
	re, ro := UndefinedEpoch, UndefinedOffset
	err := p.onShard(nil, func() error {
		re, ro = endOffsetForEpoch(p.epochs, epoch, p.logEnd)
		return nil
	})
	return re, ro, p.shardErr("end offset for epoch", -1, err)
}

func endOffsetForEpoch(es []epochEntry, epoch model.Epoch, logEnd model.Offset) (model.Epoch, model.Offset) {
	if epoch < 0 || len(es) == 0 {
		return UndefinedEpoch, UndefinedOffset
	}
	if es[len(es)-1].epoch == epoch {
		return epoch, logEnd
	}
	hi := -1 // first entry with an epoch > epoch
	for i, e := range es {
		if e.epoch > epoch {
			hi = i
			break
		}
	}
	if hi < 0 {
		return UndefinedEpoch, UndefinedOffset
	}
	if hi == 0 {
		return epoch, es[0].start
	}
	return es[hi-1].epoch, es[hi].start
}

// TruncateTo drops every batch that holds offset or comes after it, so the
// log end becomes the base offset of the batch holding offset (offset
// itself when it is a batch boundary, as follower truncation points are).
// An offset at or past the log end changes nothing; one below the log start
// is model.ErrOffsetOutOfRange. Appends prepared but not completed when it
// runs fail. The files are cut back and synced, later segments deleted, the
// indexes, producer state and leader-epoch cache made to match, and the
// high watermark lowered to the new end if it was above.
func (p *Partition) TruncateTo(offset model.Offset) error {
	err := p.onShard(nil, func() error {
		if p.closed {
			return p.errf(nil, offset, "truncate: %w", model.ErrClosed)
		}
		if err := p.checkOnline("truncate", offset); err != nil {
			return err
		}
		if p.nextOffset != p.logEnd || p.inflight > 0 {
			// Tasks of this drain prepared after us wrote past the
			// committed end; cut them back and fail them first.
			p.rollback()
		}
		if offset >= p.logEnd {
			return nil
		}
		if offset < p.logStart {
			return p.errf(nil, offset, "truncate: log start %d: %w", int64(p.logStart), model.ErrOffsetOutOfRange)
		}
		return p.truncateLocked(offset)
	})
	return p.shardErr("truncate", offset, err)
}

// truncateLocked does TruncateTo's work. Shard only, nothing in flight.
func (p *Partition) truncateLocked(offset model.Offset) error {
	if int64(offset) < p.cleanedTo.Load() {
		p.cleanedTo.Store(int64(offset))
	}
	p.horizons.truncate(offset)
	i := 0
	for i+1 < len(p.segs) && p.segs[i+1].base <= offset {
		i++
	}
	old := p.segs[i]
	pos, h, ok, err := old.findBatch(offset, old.comm.size)
	if err != nil {
		return p.storageErr(old, offset, "truncate: find batch", err)
	}
	newEnd := old.comm.nextOffset
	if ok {
		newEnd = h.BaseOffset
	} else {
		pos = old.comm.size
	}
	// Readers first: nothing at or past the new end is visible any more.
	p.logEnd, p.nextOffset = newEnd, newEnd
	p.hw = min(p.hw, newEnd)
	p.publish()
	p.truncs.Add(1) // after the view: see Partition.readRanges

	// Cut the files of the segment holding offset. A fresh segment object
	// on the same files gets fresh indexes, so readers still holding the
	// old one never see an index shrink under them.
	cfg := p.config()
	ns, err := openSegmentFiles(p.m.files, p.dir, old.base, false, cfg.SegmentIndexBytes)
	if err != nil {
		return p.storageErr(old, offset, "truncate: reopen segment", err)
	}
	ns.createdMs = old.createdMs
	keepIdx, keepTidx := 0, 0
	for _, e := range old.index.snapshot() {
		if int64(e.val) < pos {
			keepIdx++
		}
	}
	for _, e := range old.tindex.snapshot() {
		if old.base+model.Offset(e.key) < newEnd {
			keepTidx++
		}
	}
	for _, c := range []struct {
		f    *cachedFile
		size int64
	}{{ns.log, pos}, {ns.idxF, int64(keepIdx) * offsetIndexEntryBytes}, {ns.tidxF, int64(keepTidx) * timeIndexEntryBytes}} {
		if err := c.f.Truncate(c.size); err != nil {
			ns.release()
			return p.storageErr(old, offset, "truncate", err)
		}
	}
	loaded, err := p.loadSegment(ns, true, -1)
	if err == nil && !loaded {
		ns.index = newSparseIndex(ns.index.capEntries)
		ns.tindex = newSparseIndex(ns.tindex.capEntries)
		_, _, err = p.rebuildSegment(ns, cfg, nil)
	}
	if err == nil {
		for _, f := range []*cachedFile{ns.log, ns.idxF, ns.tidxF} {
			if err = f.Sync(); err != nil {
				break
			}
		}
	}
	if err != nil {
		ns.release()
		return p.storageErr(old, offset, "truncate: reload segment", err)
	}
	gone := p.segs[i+1:]
	p.segs = append(append([]*segment(nil), p.segs[:i]...), ns)
	p.commActive = ns
	p.maxTs, p.maxTsOff = -1, -1
	for _, s := range p.segs {
		if s.comm.maxTs > p.maxTs {
			p.maxTs, p.maxTsOff = s.comm.maxTs, s.comm.maxTsOff
		}
	}
	p.publish()
	old.release()
	for _, s := range gone {
		removeSegmentFiles(s)
		s.release()
	}
	if len(gone) > 0 {
		if err := p.m.fsys.SyncDir(p.dir); err != nil {
			return p.storageErr(nil, offset, "truncate: sync dir", err)
		}
	}
	if int64(ns.base) < p.recoveryPoint.Load() {
		p.recoveryPoint.Store(int64(ns.base))
	}
	if es := truncateEpochsFromEnd(p.epochs, newEnd); len(es) != len(p.epochs) {
		p.epochs = es
		if err := p.writeEpochs(); err != nil {
			return p.storageErr(nil, offset, "truncate: write leader-epoch-checkpoint", err)
		}
	}
	p.undo, p.undoHead = p.undo[:0], 0
	if err := p.recoverProducers(newEnd); err != nil {
		return p.storageErr(nil, offset, "truncate: rebuild producer state", err)
	}
	p.publish() // the last stable offset may have moved back

	p.m.logger.Info("truncated log", "partition", p.tp.String(), "offset", int64(offset), "log_end", int64(newEnd))
	p.notifyChanged()
	return nil
}
