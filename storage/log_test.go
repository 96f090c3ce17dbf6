// This file proves the log's append and read contract on both engines:
// offsets, batches read back byte-for-byte across segments, fetch limits,
// index and timestamp lookups, rolls, retention, DeleteRecords, concurrent
// readers and group commit.
package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

func TestAppendReadAcrossSegments(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		var sent [][]byte
		next := model.Offset(0)
		for i := 0; i < 200; i++ {
			b := simpleBatch(1+i%7, 100+i%300, e.clock.Ms()+int64(i))
			orig := append([]byte(nil), b...)
			r := mustAppend(t, p, b)
			if r.BaseOffset != next || r.LastOffset != next+model.Offset(1+i%7)-1 {
				t.Fatalf("batch %d: offsets %d..%d, want base %d", i, r.BaseOffset, r.LastOffset, next)
			}
			if r.LogAppendTime != -1 {
				t.Fatalf("LogAppendTime %d, want -1", r.LogAppendTime)
			}
			setBatchOffsetAndEpoch(orig, next, 0)
			sent = append(sent, orig)
			next = r.LastOffset + 1
		}
		if _, segs := p.Size(); segs < 3 {
			t.Fatalf("want several segments, have %d", segs)
		}
		ls, hw, le := p.Offsets()
		if ls != 0 || hw != next || le != next {
			t.Fatalf("offsets %d/%d/%d, want 0/%d/%d", ls, hw, le, next, next)
		}
		var got []byte
		off := model.Offset(0)
		for off < hw {
			res, err := p.Read(off, 3000, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Records) == 0 {
				t.Fatalf("empty read at %d", off)
			}
			got = append(got, res.Records...)
			hs := readHeaders(t, res.Records)
			off = hs[len(hs)-1].LastOffset() + 1
		}
		if want := bytes.Join(sent, nil); !bytes.Equal(got, want) {
			t.Fatalf("read back %d bytes differing from the %d appended", len(got), len(want))
		}
		// Offset == HW: empty, no error; beyond: out of range.
		if res, err := p.Read(hw, 1000, true); err != nil || len(res.Records) != 0 {
			t.Fatalf("read at HW: %v, %d bytes", err, len(res.Records))
		}
		if _, err := p.Read(hw+1, 1000, true); !errors.Is(err, model.ErrOffsetOutOfRange) {
			t.Fatalf("read past HW: %v", err)
		}
	})
}

func readHeaders(t testing.TB, b []byte) []BatchHeader {
	t.Helper()
	var out []BatchHeader
	for len(b) > 0 {
		h, err := checkBatch(b)
		if err != nil {
			t.Fatalf("bad batch in read result: %v", err)
		}
		out = append(out, h)
		b = b[h.Size():]
	}
	return out
}

func TestReadInsideBatchAndLimits(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 10; i++ {
			mustAppend(t, p, simpleBatch(10, 50, e.clock.Ms())) // offsets 10i..10i+9
		}
		res, err := p.Read(25, 1<<20, false)
		if err != nil {
			t.Fatal(err)
		}
		hs := readHeaders(t, res.Records)
		if hs[0].BaseOffset != 20 || hs[len(hs)-1].LastOffset() != 99 {
			t.Fatalf("read from 25 returned %d..%d, want the batch at 20 onwards", hs[0].BaseOffset, hs[len(hs)-1].LastOffset())
		}
		size := hs[0].Size()
		res, _ = p.Read(25, int32(size*2+10), false)
		if n := len(readHeaders(t, res.Records)); n != 2 {
			t.Fatalf("maxBytes for 2 batches returned %d", n)
		}
		res, _ = p.Read(25, 10, false)
		if len(res.Records) != 0 {
			t.Fatalf("maxBytes below one batch without minOneBatch returned %d bytes", len(res.Records))
		}
		res, _ = p.Read(25, 10, true)
		if hs := readHeaders(t, res.Records); len(hs) != 1 || hs[0].BaseOffset != 20 {
			t.Fatalf("minOneBatch returned %v", hs)
		}
		if res.HighWatermark != 100 || res.LogStartOffset != 0 || res.LastStableOffset != 100 {
			t.Fatalf("read result offsets %+v", res)
		}
	})
}

func TestIndexLookups(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 1 << 20
		e.cfg.IndexIntervalBytes = 256
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 300; i++ {
			mustAppend(t, p, simpleBatch(3, 40, e.clock.Ms()+int64(i)))
		}
		v := p.view.Load()
		s := v.segs[0]
		if s.index.count() < 50 {
			t.Fatalf("sparse index has %d entries", s.index.count())
		}
		if fi, _ := os.Stat(s.path(indexSuffix)); fi.Size() != int64(s.index.count())*8 {
			t.Fatalf(".index is %d bytes for %d entries", fi.Size(), s.index.count())
		}
		for off := model.Offset(0); off < 900; off += 7 {
			pos, h, ok, err := s.findBatch(off, s.size.Load())
			if err != nil || !ok || h.BaseOffset > off || h.LastOffset() < off {
				t.Fatalf("findBatch(%d) = pos %d batch %d..%d ok=%v err=%v", off, pos, h.BaseOffset, h.LastOffset(), ok, err)
			}
		}
	})
}

func TestOffsetForTimeAndMaxTimestamp(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		if ts, off := p.MaxTimestamp(); ts != -1 || off != -1 {
			t.Fatalf("empty MaxTimestamp = %d, %d", ts, off)
		}
		if _, _, ok := p.OffsetForTime(0); ok {
			t.Fatal("OffsetForTime on an empty log found something")
		}
		base := int64(1_000_000)
		// Batch i holds 5 records with timestamps base+10i .. base+10i+4.
		for i := 0; i < 400; i++ {
			mustAppend(t, p, simpleBatch(5, 60, base+int64(10*i)))
		}
		for _, c := range []struct {
			ts     int64
			off    model.Offset
			wantTs int64
		}{
			{0, 0, base},
			{base, 0, base},
			{base + 3, 3, base + 3},
			{base + 7, 5, base + 10},
			{base + 2000 + 2, 1002, base + 2002},
			{base + 3994, 1999, base + 3994},
		} {
			off, ts, ok := p.OffsetForTime(c.ts)
			if !ok || off != c.off || ts != c.wantTs {
				t.Errorf("OffsetForTime(%d) = %d, %d, %v; want %d, %d", c.ts, off, ts, ok, c.off, c.wantTs)
			}
		}
		if _, _, ok := p.OffsetForTime(base + 5000); ok {
			t.Error("OffsetForTime past the max found something")
		}
		// An out-of-order (older) batch does not lower the max.
		mustAppend(t, p, simpleBatch(2, 10, base))
		ts, off := p.MaxTimestamp()
		if ts != base+3994 || off != 1999 {
			t.Fatalf("MaxTimestamp = %d, %d; want %d, 1999", ts, off, base+3994)
		}
	})
}

func TestLogAppendTime(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.LogAppendTime = true
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		r := mustAppend(t, p, simpleBatch(3, 10, 5))
		if r.LogAppendTime != e.clock.Ms() {
			t.Fatalf("LogAppendTime %d, want %d", r.LogAppendTime, e.clock.Ms())
		}
		res, _ := p.Read(0, 1<<20, true)
		h := readHeaders(t, res.Records)[0]
		if !h.LogAppendTime() || h.MaxTimestamp != e.clock.Ms() {
			t.Fatalf("stored batch: LogAppendTime %v, max ts %d", h.LogAppendTime(), h.MaxTimestamp)
		}
		if off, ts, ok := p.OffsetForTime(e.clock.Ms()); !ok || off != 0 || ts != e.clock.Ms() {
			t.Fatalf("OffsetForTime = %d %d %v", off, ts, ok)
		}
	})
}

func TestRollBySizeTimeAndIndex(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 1 << 30
		e.cfg.SegmentMs = 60_000
		e.cfg.IndexIntervalBytes = 1
		e.cfg.SegmentIndexBytes = 16 * 8 // 16 offset entries
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)

		// By index: an entry per batch (interval 1 byte), 16 entries per segment.
		for i := 0; i < 40; i++ {
			mustAppend(t, p, simpleBatch(1, 10, e.clock.Ms()))
		}
		if _, segs := p.Size(); segs < 3 {
			t.Fatalf("index-full rolls: %d segments", segs)
		}

		// By size.
		cfg := e.cfg
		cfg.SegmentIndexBytes = 10 << 20
		cfg.SegmentBytes = 2000
		p.SetConfig(cfg)
		_, before := p.Size()
		for i := 0; i < 20; i++ {
			mustAppend(t, p, simpleBatch(1, 400, e.clock.Ms()))
		}
		_, after := p.Size()
		if after-before < 4 {
			t.Fatalf("size rolls: %d -> %d segments", before, after)
		}
		for _, s := range p.view.Load().segs[:after-1] {
			if s.size.Load() > 2000 {
				t.Fatalf("segment %s has %d bytes > segment.bytes", s.name(), s.size.Load())
			}
		}

		// By time, on append and from the retention pass.
		cfg.SegmentBytes = 1 << 30
		p.SetConfig(cfg)
		_, n0 := p.Size()
		e.clock.Advance(61 * time.Second)
		mustAppend(t, p, simpleBatch(1, 10, e.clock.Ms()))
		_, n1 := p.Size()
		if n1 != n0+1 {
			t.Fatalf("segment.ms roll on append: %d -> %d segments", n0, n1)
		}
		e.clock.Advance(61 * time.Second)
		m.RunRetention()
		_, n2 := p.Size()
		if n2 != n1+1 {
			t.Fatalf("segment.ms roll by retention pass: %d -> %d segments", n1, n2)
		}
		readAll(t, p, 0)
	})
}

func TestRetentionByTime(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 4096
		e.cfg.RetentionMs = 3600_000
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 30; i++ {
			mustAppend(t, p, simpleBatch(2, 500, e.clock.Ms()))
		}
		_, segsOld := p.Size()
		e.clock.Advance(2 * time.Hour)
		for i := 0; i < 10; i++ {
			mustAppend(t, p, simpleBatch(2, 500, e.clock.Ms()))
		}
		m.RunRetention()
		ls, hw, _ := p.Offsets()
		if ls == 0 || ls > 60 {
			t.Fatalf("log start %d after time retention; old data ended at 60", ls)
		}
		if _, segs := p.Size(); segs >= segsOld {
			t.Fatalf("segments %d, had %d old ones", segs, segsOld)
		}
		if _, err := p.Read(0, 100, true); !errors.Is(err, model.ErrOffsetOutOfRange) {
			t.Fatalf("read below log start: %v", err)
		}
		readAll(t, p, ls)
		// Everything expired, the active segment too: it is rolled and deleted.
		e.clock.Advance(3 * time.Hour)
		m.RunRetention()
		ls, hw2, le := p.Offsets()
		if ls != hw || hw2 != hw || le != hw {
			t.Fatalf("after full expiry offsets %d/%d/%d, want all %d", ls, hw2, le, hw)
		}
		if b, segs := p.Size(); b != 0 || segs != 1 {
			t.Fatalf("after full expiry %d bytes in %d segments", b, segs)
		}
		r := mustAppend(t, p, simpleBatch(1, 10, e.clock.Ms()))
		if r.BaseOffset != hw {
			t.Fatalf("append after expiry at %d, want %d", r.BaseOffset, hw)
		}
		// The log start is persisted.
		m.Close()
		m2 := e.open()
		defer m2.Close()
		p2, _ := m2.Partition(tp0)
		if ls2, _, _ := p2.Offsets(); ls2 != hw {
			t.Fatalf("log start after restart %d, want %d", ls2, hw)
		}
	})
}

func TestRetentionBySize(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 4096
		e.cfg.RetentionBytes = 10000
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 60; i++ {
			mustAppend(t, p, simpleBatch(2, 400, e.clock.Ms()))
		}
		m.RunRetention()
		size, _ := p.Size()
		if size > 10000 {
			t.Fatalf("size %d after retention.bytes 10000", size)
		}
		v := p.view.Load()
		if size <= 10000-4096-1000 {
			t.Fatalf("deleted too much: %d bytes left", size)
		}
		ls, _, _ := p.Offsets()
		if ls != v.segs[0].base {
			t.Fatalf("log start %d, first segment %d", ls, v.segs[0].base)
		}
		readAll(t, p, ls)
	})
}

func TestDeleteRecords(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 4096
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 40; i++ {
			mustAppend(t, p, simpleBatch(5, 100, e.clock.Ms()))
		}
		_, segs0 := p.Size()
		ls, err := p.DeleteRecords(103)
		if err != nil || ls != 103 {
			t.Fatalf("DeleteRecords(103) = %d, %v", ls, err)
		}
		if _, segs := p.Size(); segs >= segs0 {
			t.Fatalf("no segment deleted: %d", segs)
		}
		if _, err := p.Read(102, 1000, true); !errors.Is(err, model.ErrOffsetOutOfRange) {
			t.Fatalf("read below new log start: %v", err)
		}
		res, err := p.Read(103, 1000, true)
		if err != nil || readHeaders(t, res.Records)[0].BaseOffset != 100 {
			t.Fatalf("read at the new log start: %v", err)
		}
		if _, err := p.DeleteRecords(201); !errors.Is(err, model.ErrOffsetOutOfRange) {
			t.Fatalf("DeleteRecords past HW: %v", err)
		}
		if ls, err := p.DeleteRecords(-1); err != nil || ls != 200 {
			t.Fatalf("DeleteRecords(-1) = %d, %v", ls, err)
		}
		if res, err := p.Read(200, 100, true); err != nil || len(res.Records) != 0 {
			t.Fatalf("read at HW after deleting all: %v", err)
		}
		data, _ := os.ReadFile(filepath.Join(e.dir, logStartFile))
		if !bytes.Contains(data, []byte("orders 0 200\n")) {
			t.Fatalf("log-start-offset-checkpoint:\n%s", data)
		}
		data, _ = os.ReadFile(filepath.Join(e.dir, tp0.String(), leaderEpochFile))
		if string(data) != "0\n1\n0 200\n" {
			t.Fatalf("leader-epoch-checkpoint after DeleteRecords:\n%q", data)
		}
		mustAppend(t, p, simpleBatch(1, 10, e.clock.Ms()))
	})
}

func TestConcurrentReadersDuringAppends(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 8192
		e.cfg.RetentionBytes = 64 << 10
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		const appends = 400
		stop := make(chan struct{})
		var wg sync.WaitGroup
		errc := make(chan error, 8)
		for r := 0; r < 4; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					ls, hw, _ := p.Offsets()
					ch := p.Changed()
					res, err := p.Read(ls, 16<<10, true)
					if err != nil {
						if errors.Is(err, model.ErrOffsetOutOfRange) {
							continue // retention moved the start
						}
						errc <- err
						return
					}
					if hw > ls && len(res.Records) == 0 {
						errc <- fmt.Errorf("empty read at %d below HW %d", ls, hw)
						return
					}
					if _, _, err := ValidateBatches(res.Records, 0); len(res.Records) > 0 && err != nil {
						errc <- err
						return
					}
					p.OffsetForTime(e.clock.Ms())
					p.MaxTimestamp()
					p.Size()
					if hw == res.HighWatermark {
						select {
						case <-ch:
						case <-stop:
							return
						}
					}
				}
			}()
		}
		var rwg sync.WaitGroup
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for i := 0; i < 20; i++ {
				m.RunRetention()
			}
		}()
		for i := 0; i < appends; i++ {
			mustAppend(t, p, simpleBatch(3, 200, e.clock.Ms()))
		}
		rwg.Wait()
		close(stop)
		wg.Wait()
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
	})
}

func TestGroupCommit(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 1 << 30
		m := e.open()
		defer m.Close()
		var parts []*Partition
		for i := 0; i < 4; i++ {
			parts = append(parts, e.create(m, model.TopicPartition{Topic: "gc", Partition: int32(i)}))
		}
		var before, tasksBefore uint64
		for i := 0; i < e.rt.Len(); i++ {
			before += e.rt.Shard(i).Stats().Syncs.Load()
			tasksBefore += e.rt.Shard(i).Stats().Tasks.Load()
		}
		const n = 400
		var wg sync.WaitGroup
		results := make(chan AppendResult, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				parts[i%4].Append(simpleBatch(1, 100, 0), 0, func(r AppendResult) { results <- r })
			}(i)
		}
		wg.Wait()
		for i := 0; i < n; i++ {
			select {
			case r := <-results:
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("appends did not complete")
			}
		}
		var after uint64
		for i := 0; i < e.rt.Len(); i++ {
			after += e.rt.Shard(i).Stats().Syncs.Load()
		}
		syncs := after - before
		t.Logf("%d durable appends took %d fdatasyncs", n, syncs)
		if syncs >= n {
			t.Fatalf("%d syncs for %d appends: no group commit", syncs, n)
		}
		for _, p := range parts {
			if _, hw, _ := p.Offsets(); hw != n/4 {
				t.Fatalf("%s HW %d, want %d", p.tp, hw, n/4)
			}
		}
	})
}

func TestAppendValidation(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.MaxMessageBytes = 1000
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		good := simpleBatch(2, 10, 1)
		bad := append([]byte(nil), good...)
		bad[len(bad)-1] ^= 1
		ctl := buildBatch(noProducer(1), []testRec{{value: []byte("x")}})
		ctl[offAttributes+1] |= attrControl
		copy(ctl[offCRC:], []byte{0, 0, 0, 0})
		putCRC(ctl)
		for _, c := range []struct {
			name string
			recs []byte
			want error
		}{
			{"crc", bad, model.ErrCorruptRecord},
			{"torn", good[:len(good)-3], model.ErrCorruptRecord},
			{"too large", simpleBatch(1, 2000, 1), model.ErrRecordTooLarge},
			{"control", ctl, model.ErrInvalidRecord},
			{"empty", nil, model.ErrInvalidRecord},
		} {
			r := appendWait(t, p, c.recs)
			if !errors.Is(r.Err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, r.Err, c.want)
			}
		}
		if _, hw, le := p.Offsets(); hw != 0 || le != 0 {
			t.Fatalf("rejected appends moved the log: %d %d", hw, le)
		}
		// Two batches in one request get contiguous offsets.
		r := mustAppend(t, p, append(simpleBatch(2, 10, 1), simpleBatch(3, 10, 1)...))
		if r.BaseOffset != 0 || r.LastOffset != 4 {
			t.Fatalf("two batches: %d..%d", r.BaseOffset, r.LastOffset)
		}
	})
}

func putCRC(b []byte) {
	c := batchCRC(b)
	b[offCRC], b[offCRC+1], b[offCRC+2], b[offCRC+3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
}

func TestDeletePartitionAndCheckpoints(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		if p2 := e.create(m, tp0); p2 != p {
			t.Fatal("CreatePartition is not idempotent")
		}
		other := e.create(m, model.TopicPartition{Topic: "other", Partition: 3})
		mustAppend(t, p, simpleBatch(1, 10, 1))
		mustAppend(t, other, simpleBatch(4, 10, 1))
		if err := m.DeletePartition(tp0); err != nil {
			t.Fatal(err)
		}
		if r := appendWait(t, p, simpleBatch(1, 10, 1)); !errors.Is(r.Err, model.ErrClosed) {
			t.Fatalf("append after delete: %v", r.Err)
		}
		if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
			t.Fatalf("partition dir still there: %v", err)
		}
		if err := m.CheckpointAll(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(e.dir, recoveryPointFile))
		if string(data) != "0\n1\nother 3 4\n" {
			t.Fatalf("recovery-point-offset-checkpoint:\n%q", data)
		}
		m2 := e.open()
		defer m2.Close()
		if tps := m2.Partitions(); len(tps) != 1 || tps[0].Topic != "other" {
			t.Fatalf("partitions after restart: %v", tps)
		}
	})
}

func TestRelaxedFlushPolicy(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.Durable = false
		e.cfg.FlushMessages = 5
		e.cfg.FlushMs = -1
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		syncs := func() uint64 { return p.shard.Stats().Syncs.Load() }
		s0 := syncs()
		for i := 0; i < 20; i++ {
			mustAppend(t, p, simpleBatch(1, 10, e.clock.Ms()))
		}
		if n := syncs() - s0; n != 4 {
			t.Fatalf("flush.messages=5: %d syncs for 20 messages, want 4", n)
		}
		// flush.ms from the retention pass.
		cfg := e.cfg
		cfg.FlushMessages = 0
		cfg.FlushMs = 1000
		p.SetConfig(cfg)
		mustAppend(t, p, simpleBatch(1, 10, e.clock.Ms()))
		e.clock.Advance(2 * time.Second)
		m.RunRetention()
		if p.unflushedForTest() != 0 {
			t.Fatal("flush.ms did not flush in the retention pass")
		}
	})
}

func (p *Partition) unflushedForTest() (n int64) {
	p.onShard(nil, func() error { n = p.unflushed; return nil })
	return n
}
