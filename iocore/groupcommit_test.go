// These tests compare the shard's two ways of committing durable appends:
// group commit (the default), where a drain's appends share one fdatasync
// per file, and per-request commit (RuntimeConfig.NoGroupCommit), where each
// durable append is written, synced and acknowledged on its own before the
// next one's write starts. In both, every append reaches its file and
// appends are acknowledged in queue order. Tasks are queued while the shard
// is parked in a Do, so every run drains the same way, never by timing.
package iocore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// appendLog is a file that appendTasks append to. Its fields are owned by
// the shard goroutine.
type appendLog struct {
	f     *os.File
	fd    int
	end   int64 // where the next append goes
	wrap  int64 // when > 0, appends restart at 0 once end would pass it
	order []int // ids of the tasks appended, in append order
}

func newAppendLog(tb testing.TB, dir, name string, wrap int64) *appendLog {
	f := createFile(tb, dir, name)
	return &appendLog{f: f, fd: int(f.Fd()), wrap: wrap}
}

// ack is what a task saw of its shard when it was acknowledged.
type ack struct {
	id             int
	writes, syncs  uint64 // the shard's counters at the time
	prepared, done int    // tasks prepared and acknowledged before it
}

// ackLog is the shared record of appendTasks' Prepare and Complete calls,
// touched only on the shard goroutine.
type ackLog struct {
	shard    *Shard
	prepared []int
	acks     []ack
}

// appendTask appends data to log at the log's end, assigned in Prepare as a
// partition assigns offsets, syncing the file if durable.
type appendTask struct {
	id      int
	log     *appendLog
	data    []byte
	durable bool
	rec     *ackLog // nil: record nothing (benchmarks)
	done    chan error
}

func newAppendTask(id int, log *appendLog, data []byte, durable bool, rec *ackLog) *appendTask {
	return &appendTask{id: id, log: log, data: data, durable: durable, rec: rec, done: make(chan error, 1)}
}

func (t *appendTask) Prepare(b *Batch) {
	l := t.log
	if l.wrap > 0 && l.end+int64(len(t.data)) > l.wrap {
		l.end = 0
	}
	b.Write(l.fd, l.end, t.data)
	l.end += int64(len(t.data))
	if t.durable {
		b.Sync(l.fd)
	}
	if t.rec != nil {
		l.order = append(l.order, t.id)
		t.rec.prepared = append(t.rec.prepared, t.id)
	}
}

func (t *appendTask) Complete(err error) {
	if r := t.rec; r != nil {
		st := r.shard.Stats()
		r.acks = append(r.acks, ack{
			id:       t.id,
			writes:   st.Writes.Load(),
			syncs:    st.Syncs.Load(),
			prepared: len(r.prepared),
			done:     len(r.acks),
		})
	}
	t.done <- err
}

// submitAllParked queues tasks on s from one goroutine each (as connections
// would) while s is parked, then lets s drain them and waits for all.
func submitAllParked(t *testing.T, s *Shard, tasks []*appendTask) {
	t.Helper()
	release := parkShard(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, len(tasks))
	for _, task := range tasks {
		wg.Go(func() {
			if err := s.Submit(task); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if err := <-task.done; err != nil {
			t.Fatalf("task %d: %v", task.id, err)
		}
	}
}

// snapshot copies rec on the shard goroutine.
func (rec *ackLog) snapshot(t *testing.T) (prepared []int, acks []ack) {
	t.Helper()
	if err := rec.shard.Do(func() error {
		prepared, acks = slices.Clone(rec.prepared), slices.Clone(rec.acks)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return prepared, acks
}

// checkLogs checks that each log's file holds its tasks' data back to back
// in the order they were appended, and that every task was appended once.
func checkLogs(t *testing.T, s *Shard, logs []*appendLog, tasks []*appendTask) {
	t.Helper()
	byID := make(map[int]*appendTask, len(tasks))
	for _, task := range tasks {
		byID[task.id] = task
	}
	seen := 0
	for _, l := range logs {
		var m fileModel
		var ids []int
		if err := s.Do(func() error { ids = slices.Clone(l.order); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			task := byID[id]
			if task == nil || task.log != l {
				t.Fatalf("%s: appended task %d, which is not one of its tasks", l.f.Name(), id)
			}
			m.write(int64(len(m)), task.data)
		}
		seen += len(ids)
		checkFile(t, l.f, m)
	}
	if seen != len(tasks) {
		t.Fatalf("%d appends reached the logs, want %d", seen, len(tasks))
	}
}

func TestShardGroupCommitVsPerRequest(t *testing.T) {
	const tasksN, files = 64, 4
	for _, m := range commitModes {
		for _, k := range engineKinds {
			t.Run(m.name+"/"+k.name, func(t *testing.T) {
				r := newTestRuntimeConfig(t, RuntimeConfig{Shards: 1, Engine: k.name, NoGroupCommit: m.noGroupCommit})
				s := r.Shard(0)
				dir := t.TempDir()
				logs := make([]*appendLog, files)
				for i := range logs {
					logs[i] = newAppendLog(t, dir, fmt.Sprintf("%d.log", i), 0)
				}
				rec := &ackLog{shard: s}
				tasks := make([]*appendTask, tasksN)
				for i := range tasks {
					tasks[i] = newAppendTask(i, logs[i%files], pattern(i, 1000+i), true, rec)
				}
				before := readCounters(s)
				submitAllParked(t, s, tasks)
				got := readCounters(s).minus(before)

				// All tasks were queued before the shard drained them, so they
				// went out in one drain: with group commit one submission with
				// one sync per file, without it one submission and one sync per
				// append.
				want := counters{drains: 1, writes: tasksN, syncs: files}
				if m.noGroupCommit {
					want = counters{drains: tasksN, writes: tasksN, syncs: tasksN}
				}
				if got != want {
					t.Fatalf("counters after %d durable appends to %d files: %+v, want %+v", tasksN, files, got, want)
				}
				if !m.noGroupCommit && got.syncs >= tasksN {
					t.Fatalf("group commit made %d syncs for %d appends", got.syncs, tasksN)
				}

				prepared, acks := rec.snapshot(t)
				if len(prepared) != tasksN || len(acks) != tasksN {
					t.Fatalf("%d prepared, %d acknowledged, want %d each", len(prepared), len(acks), tasksN)
				}
				for i, a := range acks {
					if a.id != prepared[i] {
						t.Fatalf("acknowledgement %d is task %d, but task %d was queued %d-th: acks out of queue order", i, a.id, prepared[i], i)
					}
					w, sy := a.writes-before.writes, a.syncs-before.syncs
					if m.noGroupCommit {
						// Acknowledged after its own write and sync, before
						// the next task was even prepared.
						if w != uint64(i+1) || sy != uint64(i+1) || a.prepared != i+1 {
							t.Fatalf("task %d acknowledged %d-th after %d writes, %d syncs, %d tasks prepared; want %d of each",
								a.id, i, w, sy, a.prepared, i+1)
						}
					} else if w != tasksN || sy != files || a.prepared != tasksN {
						t.Fatalf("task %d acknowledged after %d writes, %d syncs, %d prepared; want the whole drain (%d, %d, %d)",
							a.id, w, sy, a.prepared, tasksN, files, tasksN)
					}
				}
				checkLogs(t, s, logs, tasks)
			})
		}
	}
}

// Without group commit, tasks that add no sync (relaxed appends) are still
// batched: each run of them is submitted together, before the next durable
// append, and never synced.
func TestShardPerRequestKeepsRelaxedBatched(t *testing.T) {
	// R = relaxed, D = durable; the drains each mode should submit, and the
	// writes and syncs each task sees done when acknowledged.
	const plan = "RRDRRDR"
	type seen struct{ writes, syncs uint64 }
	cases := []struct {
		noGroupCommit bool
		drains, syncs uint64
		acks          []seen
	}{
		{false, 1, 1, []seen{{7, 1}, {7, 1}, {7, 1}, {7, 1}, {7, 1}, {7, 1}, {7, 1}}},
		{true, 5, 2, []seen{{2, 0}, {2, 0}, {3, 1}, {5, 1}, {5, 1}, {6, 2}, {7, 2}}},
	}
	for _, c := range cases {
		for _, k := range engineKinds {
			t.Run(fmt.Sprintf("noGroupCommit=%v/%s", c.noGroupCommit, k.name), func(t *testing.T) {
				r := newTestRuntimeConfig(t, RuntimeConfig{Shards: 1, Engine: k.name, NoGroupCommit: c.noGroupCommit})
				s := r.Shard(0)
				l := newAppendLog(t, t.TempDir(), "0.log", 0)
				rec := &ackLog{shard: s}
				var tasks []*appendTask
				for i, kind := range plan {
					tasks = append(tasks, newAppendTask(i, l, pattern(i, 300), kind == 'D', rec))
				}
				before := readCounters(s)
				release := parkShard(t, s)
				for _, task := range tasks { // one goroutine: queue order is plan order
					if err := s.Submit(task); err != nil {
						t.Fatal(err)
					}
				}
				if err := release(); err != nil {
					t.Fatal(err)
				}
				for _, task := range tasks {
					if err := <-task.done; err != nil {
						t.Fatalf("task %d: %v", task.id, err)
					}
				}
				got := readCounters(s).minus(before)
				if want := (counters{drains: c.drains, writes: uint64(len(plan)), syncs: c.syncs}); got != want {
					t.Fatalf("counters %+v, want %+v", got, want)
				}
				_, acks := rec.snapshot(t)
				for i, a := range acks {
					if a.id != i {
						t.Fatalf("acknowledgement %d is task %d", i, a.id)
					}
					if g := (seen{a.writes - before.writes, a.syncs - before.syncs}); g != c.acks[i] {
						t.Fatalf("task %d (%c) acknowledged after %+v, want %+v", i, plan[i], g, c.acks[i])
					}
				}
				checkLogs(t, s, []*appendLog{l}, tasks)
			})
		}
	}
}

// Without group commit, an op's error still reaches only the task that
// added it: each task's ops are submitted on their own.
func TestShardPerRequestErrorGoesToItsTask(t *testing.T) {
	for _, k := range engineKinds {
		t.Run(k.name, func(t *testing.T) {
			r := newTestRuntimeConfig(t, RuntimeConfig{Shards: 1, Engine: k.name, NoGroupCommit: true})
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
			tasks := []*writeTask{
				newWriteTask(gfd, 0, pattern(1, 500), true),          // good
				newWriteTask(int(ro.Fd()), 0, pattern(2, 500), true), // EBADF on write and sync
				newWriteTask(gfd, 500, pattern(3, 500), true),        // good
				newWriteTask(-1, 0, nil, true),                       // EBADF on sync
				newWriteTask(gfd, 1000, pattern(5, 500), false),      // good, relaxed
			}
			wantBad := []bool{false, true, false, true, false}
			release := parkShard(t, s)
			before := readCounters(s)
			for _, task := range tasks {
				if err := s.Submit(task); err != nil {
					t.Fatal(err)
				}
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
			for i, task := range tasks {
				err := <-task.done
				switch {
				case wantBad[i] && !errors.Is(err, unix.EBADF):
					t.Errorf("task %d: err = %v, want EBADF", i, err)
				case !wantBad[i] && err != nil:
					t.Errorf("task %d: err = %v, want nil", i, err)
				}
			}
			if got, want := readCounters(s).minus(before), (counters{drains: 5, writes: 4, syncs: 4}); got != want {
				t.Errorf("counters %+v, want %+v (one submission per task, one sync per durable task)", got, want)
			}
			var m fileModel
			m.write(0, tasks[0].data)
			m.write(500, tasks[2].data)
			m.write(1000, tasks[4].data)
			checkFile(t, good, m)
		})
	}
}
