package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"sync/atomic"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
)

// Config is the per-partition log configuration; the daemon fills it from
// topic configs.
type Config struct {
	SegmentBytes       int64 // roll when the active segment would exceed this
	SegmentMs          int64 // roll when the active segment's first record is older than this
	RetentionMs        int64 // -1 = forever; delete whole segments whose max timestamp is older
	RetentionBytes     int64 // -1 = unlimited; delete oldest whole segments while size exceeds it
	MaxMessageBytes    int32 // max batch size on the wire, header included
	IndexIntervalBytes int32 // default 4096
	SegmentIndexBytes  int32 // max .index size; roll when full (default 10 MiB)
	FlushMessages      int64 // relaxed mode: fsync after this many messages (0/MaxInt64 = never by count)
	FlushMs            int64 // relaxed mode: fsync at least this often (-1 = never)
	LogAppendTime      bool  // message.timestamp.type=LogAppendTime
	Durable            bool  // fsync in the same drain before completing (default true)

	// Compact is set when cleanup.policy includes compact: the cleaner
	// keeps the latest record per key, and records need a key.
	Compact            bool
	MinCleanableRatio  float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs int64   // min.compaction.lag.ms
	MaxCompactionLagMs int64   // max.compaction.lag.ms
	DeleteRetentionMs  int64   // delete.retention.ms: how long tombstones stay after their segment was cleaned
}

// DefaultConfig is Kafka's defaults with Durable on.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		RetentionMs:        7 * 24 * 3600 * 1000,
		RetentionBytes:     -1,
		MaxMessageBytes:    1048588,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            -1,
		Durable:            true,
		MinCleanableRatio:  0.5,
		MaxCompactionLagMs: math.MaxInt64,
		DeleteRetentionMs:  24 * 3600 * 1000,
	}
}

// normalized fills zero values with defaults so a zero Config is usable.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.SegmentIndexBytes < offsetIndexEntryBytes*2 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	if c.MaxCompactionLagMs <= 0 {
		c.MaxCompactionLagMs = d.MaxCompactionLagMs
	}
	return c
}

// view is what readers see: replaced as a whole, never modified.
type view struct {
	segs         []*segment
	logStart, hw model.Offset
	logEnd       model.Offset
	// lso is the last stable offset: the high watermark, or the first
	// offset of the earliest open transaction when that is lower.
	lso      model.Offset
	maxTs    int64
	maxTsOff model.Offset
	closed   bool
}

// errPastSegment: no batch of the segment reaches the offset, which lies in
// a gap that compaction left at the segment's end.
var errPastSegment = errors.New("offset past the segment's last batch")

// segAfter returns the segment after s in the view, or nil.
func (v *view) segAfter(s *segment) *segment {
	for i, x := range v.segs {
		if x == s && i+1 < len(v.segs) {
			return v.segs[i+1]
		}
	}
	return nil
}

// segFor returns the segment holding offset (the last with base <= offset).
func (v *view) segFor(offset model.Offset) (*segment, int) {
	i := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	return v.segs[i], i
}

// Partition is one partition's log. Writes run on its shard; reads use the
// published view.
type Partition struct {
	tp    model.TopicPartition
	dir   string
	m     *Manager
	shard *iocore.Shard

	cfg           atomic.Pointer[Config]
	view          atomic.Pointer[view]
	changed       atomic.Pointer[chan struct{}]
	changedWanted atomic.Bool
	recoveryPoint atomic.Int64
	// truncs counts TruncateTo calls that cut the log; Ranges read under an
	// older count may point at bytes that changed (ranges.go).
	truncs atomic.Uint64
	// topicID is the topic this log belongs to (partmeta.go).
	topicID atomic.Pointer[TopicID]
	// Compaction (cleaner.go): the first dirty offset, whether a pass
	// runs, why the partition was given up on, when it was last cleaned.
	cleanedTo   atomic.Int64
	cleaning    atomic.Bool
	uncleanable atomic.Pointer[string]
	lastCleanMs atomic.Int64
	horizons    horizons // when each cleaned range was first cleaned (horizons.go)

	// Everything below belongs to the shard goroutine (or to the single
	// goroutine that opens or closes the partition while no shard task can
	// run for it).
	segs       []*segment // pending list (may hold a segment rolled by an in-flight append)
	commActive *segment   // active segment as of the last successful commit
	nextOffset model.Offset
	logEnd     model.Offset // committed log end
	hw         model.Offset
	logStart   model.Offset
	maxTs      int64
	maxTsOff   model.Offset
	producers  producerState
	firstOpen  model.Offset   // producers.firstOpen(), kept up to date (noteTxn)
	undo       []producerUndo // undo records of prepared, uncompleted appends (FIFO)
	undoHead   int
	epochs     []epochEntry
	gen        uint64 // bumped by every rollback; stale tasks fail
	inflight   int
	closed     bool
	deleted    bool
	unflushed  int64 // relaxed mode: messages since the last fsync
	lastFlush  int64 // relaxed mode: ms of the last fsync
	externalHW bool  // the replication layer sets the high watermark (SetExternalHW)
	// epochsDirty: the leader-epoch-checkpoint was last written without
	// fsync (noteEpochs); it is made durable before the recovery point
	// passes its entries (bumpRecoveryPoint) and at close.
	epochsDirty bool
	// closeEnd is the log end a close flushed (its flush sets it).
	closeEnd model.Offset
}

// TopicPartition names the partition.
func (p *Partition) TopicPartition() model.TopicPartition { return p.tp }

// SetConfig replaces the configuration; the shard uses it from its next task
// on (new limits apply to the next append, the next roll, the next
// retention pass).
func (p *Partition) SetConfig(cfg Config) {
	c := cfg.normalized()
	p.cfg.Store(&c)
}

func (p *Partition) config() *Config { return p.cfg.Load() }

// Offsets returns the log start, high watermark and log end offsets.
func (p *Partition) Offsets() (logStart, highWatermark, logEnd model.Offset) {
	v := p.view.Load()
	return v.logStart, v.hw, v.logEnd
}

// Size returns the bytes in all segments and the number of segments.
func (p *Partition) Size() (bytes int64, segments int) {
	v := p.view.Load()
	for _, s := range v.segs {
		bytes += s.size.Load()
	}
	return bytes, len(v.segs)
}

// Changed returns a channel closed on the next high watermark advance. Call
// it before checking the offsets, then wait on it.
func (p *Partition) Changed() <-chan struct{} {
	p.changedWanted.Store(true)
	return *p.changed.Load()
}

func (p *Partition) notifyChanged() {
	if p.changedWanted.Swap(false) {
		ch := make(chan struct{})
		close(*p.changed.Swap(&ch))
	}
}

// active is the segment appends go to.
func (p *Partition) active() *segment { return p.segs[len(p.segs)-1] }

// publish replaces the readers' view with the shard's committed state.
func (p *Partition) publish() {
	p.view.Store(&view{
		segs: p.segs, logStart: p.logStart, hw: p.hw, logEnd: p.logEnd, lso: max(min(p.hw, p.firstOpen), p.logStart),
		maxTs: p.maxTs, maxTsOff: p.maxTsOff, closed: p.closed,
	})
}

// advanceHW is the replication seam: a single node moves the high watermark
// to the committed (and, when Durable, synced) log end. A replicated
// partition will hold it at the minimum of the in-sync replicas' ends.
func (p *Partition) advanceHW() bool {
	if p.externalHW || p.hw == p.logEnd {
		return false
	}
	p.hw = p.logEnd
	return true
}

// errf formats an error with the partition, segment and offset context.
func (p *Partition) errf(seg *segment, off model.Offset, format string, args ...any) error {
	prefix := "storage: " + p.tp.String() + ": "
	if seg != nil {
		prefix += "segment " + seg.name() + ": "
	}
	if off >= 0 {
		prefix += fmt.Sprintf("offset %d: ", int64(off))
	}
	return fmt.Errorf(prefix+format, args...)
}

// storageErr is an I/O error of the partition's files; a disk error takes
// the log dir offline (offline.go).
func (p *Partition) storageErr(seg *segment, off model.Offset, what string, err error) error {
	e := p.errf(seg, off, "%s: %w: %w", what, model.ErrStorage, err)
	if IsDiskError(err) {
		p.m.goOffline(e)
	}
	return e
}

// AppendResult is the outcome of one Append.
type AppendResult struct {
	BaseOffset, LastOffset model.Offset
	LogAppendTime          int64 // -1 unless LogAppendTime
	LogStartOffset         model.Offset
	Err                    error // wraps a model.Err* sentinel
}

// appendTask carries one Append through the shard.
type appendTask struct {
	p       *Partition
	records []byte
	hdrs    []BatchHeader
	nrecs   int
	epoch   model.Epoch
	done    func(AppendResult)
	replica bool // AppendReplica: offsets and epochs kept as fetched
	// marker is set for AppendMarker: records is its control batch.
	marker *Marker
	// txnBatches: some batch is transactional or a control batch, so the
	// open transactions may change.
	txnBatches bool
	ends       []txnEnd // transactions the task's markers closed

	gen    uint64
	res    AppendResult
	io     bool // added I/O to the batch
	wrote  bool // appended records (not a duplicate or a rejection)
	seg    *segment
	after  segState // seg.pend right after this task
	end    model.Offset
	idx    []pendingIdx
	undoN  int
	rolled *segment // the segment this task made inactive
	oldEnd segState // its final state
	rollTo model.Offset
	// pinned are the files whose descriptors the task's I/O uses,
	// unpinned in Complete (fdcache.go); more spill to pinnedMore.
	pinned     [4]*cachedFile
	npinned    int
	pinnedMore []*cachedFile
	// logGen is the .log's write generation of this task's write;
	// logSynced: the batch fsyncs the .log after it.
	logGen    uint64
	logSynced bool
	lastGen   uint64 // the generation of the last pin
}

// pinFiles pins the descriptors the shard's batch gets for the task's
// writes, until Complete: the .log, and the index files when the task
// writes an entry (-1 when not).
func (t *appendTask) pinFiles(seg *segment, cfg *Config, nowMs int64) (logFd, idxFd, tidxFd int, err error) {
	needIdx, needTidx := seg.pend.indexEntriesDue(seg, t.hdrs, cfg, t.replica, nowMs)
	idxFd, tidxFd = -1, -1
	if logFd, err = t.pin(seg.log); err != nil {
		return
	}
	t.logGen = t.lastGen
	if needIdx {
		if idxFd, err = t.pin(seg.idxF); err != nil {
			return
		}
	}
	if needTidx {
		tidxFd, err = t.pin(seg.tidxF)
	}
	return
}

// pin pins f for the task's I/O (a write or an fsync, counted as a write:
// fdcache.go) and returns its descriptor.
func (t *appendTask) pin(f *cachedFile) (int, error) {
	of, g, err := f.pinWrite()
	if err != nil {
		return -1, err
	}
	t.lastGen = g
	if t.npinned < len(t.pinned) {
		t.pinned[t.npinned] = f
		t.npinned++
	} else {
		t.pinnedMore = append(t.pinnedMore, f)
	}
	return int(of.Fd()), nil
}

// unpinAll drops the task's pins once its I/O is done.
func (t *appendTask) unpinAll() {
	for _, f := range t.pinned[:t.npinned] {
		f.unpin()
	}
	for _, f := range t.pinnedMore {
		f.unpin()
	}
	t.pinned, t.npinned, t.pinnedMore = [4]*cachedFile{}, 0, nil
}

// pendingIdx is an index entry written by a task, published on success.
type pendingIdx struct {
	seg  *segment
	time bool
	e    indexEntry
}

// Append validates records on the caller's goroutine and queues them on the
// shard. done is called exactly once, possibly on the shard goroutine, and
// must not block. records must stay untouched until done runs: the shard
// rewrites baseOffset and partitionLeaderEpoch (and, with LogAppendTime,
// maxTimestamp, attributes and CRC) in place.
func (p *Partition) Append(records []byte, leaderEpoch model.Epoch, done func(AppendResult)) {
	cfg := p.config()
	n, nrecs, err := ValidateBatches(records, cfg.MaxMessageBytes)
	if err == nil && cfg.Compact {
		err = checkRecordKeys(records)
	}
	if err != nil {
		done(p.failResult(p.errf(nil, -1, "append: %w", err)))
		return
	}
	t := &appendTask{p: p, records: records, epoch: leaderEpoch, done: done, nrecs: nrecs, hdrs: make([]BatchHeader, n)}
	pos := 0
	for i := range t.hdrs {
		t.hdrs[i], _ = ParseBatchHeader(records[pos:])
		t.txnBatches = t.txnBatches || t.hdrs[i].Transactional()
		pos += t.hdrs[i].Size()
	}
	if err := p.shard.Submit(t); err != nil {
		done(p.failResult(p.errf(nil, -1, "append: %w: %w", model.ErrClosed, err)))
	}
}

func (p *Partition) failResult(err error) AppendResult {
	return AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: p.view.Load().logStart, Err: err}
}

// Prepare runs on the shard: roll if needed, check producer state, assign
// offsets and add the writes (and the sync).
func (t *appendTask) Prepare(b *iocore.Batch) {
	p := t.p
	t.gen = p.gen
	t.res = AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1}
	if p.closed {
		t.res.Err = p.errf(nil, -1, "append: %w", model.ErrClosed)
		return
	}
	if err := p.checkOnline("append", p.nextOffset); err != nil {
		t.res.Err = err
		return
	}
	cfg := p.config()
	nowMs := p.m.now().UnixMilli()
	size := int64(len(t.records))
	lastDelta := model.Offset(0)
	for i := range t.hdrs {
		lastDelta += model.Offset(t.hdrs[i].LastOffsetDelta) + 1
	}
	lastDelta--

	if reason := p.shouldRoll(cfg, size, lastDelta, len(t.hdrs), nowMs); reason != "" {
		if err := p.roll(b, t, reason); err != nil {
			t.res.Err = err
			return
		}
	}

	if t.replica {
		if !p.prepareReplica(t) {
			return
		}
	}
	// Producer state: check and apply batch by batch (a later batch of the
	// same request sees the earlier ones), undoing this task's changes if
	// any batch is refused or a duplicate.
	next := p.nextOffset
	pos := 0
	for i := range t.hdrs {
		h := &t.hdrs[i]
		batch := t.records[pos : pos+h.Size()]
		pos += h.Size()
		if t.replica {
			next = h.LastOffset() + 1
			continue
		}
		h.BaseOffset = next
		next += model.Offset(h.LastOffsetDelta) + 1
		if h.ProducerID < 0 {
			continue
		}
		var dup *duplicateBatch
		var err error
		if t.marker != nil {
			err = p.producers.checkMarker(*t.marker)
		} else {
			dup, err = p.producers.check(h)
		}
		if err != nil || dup != nil {
			p.undoTask(t)
			t.ends = nil
			if err != nil {
				t.res.Err = p.errf(nil, h.BaseOffset, "append: %w", err)
			} else {
				t.res.BaseOffset, t.res.LastOffset = dup.first, dup.last
			}
			return
		}
		u, end := p.producers.update(h, batch)
		p.undo = append(p.undo, u)
		t.undoN++
		p.noteTxn(h, end)
		if end != nil {
			t.ends = append(t.ends, *end)
		}
	}

	// Leader epoch cache: a new epoch starts at this append's base offset.
	if n := len(p.epochs); !t.replica && (n == 0 || t.epoch > p.epochs[n-1].epoch) {
		p.epochs = append(p.epochs[:n:n], epochEntry{epoch: t.epoch, start: p.nextOffset})
		if err := p.noteEpochs(); err != nil {
			p.m.logger.Warn("cannot write leader-epoch-checkpoint", "partition", p.tp.String(), "err", err)
		}
	}

	seg := p.active()
	logFd, idxFd, tidxFd, err := t.pinFiles(seg, cfg, nowMs)
	if err != nil {
		t.res.Err = p.storageErr(seg, p.nextOffset, "append: open segment file", err)
		p.undoTask(t)
		return
	}
	if p.m.files.overBound() {
		// Every open segment file is pinned by this drain (or another
		// shard's): complete the tasks prepared so far, releasing theirs,
		// before the next takes more.
		b.CommitAfter()
	}
	if !p.noteAborted(b, t, seg) {
		return
	}
	pos = int(seg.pend.size)
	st := &seg.pend
	if cfg.LogAppendTime && !t.replica {
		t.res.LogAppendTime = nowMs
	}
	off := 0
	for i := range t.hdrs {
		h := &t.hdrs[i]
		batch := t.records[off : off+h.Size()]
		if !t.replica {
			setBatchOffsetAndEpoch(batch, h.BaseOffset, t.epoch)
		}
		if cfg.LogAppendTime && !t.replica {
			setLogAppendTime(batch, nowMs)
			h.MaxTimestamp = nowMs
		}
		if e, te, ok := st.noteBatch(seg, h, int64(pos+off), cfg.IndexIntervalBytes); ok {
			b.Write(idxFd, int64(st.idxEntries-1)*offsetIndexEntryBytes, encodeOffsetEntry(e.key, e.val))
			t.idx = append(t.idx, pendingIdx{seg: seg, e: e})
			if te != nil {
				b.Write(tidxFd, int64(st.tidxEntries-1)*timeIndexEntryBytes, encodeTimeEntry(te.ts, te.key))
				t.idx = append(t.idx, pendingIdx{seg: seg, time: true, e: *te})
			}
		}
		off += h.Size()
	}
	b.Write(logFd, int64(pos), t.records)
	t.markIO()
	t.wrote = true
	if cfg.Durable {
		b.Sync(logFd)
		t.logSynced = true
	} else {
		p.unflushed += int64(t.nrecs)
		if p.flushDue(cfg, nowMs) {
			b.Sync(logFd)
			t.logSynced = true
			p.unflushed, p.lastFlush = 0, nowMs
		}
	}
	t.res.BaseOffset = t.hdrs[0].BaseOffset
	t.res.LastOffset = next - 1
	p.nextOffset = next
	t.seg, t.after, t.end = seg, seg.pend, next
}

// noteAborted adds the .txnindex entries of the transactions the task's
// abort markers closed to seg (the active segment), writing them in the
// batch. false: the index could not be opened; t.res holds the error and
// the task's producer changes are undone.
func (p *Partition) noteAborted(b *iocore.Batch, t *appendTask, seg *segment) bool {
	for _, e := range t.ends {
		if e.commit || e.first < 0 {
			continue
		}
		f, err := seg.txnIndexFile()
		var fd int
		if err == nil {
			fd, err = t.pin(f)
		}
		if err != nil {
			t.res.Err = p.storageErr(seg, e.last, "open .txnindex", err)
			p.undoTask(t)
			return false
		}
		a := AbortedTxn{ProducerID: e.pid, FirstOffset: e.first, LastOffset: e.last, LastStableOffset: min(p.firstOpen, e.last+1)}
		b.Write(fd, int64(len(seg.pend.aborted))*txnIndexEntryBytes, encodeAbortedTxn(a))
		seg.pend.aborted = append(seg.pend.aborted, a)
	}
	return true
}

// undoTask reverts the producer changes of a task that fails in Prepare.
func (p *Partition) undoTask(t *appendTask) {
	for j := len(p.undo) - 1; j >= len(p.undo)-t.undoN; j-- {
		p.producers.undo(p.undo[j])
	}
	p.undo = p.undo[:len(p.undo)-t.undoN]
	t.undoN = 0
	if t.txnBatches {
		p.firstOpen = p.producers.firstOpen()
	}
}

// AppendMarker appends a transaction marker (a control batch) for m's
// producer: COMMIT makes the producer's open transaction visible to
// read_committed readers, ABORT hides it (an entry in the segment's
// .txnindex). The marker's producer epoch may not be older than the
// producer's (model.ErrInvalidProducerEpoch) nor its coordinator epoch
// older than the last marker's (model.ErrTxnCoordinatorFenced). A marker
// for a producer with no open transaction is appended all the same, as
// Kafka does. done is called once and must not block.
func (p *Partition) AppendMarker(m Marker, leaderEpoch model.Epoch, done func(AppendResult)) {
	records := MarkerBatch(m.ProducerID, m.Epoch, m.Commit, m.CoordinatorEpoch, p.m.now().UnixMilli())
	h, _ := ParseBatchHeader(records)
	t := &appendTask{p: p, records: records, epoch: leaderEpoch, done: done, nrecs: 1, hdrs: []BatchHeader{h}, marker: &m, txnBatches: true}
	if err := p.shard.Submit(t); err != nil {
		done(p.failResult(p.errf(nil, -1, "append marker: %w: %w", model.ErrClosed, err)))
	}
}

// markIO notes that the task added I/O: it is in flight until Complete.
func (t *appendTask) markIO() {
	if !t.io {
		t.io = true
		t.p.inflight++
	}
}

// flushDue applies flush.messages and flush.ms in relaxed mode.
func (p *Partition) flushDue(cfg *Config, nowMs int64) bool {
	if cfg.FlushMessages > 0 && cfg.FlushMessages != math.MaxInt64 && p.unflushed >= cfg.FlushMessages {
		return true
	}
	return cfg.FlushMs >= 0 && nowMs-p.lastFlush >= cfg.FlushMs && p.unflushed > 0
}

// noteBatch advances the segment state for a batch appended at pos and says
// whether an index entry is due (Kafka's rule: once more than
// index.interval.bytes were appended since the last entry, the next batch
// gets one; the time index gets one with it when the max timestamp grew).
func (st *segState) noteBatch(seg *segment, h *BatchHeader, pos int64, interval int32) (e indexEntry, te *indexEntry, ok bool) {
	if st.firstTs < 0 && st.size == 0 {
		st.firstTs = h.MaxTimestamp
	}
	if h.MaxTimestamp > st.maxTs {
		st.maxTs, st.maxTsOff = h.MaxTimestamp, h.LastOffset()
	}
	if st.bytesSinceIdx > int64(interval) && !seg.index.full(st.idxEntries-seg.index.count()+1) {
		e = indexEntry{key: uint32(h.LastOffset() - seg.base), val: uint32(pos)}
		st.idxEntries++
		ok = true
		if st.maxTs > st.lastTidxTs && !seg.tindex.full(st.tidxEntries-seg.tindex.count()+1) {
			te = &indexEntry{ts: st.maxTs, key: uint32(st.maxTsOff - seg.base)}
			st.tidxEntries++
			st.lastTidxTs = st.maxTs
		}
		st.bytesSinceIdx = 0
	}
	st.bytesSinceIdx += int64(h.Size())
	st.size = pos + int64(h.Size())
	st.nextOffset = h.LastOffset() + 1
	return e, te, ok
}

// indexEntriesDue says whether appending hdrs to seg from state st would
// write offset and time index entries, running noteBatch on a copy with
// the timestamps Prepare will give the batches.
func (st segState) indexEntriesDue(seg *segment, hdrs []BatchHeader, cfg *Config, replica bool, nowMs int64) (idx, tidx bool) {
	pos := st.size
	for i := range hdrs {
		h := hdrs[i]
		if cfg.LogAppendTime && !replica {
			h.MaxTimestamp = nowMs
		}
		_, te, ok := st.noteBatch(seg, &h, pos, cfg.IndexIntervalBytes)
		idx = idx || ok
		tidx = tidx || te != nil
		pos += int64(h.Size())
	}
	return idx, tidx
}

// shouldRoll says why the active segment must roll before an append of size
// bytes and lastDelta+1 offsets in n batches, or "".
func (p *Partition) shouldRoll(cfg *Config, size int64, lastDelta model.Offset, n int, nowMs int64) string {
	s := p.active()
	if s.pend.size == 0 {
		return ""
	}
	switch {
	case s.pend.size+size > cfg.SegmentBytes:
		return "segment.bytes"
	case s.pend.size+size > math.MaxInt32:
		return "position overflow"
	case p.nextOffset+lastDelta-s.base > math.MaxInt32:
		return "relative offset overflow"
	case s.index.full(s.pend.idxEntries-s.index.count()+n) || s.tindex.full(s.pend.tidxEntries-s.tindex.count()+n+1):
		return "segment.index.bytes"
	case cfg.SegmentMs > 0 && nowMs-s.rollBaseMs() > cfg.SegmentMs:
		return "segment.ms"
	}
	return ""
}

// rollBaseMs is what segment.ms counts from: the first batch's timestamp,
// as in Kafka, but never earlier than the segment's creation, so a client
// sending ancient timestamps cannot make every append roll a segment.
func (s *segment) rollBaseMs() int64 {
	return max(s.pend.firstTs, s.createdMs)
}

// roll starts a new active segment at the pending log end. With a task (an
// append), the old segment's final time-index entry and syncs go into the
// batch and commit with the task; without (maintenance, nothing in flight),
// they happen here.
func (p *Partition) roll(b *iocore.Batch, t *appendTask, reason string) error {
	old := p.active()
	var fds [4]int // the old segment's .log, .index, .timeindex, .txnindex
	if t != nil {
		for i, f := range []*cachedFile{old.log, old.idxF, old.tidxF, old.txnF} {
			if f == nil {
				continue
			}
			fd, err := t.pin(f)
			if err != nil {
				return p.storageErr(old, p.nextOffset, "roll: open segment file", err)
			}
			fds[i] = fd
		}
	}
	ns, err := openSegmentFiles(p.m.files, p.dir, p.nextOffset, true, p.config().SegmentIndexBytes)
	if err != nil {
		return p.storageErr(old, p.nextOffset, "roll", err)
	}
	ns.createdMs = p.m.now().UnixMilli()
	if err := p.m.fsys.SyncDir(p.dir); err != nil {
		ns.release()
		removeSegmentFiles(ns)
		return p.storageErr(old, p.nextOffset, "roll: sync dir", err)
	}
	fin, finPos := old.finalTimeEntry()
	var finEntry indexEntry
	if fin != nil {
		finEntry = indexEntry{ts: old.pend.maxTs, key: uint32(old.pend.maxTsOff - old.base)}
		old.pend.tidxEntries++
		old.pend.lastTidxTs = old.pend.maxTs
	}
	if t != nil {
		if fin != nil {
			b.Write(fds[2], finPos, fin)
			t.idx = append(t.idx, pendingIdx{seg: old, time: true, e: finEntry})
		}
		b.Sync(fds[0])
		b.Sync(fds[1])
		b.Sync(fds[2])
		if old.txnF != nil {
			b.Sync(fds[3])
		}
		t.markIO()
		t.rolled, t.oldEnd, t.rollTo = old, old.pend, ns.base
	} else {
		if fin != nil {
			if _, err := old.tidxF.WriteAt(fin, finPos); err != nil {
				old.pend = old.comm
				ns.release()
				removeSegmentFiles(ns)
				return p.storageErr(old, p.nextOffset, "roll: time index", err)
			}
			old.tindex.add(finEntry)
		}
		for _, f := range []*cachedFile{old.log, old.idxF, old.tidxF, old.txnF} {
			if f == nil {
				continue
			}
			if err := f.Sync(); err != nil {
				ns.release()
				removeSegmentFiles(ns)
				return p.storageErr(old, p.nextOffset, "roll: sync", err)
			}
		}
		old.comm = old.pend
		old.publish()
		p.commActive = ns
		p.bumpRecoveryPoint(ns.base)
	}
	p.segs = append(p.segs[:len(p.segs):len(p.segs)], ns)
	if err := writeProducerSnapshot(p.m.fsys, p.dir, p.producers, ns.base, false); err != nil {
		p.m.logger.Warn("cannot write producer snapshot", "partition", p.tp.String(), "offset", int64(ns.base), "err", err)
	}
	p.m.logger.Debug("rolled segment", "partition", p.tp.String(), "segment", ns.name(), "reason", reason)
	p.publish()
	return nil
}

func (p *Partition) bumpRecoveryPoint(o model.Offset) {
	if int64(o) <= p.recoveryPoint.Load() {
		return
	}
	// Recovery rebuilds the epoch entries above the recovery point from
	// the batches; those below it must be durable in the file first.
	if p.epochsDirty {
		if err := p.writeEpochs(); err != nil {
			p.m.logger.Warn("cannot write leader-epoch-checkpoint; the recovery point stays", "partition", p.tp.String(), "err", err)
			return
		}
	}
	p.recoveryPoint.Store(int64(o))
}

func removeSegmentFiles(s *segment) {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		s.fc.fsys.Remove(s.path(suf))
	}
}

// Complete publishes a successful append or rolls the partition back after
// a failed one.
func (t *appendTask) Complete(err error) {
	p := t.p
	t.unpinAll()
	if t.io {
		p.inflight--
	}
	switch {
	case t.io && t.gen != p.gen:
		t.res = AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1,
			Err: p.errf(nil, -1, "append: %w: an earlier write in the same flush failed", model.ErrStorage)}
	case t.gen != p.gen && t.res.Err == nil:
		// A duplicate (or a check) against state that was rolled back.
		t.res = AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1,
			Err: p.errf(nil, -1, "append: %w: an earlier write in the same flush failed", model.ErrStorage)}
	case t.io && err != nil:
		seg := t.seg
		if seg == nil {
			seg = t.rolled
		}
		t.res = AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1,
			Err: p.storageErr(seg, p.logEnd, "append", err)}
		p.m.logger.Error("append failed; rolling back to the last completed position", "partition", p.tp.String(), "log_end", int64(p.logEnd), "err", err)
		p.rollback()
	case t.io:
		p.commit(t)
		if t.logSynced {
			t.seg.log.noteSynced(t.logGen)
		}
	}
	if t.gen == p.gen && t.undoN > 0 && t.res.Err == nil {
		p.undoHead += t.undoN
		if p.undoHead == len(p.undo) {
			p.undo, p.undoHead = p.undo[:0], 0
		}
	}
	t.res.LogStartOffset = p.logStart
	t.done(t.res)
}

// commit publishes a successful append.
func (p *Partition) commit(t *appendTask) {
	for _, pi := range t.idx {
		if pi.time {
			pi.seg.tindex.add(pi.e)
		} else {
			pi.seg.index.add(pi.e)
		}
	}
	if t.rolled != nil {
		t.rolled.comm = t.oldEnd
		t.rolled.publish()
		for i, s := range p.segs {
			if s == t.rolled && i+1 < len(p.segs) {
				p.commActive = p.segs[i+1]
			}
		}
		p.bumpRecoveryPoint(t.rollTo)
	}
	if t.wrote {
		t.seg.comm = t.after
		t.seg.publish()
		p.commActive = t.seg
		p.logEnd = t.end
		if t.after.maxTs > p.maxTs {
			p.maxTs, p.maxTsOff = t.after.maxTs, t.after.maxTsOff
		}
	}
	advanced := p.advanceHW()
	p.publish()
	if advanced {
		p.notifyChanged()
	}
}

// rollback returns the partition to the last completed position after a
// failed write: later segments go, the active file and its indexes are cut
// back, producer state and the epoch cache are restored, and every task
// prepared since fails (their generation is stale).
func (p *Partition) rollback() {
	p.gen++
	keep := len(p.segs)
	for i, s := range p.segs {
		if s == p.commActive {
			keep = i + 1
		}
	}
	if keep < len(p.segs) {
		for _, s := range p.segs[keep:] {
			removeSegmentFiles(s)
			s.release()
		}
		p.segs = append([]*segment(nil), p.segs[:keep]...)
	}
	a := p.commActive
	a.pend = a.comm
	if err := a.log.Truncate(a.comm.size); err != nil {
		p.m.logger.Error("cannot truncate after failed write", "partition", p.tp.String(), "segment", a.name(), "err", err)
	}
	a.idxF.Truncate(int64(a.comm.idxEntries) * offsetIndexEntryBytes)
	a.tidxF.Truncate(int64(a.comm.tidxEntries) * timeIndexEntryBytes)
	for j := len(p.undo) - 1; j >= p.undoHead; j-- {
		p.producers.undo(p.undo[j])
	}
	p.undo, p.undoHead = p.undo[:0], 0
	p.firstOpen = p.producers.firstOpen()
	if a.txnF != nil {
		a.txnF.Truncate(int64(len(a.comm.aborted)) * txnIndexEntryBytes)
	}
	p.nextOffset = p.logEnd
	if es := truncateEpochsFromEnd(p.epochs, p.logEnd); len(es) != len(p.epochs) {
		p.epochs = es
		p.writeEpochs()
	}
	end := p.logEnd
	removeSnapshots(p.m.fsys, p.dir, func(o model.Offset) bool { return o > end })
	p.publish()
}

// writeEpochs writes the leader-epoch-checkpoint durably (two fsyncs).
func (p *Partition) writeEpochs() error {
	if err := writeFileAtomic(p.m.fsys, p.dir+"/"+leaderEpochFile, encodeEpochs(p.epochs), true); err != nil {
		return err
	}
	p.epochsDirty = false
	return nil
}

// noteEpochs writes the leader-epoch-checkpoint on the append path without
// fsync, as Kafka does since 3.7 (KAFKA-15046): a new epoch's first append
// on each of thousands of fresh partitions would otherwise pay two fsyncs
// on the shard. The file is made durable before the recovery point passes
// the new entry (bumpRecoveryPoint) and at close; after a crash, recovery
// rebuilds the entries above the recovery point from the batches' leader
// epochs (recover), so a lost write loses nothing.
func (p *Partition) noteEpochs() error {
	if err := writeFileAtomic(p.m.fsys, p.dir+"/"+leaderEpochFile, encodeEpochs(p.epochs), false); err != nil {
		return err
	}
	p.epochsDirty = true
	return nil
}

// ReadResult is what Read returns.
type ReadResult struct {
	Records                                         []byte // whole batches starting with the batch that contains offset; may be empty
	HighWatermark, LastStableOffset, LogStartOffset model.Offset
	// Aborted (ReadCommitted only) are the aborted transactions that
	// overlap the records.
	Aborted []AbortedTxn
}

// maxReadRetries bounds how often Read retries after the segment it picked
// was deleted under it.
const maxReadRetries = 8

// Read returns whole batches from the one that contains offset, up to
// maxBytes (with minOneBatch, the first batch even when larger), below the
// high watermark. offset == HW gives an empty result; offset < log start or
// > HW gives model.ErrOffsetOutOfRange.
func (p *Partition) Read(offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error) {
	return p.read(offset, maxBytes, minOneBatch, toHW)
}

// ReadCommitted is Read for a read_committed consumer: the limit is the
// last stable offset, and Aborted lists the aborted transactions whose
// batches the reader may meet from offset on (Kafka's
// aborted_transactions).
func (p *Partition) ReadCommitted(offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error) {
	return p.read(offset, maxBytes, minOneBatch, toLSO)
}

// LastStableOffset is the offset below which every transaction is
// decided: the high watermark, or the first offset of the earliest open
// transaction when that is lower.
func (p *Partition) LastStableOffset() model.Offset { return p.view.Load().lso }

// readLimit is where a read stops.
type readLimit int8

const (
	toHW     readLimit = iota // consumers (read_uncommitted)
	toLSO                     // read_committed consumers
	toLogEnd                  // followers
)

// acquireForRead checks offset against v for a read up to the high
// watermark or (toLogEnd, replica fetches) the log end, and acquires the
// segment holding it with its .log pinned (acquireLog), which the caller
// releases (releaseLog). seg is nil with a nil
// error when there is nothing to read (offset at the limit); retry asks
// the caller to load a new view (the segment was deleted under it).
func (p *Partition) acquireForRead(v *view, offset model.Offset, to readLimit, attempt int) (seg *segment, f *os.File, limit model.Offset, retry bool, err error) {
	if v.closed {
		return nil, nil, 0, false, p.errf(nil, offset, "read: %w", model.ErrClosed)
	}
	if err := p.checkOnline("read", offset); err != nil {
		return nil, nil, 0, false, err
	}
	limit, what := v.hw, "high watermark"
	switch to {
	case toLogEnd:
		limit, what = v.logEnd, "log end"
	case toLSO:
		// An offset between the LSO and the high watermark is in range
		// for a read_committed reader; it just gets nothing yet.
		if offset > v.lso && offset <= v.hw {
			return nil, nil, v.lso, false, nil
		}
		limit = v.lso
	}
	if offset < v.logStart || offset > limit {
		return nil, nil, limit, false, p.errf(nil, offset, "read: log start %d, %s %d: %w", int64(v.logStart), what, int64(limit), model.ErrOffsetOutOfRange)
	}
	if offset == limit {
		return nil, nil, limit, false, nil
	}
	seg, _ = v.segFor(offset)
	f, gone, err := seg.acquireLog()
	if err != nil {
		return nil, nil, limit, false, p.storageErr(seg, offset, "read: open", err)
	}
	if gone {
		if attempt < maxReadRetries {
			return nil, nil, limit, true, nil
		}
		return nil, nil, limit, false, p.errf(seg, offset, "read: segment deleted repeatedly: %w", model.ErrOffsetOutOfRange)
	}
	return seg, f, limit, false, nil
}

// read is Read with the limit at the high watermark or (toLogEnd, for
// replica fetches) at the log end.
func (p *Partition) read(offset model.Offset, maxBytes int32, minOneBatch bool, to readLimit) (ReadResult, error) {
	for attempt := 0; ; attempt++ {
		v := p.view.Load()
		res := ReadResult{HighWatermark: v.hw, LastStableOffset: v.lso, LogStartOffset: v.logStart}
		seg, _, limit, retry, err := p.acquireForRead(v, offset, to, attempt)
		if retry {
			continue
		}
		if seg == nil {
			return res, err
		}
		recs, err := readSegment(seg, offset, limit, maxBytes, minOneBatch)
		seg.releaseLog()
		if err == errPastSegment {
			// A gap left by compaction: the next segment holds the next
			// batch.
			if next := v.segAfter(seg); next != nil {
				offset, attempt = next.base, -1
				continue
			}
			return res, nil
		}
		if err != nil {
			return res, p.storageErr(seg, offset, "read", err)
		}
		res.Records = recs
		if to == toLSO && len(recs) > 0 {
			res.Aborted = v.abortedBetween(offset, limit)
		}
		return res, nil
	}
}

// readSegment reads whole batches from seg starting with the one holding
// offset, stopping at hw, at the published size and at maxBytes.
func readSegment(seg *segment, offset, hw model.Offset, maxBytes int32, minOneBatch bool) ([]byte, error) {
	limit := seg.size.Load()
	pos, h, ok, err := seg.findBatch(offset, limit)
	if err == nil && !ok {
		return nil, errPastSegment
	}
	if err != nil || !ok || h.BaseOffset >= hw {
		return nil, err
	}
	want := int64(maxBytes)
	if want < 0 {
		want = 0
	}
	if want > limit-pos {
		want = limit - pos
	}
	if int64(h.Size()) > want {
		if !minOneBatch {
			return nil, nil
		}
		buf := make([]byte, h.Size())
		if _, err := seg.log.ReadAt(buf, pos); err != nil {
			return nil, err
		}
		return buf, nil
	}
	buf := make([]byte, want)
	if _, err := seg.log.ReadAt(buf, pos); err != nil {
		return nil, err
	}
	n := 0
	for n+BatchHeaderSize <= len(buf) {
		bh, err := ParseBatchHeader(buf[n:])
		if err != nil {
			return nil, err
		}
		if bh.BaseOffset >= hw || n+bh.Size() > len(buf) {
			break
		}
		n += bh.Size()
	}
	return buf[:n:n], nil
}

// MaxTimestamp returns the largest batch max timestamp in the log and the
// last offset of its batch (ListOffsets -3, KIP-734); (-1, -1) when empty.
func (p *Partition) MaxTimestamp() (ts int64, offset model.Offset) {
	v := p.view.Load()
	if v.hw <= v.logStart || v.maxTs < 0 {
		return -1, -1
	}
	return v.maxTs, v.maxTsOff
}

// OffsetForTime returns the first offset whose record timestamp is >= ts,
// with that timestamp, using the time index and then a scan. For a
// compressed batch it answers with the batch's first offset (at or after the
// log start) and its max timestamp, without decompressing.
func (p *Partition) OffsetForTime(ts int64) (offset model.Offset, timestamp int64, ok bool) {
	for attempt := 0; attempt <= maxReadRetries; attempt++ {
		v := p.view.Load()
		retry := false
		for _, seg := range v.segs {
			if seg.base >= v.hw {
				break
			}
			if seg.maxTs.Load() < ts {
				continue
			}
			_, gone, err := seg.acquireLog()
			if err != nil {
				return -1, -1, false
			}
			if gone {
				retry = true
				break
			}
			off, t, found, err := seg.offsetForTime(ts, v.logStart, v.hw)
			seg.releaseLog()
			if err != nil {
				return -1, -1, false
			}
			if found {
				return off, t, true
			}
		}
		if !retry {
			return -1, -1, false
		}
	}
	return -1, -1, false
}

func (s *segment) offsetForTime(ts int64, logStart, hw model.Offset) (model.Offset, int64, bool, error) {
	start := s.base
	if rel, ok := s.tindex.lookupTime(ts); ok {
		start = s.base + model.Offset(rel)
	}
	if start < logStart {
		start = logStart
	}
	limit := s.size.Load()
	pos, _, ok, err := s.findBatch(start, limit)
	if err != nil || !ok {
		return 0, 0, false, err
	}
	var hb [BatchHeaderSize]byte
	for pos+BatchHeaderSize <= limit {
		h, err := s.readHeader(pos, hb[:])
		if err != nil {
			return 0, 0, false, err
		}
		if h.BaseOffset >= hw {
			return 0, 0, false, nil
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= logStart {
			if h.LogAppendTime() || h.Compression() != 0 {
				return max(h.BaseOffset, logStart), h.MaxTimestamp, true, nil
			}
			batch := make([]byte, h.Size())
			if _, err := s.log.ReadAt(batch, pos); err != nil {
				return 0, 0, false, err
			}
			var off model.Offset = -1
			var at int64
			err := forEachRecord(batch, func(delta int32, tsDelta int64) bool {
				o := h.BaseOffset + model.Offset(delta)
				if o >= logStart && h.FirstTimestamp+tsDelta >= ts {
					off, at = o, h.FirstTimestamp+tsDelta
					return false
				}
				return true
			})
			if err != nil {
				return 0, 0, false, err
			}
			if off >= 0 {
				return off, at, true, nil
			}
		}
		pos += int64(h.Size())
	}
	return 0, 0, false, nil
}

// DeleteRecords moves the log start to before (-1 = the high watermark),
// deletes the whole segments below it and persists the new log start.
// before > HW gives model.ErrOffsetOutOfRange.
func (p *Partition) DeleteRecords(before model.Offset) (newLogStart model.Offset, err error) {
	var deleted bool
	err = p.shard.Do(func() error {
		if p.closed {
			return p.errf(nil, before, "delete records: %w", model.ErrClosed)
		}
		if err := p.checkOnline("delete records", before); err != nil {
			return err
		}
		if before == -1 {
			before = p.hw
		}
		if before < 0 || before > p.hw {
			return p.errf(nil, before, "delete records: high watermark %d: %w", int64(p.hw), model.ErrOffsetOutOfRange)
		}
		if before > p.logStart {
			p.logStart = before
			p.deleteSegmentsBelowLogStart()
			p.afterLogStartMoved()
			deleted = true
		}
		newLogStart = p.logStart
		return nil
	})
	if errors.Is(err, iocore.ErrClosed) {
		err = p.errf(nil, before, "delete records: %w: %w", model.ErrClosed, err)
	}
	if err != nil {
		return -1, err
	}
	if deleted {
		if cerr := p.m.writeLogStartCheckpoint(); cerr != nil {
			return newLogStart, p.errf(nil, newLogStart, "persist log start: %w: %w", model.ErrStorage, cerr)
		}
	}
	return newLogStart, nil
}

// deleteSegmentsBelowLogStart drops segments entirely below the log start,
// never the committed active one. Shard only.
func (p *Partition) deleteSegmentsBelowLogStart() {
	n := 0
	for n+1 < len(p.segs) && p.segs[n+1].base <= p.logStart && p.segs[n] != p.commActive {
		n++
	}
	p.dropOldest(n)
}

// dropOldest removes the first n segments: publish first, then unlink; the
// files close when the last reader lets go. Shard only.
func (p *Partition) dropOldest(n int) {
	if n <= 0 {
		return
	}
	gone := p.segs[:n]
	p.segs = append([]*segment(nil), p.segs[n:]...)
	if p.segs[0].base > p.logStart {
		p.logStart = p.segs[0].base
	}
	p.publish()
	for _, s := range gone {
		removeSegmentFiles(s)
		s.release()
		p.m.logger.Info("deleted segment", "partition", p.tp.String(), "segment", s.name())
	}
	p.afterLogStartMoved()
}

// afterLogStartMoved trims what depends on the log start. Shard only.
func (p *Partition) afterLogStartMoved() {
	if p.maxTsOff < p.logStart {
		p.maxTs, p.maxTsOff = -1, -1
		for _, s := range p.segs {
			if s.comm.maxTs > p.maxTs {
				p.maxTs, p.maxTsOff = s.comm.maxTs, s.comm.maxTsOff
			}
		}
	}
	p.producers.trim(p.logStart)
	if es := truncateEpochsFromStart(p.epochs, p.logStart); len(es) > 0 && (es[0] != p.epochs[0] || len(es) != len(p.epochs)) {
		p.epochs = es
		p.writeEpochs()
	}
	first := p.segs[0].base
	removeSnapshots(p.m.fsys, p.dir, func(o model.Offset) bool { return o < first })
	p.publish()
}
