package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/benchmarks/report"
)

// TestSuiteSmoke runs the whole suite in --smoke mode (every step, with
// seconds of load) and checks what it leaves in the results folder.
func TestSuiteSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real nodes for about a minute")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the suite runs on Linux")
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	t0 := time.Now()
	err := run(ctx, []string{"--smoke", "--out", out}, &stdout, &stderr)
	t.Logf("suite --smoke took %v; its progress:\n%s", time.Since(t0).Round(time.Second), stderr.String())
	if err != nil {
		t.Fatalf("suite --smoke: %v", err)
	}
	if !strings.Contains(stdout.String(), out) {
		t.Errorf("stdout does not name the results folder %s:\n%s", out, stdout.String())
	}

	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res report.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if !res.Smoke || res.Date == "" || res.Host == "" || res.DurationS <= 0 {
		t.Errorf("results.json header: smoke=%v date=%q host=%q duration_s=%v", res.Smoke, res.Date, res.Host, res.DurationS)
	}
	if res.Machine.CPUs < 1 || res.Machine.IOEngine == "" || res.Machine.Shards < 1 || res.Machine.FileSystem == "" {
		t.Errorf("machine facts missing: %+v", res.Machine)
	}

	notes := strings.Join(res.Notes, "\n")
	summaries := map[string]report.Summary{}
	for _, sm := range res.Summaries {
		summaries[sm.Workload+"/"+sm.Variant] = sm
	}
	want := []string{
		"a/ringtail", "a/sync-engine", "a/per-request-fsync", "a/kfake",
		"b/ringtail", "b/kfake",
		"c/warm", "c/raw-fetch", "c/cold", "c/read-write-fetch", "c/kfake",
		"d/ringtail", "d/" + report.VariantD10k,
		"e/partitions-8", "e/partitions-1000", "e/partitions-100",
		"f/ringtail-3node",
	}
	// A broker pinned to one CPU runs one shard whatever shards says:
	// the shard counts are then compared unpinned.
	if _, ok := summaries["a/one-shard"]; ok {
		want = append(want, "a/one-shard")
	} else {
		want = append(want, "a/"+unpinnedShards, "a/"+unpinnedOneShard)
	}
	for _, k := range want {
		sm, ok := summaries[k]
		if k == "c/cold" && !ok && strings.Contains(notes, "c/cold skipped") {
			t.Logf("c/cold skipped here (no permission to drop the page cache)")
			continue
		}
		if !ok {
			t.Errorf("no summary for %s; notes:\n%s", k, notes)
			continue
		}
		if sm.RecordsPerS <= 0 || sm.MBPerS <= 0 || sm.Runs < 1 {
			t.Errorf("%s: records/s %v, MB/s %v, runs %d", k, sm.RecordsPerS, sm.MBPerS, sm.Runs)
		}
	}
	if sm := summaries["a/ringtail"]; sm.Extra["avg_write_bytes"] <= 0 {
		t.Errorf("a/ringtail has no avg_write_bytes: %v", sm.Extra)
	}
	// Broker CPU per GiB (issue 16), Ringtail's and kfake's.
	for k, key := range map[string]string{
		"a/ringtail": report.ExtraCPUProduced, "a/kfake": report.ExtraCPUProduced,
		"b/ringtail": report.ExtraCPUProduced, "b/kfake": report.ExtraCPUProduced,
		"c/warm": report.ExtraCPUConsumed, "c/raw-fetch": report.ExtraCPUConsumed, "c/kfake": report.ExtraCPUConsumed,
	} {
		// CPU time comes in 10 ms ticks: a smoke consume of 20 MiB may
		// read 0, so only its presence is checked.
		if _, ok := summaries[k].Extra[key]; !ok {
			t.Errorf("%s has no broker CPU per GiB (%s): %v", k, key, summaries[k].Extra)
		}
	}
	if res.Machine.Pinning == "" {
		t.Error("results do not say how brokers and load were pinned")
	}
	if sm := summaries["e/partitions-100"]; sm.Extra["create_s"] <= 0 || sm.RSSMiB <= 0 {
		t.Errorf("e/partitions-100 lacks create_s or RSS: %+v", sm)
	}
	if sm := summaries["e/partitions-100"]; sm.Extra[report.ExtraStartupS] <= 0 || sm.Extra[report.ExtraIdleKiBPer] <= 0 || sm.Extra[report.ExtraNofileLimit] <= 0 {
		t.Errorf("e/partitions-100 lacks the restart figures (start-up, idle RSS per partition, file limit): %+v", sm.Extra)
	}
	if len(res.Runs) < len(want) {
		t.Errorf("%d runs recorded, want at least %d", len(res.Runs), len(want))
	}

	type cmpKey struct{ mech, w string }
	cmps := map[cmpKey]report.Comparison{}
	for _, c := range res.Comparisons {
		cmps[cmpKey{c.Mechanism, c.Workload}] = c
	}
	for _, k := range []cmpKey{
		{"io_uring vs sync engine", "a"}, {"shards = cores vs one shard", "a"},
		{"group commit vs per-request fsync", "a"}, {"sendfile vs read-and-write fetch", "c"},
		{"Ringtail vs kfake", "a"}, {"Ringtail vs kfake", "b"}, {"Ringtail vs kfake", "c"},
		{"raw Fetch loop vs decoding consumer (the client's share)", "c"},
	} {
		c, ok := cmps[k]
		if !ok {
			t.Errorf("no comparison %q on %s", k.mech, k.w)
			continue
		}
		if c.WithMBps <= 0 || c.WithoutMBps <= 0 {
			t.Errorf("comparison %q on %s: with %v MB/s, without %v MB/s", k.mech, k.w, c.WithMBps, c.WithoutMBps)
		}
	}

	if _, err := exec.LookPath("fio"); err == nil {
		if len(res.Limits.Fio) != len(fioBlockSizes) || res.Limits.FsyncLatencyMs == nil {
			t.Errorf("fio is installed but limits hold %d fio runs, fsync latency %v; notes %q", len(res.Limits.Fio), res.Limits.FsyncLatencyMs, res.Limits.Notes)
		}
	}
	if _, err := exec.LookPath("iperf3"); err == nil && res.Limits.IperfGbps <= 0 {
		t.Errorf("iperf3 is installed but measured %v Gbit/s; notes %q", res.Limits.IperfGbps, res.Limits.Notes)
	}
	if len(res.Micro) == 0 {
		t.Errorf("no micro-benchmarks in results.json")
	}

	if st, err := os.Stat(filepath.Join(out, "README.md")); err != nil || st.Size() == 0 {
		t.Errorf("README.md: %v", err)
	}
	pngs, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(pngs) == 0 {
		t.Errorf("no PNG plots in %s", out)
	}
	for _, p := range pngs {
		if b, err := os.ReadFile(p); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG (%v)", p, err)
		}
	}
	listed := map[string]bool{}
	for _, p := range res.Profiles {
		listed[p] = true
	}
	for _, f := range []string{"a-cpu.pprof", "a-allocs.pprof", "b-cpu.pprof", "b-allocs.pprof", "b-cpu.txt", "c-cpu.pprof", "c-allocs.pprof", "a-cpu.txt", "a-allocs.txt", "c-cpu.txt", "c-allocs.txt"} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("profile %s missing or empty (%v)", f, err)
		}
		if !listed[f] {
			t.Errorf("profile %s not listed in results.json: %q", f, res.Profiles)
		}
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/ringtail/ringtail/storage
BenchmarkAppend/durable-2         	   54686	      5000 ns/op	 184.72 MB/s	     645 B/op	       5 allocs/op
--- BENCH: BenchmarkAppend/durable-2
    bench_test.go:29: engine io_uring
BenchmarkAppend/durable-2         	   54686	      7000 ns/op	 100.00 MB/s	     600 B/op	       5 allocs/op
BenchmarkAppend/durable-2         	   54686	      6000 ns/op	 150.00 MB/s	     700 B/op	       6 allocs/op
PASS
pkg: github.com/ringtail/ringtail/iocore
BenchmarkEngineAppendSync/engine=sync/N=16-2        	      63	   3947587 ns/op	  16.60 MB/s	       0 B/op	       0 allocs/op
`
	got := parseBench(out)
	if len(got) != 2 {
		t.Fatalf("got %d benchmarks, want 2: %+v", len(got), got)
	}
	a := got[1]
	if a.Package != "storage" || a.Name != "BenchmarkAppend/durable" || a.NsPerOp != 6000 || a.MBPerS != 150 || a.BytesPerOp != 645 || a.AllocsPerOp != 5 {
		t.Errorf("storage append: %+v (want medians 6000 ns/op, 150 MB/s, 645 B/op, 5 allocs/op)", a)
	}
	if got[0].Package != "iocore" || got[0].Name != "BenchmarkEngineAppendSync/engine=sync/N=16" {
		t.Errorf("iocore: %+v", got[0])
	}
}

func TestMetricSum(t *testing.T) {
	text := `# HELP ringtail_io_fsyncs_total x
ringtail_io_fsyncs_total{shard="0"} 1501
ringtail_io_fsyncs_total{shard="1"} 1471
ringtail_io_fsyncs_totally 5
ringtail_topic_bytes_in_total{topic="a-1"} 5.3948244e+08
ringtail_topic_bytes_in_total{topic="a-10"} 7
`
	if got := metricSum(text, "ringtail_io_fsyncs_total"); got != 2972 {
		t.Errorf("fsyncs = %v, want 2972", got)
	}
	if got := metricSum(text, "ringtail_topic_bytes_in_total", `topic="a-1"`); got != 5.3948244e+08 {
		t.Errorf("bytes in = %v", got)
	}
}

func TestSummarizeMedians(t *testing.T) {
	runs := []report.Run{
		{RecordsPerS: 3, MBPerS: 30, Latency: &report.Latency{P50: 1, P99: 9}, Extra: map[string]float64{"x": 1}},
		{RecordsPerS: 1, MBPerS: 10, Latency: &report.Latency{P50: 3, P99: 7}, Extra: map[string]float64{"x": 5}},
		{RecordsPerS: 2, MBPerS: 20, Latency: &report.Latency{P50: 2, P99: 8}, Extra: map[string]float64{"x": 3}},
	}
	sm := summarize("a", "ringtail", "d", 8, runs)
	if sm.RecordsPerS != 2 || sm.MBPerS != 20 || sm.Latency.P50 != 2 || sm.Latency.P99 != 8 || sm.Extra["x"] != 3 || sm.Runs != 3 {
		t.Errorf("summary %+v latency %+v", sm, sm.Latency)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4 = %v, want 2.5", m)
	}
}

func TestParseFlatTOML(t *testing.T) {
	m, err := parseFlatTOML("# notes\n\"a-fio\" = \"disk is slow\" # why\nd-p99 = 'literal'\n")
	if err != nil {
		t.Fatal(err)
	}
	if m["a-fio"] != "disk is slow" || m["d-p99"] != "literal" {
		t.Errorf("got %q", m)
	}
	if _, err := parseFlatTOML("no equals sign"); err == nil {
		t.Error("want an error for a line without '='")
	}
}
