// These tests prove the shard runtime's contract on both engines: tasks'
// writes and syncs reach the file, tasks queued together go out in one drain
// with one sync per file (group commit), Do runs in queue order, Close runs
// what was queued and refuses what comes after, and an op's error reaches only
// the tasks that added that op. Tasks are held in the queue by parking the
// shard inside a Do, never by sleeping.
package iocore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newTestRuntime(t *testing.T, engine string) *Runtime {
	t.Helper()
	return newTestRuntimeConfig(t, RuntimeConfig{Shards: 1, Engine: engine})
}

// newTestRuntimeConfig starts a runtime with cfg (and a silent logger), to be
// closed when tb ends; it skips tb where cfg's engine cannot be set up.
func newTestRuntimeConfig(tb testing.TB, cfg RuntimeConfig) *Runtime {
	tb.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := NewRuntime(cfg)
	if errors.Is(err, ErrUnsupported) {
		tb.Skipf("io_uring cannot be set up on this machine, so only the sync engine is tested: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	if r.EngineName() != cfg.Engine {
		tb.Fatalf("runtime runs %q, want %q", r.EngineName(), cfg.Engine)
	}
	return r
}

func forEachRuntime(t *testing.T, f func(t *testing.T, r *Runtime)) {
	for _, k := range engineKinds {
		t.Run(k.name, func(t *testing.T) { f(t, newTestRuntime(t, k.name)) })
	}
}

// commitModes are the two ways a shard commits durable tasks.
var commitModes = []struct {
	name          string
	noGroupCommit bool
}{{"group", false}, {"per-request", true}}

// forEachRuntimeMode runs f on a one-shard runtime of every engine, with and
// without group commit, for the parts of the contract that hold in both.
func forEachRuntimeMode(t *testing.T, f func(t *testing.T, r *Runtime)) {
	for _, m := range commitModes {
		for _, k := range engineKinds {
			t.Run(m.name+"/"+k.name, func(t *testing.T) {
				f(t, newTestRuntimeConfig(t, RuntimeConfig{Shards: 1, Engine: k.name, NoGroupCommit: m.noGroupCommit}))
			})
		}
	}
}

// writeTask writes data at off in fd, optionally syncs, and reports its
// result on done.
type writeTask struct {
	fd   int
	off  int64
	data []byte
	sync bool
	done chan error
}

func newWriteTask(fd int, off int64, data []byte, sync bool) *writeTask {
	return &writeTask{fd: fd, off: off, data: data, sync: sync, done: make(chan error, 1)}
}

func (w *writeTask) Prepare(b *Batch) {
	if w.data != nil {
		b.Write(w.fd, w.off, w.data)
	}
	if w.sync {
		b.Sync(w.fd)
	}
}

func (w *writeTask) Complete(err error) { w.done <- err }

// recordTask appends its id to a log kept on the shard goroutine.
type recordTask struct {
	id   int
	log  *[]int
	done chan struct{}
}

func (r *recordTask) Prepare(*Batch) { *r.log = append(*r.log, r.id) }
func (r *recordTask) Complete(error) { close(r.done) }

// parkShard holds s's goroutine inside a Do until the returned release is
// called; tasks submitted meanwhile wait in the queue and are then taken in
// one drain. release returns the Do's result.
func parkShard(t *testing.T, s *Shard) (release func() error) {
	t.Helper()
	parked, unpark, result := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		result <- s.Do(func() error {
			close(parked)
			<-unpark
			return nil
		})
	}()
	<-parked
	return func() error {
		close(unpark)
		return <-result
	}
}

type counters struct{ drains, writes, syncs uint64 }

func readCounters(s *Shard) counters {
	st := s.Stats()
	return counters{st.Drains.Load(), st.Writes.Load(), st.Syncs.Load()}
}

func (c counters) minus(o counters) counters {
	return counters{c.drains - o.drains, c.writes - o.writes, c.syncs - o.syncs}
}

func TestShardTasksWriteAndSync(t *testing.T) {
	forEachRuntimeMode(t, func(t *testing.T, r *Runtime) {
		s := r.Shard(0)
		f := createFile(t, t.TempDir(), "seg.log")
		var m fileModel
		for i := 0; i < 20; i++ {
			b := pattern(i, 100+i)
			off := int64(len(m))
			m.write(off, b)
			task := newWriteTask(int(f.Fd()), off, b, i%3 == 0)
			if err := s.Submit(task); err != nil {
				t.Fatal(err)
			}
			if err := <-task.done; err != nil {
				t.Fatalf("task %d: %v", i, err)
			}
		}
		checkFile(t, f, m)
	})
}

func TestShardGroupCommit(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, r *Runtime) {
		s := r.Shard(0)
		f := createFile(t, t.TempDir(), "seg.log")
		const tasks, size = 100, 4096
		release := parkShard(t, s)
		before := readCounters(s)
		all := make([]*writeTask, tasks)
		var m fileModel
		for i := range all {
			all[i] = newWriteTask(int(f.Fd()), int64(i*size), pattern(i, size), true)
			m.write(int64(i*size), all[i].data)
		}
		var wg sync.WaitGroup
		errs := make(chan error, tasks)
		for _, task := range all { // concurrent submitters, as connections would be
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Submit(task); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		for i, task := range all {
			if err := <-task.done; err != nil {
				t.Fatalf("task %d: %v", i, err)
			}
		}
		got := readCounters(s).minus(before)
		// All 100 were queued while the shard was parked, and a drain takes
		// up to maxBatchTasks, so exactly one drain with one shared sync.
		if want := (counters{drains: 1, writes: tasks, syncs: 1}); got != want {
			t.Fatalf("counters after %d concurrent tasks on one fd: %+v, want %+v", tasks, got, want)
		}
		checkFile(t, f, m)
	})
}

func TestShardDoOrdering(t *testing.T) {
	forEachRuntimeMode(t, func(t *testing.T, r *Runtime) {
		s := r.Shard(0)
		var log []int // only touched on the shard goroutine
		var want []int
		record := func(id int) *recordTask {
			want = append(want, id)
			return &recordTask{id: id, log: &log, done: make(chan struct{})}
		}

		// Queued while parked: one drain, run in submission order, then a Do
		// submitted after them runs after them.
		release := parkShard(t, s)
		var queued []*recordTask
		for i := 0; i < 50; i++ {
			task := record(i)
			queued = append(queued, task)
			if err := s.Submit(task); err != nil {
				t.Fatal(err)
			}
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		if err := s.Do(func() error { log = append(log, 1000); return nil }); err != nil {
			t.Fatal(err)
		}
		want = append(want, 1000)

		// Tasks and Do calls interleaved from one goroutine.
		for i := 50; i < 100; i++ {
			if i%10 == 0 {
				want = append(want, 1000+i)
				if err := s.Do(func() error { log = append(log, 1000+i); return nil }); err != nil {
					t.Fatal(err)
				}
				continue
			}
			task := record(i)
			queued = append(queued, task)
			if err := s.Submit(task); err != nil {
				t.Fatal(err)
			}
		}
		for _, task := range queued {
			<-task.done
		}
		var got []int
		if err := s.Do(func() error { got = slices.Clone(log); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("shard ran\n%v\nwant\n%v", got, want)
		}

		// Do hands back fn's error.
		boom := errors.New("boom")
		if err := s.Do(func() error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("Do returned %v, want %v", err, boom)
		}
	})
}

func TestShardCloseDrainsQueueThenRefuses(t *testing.T) {
	forEachRuntimeMode(t, func(t *testing.T, r *Runtime) {
		s := r.Shard(0)
		f := createFile(t, t.TempDir(), "seg.log")
		release := parkShard(t, s)
		var m fileModel
		var queued []*writeTask
		for i := 0; i < 50; i++ {
			task := newWriteTask(int(f.Fd()), int64(i*1000), pattern(i, 1000), true)
			m.write(task.off, task.data)
			queued = append(queued, task)
			if err := s.Submit(task); err != nil {
				t.Fatal(err)
			}
		}
		closed := make(chan error, 1)
		go func() { closed <- r.Close() }()
		// Wait (on a condition, not a clock) until Close has shut the queue;
		// the deadline only turns a hang into a failure.
		deadline := time.Now().Add(30 * time.Second)
		for !s.closed.Load() {
			if time.Now().After(deadline) {
				t.Fatal("Close did not shut the queue")
			}
			runtime.Gosched()
		}
		late := newWriteTask(int(f.Fd()), 1<<20, []byte("late"), true)
		if err := s.Submit(late); !errors.Is(err, ErrClosed) {
			t.Fatalf("Submit after Close: %v, want ErrClosed", err)
		}
		if err := s.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
			t.Fatalf("Do after Close: %v, want ErrClosed", err)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i, task := range queued {
			select {
			case err := <-task.done:
				if err != nil {
					t.Fatalf("queued task %d: %v", i, err)
				}
			default:
				t.Fatalf("queued task %d did not complete before Close returned", i)
			}
		}
		select {
		case err := <-late.done:
			t.Fatalf("task refused by Submit ran anyway (err %v)", err)
		default:
		}
		checkFile(t, f, m)
	})
}

func TestShardErrorGoesToItsTask(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, r *Runtime) {
		s := r.Shard(0)
		dir := t.TempDir()
		good := createFile(t, dir, "good.log")
		createFile(t, dir, "ro.log")
		ro, err := os.Open(filepath.Join(dir, "ro.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		gfd := int(good.Fd())

		release := parkShard(t, s)
		before := readCounters(s)
		tasks := map[string]*writeTask{
			"A: good fd":              newWriteTask(gfd, 0, pattern(1, 500), true),
			"B: read-only fd":         newWriteTask(int(ro.Fd()), 0, pattern(2, 500), true),
			"C: good fd, shared sync": newWriteTask(gfd, 500, pattern(3, 500), true),
			"D: sync of bad fd":       newWriteTask(-1, 0, nil, true),
			"E: same bad sync":        newWriteTask(-1, 0, nil, true),
		}
		for _, name := range []string{"A: good fd", "B: read-only fd", "C: good fd, shared sync", "D: sync of bad fd", "E: same bad sync"} {
			if err := s.Submit(tasks[name]); err != nil {
				t.Fatal(err)
			}
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		for name, task := range tasks {
			err := <-task.done
			wantBad := name[0] == 'B' || name[0] == 'D' || name[0] == 'E'
			switch {
			case wantBad && !errors.Is(err, unix.EBADF):
				t.Errorf("task %s: err = %v, want EBADF", name, err)
			case !wantBad && err != nil:
				t.Errorf("task %s: err = %v, want nil", name, err)
			}
		}
		if got := readCounters(s).minus(before); got.drains != 1 || got.syncs != 3 {
			t.Errorf("counters %+v, want 1 drain with 3 syncs (good, read-only, bad fd)", got)
		}
		var m fileModel
		m.write(0, tasks["A: good fd"].data)
		m.write(500, tasks["C: good fd, shared sync"].data)
		checkFile(t, good, m)
	})
}

func TestRuntimeShardsEachGetAnEngine(t *testing.T) {
	for _, k := range engineKinds {
		t.Run(k.name, func(t *testing.T) {
			r, err := NewRuntime(RuntimeConfig{Shards: 3, Engine: k.name, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if errors.Is(err, ErrUnsupported) {
				t.Skipf("io_uring cannot be set up on this machine: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			dir := t.TempDir()
			for i := 0; i < r.Len(); i++ {
				if got := r.Shard(i).EngineName(); got != k.name {
					t.Fatalf("shard %d runs %q, want %q", i, got, k.name)
				}
				f := createFile(t, dir, fmt.Sprintf("%d.log", i))
				task := newWriteTask(int(f.Fd()), 0, pattern(i, 64), true)
				if err := r.Shard(i).Submit(task); err != nil {
					t.Fatal(err)
				}
				if err := <-task.done; err != nil {
					t.Fatalf("shard %d: %v", i, err)
				}
			}
		})
	}
}
