package iotune

import (
	"fmt"
	"strings"
	"time"
)

// Thresholds of Recommend.
const (
	// parallelGain: parallel writers must reach this many times one
	// writer's MiB/s before one shard per CPU is recommended; below it
	// the device serialises fdatasyncs and more shards only add
	// hand-offs between threads.
	parallelGain = 1.3
	// freeSyncMs: an fdatasync this fast at 4 KiB, with small writes as
	// fast as large ones, is a device (or tmpfs) where syncing costs
	// nothing, and group commit buys nothing.
	freeSyncMs = 0.02
	// kneeFraction: the group-commit write size to aim for is the
	// smallest reaching this fraction of the best fdatasync'd MiB/s.
	kneeFraction = 0.9
)

// Setting is one recommended [ringtail] key with the reason for it.
type Setting struct {
	Key    string `json:"key"`   // [ringtail] key: shards, io_engine, group_commit
	Value  string `json:"value"` // TOML literal
	Reason string `json:"reason"`
}

// Recommendation is what Recommend derives from measurements.
type Recommendation struct {
	Settings []Setting `json:"settings"`
	// GroupCommitBytes is the smallest measured write size reaching 90%
	// of the best fdatasync'd bandwidth: a group commit should write at
	// least this much per fdatasync. No key sets it (group commit drains
	// what is queued); it is written as a comment.
	GroupCommitBytes int `json:"group_commit_bytes"`
}

// Recommend turns measurements into settings. It is pure.
func Recommend(m *Measurements) Recommendation {
	var r Recommendation
	one, okOne := m.WriteAt(m.ParallelBlock)
	switch {
	case m.CPUs <= 1:
		r.add("shards", "1", "one CPU")
	case m.Writers < 2 || !okOne || one.MBPerS <= 0:
		r.add("shards", "0", fmt.Sprintf("%d CPUs; parallel writers not measured, so one shard per CPU (the default)", m.CPUs))
	default:
		gain := m.ParallelMBps / one.MBPerS
		if gain >= parallelGain {
			r.add("shards", "0", fmt.Sprintf("%d writers with their own fdatasync made %.0f MiB/s, %.2f× one writer's %.0f MiB/s: the device syncs in parallel, so one shard per CPU (%d)",
				m.Writers, m.ParallelMBps, gain, one.MBPerS, m.CPUs))
		} else {
			r.add("shards", "1", fmt.Sprintf("%d writers with their own fdatasync made %.0f MiB/s, only %.2f× one writer's %.0f MiB/s (< %.1f×): the device serialises fdatasyncs, so more shards would add only hand-offs",
				m.Writers, m.ParallelMBps, gain, one.MBPerS, parallelGain))
		}
	}

	if m.IOURing {
		r.add("io_engine", `"io_uring"`, "io_uring is usable on this kernel: writes and fdatasyncs of a drain go in one submission")
	} else {
		why := m.IOURingW
		if why == "" {
			why = "not usable here"
		}
		r.add("io_engine", `"sync"`, "io_uring: "+why)
	}

	best := 0.0
	for _, w := range m.Writes {
		best = max(best, w.MBPerS)
	}
	for _, w := range m.Writes {
		if w.MBPerS >= kneeFraction*best {
			r.GroupCommitBytes = w.BlockBytes
			break
		}
	}
	small, okSmall := m.WriteAt(WriteSizes[0])
	big, okBig := m.WriteAt(WriteSizes[len(WriteSizes)-1])
	if okSmall && okBig && small.Sync.P50 < freeSyncMs && small.MBPerS >= kneeFraction*big.MBPerS {
		r.add("group_commit", "false", fmt.Sprintf("fdatasync p50 %.3f ms at 4 KiB and 4 KiB writes as fast as 1 MiB ones: syncing costs nothing here, so each append may sync on its own", small.Sync.P50))
	} else if okSmall {
		r.add("group_commit", "true", fmt.Sprintf("fdatasync p50 %.3f ms, p99 %.3f ms at 4 KiB: one fdatasync per file per drain amortises it over every append queued", small.Sync.P50, small.Sync.P99))
	}
	return r
}

func (r *Recommendation) add(key, value, reason string) {
	r.Settings = append(r.Settings, Setting{Key: key, Value: value, Reason: reason})
}

// File renders the io config file: the figures as comments, then the
// [ringtail] table of settings, each under its reason.
func File(m *Measurements, r Recommendation, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `ringtail iotune` at %s for %s.\n", now.UTC().Format(time.RFC3339), m.Dir)
	b.WriteString("# `ringtail serve` applies each key below that its server.toml does not set\n")
	b.WriteString("# (ringtail.io_config_file names this file). Rerun iotune after changing disks.\n#\n")
	figures, _, _ := strings.Cut(Summary(m, r), "Recommended:\n")
	for _, line := range strings.Split(strings.TrimRight(figures, "\n"), "\n") {
		b.WriteString("# " + line + "\n")
	}
	b.WriteString("\n[ringtail]\n")
	for _, s := range r.Settings {
		fmt.Fprintf(&b, "# %s\n%s = %s\n", s.Reason, s.Key, s.Value)
	}
	return b.String()
}

// Summary is the human report of what was measured and recommended.
func Summary(m *Measurements, r Recommendation) string {
	var b strings.Builder
	mode := "O_DIRECT"
	if !m.Direct {
		mode = "buffered (no O_DIRECT here)"
	}
	fmt.Fprintf(&b, "Device under %s, %s writes, an fdatasync after each:\n", m.Dir, mode)
	fmt.Fprintf(&b, "  %10s %10s %10s %12s %12s %12s\n", "write", "MiB/s", "IOPS", "sync p50 ms", "sync p99 ms", "sync p99.9 ms")
	for _, w := range m.Writes {
		fmt.Fprintf(&b, "  %10s %10.1f %10.0f %12.3f %12.3f %12.3f\n", sizeName(w.BlockBytes), w.MBPerS, w.IOPS, w.Sync.P50, w.Sync.P99, w.Sync.P999)
	}
	if m.Writers > 0 {
		fmt.Fprintf(&b, "Parallel: %d writers of %s, each with its own file and fdatasync: %.1f MiB/s in all\n", m.Writers, sizeName(m.ParallelBlock), m.ParallelMBps)
	}
	fmt.Fprintf(&b, "Sequential read: %.1f MiB/s\n", m.ReadMBPerS)
	for _, n := range m.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	if r.GroupCommitBytes > 0 {
		fmt.Fprintf(&b, "Group commit: writes of %s or more per fdatasync reach %.0f%% of the best bandwidth (no key sets a size: a drain writes what is queued)\n",
			sizeName(r.GroupCommitBytes), kneeFraction*100)
	}
	b.WriteString("Recommended:\n")
	for _, s := range r.Settings {
		fmt.Fprintf(&b, "  %s = %s  (%s)\n", s.Key, s.Value, s.Reason)
	}
	return b.String()
}

func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
