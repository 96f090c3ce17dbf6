package iotune

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/config"
)

// fake is a disk whose fdatasync costs syncMs, with bandwidth growing with
// the write size up to 400 MiB/s.
func fake(cpus int, syncMs, parallel float64) *Measurements {
	m := &Measurements{Dir: "/data", Direct: true, CPUs: cpus, IOURing: true}
	for _, bs := range WriteSizes {
		mb := min(400, float64(bs)/(1<<20)/(syncMs/1000+float64(bs)/(400<<20)))
		m.Writes = append(m.Writes, Write{BlockBytes: bs, MBPerS: mb, Sync: Latency{P50: syncMs, P99: 2 * syncMs}})
	}
	if cpus > 1 {
		m.Writers, m.ParallelBlock = min(cpus, 4), 64<<10
		one, _ := m.WriteAt(64 << 10)
		m.ParallelMBps = parallel * one.MBPerS
	}
	return m
}

func settings(r Recommendation) map[string]string {
	out := map[string]string{}
	for _, s := range r.Settings {
		out[s.Key] = s.Value
	}
	return out
}

func TestRecommend(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Measurements
		want map[string]string
		knee int
	}{
		{"parallel NVMe", fake(8, 0.05, 3), map[string]string{"shards": "0", "io_engine": `"io_uring"`, "group_commit": "true"}, 256 << 10},
		{"serialising disk", fake(2, 1, 1.05), map[string]string{"shards": "1", "group_commit": "true"}, 1 << 20},
		{"one CPU", fake(1, 1, 0), map[string]string{"shards": "1"}, 1 << 20},
		{"free syncs", fake(4, 0.001, 2), map[string]string{"shards": "0", "group_commit": "false"}, 4 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Recommend(tc.m)
			got := settings(r)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, r.Settings)
				}
			}
			if r.GroupCommitBytes != tc.knee {
				t.Errorf("group-commit size %d, want %d (writes %+v)", r.GroupCommitBytes, tc.knee, tc.m.Writes)
			}
			for _, s := range r.Settings {
				if s.Reason == "" {
					t.Errorf("%s has no reason", s.Key)
				}
			}
		})
	}
	m := fake(2, 1, 2)
	m.IOURing, m.IOURingW = false, "the kernel refused io_uring_setup"
	if got := settings(Recommend(m)); got["io_engine"] != `"sync"` {
		t.Errorf("io_engine without io_uring: %v", got)
	}
}

// TestFileParses: the file iotune writes is an io config file serve
// accepts, carrying every recommended key.
func TestFileParses(t *testing.T) {
	m := fake(2, 1, 1.05)
	r := Recommend(m)
	text := File(m, r, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	values, err := config.ParseIOConfig([]byte(text))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, text)
	}
	if len(values) != len(r.Settings) || values["shards"] != int64(1) || values["io_engine"] != "io_uring" {
		t.Errorf("parsed %v from:\n%s", values, text)
	}
	if !strings.Contains(text, "# Written by `ringtail iotune` at 2026-12-03T00:00:00Z for /data.") {
		t.Errorf("header:\n%s", text)
	}
}

// TestMeasure runs a short measurement in a temporary directory and
// checks it leaves nothing behind.
func TestMeasure(t *testing.T) {
	dir := t.TempDir()
	m, err := Measure(context.Background(), dir, 300*time.Millisecond, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Writes) != len(WriteSizes) || m.ReadMBPerS <= 0 || m.Writers != 2 || m.ParallelMBps <= 0 {
		t.Errorf("measurements %+v", m)
	}
	for _, w := range m.Writes {
		if w.MBPerS <= 0 || w.IOPS <= 0 || w.Sync.P50 <= 0 || w.Sync.P50 > w.Sync.P99 || w.Sync.P99 > w.Sync.Max {
			t.Errorf("write %+v", w)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
