// This file measures index lookups in a real segment whose offset index is
// full: the segment was filled until it rolled on segment.index.bytes. The
// lookups are at random offsets (and random timestamps for the time index),
// drawn from a fixed seed so every run asks the same questions.
package storage

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/ringtail/ringtail/model"
)

// fullIndexSegment appends one-record batches (every one indexed, the
// timestamp growing every second batch) until the first segment rolls on
// its full offset index, and returns the partition and that segment.
func fullIndexSegment(b *testing.B, indexBytes int32) (*Partition, *segment, int64) {
	cfg := DefaultConfig()
	cfg.Durable = false
	cfg.IndexIntervalBytes = 1 // an index entry for every batch after the first
	cfg.SegmentIndexBytes = indexBytes
	cfg.RetentionMs = -1
	cfg.SegmentMs = -1
	_, p := benchManager(b, cfg)
	const ts0 = 1_700_000_000_000
	value := bytes.Repeat([]byte{'v'}, 100)
	seg := p.view.Load().segs[0]
	var buf []byte
	n := 0 // batches appended
	for len(p.view.Load().segs) == 1 {
		// Up to 1000 batches per append while there is room; single ones at
		// the end, so the roll happens with the index exactly full.
		k := min(1000, max(seg.index.capEntries-seg.index.count(), 1))
		buf = buf[:0]
		for i := 0; i < k; i++ {
			buf = append(buf, buildBatch(noProducer(ts0+int64(n/2)), []testRec{{value: value}})...)
			n++
		}
		mustAppend(b, p, buf)
	}
	if got := seg.index.count(); got != seg.index.capEntries {
		b.Fatalf("first segment rolled with %d offset index entries, want it full (%d)", got, seg.index.capEntries)
	}
	return p, seg, ts0
}

func BenchmarkIndexLookupFullSegment(b *testing.B) {
	const indexBytes = 1 << 20 // 131072 offset entries, 87381 time entries
	p, seg, ts0 := fullIndexSegment(b, indexBytes)
	last := p.view.Load().segs[1].base - 1 // the first segment's last offset
	maxTs := seg.maxTs.Load()
	b.Logf("segment: offsets 0..%d, offset index %d entries, time index %d entries, %d bytes",
		last, seg.index.count(), seg.tindex.count(), seg.size.Load())

	rng := rand.New(rand.NewPCG(1, 2))
	const draws = 1 << 12
	offsets := make([]model.Offset, draws)
	stamps := make([]int64, draws)
	for i := range offsets {
		offsets[i] = model.Offset(rng.Int64N(int64(last) + 1))
		stamps[i] = ts0 + rng.Int64N(maxTs-ts0+1)
	}

	// The offset index alone: binary search of the in-memory entries.
	b.Run("offset/index", func(b *testing.B) {
		b.ReportAllocs()
		var sum int64
		i := 0
		for b.Loop() {
			sum += seg.index.lookupOffset(uint32(offsets[i%draws] - seg.base))
			i++
		}
		indexBenchSink = sum
	})
	// What a fetch does to find its first batch: the index lookup, then
	// reading batch headers forward from the indexed position.
	b.Run("offset/findBatch", func(b *testing.B) {
		b.ReportAllocs()
		limit := seg.size.Load()
		i := 0
		for b.Loop() {
			off := offsets[i%draws]
			_, h, ok, err := seg.findBatch(off, limit)
			if err != nil || !ok || h.BaseOffset > off || h.LastOffset() < off {
				b.Fatalf("findBatch(%d): batch %d..%d, ok %v, err %v", off, h.BaseOffset, h.LastOffset(), ok, err)
			}
			i++
		}
	})
	// The time index alone.
	b.Run("time/index", func(b *testing.B) {
		b.ReportAllocs()
		var sum uint32
		i := 0
		for b.Loop() {
			rel, _ := seg.tindex.lookupTime(stamps[i%draws])
			sum += rel
			i++
		}
		indexBenchSink = int64(sum)
	})
	// ListOffsets by timestamp: the time index, then the offset index, then
	// a scan of headers and the records of the batch that holds the answer.
	b.Run("time/OffsetForTime", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ts := stamps[i%draws]
			if _, got, ok := p.OffsetForTime(ts); !ok || got < ts {
				b.Fatalf("OffsetForTime(%d) = ts %d, ok %v", ts, got, ok)
			}
			i++
		}
	})
}

// indexBenchSink keeps lookup results alive so the compiler cannot drop the lookups.
var indexBenchSink int64
