package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringtail/ringtail/model"
)

// The log cleaner: compaction of topics whose cleanup.policy includes
// compact, as Kafka's LogCleaner does it. Threads (log.cleaner.threads)
// each pick the dirtiest partition, run one pass (clean.go) off the shard
// threads, and record in cleaner-offset-checkpoint how far the partition
// is clean. A partition whose pass fails for a reason that will not go
// away by itself (a corrupt batch, a segment with more keys than the
// dedupe buffer) is marked uncleanable with the reason and skipped; an
// I/O error (a full disk) aborts the pass, leaving the log as it was, and
// the partition is tried again later.

// cleanerCheckpointFile records each partition's first dirty offset.
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// CleanerConfig is the broker's log.cleaner.* settings.
type CleanerConfig struct {
	Enabled bool
	Threads int
	// DedupeBufferBytes is shared by the threads; a key takes 24 bytes of
	// it at LoadFactor, as in Kafka.
	DedupeBufferBytes int64
	LoadFactor        float64
	// IOMaxBytesPerSecond throttles the reads and writes of every thread
	// together; <= 0 or +Inf is unlimited.
	IOMaxBytesPerSecond float64
	// Backoff is the sleep when no partition needs cleaning.
	Backoff time.Duration
}

// DefaultCleanerConfig is Kafka's defaults.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{Enabled: true, Threads: 1, DedupeBufferBytes: 128 << 20, LoadFactor: 0.9,
		IOMaxBytesPerSecond: math.Inf(1), Backoff: 15 * time.Second}
}

// CleanerStats counts the cleaner's work since start.
type CleanerStats struct {
	Passes, BytesRead, BytesWritten int64
	Uncleanable                     int // partitions given up on
}

// CleanState is one partition's compaction state.
type CleanState struct {
	FirstDirty  model.Offset
	DirtyRatio  float64 // dirty bytes / bytes below the active segment
	LastCleanMs int64   // 0 before the first pass
	Uncleanable string  // why it was given up on, "" when it was not
}

// cleaner is a Manager's cleaner: throttle, stats and the threads' stop.
type cleaner struct {
	m    *Manager
	cfg  CleanerConfig
	stop chan struct{}

	passes, read, written atomic.Int64

	mu struct {
		sync.Mutex
		next time.Time // throttle: when the next byte may go
	}
}

func newCleaner(m *Manager, cfg CleanerConfig) *cleaner {
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.LoadFactor <= 0 || cfg.LoadFactor > 1 {
		cfg.LoadFactor = 0.9
	}
	if cfg.DedupeBufferBytes <= 0 {
		cfg.DedupeBufferBytes = DefaultCleanerConfig().DedupeBufferBytes
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultCleanerConfig().Backoff
	}
	return &cleaner{m: m, cfg: cfg, stop: m.stop}
}

// capacity is how many keys one thread's offset map may hold.
func (c *cleaner) capacity() int {
	per := float64(c.cfg.DedupeBufferBytes) / float64(c.cfg.Threads) * c.cfg.LoadFactor / 24
	return max(int(per), 1)
}

// errCleanerStopped aborts a pass when the manager closes.
var errCleanerStopped = errors.New("storage: cleaner stopped")

func (c *cleaner) stopped() error {
	if c == nil {
		return nil
	}
	select {
	case <-c.stop:
		return errCleanerStopped
	default:
		return nil
	}
}

// throttle waits until n more bytes fit log.cleaner.io.max.bytes.per.second.
func (c *cleaner) throttle(n int) {
	if c == nil || n <= 0 || c.cfg.IOMaxBytesPerSecond <= 0 || math.IsInf(c.cfg.IOMaxBytesPerSecond, 1) {
		return
	}
	d := time.Duration(float64(n) / c.cfg.IOMaxBytesPerSecond * float64(time.Second))
	c.mu.Lock()
	now := time.Now()
	if c.mu.next.Before(now) {
		c.mu.next = now
	}
	c.mu.next = c.mu.next.Add(d)
	wait := c.mu.next.Sub(now)
	c.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.stop:
			t.Stop()
		}
	}
}

// noteRead counts and throttles n bytes read.
func (c *cleaner) noteRead(n int) {
	if c != nil {
		c.read.Add(int64(n))
		c.throttle(n)
	}
}

type throttledWriter struct {
	w io.Writer
	c *cleaner
}

func (t *throttledWriter) Write(b []byte) (int, error) {
	if t.c != nil {
		t.c.throttle(len(b))
	}
	n, err := t.w.Write(b)
	if t.c != nil {
		t.c.written.Add(int64(n))
	}
	return n, err
}

// run is one cleaner thread.
func (c *cleaner) run() {
	defer c.m.loop.Done()
	for {
		for {
			p := c.pick()
			if p == nil {
				break
			}
			c.cleanOne(p)
			p.cleaning.Store(false)
			if c.stopped() != nil {
				return
			}
		}
		t := time.NewTimer(c.cfg.Backoff)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pick claims the compacted partition most in need of cleaning: the
// highest dirty ratio at or above min.cleanable.dirty.ratio, or any whose
// oldest dirty segment passed max.compaction.lag.ms.
func (c *cleaner) pick() *Partition {
	if c.m.Offline() != nil {
		return nil
	}
	nowMs := c.m.now().UnixMilli()
	var best *Partition
	bestRatio := -1.0
	for _, p := range c.m.all() {
		cfg := p.config()
		if !cfg.Compact || p.uncleanable.Load() != nil || p.cleaning.Load() {
			continue
		}
		ratio, oldestDirtyMs := p.dirtiness()
		due := ratio > 0 && cfg.MaxCompactionLagMs > 0 && cfg.MaxCompactionLagMs != math.MaxInt64 &&
			oldestDirtyMs >= 0 && nowMs-oldestDirtyMs > cfg.MaxCompactionLagMs
		if (ratio > 0 && ratio >= cfg.MinCleanableRatio) || due {
			if due {
				ratio = 2 // before any ratio
			}
			if ratio > bestRatio {
				best, bestRatio = p, ratio
			}
		}
	}
	if best != nil && !best.cleaning.CompareAndSwap(false, true) {
		return nil
	}
	return best
}

// dirtiness is the dirty ratio of the segments below the active one and
// the max timestamp (or creation time) of the oldest dirty one (-1: none).
func (p *Partition) dirtiness() (ratio float64, oldestDirtyMs int64) {
	v := p.view.Load()
	firstDirty := model.Offset(p.cleanedTo.Load())
	var total, dirty int64
	oldestDirtyMs = -1
	for i := 0; i+1 < len(v.segs); i++ {
		s := v.segs[i]
		sz := s.size.Load()
		total += sz
		if v.segs[i+1].base > firstDirty {
			dirty += sz
			if oldestDirtyMs < 0 {
				oldestDirtyMs = s.maxTs.Load()
				if oldestDirtyMs < 0 {
					oldestDirtyMs = s.createdMs
				}
			}
		}
	}
	if total == 0 {
		return 0, -1
	}
	return float64(dirty) / float64(total), oldestDirtyMs
}

// Compacted reports whether the partition's cleanup.policy includes compact.
func (p *Partition) Compacted() bool { return p.config().Compact }

// CleanState reports tp's compaction state.
func (p *Partition) CleanState() CleanState {
	ratio, _ := p.dirtiness()
	st := CleanState{FirstDirty: model.Offset(p.cleanedTo.Load()), DirtyRatio: ratio, LastCleanMs: p.lastCleanMs.Load()}
	if r := p.uncleanable.Load(); r != nil {
		st.Uncleanable = *r
	}
	return st
}

// cleanOne runs one pass on p and logs the outcome.
func (c *cleaner) cleanOne(p *Partition) {
	start := time.Now()
	res, err := p.clean(c)
	switch {
	case err == nil && res.end < 0:
	case err == nil:
		c.passes.Add(1)
		c.m.logger.Info("cleaned partition", "partition", p.tp.String(), "up_to", int64(res.end), "segments", res.groups,
			"bytes_before", res.before, "bytes_after", res.after, "took", time.Since(start).Round(time.Millisecond))
		if err := c.m.writeCleanerCheckpoint(); err != nil {
			c.m.logger.Warn("cannot write "+cleanerCheckpointFile, "err", err)
		}
	case errors.Is(err, errCleanerStopped), errors.Is(err, errCleanAborted), errors.Is(err, errFault):
		c.m.logger.Debug("cleaning pass abandoned", "partition", p.tp.String(), "err", err)
	case errors.Is(err, model.ErrStorage) || isIOError(err):
		c.m.logger.Warn("cleaning pass failed; the log is as it was and the partition is tried again later", "partition", p.tp.String(), "err", err)
	default:
		reason := err.Error()
		p.uncleanable.Store(&reason)
		c.m.logger.Error("partition marked uncleanable; it is served as it is but no longer compacted", "partition", p.tp.String(), "err", err)
	}
}

func isIOError(err error) bool {
	var pe *os.PathError
	var le *os.LinkError
	var se *os.SyscallError
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se)
}

// errCleanAborted: the log changed under the pass (retention, a
// truncation, a close); nothing was swapped.
var errCleanAborted = errors.New("storage: the log changed during the cleaning pass")

// cleanResult is one pass's outcome; end < 0 when there was nothing to do.
type cleanResult struct {
	end           model.Offset
	groups        int
	before, after int64
}

// clean runs one pass (clean.go). c may be nil (tests: no throttle or
// stop, the whole dedupe default).
func (p *Partition) clean(c *cleaner) (cleanResult, error) {
	res := cleanResult{end: -1}
	nowMs := p.m.now().UnixMilli()
	pl, err := p.planClean(nowMs)
	if err != nil || pl == nil {
		return res, err
	}
	defer pl.release()
	capacity := int(float64(DefaultCleanerConfig().DedupeBufferBytes) * 0.9 / 24)
	if c != nil {
		capacity = c.capacity()
	}
	om, end, err := buildMap(pl, capacity, c)
	if err != nil {
		return res, err
	}
	n := 0
	for n < len(pl.segs) && pl.segs[n].base < end {
		n++
	}
	var groups []cleanedGroup
	discard := func() {
		for _, g := range groups {
			g.seg.release()
			removeSegmentFiles(g.seg)
		}
	}
	tx := newTxnTrack()
	for _, src := range groupSegments(pl, n, p.config().SegmentBytes) {
		seg, err := p.writeCleaned(pl, src, om, end, nowMs, c, tx)
		if err != nil {
			discard()
			return res, err
		}
		groups = append(groups, cleanedGroup{seg: seg, sources: src})
		for _, s := range src {
			res.before += s.size.Load()
		}
		res.after += seg.size.Load()
	}
	if err := p.m.fsys.SyncDir(p.dir); err != nil {
		discard()
		return res, err
	}
	if p.m.fault("written") {
		return res, errFault
	}
	if err := writeManifest(p.m.fsys, p.dir, groups); err != nil {
		discard()
		p.m.fsys.Remove(filepath.Join(p.dir, swapManifest))
		return res, err
	}
	if p.m.fault("manifest") {
		return res, errFault
	}
	if err := p.commitClean(pl, groups); err != nil {
		if errors.Is(err, errCleanAborted) {
			discard()
			p.m.fsys.Remove(filepath.Join(p.dir, swapManifest))
			p.m.fsys.SyncDir(p.dir)
		}
		return res, err
	}
	if p.m.fault("committed") {
		return res, errFault
	}
	// Renamed on the shard; make it durable, then drop the manifest and
	// the replaced files.
	if err := p.m.fsys.SyncDir(p.dir); err != nil {
		return res, err
	}
	if err := p.m.fsys.Remove(filepath.Join(p.dir, swapManifest)); err != nil {
		return res, err
	}
	for _, g := range groups {
		for _, s := range g.sources {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				p.m.fsys.Remove(filepath.Join(p.dir, segmentName(s.base, suf)+deletedSuffix))
			}
		}
	}
	if err := p.m.fsys.SyncDir(p.dir); err != nil {
		return res, err
	}
	p.cleanedTo.Store(int64(end))
	p.lastCleanMs.Store(nowMs)
	p.horizons.cleaned(end, nowMs, nowMs-p.config().DeleteRetentionMs)
	if err := p.writeHorizons(); err != nil {
		p.m.logger.Warn("cannot write "+horizonsFile+"; its tombstones may stay longer", "partition", p.tp.String(), "err", err)
	}
	res.end, res.groups = end, len(groups)
	return res, nil
}

// commitClean swaps the groups in on the shard: renames only. The replaced
// segments must still be the log's, unchanged since the plan.
func (p *Partition) commitClean(pl *cleanPlan, groups []cleanedGroup) error {
	return p.onShard(nil, func() error {
		if p.closed || p.truncs.Load() != pl.truncs {
			return errCleanAborted
		}
		var sources []*segment
		for _, g := range groups {
			sources = append(sources, g.sources...)
		}
		at := -1
		for i, s := range p.segs {
			if s == sources[0] {
				at = i
			}
		}
		if at < 0 || at+len(sources) >= len(p.segs) {
			return errCleanAborted
		}
		for i, s := range sources {
			if p.segs[at+i] != s {
				return errCleanAborted
			}
		}
		for _, g := range groups {
			for _, s := range g.sources {
				for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
					name := filepath.Join(p.dir, segmentName(s.base, suf))
					if err := p.m.fsys.Rename(name, name+deletedSuffix); err != nil {
						if suf == txnIndexSuffix && errors.Is(err, os.ErrNotExist) {
							continue // most segments have no aborted transactions
						}
						return p.failSwap(err)
					}
					// Readers holding the old segment reopen it there.
					s.file(suf).renamed(name + deletedSuffix)
					if p.m.fault("renaming") {
						return errFault
					}
				}
			}
			for _, suf := range []string{txnIndexSuffix, indexSuffix, timeIndexSuffix, logSuffix} {
				name := filepath.Join(p.dir, segmentName(g.seg.base, suf))
				if err := p.m.fsys.Rename(name+cleanedSuffix, name); err != nil {
					if suf == txnIndexSuffix && errors.Is(err, os.ErrNotExist) {
						continue
					}
					return p.failSwap(err)
				}
				g.seg.file(suf).renamed(name)
			}
			g.seg.suffix = ""
		}
		segs := append([]*segment(nil), p.segs[:at]...)
		for _, g := range groups {
			g.seg.publish()
			segs = append(segs, g.seg)
		}
		segs = append(segs, p.segs[at+len(sources):]...)
		p.segs = segs
		p.publish()
		for _, s := range sources {
			s.release() // the log's reference; readers keep theirs
		}
		return nil
	})
}

// failSwap: a rename failed half way. The manifest stays, so the next
// start completes the swap; until then the old segments serve (their
// files are open) and the partition is not cleaned again.
func (p *Partition) failSwap(err error) error {
	reason := fmt.Sprintf("a segment swap failed half way (completed at the next start): %v", err)
	p.uncleanable.Store(&reason)
	return fmt.Errorf("storage: %s: swap: %w: %w", p.tp, model.ErrStorage, err)
}

// writeCleanerCheckpoint records every compacted partition's first dirty
// offset, durably.
func (m *Manager) writeCleanerCheckpoint() error {
	m.cleanerCkptMu.Lock()
	defer m.cleanerCkptMu.Unlock()
	out := map[model.TopicPartition]model.Offset{}
	for _, p := range m.all() {
		if o := p.cleanedTo.Load(); o > 0 {
			out[p.tp] = model.Offset(o)
		}
	}
	return writeFileAtomic(m.fsys, filepath.Join(m.cfg.Dir, cleanerCheckpointFile), encodeOffsetCheckpoint(out), true)
}

// errFault: a test's fault hook stopped the pass where it stood, as a
// crash would.
var errFault = errors.New("storage: stopped by a fault hook")

// fault reports whether the test hook stops the pass at step ("written",
// "manifest", "renaming", "committed").
func (m *Manager) fault(step string) bool {
	h := m.cleanFault.Load()
	return h != nil && (*h)(step)
}

// SetCleanFault installs a test hook called at each step of every cleaning
// pass ("written", "manifest", "renaming" (on the shard, between two
// renames), "committed"); true stops the pass there as a crash would. The
// daemon installs one that blocks, for kill -9 tests
// (RINGTAIL_TEST_CLEANER_STALL).
func (m *Manager) SetCleanFault(f func(step string) bool) { m.cleanFault.Store(&f) }

// CleanerStats returns the cleaner's counters.
func (m *Manager) CleanerStats() CleanerStats {
	st := CleanerStats{}
	if c := m.cleaner; c != nil {
		st.Passes, st.BytesRead, st.BytesWritten = c.passes.Load(), c.read.Load(), c.written.Load()
	}
	for _, p := range m.all() {
		if p.uncleanable.Load() != nil {
			st.Uncleanable++
		}
	}
	return st
}

// Clean runs one cleaning pass on tp now, on the caller's goroutine (tests
// and operators; the cleaner threads do the same on their own). It reports
// the offset the partition is clean up to (-1: nothing was dirty).
func (m *Manager) Clean(tp model.TopicPartition) (model.Offset, error) {
	p, ok := m.Partition(tp)
	if !ok {
		return -1, fmt.Errorf("storage: %s: clean: %w", tp, model.ErrUnknownTopicOrPartition)
	}
	if !p.cleaning.CompareAndSwap(false, true) {
		return -1, fmt.Errorf("storage: %s: a cleaning pass is running", tp)
	}
	defer p.cleaning.Store(false)
	res, err := p.clean(m.cleaner)
	if err == nil && res.end >= 0 {
		if m.cleaner != nil {
			m.cleaner.passes.Add(1)
		}
		err = m.writeCleanerCheckpoint()
	}
	return res.end, err
}
