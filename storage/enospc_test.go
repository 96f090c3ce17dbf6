// This file proves that a full disk fails appends with model.ErrStorage,
// loses nothing acknowledged before, leaves the log at its last completed
// position, and that appends work again once space is freed (a small tmpfs
// mounted by the test; skipped where mounting is not allowed).
package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ringtail/ringtail/model"
)

func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs for the disk-full test (needs root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fillDisk writes a file until the file system is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

func TestDiskFull(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.dir = filepath.Join(mountTmpfs(t, "4m"), "data")
		e.cfg.SegmentBytes = 1 << 20
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 20; i++ {
			mustAppend(t, p, simpleBatch(2, 500, e.clock.Ms()))
		}
		before, _ := p.Read(0, 1<<20, true)
		_, hw0, _ := p.Offsets()
		filler := fillDisk(t, filepath.Dir(e.dir))

		// Concurrent appends to a full disk: all fail with ErrStorage (or
		// some succeed if a page had room); the log stays contiguous.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed, ok int
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := appendWait(t, p, simpleBatch(4, 4000, e.clock.Ms()))
				mu.Lock()
				defer mu.Unlock()
				if r.Err != nil {
					if !errors.Is(r.Err, model.ErrStorage) {
						t.Errorf("append on a full disk: %v, want ErrStorage", r.Err)
					}
					failed++
				} else {
					ok++
				}
			}()
		}
		wg.Wait()
		if failed == 0 {
			t.Fatal("no append failed on a full disk")
		}
		t.Logf("full disk: %d appends failed, %d succeeded", failed, ok)
		_, hw1, le1 := p.Offsets()
		if hw1 != le1 || hw1 < hw0 {
			t.Fatalf("after failures HW %d, log end %d, before %d", hw1, le1, hw0)
		}
		after, err := p.Read(0, 1<<20, true)
		if err != nil || !bytes.HasPrefix(after.Records, before.Records) {
			t.Fatalf("earlier data changed after the disk filled: %v", err)
		}
		readAll(t, p, 0)
		seg := p.view.Load().segs[0]
		if fi, _ := os.Stat(seg.path(logSuffix)); fi.Size() != seg.size.Load() {
			t.Fatalf("log file is %d bytes, committed %d: not rolled back", fi.Size(), seg.size.Load())
		}

		os.Remove(filler)
		r := mustAppend(t, p, simpleBatch(4, 4000, e.clock.Ms()))
		if r.BaseOffset != le1 {
			t.Fatalf("append after freeing space at %d, want %d", r.BaseOffset, le1)
		}
		readAll(t, p, 0)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m2 := e.open()
		defer m2.Close()
		p2, _ := m2.Partition(tp0)
		if _, hw, _ := p2.Offsets(); hw != r.LastOffset+1 {
			t.Fatalf("after restart HW %d, want %d", hw, r.LastOffset+1)
		}
		readAll(t, p2, 0)
	})
}
