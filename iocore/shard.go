package iocore

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Limits of the shard runtime.
const (
	// maxBatchTasks bounds how many queued tasks one drain takes, so a busy
	// shard still completes (and acknowledges) work in bounded chunks.
	maxBatchTasks = 1024
	// defaultQueueDepthTasks is each shard's queue capacity; Submit blocks
	// when it is full (backpressure to connections).
	defaultQueueDepthTasks = 4096
	// defaultRingEntries is the io_uring submission queue size per shard.
	defaultRingEntries = 1024
)

// Task is one unit of shard work. See the package doc for the contract.
type Task interface {
	// Prepare runs on the shard goroutine and adds I/O to b.
	Prepare(b *Batch)
	// Complete runs on the shard goroutine after the batch's I/O completed,
	// with the first error among the ops this task added, or nil. It must
	// not block.
	Complete(err error)
}

// Batch gathers the I/O of one drain.
type Batch struct {
	writes []Op
	syncs  []Op
	// owner[i] is the task index that added writes[i]; syncOwners lists, per
	// sync, the tasks that asked for it.
	owner      []int
	syncFD     map[int]int // fd -> index in syncs
	syncOwners [][]int
	cur        int // index of the task being prepared
	// commitAfter: the task being prepared asked for CommitAfter.
	commitAfter bool
}

// CommitAfter asks the drain to submit the I/O added so far and complete
// its tasks right after the current task's Prepare, before it prepares the
// next task: for a task that holds a resource until its Complete (storage
// pins the descriptors its I/O uses) and finds that resource short, so the
// drain does not take more of it.
func (b *Batch) CommitAfter() { b.commitAfter = true }

// Write schedules a write of bufs at off in fd. The bufs must stay unchanged
// until the task's Complete.
func (b *Batch) Write(fd int, off int64, bufs ...[]byte) {
	b.writes = append(b.writes, Op{Kind: OpWrite, FD: fd, Offset: off, Bufs: bufs})
	b.owner = append(b.owner, b.cur)
}

// Sync schedules one fdatasync of fd after all of this batch's writes;
// several tasks asking for the same fd share one sync.
func (b *Batch) Sync(fd int) {
	if i, ok := b.syncFD[fd]; ok {
		owners := b.syncOwners[i]
		if owners[len(owners)-1] != b.cur {
			b.syncOwners[i] = append(owners, b.cur)
		}
		return
	}
	b.syncFD[fd] = len(b.syncs)
	b.syncs = append(b.syncs, Op{Kind: OpSync, FD: fd})
	b.syncOwners = append(b.syncOwners, []int{b.cur})
}

func (b *Batch) reset() {
	for i := range b.writes {
		b.writes[i] = Op{}
	}
	b.writes = b.writes[:0]
	b.syncs = b.syncs[:0]
	b.owner = b.owner[:0]
	b.syncOwners = b.syncOwners[:0]
	clear(b.syncFD)
}

// Stats are a shard's counters, read atomically.
type Stats struct {
	Drains     atomic.Uint64 // batches submitted
	Tasks      atomic.Uint64 // tasks completed
	Writes     atomic.Uint64
	Syncs      atomic.Uint64
	Heartbeats atomic.Uint64 // increments on every loop pass, for liveness checks

	// BatchOps is the number of ops (writes and syncs) per submitted batch.
	BatchOps Log2Histogram
	// SyncBatchNanos is the wall time, in nanoseconds, of each submitted
	// batch that carries fsyncs: its writes, then its syncs. It is the
	// group-commit latency a durable append waits for.
	SyncBatchNanos Log2Histogram
}

// Log2Histogram counts observations by power of two without locks: bucket i
// holds the values v with bits.Len64(v) == i, that is 2^(i-1) <= v <= 2^i-1
// (bucket 0 holds zeros).
type Log2Histogram struct {
	counts [65]atomic.Uint64
	sum    atomic.Uint64
}

// Observe adds one value.
func (h *Log2Histogram) Observe(v uint64) {
	h.counts[bits.Len64(v)].Add(1)
	h.sum.Add(v)
}

// Snapshot returns the per-bucket counts and the sum of all values. The
// counts are read one by one, so a snapshot taken during Observe calls may
// be off by the observations in flight.
func (h *Log2Histogram) Snapshot() (counts [65]uint64, sum uint64) {
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
	}
	return counts, h.sum.Load()
}

// Shard is one goroutine locked to an OS thread, owning one engine.
type Shard struct {
	id     int
	engine Engine
	queue  chan Task
	stats  Stats
	done   chan struct{}
	closed atomic.Bool
	// noGroupCommit is RuntimeConfig.NoGroupCommit: see executeEach.
	noGroupCommit bool
	onSynced      func(fd int) // RuntimeConfig.OnSynced
	mu            sync.RWMutex // held for reading by Submit, for writing by close
}

// ID is the shard's index in its runtime.
func (s *Shard) ID() int { return s.id }

// EngineName is the name of the shard's engine.
func (s *Shard) EngineName() string { return s.engine.Name() }

// Stats returns the shard's live counters.
func (s *Shard) Stats() *Stats { return &s.stats }

// Submit queues t on the shard. It blocks while the queue is full and returns
// ErrClosed once the runtime is closing (t is then never run).
func (s *Shard) Submit(t Task) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	s.queue <- t
	return nil
}

// funcTask runs a function on the shard with no I/O.
type funcTask struct {
	fn   func() error
	err  error
	done chan struct{}
}

func (t *funcTask) Prepare(*Batch) { t.err = t.fn() }
func (t *funcTask) Complete(error) { close(t.done) }

// Do runs fn on the shard goroutine, in order with the shard's other tasks,
// and waits for it. fn must not call Do or wait on the same shard.
func (s *Shard) Do(fn func() error) error {
	t := &funcTask{fn: fn, done: make(chan struct{})}
	if err := s.Submit(t); err != nil {
		return err
	}
	<-t.done
	return t.err
}

// ErrClosed is returned by Submit after the runtime closed.
var ErrClosed = errors.New("iocore: shard runtime closed")

func (s *Shard) run(pinCPU int, lock bool, logger *slog.Logger) {
	defer close(s.done)
	// A locked goroutine wakes only on its own thread: every task handed
	// to it then costs a thread switch (the P goes to that thread), so
	// the shard is locked only where pinning needs a thread to pin
	// (BenchmarkShardHandoff measures both).
	if lock || pinCPU >= 0 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if pinCPU >= 0 {
		var set unix.CPUSet
		set.Set(pinCPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			logger.Warn("cannot pin shard to cpu", "shard", s.id, "cpu", pinCPU, "err", err)
		}
	}
	b := &Batch{syncFD: make(map[int]int)}
	tasks := make([]Task, 0, 64)
	for {
		t, ok := <-s.queue
		if !ok {
			return
		}
		s.stats.Heartbeats.Add(1)
		tasks = append(tasks[:0], t)
	drain:
		for len(tasks) < maxBatchTasks {
			select {
			case t, ok := <-s.queue:
				if !ok {
					break drain
				}
				tasks = append(tasks, t)
			default:
				break drain
			}
		}
		s.execute(b, tasks)
	}
}

func (s *Shard) execute(b *Batch, tasks []Task) {
	if s.noGroupCommit {
		s.executeEach(b, tasks)
		return
	}
	b.reset()
	errs := make([]error, len(tasks))
	first := 0 // tasks[first:] are not completed yet
	for i, t := range tasks {
		b.cur = i
		b.commitAfter = false
		t.Prepare(b)
		if b.commitAfter && i+1 < len(tasks) {
			s.commit(b, 0, len(b.writes), true, errs)
			s.complete(tasks[first:i+1], errs[first:i+1])
			first = i + 1
			b.reset()
		}
	}
	s.commit(b, 0, len(b.writes), true, errs)
	s.complete(tasks[first:], errs[first:])
}

// executeEach is execute without group commit (RuntimeConfig.NoGroupCommit):
// a task that asks for a sync (a durable append) has its writes and its syncs
// submitted on their own and is completed before the next task is prepared,
// so every durable append pays for its own fdatasync and is acknowledged
// before the next one's write starts. Tasks that ask for no sync (relaxed
// appends, Do) keep being batched: each run of them is committed together,
// just before the next task that syncs or at the end of the drain.
func (s *Shard) executeEach(b *Batch, tasks []Task) {
	b.reset()
	errs := make([]error, len(tasks))
	first := 0 // tasks[first:i] are prepared but not completed
	for i, t := range tasks {
		b.cur = i
		b.commitAfter = false
		nw := len(b.writes)
		t.Prepare(b)
		if len(b.syncs) == 0 {
			if b.commitAfter {
				s.commit(b, 0, len(b.writes), false, errs)
				s.complete(tasks[first:i+1], errs[first:i+1])
				first = i + 1
				b.reset()
			}
			continue
		}
		if first < i {
			// The tasks before t asked for no sync; their writes are
			// b.writes[:nw].
			s.commit(b, 0, nw, false, errs)
			s.complete(tasks[first:i], errs[first:i])
		}
		s.commit(b, nw, len(b.writes), true, errs)
		s.complete(tasks[i:i+1], errs[i:i+1])
		first = i + 1
		b.reset()
	}
	if first < len(tasks) {
		s.commit(b, 0, len(b.writes), false, errs)
		s.complete(tasks[first:], errs[first:])
	}
}

// commit submits b.writes[w0:w1] and, withSyncs, then every sync in b (only
// allowed when w1 is len(b.writes)), in one engine call, and records in errs
// (indexed like the tasks of the drain) the first error of each task's ops.
func (s *Shard) commit(b *Batch, w0, w1 int, withSyncs bool, errs []error) {
	var syncs []Op
	if withSyncs {
		if w1 != len(b.writes) {
			panic("iocore: commit with syncs of part of a batch's writes")
		}
		syncs = b.syncs
		// Room for the syncs after the writes, kept for the next drains.
		b.writes = slices.Grow(b.writes, len(syncs))
	}
	if w1-w0+len(syncs) == 0 {
		return
	}
	ops := append(b.writes[w0:w1], syncs...)
	nw := w1 - w0
	if len(syncs) > 0 {
		testSlowSync()
	}
	start := time.Now()
	err := s.engine.Submit(ops)
	if len(syncs) > 0 {
		s.stats.SyncBatchNanos.Observe(uint64(time.Since(start)))
	}
	s.stats.BatchOps.Observe(uint64(len(ops)))
	if s.onSynced != nil && err == nil {
		for i := nw; i < len(ops); i++ {
			if ops[i].Err == nil {
				s.onSynced(ops[i].FD)
			}
		}
	}
	for i := range ops {
		e := ops[i].Err
		if err != nil && e == nil {
			e = err
		}
		if e == nil {
			continue
		}
		if i < nw {
			if o := b.owner[w0+i]; errs[o] == nil {
				errs[o] = e
			}
			continue
		}
		for _, o := range b.syncOwners[i-nw] {
			if errs[o] == nil {
				errs[o] = e
			}
		}
	}
	s.stats.Drains.Add(1)
	s.stats.Writes.Add(uint64(nw))
	s.stats.Syncs.Add(uint64(len(syncs)))
}

// complete calls Complete on each task with its error and drops the
// references to the tasks.
func (s *Shard) complete(tasks []Task, errs []error) {
	for i, t := range tasks {
		t.Complete(errs[i])
		tasks[i] = nil
	}
	s.stats.Tasks.Add(uint64(len(tasks)))
}

// RuntimeConfig configures the shard runtime.
type RuntimeConfig struct {
	// Shards is the number of shards; 0 means one per CPU.
	Shards int
	// Engine is EngineAuto, EngineIOUring or EngineSync.
	Engine string
	// PinCPUs pins shard i to CPU i (mod NumCPU).
	PinCPUs bool
	// QueueDepth is each shard's queue capacity in tasks; 0 means default.
	QueueDepth int
	// NoGroupCommit makes every durable append fsync on its own instead of
	// sharing one fsync per file with the rest of its drain (group commit,
	// the default): a task that adds a sync gets an engine submission of
	// its own writes and syncs and is completed before the next task is
	// prepared. Tasks that add no sync are still batched. It exists to
	// measure group commit against.
	NoGroupCommit bool
	// OnSynced, when set, is told of every fd an OpSync made durable, on
	// the shard after the sync and before any task completes (a test's
	// power-loss model, vfs.Crash.Synced, learns what was durable).
	OnSynced func(fd int)
	Logger   *slog.Logger

	// lockThreads locks each shard goroutine to its thread even unpinned
	// (what every shard did before; kept to measure against).
	lockThreads bool
}

// Runtime is the set of shards.
type Runtime struct {
	shards []*Shard
	reason string
}

// NewRuntime starts the shards. Every shard gets its own engine of the same
// kind; with EngineAuto a failure to set up io_uring on the first shard makes
// every shard use the sync engine.
func NewRuntime(cfg RuntimeConfig) (*Runtime, error) {
	n := cfg.Shards
	if n <= 0 {
		n = runtime.NumCPU()
	}
	depth := cfg.QueueDepth
	if depth <= 0 {
		depth = defaultQueueDepthTasks
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	kind := cfg.Engine
	r := &Runtime{}
	for i := 0; i < n; i++ {
		e, reason, err := NewEngine(kind, defaultRingEntries)
		if err != nil {
			r.Close()
			return nil, err
		}
		if i == 0 {
			r.reason = reason
			kind = e.Name() // every shard uses what the first one got
		}
		logEngine(logger, i, e.Name(), reason)
		s := &Shard{id: i, engine: e, queue: make(chan Task, depth), done: make(chan struct{}), noGroupCommit: cfg.NoGroupCommit, onSynced: cfg.OnSynced}
		cpu := -1
		if cfg.PinCPUs {
			cpu = i % runtime.NumCPU()
		}
		r.shards = append(r.shards, s)
		go s.run(cpu, cfg.lockThreads, logger)
	}
	return r, nil
}

// EngineName is the engine every shard uses.
func (r *Runtime) EngineName() string { return r.shards[0].engine.Name() }

// EngineReason says why that engine was chosen.
func (r *Runtime) EngineReason() string { return r.reason }

// Len is the number of shards.
func (r *Runtime) Len() int { return len(r.shards) }

// Shard returns shard i.
func (r *Runtime) Shard(i int) *Shard { return r.shards[i] }

// ShardFor maps a key (a hash of a topic-partition) to its shard.
func (r *Runtime) ShardFor(key uint32) *Shard { return r.shards[int(key%uint32(len(r.shards)))] }

// Close stops accepting tasks, lets every shard finish what it has queued,
// and closes the engines.
func (r *Runtime) Close() error {
	var errs []error
	for _, s := range r.shards {
		s.mu.Lock()
		if !s.closed.Swap(true) {
			close(s.queue)
		}
		s.mu.Unlock()
	}
	for _, s := range r.shards {
		<-s.done
		if err := s.engine.Close(); err != nil {
			errs = append(errs, fmt.Errorf("iocore: shard %d: %w", s.id, err))
		}
	}
	return errors.Join(errs...)
}
