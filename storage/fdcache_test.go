package storage

// Tests for segment file descriptors on demand (fdcache.go): the cache on
// its own, the bound derived from RLIMIT_NOFILE, and many partitions
// appending, reading (with file ranges held open) and restarting under a
// bound far below their files.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
)

func tempFiles(t *testing.T, c *fileCache, n int) []*cachedFile {
	t.Helper()
	dir := t.TempDir()
	out := make([]*cachedFile, n)
	for i := range out {
		p := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		out[i] = c.newCachedFile(p, os.O_RDWR)
	}
	return out
}

func readString(t *testing.T, f *cachedFile) string {
	t.Helper()
	b := make([]byte, 16)
	n, err := f.ReadAt(b, 0)
	if err != nil && n == 0 {
		t.Fatalf("ReadAt %s: %v", f.path, err)
	}
	return string(b[:n])
}

func TestFileCacheClosesLeastRecentlyUsed(t *testing.T) {
	c := newFileCache(nil, 2)
	fs := tempFiles(t, c, 3)
	for i, f := range fs {
		if got, want := readString(t, f), fmt.Sprintf("file %d", i); got != want {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
	if fs[0].isOpen() || !fs[1].isOpen() || !fs[2].isOpen() {
		t.Fatalf("open after 3 reads under a bound of 2: %v %v %v, want the first closed", fs[0].isOpen(), fs[1].isOpen(), fs[2].isOpen())
	}
	readString(t, fs[1]) // most recent now: fs[2] goes next
	readString(t, fs[0])
	if !fs[0].isOpen() || !fs[1].isOpen() || fs[2].isOpen() {
		t.Fatalf("after touching 1 then 0: %v %v %v, want 2 closed", fs[0].isOpen(), fs[1].isOpen(), fs[2].isOpen())
	}
	if st := c.stats(); st.Open != 2 || st.Opens != 4 || st.Evictions != 2 {
		t.Fatalf("stats %+v, want 2 open, 4 opens, 2 evictions", st)
	}
}

func TestFileCachePinnedFilesStayOpen(t *testing.T) {
	c := newFileCache(nil, 1)
	fs := tempFiles(t, c, 3)
	a, err := fs[0].pin()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs[1].pin()
	if err != nil {
		t.Fatal(err)
	}
	// Both pinned: the bound is exceeded rather than a pinned file closed.
	if st := c.stats(); st.Open != 2 {
		t.Fatalf("%d open with two pinned, want 2", st.Open)
	}
	readString(t, fs[2])
	buf := make([]byte, 6)
	if _, err := a.ReadAt(buf, 0); err != nil || string(buf) != "file 0" {
		t.Fatalf("pinned descriptor read %q, %v", buf, err)
	}
	fs[0].unpin()
	fs[1].unpin()
	if st := c.stats(); st.Open != 1 {
		t.Fatalf("%d open once unpinned, want the bound (1)", st.Open)
	}
	_ = b
}

func TestFileCacheCloseWhilePinned(t *testing.T) {
	c := newFileCache(nil, 4)
	fs := tempFiles(t, c, 1)
	f := fs[0]
	of, err := f.pin()
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	buf := make([]byte, 6)
	if _, err := of.ReadAt(buf, 0); err != nil {
		t.Fatalf("a pinned file closed under its user: %v", err)
	}
	if _, err := f.pin(); !errors.Is(err, errFileClosed) {
		t.Fatalf("pin after Close: %v, want errFileClosed", err)
	}
	f.unpin()
	if _, err := of.ReadAt(buf, 0); err == nil {
		t.Fatal("descriptor still open after the last unpin of a closed file")
	}
	if st := c.stats(); st.Open != 0 {
		t.Fatalf("%d open, want 0", st.Open)
	}
}

func TestFileCacheReopenFollowsRenameAndReportsDeletion(t *testing.T) {
	c := newFileCache(nil, 1)
	fs := tempFiles(t, c, 2)
	readString(t, fs[0])
	readString(t, fs[1]) // closes fs[0]
	newPath := fs[0].path + ".deleted"
	if err := os.Rename(fs[0].path, newPath); err != nil {
		t.Fatal(err)
	}
	if _, err := fs[0].ReadAt(make([]byte, 1), 0); !errors.Is(err, fs0NotExist) {
		t.Fatalf("reopen of a renamed file: %v, want not-exist", err)
	}
	fs[0].renamed(newPath)
	if got := readString(t, fs[0]); got != "file 0" {
		t.Fatalf("read %q after rename", got)
	}
}

var fs0NotExist = fs.ErrNotExist

// Many goroutines pin, read and unpin files under a bound smaller than
// their number (run with -race).
func TestFileCacheConcurrent(t *testing.T) {
	c := newFileCache(nil, 3)
	files := tempFiles(t, c, 10)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 6)
			for i := 0; i < 300; i++ {
				k := (g*7 + i) % len(files)
				of, err := files[k].pin()
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := of.ReadAt(buf, 0); err != nil || string(buf) != fmt.Sprintf("file %d", k) {
					t.Errorf("read %q from file %d: %v", buf, k, err)
				}
				files[k].unpin()
			}
		}()
	}
	wg.Wait()
	if st := c.stats(); st.Open > 3 {
		t.Fatalf("%d open after every unpin, bound 3", st.Open)
	}
}

func TestResolveMaxOpenFiles(t *testing.T) {
	for _, tc := range []struct {
		setting int64
		soft    uint64
		want    int
		err     string
	}{
		{0, 20000, 20000 - 4096, ""},
		{0, 4000, 3000, ""},
		{0, 1048576, 1048576 - 4096, ""},
		{0, 1024, 768, ""},
		{-1, 1024, -1, ""},
		{100, 1024, 100, ""},
		{1000, 1024, 0, "at most 960"},
		{8, 1024, 0, "at least 16"},
		{0, 200, 0, "raise the limit to at least 272"},
	} {
		got, err := ResolveMaxOpenFiles(tc.setting, tc.soft)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "ringtail.max_open_files") {
				t.Errorf("ResolveMaxOpenFiles(%d, %d) = %d, %v; want an error naming the key and %q", tc.setting, tc.soft, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveMaxOpenFiles(%d, %d) = %d, %v; want %d", tc.setting, tc.soft, got, err, tc.want)
		}
	}
}

// With a bound, the limit check counts the bound, not 3 files per
// partition: partitions far past limit/3 are created.
func TestCheckFileLimitCountsTheBound(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.maxOpenFiles = 16
		m := e.open()
		defer m.Close()
		open, err := OpenFiles()
		if err != nil {
			t.Skipf("cannot count open files: %v", err)
		}
		saved := fileLimitFn
		defer func() { fileLimitFn = saved }()
		limit := uint64(open + 16 + minFileReserve + 1)
		fileLimitFn = func() (uint64, error) { return limit, nil }
		for i, err := range m.CreatePartitions(context.Background(), manyTPs("bounded", 100)) {
			if err != nil {
				t.Fatalf("CreatePartitions[%d] under a limit of %d with a bound of 16: %v", i, limit, err)
			}
		}
		if st := m.FileCache(); st.Open > 16 {
			t.Fatalf("%d segment files open, bound 16", st.Open)
		}
		// Connections ate the room: refused, naming the key.
		fileLimitFn = func() (uint64, error) { return uint64(open), nil }
		err = m.CheckFileLimit(1)
		if !errors.Is(err, ErrFileLimit) || !strings.Contains(err.Error(), "ringtail.max_open_files") {
			t.Fatalf("CheckFileLimit with no room: %v", err)
		}
	})
}

// 200 partitions under a bound of 16 segment files: concurrent appends
// (rolling small segments), reads and file ranges held while the bound
// closes files under them, retention, and a restart; every record reads
// back. Run with -race.
func TestManyPartitionsUnderTinyFileBound(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		const n, rounds, bound = 200, 6, 16
		e.maxOpenFiles = bound
		e.cfg.SegmentBytes = 2 << 10 // a roll every few appends
		e.cfg.Durable = false        // fsyncs would only slow the test; rolls still sync
		m := e.open()
		ps := manyTPs("tiny", n)
		for i := range ps {
			ps[i].Config = e.cfg
		}
		for i, err := range m.CreatePartitions(context.Background(), ps) {
			if err != nil {
				t.Fatalf("create [%d]: %v", i, err)
			}
		}
		parts := make([]*Partition, n)
		for i := range parts {
			parts[i], _ = m.Partition(ps[i].TP)
		}
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for r := 0; r < 3; r++ {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for i := r; ; i += 7 {
					select {
					case <-stop:
						return
					default:
					}
					p := parts[i%n]
					rg, err := p.ReadRanges(0, 1<<20, true)
					if err != nil {
						t.Errorf("ReadRanges %s: %v", p.tp, err)
						return
					}
					// Hold the range while other partitions' files come
					// and go, then read it through its descriptor.
					for _, fr := range rg.Pieces {
						buf := make([]byte, fr.Len)
						if _, err := fr.File.ReadAt(buf, fr.Pos); err != nil {
							t.Errorf("range of %s: %v", p.tp, err)
						} else if _, _, err := ValidateBatches(buf, 1<<20); err != nil {
							t.Errorf("range of %s holds bad batches: %v", p.tp, err)
						}
					}
					rg.Release()
					if _, err := p.Read(0, 4096, true); err != nil {
						t.Errorf("Read %s: %v", p.tp, err)
						return
					}
				}
			}()
		}
		var writers sync.WaitGroup
		for w := 0; w < 4; w++ {
			writers.Add(1)
			go func() {
				defer writers.Done()
				for round := 0; round < rounds; round++ {
					for i := w; i < n; i += 4 {
						if r := appendWait(t, parts[i], simpleBatch(3, 300, e.clock.Ms())); r.Err != nil {
							t.Errorf("append %s: %v", parts[i].tp, r.Err)
							return
						}
					}
				}
			}()
		}
		writers.Wait()
		close(stop)
		readers.Wait()
		if t.Failed() {
			return
		}
		check := func(m *Manager, from model.Offset) {
			t.Helper()
			for i := range ps {
				p, ok := m.Partition(ps[i].TP)
				if !ok {
					t.Fatalf("%s missing", ps[i].TP)
				}
				hs := readAll(t, p, from)
				if want := rounds - int(from)/3; len(hs) != want {
					t.Fatalf("%s: %d batches from %d, want %d", ps[i].TP, len(hs), from, want)
				}
			}
			if st := m.FileCache(); st.Open > bound {
				t.Fatalf("%d segment files open at rest, bound %d", st.Open, bound)
			}
		}
		check(m, 0)
		if st := m.FileCache(); st.Evictions == 0 {
			t.Fatalf("no file closed by the bound: %+v", st)
		}
		// Retention with closed files: drop the first segments of every
		// partition.
		for _, p := range parts {
			if _, err := p.DeleteRecords(6); err != nil {
				t.Fatalf("DeleteRecords %s: %v", p.tp, err)
			}
		}
		check(m, 6)
		if err := m.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		m2 := e.open()
		defer m2.Close()
		if rec := m2.Recovery(); rec.Partitions != n || rec.Rescanned != 0 {
			t.Fatalf("recovery %+v, want %d partitions, none rescanned", rec, n)
		}
		check(m2, 6)
		for _, tp := range ps[:10] {
			p, _ := m2.Partition(tp.TP)
			mustAppend(t, p, simpleBatch(3, 300, e.clock.Ms()))
		}
	})
}

// An idle partition costs heap and nothing else: no goroutine, no
// descriptor past the bound. The heap figure is reported (benchmarks/
// records it), not asserted.
func TestIdlePartitionsHoldNoGoroutines(t *testing.T) {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 2, Engine: iocore.EngineSync, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	e := &env{t: t, rt: rt, dir: t.TempDir(), clock: newFakeClock(), cfg: testConfig(), engine: iocore.EngineSync}
	const n = 500
	e.maxOpenFiles = 64
	m := e.open()
	for i, err := range m.CreatePartitions(context.Background(), manyTPs("idle", n)) {
		if err != nil {
			t.Fatalf("create [%d]: %v", i, err)
		}
	}
	for _, tp := range manyTPs("idle", n) {
		p, _ := m.Partition(tp.TP)
		mustAppend(t, p, simpleBatch(1, 100, e.clock.Ms()))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	m2 := e.open()
	defer m2.Close()
	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	after := runtime.NumGoroutine()
	// The manager's own loops (retention, cleaner) are a constant.
	if after-before > 8 {
		t.Fatalf("%d goroutines more with %d idle partitions open", after-before, n)
	}
	if st := m2.FileCache(); st.Open > 64 {
		t.Fatalf("%d segment files open, bound 64", st.Open)
	}
	t.Logf("%d idle partitions: %.0f heap bytes each, %d goroutines in all more", n, float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/n, after-before)
}

// Close reopens only the files with writes not yet fsynced: after a durable
// append (its batch fsynced the .log) and no index entry, only the time
// index, for the final entry close writes. The data is all there after.
func TestCloseSkipsSyncedFiles(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.maxOpenFiles = 16
		m := e.open()
		p := e.create(m, tp0)
		mustAppend(t, p, simpleBatch(2, 50, e.clock.Ms()))
		a := p.view.Load().segs[0]
		if a.log.unsynced() || a.idxF.written() {
			t.Fatalf("after a durable append: log unsynced %v, index written %v; want neither", a.log.unsynced(), a.idxF.written())
		}
		for _, f := range []*cachedFile{a.log, a.idxF, a.tidxF} {
			f.evict()
		}
		before := m.FileCache().Opens
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if opened := m.FileCache().Opens - before; opened != 1 {
			t.Fatalf("close opened %d files, want 1 (the time index)", opened)
		}
		m2 := e.open()
		defer m2.Close()
		p2, _ := m2.Partition(tp0)
		if hs := readAll(t, p2, 0); len(hs) != 1 || hs[0].LastOffset() != 1 {
			t.Fatalf("after restart: %d batches", len(hs))
		}
		if rec := m2.Recovery(); rec.Rescanned != 0 || !rec.CleanShutdown {
			t.Fatalf("recovery %+v, want clean, none rescanned", rec)
		}
	})
}
