package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// ManagerConfig configures the log manager of one data dir.
type ManagerConfig struct {
	Dir                    string // the data dir
	Runtime                *iocore.Runtime
	Logger                 *slog.Logger
	Now                    func() time.Time      // clock passed in; nil = time.Now
	RetentionCheckInterval time.Duration         // log.retention.check.interval.ms; 0 = no background loop
	OnRecoveryProgress     func(done, total int) // optional, for systemd STATUS lines
	// Cleaner is log.cleaner.*; with Enabled false no thread runs (Clean
	// still cleans on demand).
	Cleaner CleanerConfig
	// MaxOpenFiles bounds the segment file descriptors open at once
	// (ringtail.max_open_files, fdcache.go): 0 derives it from
	// RLIMIT_NOFILE (ResolveMaxOpenFiles), -1 leaves it unbounded.
	MaxOpenFiles int
	// FS is the file-system seam (nil: the OS); tests give a crash model
	// (vfs.Crash) to simulate power loss, or a vfs.Faulty to fail a disk.
	FS vfs.FS
	// OnOffline, if set, is called once when the dir goes offline after a
	// disk error (offline.go), with the error and the partitions the dir
	// held. It may run on a shard goroutine and must not block.
	OnOffline func(err error, parts []model.TopicPartition)

	// files, set by LogDirs, is the segment file cache shared by the
	// managers of every log dir (one ringtail.max_open_files bound).
	files *fileCache
}

// RecoveryStats says what OpenManager found.
type RecoveryStats struct {
	Partitions, Rescanned int
	CleanShutdown         bool
	TruncatedBytes        int64
	// Quarantined lists the partitions that could not be opened and were
	// moved aside (recovery.go's quarantine).
	Quarantined []Quarantined
}

// Quarantined is one partition moved aside at startup: Dir is its new
// path, Err why it could not be opened.
type Quarantined struct {
	TP  model.TopicPartition
	Dir string
	Err error
}

// Manager owns every partition log of one data dir.
type Manager struct {
	cfg  ManagerConfig
	fsys vfs.FS // cfg.FS or the OS
	// closePerFileSync makes Close fsync each partition's files (and the
	// snapshot and epoch files, each with its dir) instead of one syncfs:
	// the pre-issue-16 shutdown, kept to measure against.
	closePerFileSync bool
	files            *fileCache // segment file descriptors (fdcache.go)
	logger           *slog.Logger
	now              func() time.Time
	configFor        func(model.TopicPartition) Config
	stats            RecoveryStats

	mu struct {
		sync.Mutex
		parts  map[model.TopicPartition]*Partition
		closed bool
	}
	ckptMu   sync.Mutex     // serializes checkpoint file writes
	createMu sync.Mutex     // serializes CreatePartitions and DeletePartition
	removing sync.WaitGroup // background removals of deleted partitions
	// staleCheckpoints is set (under createMu) by DeletePartition: the
	// checkpoint files may still name the deleted partition, and a new log
	// of the same name must not inherit its log start after a crash, so
	// CreatePartitions rewrites them first.
	staleCheckpoints bool
	stop             chan struct{}
	// cleaner compacts the partitions with cleanup.policy compact.
	cleaner       *cleaner
	cleanerCkptMu sync.Mutex
	// cleanFault, set by tests, stops a cleaning pass at a step as a
	// crash would (cleaner.go).
	cleanFault atomic.Pointer[func(step string) bool]
	loop       sync.WaitGroup
	// offline is the disk error that took the dir offline (offline.go).
	offline atomic.Pointer[error]
	// faulty: fsys is a vfs.Faulty (tests), asked where I/O bypasses it.
	faulty bool
}

// OpenManager opens and recovers every <topic>-<partition> dir in cfg.Dir
// (dirs that do not parse, and __cluster_metadata-0, are left alone). It
// reads, then removes, the clean-shutdown marker.
func OpenManager(cfg ManagerConfig, configFor func(model.TopicPartition) Config) (*Manager, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("storage: ManagerConfig.Runtime is nil")
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger, now: cfg.Now, configFor: configFor, stop: make(chan struct{}), fsys: vfs.Or(cfg.FS)}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.configFor == nil {
		m.configFor = func(model.TopicPartition) Config { return DefaultConfig() }
	}
	m.mu.parts = map[model.TopicPartition]*Partition{}
	_, m.faulty = m.fsys.(*vfs.Faulty)
	if m.files = cfg.files; m.files == nil {
		var err error
		if m.files, err = newManagerFileCache(m.fsys, cfg.MaxOpenFiles); err != nil {
			return nil, err
		}
	}
	if err := m.fsys.MkdirAll(cfg.Dir, partitionDirPerm); err != nil {
		return nil, fmt.Errorf("storage: data dir %s: %w: %w", cfg.Dir, model.ErrStorage, err)
	}
	if err := vfs.TestFault(m.fsys, "open", cfg.Dir); err != nil {
		return nil, fmt.Errorf("storage: data dir %s: %w: %w", cfg.Dir, model.ErrStorage, err)
	}
	marker := filepath.Join(cfg.Dir, cleanShutdownFile)
	m.stats.CleanShutdown = fileExists(marker)
	rps, err := readOffsetCheckpoint(filepath.Join(cfg.Dir, recoveryPointFile))
	if err != nil {
		m.logger.Warn("ignoring unreadable checkpoint; recovering everything", "err", err)
		rps = map[model.TopicPartition]model.Offset{}
	}
	lss, err := readOffsetCheckpoint(filepath.Join(cfg.Dir, logStartFile))
	if err != nil {
		m.logger.Warn("ignoring unreadable checkpoint", "err", err)
		lss = map[model.TopicPartition]model.Offset{}
	}
	ents, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("storage: data dir %s: %w: %w", cfg.Dir, model.ErrStorage, err)
	}
	var tps []model.TopicPartition
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), deleteDirSuffix) {
			m.removeInBackground(filepath.Join(cfg.Dir, e.Name()))
			continue
		}
		if !e.IsDir() || e.Name() == metadataPartitionID {
			continue
		}
		if tp, ok := parsePartitionDir(e.Name()); ok {
			tps = append(tps, tp)
		}
	}
	if err := m.CheckFileLimit(len(tps)); err != nil {
		return nil, fmt.Errorf("storage: data dir %s holds %d partitions: %w", cfg.Dir, len(tps), err)
	}
	// Partitions recover independently; with thousands of them the time
	// goes to small reads and opens, so several recover at once.
	type opened struct {
		p   *Partition
		rs  recoverStats
		err error
	}
	res := make([]opened, len(tps))
	var progressMu sync.Mutex
	done := 0
	parallel(len(tps), openWorkers, func(i int) {
		tp := tps[i]
		rp, hasRP := rps[tp]
		ls, hasLS := lss[tp]
		// A clean marker vouches only for partitions it covered: one with no
		// recovery point entry is rescanned.
		info := openInfo{clean: m.stats.CleanShutdown && hasRP, recoveryPoint: rp, hasRecoveryPoint: hasRP, logStart: ls, hasLogStart: hasLS}
		res[i].p, res[i].rs, res[i].err = m.openPartition(tp, info)
		if cfg.OnRecoveryProgress != nil {
			progressMu.Lock()
			done++
			cfg.OnRecoveryProgress(done, len(tps))
			progressMu.Unlock()
		}
	})
	var firstErr error
	for i, r := range res {
		if r.err != nil {
			// One partition's bad files must not stop the broker (with
			// systemd's Restart= that is a crash loop): its dir is moved
			// aside. Only a dir that cannot even be renamed fails the open.
			if qerr := m.quarantine(tps[i], r.err); qerr != nil && firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		m.mu.parts[tps[i]] = r.p
		m.stats.Partitions++
		if r.rs.rescanned {
			m.stats.Rescanned++
		}
		m.stats.TruncatedBytes += r.rs.truncated
	}
	if firstErr != nil {
		m.closePartitions()
		return nil, firstErr
	}
	if m.stats.CleanShutdown {
		if err := m.fsys.Remove(marker); err != nil && !os.IsNotExist(err) {
			m.closePartitions()
			return nil, fmt.Errorf("storage: remove %s: %w: %w", marker, model.ErrStorage, err)
		}
		if err := m.fsys.SyncDir(cfg.Dir); err != nil {
			m.closePartitions()
			return nil, fmt.Errorf("storage: sync %s: %w: %w", cfg.Dir, model.ErrStorage, err)
		}
	}
	m.logger.Info("storage recovered", "partitions", m.stats.Partitions, "rescanned", m.stats.Rescanned,
		"clean_shutdown", m.stats.CleanShutdown, "truncated_bytes", m.stats.TruncatedBytes, "quarantined", len(m.stats.Quarantined))
	if cfg.RetentionCheckInterval > 0 {
		m.loop.Add(1)
		go m.retentionLoop(cfg.RetentionCheckInterval)
	}
	cleaned, err := readOffsetCheckpoint(filepath.Join(cfg.Dir, cleanerCheckpointFile))
	if err != nil {
		m.logger.Warn("ignoring unreadable "+cleanerCheckpointFile+"; compacted partitions are cleaned from their start", "err", err)
	}
	for tp, off := range cleaned {
		if p, ok := m.mu.parts[tp]; ok {
			p.cleanedTo.Store(int64(off))
		}
	}
	nowMs := m.now().UnixMilli()
	for _, p := range m.mu.parts {
		if p.config().Compact {
			p.loadHorizons(model.Offset(p.cleanedTo.Load()), nowMs)
		}
	}
	m.dropQuarantinedCheckpoints()
	m.cleaner = newCleaner(m, cfg.Cleaner)
	if cfg.Cleaner.Enabled {
		for range m.cleaner.cfg.Threads {
			m.loop.Add(1)
			go m.cleaner.run()
		}
	}
	return m, nil
}

// newManagerFileCache is the segment file cache of a manager that has no
// shared one: bounded by maxOpenFiles (0: derived from RLIMIT_NOFILE, -1:
// unbounded).
func newManagerFileCache(fsys vfs.FS, maxOpenFiles int) (*fileCache, error) {
	maxFiles := maxOpenFiles
	if maxFiles == 0 {
		soft, err := fileLimitFn()
		if err != nil {
			return nil, fmt.Errorf("storage: open file limit: %w", err)
		}
		if maxFiles, err = ResolveMaxOpenFiles(0, soft); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	return newFileCache(fsys, max(maxFiles, 0)), nil
}

// shardKey hashes a topic-partition to pick its shard.
func shardKey(tp model.TopicPartition) uint32 {
	h := fnv.New32a()
	h.Write([]byte(tp.Topic))
	h.Write([]byte{byte(tp.Partition >> 24), byte(tp.Partition >> 16), byte(tp.Partition >> 8), byte(tp.Partition)})
	return h.Sum32()
}

func (m *Manager) newPartition(tp model.TopicPartition, cfg Config) *Partition {
	p := &Partition{tp: tp, dir: filepath.Join(m.cfg.Dir, tp.String()), m: m, shard: m.cfg.Runtime.ShardFor(shardKey(tp))}
	p.SetConfig(cfg)
	ch := make(chan struct{})
	p.changed.Store(&ch)
	p.lastFlush = m.now().UnixMilli()
	p.producers = producerState{}
	p.firstOpen = noOpenTxn
	return p
}

func (m *Manager) openPartition(tp model.TopicPartition, info openInfo) (*Partition, recoverStats, error) {
	p := m.newPartition(tp, m.configFor(tp))
	id, err := readPartitionMetadata(p.dir)
	if err != nil {
		// A torn write of a new partition's file: the dir was created
		// moments before a crash. The topic of its name adopts it.
		m.logger.Warn("ignoring unreadable "+partitionMetadataFile+"; the topic of this name adopts the log", "partition", tp.String(), "err", err)
	} else if id != (TopicID{}) {
		p.topicID.Store(&id)
	}
	rs, err := p.recover(info)
	if err != nil {
		p.releaseAll()
		return nil, rs, err
	}
	return p, rs, nil
}

// Recovery returns what OpenManager found.
func (m *Manager) Recovery() RecoveryStats { return m.stats }

// Partitions lists the open partitions, sorted.
func (m *Manager) Partitions() []model.TopicPartition {
	m.mu.Lock()
	out := make([]model.TopicPartition, 0, len(m.mu.parts))
	for tp := range m.mu.parts {
		out = append(out, tp)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Partition returns an open partition.
func (m *Manager) Partition(tp model.TopicPartition) (*Partition, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.mu.parts[tp]
	return p, ok
}

// CreatePartition creates (or returns the existing) partition log.
func (m *Manager) CreatePartition(tp model.TopicPartition, cfg Config) (*Partition, error) {
	if err := m.CreatePartitions(context.Background(), []NewPartition{{TP: tp, Config: cfg}})[0]; err != nil {
		return nil, err
	}
	p, ok := m.Partition(tp)
	if !ok {
		return nil, fmt.Errorf("storage: %s: create: %w", tp, model.ErrClosed)
	}
	return p, nil
}

// NewPartition is one partition for CreatePartitions.
type NewPartition struct {
	TP     model.TopicPartition
	Config Config
	// TopicID is written to partition.metadata; zero writes none.
	TopicID TopicID
}

// How CreatePartitions and Close spread their work. Creating a partition
// is a handful of file creations and a directory fsync; the journal
// commits concurrent fsyncs together, so many at once cost about what one
// costs. A chunk is published (Partition finds it) as soon as it is
// durable, so the first partitions serve before the last exist.
const (
	createWorkers = 32
	createChunk   = 1000
	openWorkers   = 8
	closeWorkers  = 32
)

// CreatePartitions creates the partitions that do not exist yet (existing
// ones are left as they are) and returns one error per entry, nil for a
// partition that exists afterwards. It first checks the open file limit
// for all of them together and creates none when they would not fit
// (ErrFileLimit). Each partition dir and its files are fsynced, then the
// data dir once per chunk, before the chunk is published. When ctx ends
// the partitions not started yet fail with its error.
func (m *Manager) CreatePartitions(ctx context.Context, ps []NewPartition) []error {
	errs := make([]error, len(ps))
	m.createMu.Lock()
	defer m.createMu.Unlock()
	var todo []int
	seen := make(map[model.TopicPartition]bool, len(ps))
	m.mu.Lock()
	for i, np := range ps {
		tp := np.TP
		switch {
		case m.mu.closed:
			errs[i] = fmt.Errorf("storage: %s: create: %w", tp, model.ErrClosed)
		case m.Offline() != nil:
			errs[i] = fmt.Errorf("storage: %s: create: %w: log dir %s is offline: %w", tp, model.ErrStorage, m.cfg.Dir, m.Offline())
		case m.mu.parts[tp] != nil || seen[tp]:
		case !validPartitionName(tp):
			errs[i] = fmt.Errorf("storage: %s: create: %w", tp, model.ErrInvalidTopic)
		default:
			seen[tp] = true
			todo = append(todo, i)
		}
	}
	m.mu.Unlock()
	if len(todo) > 0 && m.staleCheckpoints {
		if err := m.CheckpointAll(); err != nil {
			for _, i := range todo {
				errs[i] = fmt.Errorf("storage: %s: create: %w", ps[i].TP, err)
			}
			return errs
		}
		m.staleCheckpoints = false
	}
	if err := m.CheckFileLimit(len(todo)); err != nil {
		for _, i := range todo {
			errs[i] = fmt.Errorf("storage: create %d partitions: %w", len(todo), err)
		}
		return errs
	}
	for start := 0; start < len(todo); start += createChunk {
		chunk := todo[start:min(start+createChunk, len(todo))]
		if err := ctx.Err(); err != nil {
			for _, i := range todo[start:] {
				errs[i] = fmt.Errorf("storage: %s: create: %w", ps[i].TP, err)
			}
			break
		}
		made := make([]*Partition, len(chunk))
		parallel(len(chunk), createWorkers, func(k int) {
			i := chunk[k]
			made[k], errs[i] = m.createOne(ps[i])
			m.noteErr(errs[i])
		})
		if err := m.noteErr(m.fsys.SyncDir(m.cfg.Dir)); err != nil {
			for k, i := range chunk {
				if made[k] != nil {
					made[k].releaseAll()
					made[k] = nil
					errs[i] = fmt.Errorf("storage: %s: create: %w: %w", ps[i].TP, model.ErrStorage, err)
				}
			}
		}
		m.mu.Lock()
		closed := m.mu.closed
		for k, i := range chunk {
			switch {
			case made[k] == nil:
			case closed:
				// Close has taken its list already: these would never be
				// flushed or closed. Their dirs stay and open next time.
				made[k].releaseAll()
				errs[i] = fmt.Errorf("storage: %s: create: %w", ps[i].TP, model.ErrClosed)
			default:
				m.mu.parts[ps[i].TP] = made[k]
			}
		}
		m.mu.Unlock()
	}
	return errs
}

func validPartitionName(tp model.TopicPartition) bool {
	_, ok := parsePartitionDir(tp.String())
	return ok && tp.Topic != "" && tp.Topic != "." && tp.Topic != ".." && filepath.Base(tp.Topic) == tp.Topic
}

// createOne makes one partition's dir and empty first segment, durable in
// the dir (the caller syncs the data dir). A dir left by an earlier try is
// opened as it is.
func (m *Manager) createOne(np NewPartition) (*Partition, error) {
	tp := np.TP
	dir := filepath.Join(m.cfg.Dir, tp.String())
	if err := m.fsys.MkdirAll(dir, partitionDirPerm); err != nil {
		return nil, fmt.Errorf("storage: %s: create: %w: %w", tp, model.ErrStorage, err)
	}
	p := m.newPartition(tp, np.Config)
	if np.TopicID != (TopicID{}) {
		if old, err := readPartitionMetadata(dir); err == nil && old != (TopicID{}) && old != np.TopicID {
			// Left by an earlier topic of this name whose deletion did
			// not finish: its records are not this topic's.
			return nil, fmt.Errorf("storage: %s: create: the dir holds topic id %s, not %s: %w", tp, old, np.TopicID, model.ErrStorage)
		}
		// Not fsynced: the dir fsync below makes the name durable, and a
		// file torn by a crash right after is read as no id (adopted).
		if err := vfs.WriteFile(m.fsys, filepath.Join(dir, partitionMetadataFile), encodePartitionMetadata(np.TopicID), 0o644); err != nil {
			return nil, fmt.Errorf("storage: %s: create: %w: %w", tp, model.ErrStorage, err)
		}
		id := np.TopicID
		p.topicID.Store(&id)
	}
	if _, err := p.recover(openInfo{clean: true}); err != nil {
		p.releaseAll()
		return nil, err
	}
	if err := m.fsys.SyncDir(dir); err != nil {
		p.releaseAll()
		return nil, fmt.Errorf("storage: %s: create: %w: %w", tp, model.ErrStorage, err)
	}
	return p, nil
}

// DeletePartition stops appends to the partition and removes its dir. The
// dir is first renamed to "<topic>-<partition>.<random>-delete", as Kafka
// does, and that rename made durable, so the name is free for a new log of
// a re-created topic at once; the files are removed in the background (and
// by OpenManager when a crash came first).
func (m *Manager) DeletePartition(tp model.TopicPartition) error {
	m.createMu.Lock()
	defer m.createMu.Unlock()
	m.mu.Lock()
	p, ok := m.mu.parts[tp]
	delete(m.mu.parts, tp)
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("storage: %s: delete: %w", tp, model.ErrUnknownTopicOrPartition)
	}
	if m.Offline() != nil {
		// Nothing touches an offline dir: the log is forgotten here, and
		// its files stay until the dir is back (the next start deletes a
		// log whose topic is gone).
		p.onShard(func() { p.closed = true }, func() error {
			p.closed, p.deleted = true, true
			p.publish()
			p.releaseAll()
			return nil
		})
		return nil
	}
	err := p.onShard(func() { p.closed = true }, func() error {
		p.closed, p.deleted = true, true
		p.publish()
		p.releaseAll()
		return nil
	})
	if err != nil {
		return err
	}
	var suffix [16]byte
	_, _ = rand.Read(suffix[:])
	doomed := filepath.Join(m.cfg.Dir, fmt.Sprintf("%s.%x%s", tp, suffix, deleteDirSuffix))
	if err := m.noteErr(m.fsys.Rename(p.dir, doomed)); err != nil {
		return fmt.Errorf("storage: %s: delete: %w: %w", tp, model.ErrStorage, err)
	}
	if err := m.noteErr(m.fsys.SyncDir(m.cfg.Dir)); err != nil {
		return fmt.Errorf("storage: %s: delete: %w: %w", tp, model.ErrStorage, err)
	}
	m.staleCheckpoints = true
	m.removeInBackground(doomed)
	return nil
}

// deleteDirSuffix ends the name of a deleted partition's dir until its
// files are gone.
const deleteDirSuffix = "-delete"

// removeInBackground removes a deleted partition's dir off the caller's
// path; Close waits for it.
func (m *Manager) removeInBackground(dir string) {
	m.removing.Add(1)
	go func() {
		defer m.removing.Done()
		if err := m.fsys.RemoveAll(dir); err != nil {
			m.logger.Warn("cannot remove a deleted partition's files; they go at the next start", "dir", dir, "err", err)
		}
	}()
}

// shardOp runs fn on the partition's shard in Complete, that is after every
// task queued before it finished its I/O and was published; prepare (if
// any) runs in Prepare, before later tasks of the same drain.
type shardOp struct {
	prepare func()
	fn      func() error
	err     error
	done    chan struct{}
}

func (o *shardOp) Prepare(*iocore.Batch) {
	if o.prepare != nil {
		o.prepare()
	}
}

func (o *shardOp) Complete(error) {
	o.err = o.fn()
	close(o.done)
}

// onShard runs prepare and fn on the shard and waits. When the runtime is
// already closed nothing else can touch the partition, so they run here.
func (p *Partition) onShard(prepare func(), fn func() error) error {
	o := &shardOp{prepare: prepare, fn: fn, done: make(chan struct{})}
	if err := p.shard.Submit(o); err != nil {
		if errors.Is(err, iocore.ErrClosed) {
			if prepare != nil {
				prepare()
			}
			return fn()
		}
		return err
	}
	<-o.done
	return o.err
}

// all returns the open partitions.
func (m *Manager) all() []*Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Partition, 0, len(m.mu.parts))
	for _, p := range m.mu.parts {
		out = append(out, p)
	}
	return out
}

// RunRetention runs one pass of flush.ms, segment.ms rolls and time and
// size retention over every partition.
func (m *Manager) RunRetention() {
	if m.Offline() != nil {
		return
	}
	moved := false
	for _, p := range m.all() {
		var deleted bool
		err := p.onShard(nil, func() error {
			var err error
			deleted, err = p.retain()
			return err
		})
		if err != nil {
			m.logger.Warn("retention pass failed", "partition", p.tp.String(), "err", err)
		}
		moved = moved || deleted
	}
	if moved {
		if err := m.CheckpointAll(); err != nil {
			m.logger.Warn("cannot write checkpoints", "err", err)
		}
	}
}

// retain is one retention pass for the partition. Shard only, with every
// earlier task completed.
func (p *Partition) retain() (deleted bool, err error) {
	if p.closed {
		return false, nil
	}
	cfg := p.config()
	nowMs := p.m.now().UnixMilli()
	a := p.active()
	if !cfg.Durable && p.unflushed > 0 && cfg.FlushMs >= 0 && nowMs-p.lastFlush >= cfg.FlushMs && p.inflight == 0 {
		if err := a.log.Sync(); err != nil {
			return false, p.storageErr(a, p.logEnd, "flush", err)
		}
		p.unflushed, p.lastFlush = 0, nowMs
	}
	if p.inflight == 0 && a.comm.size > 0 && cfg.SegmentMs > 0 && nowMs-a.rollBaseMs() > cfg.SegmentMs {
		if err := p.roll(nil, nil, "segment.ms"); err != nil {
			return false, err
		}
	}
	// deletable reports whether segment i may go, rolling first when it is
	// the active one.
	deletable := func(i int) (bool, error) {
		s := p.segs[i]
		if s.comm.size == 0 || s.comm.nextOffset > p.hw {
			return false, nil
		}
		if i == len(p.segs)-1 {
			if p.inflight != 0 {
				return false, nil
			}
			if err := p.roll(nil, nil, "retention"); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	n := 0
	if cfg.RetentionMs >= 0 {
		for n < len(p.segs) {
			s := p.segs[n]
			ts := s.comm.maxTs
			if ts < 0 {
				ts = s.createdMs
			}
			if nowMs-ts <= cfg.RetentionMs {
				break
			}
			ok, err := deletable(n)
			if err != nil {
				return false, err
			}
			if !ok {
				break
			}
			n++
		}
	}
	if cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range p.segs[n:] {
			total += s.comm.size
		}
		for n < len(p.segs) && total > cfg.RetentionBytes {
			ok, err := deletable(n)
			if err != nil {
				return false, err
			}
			if !ok {
				break
			}
			total -= p.segs[n].comm.size
			n++
		}
	}
	if n > 0 {
		p.dropOldest(n)
		return true, nil
	}
	return false, nil
}

func (m *Manager) retentionLoop(every time.Duration) {
	defer m.loop.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.RunRetention()
			if err := m.CheckpointAll(); err != nil {
				m.logger.Warn("cannot write checkpoints", "err", err)
			}
		}
	}
}

// CheckpointAll writes the recovery-point and log-start checkpoints.
func (m *Manager) CheckpointAll() error {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	if err := m.Offline(); err != nil {
		return fmt.Errorf("storage: checkpoints: %w: log dir %s is offline: %w", model.ErrStorage, m.cfg.Dir, err)
	}
	rps := map[model.TopicPartition]model.Offset{}
	lss := map[model.TopicPartition]model.Offset{}
	for _, p := range m.all() {
		rps[p.tp] = model.Offset(p.recoveryPoint.Load())
		lss[p.tp] = p.view.Load().logStart
	}
	if err := m.noteErr(writeFileAtomic(m.fsys, filepath.Join(m.cfg.Dir, recoveryPointFile), encodeOffsetCheckpoint(rps), true)); err != nil {
		return fmt.Errorf("storage: write %s: %w: %w", recoveryPointFile, model.ErrStorage, err)
	}
	if err := m.noteErr(writeFileAtomic(m.fsys, filepath.Join(m.cfg.Dir, logStartFile), encodeOffsetCheckpoint(lss), true)); err != nil {
		return fmt.Errorf("storage: write %s: %w: %w", logStartFile, model.ErrStorage, err)
	}
	return nil
}

func (m *Manager) writeLogStartCheckpoint() error { return m.CheckpointAll() }

// Close stops the retention loop, flushes every partition (log, indexes,
// producer snapshot), writes the checkpoints and then the clean-shutdown
// marker. It does not close the iocore runtime.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	m.mu.Unlock()
	close(m.stop)
	m.loop.Wait()
	m.removing.Wait()
	if m.Offline() != nil {
		return m.closeOffline()
	}
	// The shard marks each partition closed and writes its last index
	// entries; the fsyncs and the snapshot happen off the shard, many
	// partitions at once, since nothing else writes a closed partition.
	//
	// Each partition's small files (producer snapshot, leader epochs, the
	// segment files' last writes) are written without an fsync each: with
	// 100,000 partitions those cost about a millisecond per partition.
	// One syncfs(2) of the data dir's file system then makes all of them
	// durable, directories included, before the checkpoints and the
	// clean-shutdown marker are written: a crash before the marker takes
	// the unclean recovery path, which does not trust them anyway.
	parts := m.all()
	perr := make([]error, len(parts))
	perFile := m.closePerFileSync
	ends := make([]model.Offset, len(parts)) // each flushed log end; -1: none
	for i := range ends {
		ends[i] = -1
	}
	parallel(len(parts), closeWorkers, func(i int) {
		p := parts[i]
		var flush func(bool) error
		err := p.onShard(func() { p.closed = true }, func() error {
			var err error
			flush, err = p.closeOnShard()
			return err
		})
		if err == nil {
			err = flush(perFile)
		}
		perr[i] = err
		if err == nil {
			ends[i] = p.closeEnd
		}
	})
	var errs []error
	for _, err := range perr {
		if err != nil {
			errs = append(errs, err)
		}
	}
	synced := true
	if !perFile && len(parts) > 0 {
		if err := m.fsys.SyncFS(m.cfg.Dir); err != nil {
			errs = append(errs, fmt.Errorf("storage: syncfs %s: %w: %w", m.cfg.Dir, model.ErrStorage, err))
			synced = false
		}
	}
	for i, p := range parts {
		if synced && ends[i] >= 0 {
			p.recoveryPoint.Store(int64(ends[i])) // durable now
		}
	}
	if err := m.CheckpointAll(); err != nil {
		errs = append(errs, err)
	}
	m.closePartitions()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := writeFileAtomic(m.fsys, filepath.Join(m.cfg.Dir, cleanShutdownFile), nil, true); err != nil {
		return fmt.Errorf("storage: write %s: %w: %w", cleanShutdownFile, model.ErrStorage, err)
	}
	return nil
}

// closeOffline closes the partitions of an offline dir without writing
// anything: no flush, checkpoint or clean-shutdown marker, so the next
// start recovers the dir from what its disk holds.
func (m *Manager) closeOffline() error {
	for _, p := range m.all() {
		p.onShard(func() { p.closed = true }, func() error {
			p.closed = true
			p.publish()
			return nil
		})
	}
	m.closePartitions()
	return nil
}

// closePartitions releases every partition's files.
func (m *Manager) closePartitions() {
	for _, p := range m.all() {
		p.releaseAll()
	}
}

// shutdown makes the partition durable for a clean restart: log synced,
// final time-index entry, indexes cut to their entries and synced, producer
// snapshot at the log end, recovery point at the log end. Shard only, after
// every earlier task and with appends refused.
func (p *Partition) shutdown() error {
	flush, err := p.closeOnShard()
	if err != nil {
		return err
	}
	if err := flush(true); err != nil {
		return err
	}
	p.recoveryPoint.Store(int64(p.closeEnd))
	return nil
}

// closeOnShard is the shard's part of shutdown: appends refused, the final
// time-index entry written and the indexes cut to their entries. The
// returned flush does the rest (syncs, producer snapshot, epochs; the
// caller moves the recovery point to closeEnd once they are durable) and
// may run on any goroutine: once closed, nothing else writes the
// partition's files or its producer state. flush(false) writes without
// fsyncs, for a caller that makes the whole file system durable at once.
func (p *Partition) closeOnShard() (flush func(perFileSync bool) error, err error) {
	p.closeEnd = -1
	p.closed = true
	defer p.publish()
	a := p.active()
	if a != p.commActive || p.inflight != 0 {
		return nil, p.errf(a, p.logEnd, "close: %d appends still in flight: %w", p.inflight, model.ErrStorage)
	}
	if fin, pos := a.finalTimeEntry(); fin != nil {
		if _, err := a.tidxF.WriteAt(fin, pos); err != nil {
			return nil, p.storageErr(a, p.logEnd, "close: time index", err)
		}
		a.tindex.add(indexEntry{ts: a.pend.maxTs, key: uint32(a.pend.maxTsOff - a.base)})
		a.pend.tidxEntries++
		a.pend.lastTidxTs = a.pend.maxTs
		a.comm = a.pend
	}
	// An index file nothing wrote since it was opened is as creation or
	// recovery left it: not reopened to be cut or synced (fdcache.go).
	if a.idxF.written() {
		if err := a.idxF.Truncate(int64(a.comm.idxEntries) * offsetIndexEntryBytes); err != nil {
			return nil, p.storageErr(a, p.logEnd, "close: index", err)
		}
	}
	if a.tidxF.written() {
		if err := a.tidxF.Truncate(int64(a.comm.tidxEntries) * timeIndexEntryBytes); err != nil {
			return nil, p.storageErr(a, p.logEnd, "close: time index", err)
		}
	}
	end := p.logEnd
	// An empty log has no batches to replay: without a snapshot recovery
	// finds the same (empty) producer state, so none is written.
	needSnapshot := end > p.segs[0].base || len(p.producers) > 0
	return func(perFileSync bool) error {
		for _, f := range []*cachedFile{a.log, a.idxF, a.tidxF, a.txnF} {
			if !perFileSync || f == nil || !f.unsynced() {
				continue // every write through it is fsynced already, or syncfs will
			}
			if err := f.Sync(); err != nil {
				return p.storageErr(a, end, "close: sync", err)
			}
		}
		if needSnapshot {
			if err := writeProducerSnapshot(p.m.fsys, p.dir, p.producers, end, perFileSync); err != nil {
				return p.storageErr(nil, end, "close: producer snapshot", err)
			}
		}
		if err := p.writeEpochsIfChanged(perFileSync); err != nil {
			return p.storageErr(nil, end, "close: leader-epoch-checkpoint", err)
		}
		p.closeEnd = end
		return nil
	}, nil
}

// writeEpochsIfChanged writes the leader-epoch-checkpoint unless the file
// already holds exactly these epochs (it is always written durably), or
// there are none and there is no file.
func (p *Partition) writeEpochsIfChanged(durable bool) error {
	want := encodeEpochs(p.epochs)
	have, err := os.ReadFile(filepath.Join(p.dir, leaderEpochFile))
	if err == nil && bytes.Equal(have, want) && (!p.epochsDirty || !durable) {
		return nil // durable, or made durable by the caller's syncfs
	}
	if errors.Is(err, fs.ErrNotExist) && len(p.epochs) == 0 {
		return nil
	}
	if !durable {
		return writeFileAtomic(p.m.fsys, filepath.Join(p.dir, leaderEpochFile), want, false)
	}
	return p.writeEpochs()
}
