package vfs

import (
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Faulty is a test file system that fails with EIO (as a dying disk
// does) every operation on a path under a failing dir, and passes the
// rest to the FS it wraps. Which dirs fail is asked at each operation, so
// a test takes a log dir's disk away and gives it back while the process
// runs. Writes and reads that bypass the seam (iocore's engines, preads of
// segment files) ask Check, through TestFault, where they start.
type Faulty struct {
	FS
	failing func(path string) bool
}

// NewFaulty wraps fs; failing reports whether a path's disk is failing.
func NewFaulty(fs FS, failing func(path string) bool) *Faulty {
	return &Faulty{FS: Or(fs), failing: failing}
}

// Check returns an EIO *os.PathError for op on path when path is under a
// failing dir, else nil.
func (f *Faulty) Check(op, path string) error {
	if f.failing(path) {
		return &os.PathError{Op: op, Path: path, Err: unix.EIO}
	}
	return nil
}

// OpenFile is the wrapped OpenFile, or EIO.
func (f *Faulty) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if err := f.Check("open", name); err != nil {
		return nil, err
	}
	return f.FS.OpenFile(name, flag, perm)
}

// Sync is the wrapped Sync, or EIO.
func (f *Faulty) Sync(file *os.File) error {
	if err := f.Check("fsync", file.Name()); err != nil {
		return err
	}
	return f.FS.Sync(file)
}

// SyncDir is the wrapped SyncDir, or EIO.
func (f *Faulty) SyncDir(dir string) error {
	if err := f.Check("fsync", dir); err != nil {
		return err
	}
	return f.FS.SyncDir(dir)
}

// SyncFS is the wrapped SyncFS, or EIO.
func (f *Faulty) SyncFS(dir string) error {
	if err := f.Check("syncfs", dir); err != nil {
		return err
	}
	return f.FS.SyncFS(dir)
}

// Rename is the wrapped Rename, or EIO.
func (f *Faulty) Rename(oldpath, newpath string) error {
	if err := f.Check("rename", oldpath); err != nil {
		return err
	}
	if err := f.Check("rename", newpath); err != nil {
		return err
	}
	return f.FS.Rename(oldpath, newpath)
}

// Remove is the wrapped Remove, or EIO.
func (f *Faulty) Remove(name string) error {
	if err := f.Check("remove", name); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

// RemoveAll is the wrapped RemoveAll, or EIO.
func (f *Faulty) RemoveAll(name string) error {
	if err := f.Check("remove", name); err != nil {
		return err
	}
	return f.FS.RemoveAll(name)
}

// MkdirAll is the wrapped MkdirAll, or EIO.
func (f *Faulty) MkdirAll(name string, perm os.FileMode) error {
	if err := f.Check("mkdir", name); err != nil {
		return err
	}
	return f.FS.MkdirAll(name, perm)
}

// TestFault is fs's Check when fs is a Faulty, else nil: the check of the
// I/O that bypasses the seam. It costs a type assertion otherwise.
func TestFault(fs FS, op, path string) error {
	if f, ok := fs.(*Faulty); ok {
		return f.Check(op, path)
	}
	return nil
}

// DirSet is a set of failing dirs for a Faulty (Failing), safe for
// concurrent use: unit tests add and remove dirs as they go.
type DirSet struct {
	mu   sync.Mutex
	dirs map[string]bool
}

// Add makes dir (and everything under it) fail.
func (s *DirSet) Add(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirs == nil {
		s.dirs = map[string]bool{}
	}
	s.dirs[filepath.Clean(dir)] = true
}

// Remove makes dir work again.
func (s *DirSet) Remove(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.dirs, filepath.Clean(dir))
}

// Failing reports whether path is one of the dirs or under one.
func (s *DirSet) Failing(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dirs) == 0 {
		return false
	}
	return underAny(path, s.dirs)
}

// underAny reports whether path is one of dirs or lies under one.
func underAny(path string, dirs map[string]bool) bool {
	p := filepath.Clean(path)
	for {
		if dirs[p] {
			return true
		}
		parent := filepath.Dir(p)
		if parent == p {
			return false
		}
		p = parent
	}
}

// FaultEnv names a control file whose lines are dir paths: while a dir is
// listed, every file operation under it fails with EIO (a Faulty reading
// the file at each operation). It is the end-to-end tests' disk failure,
// changed at run time by rewriting the file; the paths are compared as
// written (the tests write the absolute log.dirs they configured). Unset
// (always, outside tests) FromEnv returns the file system as it is.
const FaultEnv = "RINGTAIL_TEST_EIO_FILE"

// FromEnv wraps fs in a Faulty driven by the FaultEnv control file when
// the variable is set; otherwise it returns fs.
func FromEnv(fs FS) FS {
	ctl := os.Getenv(FaultEnv)
	if ctl == "" {
		return fs
	}
	return NewFaulty(fs, func(path string) bool {
		b, err := os.ReadFile(ctl)
		if err != nil || len(b) == 0 {
			return false
		}
		dirs := map[string]bool{}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				dirs[filepath.Clean(line)] = true
			}
		}
		return underAny(path, dirs)
	})
}
