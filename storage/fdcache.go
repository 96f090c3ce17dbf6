package storage

// Descriptors on demand. Every segment file (.log, .index, .timeindex,
// .txnindex) is a cachedFile: a path whose descriptor the Manager's
// fileCache opens when something uses it and closes, least recently used
// first, once more than max_open_files are open. An idle partition so
// holds no descriptor at all, and 10,000 or 100,000 partitions fit any
// RLIMIT_NOFILE that leaves room for the bound.
//
// A file in use is pinned: the append path pins the files whose raw
// descriptors it hands to the shard's I/O batch until the task completes,
// a read pins the .log while it reads (and a Ranges until its bytes were
// sent with sendfile), a cleaning pass pins the file it writes
// sequentially. The cache never closes a pinned file; when every open file
// is pinned it opens one more anyway, so the bound is soft by the files in
// use at once. An append that finds the cache over its bound asks the
// shard's drain to complete the tasks prepared so far before preparing
// more (iocore.Batch.CommitAfter), so one drain of a thousand appends to a
// thousand partitions does not pin three thousand files: the excess is a
// few files per shard. A fetch pins one .log per partition it returns,
// until the response is sent.
//
// Closing a descriptor loses nothing. Its dirty pages stay in the page
// cache, and fsync is per inode: a later Sync through a new descriptor
// flushes them, and a writeback error that no descriptor has seen yet is
// reported to the next fsync (errseq_t, Linux 4.13 and later). Positions
// are always explicit (pread/pwrite), never the descriptor's offset.
//
// A file reopens without O_CREATE (except index files, created empty when
// missing, as before), so a reader whose segment was deleted under it gets
// fs.ErrNotExist from pin and retries with the new view.

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/ringtail/ringtail/vfs"
)

// errFileClosed: the segment's owner closed the file.
var errFileClosed = errors.New("segment file closed")

// fileCache bounds the open descriptors of segment files. Its list holds
// the open, unpinned files, most recently used first.
type fileCache struct {
	fsys vfs.FS
	mu   sync.Mutex
	max  int // 0: unbounded
	open int // descriptors open (pinned or not)
	// head is the sentinel of the circular LRU list.
	head cachedFile

	opens, evictions atomic.Uint64 // for FileCacheStats
}

func newFileCache(fsys vfs.FS, max int) *fileCache {
	c := &fileCache{fsys: vfs.Or(fsys), max: max}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// cachedFile is one file of a segment. Everything but flag and omu is
// guarded by c.mu.
type cachedFile struct {
	c    *fileCache
	path string // changes when a cleaning pass renames the file
	flag int    // os.OpenFile flags of a reopen
	// omu serializes opening this file (taken before c.mu, never while
	// holding it), so two users do not open it twice.
	omu    sync.Mutex
	f      *os.File
	pins   int32
	closed bool
	// wgen counts writes through this file (pins for writing included);
	// sgen is the wgen an fsync that succeeded covered. wgen == sgen: no
	// write is waiting for an fsync, and close skips the file.
	wgen, sgen uint64

	prev, next *cachedFile // in c's list iff f != nil && pins == 0
}

// newCachedFile returns the file at path, not opened yet. flag is what a
// (re)open passes to os.OpenFile.
func (c *fileCache) newCachedFile(path string, flag int) *cachedFile {
	return &cachedFile{c: c, path: path, flag: flag}
}

// openCachedFile opens path now (with flag, which may create it) and
// registers it; later reopens use reflag.
func (c *fileCache) openCachedFile(path string, flag, reflag int) (*cachedFile, error) {
	f, err := c.fsys.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	cf := &cachedFile{c: c, path: path, flag: reflag}
	c.opens.Add(1)
	c.mu.Lock()
	cf.f = f
	c.open++
	c.pushFront(cf)
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
	return cf, nil
}

func (c *fileCache) unlink(f *cachedFile) {
	f.prev.next, f.next.prev = f.next, f.prev
	f.prev, f.next = nil, nil
}

func (c *fileCache) pushFront(f *cachedFile) {
	f.prev, f.next = &c.head, c.head.next
	c.head.next.prev = f
	c.head.next = f
}

// evictLocked takes least recently used unpinned files off the list until
// at most max are open and returns their descriptors, to be closed after
// c.mu is released.
func (c *fileCache) evictLocked() []*os.File {
	var out []*os.File
	for c.max > 0 && c.open > c.max && c.head.prev != &c.head {
		v := c.head.prev
		c.unlink(v)
		out = append(out, v.f)
		v.f = nil
		c.open--
		c.evictions.Add(1)
	}
	return out
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// pin returns the open descriptor, opening it when needed; the cache does
// not close it before the matching unpin.
func (f *cachedFile) pin() (*os.File, error) {
	c := f.c
	c.mu.Lock()
	if of, err, ok := f.pinLocked(); ok {
		c.mu.Unlock()
		return of, err
	}
	c.mu.Unlock()

	f.omu.Lock()
	defer f.omu.Unlock()
	c.mu.Lock()
	if of, err, ok := f.pinLocked(); ok { // opened meanwhile
		c.mu.Unlock()
		return of, err
	}
	path := f.path
	c.mu.Unlock()
	nf, err := c.fsys.OpenFile(path, f.flag, 0o644)
	if err != nil {
		return nil, err
	}
	c.opens.Add(1)
	c.mu.Lock()
	if f.closed {
		c.mu.Unlock()
		nf.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: errFileClosed}
	}
	f.f = nf
	f.pins = 1
	c.open++
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
	return nf, nil
}

// pinLocked pins an open file; ok is false when f must be opened first.
func (f *cachedFile) pinLocked() (*os.File, error, bool) {
	if f.closed {
		return nil, &fs.PathError{Op: "open", Path: f.path, Err: errFileClosed}, true
	}
	if f.f == nil {
		return nil, nil, false
	}
	if f.pins == 0 {
		f.c.unlink(f)
	}
	f.pins++
	return f.f, nil, true
}

// unpin drops a pin; the last one puts the file back on the LRU list (or
// closes it, when its owner closed it meanwhile).
func (f *cachedFile) unpin() {
	c := f.c
	c.mu.Lock()
	f.pins--
	if f.pins > 0 {
		c.mu.Unlock()
		return
	}
	if f.closed {
		of := f.f
		f.f = nil
		c.open--
		c.mu.Unlock()
		of.Close()
		return
	}
	c.pushFront(f)
	victims := c.evictLocked()
	c.mu.Unlock()
	closeAll(victims)
}

// Close closes the file for good (the segment's last reference went):
// now when unpinned, else at the last unpin. Later pins fail.
func (f *cachedFile) Close() error {
	if f == nil {
		return nil
	}
	c := f.c
	c.mu.Lock()
	if f.closed {
		c.mu.Unlock()
		return nil
	}
	f.closed = true
	var of *os.File
	if f.f != nil && f.pins == 0 {
		c.unlink(f)
		of = f.f
		f.f = nil
		c.open--
	}
	c.mu.Unlock()
	if of != nil {
		return of.Close()
	}
	return nil
}

// renamed notes that the file was renamed to path: later opens use it.
func (f *cachedFile) renamed(path string) {
	if f == nil {
		return
	}
	f.c.mu.Lock()
	f.path = path
	f.c.mu.Unlock()
}

// evict closes the descriptor now when it is open and unpinned; the file
// reopens on its next use.
func (f *cachedFile) evict() {
	c := f.c
	c.mu.Lock()
	if f.f == nil || f.pins > 0 {
		c.mu.Unlock()
		return
	}
	c.unlink(f)
	of := f.f
	f.f = nil
	c.open--
	c.mu.Unlock()
	of.Close()
}

// overBound reports whether more files are open than the bound allows,
// which happens only when every open one is pinned.
func (c *fileCache) overBound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max > 0 && c.open > c.max
}

// isOpen reports whether f holds a descriptor now (tests).
func (f *cachedFile) isOpen() bool {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.f != nil
}

// The *os.File methods the storage code uses, each pinning the file for
// the call.

// ReadAt is os.File.ReadAt.
func (f *cachedFile) ReadAt(b []byte, off int64) (int, error) {
	of, err := f.pin()
	if err != nil {
		return 0, err
	}
	defer f.unpin()
	return of.ReadAt(b, off)
}

// WriteAt is os.File.WriteAt.
func (f *cachedFile) WriteAt(b []byte, off int64) (int, error) {
	of, _, err := f.pinWrite()
	if err != nil {
		return 0, err
	}
	defer f.unpin()
	return of.WriteAt(b, off)
}

// pinWrite is pin for a write: it counts the write and returns the write
// generation that an fsync after it covers (noteSynced).
func (f *cachedFile) pinWrite() (*os.File, uint64, error) {
	of, err := f.pin()
	if err != nil {
		return nil, 0, err
	}
	f.c.mu.Lock()
	f.wgen++
	g := f.wgen
	f.c.mu.Unlock()
	return of, g, nil
}

// noteSynced records that an fsync which succeeded covered every write up
// to generation g.
func (f *cachedFile) noteSynced(g uint64) {
	f.c.mu.Lock()
	f.sgen = max(f.sgen, g)
	f.c.mu.Unlock()
}

// unsynced reports whether a write through f may still wait for an fsync.
func (f *cachedFile) unsynced() bool {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.wgen != f.sgen
}

// written reports whether anything was ever written through f.
func (f *cachedFile) written() bool {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.wgen != 0
}

// Truncate is os.File.Truncate.
func (f *cachedFile) Truncate(size int64) error {
	of, _, err := f.pinWrite()
	if err != nil {
		return err
	}
	defer f.unpin()
	return of.Truncate(size)
}

// Sync is os.File.Sync.
func (f *cachedFile) Sync() error {
	of, err := f.pin()
	if err != nil {
		return err
	}
	defer f.unpin()
	f.c.mu.Lock()
	g := f.wgen
	f.c.mu.Unlock()
	if err := f.c.fsys.Sync(of); err != nil {
		return err
	}
	f.noteSynced(g)
	return nil
}

// Stat is os.File.Stat; a file not open is stat'ed by path rather than
// opened (recovery stats every segment).
func (f *cachedFile) Stat() (fs.FileInfo, error) {
	f.c.mu.Lock()
	open, closed, path := f.f != nil, f.closed, f.path
	f.c.mu.Unlock()
	if !open && !closed {
		return os.Stat(path)
	}
	of, err := f.pin()
	if err != nil {
		return nil, err
	}
	defer f.unpin()
	return of.Stat()
}

// FileCacheStats is what the segment file cache holds and did.
type FileCacheStats struct {
	Max       int    // ringtail.max_open_files (0: unbounded)
	Open      int    // segment file descriptors open now
	Opens     uint64 // opens so far (first opens and reopens)
	Evictions uint64 // descriptors closed by the bound
}

func (c *fileCache) stats() FileCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return FileCacheStats{Max: c.max, Open: c.open, Opens: c.opens.Load(), Evictions: c.evictions.Load()}
}
