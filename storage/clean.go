package storage

import (
	"bufio"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// One cleaning pass over one compacted partition (the cleaner's loop,
// selection and checkpoint are in cleaner.go).
//
//  1. Plan, on the shard (no I/O): the segments from the log start up to
//     the first one that may not be cleaned yet (the active segment, one
//     reaching past the high watermark, or one inside
//     min.compaction.lag.ms), each with a reader reference, and the first
//     dirty offset (from cleaner-offset-checkpoint).
//  2. Off the shard: a key -> latest offset map over the dirty section,
//     segment by segment while it fits the dedupe buffer.
//  3. Off the shard: every planned segment, grouped up to segment.bytes,
//     rewritten into <base>.log.cleaned (+ .index.cleaned and
//     .timeindex.cleaned) with only the records whose key has no later
//     offset in the map, tombstones dropped once their segment was cleaned
//     more than delete.retention.ms ago, records without a key dropped.
//     Batches keep their offsets; a batch left empty stays as a bare
//     header when it is its producer's latest (idempotence needs it).
//  4. Commit: the manifest cleaner.swap (new base and replaced bases per
//     group) is written durably; then, on the shard, only renames: each
//     replaced segment's files to *.deleted, the cleaned files to their
//     final names, and the segment list swapped. Readers holding a replaced
//     segment keep reading it until they release it. Then, off the shard,
//     the dir is synced, the manifest and the *.deleted files removed.
//
// Recovery (completeSwap) finds the manifest after a crash at any step and
// finishes the swap; without a manifest, *.cleaned files are a pass that
// never committed and are removed.

// swapManifest is the commit record of a pass, in the partition dir.
const swapManifest = "cleaner.swap"

// Suffixes of a pass's files.
const (
	cleanedSuffix = ".cleaned"
	deletedSuffix = ".deleted"
)

// cleanPlan is what a pass cleans, taken on the shard.
type cleanPlan struct {
	segs       []*segment // log start up to end, each acquired
	end        model.Offset
	firstDirty model.Offset
	// producerLast is each producer's latest batch's last offset: a batch
	// emptied by cleaning stays (as a bare header) when it is that batch.
	producerLast map[int64]model.Offset
	truncs       uint64
	// aborted are the partition's aborted transactions by producer (from
	// every segment's .txnindex): their data goes, and never enters the
	// key map.
	aborted map[int64][]AbortedTxn
}

// isAborted says whether a transactional batch of pid at off belongs to
// an aborted transaction.
func (pl *cleanPlan) isAborted(pid int64, off model.Offset) bool {
	for _, a := range pl.aborted[pid] {
		if a.FirstOffset <= off && off <= a.LastOffset {
			return true
		}
	}
	return false
}

// txnTrack follows transactions through a pass's rewrite, in log order: a
// marker may go once no data of its transaction is left and its delete
// horizon passed (Kafka's rule), and the .txnindex entries of removed
// abort markers go with them.
type txnTrack struct {
	data    map[int64]bool        // producer -> its current transaction kept data
	dropped map[model.Offset]bool // markers removed, by offset
}

func newTxnTrack() *txnTrack {
	return &txnTrack{data: map[int64]bool{}, dropped: map[model.Offset]bool{}}
}

func (pl *cleanPlan) release() {
	for _, s := range pl.segs {
		s.release()
	}
	pl.segs = nil
}

// segEnd is the offset after segment i of the plan (the next one's base).
func (pl *cleanPlan) segEnd(i int) model.Offset {
	if i+1 < len(pl.segs) {
		return pl.segs[i+1].base
	}
	return pl.end
}

// planClean takes the plan on the shard; nil when there is nothing dirty
// to clean.
func (p *Partition) planClean(nowMs int64) (*cleanPlan, error) {
	var pl *cleanPlan
	err := p.onShard(nil, func() error {
		cfg := p.config()
		if p.closed || !cfg.Compact || len(p.segs) < 2 {
			return nil
		}
		n, end := 0, p.segs[0].base
		for i := 0; i < len(p.segs)-1; i++ {
			s, next := p.segs[i], p.segs[i+1].base
			ts := s.comm.maxTs
			if ts < 0 {
				ts = s.createdMs
			}
			// Open transactions may still abort: cleaning stops below
			// the last stable offset.
			if next > min(p.hw, p.firstOpen) || (cfg.MinCompactionLagMs > 0 && nowMs-ts < cfg.MinCompactionLagMs) {
				break
			}
			n, end = i+1, next
		}
		firstDirty := max(model.Offset(p.cleanedTo.Load()), p.segs[0].base)
		if n == 0 || end <= firstDirty {
			return nil
		}
		pl = &cleanPlan{end: end, firstDirty: firstDirty, truncs: p.truncs.Load(), producerLast: map[int64]model.Offset{}}
		for _, s := range p.segs[:n] {
			s.acquire() // the shard holds the owner reference: cannot fail
			pl.segs = append(pl.segs, s)
		}
		for pid, e := range p.producers {
			if e.lastOff >= 0 {
				pl.producerLast[pid] = e.lastOff
			}
		}
		for _, s := range p.segs {
			for _, a := range s.comm.aborted {
				if pl.aborted == nil {
					pl.aborted = map[int64][]AbortedTxn{}
				}
				pl.aborted[a.ProducerID] = append(pl.aborted[a.ProducerID], a)
			}
		}
		return nil
	})
	return pl, err
}

// keyHash names a key in the offset map (16 bytes, as Kafka's MD5 map).
type keyHash [16]byte

// offsetMap is the latest offset of each key of the dirty section.
type offsetMap map[keyHash]model.Offset

// forEachBatch reads s's batches in order with recovery's scan (each
// batch's framing, CRC and offsets checked), counting and throttling the
// bytes read, and calls fn with the header and the batch bytes (valid until
// fn returns). A batch that fails the checks is an error wrapping
// model.ErrCorruptRecord; fn's error stops the scan and is returned.
func forEachBatch(s *segment, c *cleaner, fn func(h *BatchHeader, batch []byte) error) error {
	var fnErr error
	_, _, reason, err := scanSegment(s, 0, true, func(h *BatchHeader, _ int64, batch []byte) bool {
		c.noteRead(len(batch))
		fnErr = fn(h, batch)
		return fnErr == nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("segment %s: %w", s.name(), err)
	case fnErr != nil:
		return fnErr
	case reason != nil:
		return fmt.Errorf("segment %s: %w: %w", s.name(), model.ErrCorruptRecord, reason)
	}
	return nil
}

// buildMap maps the keys of the dirty section to their latest offsets,
// segment by segment while the map stays within capacity entries. It
// returns the map and the offset where it stopped (the cleanable end for
// this pass); an error when not even the first dirty segment fits.
func buildMap(pl *cleanPlan, capacity int, c *cleaner) (offsetMap, model.Offset, error) {
	m := offsetMap{}
	for i, s := range pl.segs {
		if pl.segEnd(i) <= pl.firstDirty {
			continue
		}
		seg := offsetMap{}
		err := forEachBatch(s, c, func(h *BatchHeader, batch []byte) error {
			if h.Control() || h.LastOffset() < pl.firstDirty || h.Transactional() && pl.isAborted(h.ProducerID, h.BaseOffset) {
				return nil
			}
			recs, _, err := batchRecords(batch, h)
			if err != nil {
				return fmt.Errorf("segment %s offset %d: %w", s.name(), int64(h.BaseOffset), err)
			}
			for _, r := range recs {
				if off := h.BaseOffset + model.Offset(r.offsetDelta); r.key != nil && off >= pl.firstDirty {
					seg[md5.Sum(r.key)] = off
				}
			}
			return c.stopped()
		})
		if err != nil {
			return nil, 0, err
		}
		added := 0
		for k := range seg {
			if _, ok := m[k]; !ok {
				added++
			}
		}
		if len(m)+added > capacity {
			if len(m) == 0 {
				return nil, 0, fmt.Errorf("segment %s holds %d distinct keys; the dedupe buffer (log.cleaner.dedupe.buffer.size) holds %d", s.name(), added, capacity)
			}
			return m, s.base, nil
		}
		for k, v := range seg {
			m[k] = v
		}
	}
	return m, pl.end, nil
}

// cleanedGroup is one rewritten segment and the segments it replaces.
type cleanedGroup struct {
	seg     *segment // open on its *.cleaned files
	sources []*segment
}

// groupSegments splits segs (all below end) into runs of total size at most
// segBytes (a run has at least one segment) whose offsets fit one segment.
func groupSegments(pl *cleanPlan, n int, segBytes int64) [][]*segment {
	var groups [][]*segment
	for i := 0; i < n; {
		g := []*segment{pl.segs[i]}
		size := pl.segs[i].size.Load()
		j := i + 1
		for ; j < n; j++ {
			sz := pl.segs[j].size.Load()
			if size+sz > segBytes || pl.segEnd(j)-pl.segs[i].base > 1<<31-1 {
				break
			}
			g = append(g, pl.segs[j])
			size += sz
		}
		groups = append(groups, g)
		i = j
	}
	return groups
}

// writeCleaned rewrites one group into a new segment on *.cleaned files,
// synced, indexes built.
func (p *Partition) writeCleaned(pl *cleanPlan, sources []*segment, om offsetMap, end model.Offset, nowMs int64, c *cleaner, tx *txnTrack) (*segment, error) {
	cfg := p.config()
	seg, err := openSegmentFilesSuffix(p.m.files, p.dir, sources[0].base, cfg.SegmentIndexBytes, cleanedSuffix)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		seg.release()
		removeSegmentFiles(seg)
		return nil, err
	}
	// Positional writes: the cache may close and reopen the descriptor
	// between two of them.
	w := bufio.NewWriterSize(&throttledWriter{w: io.NewOffsetWriter(seg.log, 0), c: c}, 256<<10)
	// A tombstone goes once the pass that first cleaned it is more than
	// delete.retention.ms ago (horizons.go).
	horizon := nowMs - cfg.DeleteRetentionMs
	expired := func(off model.Offset) bool {
		ms, ok := p.horizons.firstCleanedMs(off)
		return ok && off < pl.firstDirty && ms < horizon
	}
	for _, s := range sources {
		err := forEachBatch(s, c, func(h *BatchHeader, batch []byte) error {
			out, err := cleanBatch(pl, h, batch, om, end, expired, tx)
			if err != nil {
				return fmt.Errorf("segment %s offset %d: %w", s.name(), int64(h.BaseOffset), err)
			}
			if out != nil {
				if _, err := w.Write(out); err != nil {
					return err
				}
			}
			return c.stopped()
		})
		if err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if _, _, err := p.rebuildSegment(seg, cfg, nil); err != nil {
		return fail(err)
	}
	var aborted []AbortedTxn
	for _, s := range sources {
		for _, a := range s.comm.aborted {
			if !tx.dropped[a.LastOffset] {
				aborted = append(aborted, a)
			}
		}
	}
	if err := seg.setAborted(aborted); err != nil {
		return fail(err)
	}
	seg.createdMs = nowMs
	return seg, nil
}

// cleanBatch returns what stays of one batch: the batch itself when every
// record stays, a rebuilt one, a bare header, or nil. Records of aborted
// transactions go; a marker goes once its transaction kept no data and its
// delete horizon passed.
func cleanBatch(pl *cleanPlan, h *BatchHeader, batch []byte, om offsetMap, end model.Offset, expired func(model.Offset) bool, tx *txnTrack) ([]byte, error) {
	if h.BaseOffset >= end {
		return batch, nil
	}
	if h.Control() {
		if h.ProducerID < 0 {
			return batch, nil
		}
		kept := tx.data[h.ProducerID]
		delete(tx.data, h.ProducerID)
		if last, ok := pl.producerLast[h.ProducerID]; !kept && expired(h.BaseOffset) && (!ok || last != h.LastOffset()) {
			tx.dropped[h.BaseOffset] = true
			return nil, nil
		}
		return batch, nil
	}
	recs, _, err := batchRecords(batch, h)
	if err != nil {
		return nil, err
	}
	aborted := h.Transactional() && pl.isAborted(h.ProducerID, h.BaseOffset)
	keep := recs[:0:0]
	for _, r := range recs {
		off := h.BaseOffset + model.Offset(r.offsetDelta)
		if r.key == nil || aborted {
			continue // a compacted topic's records have keys; this one cannot be compacted
		}
		if latest, ok := om[md5.Sum(r.key)]; ok && latest > off && off < end {
			continue
		}
		if r.nullValue && expired(off) {
			continue
		}
		keep = append(keep, r)
	}
	if len(keep) > 0 && h.Transactional() {
		tx.data[h.ProducerID] = true
	}
	switch {
	case len(keep) == len(recs):
		return batch, nil
	case len(keep) == 0:
		if last, ok := pl.producerLast[h.ProducerID]; ok && h.ProducerID >= 0 && last == h.LastOffset() {
			return rebuildBatch(batch, h, nil)
		}
		return nil, nil
	}
	return rebuildBatch(batch, h, keep)
}

// writeManifest records the groups durably: the pass's commit point.
func writeManifest(fsys vfs.FS, dir string, groups []cleanedGroup) error {
	var b strings.Builder
	b.WriteString("ringtail-cleaner-swap 1\n")
	for _, g := range groups {
		b.WriteString(strconv.FormatInt(int64(g.seg.base), 10))
		for _, s := range g.sources {
			b.WriteString(" " + strconv.FormatInt(int64(s.base), 10))
		}
		b.WriteString("\n")
	}
	return writeFileAtomic(fsys, filepath.Join(dir, swapManifest), []byte(b.String()), true)
}

// swapGroup is one line of the manifest.
type swapGroup struct {
	base    model.Offset
	sources []model.Offset
}

var errBadManifest = errors.New("storage: malformed " + swapManifest)

// parseManifest decodes cleaner.swap.
func parseManifest(data []byte) ([]swapGroup, error) {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "ringtail-cleaner-swap 1" {
		return nil, fmt.Errorf("%w: no header or no group", errBadManifest)
	}
	var out []swapGroup
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 2 {
			return nil, fmt.Errorf("%w: line %q", errBadManifest, l)
		}
		var g swapGroup
		for i, x := range f {
			v, err := strconv.ParseInt(x, 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%w: offset %q", errBadManifest, x)
			}
			if i == 0 {
				g.base = model.Offset(v)
			} else {
				g.sources = append(g.sources, model.Offset(v))
			}
		}
		if g.sources[0] != g.base {
			return nil, fmt.Errorf("%w: group %d does not start with its base", errBadManifest, int64(g.base))
		}
		out = append(out, g)
	}
	return out, nil
}

// completeSwap finishes a pass that had committed (cleaner.swap present)
// when the node stopped: every group's replaced files go and its cleaned
// files take their names. Called by recovery before the dir is read.
func completeSwap(fsys vfs.FS, dir string) (bool, error) {
	path := filepath.Join(dir, swapManifest)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	groups, err := parseManifest(data)
	if err != nil {
		return false, err
	}
	suffixes := []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix}
	for _, g := range groups {
		renamed := !fileExists(filepath.Join(dir, segmentName(g.base, logSuffix)+cleanedSuffix))
		for _, src := range g.sources {
			for _, suf := range suffixes {
				name := filepath.Join(dir, segmentName(src, suf))
				removeIfExists(fsys, name+deletedSuffix)
				if !renamed || src != g.base {
					removeIfExists(fsys, name)
				}
			}
		}
		if !renamed {
			// Indexes first, the log last: the log's rename is what
			// tells a later recovery that the group is done.
			for _, suf := range []string{txnIndexSuffix, indexSuffix, timeIndexSuffix, logSuffix} {
				name := filepath.Join(dir, segmentName(g.base, suf))
				if err := fsys.Rename(name+cleanedSuffix, name); err != nil && !errors.Is(err, os.ErrNotExist) {
					return false, err
				}
			}
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return false, err
	}
	if err := fsys.Remove(path); err != nil {
		return false, err
	}
	return true, fsys.SyncDir(dir)
}

// removeIfExists removes path; a failure leaves a file the next recovery
// removes.
func removeIfExists(fsys vfs.FS, path string) { _ = fsys.Remove(path) }
