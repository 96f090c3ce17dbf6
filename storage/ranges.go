package storage

// This file is the zero-copy read path: ReadRanges answers a read with the
// pieces of segment files that hold the batches instead of the bytes, so
// that the fetch writer can hand them to sendfile(2).
//
// A Ranges holds a reference on every segment it names (segment.acquire),
// so retention, DeleteRecords, a roll or the partition's close can unlink
// or drop the segment while the response is still being written: the
// files close only when the last reference goes (Release). Unlinked files
// keep their bytes until then.
//
// A follower truncation (TruncateTo) is different: it cuts the very inode
// a Ranges points into, and later appends may write other bytes at the same
// positions. The partition counts its truncations; a Ranges remembers the
// count it was read under, and Intact reports whether it still holds. The
// writer checks Intact before and after sending each range and closes the
// connection instead of finishing a response whose bytes may have changed
// (a truncated file also makes sendfile come up short, which closes the
// connection too). A rollback after a failed append never cuts below the
// published size, which is all a reader sees, so it needs no check.

import (
	"os"
	"sort"

	"github.com/ringtail/ringtail/model"
)

// FileRange is a piece of a segment's .log file: Len bytes from Pos, whole
// record batches. File stays open (pinned in the descriptor cache,
// fdcache.go) until the Ranges holding it is released;
// use it with positional reads only (sendfile with an offset, ReadAt).
type FileRange struct {
	File *os.File
	Pos  int64
	Len  int64
	seg  *segment
}

// Ranges is what ReadRanges returns: the file pieces holding whole batches
// from the one containing the fetch offset, with the same offsets a Read
// returns. The caller must call Release once, after the bytes are sent (or
// not); the zero Ranges is valid and empty. Ranges built by hand (tests)
// hold no references and are always intact.
type Ranges struct {
	Pieces []FileRange
	// Bytes is the sum of the pieces' lengths.
	Bytes                                           int64
	HighWatermark, LastStableOffset, LogStartOffset model.Offset
	// Aborted is ReadResult.Aborted (ReadCommittedRanges only).
	Aborted []AbortedTxn

	p   *Partition
	gen uint64 // p.truncs when read
}

// Release drops the segment references; the ranges must not be used after.
// It is safe to call more than once.
func (r *Ranges) Release() {
	for _, fr := range r.Pieces {
		if fr.seg != nil {
			fr.seg.releaseLog()
		}
	}
	r.Pieces, r.Bytes = nil, 0
}

// Intact reports whether the bytes under the ranges are still the ones that
// were read: false once the partition was truncated (TruncateTo) since.
func (r *Ranges) Intact() bool {
	return r.p == nil || r.p.truncs.Load() == r.gen
}

// TrimBelow cuts the ranges after the last whole batch whose last offset is
// below end (read_committed stops at the last stable offset). It reads
// batch headers with pread, never the records.
func (r *Ranges) TrimBelow(end model.Offset) error {
	var total int64
	for i := range r.Pieces {
		fr := &r.Pieces[i]
		n, err := fr.seg.wholeBatches(fr.Pos, fr.Len, end, true)
		if err != nil {
			return err
		}
		total += n
		if n < fr.Len {
			fr.Len = n
			for _, rest := range r.Pieces[i+1:] {
				rest.seg.releaseLog()
			}
			r.Pieces = r.Pieces[:i+1]
			if n == 0 {
				fr.seg.releaseLog()
				r.Pieces = r.Pieces[:i]
			}
			break
		}
	}
	r.Bytes = total
	return nil
}

// ReadRanges is Read answered as file ranges: the same offsets, limits and
// errors, but no record byte is read (only batch headers, with pread).
func (p *Partition) ReadRanges(offset model.Offset, maxBytes int32, minOneBatch bool) (Ranges, error) {
	return p.readRanges(offset, maxBytes, minOneBatch, toHW)
}

// ReadCommittedRanges is ReadCommitted answered as file ranges.
func (p *Partition) ReadCommittedRanges(offset model.Offset, maxBytes int32, minOneBatch bool) (Ranges, error) {
	return p.readRanges(offset, maxBytes, minOneBatch, toLSO)
}

// ReadReplicaRanges is ReadReplica answered as file ranges (up to the log
// end, for a follower's fetch).
func (p *Partition) ReadReplicaRanges(offset model.Offset, maxBytes int32, minOneBatch bool) (Ranges, error) {
	return p.readRanges(offset, maxBytes, minOneBatch, toLogEnd)
}

func (p *Partition) readRanges(offset model.Offset, maxBytes int32, minOneBatch bool, to readLimit) (Ranges, error) {
	for attempt := 0; ; attempt++ {
		// The truncation count first, then the view: TruncateTo publishes
		// its view before it counts, so a view from before a truncation is
		// always read with the count from before it too.
		gen := p.truncs.Load()
		v := p.view.Load()
		res := Ranges{HighWatermark: v.hw, LastStableOffset: v.lso, LogStartOffset: v.logStart, p: p, gen: gen}
		seg, f, limit, retry, err := p.acquireForRead(v, offset, to, attempt)
		if retry {
			continue
		}
		if seg == nil {
			return res, err
		}
		pos, n, err := segmentRange(seg, offset, limit, maxBytes, minOneBatch)
		if err == errPastSegment {
			seg.releaseLog()
			if next := v.segAfter(seg); next != nil {
				offset, attempt = next.base, -1
				continue
			}
			return res, nil
		}
		if err != nil || n == 0 {
			seg.releaseLog()
			if err != nil {
				return res, p.storageErr(seg, offset, "read", err)
			}
			return res, nil
		}
		res.Pieces = []FileRange{{File: f, Pos: pos, Len: n, seg: seg}}
		res.Bytes = n
		if to == toLSO {
			res.Aborted = v.abortedBetween(offset, limit)
		}
		return res, nil
	}
}

// segmentRange is readSegment without the read: the position and length of
// the whole batches from the one holding offset, below hw, within the
// published size and maxBytes (the first batch whatever its size with
// minOneBatch).
func segmentRange(seg *segment, offset, hw model.Offset, maxBytes int32, minOneBatch bool) (int64, int64, error) {
	limit := seg.size.Load()
	pos, h, ok, err := seg.findBatch(offset, limit)
	if err == nil && !ok {
		return 0, 0, errPastSegment
	}
	if err != nil || !ok || h.BaseOffset >= hw {
		return 0, 0, err
	}
	want := min(max(int64(maxBytes), 0), limit-pos)
	if int64(h.Size()) > want {
		if !minOneBatch || pos+int64(h.Size()) > limit {
			return 0, 0, nil
		}
		return pos, int64(h.Size()), nil
	}
	n, err := seg.wholeBatches(pos, want, hw, false)
	return pos, n, err
}

// wholeBatches returns how many bytes from pos (a batch start), at most
// want, hold whole batches that all lie below bound: by base offset, or by
// last offset when byLast. It jumps ahead with the offset index (each
// entry is a batch start and that batch's last offset) and reads the
// headers of the batches after the last entry that qualifies.
func (s *segment) wholeBatches(pos, want int64, bound model.Offset, byLast bool) (int64, error) {
	end := pos + want
	n := pos
	e := s.index.snapshot()
	i := sort.Search(len(e), func(i int) bool {
		return int64(e[i].val) > end || s.base+model.Offset(e[i].key) >= bound
	}) - 1
	if i >= 0 && int64(e[i].val) > n {
		// Every batch before this entry's starts at or after pos, ends by
		// end and has offsets below this batch's last offset (< bound).
		n = int64(e[i].val)
	}
	var hb [BatchHeaderSize]byte
	for n+BatchHeaderSize <= end {
		h, err := s.readHeader(n, hb[:])
		if err != nil {
			return 0, err
		}
		off := h.BaseOffset
		if byLast {
			off = h.LastOffset()
		}
		if off >= bound || n+int64(h.Size()) > end {
			break
		}
		n += int64(h.Size())
	}
	return n - pos, nil
}
