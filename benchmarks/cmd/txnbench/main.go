// Command txnbench measures what transactions cost a producer (issue 13):
// `ringtail bench produce` with acks=all, idempotent, for a fixed duration
// on a fresh node, once per variant: plain idempotent, and transactional
// with 100 and with 1,000 records per transaction (each producer commits
// every so many records), alternating, and reports the median throughput
// and p99 acknowledgement latency of each.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ringtail/ringtail/benchmarks/internal/localnode"
)

// Run is one load run; TxnSize 0 is the idempotent baseline.
type Run struct {
	TxnSize     int64   `json:"transaction_size"`
	RecordsPerS float64 `json:"records_per_s"`
	MBPerS      float64 `json:"mb_per_s"`
	P99Ms       float64 `json:"p99_ms"`
}

// Variant is the medians of one transaction size.
type Variant struct {
	TxnSize     int64   `json:"transaction_size"`
	RecordsPerS float64 `json:"median_records_per_s"`
	P99Ms       float64 `json:"median_p99_ms"`
	Ratio       float64 `json:"throughput_vs_idempotent"`
}

// Summary is every run and the medians.
type Summary struct {
	Date     string    `json:"date"`
	Host     string    `json:"host"`
	Load     string    `json:"load"`
	Runs     []Run     `json:"runs"`
	Variants []Variant `json:"variants"`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "txnbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("txnbench", flag.ContinueOnError)
	bin := fs.String("ringtail", "", "the ringtail binary (default: build it from the repository)")
	runs := fs.Int("runs", 3, "runs of each variant, alternating, each on a fresh node")
	dur := fs.Duration("duration", 10*time.Second, "load per run")
	size := fs.Int("record-size", 1024, "value bytes per record")
	producers := fs.Int("producers", 4, "producer clients (each its own transactional id)")
	sizes := fs.String("transaction-sizes", "0,100,1000", "records per transaction of each variant (0: idempotent, no transactions)")
	out := fs.String("out", "", "write the summary as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var variants []int64
	for _, s := range strings.Split(*sizes, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("--transaction-sizes %q: want comma-separated counts >= 0", *sizes)
		}
		variants = append(variants, v)
	}
	work, err := localnode.Prepare(ctx, "txnbench-", bin)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	host, _ := os.Hostname()
	sum := Summary{Date: time.Now().UTC().Format("2006-01-02"), Host: host,
		Load: fmt.Sprintf("bench produce --acks all --idempotent --record-size %d --producers %d --partitions 6 --duration %s [--transaction-size N]", *size, *producers, *dur)}
	for i := 0; i < *runs; i++ {
		for _, v := range variants {
			dir := filepath.Join(work, fmt.Sprintf("run%d-%d", i, v))
			r, err := once(ctx, *bin, dir, v, *dur, *size, *producers)
			os.RemoveAll(dir)
			if err != nil {
				return fmt.Errorf("run %d (transaction size %d): %w", i+1, v, err)
			}
			fmt.Fprintf(stdout, "run %d transaction-size=%-5d %9.0f records/s %6.1f MiB/s p99 %7.2f ms\n", i+1, v, r.RecordsPerS, r.MBPerS, r.P99Ms)
			sum.Runs = append(sum.Runs, r)
		}
	}
	var base float64
	for _, v := range variants {
		var recs, p99 []float64
		for _, r := range sum.Runs {
			if r.TxnSize == v {
				recs, p99 = append(recs, r.RecordsPerS), append(p99, r.P99Ms)
			}
		}
		vr := Variant{TxnSize: v, RecordsPerS: localnode.Median(recs), P99Ms: localnode.Median(p99)}
		if v == 0 {
			base = vr.RecordsPerS
		}
		sum.Variants = append(sum.Variants, vr)
	}
	for i := range sum.Variants {
		if base > 0 {
			sum.Variants[i].Ratio = sum.Variants[i].RecordsPerS / base
		}
		v := sum.Variants[i]
		fmt.Fprintf(stdout, "median transaction-size=%-5d %9.0f records/s p99 %7.2f ms (%.2f of idempotent)\n", v.TxnSize, v.RecordsPerS, v.P99Ms, v.Ratio)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		return os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	return nil
}

// once runs the load on a fresh node.
func once(ctx context.Context, bin, dir string, txnSize int64, dur time.Duration, size, producers int) (Run, error) {
	node, err := localnode.Start(ctx, bin, dir, "")
	if err != nil {
		return Run{}, err
	}
	defer node.Stop()
	res, err := node.BenchProduce(ctx, bin, "--topic", "bench-txn", "--partitions", "6",
		"--record-size", strconv.Itoa(size), "--acks", "all", "--producers", strconv.Itoa(producers),
		"--duration", dur.String(), "--transaction-size", strconv.FormatInt(txnSize, 10))
	if err != nil {
		return Run{}, err
	}
	if res.Errors > 0 {
		return Run{}, fmt.Errorf("bench produce reported %d errors", res.Errors)
	}
	return Run{TxnSize: txnSize, RecordsPerS: res.RecordsPerS, MBPerS: res.MBPerS, P99Ms: res.Latency.P99}, nil
}
