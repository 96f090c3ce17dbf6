package iocore

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSlowSyncHook: the delay in the control file is waited, rewriting the
// file changes it, and a missing file or an unset variable waits nothing.
func TestSlowSyncHook(t *testing.T) {
	defer func(old string) { slowSyncFile = old }(slowSyncFile)
	path := filepath.Join(t.TempDir(), "delay")
	slowSyncFile = path
	testSlowSync() // missing file: no delay, no error
	if err := os.WriteFile(path, []byte("40ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testSlowSync()
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("waited %v, want at least 40ms", d)
	}
	if err := os.WriteFile(path, []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	testSlowSync()
	slowSyncFile = ""
	testSlowSync()
}
