package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

func compactConfig() Config {
	c := testConfig()
	c.Compact = true
	c.SegmentBytes = 2048
	c.MinCleanableRatio = 0.5
	c.DeleteRetentionMs = 3600_000
	return c
}

// kv is one record as a reader sees it.
type kv struct {
	off       model.Offset
	key, val  string
	tombstone bool
}

// readKVs reads every record from the log start with Read, decoding the
// batches (gaps allowed, offsets strictly increasing).
func readKVs(t *testing.T, p *Partition) []kv {
	t.Helper()
	start, hw, _ := p.Offsets()
	var out []kv
	for off := start; off < hw; {
		res, err := p.Read(off, 1<<20, true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("read at %d (high watermark %d) returned nothing", off, hw)
		}
		for pos := 0; pos < len(res.Records); {
			h, err := checkBatch(res.Records[pos:])
			if err != nil {
				t.Fatal(err)
			}
			recs, _, err := batchRecords(res.Records[pos:pos+h.Size()], &h)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				o := h.BaseOffset + model.Offset(r.offsetDelta)
				if o < off {
					continue
				}
				if n := len(out); n > 0 && o <= out[n-1].off {
					t.Fatalf("offset %d after %d", o, out[n-1].off)
				}
				out = append(out, kv{off: o, key: string(r.key), val: string(r.value), tombstone: r.nullValue})
			}
			off = h.LastOffset() + 1
			pos += h.Size()
		}
	}
	return out
}

// appendKV appends one batch of keyed records (tombstone when val == "").
func appendKV(t *testing.T, p *Partition, ts int64, pairs ...string) AppendResult {
	t.Helper()
	var recs []testRec
	for i := 0; i+1 < len(pairs); i += 2 {
		recs = append(recs, testRec{key: []byte(pairs[i]), value: []byte(pairs[i+1]), tombstone: pairs[i+1] == "", tsDelta: int64(i / 2)})
	}
	return mustAppend(t, p, buildBatch(noProducer(ts), recs))
}

// latest is the expected latest value of every key after the updates.
func latestOf(updates [][2]string) map[string]string {
	out := map[string]string{}
	for _, u := range updates {
		out[u[0]] = u[1]
	}
	return out
}

// Keyed updates over a few keys: after a pass every key's latest value is
// read exactly once, offsets still increase, the log shrank, and the result
// survives a restart.
func TestCleanKeepsTheLatestRecordPerKey(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		m := e.open()
		p := e.create(m, tp0)
		var updates [][2]string
		for i := 0; i < 400; i++ {
			k, v := fmt.Sprintf("k%02d", i%20), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", 40))
			updates = append(updates, [2]string{k, v})
			appendKV(t, p, int64(1000+i), k, v)
		}
		before, segsBefore := p.Size()
		end, err := m.Clean(tp0)
		if err != nil || end <= 0 {
			t.Fatalf("Clean: %d %v", end, err)
		}
		after, _ := p.Size()
		if after >= before/2 {
			t.Fatalf("size %d -> %d bytes: compaction did not shrink the log", before, after)
		}
		// Segments are grouped by their size before the pass (as Kafka
		// does): the next pass merges the small cleaned ones.
		for i := 400; i < 440; i++ {
			k, v := fmt.Sprintf("k%02d", i%20), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", 40))
			updates = append(updates, [2]string{k, v})
			appendKV(t, p, int64(1000+i), k, v)
		}
		if end, err = m.Clean(tp0); err != nil || end <= 0 {
			t.Fatalf("second Clean: %d %v", end, err)
		}
		if _, segsAfter := p.Size(); segsAfter >= segsBefore/2 {
			t.Fatalf("%d segments before, %d after two passes: cleaned segments were not merged", segsBefore, segsAfter)
		}
		check := func(what string) {
			t.Helper()
			got := readKVs(t, p)
			want := latestOf(updates)
			seen := map[string]int{}
			for _, r := range got {
				seen[r.key]++
				if r.off < end && seen[r.key] > 1 {
					t.Fatalf("%s: key %s read twice below the cleaned end %d", what, r.key, end)
				}
			}
			last := map[string]string{}
			for _, r := range got {
				last[r.key] = r.val
			}
			for k, v := range want {
				if last[k] != v {
					t.Fatalf("%s: key %s reads %q last, want %q", what, k, last[k], v)
				}
			}
		}
		check("after the pass")
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m = e.open()
		defer m.Close()
		p, _ = m.Partition(tp0)
		check("after a restart")
		if st := p.CleanState(); st.FirstDirty != end {
			t.Fatalf("first dirty after restart %d, want %d (cleaner-offset-checkpoint)", st.FirstDirty, end)
		}
		// Nothing dirty: the next pass does nothing.
		if again, err := m.Clean(tp0); err != nil || again != -1 {
			t.Fatalf("second pass with nothing dirty: %d %v", again, err)
		}
	})
}

// A tombstone stays for delete.retention.ms after its segment was cleaned,
// then goes; a key with a newer value loses its older ones at once.
func TestCleanTombstones(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		fill := func(n int) {
			for i := 0; i < n; i++ {
				appendKV(t, p, e.clock.Ms(), fmt.Sprintf("f%d", i%5), strings.Repeat("y", 200))
			}
		}
		appendKV(t, p, e.clock.Ms(), "gone", "v1")
		appendKV(t, p, e.clock.Ms(), "gone", "")
		fill(40)
		if _, err := m.Clean(tp0); err != nil {
			t.Fatal(err)
		}
		has := func() (value, tombstone bool) {
			for _, r := range readKVs(t, p) {
				if r.key == "gone" {
					if r.tombstone {
						tombstone = true
					} else {
						value = true
					}
				}
			}
			return
		}
		if v, ts := has(); v || !ts {
			t.Fatalf("after the first pass: value %v tombstone %v; want only the tombstone", v, ts)
		}
		e.clock.Advance(2 * time.Hour) // past delete.retention.ms
		fill(40)
		if _, err := m.Clean(tp0); err != nil {
			t.Fatal(err)
		}
		if v, ts := has(); v || ts {
			t.Fatalf("after delete.retention.ms: value %v tombstone %v; want neither", v, ts)
		}
	})
}

// A batch all of whose records are superseded stays as an empty header when
// it is its producer's latest batch (idempotence), and goes otherwise.
func TestCleanKeepsTheProducersLastBatch(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		idem := buildBatch(batchOpts{firstTs: 1, producerID: 9, epoch: 0, baseSeq: 0}, []testRec{{key: []byte("p"), value: []byte("old")}})
		r := mustAppend(t, p, idem)
		for i := 0; i < 40; i++ {
			appendKV(t, p, 2, "p", fmt.Sprintf("new%d%s", i, strings.Repeat("z", 100)))
		}
		if _, err := m.Clean(tp0); err != nil {
			t.Fatal(err)
		}
		res, err := p.Read(r.BaseOffset, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		h, err := checkBatch(res.Records)
		if err != nil || h.BaseOffset != r.BaseOffset || h.ProducerID != 9 || h.RecordCount != 0 {
			t.Fatalf("the producer's last batch: %+v %v; want an empty batch at %d", h, err, r.BaseOffset)
		}
		// The producer goes on where it was: sequence 1 is accepted.
		next := buildBatch(batchOpts{firstTs: 3, producerID: 9, epoch: 0, baseSeq: 1}, []testRec{{key: []byte("p"), value: []byte("after")}})
		mustAppend(t, p, next)
	})
}

// A compacted topic refuses a record without a key and writes nothing.
func TestCompactedTopicRefusesNullKeys(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		r := appendWait(t, p, buildBatch(noProducer(1), []testRec{{key: []byte("k"), value: []byte("v")}, {value: []byte("no key")}}))
		if !errors.Is(r.Err, model.ErrInvalidRecord) {
			t.Fatalf("append without a key: %v, want INVALID_RECORD", r.Err)
		}
		if _, hw, end := p.Offsets(); hw != 0 || end != 0 {
			t.Fatalf("log end %d after a refused append", end)
		}
	})
}

// A pass stopped at any step, as by a crash, leaves a log that recovers to
// every key's latest value, with no *.cleaned, *.deleted or manifest file.
func TestCleanCrashAtEveryStep(t *testing.T) {
	for _, step := range []string{"written", "manifest", "renaming", "committed"} {
		t.Run(step, func(t *testing.T) {
			eachEngine(t, func(t *testing.T, e *env) {
				e.cfg = compactConfig()
				m := e.open()
				p := e.create(m, tp0)
				var updates [][2]string
				for i := 0; i < 200; i++ {
					k, v := fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d%s", i, strings.Repeat("w", 50))
					updates = append(updates, [2]string{k, v})
					appendKV(t, p, 5, k, v)
				}
				stop := func(s string) bool { return s == step }
				m.cleanFault.Store(&stop)
				if _, err := m.Clean(tp0); !errors.Is(err, errFault) {
					t.Fatalf("Clean with a fault at %s: %v", step, err)
				}
				crash(m)
				m = e.open()
				defer m.Close()
				p, _ = m.Partition(tp0)
				last := map[string]string{}
				for _, r := range readKVs(t, p) {
					last[r.key] = r.val
				}
				for k, v := range latestOf(updates) {
					if last[k] != v {
						t.Fatalf("after a crash at %s: key %s reads %q, want %q", step, k, last[k], v)
					}
				}
				ents, _ := os.ReadDir(filepath.Join(e.dir, tp0.String()))
				for _, ent := range ents {
					if n := ent.Name(); strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, deletedSuffix) || n == swapManifest {
						t.Fatalf("after a crash at %s: %s left in the partition dir", step, n)
					}
				}
				// And it cleans again.
				if _, err := m.Clean(tp0); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// Compressed batches are cleaned too, and rewritten with their codec.
func TestCleanCompressedBatches(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 60; i++ {
			recs := []testRec{{key: []byte(fmt.Sprintf("a%d", i%3)), value: []byte(fmt.Sprintf("%d", i))},
				{key: []byte("b"), value: []byte(strings.Repeat("q", 100) + fmt.Sprint(i)), tsDelta: 1}}
			mustAppend(t, p, codecBatch(t, codecLZ4, noProducer(7), recs))
		}
		if _, err := m.Clean(tp0); err != nil {
			t.Fatal(err)
		}
		last := map[string]string{}
		for _, r := range readKVs(t, p) {
			last[r.key] = r.val
		}
		if last["b"] != strings.Repeat("q", 100)+"59" || last["a0"] != "57" || last["a2"] != "59" {
			t.Fatalf("latest values after cleaning compressed batches: %v", last)
		}
	})
}

// Reads that start inside a gap left by compaction get the next batch, by
// bytes and by file ranges.
func TestReadsSkipCompactionGaps(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 100; i++ {
			appendKV(t, p, 1, "same", fmt.Sprintf("%d%s", i, strings.Repeat("r", 60)))
		}
		if _, err := m.Clean(tp0); err != nil {
			t.Fatal(err)
		}
		got := readKVs(t, p)
		if len(got) < 2 || got[0].off == 0 {
			t.Fatalf("expected a gap at the log start after cleaning, read %v", got[:min(3, len(got))])
		}
		res, err := p.Read(0, 1<<20, true)
		if err != nil || len(res.Records) == 0 {
			t.Fatalf("read at offset 0 in a gap: %d bytes, %v", len(res.Records), err)
		}
		rg, err := p.ReadRanges(1, 1<<20, true)
		if err != nil || rg.Bytes == 0 {
			t.Fatalf("ranged read in a gap: %d bytes, %v", rg.Bytes, err)
		}
		rg.Release()
	})
}

// A corrupt batch met while cleaning marks that partition uncleanable (with
// the reason) and the cleaner goes on with the others; the corrupt
// partition is still served up to the bad batch.
func TestCorruptBatchMakesOnlyThatPartitionUncleanable(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		e.cfg.MinCleanableRatio = 0.1
		m, err := OpenManager(ManagerConfig{Dir: e.dir, Runtime: e.rt, Logger: quietLogger(), Now: e.clock.Now,
			Cleaner: CleanerConfig{Enabled: false}}, func(model.TopicPartition) Config { return e.cfg })
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		bad, good := e.create(m, tp0), e.create(m, tp1)
		for i := 0; i < 100; i++ {
			appendKV(t, bad, 1, fmt.Sprintf("k%d", i%5), strings.Repeat("b", 60))
			appendKV(t, good, 1, fmt.Sprintf("k%d", i%5), strings.Repeat("g", 60))
		}
		// Flip a byte inside the records of the first batch on disk.
		path := filepath.Join(e.dir, tp0.String(), segmentName(0, logSuffix))
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		f.ReadAt(b[:], BatchHeaderSize+5)
		b[0] ^= 0xff
		f.WriteAt(b[:], BatchHeaderSize+5)
		f.Close()
		c := m.cleaner
		for i := 0; i < 2; i++ {
			if p := c.pick(); p != nil {
				c.cleanOne(p)
				p.cleaning.Store(false)
			}
		}
		if st := bad.CleanState(); !strings.Contains(st.Uncleanable, "crc32c") {
			t.Fatalf("corrupt partition's state: %+v; want uncleanable naming the CRC", st)
		}
		if st := good.CleanState(); st.Uncleanable != "" || st.LastCleanMs == 0 {
			t.Fatalf("the other partition: %+v; want it cleaned", st)
		}
		if got := m.CleanerStats().Uncleanable; got != 1 {
			t.Fatalf("uncleanable partitions %d, want 1", got)
		}
		if c.pick() == bad {
			t.Fatal("the cleaner picked the uncleanable partition again")
		}
	})
}

// A full disk during a pass aborts it: the source segments stay, nothing
// is lost, the partition is not given up on, and once there is space again
// the next pass cleans.
func TestCleanOnAFullDisk(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.dir = filepath.Join(mountTmpfs(t, "4m"), "data")
		e.cfg = compactConfig()
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		dir := e.dir
		var updates [][2]string
		for i := 0; i < 300; i++ {
			k, v := fmt.Sprintf("k%d", i%9), fmt.Sprintf("v%d%s", i, strings.Repeat("d", 80))
			updates = append(updates, [2]string{k, v})
			appendKV(t, p, 1, k, v)
		}
		filler := fillDisk(t, filepath.Dir(dir))
		if p2 := m.cleaner.pick(); p2 != p {
			t.Fatal("the dirty partition was not picked")
		}
		m.cleaner.cleanOne(p)
		p.cleaning.Store(false)
		if st := p.CleanState(); st.Uncleanable != "" || st.LastCleanMs != 0 {
			t.Fatalf("after a pass on a full disk: %+v; want no pass and not uncleanable", st)
		}
		check := func() {
			last := map[string]string{}
			for _, r := range readKVs(t, p) {
				last[r.key] = r.val
			}
			for k, v := range latestOf(updates) {
				if last[k] != v {
					t.Fatalf("key %s reads %q, want %q", k, last[k], v)
				}
			}
		}
		check()
		ents, _ := os.ReadDir(filepath.Join(dir, tp0.String()))
		for _, ent := range ents {
			if strings.HasSuffix(ent.Name(), cleanedSuffix) || ent.Name() == swapManifest {
				t.Fatalf("%s left after the failed pass", ent.Name())
			}
		}
		os.Remove(filler)
		if end, err := m.Clean(tp0); err != nil || end <= 0 {
			t.Fatalf("pass with space again: %d %v", end, err)
		}
		check()
	})
}

// A partition below min.cleanable.dirty.ratio is still picked once its
// oldest dirty segment is older than max.compaction.lag.ms; min.compaction
// lag keeps recent segments out of a pass.
func TestCompactionLags(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		e.cfg.MinCleanableRatio = 1.1 // never by ratio
		e.cfg.MaxCompactionLagMs = 60_000
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 60; i++ {
			appendKV(t, p, e.clock.Ms(), fmt.Sprintf("k%d", i%3), strings.Repeat("l", 100))
		}
		if m.cleaner.pick() != nil {
			t.Fatal("picked below the dirty ratio before max.compaction.lag.ms")
		}
		e.clock.Advance(2 * time.Minute)
		if got := m.cleaner.pick(); got != p {
			t.Fatal("not picked after max.compaction.lag.ms")
		}
		p.cleaning.Store(false)

		// min.compaction.lag.ms: segments newer than it are not cleaned.
		cfg := e.cfg
		cfg.MinCompactionLagMs = 90_000 // the first 60 records are 2 minutes old
		p.SetConfig(cfg)
		for i := 0; i < 60; i++ {
			appendKV(t, p, e.clock.Ms(), fmt.Sprintf("k%d", i%3), strings.Repeat("m", 100))
		}
		end, err := m.Clean(tp0)
		if err != nil {
			t.Fatal(err)
		}
		firstNew := model.Offset(60)
		if end <= 0 || end > firstNew {
			t.Fatalf("cleaned up to %d; want the old segments (below offset %d) and none newer than min.compaction.lag.ms", end, firstNew)
		}
	})
}

// A dirty section with more keys than the dedupe buffer holds is cleaned
// in several passes, each up to a segment boundary, never skipped; a
// segment with more keys than the whole buffer makes the partition
// uncleanable with that reason.
func TestCleanInSeveralPassesWhenTheMapIsFull(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		m, err := OpenManager(ManagerConfig{Dir: e.dir, Runtime: e.rt, Logger: quietLogger(), Now: e.clock.Now,
			Cleaner: CleanerConfig{Enabled: false, Threads: 1, LoadFactor: 0.9, DedupeBufferBytes: 1067}}, // 40 keys of 24 bytes at load factor 0.9
			func(model.TopicPartition) Config { return e.cfg })
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		p := e.create(m, tp0)
		var updates [][2]string
		for i := 0; i < 400; i++ {
			k, v := fmt.Sprintf("key%03d", i%100), fmt.Sprintf("v%d%s", i, strings.Repeat("n", 30))
			updates = append(updates, [2]string{k, v})
			appendKV(t, p, 1, k, v)
		}
		_, _, logEnd := p.Offsets()
		var ends []model.Offset
		for pass := 0; pass < 50; pass++ {
			end, err := m.Clean(tp0)
			if err != nil {
				t.Fatalf("pass %d: %v", pass, err)
			}
			if end < 0 {
				break
			}
			ends = append(ends, end)
		}
		if len(ends) < 3 || ends[len(ends)-1] < logEnd/2 {
			t.Fatalf("passes cleaned up to %v (log end %d): want several passes that reach the end of the inactive segments", ends, logEnd)
		}
		last := map[string]string{}
		for _, r := range readKVs(t, p) {
			last[r.key] = r.val
		}
		for k, v := range latestOf(updates) {
			if last[k] != v {
				t.Fatalf("key %s reads %q, want %q", k, last[k], v)
			}
		}

		// One segment with more distinct keys than the whole buffer.
		q := e.create(m, tp1)
		var many []string
		for i := 0; i < 60; i++ {
			many = append(many, fmt.Sprintf("u%d", i), "x")
		}
		appendKV(t, q, 1, many...) // one batch, 60 keys, in one segment
		for i := 0; i < 40; i++ {
			appendKV(t, q, 1, "pad", strings.Repeat("p", 200))
		}
		q.cleaning.Store(true)
		m.cleaner.cleanOne(q)
		if st := q.CleanState(); !strings.Contains(st.Uncleanable, "dedupe") {
			t.Fatalf("a segment with more keys than the buffer: %+v; want uncleanable naming the dedupe buffer", st)
		}
	})
}
