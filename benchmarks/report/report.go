package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Target ids, in the order the report lists them.
const (
	TargetAFio    = "a-fio"
	TargetAKfake  = "a-kfake"
	TargetBKfake  = "b-kfake"
	TargetCKfake  = "c-kfake"
	TargetCIperf  = "c-iperf"
	TargetDP99    = "d-p99"
	TargetDP999   = "d-p999"
	TargetE1000   = "e-1000"
	TargetE10000  = "e-10000"
	notMeasured   = "not measured"
	mibPerGbps    = 1e9 / 8 / (1 << 20) // MiB/s in one gigabit/s
	avgWriteBytes = "avg_write_bytes"
)

// TargetIDs lists every target Evaluate computes, in report order.
var TargetIDs = []string{
	TargetAFio, TargetAKfake, TargetBKfake, TargetCKfake, TargetCIperf,
	TargetDP99, TargetDP999, TargetD10kP99, TargetD10kP999, TargetE1000, TargetE10000, TargetE100000,
	TargetACPU, TargetCCPU, TargetCRawIperf, TargetShards, TargetF,
}

// Evaluate fills in what the suite leaves to the report: each
// Comparison's Ratio and Wins where the suite left Ratio 0, and
// r.Targets, one per issue-5 target (TargetIDs), from r.Summaries and
// r.Limits. A target whose inputs are missing is Met=false with Measured
// "not measured". notes maps a target id to the sentence explaining why
// it was missed; a missed target takes its note from notes, or keeps the
// note it already had in r.Targets. notes may be nil.
func Evaluate(r *Results, notes map[string]string) {
	for i := range r.Comparisons {
		c := &r.Comparisons[i]
		if c.Ratio == 0 && c.WithoutMBps > 0 {
			c.Ratio = c.WithMBps / c.WithoutMBps
			c.Wins = c.Ratio > 1
		}
	}

	previous := map[string]string{}
	for _, t := range r.Targets {
		if t.Note != "" {
			previous[t.ID] = t.Note
		}
	}
	r.Targets = []Target{
		targetAFio(r),
		targetRatio(r, TargetAKfake, "Workload (a), produce with acks=all: Ringtail against kfake",
			"a", "ringtail", "kfake", 1.0, true),
		targetRatio(r, TargetBKfake, "Workload (b): Ringtail against kfake",
			"b", "ringtail", "kfake", 1.0, false),
		targetRatio(r, TargetCKfake, "Workload (c), warm consume: Ringtail against kfake",
			"c", "warm", "kfake", 1.5, false),
		targetCIperf(r),
		targetDP99(r),
		targetDP999(r),
		targetD10kP99(r),
		targetD10kP999(r),
		targetE1000(r),
		targetManyPartitions(r, TargetE10000, 10000, "Workload (e): 10,000 partitions on one node in the machine's open file limit (20,000 here), with RSS and start-up time",
			"runs (records/s > 0), reports RSS, idle RSS per partition and start-up time"),
		targetManyPartitions(r, TargetE100000, 100000, "Workload (e): 100,000 partitions on one node in the machine's open file limit, with RSS and start-up time",
			"runs (records/s > 0), reports RSS, idle RSS per partition and start-up time"),
		targetCPU(r, TargetACPU, "Workload (a): broker CPU per GiB produced against kfake's on the same run", "a", "ringtail", ExtraCPUProduced),
		targetCPU(r, TargetCCPU, "Workload (c), warm consume: broker CPU per GiB consumed against kfake's on the same run", "c", "warm", ExtraCPUConsumed),
		targetCRawIperf(r),
		targetShards(r),
		targetF(r),
	}
	for i := range r.Targets {
		t := &r.Targets[i]
		if t.Met {
			t.Note = ""
			continue
		}
		if n, ok := notes[t.ID]; ok && n != "" {
			t.Note = n
		} else {
			t.Note = previous[t.ID]
		}
	}
}

// Find returns the summary of workload w, variant v, or nil.
func (r *Results) Find(w, v string) *Summary {
	for i := range r.Summaries {
		if r.Summaries[i].Workload == w && r.Summaries[i].Variant == v {
			return &r.Summaries[i]
		}
	}
	return nil
}

func targetAFio(r *Results) Target {
	t := Target{
		ID:          TargetAFio,
		Description: "Workload (a) produce throughput against the disk: fio sequential writes with an fdatasync after each, at the same write size",
		Target:      "≥ 80% of fio's fdatasync'd sequential write MiB/s at the same write size",
		Measured:    notMeasured,
	}
	fio, ok := pickFio(r.Limits.Fio, r.Find("a", "ringtail"))
	if ok {
		t.Target = fmt.Sprintf("≥ 80%% of fio %s MiB/s at %s writes", fmtNum(fio.MBPerS), fmtBytes(fio.BlockBytes))
	}
	s := r.Find("a", "ringtail")
	if s == nil || !ok || fio.MBPerS <= 0 {
		return t
	}
	frac := s.MBPerS / fio.MBPerS
	t.Measured = fmt.Sprintf("%s MiB/s = %.0f%%", fmtNum(s.MBPerS), frac*100)
	t.Met = frac >= 0.8
	return t
}

// pickFio is the fio entry whose write size is closest to workload (a)'s
// average write (Extra["avg_write_bytes"]), or the largest when that is
// not known.
func pickFio(fio []FioWrite, a *Summary) (FioWrite, bool) {
	if len(fio) == 0 {
		return FioWrite{}, false
	}
	if a != nil && a.Extra[avgWriteBytes] > 0 {
		want := a.Extra[avgWriteBytes]
		best := fio[0]
		for _, f := range fio[1:] {
			if math.Abs(float64(f.BlockBytes)-want) < math.Abs(float64(best.BlockBytes)-want) {
				best = f
			}
		}
		return best, true
	}
	best := fio[0]
	for _, f := range fio[1:] {
		if f.BlockBytes > best.BlockBytes {
			best = f
		}
	}
	return best, true
}

// targetRatio: w/with MB/s against factor × w/without MB/s; strict asks
// for more than, otherwise at least.
func targetRatio(r *Results, id, desc, w, with, without string, factor float64, strict bool) Target {
	op := "≥"
	if strict {
		op = ">"
	}
	ref := fmt.Sprintf("%s/%s", w, without)
	t := Target{ID: id, Description: desc, Measured: notMeasured}
	scale := fmt.Sprintf("%.1f × ", factor)
	if factor == 1 && strict {
		scale = ""
	}
	ws, wo := r.Find(w, with), r.Find(w, without)
	switch {
	case wo == nil || wo.MBPerS <= 0:
		t.Target = fmt.Sprintf("%s %s%s MiB/s", op, scale, ref)
	case factor == 1:
		t.Target = fmt.Sprintf("%s %s%s %s MiB/s", op, scale, ref, fmtNum(wo.MBPerS))
	default:
		t.Target = fmt.Sprintf("%s %s%s %s MiB/s = %s MiB/s", op, scale, ref, fmtNum(wo.MBPerS), fmtNum(factor*wo.MBPerS))
	}
	if ws == nil || wo == nil || wo.MBPerS <= 0 {
		return t
	}
	ratio := ws.MBPerS / wo.MBPerS
	t.Measured = fmt.Sprintf("%s/%s %s MiB/s = %.2f×", w, with, fmtNum(ws.MBPerS), ratio)
	if strict {
		t.Met = ws.MBPerS > factor*wo.MBPerS
	} else {
		t.Met = ws.MBPerS >= factor*wo.MBPerS
	}
	return t
}

func targetCIperf(r *Results) Target {
	t := Target{
		ID:          TargetCIperf,
		Description: "Workload (c), warm consume, against iperf3 TCP over loopback",
		Target:      "≥ 60% of iperf3 loopback",
		Measured:    notMeasured,
	}
	iperf := r.Limits.IperfGbps * mibPerGbps
	if iperf > 0 {
		t.Target = fmt.Sprintf("≥ 60%% of iperf3 loopback %s Gbit/s = %s MiB/s", fmtNum(r.Limits.IperfGbps), fmtNum(iperf))
	}
	s := r.Find("c", "warm")
	if s == nil || iperf <= 0 {
		return t
	}
	frac := s.MBPerS / iperf
	t.Measured = fmt.Sprintf("%s MiB/s = %.0f%%", fmtNum(s.MBPerS), frac*100)
	t.Met = frac >= 0.6
	return t
}

func targetDP99(r *Results) Target {
	return targetP99(r, TargetDP99, "ringtail", "Workload (d) latency p99 against the disk's own fdatasync p99")
}

func targetDP999(r *Results) Target {
	return targetP999(r, TargetDP999, "ringtail", "Workload (d) latency tail: p99.9 against its own p99")
}

// targetP99: d/variant's e2e p99 at most fio's fdatasync p99 + 2 ms.
func targetP99(r *Results, id, variant, desc string) Target {
	t := Target{ID: id, Description: desc, Target: "p99 ≤ fio fdatasync p99 + 2 ms", Measured: notMeasured}
	f := r.Limits.FsyncLatencyMs
	if f != nil {
		t.Target = fmt.Sprintf("p99 ≤ fio fdatasync p99 %s ms + 2 ms = %s ms", fmtNum(f.P99), fmtNum(f.P99+2))
	}
	s := r.Find("d", variant)
	if s == nil || s.Latency == nil || f == nil {
		return t
	}
	t.Measured = fmt.Sprintf("p99 %s ms", fmtNum(s.Latency.P99))
	if variant != "ringtail" {
		t.Measured += fmt.Sprintf(" (p50 %s ms)", fmtNum(s.Latency.P50))
	}
	t.Met = s.Latency.P99 <= f.P99+2
	return t
}

// targetP999: d/variant's p99.9 at most 3 × its p99.
func targetP999(r *Results, id, variant, desc string) Target {
	t := Target{ID: id, Description: desc, Target: "p99.9 ≤ 3 × p99", Measured: notMeasured}
	s := r.Find("d", variant)
	if s == nil || s.Latency == nil || s.Latency.P99 <= 0 {
		return t
	}
	l := s.Latency
	t.Target = fmt.Sprintf("p99.9 ≤ 3 × p99 (%s ms) = %s ms", fmtNum(l.P99), fmtNum(3*l.P99))
	t.Measured = fmt.Sprintf("p99.9 %s ms = %.1f × p99", fmtNum(l.P999), l.P999/l.P99)
	t.Met = l.P999 <= 3*l.P99
	return t
}

func targetE1000(r *Results) Target {
	t := Target{
		ID:          TargetE1000,
		Description: "Workload (e): throughput with 1,000 partitions against 8",
		Target:      "≥ 70% of e/partitions-8 records/s",
		Measured:    notMeasured,
	}
	p8, p1000 := r.Find("e", "partitions-8"), r.Find("e", "partitions-1000")
	if p8 != nil && p8.RecordsPerS > 0 {
		t.Target = fmt.Sprintf("≥ 70%% of e/partitions-8 %s records/s", fmtCount(p8.RecordsPerS))
	}
	if p8 == nil || p1000 == nil || p8.RecordsPerS <= 0 {
		return t
	}
	frac := p1000.RecordsPerS / p8.RecordsPerS
	t.Measured = fmt.Sprintf("%s records/s = %.0f%%", fmtCount(p1000.RecordsPerS), frac*100)
	t.Met = frac >= 0.7
	return t
}

// fmtNum prints a figure with about three significant digits.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.01 || a == 0:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

// fmtCount prints a rate such as records/s with thousands separators.
func fmtCount(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtBytes prints a write size: 4096 → "4 KiB".
func fmtBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// Write writes dir/results.json (indented), dir/README.md (the markdown
// report) and the PNG plots throughput.png, latency.png, partitions.png
// and sidebyside.png. A plot without data is not drawn (an older file of
// that name is removed) and README.md says so. It does not call Evaluate.
func Write(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	plots, err := writePlots(dir, r)
	if err != nil {
		return err
	}
	md := Markdown(r, plots)
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(md), 0o644)
}

// ReadResults reads a results.json.
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	return &r, nil
}
