package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// LogDirs is the partition logs of every log dir (log.dirs, JBOD): one
// Manager per dir, and the Manager methods the daemon uses, routed to the
// dir that holds each partition. A new partition goes to the online dir
// holding the fewest partitions, the first of them on a tie (Kafka's
// placement). A dir that cannot be opened for a disk error starts
// offline, and one whose disk fails later goes offline (offline.go); the
// others keep serving. The segment file cache (ringtail.max_open_files)
// is shared by all of them.
type LogDirs struct {
	cfg   LogDirsConfig
	dirs  []*logDir
	files *fileCache

	createMu sync.Mutex // serializes placement with creations and deletions
	heldMu   sync.Mutex
	// held are partitions the metadata assigns here that no online dir
	// holds while some dir is offline: they may live on it (HoldOffline);
	// and partitions quarantined at startup until the controller moved
	// leadership and the ISR off them. nheld counts them for the data
	// path's lock-free check.
	held  map[model.TopicPartition]bool
	nheld atomic.Int64
}

// LogDirsConfig configures OpenLogDirs.
type LogDirsConfig struct {
	// Dirs are the log dirs, log.dirs in order.
	Dirs []string
	// Manager configures every dir's Manager; Dir and OnOffline are set
	// per dir.
	Manager ManagerConfig
	// Check, if set, runs before a dir opens (the daemon reads or writes
	// its meta.properties): a disk error leaves the dir offline, another
	// error stops OpenLogDirs.
	Check func(dir string) error
	// OnOffline, if set, is called once for each dir that goes offline:
	// at open (parts nil: what the dir holds is unknown) or while running
	// (the partitions it held). It may run on a shard goroutine and must
	// not block.
	OnOffline func(dir string, err error, parts []model.TopicPartition)
}

// logDir is one log dir: its manager, or the error that kept it from
// opening.
type logDir struct {
	path    string
	m       *Manager // nil when the dir did not open
	openErr error
}

// offline returns the error that took the dir offline, or nil.
func (d *logDir) offline() error {
	if d.m == nil {
		return d.openErr
	}
	return d.m.Offline()
}

// OpenLogDirs opens and recovers every log dir. A dir that fails with a
// disk error (IsDiskError) starts offline; any other error, a partition
// found in two dirs, or no dir online fails it.
func OpenLogDirs(cfg LogDirsConfig, configFor func(model.TopicPartition) Config) (_ *LogDirs, err error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("storage: no log dir")
	}
	fsys := vfs.Or(cfg.Manager.FS)
	files, err := newManagerFileCache(fsys, cfg.Manager.MaxOpenFiles)
	if err != nil {
		return nil, err
	}
	l := &LogDirs{cfg: cfg, files: files, held: map[model.TopicPartition]bool{}}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	where := map[model.TopicPartition]string{}
	var offlineErrs []error
	for _, path := range cfg.Dirs {
		d := &logDir{path: path}
		l.dirs = append(l.dirs, d)
		if cfg.Check != nil {
			d.openErr = cfg.Check(path)
		}
		if d.openErr == nil {
			mc := cfg.Manager
			mc.Dir, mc.files = path, files
			mc.OnOffline = func(err error, parts []model.TopicPartition) {
				if cfg.OnOffline != nil {
					cfg.OnOffline(path, err, parts)
				}
			}
			d.m, d.openErr = OpenManager(mc, configFor)
		}
		if d.openErr != nil {
			if !IsDiskError(d.openErr) {
				return nil, fmt.Errorf("storage: log dir %s: %w", path, d.openErr)
			}
			d.m = nil
			offlineErrs = append(offlineErrs, fmt.Errorf("log dir %s: %w", path, d.openErr))
			continue
		}
		for _, tp := range d.m.Partitions() {
			if other, dup := where[tp]; dup {
				return nil, fmt.Errorf("storage: partition %s is in two log dirs, %s and %s: remove the stale copy (as Kafka, the broker does not pick one)", tp, other, path)
			}
			where[tp] = path
		}
	}
	if len(offlineErrs) == len(l.dirs) {
		return nil, fmt.Errorf("storage: no log dir is online (log.dirs): %w: %w", model.ErrStorage, errors.Join(offlineErrs...))
	}
	for _, d := range l.dirs {
		if d.m == nil {
			cfg.Manager.loggerOrDefault().Error("log dir offline at start: it could not be opened; its partitions answer KAFKA_STORAGE_ERROR until the disk is replaced or repaired and the broker restarted",
				"dir", d.path, "err", d.openErr)
			if cfg.OnOffline != nil {
				cfg.OnOffline(d.path, d.openErr, nil)
			}
		}
	}
	return l, nil
}

// online returns the managers of the online dirs.
func (l *LogDirs) online() []*Manager {
	var out []*Manager
	for _, d := range l.dirs {
		if d.m != nil && d.m.Offline() == nil {
			out = append(out, d.m)
		}
	}
	return out
}

// holder returns the manager (online or not) that holds tp.
func (l *LogDirs) holder(tp model.TopicPartition) (*Manager, *Partition) {
	for _, d := range l.dirs {
		if d.m == nil {
			continue
		}
		if p, ok := d.m.Partition(tp); ok {
			return d.m, p
		}
	}
	return nil, nil
}

// Partition returns an open partition, whichever dir holds it (an offline
// dir's partitions answer model.ErrStorage).
func (l *LogDirs) Partition(tp model.TopicPartition) (*Partition, bool) {
	_, p := l.holder(tp)
	return p, p != nil
}

// Partitions lists the partitions of every dir, sorted.
func (l *LogDirs) Partitions() []model.TopicPartition {
	var out []model.TopicPartition
	for _, d := range l.dirs {
		if d.m != nil {
			out = append(out, d.m.Partitions()...)
		}
	}
	sortPartitions(out)
	return out
}

func sortPartitions(tps []model.TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// CreatePartition creates (or returns the existing) partition log.
func (l *LogDirs) CreatePartition(tp model.TopicPartition, cfg Config) (*Partition, error) {
	if err := l.CreatePartitions(context.Background(), []NewPartition{{TP: tp, Config: cfg}})[0]; err != nil {
		return nil, err
	}
	p, ok := l.Partition(tp)
	if !ok {
		return nil, fmt.Errorf("storage: %s: create: %w", tp, model.ErrClosed)
	}
	return p, nil
}

// CreatePartitions is Manager.CreatePartitions over the dirs: a partition
// some dir holds is left as it is; each new one goes to the online dir
// with the fewest partitions, counting the ones placed before it. With
// no dir online they fail with model.ErrStorage.
func (l *LogDirs) CreatePartitions(ctx context.Context, ps []NewPartition) []error {
	l.createMu.Lock()
	defer l.createMu.Unlock()
	errs := make([]error, len(ps))
	online := l.online()
	counts := make([]int, len(online))
	for i, m := range online {
		counts[i] = m.Len()
	}
	byDir := make([][]int, len(online))
	placed := map[model.TopicPartition]int{}
	for i, np := range ps {
		if _, p := l.holder(np.TP); p != nil {
			continue
		}
		if k, ok := placed[np.TP]; ok {
			byDir[k] = append(byDir[k], i)
			continue
		}
		if len(online) == 0 {
			errs[i] = fmt.Errorf("storage: %s: create: %w: every log dir is offline", np.TP, model.ErrStorage)
			continue
		}
		best := 0
		for k := range counts {
			if counts[k] < counts[best] {
				best = k
			}
		}
		counts[best]++
		placed[np.TP] = best
		byDir[best] = append(byDir[best], i)
	}
	for k, idx := range byDir {
		if len(idx) == 0 {
			continue
		}
		sub := make([]NewPartition, len(idx))
		for j, i := range idx {
			sub[j] = ps[i]
		}
		for j, err := range online[k].CreatePartitions(ctx, sub) {
			errs[idx[j]] = err
			if err == nil {
				l.Release(sub[j].TP)
			}
		}
	}
	return errs
}

// DeletePartition deletes the partition from the dir that holds it.
func (l *LogDirs) DeletePartition(tp model.TopicPartition) error {
	l.createMu.Lock()
	defer l.createMu.Unlock()
	m, _ := l.holder(tp)
	if m == nil {
		return fmt.Errorf("storage: %s: delete: %w", tp, model.ErrUnknownTopicOrPartition)
	}
	return m.DeletePartition(tp)
}

// Close closes every dir's manager (an offline one without writing).
func (l *LogDirs) Close() error {
	var errs []error
	for _, d := range l.dirs {
		if d.m != nil {
			if err := d.m.Close(); err != nil {
				errs = append(errs, fmt.Errorf("log dir %s: %w", d.path, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Recovery adds up what OpenManager found in each dir; CleanShutdown is
// whether every opened dir was shut down cleanly.
func (l *LogDirs) Recovery() RecoveryStats {
	st := RecoveryStats{CleanShutdown: true}
	for _, d := range l.dirs {
		if d.m == nil {
			continue
		}
		r := d.m.Recovery()
		st.Partitions += r.Partitions
		st.Rescanned += r.Rescanned
		st.TruncatedBytes += r.TruncatedBytes
		st.CleanShutdown = st.CleanShutdown && r.CleanShutdown
		st.Quarantined = append(st.Quarantined, r.Quarantined...)
	}
	return st
}

// CleanerStats adds up the cleaners' counters.
func (l *LogDirs) CleanerStats() CleanerStats {
	var st CleanerStats
	for _, d := range l.dirs {
		if d.m == nil {
			continue
		}
		c := d.m.CleanerStats()
		st.Passes += c.Passes
		st.BytesRead += c.BytesRead
		st.BytesWritten += c.BytesWritten
		st.Uncleanable += c.Uncleanable
	}
	return st
}

// FileCache returns the shared segment file cache's figures.
func (l *LogDirs) FileCache() FileCacheStats { return l.files.stats() }

// SetCleanFault is Manager.SetCleanFault on every dir.
func (l *LogDirs) SetCleanFault(f func(step string) bool) {
	for _, d := range l.dirs {
		if d.m != nil {
			d.m.SetCleanFault(f)
		}
	}
}

// CheckFileLimit is Manager.CheckFileLimit (the bound is shared).
func (l *LogDirs) CheckFileLimit(add int) error {
	for _, d := range l.dirs {
		if d.m != nil {
			return d.m.CheckFileLimit(add)
		}
	}
	return CheckFileLimit(add)
}

// Clean is Manager.Clean on the dir holding tp.
func (l *LogDirs) Clean(tp model.TopicPartition) (model.Offset, error) {
	m, _ := l.holder(tp)
	if m == nil {
		return -1, fmt.Errorf("storage: %s: clean: %w", tp, model.ErrUnknownTopicOrPartition)
	}
	return m.Clean(tp)
}

// Offline reports whether tp is offline here: the dir holding it is
// offline, or no dir holds it and HoldOffline marked it.
func (l *LogDirs) Offline(tp model.TopicPartition) bool {
	if l.nheld.Load() == 0 && !l.AnyOffline() {
		return false // the data path's case: no lock taken
	}
	if m, _ := l.holder(tp); m != nil {
		return m.Offline() != nil
	}
	l.heldMu.Lock()
	defer l.heldMu.Unlock()
	return l.held[tp]
}

// AnyOffline reports whether some dir is offline.
func (l *LogDirs) AnyOffline() bool {
	for _, d := range l.dirs {
		if d.offline() != nil {
			return true
		}
	}
	return false
}

// HoldOffline marks partitions the metadata assigns to this node that no
// online dir holds while some dir is offline: they may live on the
// offline dir, so they are offline, not created empty (Kafka's isNew
// rule). A creation of one of them places it anew and ends the hold.
func (l *LogDirs) HoldOffline(tps []model.TopicPartition) {
	l.heldMu.Lock()
	defer l.heldMu.Unlock()
	for _, tp := range tps {
		l.held[tp] = true
	}
	l.nheld.Store(int64(len(l.held)))
}

// Release ends HoldOffline for tp (its topic was deleted or re-created).
func (l *LogDirs) Release(tp model.TopicPartition) {
	l.heldMu.Lock()
	defer l.heldMu.Unlock()
	delete(l.held, tp)
	l.nheld.Store(int64(len(l.held)))
}

// Held lists the partitions HoldOffline marked, sorted.
func (l *LogDirs) Held() []model.TopicPartition {
	l.heldMu.Lock()
	out := make([]model.TopicPartition, 0, len(l.held))
	for tp := range l.held {
		out = append(out, tp)
	}
	l.heldMu.Unlock()
	sortPartitions(out)
	return out
}

// DirState is one log dir as DescribeLogDirs and the metrics show it.
type DirState struct {
	Path string
	// Err is what took the dir offline; nil while it is online.
	Err error
	// Partitions are the partitions the dir holds, sorted: listed only by
	// DirPartitions (none for a dir that did not open).
	Partitions []model.TopicPartition
}

// Dirs describes every log dir, in log.dirs order, without the
// partitions it holds: the metrics and DescribeLogDirs' dir list ask for
// it often, and listing and sorting every partition of a node with
// 100,000 of them cost each call milliseconds.
func (l *LogDirs) Dirs() []DirState {
	out := make([]DirState, len(l.dirs))
	for i, d := range l.dirs {
		out[i] = DirState{Path: d.path, Err: d.offline()}
	}
	return out
}

// DirPartitions is Dirs with each dir's partitions listed.
func (l *LogDirs) DirPartitions() []DirState {
	out := l.Dirs()
	for i, d := range l.dirs {
		if d.m != nil {
			out[i].Partitions = d.m.Partitions()
		}
	}
	return out
}

// DirOf returns the log dir holding tp, or "".
func (l *LogDirs) DirOf(tp model.TopicPartition) string {
	if m, _ := l.holder(tp); m != nil {
		return m.cfg.Dir
	}
	return ""
}

// Len is the number of open partitions.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.parts)
}

// Dir is the manager's data dir.
func (m *Manager) Dir() string { return m.cfg.Dir }

func (c ManagerConfig) loggerOrDefault() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}
