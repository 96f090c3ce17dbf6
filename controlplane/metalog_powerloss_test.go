// This file proves that the raft log on disk (metalog.go) survives a power
// loss at any of its operations: appends (with suffix replacement), the
// hardstate and snapshot files and the compaction that rewrites the log run
// over vfs.Crash; every crash image must open and hold every entry, the
// hardstate and the snapshot that were durable (their call had returned)
// before the crash, and only whole entries.
package controlplane

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ringtail/ringtail/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// rlState is what had been made durable at one instant.
type rlState struct {
	log          map[uint64]*pb.Entry // the durable log, by index
	hs           *pb.HardState
	snapIndex    uint64
	inflightFrom uint64 // first index of an append in progress (0: none)
}

func (s rlState) clone() rlState {
	c := s
	c.log = make(map[uint64]*pb.Entry, len(s.log))
	for k, v := range s.log {
		c.log[k] = v
	}
	return c
}

// rlRun runs one seeded workload with crash points at the given ops and
// returns the images with the durable state of each.
func rlRun(t *testing.T, seed uint64, base string, ops []int64, wrap func(*vfs.Crash) vfs.FS) (total int64, images map[string]rlState) {
	live := filepath.Join(base, "live")
	c, err := vfs.NewCrash(live, seed)
	if err != nil {
		t.Fatal(err)
	}
	st := rlState{log: map[uint64]*pb.Entry{}}
	images = map[string]rlState{}
	for i, op := range ops {
		dst := filepath.Join(base, "crash-"+strconv.Itoa(i))
		c.At(op, func(clone func(string) error) {
			images[dst] = st.clone()
			if err := clone(dst); err != nil {
				t.Errorf("clone: %v", err)
			}
		})
	}
	var fsys vfs.FS = c
	if wrap != nil {
		fsys = wrap(c)
	}
	d, _, err := openRaftDiskFS(fsys, live)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	term, last, commit := uint64(1), uint64(0), uint64(0)
	for step := 0; step < 60; step++ {
		switch k := rng.IntN(10); {
		case k < 6: // append, sometimes replacing a suffix with a new term
			from := last + 1
			// Raft replaces only uncommitted entries.
			if low := max(st.snapIndex, commit); last > low && rng.IntN(4) == 0 {
				from = low + 1 + rng.Uint64N(last-low)
				term++
			}
			var ents []*pb.Entry
			for i := 0; i < 1+rng.IntN(5); i++ {
				ents = append(ents, &pb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(from + uint64(i)), Data: bytes.Repeat([]byte{byte(step)}, rng.IntN(300))})
			}
			st.inflightFrom = from
			if err := d.append(ents); err != nil {
				t.Fatalf("append: %v", err)
			}
			for i := from; i <= last; i++ {
				delete(st.log, i)
			}
			for _, e := range ents {
				st.log[e.GetIndex()] = e
			}
			last = ents[len(ents)-1].GetIndex()
			st.inflightFrom = 0
		case k < 8:
			commit = max(commit, last-rng.Uint64N(last-commit+1)) // some of the log is committed
			hs := &pb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(1), Commit: proto.Uint64(commit)}
			if err := d.saveHardState(hs); err != nil {
				t.Fatalf("hardstate: %v", err)
			}
			st.hs = hs
		default: // snapshot at the last entry and compact
			if commit <= st.snapIndex {
				continue
			}
			at := st.snapIndex + 1 + rng.Uint64N(commit-st.snapIndex)
			snap := &pb.Snapshot{Data: []byte(fmt.Sprintf("image at %d", at)), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(at), Term: proto.Uint64(st.log[at].GetTerm())}}
			if err := d.saveSnapshot(snap); err != nil {
				t.Fatalf("snapshot: %v", err)
			}
			st.snapIndex = at
			var keep []*pb.Entry
			for i := at + 1; i <= last; i++ {
				keep = append(keep, st.log[i])
			}
			if err := d.compact(keep); err != nil {
				t.Fatalf("compact: %v", err)
			}
			for i := range st.log {
				if i <= at {
					delete(st.log, i)
				}
			}
		}
	}
	d.close()
	return c.Ops(), images
}

// rlCheck opens an image and compares it with the durable state.
func rlCheck(dir string, want rlState) error {
	_, ld, err := openRaftDisk(dir)
	if err != nil {
		return fmt.Errorf("open after the crash: %w", err)
	}
	if want.hs != nil && (ld.hs == nil || ld.hs.GetCommit() < want.hs.GetCommit() || ld.hs.GetTerm() < want.hs.GetTerm()) {
		return fmt.Errorf("hardstate %v, durable was %v", ld.hs, want.hs)
	}
	si := ld.snap.GetMetadata().GetIndex()
	if si < want.snapIndex {
		return fmt.Errorf("snapshot at %d, durable was %d", si, want.snapIndex)
	}
	got := map[uint64]*pb.Entry{}
	for _, e := range ld.entries {
		got[e.GetIndex()] = e
	}
	for i, e := range want.log {
		if i <= si || (want.inflightFrom != 0 && i >= want.inflightFrom) {
			continue
		}
		g := got[i]
		if g == nil || g.GetTerm() != e.GetTerm() || !bytes.Equal(g.Data, e.Data) {
			return fmt.Errorf("durable entry %d (term %d) lost or changed: %v", i, e.GetTerm(), g)
		}
	}
	return nil
}

// TestRaftLogPowerLoss crashes the raft log's workload at random
// operations (RINGTAIL_POWERLOSS_POINTS in all, default 100).
func TestRaftLogPowerLoss(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RINGTAIL_POWERLOSS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RINGTAIL_POWERLOSS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	total := 200
	if v, err := strconv.Atoi(os.Getenv("RINGTAIL_POWERLOSS_POINTS")); err == nil && v > 0 {
		total = v
	}
	checked := 0
	for s := seed; checked < total; s++ {
		base := t.TempDir()
		n, _ := rlRun(t, s, filepath.Join(base, "count"), nil, nil)
		rng := rand.New(rand.NewPCG(s, 3))
		var ops []int64
		for i := 0; i < 25; i++ {
			ops = append(ops, 1+rng.Int64N(n))
		}
		_, images := rlRun(t, s, filepath.Join(base, "run"), ops, nil)
		for dir, want := range images {
			checked++
			if err := rlCheck(dir, want); err != nil {
				t.Fatalf("raft log power loss (replay: RINGTAIL_POWERLOSS_SEED=%d): %s: %v", s, dir, err)
			}
		}
	}
	t.Logf("power loss: %d crash points checked over the raft log, seed %d", checked, seed)
	fmt.Printf("powerloss raft log: %d crash points, seed %d\n", checked, seed)
}

// rlNoDirSync hides the directory fsyncs from the crash model.
type rlNoDirSync struct{ *vfs.Crash }

func (rlNoDirSync) SyncDir(string) error { return nil }

// TestRaftLogPowerLossCatchesSkippedDirSync shows the check can fail: a
// raft log that renames its hardstate and snapshot into place without
// fsyncing the directory loses them at some crash point.
func TestRaftLogPowerLossCatchesSkippedDirSync(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	for s := seed; s < seed+50; s++ {
		base := t.TempDir()
		n, _ := rlRun(t, s, filepath.Join(base, "count"), nil, nil)
		rng := rand.New(rand.NewPCG(s, 3))
		var ops []int64
		for i := 0; i < 25; i++ {
			ops = append(ops, 1+rng.Int64N(n))
		}
		_, images := rlRun(t, s, filepath.Join(base, "run"), ops, func(c *vfs.Crash) vfs.FS { return rlNoDirSync{c} })
		for dir, want := range images {
			if err := rlCheck(dir, want); err != nil {
				t.Logf("caught at seed %d: %v", s, err)
				return
			}
		}
	}
	t.Fatalf("a raft log without directory fsyncs passed 50 seeds from %d", seed)
}
