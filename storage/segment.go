package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/ringtail/ringtail/model"
)

// File name suffixes of one segment and of producer snapshots.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	snapshotSuffix  = ".snapshot"
)

// segmentName is the 20-digit zero-padded base offset Kafka uses.
func segmentName(base model.Offset, suffix string) string {
	return fmt.Sprintf("%020d%s", int64(base), suffix)
}

// segState is the part of a segment that the write path advances. The shard
// keeps two copies: pend (advanced by Prepare) and comm (advanced by a
// successful Complete); a failed write resets pend to comm.
type segState struct {
	size          int64        // bytes of the .log
	nextOffset    model.Offset // last offset + 1
	bytesSinceIdx int64        // bytes appended since the last index entry
	idxEntries    int          // offset index entries written
	tidxEntries   int          // time index entries written
	maxTs         int64        // largest batch maxTimestamp, -1 when none
	maxTsOff      model.Offset // last offset of the batch holding maxTs
	lastTidxTs    int64        // timestamp of the last time-index entry
	firstTs       int64        // maxTimestamp of the first batch (segment.ms), -1 when empty
	// aborted are the segment's .txnindex entries (transactions whose
	// abort marker is in the segment), in marker order. pend only ever
	// extends comm, so the two share a backing array safely.
	aborted []AbortedTxn
}

// segment is one .log with its indexes. Readers use base, log (ReadAt is
// safe for concurrent use), size, maxTs and the indexes; everything in
// pend/comm belongs to the shard. The files are opened on demand and
// closed by the Manager's bound (fdcache.go).
type segment struct {
	base  model.Offset
	dir   string
	fc    *fileCache
	log   *cachedFile
	idxF  *cachedFile
	tidxF *cachedFile
	txnF  *cachedFile // the .txnindex, made on the first abort marker
	// txnIndexBad is why entries of the .txnindex were left out at open
	// (a torn tail after a power loss), for recovery to report.
	txnIndexBad error

	size   atomic.Int64 // published (committed) bytes; readers stay below
	maxTs  atomic.Int64 // published largest timestamp
	index  *sparseIndex // offset index
	tindex *sparseIndex // time index
	// abortedPub is comm.aborted as readers see it (nil: none).
	abortedPub atomic.Pointer[[]AbortedTxn]

	// refs counts the owner (1 while the segment is part of the log) plus
	// readers; the files close when it drops to 0.
	refs atomic.Int32

	pend, comm segState
	// suffix follows the file names while a cleaning pass writes the
	// segment (".cleaned"); "" once it is part of the log.
	suffix     string
	missingIdx bool  // recovery: an index file was missing
	createdMs  int64 // creation (or, for loaded segments, modification) time: segment.ms and retention fall back to it without timestamps
}

func (s *segment) name() string { return segmentName(s.base, logSuffix) }

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base, suffix)+s.suffix)
}

// file returns the segment's cachedFile of suffix (nil: none yet).
func (s *segment) file(suffix string) *cachedFile {
	switch suffix {
	case logSuffix:
		return s.log
	case indexSuffix:
		return s.idxF
	case timeIndexSuffix:
		return s.tidxF
	case txnIndexSuffix:
		return s.txnF
	}
	return nil
}

// acquire takes a reader reference; false once the segment is released.
func (s *segment) acquire() bool {
	for {
		r := s.refs.Load()
		if r <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a reference and closes the files with the last one.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

func (s *segment) closeFiles() {
	for _, f := range []*cachedFile{s.log, s.idxF, s.tidxF, s.txnF} {
		if f != nil {
			f.Close()
		}
	}
}

// acquireLog takes a reader reference and pins the .log; the caller ends
// with releaseLog. retry: the segment was released or its file deleted
// under the caller's view (load a new one).
func (s *segment) acquireLog() (f *os.File, retry bool, err error) {
	if !s.acquire() {
		return nil, true, nil
	}
	f, err = s.log.pin()
	if err != nil {
		s.release()
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errFileClosed) {
			return nil, true, nil
		}
		return nil, false, err
	}
	return f, false, nil
}

// releaseLog undoes acquireLog.
func (s *segment) releaseLog() {
	s.log.unpin()
	s.release()
}

func emptySegState(base model.Offset) segState {
	return segState{nextOffset: base, maxTs: -1, maxTsOff: -1, lastTidxTs: -1, firstTs: -1}
}

// openSegmentFiles sets up the three files of a segment: with create, it
// creates them (and they stay open until the cache's bound closes them);
// without, it opens nothing yet (recovery, truncation: the first use opens
// the .log, and fails when it is missing; index files are created empty
// when missing, as recovery expects).
func openSegmentFiles(fc *fileCache, dir string, base model.Offset, create bool, idxBytes int32) (*segment, error) {
	return openSegmentFilesAs(&segment{base: base, dir: dir, fc: fc}, create, idxBytes)
}

// openSegmentFilesSuffix creates a new segment's files with a suffix after
// each name (a cleaning pass's ".cleaned"), truncating leftovers.
func openSegmentFilesSuffix(fc *fileCache, dir string, base model.Offset, idxBytes int32, suffix string) (*segment, error) {
	s := &segment{base: base, dir: dir, fc: fc, suffix: suffix}
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := fc.fsys.Remove(s.path(suf)); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	return openSegmentFilesAs(s, true, idxBytes)
}

func openSegmentFilesAs(s *segment, create bool, idxBytes int32) (*segment, error) {
	base := s.base
	var err error
	if create {
		if s.log, err = s.fc.openCachedFile(s.path(logSuffix), os.O_RDWR|os.O_CREATE, os.O_RDWR); err != nil {
			return nil, err
		}
		if s.idxF, err = s.fc.openCachedFile(s.path(indexSuffix), os.O_RDWR|os.O_CREATE, os.O_RDWR|os.O_CREATE); err != nil {
			s.closeFiles()
			return nil, err
		}
		if s.tidxF, err = s.fc.openCachedFile(s.path(timeIndexSuffix), os.O_RDWR|os.O_CREATE, os.O_RDWR|os.O_CREATE); err != nil {
			s.closeFiles()
			return nil, err
		}
	} else {
		s.log = s.fc.newCachedFile(s.path(logSuffix), os.O_RDWR)
		s.idxF = s.fc.newCachedFile(s.path(indexSuffix), os.O_RDWR|os.O_CREATE)
		s.tidxF = s.fc.newCachedFile(s.path(timeIndexSuffix), os.O_RDWR|os.O_CREATE)
	}
	s.index = newSparseIndex(int(idxBytes) / offsetIndexEntryBytes)
	s.tindex = newSparseIndex(int(idxBytes) / timeIndexEntryBytes)
	s.refs.Store(1)
	s.pend = emptySegState(base)
	if !create {
		aborted, bad, err := readTxnIndex(s.path(txnIndexSuffix), s.base)
		if err != nil {
			s.closeFiles()
			return nil, err
		}
		s.pend.aborted, s.txnIndexBad = aborted, bad
	}
	s.comm = s.pend
	s.maxTs.Store(-1)
	s.publishAborted()
	return s, nil
}

// publish makes comm visible to readers (size and max timestamp).
func (s *segment) publish() {
	s.maxTs.Store(s.comm.maxTs)
	s.size.Store(s.comm.size)
	s.publishAborted()
}

// publishAborted makes comm.aborted visible to readers.
func (s *segment) publishAborted() {
	// comm.aborted only grows outside setAborted, which stores its own.
	if cur := s.abortedPub.Load(); cur == nil && len(s.comm.aborted) == 0 || cur != nil && len(*cur) == len(s.comm.aborted) {
		return
	}
	a := s.comm.aborted[:len(s.comm.aborted):len(s.comm.aborted)]
	s.abortedPub.Store(&a)
}

// abortedTxns returns the published aborted transactions.
func (s *segment) abortedTxns() []AbortedTxn {
	if a := s.abortedPub.Load(); a != nil {
		return *a
	}
	return nil
}

// readHeader reads the batch header at pos of the published file.
func (s *segment) readHeader(pos int64, buf []byte) (BatchHeader, error) {
	if _, err := s.log.ReadAt(buf[:BatchHeaderSize], pos); err != nil {
		return BatchHeader{}, err
	}
	return ParseBatchHeader(buf)
}

// findBatch returns the position of the batch that contains offset (or the
// first batch after it), scanning headers forward from the index entry at or
// before it, and that batch's header. ok is false when no batch below limit
// bytes qualifies.
func (s *segment) findBatch(offset model.Offset, limit int64) (pos int64, h BatchHeader, ok bool, err error) {
	rel := int64(offset - s.base)
	if rel < 0 {
		rel = 0
	}
	if rel > int64(^uint32(0)) {
		rel = int64(^uint32(0))
	}
	pos = s.index.lookupOffset(uint32(rel))
	var buf [BatchHeaderSize]byte
	for pos+BatchHeaderSize <= limit {
		h, err = s.readHeader(pos, buf[:])
		if err != nil {
			return pos, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return pos, h, false, nil
}

// writeFinalTimeEntry is the entry Kafka adds when a segment becomes
// inactive, so the last time-index entry always holds the segment's max
// timestamp. It returns the bytes to write (nil when nothing to add) and the
// file position.
func (s *segment) finalTimeEntry() ([]byte, int64) {
	if s.pend.maxTs < 0 || s.pend.maxTs <= s.pend.lastTidxTs || s.tindex.full(1) {
		return nil, 0
	}
	b := encodeTimeEntry(s.pend.maxTs, uint32(s.pend.maxTsOff-s.base))
	return b, int64(s.pend.tidxEntries) * timeIndexEntryBytes
}
