package iocore

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// orderTask writes one byte and records when it was prepared and completed.
type orderTask struct {
	name   string
	fd     int
	off    int64
	commit bool // call CommitAfter
	log    *[]string
	mu     *sync.Mutex
	done   chan struct{}
}

func (t *orderTask) Prepare(b *Batch) {
	t.mu.Lock()
	*t.log = append(*t.log, "prepare "+t.name)
	t.mu.Unlock()
	b.Write(t.fd, t.off, []byte{'x'})
	if t.commit {
		b.CommitAfter()
	}
}

func (t *orderTask) Complete(err error) {
	t.mu.Lock()
	*t.log = append(*t.log, "complete "+t.name)
	t.mu.Unlock()
	close(t.done)
}

// A task that calls CommitAfter has itself and the tasks before it in the
// drain completed before the next task is prepared (group commit, and
// executeEach's runs of tasks without syncs).
func TestCommitAfterSplitsTheDrain(t *testing.T) {
	for _, noGroup := range []bool{false, true} {
		rt, err := NewRuntime(RuntimeConfig{Shards: 1, Engine: EngineSync, NoGroupCommit: noGroup})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var log []string
		sh := rt.ShardFor(0)
		// Hold the shard (its Prepare blocks) so the three tasks land in
		// one drain: whether or not the drain that holds it took them too,
		// they are all queued when it lets go.
		// Wait until the shard is inside that call before submitting: a
		// task submitted earlier could be drained on its own.
		release, holding := make(chan struct{}), make(chan struct{})
		go sh.Do(func() error { close(holding); <-release; return nil })
		<-holding
		tasks := []*orderTask{{name: "a"}, {name: "b", commit: true}, {name: "c"}}
		for i, tk := range tasks {
			tk.fd, tk.off, tk.log, tk.mu, tk.done = int(f.Fd()), int64(i), &log, &mu, make(chan struct{})
		}
		for _, tk := range tasks {
			if err := sh.Submit(tk); err != nil {
				t.Fatal(err)
			}
		}
		close(release)
		for _, tk := range tasks {
			<-tk.done
		}
		mu.Lock()
		got := log
		mu.Unlock()
		want := []string{"prepare a", "prepare b", "complete a", "complete b", "prepare c", "complete c"}
		if len(got) != len(want) {
			t.Fatalf("noGroupCommit=%v: %v, want %v", noGroup, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("noGroupCommit=%v: %v, want %v", noGroup, got, want)
			}
		}
		f.Close()
		rt.Close()
	}
}
