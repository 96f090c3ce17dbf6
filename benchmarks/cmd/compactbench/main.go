// Command compactbench measures what the log cleaner costs a producer
// (issue 12): a producer at full speed (`ringtail bench produce`, keyed
// updates over a fixed key space, acks=all) into a compacted topic with
// small segments, on a fresh node with the cleaner running (it cleans
// every 100 ms while the load runs) and on one with log.cleaner.enable =
// false, alternating, and reports the medians of throughput and p99
// acknowledgement latency side by side.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ringtail/ringtail/benchmarks/internal/localnode"
)

// Run is one load run.
type Run struct {
	Cleaner       bool    `json:"cleaner"`
	RecordsPerS   float64 `json:"records_per_s"`
	MBPerS        float64 `json:"mb_per_s"`
	P99Ms         float64 `json:"p99_ms"`
	CleanerPasses float64 `json:"cleaner_passes"`
	SizeBytes     float64 `json:"size_bytes"` // the partition on disk at the end
}

// Summary is the medians of each variant.
type Summary struct {
	Date      string  `json:"date"`
	Host      string  `json:"host"`
	Load      string  `json:"load"`
	Runs      []Run   `json:"runs"`
	OnRecS    float64 `json:"median_records_per_s_cleaner"`
	OffRecS   float64 `json:"median_records_per_s_no_cleaner"`
	OnP99Ms   float64 `json:"median_p99_ms_cleaner"`
	OffP99Ms  float64 `json:"median_p99_ms_no_cleaner"`
	Ratio     float64 `json:"throughput_ratio"` // cleaner / no cleaner
	OnSizeMB  float64 `json:"median_size_mib_cleaner"`
	OffSizeMB float64 `json:"median_size_mib_no_cleaner"`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compactbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("compactbench", flag.ContinueOnError)
	bin := fs.String("ringtail", "", "the ringtail binary (default: build it from the repository)")
	runs := fs.Int("runs", 3, "runs of each variant, alternating, each on a fresh node")
	dur := fs.Duration("duration", 10*time.Second, "load per run")
	size := fs.Int("record-size", 100, "value bytes per record")
	keys := fs.Int("keys", 1000, "key space the updates cycle over")
	rate := fs.Float64("rate", 0, "records/s (0: as fast as possible)")
	out := fs.String("out", "", "write the summary as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := localnode.Prepare(ctx, "compactbench-", bin)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	host, _ := os.Hostname()
	sum := Summary{Date: time.Now().UTC().Format("2006-01-02"), Host: host,
		Load: fmt.Sprintf("bench produce --keyed --key-space %d --record-size %d --acks all --duration %s --rate %v, 1 partition, segment.bytes 1 MiB", *keys, *size, *dur, *rate)}
	for i := 0; i < *runs; i++ {
		for _, cleaner := range []bool{true, false} {
			dir := filepath.Join(work, fmt.Sprintf("run%d-%v", i, cleaner))
			r, err := once(ctx, *bin, dir, cleaner, *dur, *size, *keys, *rate)
			os.RemoveAll(dir) // a run at full speed writes gigabytes
			if err != nil {
				return fmt.Errorf("run %d (cleaner %v): %w", i+1, cleaner, err)
			}
			fmt.Fprintf(stdout, "run %d cleaner=%-5v %9.0f records/s %6.1f MiB/s p99 %7.2f ms, %3.0f cleaner passes, %.1f MiB on disk\n",
				i+1, cleaner, r.RecordsPerS, r.MBPerS, r.P99Ms, r.CleanerPasses, r.SizeBytes/(1<<20))
			sum.Runs = append(sum.Runs, r)
		}
	}
	med := func(cleaner bool, f func(Run) float64) float64 {
		var xs []float64
		for _, r := range sum.Runs {
			if r.Cleaner == cleaner {
				xs = append(xs, f(r))
			}
		}
		return localnode.Median(xs)
	}
	sum.OnRecS, sum.OffRecS = med(true, func(r Run) float64 { return r.RecordsPerS }), med(false, func(r Run) float64 { return r.RecordsPerS })
	sum.OnP99Ms, sum.OffP99Ms = med(true, func(r Run) float64 { return r.P99Ms }), med(false, func(r Run) float64 { return r.P99Ms })
	sum.OnSizeMB = med(true, func(r Run) float64 { return r.SizeBytes }) / (1 << 20)
	sum.OffSizeMB = med(false, func(r Run) float64 { return r.SizeBytes }) / (1 << 20)
	if sum.OffRecS > 0 {
		sum.Ratio = sum.OnRecS / sum.OffRecS
	}
	fmt.Fprintf(stdout, "medians: cleaner %.0f records/s p99 %.2f ms (%.1f MiB on disk); no cleaner %.0f records/s p99 %.2f ms (%.1f MiB); throughput ratio %.2f\n",
		sum.OnRecS, sum.OnP99Ms, sum.OnSizeMB, sum.OffRecS, sum.OffP99Ms, sum.OffSizeMB, sum.Ratio)
	if *out != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		return os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	return nil
}

// once runs the load on a fresh node.
func once(ctx context.Context, bin, dir string, cleaner bool, dur time.Duration, size, keys int, rate float64) (Run, error) {
	settings := fmt.Sprintf("log.cleaner.enable = %v\nlog.cleaner.backoff.ms = 100\n", cleaner)
	node, err := localnode.Start(ctx, bin, dir, settings)
	if err != nil {
		return Run{}, err
	}
	defer node.Stop()
	const topic = "bench-compact"
	create := exec.CommandContext(ctx, bin, "topic", "create", topic, "--partitions", "1", "-b", node.Addr,
		"--config", "cleanup.policy=compact", "--config", "segment.bytes=1048576", "--config", "min.cleanable.dirty.ratio=0.1")
	if b, err := create.CombinedOutput(); err != nil {
		return Run{}, fmt.Errorf("topic create: %v\n%s", err, b)
	}
	res, err := node.BenchProduce(ctx, bin, "--topic", topic, "--keyed",
		"--key-space", strconv.Itoa(keys), "--record-size", strconv.Itoa(size), "--acks", "all",
		"--duration", dur.String(), "--rate", strconv.FormatFloat(rate, 'f', -1, 64))
	if err != nil {
		return Run{}, err
	}
	r := Run{Cleaner: cleaner, RecordsPerS: res.RecordsPerS, MBPerS: res.MBPerS, P99Ms: res.Latency.P99}
	if m, err := node.Metrics(); err == nil {
		r.CleanerPasses = metric(m, "ringtail_cleaner_passes_total", "")
		r.SizeBytes = metric(m, "ringtail_log_size_bytes", `topic="`+topic+`"`)
	}
	return r, nil
}

// metric reads one sample of name (with the label text, if any) from a
// Prometheus text exposition.
func metric(text, name, label string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		if label != "" && !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			return v
		}
	}
	return 0
}
