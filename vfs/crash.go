package vfs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Crash is a crash model of the tree under one root directory, in the
// spirit of pebble's crash-clone file system but over real files (iocore
// writes through raw descriptors). It passes every operation to the OS and
// tracks what a power loss would keep:
//
//   - a file's durable content is what it held at its last sync (Sync, or
//     Synced for a descriptor synced by someone else, or SyncFS);
//   - a directory's durable entries are those it had at its last SyncDir
//     (or SyncFS); creations, renames and removals since are pending.
//
// Clone writes to another directory the tree a power loss at this moment
// could leave: each directory keeps its durable entries plus a random
// prefix of its pending operations (so an unsynced creation may vanish, an
// unsynced rename or removal revert), and each file its durable content
// plus, where it grew since, none, all or a random prefix of the unsynced
// bytes, sometimes with a torn sector (zeros or garbage); a file rewritten
// in place since its sync comes back as a page-by-page mix of the old and
// new content. Files and directories not reachable through durable entries
// are gone.
//
// The model decides what is durable, so Sync, SyncDir and SyncFS do not
// call the real fsync, fsync of the directory or syncfs: the tests run at
// the speed of page-cache writes (iocore's own fdatasyncs still happen).
//
// At lets a test crash at its chosen operation number: its function runs
// under Crash's lock at the start of that operation, with the operation not
// done yet, so it sees one instant of the operation sequence.
type Crash struct {
	mu      sync.Mutex
	root    string
	top     *node
	byFD    map[int]*node
	ops     int64
	rng     *rand.Rand
	points  map[int64][]func(clone func(dst string) error)
	created []string // paths adopted without going through the seam
}

// node is a file or directory. Its live place is parent.kids[name]; gone
// is set once it was unlinked (its live content is then frozen).
type node struct {
	dir     bool
	parent  *node
	name    string
	gone    bool
	kids    map[string]*node // live entries (dir)
	durKids map[string]*node // durable entries (dir)
	pending []dirOp          // entry operations since the last sync (dir)
	durable []byte           // content at the last sync (file)
	frozen  []byte           // live content when it was unlinked (file)
}

type opKind uint8

const (
	opAdd opKind = iota
	opRemove
	opRename // within one directory: name -> to
)

type dirOp struct {
	kind     opKind
	name, to string
	n        *node
}

// NewCrash tracks the tree under root (created if missing); what is there
// now counts as durable. seed drives every random choice of Clone.
func NewCrash(root string, seed uint64) (*Crash, error) {
	root = filepath.Clean(root)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	c := &Crash{root: root, byFD: map[int]*node{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		points: map[int64][]func(func(string) error){}}
	top, err := adopt(root)
	if err != nil {
		return nil, err
	}
	c.top = top
	return c, nil
}

// adopt builds durable nodes for what is on disk at path.
func adopt(path string) (*node, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return &node{durable: b}, nil
	}
	n := &node{dir: true, kids: map[string]*node{}, durKids: map[string]*node{}}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		k, err := adopt(filepath.Join(path, e.Name()))
		if err != nil {
			return nil, err
		}
		k.parent, k.name = n, e.Name()
		n.kids[e.Name()], n.durKids[e.Name()] = k, k
	}
	return n, nil
}

// Root is the tracked directory.
func (c *Crash) Root() string { return c.root }

// Ops is the number of operations seen so far (crash points are 1..Ops).
func (c *Crash) Ops() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops
}

// At runs fn at the start of operation n (1-based), under the lock; fn may
// call clone to write the crash image of that instant.
func (c *Crash) At(n int64, fn func(clone func(dst string) error)) {
	c.mu.Lock()
	c.points[n] = append(c.points[n], fn)
	c.mu.Unlock()
}

// Untracked lists paths under the root that were found on disk without
// having been created through the seam (a missing seam call).
func (c *Crash) Untracked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.created...)
}

// tickLocked counts one operation and runs its crash points.
func (c *Crash) tickLocked() {
	c.ops++
	fns := c.points[c.ops]
	delete(c.points, c.ops)
	for _, fn := range fns {
		fn(c.cloneLocked)
	}
}

// rel is path relative to the root, ok false outside it.
func (c *Crash) rel(path string) (string, bool) {
	path = filepath.Clean(path)
	if path == c.root {
		return ".", true
	}
	r, err := filepath.Rel(c.root, path)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return "", false
	}
	return r, true
}

// lookupLocked finds the live node at path; with adopt, components that
// exist on disk but were not made through the seam are adopted as pending
// (not durable) creations and listed by Untracked.
func (c *Crash) lookupLocked(path string, adopt bool) *node {
	r, ok := c.rel(path)
	if !ok {
		return nil
	}
	n := c.top
	if r == "." {
		return n
	}
	cur := c.root
	for _, part := range strings.Split(r, "/") {
		cur = filepath.Join(cur, part)
		if !n.dir {
			return nil
		}
		k := n.kids[part]
		if k == nil {
			if !adopt {
				return nil
			}
			st, err := os.Stat(cur)
			if err != nil {
				return nil
			}
			k = c.addLocked(n, part, st.IsDir())
			c.created = append(c.created, cur)
		}
		n = k
	}
	return n
}

// addLocked records a new entry name of dir, pending until dir is synced.
func (c *Crash) addLocked(dir *node, name string, isDir bool) *node {
	k := &node{dir: isDir, parent: dir, name: name}
	if isDir {
		k.kids, k.durKids = map[string]*node{}, map[string]*node{}
	}
	dir.kids[name] = k
	dir.pending = append(dir.pending, dirOp{kind: opAdd, name: name, n: k})
	return k
}

// pathOf is n's live path, ok false when it or a parent was unlinked.
func (c *Crash) pathOf(n *node) (string, bool) {
	var parts []string
	for ; n != c.top; n = n.parent {
		if n.gone || n.parent == nil {
			return "", false
		}
		parts = append(parts, n.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return filepath.Join(append([]string{c.root}, parts...)...), true
}

// OpenFile opens name; a file it creates is a pending entry of its
// directory until that is synced.
func (c *Crash) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if flag&(os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_RDWR) != 0 {
		c.tickLocked()
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if dir := c.lookupLocked(filepath.Dir(name), true); dir != nil && dir.dir {
		n := dir.kids[filepath.Base(name)]
		if n == nil {
			n = c.addLocked(dir, filepath.Base(name), false)
		}
		if !n.dir {
			c.byFD[int(f.Fd())] = n
		}
	}
	return f, nil
}

// Sync fsyncs f and makes its content durable.
func (c *Crash) Sync(f *os.File) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tickLocked()
	c.snapshotLocked(int(f.Fd()))
	return nil
}

// Synced records that fd was fdatasynced by someone else (iocore's group
// commit). It is the function to give iocore.RuntimeConfig.OnSynced.
func (c *Crash) Synced(fd int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snapshotLocked(fd)
	c.tickLocked()
}

// snapshotLocked reads the whole file through fd into its durable content
// (by its path when fd was opened write-only).
func (c *Crash) snapshotLocked(fd int) {
	n := c.byFD[fd]
	if n == nil {
		return
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return
	}
	b := make([]byte, st.Size)
	k := 0
	for k < len(b) {
		m, err := unix.Pread(fd, b[k:], int64(k))
		if err != nil {
			if path, ok := c.pathOf(n); ok {
				if data, rerr := os.ReadFile(path); rerr == nil {
					n.durable = data
					return
				}
			}
			panic(fmt.Sprintf("vfs: cannot read %s to record what its sync made durable: %v", n.name, err))
		}
		if m == 0 {
			break
		}
		k += m
	}
	n.durable = b[:k]
}

// SyncDir fsyncs dir and makes its entries durable.
func (c *Crash) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tickLocked()
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	if n := c.lookupLocked(dir, true); n != nil && n.dir {
		commitDir(n)
	}
	return nil
}

func commitDir(n *node) {
	n.durKids = make(map[string]*node, len(n.kids))
	for k, v := range n.kids {
		n.durKids[k] = v
	}
	n.pending = nil
}

// SyncFS makes the whole tracked tree durable (the model has one file
// system).
func (c *Crash) SyncFS(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tickLocked()
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		if !n.dir {
			if b, err := os.ReadFile(path); err == nil {
				n.durable = b
			}
			return
		}
		commitDir(n)
		for name, k := range n.kids {
			walk(k, filepath.Join(path, name))
		}
	}
	walk(c.top, c.root)
	return nil
}

// freezeLocked keeps the live content of n's files, about to be unlinked.
func (c *Crash) freezeLocked(n *node) {
	path, ok := c.pathOf(n)
	if !ok {
		return
	}
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		n.gone = true
		if !n.dir {
			n.frozen, _ = os.ReadFile(path)
			return
		}
		for name, k := range n.kids {
			walk(k, filepath.Join(path, name))
		}
	}
	walk(n, path)
}

// Rename renames; the entry change is pending in the directories.
func (c *Crash) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tickLocked()
	n := c.lookupLocked(oldpath, true)
	var victim *node
	if n != nil {
		if v := c.lookupLocked(newpath, false); v != nil && v != n && !v.dir {
			victim = v
			c.freezeLocked(v)
		}
	}
	if err := os.Rename(oldpath, newpath); err != nil {
		if victim != nil {
			victim.gone = false // nothing happened
			clearGone(victim)
		}
		return err
	}
	np := c.lookupLocked(filepath.Dir(newpath), true)
	if n == nil || np == nil {
		return nil
	}
	op, name := n.parent, n.name
	newName := filepath.Base(newpath)
	delete(op.kids, name)
	np.kids[newName] = n
	n.parent, n.name = np, newName
	if op == np {
		op.pending = append(op.pending, dirOp{kind: opRename, name: name, to: newName, n: n})
	} else {
		op.pending = append(op.pending, dirOp{kind: opRemove, name: name, n: n})
		np.pending = append(np.pending, dirOp{kind: opAdd, name: newName, n: n})
	}
	return nil
}

func clearGone(n *node) {
	n.gone = false
	n.frozen = nil
	for _, k := range n.kids {
		clearGone(k)
	}
}

// Remove removes a file or empty directory; the removal is pending.
func (c *Crash) Remove(name string) error { return c.remove(name, os.Remove) }

// RemoveAll removes a tree; the removal is pending in its parent.
func (c *Crash) RemoveAll(name string) error { return c.remove(name, os.RemoveAll) }

func (c *Crash) remove(name string, rm func(string) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tickLocked()
	n := c.lookupLocked(name, false)
	if n != nil && n != c.top {
		c.freezeLocked(n)
	}
	if err := rm(name); err != nil {
		if n != nil {
			clearGone(n)
		}
		return err
	}
	if n == nil || n == c.top {
		return nil
	}
	p := n.parent
	delete(p.kids, n.name)
	p.pending = append(p.pending, dirOp{kind: opRemove, name: n.name, n: n})
	return nil
}

// MkdirAll creates the missing directories, each pending in its parent.
func (c *Crash) MkdirAll(name string, perm os.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tickLocked()
	if err := os.MkdirAll(name, perm); err != nil {
		return err
	}
	r, ok := c.rel(name)
	if !ok || r == "." {
		return nil
	}
	n := c.top
	for _, part := range strings.Split(r, "/") {
		k := n.kids[part]
		if k == nil {
			k = c.addLocked(n, part, true)
		}
		if !k.dir {
			return nil
		}
		n = k
	}
	return nil
}

// Clone writes the crash image of this instant to dst (see Crash).
func (c *Crash) Clone(dst string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cloneLocked(dst)
}

func (c *Crash) cloneLocked(dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return c.cloneDir(c.top, dst)
}

// survivors is a directory's entries after a crash: the durable ones and a
// random prefix of the pending operations.
func (c *Crash) survivors(n *node) map[string]*node {
	m := make(map[string]*node, len(n.durKids))
	for k, v := range n.durKids {
		m[k] = v
	}
	keep := 0
	if len(n.pending) > 0 {
		keep = c.rng.IntN(len(n.pending) + 1)
	}
	for _, op := range n.pending[:keep] {
		switch op.kind {
		case opAdd:
			m[op.name] = op.n
		case opRemove:
			delete(m, op.name)
		case opRename:
			delete(m, op.name)
			m[op.to] = op.n
		}
	}
	return m
}

func (c *Crash) cloneDir(n *node, dst string) error {
	m := c.survivors(n)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names) // the random choices follow a fixed order
	for _, name := range names {
		k, path := m[name], filepath.Join(dst, name)
		if k.dir {
			if err := os.Mkdir(path, 0o755); err != nil {
				return err
			}
			if err := c.cloneDir(k, path); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(path, c.content(k), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// live is a file's content now (or when it was unlinked).
func (c *Crash) live(n *node) []byte {
	if n.gone {
		return n.frozen
	}
	path, ok := c.pathOf(n)
	if !ok {
		return n.frozen
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return n.durable
	}
	return b
}

const sectorBytes = 512

// content is what a crash leaves of a file.
func (c *Crash) content(n *node) []byte {
	d, l := n.durable, c.live(n)
	if bytes.HasPrefix(l, d) {
		ext := l[len(d):]
		if len(ext) == 0 {
			return append([]byte(nil), d...)
		}
		out := append([]byte(nil), d...)
		switch r := c.rng.IntN(10); {
		case r < 3: // nothing of the unsynced tail
		case r < 6:
			out = append(out, ext...)
		default: // a prefix, maybe with a torn sector
			k := c.rng.IntN(len(ext) + 1)
			out = append(out, ext[:k]...)
			if k > 0 && c.rng.IntN(2) == 0 {
				tearSector(c.rng, out, len(d))
			}
		}
		return out
	}
	// Rewritten or cut in place since the sync: whole old, whole new, or
	// a mix of their pages.
	switch c.rng.IntN(3) {
	case 0:
		return append([]byte(nil), d...)
	case 1:
		return append([]byte(nil), l...)
	}
	size := len(d)
	if c.rng.IntN(2) == 0 {
		size = len(l)
	}
	out := make([]byte, size)
	const page = 4096
	for off := 0; off < size; off += page {
		src := d
		if c.rng.IntN(2) == 0 {
			src = l
		}
		if off < len(src) {
			copy(out[off:min(off+page, size)], src[off:min(off+page, len(src))])
		}
	}
	return out
}

// tearSector zeros or scrambles one sector of b at or after from.
func tearSector(rng *rand.Rand, b []byte, from int) {
	first := from / sectorBytes
	last := (len(b) - 1) / sectorBytes
	s := first + rng.IntN(last-first+1)
	lo, hi := max(s*sectorBytes, from), min((s+1)*sectorBytes, len(b))
	garbage := rng.IntN(4) == 0
	for i := lo; i < hi; i++ {
		if garbage {
			b[i] = byte(rng.Uint32())
		} else {
			b[i] = 0
		}
	}
}

// String describes the model's state, for failure messages.
func (c *Crash) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("vfs.Crash{root %s, %d ops}", c.root, c.ops)
}
