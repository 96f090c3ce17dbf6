// This file proves that bad files found at startup never stop the broker:
// corrupt bytes in a segment that recovery scans are cut at the first bad
// batch with one log line per partition (every batch before them read back
// at its offsets), corrupt indexes, producer snapshots, leader-epoch and
// partition.metadata files are rebuilt or ignored, a partition whose files
// cannot be opened at all is moved aside ("quarantined") while the rest
// opens, and the restart after each of these is clean.
package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// lines returns the lines holding every one of words.
func (l *logBuf) lines(words ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		all := line != ""
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// corruptEnv is a test env on the sync engine (recovery does not go
// through the engine) with a 16 KiB segment config.
func corruptEnv(t *testing.T) *env {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 2, Engine: iocore.EngineSync, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return &env{t: t, rt: rt, dir: t.TempDir(), clock: newFakeClock(), cfg: testConfig(), engine: iocore.EngineSync}
}

// openLogged opens a manager on e.dir whose log lines land in the result.
func (e *env) openWithLog(fsys vfs.FS) (*Manager, *logBuf, error) {
	e.t.Helper()
	lb := &logBuf{}
	m, err := OpenManager(ManagerConfig{Dir: e.dir, Runtime: e.rt, Logger: slog.New(slog.NewTextHandler(lb, nil)),
		Now: e.clock.Now, MaxOpenFiles: -1, FS: fsys}, func(model.TopicPartition) Config { return e.cfg })
	return m, lb, err
}

func (e *env) mustOpenLogged() (*Manager, *logBuf) {
	e.t.Helper()
	m, lb, err := e.openWithLog(nil)
	if err != nil {
		e.t.Fatalf("OpenManager: %v", err)
	}
	return m, lb
}

// batchAt is where one batch of a segment starts and what it holds.
type batchAt struct {
	pos  int64
	size int
	base model.Offset
	last model.Offset
}

// segmentBatches lists the batches of a .log file.
func segmentBatches(t *testing.T, path string) []batchAt {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []batchAt
	for pos := 0; pos < len(data); {
		h, err := ParseBatchHeader(data[pos:])
		if err != nil {
			t.Fatalf("%s at %d: %v", path, pos, err)
		}
		out = append(out, batchAt{pos: int64(pos), size: h.Size(), base: h.BaseOffset, last: h.LastOffset()})
		pos += h.Size()
	}
	return out
}

// flipBytes inverts n bytes of path at pos.
func flipBytes(t *testing.T, path string, pos int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0xff
	}
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

// wantPrefix checks that the partition holds exactly the batches of
// before up to (not including) offset end, at their offsets.
func wantPrefix(t *testing.T, p *Partition, before []BatchHeader, end model.Offset) {
	t.Helper()
	got := readAll(t, p, 0)
	var want []BatchHeader
	for _, h := range before {
		if h.LastOffset() < end {
			want = append(want, h)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches survive, want %d (those below %d)", len(got), len(want), end)
	}
	for i := range want {
		if got[i].BaseOffset != want[i].BaseOffset || got[i].LastOffset() != want[i].LastOffset() || got[i].CRC != want[i].CRC {
			t.Fatalf("batch %d is %d..%d crc %x, was %d..%d crc %x", i, got[i].BaseOffset, got[i].LastOffset(), got[i].CRC,
				want[i].BaseOffset, want[i].LastOffset(), want[i].CRC)
		}
	}
	if _, hw, le := p.Offsets(); hw != end || le != end {
		t.Fatalf("HW %d, log end %d; want %d", hw, le, end)
	}
}

// restartClean crashes m (no clean-shutdown marker) and reopens it, then
// closes cleanly and reopens again: neither restart may truncate,
// quarantine or log a warning.
func restartClean(t *testing.T, e *env, m *Manager, end model.Offset) {
	t.Helper()
	if err := m.CheckpointAll(); err != nil {
		t.Fatal(err)
	}
	crash(m)
	for i, how := range []string{"after a crash", "after a clean shutdown"} {
		m, lb := e.mustOpenLogged()
		rs := m.Recovery()
		if rs.TruncatedBytes != 0 || len(rs.Quarantined) != 0 || len(lb.lines("level=WARN")) > 0 || len(lb.lines("level=ERROR")) > 0 {
			t.Fatalf("restart %s not clean: %+v\n%s", how, rs, lb)
		}
		p, _ := m.Partition(tp0)
		if _, hw, _ := p.Offsets(); hw != end {
			t.Fatalf("restart %s: HW %d, want %d", how, hw, end)
		}
		if i == 0 {
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			crash(m)
		}
	}
}

func TestCorruptMiddleOfActiveSegmentTruncated(t *testing.T) {
	e := corruptEnv(t)
	e.cfg.SegmentBytes = 1 << 20 // one segment
	m := e.open()
	p := e.create(m, tp0)
	fill(t, p, 20)
	before := readAll(t, p, 0)
	if err := m.CheckpointAll(); err != nil {
		t.Fatal(err)
	}
	crash(m)
	path := lastSegmentPath(t, e)
	bs := segmentBatches(t, path)
	victim := bs[10]
	fi, _ := os.Stat(path)
	flipBytes(t, path, victim.pos+int64(victim.size/2)-4, 8) // inside the records: the CRC fails

	m, lb := e.mustOpenLogged()
	rs := m.Recovery()
	if rs.TruncatedBytes != fi.Size()-victim.pos || len(rs.Quarantined) != 0 {
		t.Fatalf("recovery stats %+v; want %d bytes truncated", rs, fi.Size()-victim.pos)
	}
	lines := lb.lines("level=WARN", "log truncated", "partition=orders-0", "segment=00000000000000000000.log")
	if len(lines) != 1 || !strings.Contains(lines[0], "offset=30 ") ||
		!strings.Contains(lines[0], "bytes_dropped="+itoa(fi.Size()-victim.pos)) || !strings.Contains(lines[0], "crc32c") {
		t.Fatalf("want one truncation line at offset %d, %d bytes; log:\n%s", victim.base, fi.Size()-victim.pos, lb)
	}
	p, _ = m.Partition(tp0)
	wantPrefix(t, p, before, victim.base)
	if r := mustAppend(t, p, simpleBatch(2, 10, 1)); r.BaseOffset != victim.base {
		t.Fatalf("next append at %d, want %d", r.BaseOffset, victim.base)
	}
	restartClean(t, e, m, victim.base+2)
}

func TestCorruptNonLastSegmentAfterRecoveryPointTruncated(t *testing.T) {
	e := corruptEnv(t)
	m := e.open()
	p := e.create(m, tp0)
	fill(t, p, 120)
	before := readAll(t, p, 0)
	segs := p.view.Load().segs
	if len(segs) < 5 {
		t.Fatalf("need 5 segments, have %d", len(segs))
	}
	// The recovery point is in the second segment: the second and every
	// later one are rescanned; the third is corrupt in its middle.
	p.recoveryPoint.Store(int64(segs[1].base) + 1)
	if err := m.CheckpointAll(); err != nil {
		t.Fatal(err)
	}
	crash(m)
	third := segs[2].path(logSuffix)
	bs := segmentBatches(t, third)
	victim := bs[len(bs)/2]
	flipBytes(t, third, victim.pos+4, 4) // the batch length: framing, not CRC
	var dropped int64
	for _, s := range segs[2:] {
		fi, _ := os.Stat(s.path(logSuffix))
		dropped += fi.Size()
	}
	dropped -= victim.pos

	m, lb := e.mustOpenLogged()
	lines := lb.lines("level=WARN", "log truncated", "partition=orders-0", "segment="+segs[2].name())
	if len(lines) != 1 || !strings.Contains(lines[0], "offset="+itoa(int64(victim.base))+" ") ||
		!strings.Contains(lines[0], "bytes_dropped="+itoa(dropped)) ||
		!strings.Contains(lines[0], "segments_deleted="+itoa(int64(len(segs)-3))) {
		t.Fatalf("want one truncation line at offset %d, %d bytes, %d segments deleted; log:\n%s", victim.base, dropped, len(segs)-3, lb)
	}
	if n := len(lb.lines("level=WARN")); n != 1 {
		t.Fatalf("%d warnings, want the one truncation line:\n%s", n, lb)
	}
	if rs := m.Recovery(); rs.TruncatedBytes != dropped {
		t.Fatalf("recovery stats %+v, want %d bytes", rs, dropped)
	}
	p, _ = m.Partition(tp0)
	wantPrefix(t, p, before, victim.base)
	if _, n := p.Size(); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	for _, s := range segs[3:] {
		if _, err := os.Stat(s.path(logSuffix)); !os.IsNotExist(err) {
			t.Fatalf("segment %s after the hole still there: %v", s.name(), err)
		}
	}
	mustAppend(t, p, simpleBatch(1, 10, 1))
	restartClean(t, e, m, victim.base+1)
}

// A segment below the recovery point is trusted, as Kafka trusts it; when
// the producer-state replay (here from the log start: every snapshot is
// garbage) meets a bad batch in it, recovery rescans from that segment
// instead of failing.
func TestCorruptTrustedSegmentFoundByReplayTruncated(t *testing.T) {
	e := corruptEnv(t)
	m := e.open()
	p := e.create(m, tp0)
	for i := range 40 {
		mustAppend(t, p, idemBatch(7, 0, int32(i*2), 2))
		fill(t, p, 2)
	}
	before := readAll(t, p, 0)
	segs := p.view.Load().segs
	if len(segs) < 4 {
		t.Fatalf("need 4 segments, have %d", len(segs))
	}
	if err := m.CheckpointAll(); err != nil { // recovery point: the log end
		t.Fatal(err)
	}
	crash(m)
	snaps, _ := filepath.Glob(filepath.Join(e.dir, tp0.String(), "*"+snapshotSuffix))
	if len(snaps) == 0 {
		t.Fatal("no producer snapshots")
	}
	for _, s := range snaps {
		os.WriteFile(s, []byte("not a snapshot"), 0o644)
	}
	bs := segmentBatches(t, segs[1].path(logSuffix))
	victim := bs[3]
	flipBytes(t, segs[1].path(logSuffix), victim.pos+8, 4) // the length: the replay's scan stops there

	m, lb := e.mustOpenLogged()
	if len(lb.lines("level=WARN", "producer-state replay", "segment="+segs[1].name())) != 1 ||
		len(lb.lines("level=WARN", "log truncated", "segment="+segs[1].name(), "offset="+itoa(int64(victim.base))+" ")) != 1 {
		t.Fatalf("want the replay's and the truncation's lines:\n%s", lb)
	}
	p, _ = m.Partition(tp0)
	wantPrefix(t, p, before, victim.base)
	// The producer state came from the surviving batches: pid 7's last
	// surviving sequence is acknowledged again as a duplicate.
	var lastSeq int32 = -1
	var lastOff model.Offset
	for _, h := range before {
		if h.ProducerID == 7 && h.LastOffset() < victim.base {
			lastSeq, lastOff = h.BaseSequence, h.BaseOffset
		}
	}
	if r := mustAppend(t, p, idemBatch(7, 0, lastSeq, 2)); r.BaseOffset != lastOff {
		t.Fatalf("retry of seq %d got offset %d, want the duplicate's %d", lastSeq, r.BaseOffset, lastOff)
	}
	r := mustAppend(t, p, idemBatch(7, 0, lastSeq+2, 2))
	restartClean(t, e, m, r.LastOffset+1)
}

func TestCorruptIndexesRebuilt(t *testing.T) {
	e := corruptEnv(t)
	m := e.open()
	p := e.create(m, tp0)
	fill(t, p, 60)
	before := readAll(t, p, 0)
	segs := p.view.Load().segs
	counts := []int{segs[0].index.count(), segs[1].index.count(), segs[1].tindex.count()}
	end := p.logEnd
	off, ts, ok := p.OffsetForTime(1010)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Garbage in the first segment's offset index; an index of the right
	// shape whose last entry points into the middle of a batch in the
	// second; a time index naming an offset beyond the second segment.
	os.WriteFile(segs[0].path(indexSuffix), []byte("this is no offset index!"), 0o644)
	ib, _ := os.ReadFile(segs[1].path(indexSuffix))
	binary.BigEndian.PutUint32(ib[len(ib)-4:], binary.BigEndian.Uint32(ib[len(ib)-4:])+3)
	os.WriteFile(segs[1].path(indexSuffix), ib, 0o644)
	tb, _ := os.ReadFile(segs[1].path(timeIndexSuffix))
	binary.BigEndian.PutUint32(tb[len(tb)-4:], 1<<30)
	os.WriteFile(segs[1].path(timeIndexSuffix), tb, 0o644)
	// A .txnindex of garbage for a segment with no transactions.
	os.WriteFile(segs[2].path(txnIndexSuffix), bytes.Repeat([]byte{7}, 3*txnIndexEntryBytes), 0o644)

	m, lb := e.mustOpenLogged()
	for _, s := range segs[:2] {
		if len(lb.lines("level=WARN", "index failed its sanity check", "segment="+s.name())) != 1 {
			t.Fatalf("no rebuild line for %s:\n%s", s.name(), lb)
		}
	}
	if len(lb.lines("level=WARN", ".txnindex", "segment="+segs[2].name())) != 1 {
		t.Fatalf("no .txnindex line:\n%s", lb)
	}
	if rs := m.Recovery(); rs.TruncatedBytes != 0 || len(rs.Quarantined) != 0 {
		t.Fatalf("recovery stats %+v", rs)
	}
	p, _ = m.Partition(tp0)
	wantPrefix(t, p, before, end)
	now := p.view.Load().segs
	if got := []int{now[0].index.count(), now[1].index.count(), now[1].tindex.count()}; got[0] != counts[0] || got[1] != counts[1] || got[2] != counts[2] {
		t.Fatalf("rebuilt index entries %v, want %v", got, counts)
	}
	if o, s, k := p.OffsetForTime(1010); o != off || s != ts || k != ok {
		t.Fatalf("OffsetForTime after the rebuild = %d %d %v, want %d %d %v", o, s, k, off, ts, ok)
	}
	if a := p.view.Load().segs[2].abortedTxns(); len(a) != 0 {
		t.Fatalf("aborted transactions from a garbage .txnindex: %v", a)
	}
	restartClean(t, e, m, end)
}

func TestGarbageSnapshotEpochAndMetadataFilesIgnored(t *testing.T) {
	e := corruptEnv(t)
	m := e.open()
	p := e.create(m, tp0)
	if err := p.SetTopicID(TopicID{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	var last AppendResult
	for i := range 30 {
		last = appendAt(t, p, model.Epoch(1+i/10), idemBatch(5, 0, int32(i*2), 2))
	}
	before := readAll(t, p, 0)
	epochs, err := p.LeaderEpochs()
	if err != nil || len(epochs) != 3 {
		t.Fatalf("epochs %v, %v", epochs, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.dir, tp0.String())
	snaps, _ := filepath.Glob(filepath.Join(dir, "*"+snapshotSuffix))
	if len(snaps) == 0 {
		t.Fatal("no producer snapshot after a clean shutdown")
	}
	for _, s := range snaps {
		os.WriteFile(s, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0o644)
	}
	os.WriteFile(filepath.Join(dir, leaderEpochFile), []byte("0\n3\n1 0\n2 x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, partitionMetadataFile), []byte("version: 7\n"), 0o644)

	m, lb := e.mustOpenLogged()
	for _, want := range []string{"removing unreadable producer snapshot", "leader-epoch-checkpoint unreadable", "ignoring unreadable " + partitionMetadataFile} {
		if len(lb.lines("level=WARN", want, "partition=orders-0")) == 0 {
			t.Fatalf("no %q line:\n%s", want, lb)
		}
	}
	// Removed, as Kafka removes them, so that no later start meets them.
	for _, s := range snaps {
		if data, err := os.ReadFile(s); err == nil {
			if _, _, err := decodeProducerSnapshot(data); err != nil {
				t.Fatalf("garbage snapshot %s still there", s)
			}
		}
	}
	p, _ = m.Partition(tp0)
	wantPrefix(t, p, before, last.LastOffset+1)
	if got, _ := p.LeaderEpochs(); len(got) != len(epochs) || got[0] != epochs[0] || got[2] != epochs[2] {
		t.Fatalf("epochs rebuilt as %v, were %v", got, epochs)
	}
	// Producer state was rebuilt from the log: a retry is a duplicate.
	if r := appendAt(t, p, 3, idemBatch(5, 0, 58, 2)); r.Err != nil || r.BaseOffset != last.BaseOffset {
		t.Fatalf("retry got %d (%v), want the duplicate's %d", r.BaseOffset, r.Err, last.BaseOffset)
	}
	if p.TopicID() != (TopicID{}) {
		t.Fatalf("topic id %v from a garbage partition.metadata", p.TopicID())
	}
	if err := p.SetTopicID(TopicID{1, 2, 3}); err != nil { // the reconcile adopts it
		t.Fatal(err)
	}
	restartClean(t, e, m, last.LastOffset+1)
}

// renameFails is the OS file system with Rename failing, as on a data dir
// gone read-only.
type renameFails struct{ vfs.FS }

func (renameFails) Rename(string, string) error { return errors.New("read-only file system") }

func TestUnopenablePartitionQuarantined(t *testing.T) {
	for _, c := range []struct {
		name  string
		plant func(t *testing.T, dir string, segs []*segment)
	}{
		{"segment is a dir", func(t *testing.T, dir string, _ []*segment) {
			os.Mkdir(filepath.Join(dir, segmentName(1<<40, logSuffix)), 0o755)
		}},
		{"index is a dir", func(t *testing.T, dir string, segs []*segment) {
			os.Remove(segs[0].path(indexSuffix))
			os.Mkdir(segs[0].path(indexSuffix), 0o755)
		}},
		{"txnindex is a dir", func(t *testing.T, dir string, segs []*segment) {
			os.Mkdir(segs[1].path(txnIndexSuffix), 0o755)
		}},
		{"epoch file is a dir", func(t *testing.T, dir string, segs []*segment) {
			os.Remove(filepath.Join(dir, leaderEpochFile))
			os.Mkdir(filepath.Join(dir, leaderEpochFile), 0o755)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := corruptEnv(t)
			m := e.open()
			p := e.create(m, tp0)
			fill(t, p, 40)
			tp1 := model.TopicPartition{Topic: "orders", Partition: 1}
			p1 := e.create(m, tp1)
			end1 := fill(t, p1, 5)
			segs := p.view.Load().segs
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(e.dir, tp0.String())
			c.plant(t, dir, segs)
			names := dirNames(t, dir)

			m, lb := e.mustOpenLogged()
			rs := m.Recovery()
			if len(rs.Quarantined) != 1 || rs.Partitions != 1 {
				t.Fatalf("recovery stats %+v:\n%s", rs, lb)
			}
			q := rs.Quarantined[0].Dir
			if rs.Quarantined[0].TP != tp0 || rs.Quarantined[0].Err == nil {
				t.Fatalf("quarantined %+v", rs.Quarantined[0])
			}
			if !strings.HasPrefix(filepath.Base(q), "orders-0.") || !strings.HasSuffix(q, quarantineDirSuffix) || filepath.Dir(q) != e.dir {
				t.Fatalf("quarantined to %s", q)
			}
			lines := lb.lines("level=ERROR", "partition quarantined", "partition=orders-0", "moved_to="+q, "err=", "refetch from the leader")
			if len(lines) != 1 {
				t.Fatalf("want one quarantine line naming %s:\n%s", q, lb)
			}
			if got := dirNames(t, q); strings.Join(got, ",") != strings.Join(names, ",") {
				t.Fatalf("quarantine dir holds %v, the partition held %v", got, names)
			}
			if _, ok := m.Partition(tp0); ok {
				t.Fatal("quarantined partition is open")
			}
			p1, _ = m.Partition(tp1)
			if _, hw, _ := p1.Offsets(); hw != end1 {
				t.Fatalf("the other partition's HW %d, want %d", hw, end1)
			}
			readAll(t, p1, 0)
			// The checkpoints no longer name it: a new log of that name
			// does not inherit its recovery point or log start.
			for _, f := range []string{recoveryPointFile, logStartFile} {
				cp, err := readOffsetCheckpoint(filepath.Join(e.dir, f))
				if _, named := cp[tp0]; err != nil || named {
					t.Fatalf("%s after quarantine: %v, names orders-0: %v", f, err, named)
				}
			}
			crash(m)

			// The next start skips the quarantine dir and leaves it alone;
			// the reconcile's creation gives an empty log.
			m, lb = e.mustOpenLogged()
			if rs := m.Recovery(); len(rs.Quarantined) != 0 || rs.Partitions != 1 || len(lb.lines("level=ERROR")) > 0 {
				t.Fatalf("second start: %+v\n%s", rs, lb)
			}
			if got := dirNames(t, q); len(got) != len(names) {
				t.Fatalf("quarantine dir changed: %v", got)
			}
			p = e.create(m, tp0)
			if r := mustAppend(t, p, simpleBatch(1, 10, 1)); r.BaseOffset != 0 {
				t.Fatalf("re-created log appends at %d", r.BaseOffset)
			}
			restartClean(t, e, m, 1)
		})
	}
	t.Run("data dir cannot rename", func(t *testing.T) {
		e := corruptEnv(t)
		m := e.open()
		fill(t, e.create(m, tp0), 3)
		m.Close()
		os.Mkdir(filepath.Join(e.dir, tp0.String(), segmentName(1<<40, logSuffix)), 0o755)
		m, lb, err := e.openWithLog(renameFails{vfs.Or(nil)})
		if err == nil {
			m.Close()
			t.Fatal("OpenManager succeeded on a dir that cannot move the bad partition aside")
		}
		if len(lb.lines("level=ERROR", "nor move it aside", "partition=orders-0", "read-only file system")) != 1 {
			t.Fatalf("no line for the failed move:\n%s", lb)
		}
	})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
