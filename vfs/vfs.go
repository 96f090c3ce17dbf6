// Package vfs is the file-system seam under storage and the raft log. OS is
// the real file system at no cost; Crash (crash.go) is a model for tests
// that, at a simulated power loss, keeps what was fsynced and drops or tears
// what was not.
//
// The seam covers what decides durability: creating and opening files,
// renames, removals, directory creation and the syncs. Reads, writes and
// truncations go straight to the *os.File (or its raw descriptor, as
// iocore's engines do): a crash model learns what they left durable from
// the syncs, which snapshot a file's content.
package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// FS is the file-system seam. Every file whose durability matters is opened
// through OpenFile, and made durable through Sync (or, for a descriptor
// synced elsewhere, a Synced notification of the implementation).
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (*os.File, error)
	// Sync is f.Sync (fsync) of a file opened through OpenFile.
	Sync(f *os.File) error
	// SyncDir fsyncs a directory, making the creations, renames and
	// removals of entries in it durable.
	SyncDir(dir string) error
	// SyncFS makes everything written on the file system holding dir
	// durable: data, metadata and directories (syncfs(2)).
	SyncFS(dir string) error
	// Rename is os.Rename.
	Rename(oldpath, newpath string) error
	// Remove is os.Remove.
	Remove(name string) error
	// RemoveAll is os.RemoveAll.
	RemoveAll(name string) error
	// MkdirAll is os.MkdirAll.
	MkdirAll(name string, perm os.FileMode) error
}

// OS is the real file system.
var OS FS = osFS{}

// Or returns fs, or OS when fs is nil.
func Or(fs FS) FS {
	if fs == nil {
		return OS
	}
	return fs
}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osFS) Sync(f *os.File) error                        { return f.Sync() }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (osFS) SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

// WriteFile is os.WriteFile through fs (not synced).
func WriteFile(fs FS, name string, data []byte, perm os.FileMode) error {
	f, err := fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
