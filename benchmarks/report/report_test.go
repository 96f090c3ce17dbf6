package report

import (
	"bytes"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fabricated is a full run where every target is met.
func fabricated() *Results {
	lat := func(p50, p99, p999, max float64) *Latency {
		return &Latency{P50: p50, P99: p99, P999: p999, Max: max}
	}
	return &Results{
		Date: "2026-11-23", Host: "bench-host", Started: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		DurationS: 3725,
		Machine: Machine{CPUs: 16, CPUModel: "Test CPU @ 3 GHz", MemGiB: 64, Kernel: "6.8.0", FileSystem: "ext4",
			Device: "nvme0n1", GoVersion: "go1.26.8", RingtailVersion: "v0.5.0", IOEngine: "io_uring", Shards: 4},
		Limits: Limits{
			Fio: []FioWrite{
				{BlockBytes: 4096, MBPerS: 40, IOPS: 10240, Latency: Latency{P50: 0.08, P99: 0.3, P999: 0.9}},
				{BlockBytes: 65536, MBPerS: 400, IOPS: 6400, Latency: Latency{P50: 0.12, P99: 0.5, P999: 1.2}},
				{BlockBytes: 1 << 20, MBPerS: 1200, IOPS: 1200, Latency: Latency{P50: 0.7, P99: 1.5, P999: 3}},
			},
			FsyncLatencyMs: lat(0.12, 0.5, 1.2, 4),
			IperfGbps:      40, // 4768 MiB/s
			Notes:          []string{"fio ran on the data directory's file system"},
		},
		Summaries: []Summary{
			{Workload: "a", Variant: "ringtail", Description: "produce, acks=all, 8 partitions", Runs: 3, RecordsPerS: 350000, MBPerS: 342, Latency: lat(2, 6, 9, 20), RSSMiB: 210, Partitions: 8, Extra: map[string]float64{"avg_write_bytes": 60000, ExtraBrokerCPU: 12, ExtraCPUProduced: 2}},
			{Workload: "a", Variant: "kfake", Description: "produce against kfake", Runs: 3, RecordsPerS: 200000, MBPerS: 195, Latency: lat(3, 40, 90, 120), Extra: map[string]float64{ExtraCPUProduced: 5}},
			{Workload: "a", Variant: "sync-engine", Description: "produce, sync engine", Runs: 3, RecordsPerS: 250000, MBPerS: 244, Latency: lat(3, 8, 12, 30)},
			{Workload: "b", Variant: "ringtail", Description: "many small producers", Runs: 3, RecordsPerS: 500000, MBPerS: 61, Latency: lat(1, 4, 7, 15)},
			{Workload: "b", Variant: "kfake", Description: "many small producers, kfake", Runs: 3, RecordsPerS: 400000, MBPerS: 49},
			{Workload: "c", Variant: "warm", Description: "consume from page cache", Runs: 3, RecordsPerS: 3000000, MBPerS: 2930, Extra: map[string]float64{ExtraCPUConsumed: 0.4}},
			{Workload: "c", Variant: VariantRawFetch, Description: "raw fetch", Runs: 3, RecordsPerS: 4000000, MBPerS: 3900},
			{Workload: "c", Variant: "cold", Description: "consume from disk", Runs: 3, RecordsPerS: 1000000, MBPerS: 977},
			{Workload: "c", Variant: "kfake", Description: "consume from kfake", Runs: 3, RecordsPerS: 1200000, MBPerS: 1170, Extra: map[string]float64{ExtraCPUConsumed: 1}},
			{Workload: "d", Variant: "ringtail", Description: "end-to-end latency at 5,000 records/s", Runs: 3, RecordsPerS: 5000, MBPerS: 4.9, Latency: lat(1.1, 2.2, 5.5, 9)},
			{Workload: "e", Variant: "partitions-8", Description: "8 partitions", Runs: 1, RecordsPerS: 300000, MBPerS: 293, RSSMiB: 150, Partitions: 8},
			{Workload: "e", Variant: "partitions-1000", Description: "1,000 partitions", Runs: 1, RecordsPerS: 240000, MBPerS: 234, RSSMiB: 400, Partitions: 1000},
			{Workload: "e", Variant: "partitions-10000", Description: "10,000 partitions", Runs: 1, RecordsPerS: 90000, MBPerS: 88, RSSMiB: 1900},
			{Workload: "e", Variant: "partitions-100000", Description: "100,000 partitions", Runs: 1, RecordsPerS: 50000, MBPerS: 49, RSSMiB: 900,
				Extra: map[string]float64{ExtraStartupS: 9.5, ExtraIdleKiBPer: 6.1, ExtraNofileLimit: 20000}},
			{Workload: "d", Variant: VariantD10k, Description: "linger 0 at 10,000 records/s", Runs: 3, RecordsPerS: 10000, MBPerS: 9.8, Latency: lat(1.0, 2.1, 4.0, 8)},
			{Workload: "f", Variant: "ringtail-3node", Description: "3 nodes, RF=3", Runs: 3, RecordsPerS: 250000, MBPerS: 244},
			{Workload: "f", Variant: "ringtail", Description: "restart and recovery", Runs: 1, RecordsPerS: 0, MBPerS: 0, Extra: map[string]float64{"startup_s": 1.4}},
		},
		Comparisons: []Comparison{
			{Mechanism: "io_uring vs sync engine", Workload: "a", With: "ringtail", Without: "sync-engine", WithMBps: 342, WithoutMBps: 244},
			{Mechanism: "group commit vs per-request fsync", Workload: "a", With: "ringtail", Without: "per-request-fsync", WithMBps: 342, WithoutMBps: 60},
			{Mechanism: "sendfile vs read+write fetch", Workload: "c", With: "warm", Without: "read-write-fetch", WithMBps: 2930, WithoutMBps: 3100, Note: "page cache copy is cheap here"},
			{Mechanism: "shards vs one shard", Workload: "b", With: "ringtail", Without: "one-shard", WithMBps: 61, WithoutMBps: 0},
			{Mechanism: "shards = cores vs one shard", Workload: "a", With: "ringtail", Without: "one-shard", WithMBps: 342, WithoutMBps: 342, Note: "pinned to one CPU"},
			{Mechanism: "shards = cores vs one shard", Workload: "a", With: "unpinned-shards-cores", Without: "unpinned-one-shard", WithMBps: 350, WithoutMBps: 340},
		},
		Micro: []Micro{
			{Package: "github.com/ringtail/ringtail/storage", Name: "BenchmarkAppend-16", NsPerOp: 812, MBPerS: 1261, BytesPerOp: 0, AllocsPerOp: 0},
			{Package: "github.com/ringtail/ringtail/protocol", Name: "BenchmarkDecodeProduce-16", NsPerOp: 15234, BytesPerOp: 4096, AllocsPerOp: 12},
		},
		Profiles: []string{"profiles/a-ringtail.cpu.pprof", "profiles/a-ringtail.heap.pprof"},
		Notes:    []string{"one suite note"},
	}
}

func targetByID(t *testing.T, r *Results, id string) Target {
	t.Helper()
	for _, tg := range r.Targets {
		if tg.ID == id {
			return tg
		}
	}
	t.Fatalf("no target %q in %+v", id, r.Targets)
	return Target{}
}

// mdRow is the targets-table row of id.
func mdRow(t *testing.T, md, id string) string {
	t.Helper()
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| "+id+" |") {
			return line
		}
	}
	t.Fatalf("README.md has no targets row for %q", id)
	return ""
}

func writeAndRead(t *testing.T, r *Results) (dir, md string) {
	t.Helper()
	dir = t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, string(b)
}

func TestAllMet(t *testing.T) {
	r := fabricated()
	Evaluate(r, map[string]string{TargetAFio: "should not be used: the target is met"})
	if len(r.Targets) != len(TargetIDs) {
		t.Fatalf("%d targets, want %d", len(r.Targets), len(TargetIDs))
	}
	dir, md := writeAndRead(t, r)
	for i, id := range TargetIDs {
		tg := r.Targets[i]
		if tg.ID != id {
			t.Errorf("target %d is %q, want %q", i, tg.ID, id)
		}
		if !tg.Met {
			t.Errorf("%s: not met: target %q, measured %q", id, tg.Target, tg.Measured)
		}
		if tg.Note != "" {
			t.Errorf("%s: met target has note %q", id, tg.Note)
		}
		if row := mdRow(t, md, id); !strings.Contains(row, "✅") || strings.Contains(row, "❌") {
			t.Errorf("%s: row %q, want ✅", id, row)
		}
	}
	if !strings.Contains(md, "17 of 17 met") {
		t.Error("README.md does not say 17 of 17 met")
	}

	// a-fio picks the 64 KiB fio entry (closest to avg_write_bytes 60000).
	a := targetByID(t, r, TargetAFio)
	if !strings.Contains(a.Target, "400 MiB/s at 64 KiB") || a.Measured != "342 MiB/s = 86%" {
		t.Errorf("a-fio: target %q measured %q", a.Target, a.Measured)
	}
	if c := targetByID(t, r, TargetCIperf); !strings.Contains(c.Target, "4768 MiB/s") || c.Measured != "2930 MiB/s = 61%" {
		t.Errorf("c-iperf: target %q measured %q", c.Target, c.Measured)
	}
	if e := targetByID(t, r, TargetE10000); !strings.Contains(e.Measured, "90,000 records/s") || !strings.Contains(e.Measured, "RSS 1900 MiB") {
		t.Errorf("e-10000: measured %q", e.Measured)
	}

	// Comparisons: ratio and verdict filled in, a zero "without" left alone.
	cs := r.Comparisons
	if cs[0].Ratio < 1.40 || cs[0].Ratio > 1.41 || !cs[0].Wins {
		t.Errorf("comparison 0: ratio %v wins %v", cs[0].Ratio, cs[0].Wins)
	}
	if cs[2].Ratio >= 1 || cs[2].Wins {
		t.Errorf("comparison 2: ratio %v wins %v", cs[2].Ratio, cs[2].Wins)
	}
	if cs[3].Ratio != 0 || cs[3].Wins {
		t.Errorf("comparison 3 (no without figure): ratio %v wins %v", cs[3].Ratio, cs[3].Wins)
	}
	for _, want := range []string{"1.40×", "wins", "0.95×", "loses", "not measured",
		"| 64 KiB | 400 |", "40.0 Gbit/s", "BenchmarkAppend-16", "[profiles/a-ringtail.cpu.pprof](profiles/a-ringtail.cpu.pprof)",
		"- one suite note", "| a | ringtail | produce, acks=all, 8 partitions | 3 | 350,000 | 342 | 2.00 | 6.00 | 9.00 | 20.0 | 210 |",
		"bench-host", "1h2m5s", "Smoke run: no"} {
		if !strings.Contains(md, want) {
			t.Errorf("README.md lacks %q", want)
		}
	}

	for _, f := range []string{ThroughputPNG, LatencyPNG, PartitionsPNG, SideBySidePNG} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		img, format, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		bnd := img.Bounds()
		if format != "png" || bnd.Dx() < 400 || bnd.Dy() < 300 || len(b) < 10000 {
			t.Errorf("%s: %s %dx%d, %d bytes: too small to be a real plot", f, format, bnd.Dx(), bnd.Dy(), len(b))
		}
		if !strings.Contains(md, "]("+f+")") {
			t.Errorf("README.md does not link %s", f)
		}
	}

	// results.json round-trips with the evaluation in it.
	back, err := ReadResults(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Targets) != len(TargetIDs) || back.Comparisons[0].Ratio != r.Comparisons[0].Ratio || back.Host != "bench-host" {
		t.Errorf("results.json did not round-trip: %+v", back.Targets)
	}
}

func TestMissed(t *testing.T) {
	r := fabricated()
	set := func(w, v string, f func(*Summary)) {
		s := r.Find(w, v)
		if s == nil {
			t.Fatalf("no %s/%s", w, v)
		}
		f(s)
	}
	set("a", "ringtail", func(s *Summary) { s.MBPerS = 300 })                // 75% of fio's 400
	set("a", "kfake", func(s *Summary) { s.MBPerS = 300 })                   // equal, not more
	set("b", "ringtail", func(s *Summary) { s.MBPerS = 48 })                 // 0.98× kfake
	set("c", "warm", func(s *Summary) { s.MBPerS = 1700 })                   // 1.45× kfake; 36% of iperf
	set("d", "ringtail", func(s *Summary) { s.Latency.P99 = 2.6 })           // > 0.5 + 2; p99.9 5.5 ≤ 7.8 still
	set("e", "partitions-1000", func(s *Summary) { s.RecordsPerS = 200000 }) // 67%
	set("e", "partitions-10000", func(s *Summary) { s.RSSMiB = 0 })          // memory not reported
	notes := map[string]string{TargetAFio: "fio note | with a pipe", TargetE10000: "RSS was not sampled"}
	Evaluate(r, notes)
	_, md := writeAndRead(t, r)

	missed := []string{TargetAFio, TargetAKfake, TargetBKfake, TargetCKfake, TargetCIperf, TargetDP99, TargetE1000, TargetE10000}
	for _, id := range missed {
		if targetByID(t, r, id).Met {
			t.Errorf("%s: met, want missed", id)
		}
		if row := mdRow(t, md, id); !strings.Contains(row, "❌") || strings.Contains(row, "✅") {
			t.Errorf("%s: row %q, want ❌", id, row)
		}
	}
	if !targetByID(t, r, TargetDP999).Met || !strings.Contains(mdRow(t, md, TargetDP999), "✅") {
		t.Error("d-p999 should still be met")
	}
	if got := targetByID(t, r, TargetAFio); got.Measured != "300 MiB/s = 75%" || got.Note != notes[TargetAFio] {
		t.Errorf("a-fio: measured %q note %q", got.Measured, got.Note)
	}
	if !strings.Contains(mdRow(t, md, TargetAFio), `fio note \| with a pipe`) {
		t.Error("a-fio note is not in its row, escaped")
	}
	if got := targetByID(t, r, TargetE10000); !strings.Contains(got.Measured, "RSS not reported") || got.Note != "RSS was not sampled" {
		t.Errorf("e-10000: measured %q note %q", got.Measured, got.Note)
	}
	if got := targetByID(t, r, TargetE1000); got.Measured != "200,000 records/s = 67%" {
		t.Errorf("e-1000: measured %q", got.Measured)
	}
	if !strings.Contains(md, "9 of 17 met") {
		t.Error("README.md does not say 9 of 17 met")
	}

	// d-p999 missed on its own.
	set("d", "ringtail", func(s *Summary) { s.Latency.P999 = 8 }) // > 3 × 2.6
	Evaluate(r, nil)
	if targetByID(t, r, TargetDP999).Met {
		t.Error("d-p999: met with p99.9 8 > 3 × p99 2.6")
	}
	// A re-evaluation without notes keeps the notes it had.
	if got := targetByID(t, r, TargetAFio).Note; got != notes[TargetAFio] {
		t.Errorf("a-fio note after re-evaluation = %q", got)
	}
}

func TestFioWithoutAverageWriteSizeUsesLargest(t *testing.T) {
	r := fabricated()
	delete(r.Find("a", "ringtail").Extra, avgWriteBytes)
	Evaluate(r, nil)
	a := targetByID(t, r, TargetAFio)
	if !strings.Contains(a.Target, "1200 MiB/s at 1 MiB") || a.Met || a.Measured != "342 MiB/s = 28%" {
		t.Errorf("a-fio: target %q measured %q met %v", a.Target, a.Measured, a.Met)
	}
}

func TestNotMeasured(t *testing.T) {
	r := &Results{Date: "2026-11-23", Host: "empty", Smoke: true}
	Evaluate(r, map[string]string{TargetCIperf: "iperf3 missing"})
	dir, md := writeAndRead(t, r)
	for _, id := range TargetIDs {
		tg := targetByID(t, r, id)
		if tg.Met || tg.Measured != "not measured" {
			t.Errorf("%s: met %v measured %q", id, tg.Met, tg.Measured)
		}
		if row := mdRow(t, md, id); !strings.Contains(row, "not measured") || !strings.Contains(row, "❌") {
			t.Errorf("%s: row %q", id, row)
		}
	}
	if targetByID(t, r, TargetCIperf).Note != "iperf3 missing" {
		t.Error("c-iperf note not set")
	}
	for _, f := range []string{ThroughputPNG, LatencyPNG, PartitionsPNG, SideBySidePNG} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s drawn without data (stat: %v)", f, err)
		}
		if !strings.Contains(md, "(`"+f+"`): not drawn") {
			t.Errorf("README.md does not say %s was skipped", f)
		}
	}
	if !strings.Contains(md, "Smoke run**") {
		t.Error("README.md does not flag the smoke run")
	}

	// Partly measured: only the side that is compared against is missing.
	r = fabricated()
	r.Summaries = r.Summaries[:1] // a/ringtail only
	r.Limits.FsyncLatencyMs = nil
	r.Limits.IperfGbps = 0
	Evaluate(r, nil)
	if a := targetByID(t, r, TargetAFio); !a.Met {
		t.Errorf("a-fio with fio and a/ringtail: %+v", a)
	}
	for _, id := range []string{TargetAKfake, TargetBKfake, TargetCKfake, TargetCIperf, TargetDP99, TargetDP999, TargetE1000, TargetE10000} {
		if tg := targetByID(t, r, id); tg.Met || tg.Measured != "not measured" {
			t.Errorf("%s: %+v", id, tg)
		}
	}
}

func TestRewriteRemovesStalePlot(t *testing.T) {
	r := fabricated()
	Evaluate(r, nil)
	dir := t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	r.Comparisons = nil
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, SideBySidePNG)); !os.IsNotExist(err) {
		t.Errorf("stale %s left behind (stat: %v)", SideBySidePNG, err)
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{1234567.4, "1,234,567"}, {999, "999"}, {1000, "1,000"}, {0, "0"}, {-12345, "-12,345"}} {
		if got := fmtCount(c.v); got != c.want {
			t.Errorf("fmtCount(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		n    int
		want string
	}{{4096, "4 KiB"}, {1 << 20, "1 MiB"}, {1500, "1500 B"}, {3 << 20, "3 MiB"}} {
		if got := fmtBytes(c.n); got != c.want {
			t.Errorf("fmtBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// TestWritePlotsForViewing writes the fabricated report to
// $REPORT_SAMPLE_DIR when it is set, to look at the plots by eye.
func TestWritePlotsForViewing(t *testing.T) {
	dir := os.Getenv("REPORT_SAMPLE_DIR")
	if dir == "" {
		t.Skip("REPORT_SAMPLE_DIR not set")
	}
	r := fabricated()
	Evaluate(r, nil)
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
}

func TestCPUTargets(t *testing.T) {
	r := fabricated()
	Evaluate(r, nil)
	if got := targetByID(t, r, TargetACPU); got.Measured != "a/ringtail 2.00 CPU s/GiB = 0.40 × kfake" || !got.Met {
		t.Errorf("a-cpu: %+v", got)
	}
	if got := targetByID(t, r, TargetCRawIperf); got.Measured != "3900 MiB/s = 82%" || !got.Met {
		t.Errorf("c-raw-iperf: %+v", got)
	}
	r.Find("c", "warm").Extra[ExtraCPUConsumed] = 0.6 // 0.6 × kfake's
	r.Find("c", VariantRawFetch).MBPerS = 3000        // 63% of iperf3
	Evaluate(r, nil)
	for _, id := range []string{TargetCCPU, TargetCRawIperf} {
		if targetByID(t, r, id).Met {
			t.Errorf("%s met, want missed", id)
		}
	}
	delete(r.Find("a", "kfake").Extra, ExtraCPUProduced)
	Evaluate(r, nil)
	if got := targetByID(t, r, TargetACPU); got.Met || got.Measured != notMeasured {
		t.Errorf("a-cpu without kfake's figure: %+v", got)
	}
	r.Find("c", "warm").Extra[ExtraBrokerCPU] = 1.2
	md := cpuTable(r)
	for _, want := range []string{"| a | ringtail | 342 | 12.0 | 2.00 | – | – |", "| c | warm | 2930 | 1.20 | – | 0.60 | 0.60× |"} {
		if !strings.Contains(md, want) {
			t.Errorf("CPU table lacks %q:\n%s", want, md)
		}
	}
}
