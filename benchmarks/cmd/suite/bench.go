package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ringtail/ringtail/benchmarks/report"
)

// load is one `ringtail bench produce|e2e` configuration.
type load struct {
	topic      string
	partitions int
	size       int    // record value bytes
	acks       string // "all" or "1"
	idempotent bool
	producers  int
	linger     time.Duration
	keyed      bool
	rf         int     // 0: the broker's default
	rate       float64 // records/s; 0: as fast as possible
}

func (l load) args() []string {
	a := []string{
		"-t", l.topic,
		"--partitions", strconv.Itoa(l.partitions),
		"-s", strconv.Itoa(l.size),
		"--acks", l.acks,
		"--idempotent=" + strconv.FormatBool(l.idempotent),
		"--producers", strconv.Itoa(l.producers),
		"--linger", l.linger.String(),
		"--rate", strconv.FormatFloat(l.rate, 'f', 0, 64),
	}
	if l.keyed {
		a = append(a, "--keyed")
	}
	if l.rf > 0 {
		a = append(a, "--replication-factor", strconv.Itoa(l.rf))
	}
	return a
}

func (l load) describe() string {
	d := fmt.Sprintf("%s records, %d partitions, acks=%s", sizeName(l.size), l.partitions, l.acks)
	if l.idempotent {
		d += ", idempotent"
	}
	if l.keyed {
		d += ", keyed"
	}
	if l.rf > 1 {
		d += fmt.Sprintf(", RF=%d", l.rf)
	}
	d += fmt.Sprintf(", %d producer(s), linger %v", l.producers, l.linger)
	if l.rate > 0 {
		d += fmt.Sprintf(", rate %.0f records/s", l.rate)
	}
	return d
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// benchResult is the final JSON line of `ringtail bench`.
type benchResult struct {
	Type         string          `json:"type"`
	Records      int64           `json:"records"`
	Bytes        int64           `json:"bytes"`
	ElapsedS     float64         `json:"elapsed_s"`
	RecordsPerS  float64         `json:"records_per_s"`
	MBPerS       float64         `json:"mb_per_s"`
	LatencyMs    *report.Latency `json:"latency_ms"`
	AckLatencyMs *report.Latency `json:"ack_latency_ms"`
	Errors       int64           `json:"errors"`
	Stopped      string          `json:"stopped"`
}

// bench runs `ringtail bench MODE --output json ARGS` against bootstrap,
// killed if it runs past limit, and returns its result line. A run that
// printed a result but exited non-zero returns both.
func (s *suite) bench(ctx context.Context, bootstrap, mode string, limit time.Duration, args ...string) (*benchResult, error) {
	full := append([]string{"bench", mode, "-b", bootstrap, "--output", "json"}, args...)
	bin := s.ringtailBin
	if s.pinNow {
		bin, full = s.pin.wrap(s.pin.load, bin, full)
	}
	out, _, err := runCmd(ctx, limit, s.repo, nil, bin, full...)
	var res *benchResult
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, `"type":"result"`) {
			continue
		}
		var r benchResult
		if json.Unmarshal([]byte(line), &r) == nil && r.Type == "result" {
			res = &r
		}
	}
	if res == nil && err == nil {
		err = fmt.Errorf("ringtail bench %s printed no result line:\n%s", mode, tail(string(out), 2000))
	}
	return res, err
}

// produceFor runs a measured produce of l for the suite's duration.
func (s *suite) produceFor(ctx context.Context, bootstrap string, l load, d time.Duration) (*benchResult, error) {
	return s.bench(ctx, bootstrap, "produce", d+2*time.Minute, append(l.args(), "--duration", d.String())...)
}

// produceCount produces n records of l (an unmeasured fill), bounded by
// limit.
func (s *suite) produceCount(ctx context.Context, bootstrap string, l load, n int64, limit time.Duration) (*benchResult, error) {
	return s.bench(ctx, bootstrap, "produce", limit+time.Minute, append(l.args(), "--count", strconv.FormatInt(n, 10), "--timeout", limit.String())...)
}

// consumeAll reads what the topic holds from the start.
func (s *suite) consumeAll(ctx context.Context, bootstrap, topic string, limit time.Duration) (*benchResult, error) {
	return s.bench(ctx, bootstrap, "consume", limit+time.Minute, "-t", topic, "--timeout", limit.String())
}

// consumeRaw reads what the topic holds by raw Fetch requests
// (`ringtail bench consume --raw`): bytes are record-batch bytes.
func (s *suite) consumeRaw(ctx context.Context, bootstrap, topic string, limit time.Duration) (*benchResult, error) {
	return s.bench(ctx, bootstrap, "consume", limit+time.Minute, "-t", topic, "--raw", "--timeout", limit.String())
}

// toRun turns a bench result into a report.Run.
func toRun(w, v string, rep int, br *benchResult) report.Run {
	r := report.Run{Workload: w, Variant: v, Rep: rep}
	if br != nil {
		r.Records, r.Bytes, r.ElapsedS = br.Records, br.Bytes, br.ElapsedS
		r.RecordsPerS, r.MBPerS, r.Errors = br.RecordsPerS, br.MBPerS, br.Errors
		r.Latency = br.LatencyMs
	}
	return r
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// summarize makes the Summary of runs (one workload variant): the median
// of each figure over the runs.
func summarize(w, v, desc string, partitions int, runs []report.Run) report.Summary {
	sm := report.Summary{Workload: w, Variant: v, Description: desc, Runs: len(runs), Partitions: partitions}
	var rps, mbps, rss, p50, p99, p999, mx []float64
	extra := map[string][]float64{}
	for _, r := range runs {
		rps = append(rps, r.RecordsPerS)
		mbps = append(mbps, r.MBPerS)
		if r.RSSMiB > 0 {
			rss = append(rss, r.RSSMiB)
		}
		if r.Latency != nil {
			p50 = append(p50, r.Latency.P50)
			p99 = append(p99, r.Latency.P99)
			p999 = append(p999, r.Latency.P999)
			mx = append(mx, r.Latency.Max)
		}
		for k, x := range r.Extra {
			extra[k] = append(extra[k], x)
		}
	}
	sm.RecordsPerS, sm.MBPerS, sm.RSSMiB = median(rps), median(mbps), median(rss)
	if len(p50) > 0 {
		sm.Latency = &report.Latency{P50: median(p50), P99: median(p99), P999: median(p999), Max: median(mx)}
	}
	if len(extra) > 0 {
		sm.Extra = map[string]float64{}
		for k, xs := range extra {
			sm.Extra[k] = median(xs)
		}
	}
	return sm
}
