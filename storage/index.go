package storage

import (
	"encoding/binary"
	"sort"
	"sync/atomic"
)

// Index entry sizes on disk.
const (
	offsetIndexEntryBytes = 8  // relative offset uint32, position uint32
	timeIndexEntryBytes   = 12 // timestamp int64, relative offset uint32
)

// indexEntry is one sparse index entry in memory. For the offset index, key
// is the relative offset and val the file position; for the time index, ts
// is the timestamp and key the relative offset.
type indexEntry struct {
	ts  int64
	key uint32
	val uint32
}

// sparseIndex is an append-only array of entries that one writer (the shard)
// extends and any number of readers search without locks. The writer stores
// an entry beyond the published count, then publishes the count; when the
// backing array is full it copies into a bigger one and publishes the array
// before the count. A reader loads the count first, then the array, so the
// array it sees holds at least that many entries, all written before.
type sparseIndex struct {
	arr atomic.Pointer[[]indexEntry]
	n   atomic.Int64
	// capEntries is the most entries the index may hold (from
	// segment.index.bytes); the writer rolls the segment when it is reached.
	capEntries int
}

func newSparseIndex(capEntries int) *sparseIndex {
	if capEntries < 1 {
		capEntries = 1
	}
	s := &sparseIndex{capEntries: capEntries}
	// Empty until the first entry: an idle partition's segments hold
	// none or a few, and 64 preallocated entries per index were half of
	// an idle partition's heap (benchmarks/partitions-at-scale.md).
	var a []indexEntry
	s.arr.Store(&a)
	return s
}

// snapshot returns the published entries; the slice must not be modified.
func (s *sparseIndex) snapshot() []indexEntry {
	n := s.n.Load()
	return (*s.arr.Load())[:n]
}

// count is the number of published entries.
func (s *sparseIndex) count() int { return int(s.n.Load()) }

// full reports whether adding k more entries would exceed the capacity.
func (s *sparseIndex) full(k int) bool { return s.count()+k > s.capEntries }

// add appends and publishes one entry. Writer only.
func (s *sparseIndex) add(e indexEntry) {
	n := int(s.n.Load())
	a := *s.arr.Load()
	if n < cap(a) {
		a = a[:n+1]
		a[n] = e
		s.arr.Store(&a) // same backing array; cheap header
	} else {
		na := make([]indexEntry, n+1, max(2*cap(a), 4))
		copy(na, a[:n])
		na[n] = e
		s.arr.Store(&na)
	}
	s.n.Store(int64(n + 1))
}

// last returns the last published entry.
func (s *sparseIndex) last() (indexEntry, bool) {
	e := s.snapshot()
	if len(e) == 0 {
		return indexEntry{}, false
	}
	return e[len(e)-1], true
}

// lookupOffset returns the file position of the largest offset-index entry
// whose relative offset is <= rel, or 0.
func (s *sparseIndex) lookupOffset(rel uint32) int64 {
	e := s.snapshot()
	i := sort.Search(len(e), func(i int) bool { return e[i].key > rel })
	if i == 0 {
		return 0
	}
	return int64(e[i-1].val)
}

// lookupTime returns the relative offset of the largest time-index entry
// whose timestamp is < ts; ok is false when there is none.
func (s *sparseIndex) lookupTime(ts int64) (rel uint32, ok bool) {
	e := s.snapshot()
	i := sort.Search(len(e), func(i int) bool { return e[i].ts >= ts })
	if i == 0 {
		return 0, false
	}
	return e[i-1].key, true
}

func encodeOffsetEntry(rel, pos uint32) []byte {
	b := make([]byte, offsetIndexEntryBytes)
	binary.BigEndian.PutUint32(b, rel)
	binary.BigEndian.PutUint32(b[4:], pos)
	return b
}

func encodeTimeEntry(ts int64, rel uint32) []byte {
	b := make([]byte, timeIndexEntryBytes)
	binary.BigEndian.PutUint64(b, uint64(ts))
	binary.BigEndian.PutUint32(b[8:], rel)
	return b
}

// decodeOffsetIndex parses and sanity-checks an .index file's contents:
// whole entries, relative offsets and positions strictly increasing,
// positions below logSize.
func decodeOffsetIndex(b []byte, logSize int64) ([]indexEntry, bool) {
	if len(b)%offsetIndexEntryBytes != 0 {
		return nil, false
	}
	out := make([]indexEntry, 0, len(b)/offsetIndexEntryBytes)
	for i := 0; i < len(b); i += offsetIndexEntryBytes {
		e := indexEntry{key: binary.BigEndian.Uint32(b[i:]), val: binary.BigEndian.Uint32(b[i+4:])}
		if int64(e.val) >= logSize {
			return nil, false
		}
		if n := len(out); n > 0 && (e.key <= out[n-1].key || e.val <= out[n-1].val) {
			return nil, false
		}
		out = append(out, e)
	}
	return out, true
}

// decodeTimeIndex parses and sanity-checks a .timeindex file's contents:
// whole entries, timestamps strictly and offsets weakly increasing,
// relative offsets at most maxRel.
func decodeTimeIndex(b []byte, maxRel uint32) ([]indexEntry, bool) {
	if len(b)%timeIndexEntryBytes != 0 {
		return nil, false
	}
	out := make([]indexEntry, 0, len(b)/timeIndexEntryBytes)
	for i := 0; i < len(b); i += timeIndexEntryBytes {
		e := indexEntry{ts: int64(binary.BigEndian.Uint64(b[i:])), key: binary.BigEndian.Uint32(b[i+8:])}
		if e.key > maxRel {
			return nil, false
		}
		if n := len(out); n > 0 && (e.ts <= out[n-1].ts || e.key < out[n-1].key) {
			return nil, false
		}
		out = append(out, e)
	}
	return out, true
}
