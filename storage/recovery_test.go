// This file proves restarts: a clean one loads indexes and producer state
// without scanning, an unclean one truncates a torn or corrupt tail and
// keeps offsets contiguous, a missing index is rebuilt, and idempotent
// producer state (dedupe, gaps, epochs) survives both.
package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ringtail/ringtail/model"
)

func idemBatch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]testRec, n)
	for i := range recs {
		recs[i] = testRec{value: []byte("idempotent")}
	}
	return buildBatch(batchOpts{firstTs: 1, producerID: pid, epoch: epoch, baseSeq: seq}, recs)
}

// fill appends n batches of 3 records and returns the log end.
func fill(t *testing.T, p *Partition, n int) model.Offset {
	var r AppendResult
	for i := 0; i < n; i++ {
		r = mustAppend(t, p, simpleBatch(3, 300, int64(1000+i)))
	}
	return r.LastOffset + 1
}

func TestCleanRestartWithoutRescan(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		end := fill(t, p, 100)
		mustAppend(t, p, idemBatch(7, 0, 0, 2))
		before := readAll(t, p, 0)
		maxTs, maxOff := p.MaxTimestamp()
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(e.dir, cleanShutdownFile)); err != nil {
			t.Fatalf("no clean-shutdown marker: %v", err)
		}
		m = e.open()
		defer m.Close()
		rs := m.Recovery()
		if !rs.CleanShutdown || rs.Rescanned != 0 || rs.Partitions != 1 || rs.TruncatedBytes != 0 {
			t.Fatalf("recovery stats %+v", rs)
		}
		if _, err := os.Stat(filepath.Join(e.dir, cleanShutdownFile)); !os.IsNotExist(err) {
			t.Fatalf("marker not removed: %v", err)
		}
		p, _ = m.Partition(tp0)
		if _, hw, le := p.Offsets(); hw != end+2 || le != end+2 {
			t.Fatalf("offsets after restart %d %d, want %d", hw, le, end+2)
		}
		if after := readAll(t, p, 0); len(after) != len(before) {
			t.Fatalf("%d batches after restart, %d before", len(after), len(before))
		}
		if ts, off := p.MaxTimestamp(); ts != maxTs || off != maxOff {
			t.Fatalf("MaxTimestamp after restart %d,%d; before %d,%d", ts, off, maxTs, maxOff)
		}
		// Producer state came from the snapshot: a retry is a duplicate.
		r := mustAppend(t, p, idemBatch(7, 0, 0, 2))
		if r.BaseOffset != end || r.LastOffset != end+1 {
			t.Fatalf("duplicate after clean restart got %d..%d, want %d..%d", r.BaseOffset, r.LastOffset, end, end+1)
		}
		mustAppend(t, p, idemBatch(7, 0, 2, 1))
	})
}

// crash closes the files without a clean shutdown.
func crash(m *Manager) { m.closePartitions() }

func lastSegmentPath(t *testing.T, e *env) string {
	t.Helper()
	ents, _ := filepath.Glob(filepath.Join(e.dir, tp0.String(), "*.log"))
	if len(ents) == 0 {
		t.Fatal("no segments")
	}
	return ents[len(ents)-1]
}

func TestUncleanRestartTornTail(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		for _, tail := range []struct {
			name string
			junk func(last []byte) []byte
		}{
			{"garbage", func([]byte) []byte {
				return []byte("this is not a record batch at all, just junk....................................")
			}},
			{"half batch", func(last []byte) []byte { return last[:len(last)/2] }},
		} {
			t.Run(tail.name, func(t *testing.T) {
				e.dir = t.TempDir()
				m := e.open()
				p := e.create(m, tp0)
				end := fill(t, p, 50)
				mustAppend(t, p, idemBatch(9, 0, 0, 1))
				end++
				m.CheckpointAll()
				crash(m)
				f, err := os.OpenFile(lastSegmentPath(t, e), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				junk := tail.junk(simpleBatch(3, 300, 1))
				f.Write(junk)
				f.Close()

				m = e.open()
				rs := m.Recovery()
				if rs.CleanShutdown || rs.Rescanned != 1 || rs.TruncatedBytes != int64(len(junk)) {
					t.Fatalf("recovery stats %+v, junk %d bytes", rs, len(junk))
				}
				p, _ = m.Partition(tp0)
				if _, hw, le := p.Offsets(); hw != end || le != end {
					t.Fatalf("offsets after recovery %d/%d, want %d", hw, le, end)
				}
				readAll(t, p, 0)
				// Producer state was replayed from the log.
				if r := mustAppend(t, p, idemBatch(9, 0, 0, 1)); r.BaseOffset != end-1 {
					t.Fatalf("duplicate after crash got %d, want %d", r.BaseOffset, end-1)
				}
				r := mustAppend(t, p, simpleBatch(1, 10, 1))
				if r.BaseOffset != end {
					t.Fatalf("append after recovery at %d, want %d", r.BaseOffset, end)
				}
				readAll(t, p, 0)
				m.Close()
			})
		}
	})
}

func TestUncleanRestartCorruptTailBatch(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		fill(t, p, 40)
		last := mustAppend(t, p, simpleBatch(3, 300, 5))
		crash(m)
		path := lastSegmentPath(t, e)
		data, _ := os.ReadFile(path)
		size := simpleBatchSize(3, 300)
		data[len(data)-10] ^= 0xff // inside the last batch's records
		os.WriteFile(path, data, 0o644)

		m = e.open()
		defer m.Close()
		rs := m.Recovery()
		if rs.Rescanned != 1 || rs.TruncatedBytes != int64(size) {
			t.Fatalf("recovery stats %+v, want %d bytes truncated", rs, size)
		}
		p, _ = m.Partition(tp0)
		if _, hw, _ := p.Offsets(); hw != last.BaseOffset {
			t.Fatalf("HW %d, want %d (the corrupt batch dropped)", hw, last.BaseOffset)
		}
		readAll(t, p, 0)
		if r := mustAppend(t, p, simpleBatch(1, 1, 1)); r.BaseOffset != last.BaseOffset {
			t.Fatalf("next append at %d", r.BaseOffset)
		}
	})
}

func simpleBatchSize(n, v int) int { return len(simpleBatch(n, v, 0)) }

func TestUncleanRestartDropsSegmentsAfterHole(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		fill(t, p, 120)
		v := p.view.Load()
		if len(v.segs) < 3 {
			t.Fatalf("need 3 segments, have %d", len(v.segs))
		}
		// Corrupt a batch in the middle of the second segment; recovery
		// from offset 0 must cut there and drop everything after.
		second := v.segs[1]
		cut := second.base
		crash(m)
		os.Remove(filepath.Join(e.dir, recoveryPointFile))
		f, _ := os.OpenFile(second.path(logSuffix), os.O_RDWR, 0)
		f.WriteAt([]byte{0xde, 0xad}, 200)
		f.Close()
		m = e.open()
		defer m.Close()
		p, _ = m.Partition(tp0)
		_, hw, _ := p.Offsets()
		if hw != cut {
			t.Fatalf("HW %d, want %d (cut at the first batch of the second segment)", hw, cut)
		}
		if _, segs := p.Size(); segs != 2 {
			t.Fatalf("%d segments after the hole", segs)
		}
		readAll(t, p, 0)
		mustAppend(t, p, simpleBatch(1, 1, 1))
		readAll(t, p, 0)
	})
}

func TestMissingIndexRebuilt(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		fill(t, p, 60)
		first := p.view.Load().segs[0]
		wantEntries := first.index.count()
		if wantEntries == 0 {
			t.Fatal("first segment has no index entries")
		}
		m.Close()
		os.Remove(first.path(indexSuffix))
		os.Remove(first.path(timeIndexSuffix))
		m = e.open()
		defer m.Close()
		p, _ = m.Partition(tp0)
		s := p.view.Load().segs[0]
		if s.index.count() != wantEntries {
			t.Fatalf("rebuilt index has %d entries, had %d", s.index.count(), wantEntries)
		}
		if fi, err := os.Stat(s.path(indexSuffix)); err != nil || fi.Size() != int64(wantEntries*8) {
			t.Fatalf("rebuilt .index: %v", err)
		}
		if s.tindex.count() == 0 {
			t.Fatal("time index not rebuilt")
		}
		readAll(t, p, 0)
		if off, _, ok := p.OffsetForTime(1010); !ok || off != 26 { // batch 8 holds 1008..1010
			t.Fatalf("OffsetForTime after rebuild = %d %v", off, ok)
		}
		// A corrupt index (not whole entries) is rebuilt too.
		m.Close()
		os.WriteFile(s.path(indexSuffix), []byte{1, 2, 3}, 0o644)
		m = e.open()
		defer m.Close()
		p, _ = m.Partition(tp0)
		if c := p.view.Load().segs[0].index.count(); c != wantEntries {
			t.Fatalf("index rebuilt from garbage has %d entries", c)
		}
	})
}

func TestIdempotentProducer(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		const pid = 42
		var firsts []AppendResult
		for i := 0; i < 6; i++ {
			firsts = append(firsts, mustAppend(t, p, idemBatch(pid, 0, int32(i*2), 2)))
		}
		// A duplicate of one of the last five: original offsets, nothing appended.
		_, _, le := p.Offsets()
		r := mustAppend(t, p, idemBatch(pid, 0, 6, 2))
		if r.BaseOffset != firsts[3].BaseOffset || r.LastOffset != firsts[3].LastOffset {
			t.Fatalf("duplicate got %d..%d, want %d..%d", r.BaseOffset, r.LastOffset, firsts[3].BaseOffset, firsts[3].LastOffset)
		}
		if _, _, le2 := p.Offsets(); le2 != le {
			t.Fatalf("duplicate appended: log end %d -> %d", le, le2)
		}
		// The oldest batch fell out of the window: out of order.
		for _, c := range []struct {
			name string
			b    []byte
			want error
		}{
			{"out of window", idemBatch(pid, 0, 0, 2), model.ErrOutOfOrderSequence},
			{"gap", idemBatch(pid, 0, 14, 1), model.ErrOutOfOrderSequence},
			{"next in sequence", idemBatch(pid, 0, 12, 1), nil},
			{"new epoch not at 0", idemBatch(pid, 1, 5, 1), model.ErrOutOfOrderSequence},
			{"unknown producer not at 0 (accepted, as Kafka does)", idemBatch(pid+1, 0, 3, 1), nil},
			{"then a gap for it", idemBatch(pid+1, 0, 5, 1), model.ErrOutOfOrderSequence},
		} {
			r := appendWait(t, p, c.b)
			if c.want == nil {
				if r.Err != nil {
					t.Fatalf("%s: %v", c.name, r.Err)
				}
				continue
			}
			if !errors.Is(r.Err, c.want) {
				t.Fatalf("%s: %v, want %v", c.name, r.Err, c.want)
			}
		}
		mustAppend(t, p, idemBatch(pid, 1, 0, 3))
		if r := appendWait(t, p, idemBatch(pid, 0, 13, 1)); !errors.Is(r.Err, model.ErrInvalidProducerEpoch) {
			t.Fatalf("older epoch: %v", r.Err)
		}
		// Sequences wrap at MaxInt32.
		mustAppend(t, p, idemBatch(77, 0, 0, 1))
		p.onShard(nil, func() error {
			e := p.producers[77]
			e.latest().lastSeq = 2147483645
			return nil
		})
		mustAppend(t, p, idemBatch(77, 0, 2147483646, 3)) // 2147483646, 2147483647, 0
		mustAppend(t, p, idemBatch(77, 0, 1, 1))

		// A second batch in the same request sees the first.
		r = mustAppend(t, p, append(idemBatch(88, 0, 0, 2), idemBatch(88, 0, 2, 2)...))
		if r.LastOffset-r.BaseOffset != 3 {
			t.Fatalf("two idempotent batches: %d..%d", r.BaseOffset, r.LastOffset)
		}
		// A refused batch in a request undoes the request's earlier batches.
		if r := appendWait(t, p, append(idemBatch(99, 0, 0, 1), idemBatch(99, 0, 5, 1)...)); !errors.Is(r.Err, model.ErrOutOfOrderSequence) {
			t.Fatalf("gap inside a request: %v", r.Err)
		}
		mustAppend(t, p, idemBatch(99, 0, 0, 1))

		// Across an unclean restart: replayed from the log (and the roll snapshots).
		crash(m)
		m = e.open()
		defer m.Close()
		p, _ = m.Partition(tp0)
		if r := mustAppend(t, p, idemBatch(pid, 1, 0, 3)); r.Err != nil || r.BaseOffset == -1 {
			t.Fatalf("duplicate after restart: %+v", r)
		}
		if r := appendWait(t, p, idemBatch(pid, 1, 4, 1)); !errors.Is(r.Err, model.ErrOutOfOrderSequence) {
			t.Fatalf("gap after restart: %v", r.Err)
		}
		mustAppend(t, p, idemBatch(pid, 1, 3, 1))
		mustAppend(t, p, idemBatch(77, 0, 2, 1))
	})
}

func TestProducerStateTrimmedWithRetention(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 2048
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		mustAppend(t, p, idemBatch(5, 0, 0, 1))
		end := fill(t, p, 20)
		if _, err := p.DeleteRecords(end); err != nil {
			t.Fatal(err)
		}
		// The producer's state went with its batches: its next batch is
		// taken as from a new producer (Kafka does the same), so a live
		// producer keeps going, and its state is tracked again from there.
		mustAppend(t, p, idemBatch(5, 0, 1, 1))
		if r := appendWait(t, p, idemBatch(5, 0, 0, 1)); !errors.Is(r.Err, model.ErrOutOfOrderSequence) {
			t.Fatalf("producer state not re-established after trimming: %v", r.Err)
		}
	})
}
