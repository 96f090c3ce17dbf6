// This file proves the crash model's contract: synced content and synced
// directory entries survive every crash image; unsynced creations,
// renames and tails may each survive or not, and across seeds both
// happen.
package vfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// images runs setup over a fresh Crash per seed and returns each seed's
// crash image dir.
func images(t *testing.T, seeds int, setup func(c *Crash, root string)) []string {
	var out []string
	for s := 0; s < seeds; s++ {
		root := filepath.Join(t.TempDir(), "live")
		c, err := NewCrash(root, uint64(s))
		if err != nil {
			t.Fatal(err)
		}
		setup(c, root)
		dst := filepath.Join(t.TempDir(), "img")
		if err := c.Clone(dst); err != nil {
			t.Fatal(err)
		}
		out = append(out, dst)
	}
	return out
}

func mustWrite(t *testing.T, c *Crash, path string, data []byte, sync bool) {
	f, err := c.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := c.Sync(f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCrashKeepsSyncedAndVariesTheRest(t *testing.T) {
	synced := bytes.Repeat([]byte("s"), 3000)
	tail := bytes.Repeat([]byte("u"), 5000)
	var whole, none, partial, vanished, renamedKept, renamedReverted int
	for _, img := range images(t, 200, func(c *Crash, root string) {
		a := filepath.Join(root, "a")
		mustWrite(t, c, a, synced, true)
		if err := c.SyncDir(root); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, c, a, tail, false)                         // unsynced tail
		mustWrite(t, c, filepath.Join(root, "b"), synced, true) // synced content, entry not synced
		if err := c.Rename(a, filepath.Join(root, "c")); err != nil {
			t.Fatal(err)
		}
	}) {
		if _, err := os.Stat(filepath.Join(img, "b")); err != nil {
			vanished++
		}
		got, errA := os.ReadFile(filepath.Join(img, "a"))
		gotC, errC := os.ReadFile(filepath.Join(img, "c"))
		switch {
		case errA == nil && errC != nil:
			renamedReverted++
		case errA != nil && errC == nil:
			renamedKept++
			got = gotC
		default:
			t.Fatalf("a rename in one directory left a: %v, c: %v", errA, errC)
		}
		if !bytes.Equal(got[:min(len(got), len(synced))], synced) || len(got) < len(synced) {
			t.Fatalf("synced content lost: %d bytes", len(got))
		}
		switch rest := got[len(synced):]; {
		case len(rest) == 0:
			none++
		case bytes.Equal(rest, tail):
			whole++
		default:
			partial++
		}
	}
	for name, n := range map[string]int{"tail kept": whole, "tail dropped": none, "tail torn or cut": partial,
		"unsynced entry vanished": vanished, "rename kept": renamedKept, "rename reverted": renamedReverted} {
		if n == 0 {
			t.Errorf("no image with %s", name)
		}
	}
}

func TestCrashSyncFSMakesEverythingDurable(t *testing.T) {
	for _, img := range images(t, 50, func(c *Crash, root string) {
		if err := c.MkdirAll(filepath.Join(root, "d", "e"), 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, c, filepath.Join(root, "d", "e", "f"), []byte("hello"), false)
		if err := c.SyncFS(root); err != nil {
			t.Fatal(err)
		}
	}) {
		if got, err := os.ReadFile(filepath.Join(img, "d", "e", "f")); err != nil || string(got) != "hello" {
			t.Fatalf("after syncfs: %q, %v", got, err)
		}
	}
}

func TestCrashAtRunsAtTheOperation(t *testing.T) {
	root := filepath.Join(t.TempDir(), "live")
	c, err := NewCrash(root, 1)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "img")
	ran := false
	c.At(2, func(clone func(string) error) {
		ran = true
		if err := clone(dst); err != nil {
			t.Error(err)
		}
	})
	mustWrite(t, c, filepath.Join(root, "x"), []byte("1"), true) // ops 1 (open) and 2 (sync: crash before it)
	if !ran {
		t.Fatal("crash point 2 did not run")
	}
	if got, err := os.ReadFile(filepath.Join(dst, "x")); err == nil && len(got) > 1 {
		t.Fatalf("image holds %q", got)
	}
	if c.Ops() != 2 || len(c.Untracked()) != 0 {
		t.Fatalf("ops %d, untracked %v", c.Ops(), c.Untracked())
	}
}
