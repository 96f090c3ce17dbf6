package storage

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/model"
)

// recoverStats is what opening one partition found.
type recoverStats struct {
	rescanned bool
	truncated int64
}

// openInfo is what the manager knows about a partition before opening it.
type openInfo struct {
	clean            bool
	recoveryPoint    model.Offset
	hasRecoveryPoint bool
	logStart         model.Offset
	hasLogStart      bool
}

// errScanStop marks where a validating scan found the first bad batch.
var errScanStop = errors.New("scan stopped")

// scanSegment reads batches of s from byte from to the end of the file.
// With validate it checks magic and CRC and that offsets are contiguous
// (the first batch at from == 0 must start at the segment base). fn sees
// every good batch. end is the position after the last good batch; reason
// is non-nil when the scan stopped before the end of the file.
func scanSegment(s *segment, from int64, validate bool, fn func(h *BatchHeader, pos int64, batch []byte) bool) (end int64, next model.Offset, reason error, err error) {
	fi, err := s.log.Stat()
	if err != nil {
		return 0, 0, nil, err
	}
	fileSize := fi.Size()
	pos := from
	next = -1
	if from == 0 {
		next = s.base
	}
	if from >= fileSize {
		return pos, next, nil, nil
	}
	// A 1 MiB buffer for a segment's last few KiB would make a restart
	// of many partitions allocate gigabytes.
	r := bufio.NewReaderSize(io.NewSectionReader(s.log, from, fileSize-from), int(min(fileSize-from, 1<<20)))
	var buf []byte
	var prefix [batchLogOverhead]byte
	for pos < fileSize {
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			return pos, next, fmt.Errorf("torn batch header at byte %d", pos), nil
		}
		length := int64(int32(binary.BigEndian.Uint32(prefix[offBatchLength:])))
		if length < BatchHeaderSize-batchLogOverhead || length > fileSize-pos-batchLogOverhead {
			return pos, next, fmt.Errorf("batch length %d at byte %d does not fit the file", length, pos), nil
		}
		size := int(length) + batchLogOverhead
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		copy(buf, prefix[:])
		if _, err := io.ReadFull(r, buf[batchLogOverhead:]); err != nil {
			return pos, next, fmt.Errorf("torn batch at byte %d", pos), nil
		}
		var h BatchHeader
		if validate {
			h, err = checkBatch(buf)
		} else {
			h, err = ParseBatchHeader(buf)
		}
		if err != nil {
			return pos, next, fmt.Errorf("byte %d: %w", pos, err), nil
		}
		// Offsets increase; gaps are allowed, as compaction leaves them.
		if h.LastOffsetDelta < 0 || (next >= 0 && h.BaseOffset < next) {
			return pos, next, fmt.Errorf("byte %d: batch base offset %d, expected %d or more", pos, int64(h.BaseOffset), int64(next)), nil
		}
		if h.LastOffset()-s.base > math.MaxInt32 || h.BaseOffset < s.base {
			return pos, next, fmt.Errorf("byte %d: offset %d outside the segment", pos, int64(h.BaseOffset)), nil
		}
		if fn != nil && !fn(&h, pos, buf) {
			return pos, next, nil, nil // the caller stopped the scan
		}
		next = h.LastOffset() + 1
		pos += int64(size)
	}
	return pos, next, nil, nil
}

// rebuildSegment scans s from the start, validating every batch, rebuilds
// both indexes in memory and on disk, and truncates the log after the last
// good batch. It returns the bytes cut off and the scan's stop reason.
func (p *Partition) rebuildSegment(s *segment, cfg *Config, onBatch func(*BatchHeader)) (truncated int64, reason error, err error) {
	s.index = newSparseIndex(s.index.capEntries)
	s.tindex = newSparseIndex(s.tindex.capEntries)
	st := emptySegState(s.base)
	var idxBuf, tidxBuf []byte
	end, next, reason, err := scanSegment(s, 0, true, func(h *BatchHeader, pos int64, _ []byte) bool {
		if onBatch != nil {
			onBatch(h)
		}
		e, te, ok := st.noteBatch(s, h, pos, cfg.IndexIntervalBytes)
		if ok {
			s.index.add(e)
			idxBuf = append(idxBuf, encodeOffsetEntry(e.key, e.val)...)
			if te != nil {
				s.tindex.add(*te)
				tidxBuf = append(tidxBuf, encodeTimeEntry(te.ts, te.key)...)
			}
		}
		return true
	})
	if err != nil {
		return 0, nil, err
	}
	_ = next
	// The entry Kafka adds when a segment becomes inactive: the last
	// time-index entry holds the segment's max timestamp.
	if st.maxTs >= 0 && st.maxTs > st.lastTidxTs && !s.tindex.full(1) {
		te := indexEntry{ts: st.maxTs, key: uint32(st.maxTsOff - s.base)}
		s.tindex.add(te)
		tidxBuf = append(tidxBuf, encodeTimeEntry(te.ts, te.key)...)
		st.tidxEntries++
		st.lastTidxTs = st.maxTs
	}
	fi, err := s.log.Stat()
	if err != nil {
		return 0, nil, err
	}
	if fi.Size() > end {
		truncated = fi.Size() - end
		if err := s.log.Truncate(end); err != nil {
			return 0, reason, err
		}
	}
	for _, w := range []struct {
		f *cachedFile
		b []byte
	}{{s.idxF, idxBuf}, {s.tidxF, tidxBuf}} {
		if err := w.f.Truncate(0); err != nil {
			return truncated, reason, err
		}
		if _, err := w.f.WriteAt(w.b, 0); err != nil {
			return truncated, reason, err
		}
	}
	for _, f := range []*cachedFile{s.log, s.idxF, s.tidxF} {
		if err := f.Sync(); err != nil {
			return truncated, reason, err
		}
	}
	st.aborted = s.comm.aborted // rebuilt by recoverProducers' replay
	s.pend, s.comm = st, st
	s.publish()
	return truncated, reason, nil
}

// loadSegment loads the indexes of a cleanly closed segment and checks them;
// for the last segment it also finds the log end by reading the headers
// after the last index entry. ok is false when the segment must be rebuilt.
func (p *Partition) loadSegment(s *segment, last bool, nextBase model.Offset) (ok bool, err error) {
	fi, err := s.log.Stat()
	if err != nil {
		return false, err
	}
	size := fi.Size()
	if s.missingIdx {
		return false, nil
	}
	// A missing index is rebuilt; one that cannot be read (EMFILE, EIO) is
	// an error, not a reason to rescan the log.
	ib, err := os.ReadFile(s.path(indexSuffix))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	tb, err := os.ReadFile(s.path(timeIndexSuffix))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	ents, good := decodeOffsetIndex(ib, max(size, 1))
	if !good || (size == 0 && len(ents) > 0) {
		return false, nil
	}
	maxRel := uint32(math.MaxUint32)
	if !last {
		if nextBase <= s.base || nextBase-s.base-1 > math.MaxUint32 {
			return false, nil
		}
		maxRel = uint32(nextBase - s.base - 1)
	}
	tents, good := decodeTimeIndex(tb, maxRel)
	if !good {
		return false, nil
	}
	st := emptySegState(s.base)
	st.size = size
	st.idxEntries, st.tidxEntries = len(ents), len(tents)
	scanFrom := int64(0)
	if len(ents) > 0 {
		le := ents[len(ents)-1]
		var hb [BatchHeaderSize]byte
		h, err := s.readHeader(int64(le.val), hb[:])
		if err != nil || h.BaseOffset < s.base || uint32(h.LastOffset()-s.base) != le.key {
			return false, nil
		}
		scanFrom = int64(le.val)
		st.bytesSinceIdx = size - int64(le.val)
	} else {
		st.bytesSinceIdx = size
	}
	if len(tents) > 0 {
		te := tents[len(tents)-1]
		st.maxTs, st.maxTsOff, st.lastTidxTs = te.ts, s.base+model.Offset(te.key), te.ts
	}
	if last {
		end, next, reason, err := scanSegment(s, scanFrom, false, func(h *BatchHeader, pos int64, _ []byte) bool {
			if h.MaxTimestamp > st.maxTs {
				st.maxTs, st.maxTsOff = h.MaxTimestamp, h.LastOffset()
			}
			return true
		})
		if err != nil || reason != nil || end != size {
			return false, err
		}
		if size == 0 {
			next = s.base
		}
		st.nextOffset = next
		if len(tents) > 0 && s.base+model.Offset(tents[len(tents)-1].key) >= next {
			return false, nil
		}
		if size > 0 {
			var hb [BatchHeaderSize]byte
			h, err := s.readHeader(0, hb[:])
			if err != nil {
				return false, nil
			}
			st.firstTs = h.MaxTimestamp
		}
	} else {
		st.nextOffset = nextBase
	}
	for _, e := range ents {
		s.index.add(e)
	}
	for _, e := range tents {
		s.tindex.add(e)
	}
	st.aborted = s.comm.aborted
	s.pend, s.comm = st, st
	s.publish()
	return true, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// corruptSegmentError is a bad batch that the producer-state replay found
// in a segment recovery had trusted (below the recovery point, or loaded
// after a clean shutdown): recover rescans from that segment.
type corruptSegmentError struct {
	seg    string
	base   model.Offset
	reason error
}

func (e *corruptSegmentError) Error() string {
	return fmt.Sprintf("segment %s: %v", e.seg, e.reason)
}

// recover opens the partition's segments from disk. On a clean shutdown it
// trusts the indexes (rebuilding only those that are missing or fail a
// sanity check); otherwise it rescans and rebuilds every segment from the
// one holding the recovery point, truncating at the first bad batch and
// dropping every later segment so that offsets stay contiguous, as Kafka's
// LogLoader does. A bad batch that the producer-state replay meets in a
// segment that was trusted makes it start again, rescanning from that
// segment; each try starts lower, so there are at most as many as
// segments.
func (p *Partition) recover(info openInfo) (recoverStats, error) {
	var total recoverStats
	for {
		rs, err := p.recoverOnce(info)
		total.rescanned = total.rescanned || rs.rescanned
		total.truncated += rs.truncated
		var ce *corruptSegmentError
		if !errors.As(err, &ce) {
			return total, err
		}
		if info.hasRecoveryPoint && !info.clean && ce.base >= info.recoveryPoint {
			// Already rescanned from there: the replay must not meet it
			// again (a bug, not bad bytes), so give up on the partition.
			return total, p.errf(nil, -1, "recover producer state: %w: %v", model.ErrCorruptRecord, ce)
		}
		p.m.logger.Warn("corrupt batch in a trusted segment found by the producer-state replay; rescanning from it",
			"partition", p.tp.String(), "segment", ce.seg, "reason", ce.reason)
		p.releaseAll()
		p.segs = nil
		info.clean, info.hasRecoveryPoint, info.recoveryPoint = false, true, ce.base
	}
}

// recoverOnce is one try of recover.
func (p *Partition) recoverOnce(info openInfo) (recoverStats, error) {
	var rs recoverStats
	cfg := p.config()
	// A cleaning pass that committed before the stop is finished first;
	// one that did not leaves *.cleaned files, removed below.
	if done, err := completeSwap(p.m.fsys, p.dir); err != nil {
		return rs, p.storageErr(nil, -1, "complete an interrupted cleaner swap", err)
	} else if done {
		p.m.logger.Warn("completed an interrupted cleaner swap", "partition", p.tp.String())
		info.clean = false // the swapped segment's neighbours are checked
	}
	fresh, err := p.openSegments(info, cfg) // no segment on disk: the one created is empty, nothing to load or scan
	if err != nil {
		return rs, err
	}

	rescanFrom := len(p.segs)
	if !info.clean && !fresh {
		rescanFrom = 0
		if info.hasRecoveryPoint {
			for i, s := range p.segs {
				if s.base <= info.recoveryPoint {
					rescanFrom = i
				}
			}
		}
	}
	// Epoch entries of the rescanned segments come from their batches: the
	// file may have missed the newest (noteEpochs writes without fsync).
	var derived []epochEntry
	derive := func(h *BatchHeader) {
		e := model.Epoch(h.PartitionLeaderEpoch)
		if n := len(derived); e >= 0 && (n == 0 || e > derived[n-1].epoch) {
			derived = append(derived, epochEntry{epoch: e, start: h.BaseOffset})
		}
	}
	scanBase := model.Offset(-1)
	if rescanFrom < len(p.segs) {
		scanBase = p.segs[rescanFrom].base
	}
	for i := 0; i < len(p.segs); i++ {
		s := p.segs[i]
		last := i == len(p.segs)-1
		nextBase := model.Offset(-1)
		if !last {
			nextBase = p.segs[i+1].base
		}
		if fresh {
			break // a new empty segment: its state is already right
		}
		rebuild := i >= rescanFrom
		if !rebuild {
			ok, err := p.loadSegment(s, last, nextBase)
			if err != nil {
				return rs, p.storageErr(s, -1, "load indexes", err)
			}
			rebuild = !ok
			if !ok {
				what := "index failed its sanity check; rebuilding"
				if s.missingIdx {
					what = "index missing; rebuilding"
				}
				p.m.logger.Warn(what, "partition", p.tp.String(), "segment", s.name())
			}
		}
		if !rebuild {
			continue
		}
		rs.rescanned = true
		var onBatch func(*BatchHeader)
		if i >= rescanFrom {
			onBatch = derive
		}
		cut, reason, err := p.rebuildSegment(s, cfg, onBatch)
		if err != nil {
			return rs, p.storageErr(s, -1, "recover", err)
		}
		overlap := !last && s.comm.nextOffset > nextBase
		if cut == 0 && !overlap {
			continue
		}
		if reason == nil && overlap {
			reason = fmt.Errorf("its offsets reach %d, past the next segment's base %d", int64(s.comm.nextOffset)-1, int64(nextBase))
		}
		rs.truncated += p.dropAfter(i, cut, reason)
		break
	}
	if rs.rescanned {
		if err := p.m.fsys.SyncDir(p.dir); err != nil {
			return rs, p.storageErr(nil, -1, "recover: sync dir", err)
		}
	}

	a := p.active()
	p.commActive = a
	p.logEnd = a.comm.nextOffset
	p.nextOffset, p.hw = p.logEnd, p.logEnd

	p.logStart = p.segs[0].base
	if info.hasLogStart && info.logStart > p.logStart {
		p.logStart = min(info.logStart, p.logEnd)
	}
	p.maxTs, p.maxTsOff = -1, -1
	for _, s := range p.segs {
		if s.comm.maxTs > p.maxTs {
			p.maxTs, p.maxTsOff = s.comm.maxTs, s.comm.maxTsOff
		}
	}
	if info.clean && !rs.rescanned {
		p.recoveryPoint.Store(int64(p.logEnd))
	} else {
		p.recoveryPoint.Store(int64(a.base))
	}

	// Segments rescanned may have lost .txnindex entries: the replay
	// starts at or below the first of them.
	replayLimit := model.Offset(p.recoveryPoint.Load())
	if scanBase >= 0 {
		replayLimit = min(replayLimit, scanBase)
	}
	if err := p.recoverProducers(replayLimit); err != nil {
		var ce *corruptSegmentError
		if errors.As(err, &ce) {
			return rs, err
		}
		return rs, p.storageErr(nil, -1, "recover producer state", err)
	}
	for _, s := range p.segs {
		if s.txnIndexBad != nil {
			if err := rewriteTxnIndex(s); err != nil {
				return rs, p.storageErr(s, -1, "rewrite a malformed .txnindex", err)
			}
		}
	}
	es, unreadable, err := p.loadEpochs(scanBase, derived)
	if err != nil {
		return rs, err
	}
	p.epochs = truncateEpochsFromStart(truncateEpochsFromEnd(es, p.logEnd), p.logStart)
	if unreadable || !sameEpochs(es, p.epochs) {
		// Rewritten (two fsyncs) only when recovery changed it: a restart
		// of many partitions must not pay them for nothing.
		if err := p.writeEpochs(); err != nil {
			return rs, p.storageErr(nil, -1, "write leader-epoch-checkpoint", err)
		}
	}
	p.deleteSegmentsBelowLogStart()
	p.closeInactiveIndexFiles()
	p.publish()
	return rs, nil
}

// dropAfter deletes the segments after p.segs[i], whose log recovery cut
// by cut bytes at a bad batch (or whose offsets overlap the next one's), so
// that offsets stay contiguous, and logs one line saying what was lost. It
// returns the bytes dropped.
func (p *Partition) dropAfter(i int, cut int64, reason error) int64 {
	s := p.segs[i]
	dropped, deleted := cut, 0
	for _, later := range p.segs[i+1:] {
		if fi, err := later.log.Stat(); err == nil {
			dropped += fi.Size()
		}
		removeSegmentFiles(later)
		later.release()
		deleted++
	}
	p.segs = p.segs[:i+1]
	p.m.logger.Warn("log truncated at a torn or corrupt batch", "partition", p.tp.String(), "segment", s.name(),
		"offset", int64(s.comm.nextOffset), "bytes_dropped", dropped, "segments_deleted", deleted, "reason", reason)
	return dropped
}

// openSegments lists the partition dir, removes leftovers (temporary and
// cleaner files, orphan indexes) and sets up p.segs from the .log files,
// opening nothing yet; fresh: there was none, and the one created is empty.
func (p *Partition) openSegments(info openInfo, cfg *Config) (fresh bool, err error) {
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return false, p.storageErr(nil, -1, "list the partition dir", err)
	}
	var bases []model.Offset
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, tmpSuffix), strings.HasSuffix(name, ".deleted"),
			strings.HasSuffix(name, ".swap"), strings.HasSuffix(name, ".cleaned"):
			p.m.fsys.Remove(filepath.Join(p.dir, name))
		case strings.HasSuffix(name, logSuffix):
			v, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix), 10, 64)
			if err == nil && v >= 0 {
				bases = append(bases, model.Offset(v))
			} else {
				p.m.logger.Warn("ignoring a file whose name is not a segment's", "partition", p.tp.String(), "file", name)
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	if len(bases) == 0 {
		start := model.Offset(0)
		if info.hasLogStart && info.logStart > 0 {
			start = info.logStart
		}
		s, err := openSegmentFiles(p.m.files, p.dir, start, true, cfg.SegmentIndexBytes)
		if err != nil {
			return false, err
		}
		s.createdMs = p.m.now().UnixMilli()
		p.segs = []*segment{s}
		fresh = true
	} else {
		for _, b := range bases {
			missing := !fileExists(filepath.Join(p.dir, segmentName(b, indexSuffix))) ||
				!fileExists(filepath.Join(p.dir, segmentName(b, timeIndexSuffix)))
			s, err := openSegmentFiles(p.m.files, p.dir, b, false, cfg.SegmentIndexBytes)
			if err != nil {
				p.releaseAll()
				return false, p.storageErr(nil, -1, "open segment "+segmentName(b, logSuffix), err)
			}
			s.missingIdx = missing
			if s.txnIndexBad != nil {
				p.m.logger.Warn("ignoring the malformed tail of a .txnindex; rewritten with the entries before it and the replay's",
					"partition", p.tp.String(), "segment", s.name(), "kept", len(s.pend.aborted), "err", s.txnIndexBad)
			}
			if fi, err := s.log.Stat(); err == nil {
				s.createdMs = fi.ModTime().UnixMilli()
			}
			p.segs = append(p.segs, s)
		}
	}
	// Orphan index files (no .log) would confuse the next roll.
	for _, e := range ents {
		name := e.Name()
		for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if strings.HasSuffix(name, suf) {
				v, err := strconv.ParseInt(strings.TrimSuffix(name, suf), 10, 64)
				if err == nil && !containsBase(bases, model.Offset(v)) {
					p.m.fsys.Remove(filepath.Join(p.dir, name))
				}
			}
		}
	}
	return fresh, nil
}

// closeInactiveIndexFiles closes the index files of every segment but the
// active one now, rather than when the file cache's bound reaches them:
// their entries are in memory and nothing writes them again (a roll, a
// rollback and shutdown write only the active segment's; TruncateTo
// reopens the segment it cuts). A partition with many segments then holds
// at most one descriptor per segment plus two, and an idle one none once
// the bound closes them.
func (p *Partition) closeInactiveIndexFiles() {
	for _, s := range p.segs[:len(p.segs)-1] {
		s.idxF.evict()
		s.tidxF.evict()
	}
}

// sameEpochs reports whether two epoch lists are equal.
func sameEpochs(a, b []epochEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func containsBase(bases []model.Offset, b model.Offset) bool {
	for _, x := range bases {
		if x == b {
			return true
		}
	}
	return false
}

// recoverProducers loads the latest readable snapshot at or below limit
// (the recovery point: what is below it is durable, its .txnindex files
// included) and replays the batches after it: producer state, open
// transactions, and the aborted transactions of every replayed segment,
// whose .txnindex is rewritten when it differs.
func (p *Partition) recoverProducers(limit model.Offset) error {
	end := p.logEnd
	removeSnapshots(p.m.fsys, p.dir, func(o model.Offset) bool { return o > end })
	offs, err := listSnapshots(p.dir)
	if err != nil {
		return err
	}
	p.producers = producerState{}
	from := p.segs[0].base
	for i := len(offs) - 1; i >= 0; i-- {
		if offs[i] > limit {
			continue
		}
		data, err := os.ReadFile(filepath.Join(p.dir, segmentName(offs[i], snapshotSuffix)))
		if err != nil {
			continue
		}
		ps, off, err := decodeProducerSnapshot(data)
		if err != nil || off != offs[i] || off < from {
			// Removed, as Kafka removes a corrupt snapshot, so that the
			// next start does not meet (and report) it again.
			p.m.logger.Warn("removing unreadable producer snapshot; the state comes from an older one or the log", "partition", p.tp.String(),
				"offset", int64(offs[i]), "err", err)
			p.m.fsys.Remove(filepath.Join(p.dir, segmentName(offs[i], snapshotSuffix)))
			continue
		}
		p.producers, from = ps, off
		break
	}
	p.firstOpen = p.producers.firstOpen()
	for _, s := range p.segs {
		if s.comm.nextOffset <= from && s.base < from {
			continue
		}
		// The segment's aborted transactions: those before the replay
		// start stay, the rest come from the replay.
		var aborted []AbortedTxn
		for _, a := range s.comm.aborted {
			if a.LastOffset < from {
				aborted = append(aborted, a)
			}
		}
		pos, _, ok, err := s.findBatch(from, s.comm.size)
		if err != nil {
			return err
		}
		if ok {
			_, _, reason, err := scanSegment(s, pos, false, func(h *BatchHeader, _ int64, batch []byte) bool {
				if h.ProducerID < 0 || h.BaseOffset < from {
					return true
				}
				_, e := p.producers.update(h, batch)
				p.noteTxn(h, e)
				if e != nil && !e.commit && e.first >= 0 {
					aborted = append(aborted, AbortedTxn{ProducerID: e.pid, FirstOffset: e.first, LastOffset: e.last, LastStableOffset: min(p.firstOpen, e.last+1)})
				}
				return true
			})
			if err != nil {
				return err
			}
			if reason != nil {
				return &corruptSegmentError{seg: s.name(), base: s.base, reason: reason}
			}
		}
		if err := s.setAborted(aborted); err != nil {
			return fmt.Errorf("segment %s: rewrite .txnindex: %w", s.name(), err)
		}
	}
	p.producers.trim(p.logStart)
	p.firstOpen = p.producers.firstOpen()
	return nil
}

// releaseAll drops the owner reference of every segment.
func (p *Partition) releaseAll() {
	for _, s := range p.segs {
		s.release()
	}
}

// deriveEpochsBelow reads the batch headers below limit for the first
// offset of each leader epoch (the leader-epoch-checkpoint's entries).
func (p *Partition) deriveEpochsBelow(limit model.Offset) ([]epochEntry, error) {
	var out []epochEntry
	for _, s := range p.segs {
		if s.base >= limit {
			break
		}
		_, _, _, err := scanSegment(s, 0, false, func(h *BatchHeader, _ int64, _ []byte) bool {
			if h.BaseOffset >= limit {
				return false
			}
			e := model.Epoch(h.PartitionLeaderEpoch)
			if n := len(out); e >= 0 && (n == 0 || e > out[n-1].epoch) {
				out = append(out, epochEntry{epoch: e, start: h.BaseOffset})
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("segment %s: %w", s.name(), err)
		}
	}
	return out, nil
}

// loadEpochs reads the leader-epoch-checkpoint and repairs it from the
// batches: those rescanned (derived, from scanBase on), and, where a power
// loss left the file unreadable or cut from the start ahead of the log
// start, the headers below. changed: the file must be rewritten.
func (p *Partition) loadEpochs(scanBase model.Offset, derived []epochEntry) (es []epochEntry, changed bool, err error) {
	es, err = readEpochs(filepath.Join(p.dir, leaderEpochFile))
	if err != nil {
		// Written without fsync on the append path, the file can be torn
		// by a power loss; its entries below the rescan come from the
		// batch headers then, or the epochs of those batches would be
		// lost (found by TestPowerLoss).
		limit := scanBase
		if limit < 0 {
			limit = p.logEnd
		}
		readErr := err
		if es, err = p.deriveEpochsBelow(limit); err != nil {
			return nil, false, p.storageErr(nil, -1, "rebuild leader epochs", err)
		}
		p.m.logger.Warn("leader-epoch-checkpoint unreadable; rebuilt from the batch headers", "partition", p.tp.String(),
			"entries", len(es), "err", readErr)
		err = readErr
	}
	unreadable := err != nil
	if len(es) > 0 && es[0].start > p.logStart {
		// A log start move cuts the file from the start durably before
		// its log-start checkpoint is written: after a crash between the
		// two, the batches below the first entry get theirs back from
		// their headers (found by TestPowerLoss).
		low, err := p.deriveEpochsBelow(es[0].start)
		if err != nil {
			return nil, false, p.storageErr(nil, -1, "rebuild leader epochs", err)
		}
		var merged []epochEntry
		for _, d := range low {
			if d.epoch < es[0].epoch {
				merged = append(merged, d)
			} else if d.epoch == es[0].epoch {
				es[0].start = d.start
				break
			}
		}
		if len(merged) > 0 || len(low) > 0 {
			es = append(merged, es...)
			unreadable = true // rewritten below
		}
	}
	if scanBase >= 0 {
		// Trust the file below the rescan (durable before the recovery
		// point passed it), the batches above it.
		merged := truncateEpochsFromEnd(es, scanBase)
		for _, d := range derived {
			if n := len(merged); n == 0 || d.epoch > merged[n-1].epoch {
				merged = append(merged, d)
			}
		}
		if !sameEpochs(merged, es) {
			p.m.logger.Info("leader epochs rebuilt from the rescanned batches", "partition", p.tp.String(),
				"from_file", len(es), "now", len(merged))
		}
		es, unreadable = merged, unreadable || !sameEpochs(merged, es)
	}
	return es, unreadable, nil
}

// quarantineDirSuffix ends the name of a partition dir that could not be
// opened at startup: "<topic>-<partition>.<random>-quarantine". OpenManager
// skips it (parsePartitionDir does not parse it) and never removes it (it
// does not end in deleteDirSuffix): the files stay for the operator.
const quarantineDirSuffix = "-quarantine"

// quarantine moves the dir of a partition whose open failed (cause) aside,
// durably, so that the broker starts without it, and logs one line saying
// where it went, why, and what happens next. The metadata's reconcile then
// creates an empty log of that name if the broker still hosts a replica:
// in a cluster it refetches from the leader; as the only replica it
// restarts empty. An error (the dir cannot be renamed) means the data dir
// itself is failing: OpenManager fails as before.
func (m *Manager) quarantine(tp model.TopicPartition, cause error) error {
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	from := filepath.Join(m.cfg.Dir, tp.String())
	to := filepath.Join(m.cfg.Dir, fmt.Sprintf("%s.%x%s", tp, suffix, quarantineDirSuffix))
	if err := m.fsys.Rename(from, to); err != nil {
		m.logger.Error("cannot open partition, nor move it aside", "partition", tp.String(), "err", cause, "rename_err", err)
		return err
	}
	if err := m.fsys.SyncDir(m.cfg.Dir); err != nil {
		m.logger.Error("cannot open partition, nor make its move aside durable", "partition", tp.String(), "err", cause, "sync_err", err)
		return err
	}
	m.stats.Quarantined = append(m.stats.Quarantined, Quarantined{TP: tp, Dir: to, Err: cause})
	m.logger.Error("partition quarantined: its files cannot be opened, starting without it", "partition", tp.String(),
		"moved_to", to, "err", cause,
		"then", "the broker reports the replica offline so that leadership and the ISR move to another replica, then re-creates it empty to refetch from the leader; a partition with no other in-sync copy stays offline (KAFKA_STORAGE_ERROR) unless unclean.leader.election.enable; the old files stay in moved_to for the operator")
	return nil
}

// dropQuarantinedCheckpoints rewrites the checkpoint files without the
// quarantined partitions, so that a new log of the same name does not
// inherit their log start or recovery point after a crash. On failure the
// next CreatePartitions tries again (staleCheckpoints).
func (m *Manager) dropQuarantinedCheckpoints() {
	if len(m.stats.Quarantined) == 0 {
		return
	}
	err := m.CheckpointAll()
	if err == nil {
		err = m.writeCleanerCheckpoint()
	}
	if err != nil {
		m.logger.Warn("cannot rewrite the checkpoints without the quarantined partitions; retried before the next partition is created", "err", err)
		m.staleCheckpoints = true
	}
}

// rewriteTxnIndex rewrites the .txnindex of a segment whose file had a
// malformed tail with the entries kept (and the replay's), so that the next
// start does not meet it again.
func rewriteTxnIndex(s *segment) error {
	want := s.comm.aborted
	// setAborted writes only a list that differs from comm's.
	s.comm.aborted = nil
	if len(want) == 0 {
		s.comm.aborted = []AbortedTxn{{ProducerID: -1}}
	}
	if err := s.setAborted(want); err != nil {
		return err
	}
	s.txnIndexBad = nil
	return nil
}
