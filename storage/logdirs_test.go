// This file tests LogDirs: placement over several log dirs, routing and
// restarts, and a dir going offline on a disk error (vfs.Faulty), at run
// time and at open.
package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// dirsEnv is a LogDirs test: dirs under one temp dir, a fault set.
type dirsEnv struct {
	*env
	dirs   []string
	faults *vfs.DirSet

	mu      sync.Mutex
	offline map[string][]model.TopicPartition // OnOffline calls
}

func newDirsEnv(e *env, n int) *dirsEnv {
	d := &dirsEnv{env: e, faults: &vfs.DirSet{}, offline: map[string][]model.TopicPartition{}}
	for i := range n {
		d.dirs = append(d.dirs, filepath.Join(e.dir, "d"+string(rune('0'+i))))
	}
	return d
}

func (d *dirsEnv) openDirs() (*LogDirs, error) {
	return OpenLogDirs(LogDirsConfig{
		Dirs:    d.dirs,
		Manager: ManagerConfig{Runtime: d.rt, Logger: quietLogger(), Now: d.clock.Now, FS: vfs.NewFaulty(vfs.OS, d.faults.Failing)},
		OnOffline: func(dir string, err error, parts []model.TopicPartition) {
			d.mu.Lock()
			defer d.mu.Unlock()
			if _, dup := d.offline[dir]; dup {
				d.t.Errorf("OnOffline called twice for %s", dir)
			}
			d.offline[dir] = parts
		},
	}, func(model.TopicPartition) Config { return d.cfg })
}

func (d *dirsEnv) mustOpen() *LogDirs {
	d.t.Helper()
	l, err := d.openDirs()
	if err != nil {
		d.t.Fatalf("OpenLogDirs: %v", err)
	}
	return l
}

func tpN(i int) model.TopicPartition { return model.TopicPartition{Topic: "t", Partition: int32(i)} }

func TestLogDirsPlacementAndRestart(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		d := newDirsEnv(e, 3)
		l := d.mustOpen()
		// Fewest partitions first, ties to the first dir: 0,1,2,0,1,2,...
		var nps []NewPartition
		for i := range 6 {
			nps = append(nps, NewPartition{TP: tpN(i), Config: e.cfg})
		}
		for i, err := range l.CreatePartitions(context.Background(), nps) {
			if err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
		}
		for i := range 6 {
			if got, want := l.DirOf(tpN(i)), d.dirs[i%3]; got != want {
				t.Errorf("%s in %s, want %s", tpN(i), got, want)
			}
		}
		// A dir with fewer partitions takes the next ones.
		if err := l.DeletePartition(tpN(1)); err != nil {
			t.Fatal(err)
		}
		p, err := l.CreatePartition(tpN(10), e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.DirOf(tpN(10)); got != d.dirs[1] {
			t.Errorf("new partition in %s, want the emptiest %s", got, d.dirs[1])
		}
		// Creating an existing partition leaves it where it is.
		if _, err := l.CreatePartition(tpN(0), e.cfg); err != nil || l.DirOf(tpN(0)) != d.dirs[0] {
			t.Errorf("re-create of an existing partition: %v, in %s", err, l.DirOf(tpN(0)))
		}
		mustAppend(t, p, simpleBatch(3, 10, e.clock.Ms()))
		if p0, ok := l.Partition(tpN(2)); !ok {
			t.Fatal("partition 2 not found")
		} else {
			mustAppend(t, p0, simpleBatch(2, 10, e.clock.Ms()))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}

		l = d.mustOpen()
		defer l.Close()
		want := []model.TopicPartition{tpN(0), tpN(2), tpN(3), tpN(4), tpN(5), tpN(10)}
		if got := l.Partitions(); len(got) != len(want) {
			t.Fatalf("after restart: %v, want %v", got, want)
		}
		for _, tp := range want {
			if l.DirOf(tp) == "" {
				t.Errorf("%s not found after restart", tp)
			}
		}
		if got := l.DirOf(tpN(10)); got != d.dirs[1] {
			t.Errorf("after restart %s in %s, want %s", tpN(10), got, d.dirs[1])
		}
		p, _ = l.Partition(tpN(10))
		if hs := readAll(t, p, 0); len(hs) != 1 || hs[0].LastOffset() != 2 {
			t.Errorf("after restart read %v", hs)
		}
		if rec := l.Recovery(); rec.Partitions != 6 || !rec.CleanShutdown {
			t.Errorf("recovery %+v", rec)
		}
		st := l.DirPartitions()
		if len(st) != 3 || len(st[0].Partitions) != 2 || len(st[1].Partitions) != 2 || len(st[2].Partitions) != 2 {
			t.Errorf("dirs %+v", st)
		}
	})
}

func TestLogDirsDuplicatePartitionRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		d := newDirsEnv(e, 2)
		for _, dir := range d.dirs {
			m, err := OpenManager(ManagerConfig{Dir: dir, Runtime: e.rt, Logger: quietLogger()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			e.create(m, tp0)
			m.Close()
		}
		if l, err := d.openDirs(); err == nil {
			l.Close()
			t.Fatal("a partition in two dirs was accepted")
		}
	})
}

func TestLogDirsOfflineAtRunTime(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		d := newDirsEnv(e, 2)
		l := d.mustOpen()
		a, err := l.CreatePartition(tpN(0), e.cfg) // dir 0
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.CreatePartition(tpN(1), e.cfg) // dir 1
		if err != nil {
			t.Fatal(err)
		}
		c, err := l.CreatePartition(tpN(3), e.cfg) // dir 0
		if err != nil {
			t.Fatal(err)
		}
		b2, err := l.CreatePartition(tpN(2), e.cfg) // dir 1
		if err != nil {
			t.Fatal(err)
		}
		if l.DirOf(tpN(1)) != d.dirs[1] || l.DirOf(tpN(2)) != d.dirs[1] {
			t.Fatalf("placement: %s %s", l.DirOf(tpN(1)), l.DirOf(tpN(2)))
		}
		for _, p := range []*Partition{a, b, c, b2} {
			mustAppend(t, p, simpleBatch(2, 10, e.clock.Ms()))
		}

		d.faults.Add(d.dirs[1])
		r := appendWait(t, b, simpleBatch(2, 10, e.clock.Ms()))
		if !errors.Is(r.Err, model.ErrStorage) {
			t.Fatalf("append on a failing disk: %v, want ErrStorage", r.Err)
		}
		if !l.Offline(tpN(1)) || !l.Offline(tpN(2)) || l.Offline(tpN(0)) || !l.AnyOffline() {
			t.Fatalf("offline: 1=%v 2=%v 0=%v", l.Offline(tpN(1)), l.Offline(tpN(2)), l.Offline(tpN(0)))
		}
		d.mu.Lock()
		parts := d.offline[d.dirs[1]]
		d.mu.Unlock()
		if len(parts) != 2 {
			t.Errorf("OnOffline partitions %v, want both of dir 1", parts)
		}
		// The disk back does not bring the dir back: it stays offline
		// until a restart, so nothing half-written is served.
		d.faults.Remove(d.dirs[1])
		if r := appendWait(t, b2, simpleBatch(1, 10, e.clock.Ms())); !errors.Is(r.Err, model.ErrStorage) {
			t.Errorf("append on the other partition of the offline dir: %v, want ErrStorage", r.Err)
		}
		if _, err := b.Read(0, 1<<20, true); !errors.Is(err, model.ErrStorage) {
			t.Errorf("read on the offline dir: %v, want ErrStorage", err)
		}
		if _, err := b.ReadRanges(0, 1<<20, true); !errors.Is(err, model.ErrStorage) {
			t.Errorf("ranged read on the offline dir: %v, want ErrStorage", err)
		}
		if err := b.TruncateTo(0); !errors.Is(err, model.ErrStorage) {
			t.Errorf("truncate on the offline dir: %v, want ErrStorage", err)
		}
		// The online dir keeps serving and takes the new partitions.
		mustAppend(t, a, simpleBatch(2, 10, e.clock.Ms()))
		if hs := readAll(t, c, 0); len(hs) != 1 {
			t.Errorf("read on the online dir: %d batches", len(hs))
		}
		n, err := l.CreatePartition(tpN(9), e.cfg)
		if err != nil || l.DirOf(tpN(9)) != d.dirs[0] {
			t.Fatalf("create with a dir offline: %v, in %s", err, l.DirOf(tpN(9)))
		}
		mustAppend(t, n, simpleBatch(1, 10, e.clock.Ms()))
		st := l.DirPartitions()
		if st[0].Err != nil || st[1].Err == nil || len(st[1].Partitions) != 2 {
			t.Errorf("dirs %+v", st)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("close with an offline dir: %v", err)
		}
		if fileExists(filepath.Join(d.dirs[1], cleanShutdownFile)) {
			t.Error("an offline dir got a clean-shutdown marker")
		}

		// Restarted with the disk back: every acknowledged record is there.
		l = d.mustOpen()
		defer l.Close()
		if l.AnyOffline() {
			t.Fatal("a dir is offline after the restart")
		}
		for i, want := range map[int]model.Offset{0: 4, 1: 2, 2: 2, 3: 2, 9: 1} {
			p, ok := l.Partition(tpN(i))
			if !ok {
				t.Fatalf("%s missing after restart", tpN(i))
			}
			if _, hw, _ := p.Offsets(); hw != want {
				t.Errorf("%s: high watermark %d after restart, want %d", tpN(i), hw, want)
			}
			readAll(t, p, 0)
		}
	})
}

func TestLogDirsOfflineAtOpen(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		d := newDirsEnv(e, 2)
		l := d.mustOpen()
		for i := range 4 {
			p, err := l.CreatePartition(tpN(i), e.cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, p, simpleBatch(2, 10, e.clock.Ms()))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}

		d.faults.Add(d.dirs[1])
		l = d.mustOpen()
		if !l.AnyOffline() || l.Dirs()[1].Err == nil || l.Dirs()[0].Err != nil {
			t.Fatalf("dirs %+v", l.Dirs())
		}
		d.mu.Lock()
		_, told := d.offline[d.dirs[1]]
		d.mu.Unlock()
		if !told {
			t.Error("OnOffline not called for a dir offline at open")
		}
		// Partitions 1 and 3 lived on dir 1: held offline, not created.
		if l.DirOf(tpN(1)) != "" || l.Offline(tpN(1)) {
			t.Fatalf("partition 1: dir %q offline %v before the hold", l.DirOf(tpN(1)), l.Offline(tpN(1)))
		}
		l.HoldOffline([]model.TopicPartition{tpN(1), tpN(3)})
		if !l.Offline(tpN(1)) || !l.Offline(tpN(3)) || l.Offline(tpN(0)) {
			t.Error("held partitions are not offline")
		}
		if got := l.Held(); len(got) != 2 {
			t.Errorf("held %v", got)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}

		d.faults.Add(d.dirs[0])
		if l, err := d.openDirs(); err == nil || !errors.Is(err, model.ErrStorage) {
			if l != nil {
				l.Close()
			}
			t.Fatalf("every dir failing: %v, want an ErrStorage error", err)
		}

		d.faults.Remove(d.dirs[0])
		d.faults.Remove(d.dirs[1])
		l = d.mustOpen()
		defer l.Close()
		for i := range 4 {
			p, ok := l.Partition(tpN(i))
			if !ok {
				t.Fatalf("%s lost", tpN(i))
			}
			if _, hw, _ := p.Offsets(); hw != 2 {
				t.Errorf("%s: high watermark %d, want 2", tpN(i), hw)
			}
		}
	})
}

// A full disk is not a disk error: IsDiskError tells them apart.
func TestIsDiskError(t *testing.T) {
	f := vfs.NewFaulty(vfs.OS, func(string) bool { return true })
	if err := f.Check("write", "/x"); !IsDiskError(err) {
		t.Errorf("EIO from the fault hook: not a disk error")
	}
	for _, err := range []error{errors.New("x"), ErrFileLimit, fmt.Errorf("pwritev: %w", syscall.ENOSPC), fmt.Errorf("x: %w", syscall.EDQUOT)} {
		if IsDiskError(err) {
			t.Errorf("%v taken for a disk error", err)
		}
	}
}
