package storage

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ringtail/ringtail/model"
)

// materialize reads the bytes under r with ReadAt (what sendfile would send).
func materialize(t *testing.T, r Ranges) []byte {
	t.Helper()
	var out []byte
	var total int64
	for _, fr := range r.Pieces {
		b := make([]byte, fr.Len)
		if _, err := fr.File.ReadAt(b, fr.Pos); err != nil {
			t.Fatalf("ReadAt %d+%d: %v", fr.Pos, fr.Len, err)
		}
		out = append(out, b...)
		total += fr.Len
	}
	if total != r.Bytes {
		t.Fatalf("Bytes = %d, pieces sum to %d", r.Bytes, total)
	}
	return out
}

// TestReadRangesMatchesRead compares ReadRanges (materialized) with Read
// for every offset, several limits and both minOneBatch settings, across
// segment rolls and index entries, for consumer and replica reads.
func TestReadRangesMatchesRead(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		var sizes []int
		for i := range 60 {
			// 1..9 records of 40..400 bytes: batches of varied sizes, so
			// the 16 KiB segments roll and the index gets entries.
			b := simpleBatch(1+i%9, 40*(1+i%10), e.clock.Ms())
			sizes = append(sizes, len(b))
			mustAppend(t, p, b)
		}
		if _, segs := p.Size(); segs < 3 {
			t.Fatalf("want several segments, have %d", segs)
		}
		_, hw, _ := p.Offsets()
		checked := 0
		for off := model.Offset(0); off <= hw; off++ {
			for _, maxBytes := range []int32{0, 100, 700, 4000, 9000, 1 << 20} {
				for _, minOne := range []bool{false, true} {
					for _, replica := range []bool{false, true} {
						var want ReadResult
						var got Ranges
						var werr, gerr error
						if replica {
							want, werr = p.ReadReplica(off, maxBytes, minOne)
							got, gerr = p.ReadReplicaRanges(off, maxBytes, minOne)
						} else {
							want, werr = p.Read(off, maxBytes, minOne)
							got, gerr = p.ReadRanges(off, maxBytes, minOne)
						}
						if (werr == nil) != (gerr == nil) {
							t.Fatalf("offset %d max %d: Read err %v, ReadRanges err %v", off, maxBytes, werr, gerr)
						}
						if b := materialize(t, got); !bytes.Equal(b, want.Records) {
							t.Fatalf("offset %d max %d minOne %v: ranges give %d bytes, Read %d", off, maxBytes, minOne, len(b), len(want.Records))
						}
						if got.HighWatermark != want.HighWatermark || got.LogStartOffset != want.LogStartOffset || got.LastStableOffset != want.LastStableOffset {
							t.Fatalf("offset %d: offsets %+v, want %+v", off, got, want)
						}
						if !got.Intact() {
							t.Fatal("fresh ranges not intact")
						}
						got.Release()
						got.Release() // idempotent
						checked++
					}
				}
			}
		}
		if _, err := p.ReadRanges(hw+1, 100, true); !errors.Is(err, model.ErrOffsetOutOfRange) {
			t.Fatalf("read past HW: %v, want offset out of range", err)
		}
		t.Logf("%d reads compared", checked)
	})
}

// TestRangesTrimBelow checks read_committed trimming against the in-memory
// rule: whole batches whose last offset is below the bound.
func TestRangesTrimBelow(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for i := range 30 {
			mustAppend(t, p, simpleBatch(1+i%4, 300, e.clock.Ms()))
		}
		_, hw, _ := p.Offsets()
		for end := model.Offset(0); end <= hw+1; end++ {
			r, err := p.ReadRanges(0, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			full := materialize(t, r)
			if err := r.TrimBelow(end); err != nil {
				t.Fatal(err)
			}
			got := materialize(t, r)
			n := 0
			for n < len(full) {
				h, _ := ParseBatchHeader(full[n:])
				if h.LastOffset() >= end {
					break
				}
				n += h.Size()
			}
			if !bytes.Equal(got, full[:n]) {
				t.Fatalf("TrimBelow(%d): %d bytes, want %d", end, len(got), n)
			}
			r.Release()
		}
	})
}

// TestRangesOutliveDeletion holds ranges over a segment while retention by
// DeleteRecords unlinks it: the bytes stay readable until Release, which
// closes the file.
func TestRangesOutliveDeletion(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for range 40 {
			mustAppend(t, p, simpleBatch(5, 200, e.clock.Ms()))
		}
		r, err := p.ReadRanges(0, 8000, true)
		if err != nil || r.Bytes == 0 {
			t.Fatalf("ReadRanges: %d bytes, %v", r.Bytes, err)
		}
		before := materialize(t, r)
		_, hw, _ := p.Offsets()
		if _, err := p.DeleteRecords(hw); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Read(0, 100, true); !errors.Is(err, model.ErrOffsetOutOfRange) {
			t.Fatalf("read of deleted offset: %v", err)
		}
		if after := materialize(t, r); !bytes.Equal(before, after) {
			t.Fatal("bytes under held ranges changed after deletion")
		}
		if !r.Intact() {
			t.Fatal("deletion made ranges not intact; only truncation should")
		}
		f := r.Pieces[0].File
		r.Release()
		if _, err := f.ReadAt(make([]byte, 1), 0); err == nil {
			t.Fatal("file of a deleted segment still open after Release")
		}
	})
}

// TestRangesNotIntactAfterTruncate: a follower truncation under held ranges
// makes them report it.
func TestRangesNotIntactAfterTruncate(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		for range 10 {
			mustAppend(t, p, simpleBatch(2, 100, e.clock.Ms()))
		}
		r, err := p.ReadReplicaRanges(0, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Release()
		if err := p.TruncateTo(6); err != nil {
			t.Fatal(err)
		}
		if r.Intact() {
			t.Fatal("ranges read before a truncation still report intact")
		}
		r2, err := p.ReadReplicaRanges(0, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Release()
		if !r2.Intact() {
			t.Fatal("ranges read after the truncation report not intact")
		}
		if want, _ := p.ReadReplica(0, 1<<20, true); !bytes.Equal(materialize(t, r2), want.Records) {
			t.Fatal("ranges after truncation differ from Read")
		}
	})
}
