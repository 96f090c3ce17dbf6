package storage

// Tests for many partitions per data dir: batch creation, the open file
// limit check, quiet creation, restart without rewrites, and descriptors
// per partition.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ringtail/ringtail/model"
)

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (e *env) openLogged(lb *logBuf) *Manager {
	e.t.Helper()
	lg := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := OpenManager(ManagerConfig{Dir: e.dir, Runtime: e.rt, Logger: lg, Now: e.clock.Now},
		func(model.TopicPartition) Config { return e.cfg })
	if err != nil {
		e.t.Fatalf("OpenManager: %v", err)
	}
	return m
}

func manyTPs(topic string, n int) []NewPartition {
	out := make([]NewPartition, n)
	for i := range out {
		out[i] = NewPartition{TP: model.TopicPartition{Topic: topic, Partition: int32(i)}, Config: testConfig()}
	}
	return out
}

func TestCreatePartitionsManyWritableQuietAndRestart(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		const n = 300
		var lb logBuf
		m := e.openLogged(&lb)
		ps := manyTPs("many", n)
		ps = append(ps, ps[7]) // a duplicate in the request is created once
		for i, err := range m.CreatePartitions(context.Background(), ps) {
			if err != nil {
				t.Fatalf("CreatePartitions[%d]: %v", i, err)
			}
		}
		if got := len(m.Partitions()); got != n {
			t.Fatalf("%d partitions open, want %d", got, n)
		}
		// Creating them again is a no-op that succeeds.
		for i, err := range m.CreatePartitions(context.Background(), ps[:10]) {
			if err != nil {
				t.Fatalf("second CreatePartitions[%d]: %v", i, err)
			}
		}
		for i := 0; i < n; i++ {
			p, ok := m.Partition(ps[i].TP)
			if !ok {
				t.Fatalf("%s not open", ps[i].TP)
			}
			if r := mustAppend(t, p, simpleBatch(2, 10, e.clock.Ms())); r.BaseOffset != 0 {
				t.Fatalf("%s: first append at %d", ps[i].TP, r.BaseOffset)
			}
		}
		// A new partition must not look like a broken one.
		if s := lb.String(); strings.Contains(s, "level=WARN") || strings.Contains(s, "rebuilding") {
			t.Fatalf("creating partitions logged warnings:\n%s", s)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		// A partition with no data gets no producer snapshot at close.
		if err := m.CreatePartitions(context.Background(), ps[:1])[0]; !errors.Is(err, model.ErrClosed) {
			t.Fatalf("CreatePartitions after Close: %v, want ErrClosed", err)
		}
		lb = logBuf{}
		m2 := e.openLogged(&lb)
		defer m2.Close()
		rec := m2.Recovery()
		if rec.Partitions != n || rec.Rescanned != 0 || !rec.CleanShutdown {
			t.Fatalf("recovery after clean close: %+v, want %d partitions, none rescanned", rec, n)
		}
		if s := lb.String(); strings.Contains(s, "level=WARN") {
			t.Fatalf("clean restart logged warnings:\n%s", s)
		}
		for i := 0; i < n; i++ {
			p, _ := m2.Partition(ps[i].TP)
			if hs := readAll(t, p, 0); len(hs) != 1 || hs[0].LastOffset() != 1 {
				t.Fatalf("%s after restart: %d batches", ps[i].TP, len(hs))
			}
		}
	})
}

func TestCreatePartitionsRefusedOverFileLimitCreatesNone(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.maxOpenFiles = 1 << 20 // a bound above the limit: the partitions' files count
		m := e.open()
		defer m.Close()
		open, err := OpenFiles()
		if err != nil {
			t.Skipf("cannot count open files: %v", err)
		}
		saved := fileLimitFn
		defer func() { fileLimitFn = saved }()
		// Room for 10 partitions' files under the (large) bound, not for
		// 20.
		limit := uint64(open + minFileReserve + 10*FilesPerPartition + 1)
		fileLimitFn = func() (uint64, error) { return limit, nil }
		errs := m.CreatePartitions(context.Background(), manyTPs("toomany", 20))
		for i, err := range errs {
			if !errors.Is(err, ErrFileLimit) {
				t.Fatalf("CreatePartitions[%d]: %v, want ErrFileLimit", i, err)
			}
		}
		msg := errs[0].Error()
		for _, want := range []string{fmt.Sprint(limit), "LimitNOFILE", "ulimit -n"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not name %q", msg, want)
			}
		}
		if got := len(m.Partitions()); got != 0 {
			t.Fatalf("%d partitions created after a refusal, want none", got)
		}
		ents, _ := filepath.Glob(filepath.Join(e.dir, "toomany-*"))
		if len(ents) != 0 {
			t.Fatalf("refused creation left dirs: %v", ents)
		}
		for i, err := range m.CreatePartitions(context.Background(), manyTPs("fits", 10)) {
			if err != nil {
				t.Fatalf("CreatePartitions within the limit [%d]: %v", i, err)
			}
		}
	})
}

func TestCheckFileLimitMessage(t *testing.T) {
	saved := fileLimitFn
	defer func() { fileLimitFn = saved }()
	fileLimitFn = func() (uint64, error) { return 100, nil }
	err := CheckFileLimit(1000)
	if !errors.Is(err, ErrFileLimit) || !strings.Contains(err.Error(), "the limit is 100") {
		t.Fatalf("CheckFileLimit: %v", err)
	}
	if err := CheckFileLimit(0); err != nil {
		t.Fatalf("CheckFileLimit(0): %v", err)
	}
	fileLimitFn = func() (uint64, error) { return 1 << 40, nil }
	if err := CheckFileLimit(1000); err != nil {
		t.Fatalf("CheckFileLimit under a large limit: %v", err)
	}
	soft, hard, err := RaiseFileLimit()
	if err != nil || soft != hard {
		t.Fatalf("RaiseFileLimit: soft %d hard %d err %v; want soft raised to hard", soft, hard, err)
	}
}

func TestCreatePartitionsCanceled(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for i, err := range m.CreatePartitions(ctx, manyTPs("late", 3)) {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("CreatePartitions[%d] with a canceled context: %v", i, err)
			}
		}
		if got := len(m.Partitions()); got != 0 {
			t.Fatalf("%d partitions created after cancel", got)
		}
	})
}

func segCount(p *Partition) int {
	_, n := p.Size()
	return n
}

// A clean restart opens no index file (their entries are read with
// os.ReadFile; inactive ones are never written again, the active one's open
// on the next append that writes an entry), and an unchanged
// leader-epoch-checkpoint is not rewritten.
func TestRestartClosesInactiveIndexFilesAndKeepsEpochFile(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		for segCount(p) < 4 {
			mustAppend(t, p, simpleBatch(10, 200, e.clock.Ms()))
		}
		want := readAll(t, p, 0)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		epochPath := filepath.Join(e.dir, tp0.String(), leaderEpochFile)
		before, err := os.Stat(epochPath)
		if err != nil {
			t.Fatalf("leader-epoch-checkpoint after appends: %v", err)
		}
		m2 := e.open()
		defer m2.Close()
		p2, _ := m2.Partition(tp0)
		segs := p2.view.Load().segs
		for i, s := range segs {
			if s.idxF.isOpen() || s.tidxF.isOpen() {
				t.Fatalf("segment %d of %d: index files open after a clean restart", i, len(segs))
			}
		}
		after, err := os.Stat(epochPath)
		if err != nil || !os.SameFile(before, after) {
			t.Fatalf("leader-epoch-checkpoint rewritten at a clean restart (err %v)", err)
		}
		if got := readAll(t, p2, 0); len(got) != len(want) {
			t.Fatalf("read %d batches after restart, want %d", len(got), len(want))
		}
		// The active segment still takes appends and rolls.
		for segCount(p2) < len(segs)+2 {
			mustAppend(t, p2, simpleBatch(10, 200, e.clock.Ms()))
		}
		if got := readAll(t, p2, 0); len(got) <= len(want) {
			t.Fatalf("read %d batches after more appends, want more than %d", len(got), len(want))
		}
	})
}
