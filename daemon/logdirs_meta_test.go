package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ringtail/ringtail/storage"
	"github.com/ringtail/ringtail/vfs"
)

// TestLogDirMeta proves that every log dir gets the first dir's
// meta.properties, that a dir of another cluster or node is refused with
// both dirs named, and that the EIO hook makes the check a disk error
// (the dir starts offline).
func TestLogDirMeta(t *testing.T) {
	first, second := t.TempDir(), filepath.Join(t.TempDir(), "new")
	meta, _, err := loadOrFormat(first, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkLogDirMeta(vfs.OS, second, first, meta); err != nil {
		t.Fatalf("formatting a new log dir: %v", err)
	}
	got, formatted, err := loadOrFormat(second, 2, meta.ClusterID)
	if err != nil || formatted || got != meta {
		t.Fatalf("second dir's meta.properties: %+v formatted=%v err=%v, want %+v", got, formatted, err, meta)
	}

	other := t.TempDir()
	if _, _, err := loadOrFormat(other, 2, "MkU3OEVBNTcwNTJENDM2Qg"); err != nil {
		t.Fatal(err)
	}
	err = checkLogDirMeta(vfs.OS, other, first, meta)
	if err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), first) || storage.IsDiskError(err) {
		t.Fatalf("a log dir of another cluster: %v", err)
	}

	var set vfs.DirSet
	set.Add(second)
	err = checkLogDirMeta(vfs.NewFaulty(vfs.OS, set.Failing), second, first, meta)
	if !errors.Is(err, unix.EIO) || !storage.IsDiskError(err) {
		t.Fatalf("a failing log dir: %v, want a disk error", err)
	}
	if _, err := os.Stat(filepath.Join(second, metaPropertiesName)); err != nil {
		t.Fatal(err)
	}
}
