package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFaulty proves that a Faulty fails every operation under a failing
// dir with EIO, and nothing else, as the dir set changes.
func TestFaulty(t *testing.T) {
	root := t.TempDir()
	bad, good := filepath.Join(root, "bad"), filepath.Join(root, "good")
	var set DirSet
	f := NewFaulty(OS, set.Failing)
	for _, d := range []string{bad, good} {
		if err := f.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	set.Add(bad)
	isEIO := func(err error) bool { return errors.Is(err, unix.EIO) }
	if _, err := f.OpenFile(filepath.Join(bad, "x"), os.O_CREATE|os.O_WRONLY, 0o644); !isEIO(err) {
		t.Errorf("open under a failing dir: %v", err)
	}
	if err := f.SyncDir(bad); !isEIO(err) {
		t.Errorf("sync of the failing dir itself: %v", err)
	}
	if err := f.Rename(filepath.Join(good, "a"), filepath.Join(bad, "a")); !isEIO(err) {
		t.Errorf("rename into a failing dir: %v", err)
	}
	if err := TestFault(f, "write", filepath.Join(bad, "t-0", "0.log")); !isEIO(err) {
		t.Errorf("TestFault under a failing dir: %v", err)
	}
	if err := TestFault(OS, "write", filepath.Join(bad, "x")); err != nil {
		t.Errorf("TestFault on the OS: %v", err)
	}
	// A sibling whose name starts like the failing dir is not under it.
	if err := f.MkdirAll(bad+"2", 0o755); err != nil {
		t.Errorf("a sibling of the failing dir: %v", err)
	}
	fh, err := f.OpenFile(filepath.Join(good, "x"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("open under a working dir: %v", err)
	}
	defer fh.Close()
	if err := f.Sync(fh); err != nil {
		t.Errorf("sync under a working dir: %v", err)
	}
	set.Remove(bad)
	if err := f.SyncDir(bad); err != nil {
		t.Errorf("sync after the dir was healed: %v", err)
	}
}

// TestFromEnv proves the control file drives the env hook and that an
// unset variable leaves the file system as it is.
func TestFromEnv(t *testing.T) {
	t.Setenv(FaultEnv, "")
	if FromEnv(OS) != OS {
		t.Fatal("FromEnv wrapped the file system with the variable unset")
	}
	dir := t.TempDir()
	ctl := filepath.Join(dir, "ctl")
	t.Setenv(FaultEnv, ctl)
	f := FromEnv(OS)
	target := filepath.Join(dir, "data")
	if err := f.MkdirAll(target, 0o755); err != nil {
		t.Fatalf("no control file: %v", err)
	}
	if err := os.WriteFile(ctl, []byte("/elsewhere\n"+target+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncDir(target); !errors.Is(err, unix.EIO) {
		t.Errorf("listed dir: %v, want EIO", err)
	}
	if err := os.WriteFile(ctl, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncDir(target); err != nil {
		t.Errorf("dir no longer listed: %v", err)
	}
}
