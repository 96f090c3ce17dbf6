package e2e

// Partitions past the open file limit (issue 16): the real binary runs
// under prlimit with RLIMIT_NOFILE at twice the partition count, far below
// the 3 descriptors per partition it used to hold, creates the partitions,
// takes a record on each, serves them all to a consumer, restarts and
// serves them again. The short version (2,000 partitions under 4,000
// descriptors) runs in `make test`; `make scale-fd` runs 10,000 under
// 20,000 with the non-race binary and records RSS and start-up time
// (RINGTAIL_FD_PARTITIONS, RINGTAIL_FD_LIMIT, RINGTAIL_FD_REPORT).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// procStatus reads a "Key:   value kB" field of /proc/<pid>/status.
func procStatus(t *testing.T, pid int, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestManyPartitionsUnderFileLimit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux, installed by .ci/run) not found: %v", err)
	}
	parts := envInt("RINGTAIL_FD_PARTITIONS", 2000)
	limit := envInt("RINGTAIL_FD_LIMIT", 2*parts)
	const topic = "wide"

	o, adminAddr := withAdmin(t, testkit.Options{})
	n := testkit.NewNode(t, o)
	// The limit applies to the broker alone: a wrapper sets it and execs
	// the binary, so the pid testkit watches is the broker's.
	wrapper := filepath.Join(t.TempDir(), "ringtail-limited")
	script := fmt.Sprintf("#!/bin/sh\nexec %s --nofile=%d:%d %s \"$@\"\n", prlimit, limit, limit, n.Bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	n.Bin = wrapper
	n.Start()
	if got := procLimitNofile(t, n.PID()); got != limit {
		t.Fatalf("broker runs with RLIMIT_NOFILE %d, want %d", got, limit)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	created := time.Now()
	res, err := n.Admin().CreateTopic(ctx, int32(parts), 1, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("CreateTopics of %d partitions under a limit of %d: %v / %v (%s)", parts, limit, err, res.Err, res.ErrMessage)
	}
	prod := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(parts+1))
	recs := make([]*kgo.Record, parts)
	for p := range recs {
		recs[p] = &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("v" + itoa(p))}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing one record to each of %d partitions: %v", parts, err)
	}
	prod.Close()
	createProduce := time.Since(created)

	check := func(when string) {
		t.Helper()
		got := consumeAll(t, n.Addr(), topic, parts, 3*time.Minute)
		seen := make([]bool, parts)
		for _, r := range got {
			if r.Partition < 0 || int(r.Partition) >= parts || seen[r.Partition] || r.Offset != 0 || string(r.Value) != "v"+itoa(int(r.Partition)) {
				t.Fatalf("%s: unexpected record %s/%d@%d %q", when, r.Topic, r.Partition, r.Offset, r.Value)
			}
			seen[r.Partition] = true
		}
		if len(got) != parts {
			t.Fatalf("%s: consumed %d records, want %d", when, len(got), parts)
		}
		if fds := openFDs(t, n.PID()); fds > limit {
			t.Fatalf("%s: %d descriptors open, limit %d", when, fds, limit)
		}
		for _, bad := range []string{"too many open files", "cannot create partition", "rebuilding"} {
			if strings.Contains(n.Log(), bad) {
				t.Fatalf("%s: log holds %q:\n%s", when, bad, tailLines(n.Log(), 40))
			}
		}
	}
	check("after create")
	rssServed := procStatus(t, n.PID(), "VmRSS")
	mf := scrape(t, adminAddr)
	gauge := func(name string) float64 {
		f := mf[name]
		if f == nil || len(f.Metric) == 0 {
			t.Fatalf("/metrics lacks %s", name)
		}
		m := f.Metric[0]
		if m.Gauge != nil {
			return m.Gauge.GetValue()
		}
		return m.Counter.GetValue()
	}
	maxFiles, openSeg, evictions := gauge("ringtail_segment_files_max"), gauge("ringtail_segment_files_open"), gauge("ringtail_segment_file_evictions_total")
	if maxFiles <= 0 || maxFiles >= float64(limit) || evictions == 0 {
		t.Fatalf("segment files: max %v (limit %d), open %v, evictions %v; want a bound below the limit that closed files", maxFiles, limit, openSeg, evictions)
	}
	fdsServed := openFDs(t, n.PID())

	stopping := time.Now()
	n.Stop()
	shutdown := time.Since(stopping)
	started := time.Now()
	n.Start()
	startup := time.Since(started)
	rssIdle := procStatus(t, n.PID(), "VmRSS")
	log := n.LogSinceLastStart()
	if !containsAll(log, "clean_shutdown=true", "rescanned=0", "partitions="+itoa(parts+50)) {
		t.Fatalf("restart did not reopen every partition cleanly:\n%s", tailLines(log, 40))
	}
	check("after restart")
	rssAfter := procStatus(t, n.PID(), "VmRSS")

	report := map[string]any{
		"partitions": parts, "rlimit_nofile": limit,
		"create_and_produce_s": createProduce.Seconds(), "startup_s": startup.Seconds(), "shutdown_s": shutdown.Seconds(),
		"rss_kib_served": rssServed, "rss_kib_idle_after_restart": rssIdle, "rss_kib_after_consume": rssAfter,
		"fds_open_served": fdsServed, "fds_open_end": openFDs(t, n.PID()),
		"max_open_files": maxFiles, "segment_files_open_served": openSeg, "segment_file_evictions_served": evictions,
	}
	b, _ := json.Marshal(report)
	t.Logf("figures: %s", b)
	if path := os.Getenv("RINGTAIL_FD_REPORT"); path != "" {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// procLimitNofile reads the soft "Max open files" of /proc/<pid>/limits.
func procLimitNofile(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Max open files"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Fatalf("no Max open files in /proc/%d/limits", pid)
	return 0
}

// A max_open_files the open file limit cannot hold stops the broker at
// start with an error naming the key and the limit.
func TestMaxOpenFilesAboveLimitRefused(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux, installed by .ci/run) not found: %v", err)
	}
	n := testkit.NewNode(t, testkit.Options{Ringtail: map[string]string{"max_open_files": "5000"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prlimit, "--nofile=1000:1000", n.Bin, "serve", "--config", n.ConfigPath).CombinedOutput()
	if err == nil {
		t.Fatalf("serve with max_open_files 5000 under a limit of 1000 started:\n%s", out)
	}
	for _, want := range []string{"ringtail.max_open_files is 5000", "limit (RLIMIT_NOFILE) is 1000", "at most 936"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("error output lacks %q:\n%s", want, tailLines(string(out), 20))
		}
	}
}
