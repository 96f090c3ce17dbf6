// These tests prove `ringtail bench` without a broker: every bad flag value
// is refused before any connection with one line naming the flag, the
// defaults resolve as documented, the HDR summary reports ordered
// percentiles, and both output formats (JSON lines and the terminal text)
// carry what the doc comment in bench.go promises.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBenchRefusesBadFlags(t *testing.T) {
	addr := closedPort(t) // validation comes first: nothing may dial this
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"produce", "--acks", "2"}, "--acks"},
		{[]string{"produce", "--compression", "brotli"}, "want none, gzip, snappy, lz4 or zstd"},
		{[]string{"produce", "--count", "5", "--duration", "1s"}, "give --count or --duration, not both"},
		{[]string{"produce", "--count", "0"}, "--count 0"},
		{[]string{"produce", "--duration", "-1s"}, "--duration"},
		{[]string{"produce", "--record-size", "0"}, "--record-size 0: want 1 to 1000000 bytes"},
		{[]string{"produce", "--record-size", "2000000"}, "--record-size"},
		{[]string{"e2e", "--record-size", "8"}, "--record-size 8: want 16 to"},
		{[]string{"produce", "--producers", "0"}, "--producers 0"},
		{[]string{"produce", "--producers", "4", "--count", "3"}, "at least one record per producer"},
		{[]string{"produce", "--acks", "1", "--idempotent"}, "--idempotent needs --acks all"},
		{[]string{"e2e", "--rate", "-1"}, "--rate"},
		{[]string{"produce", "--key-space", "10"}, "--key-space"},
		{[]string{"produce", "--keyed", "--key-space", "-1"}, "--key-space"},
		{[]string{"produce", "--linger", "-1ms"}, "--linger"},
		{[]string{"produce", "--partitions", "0"}, "--partitions 0"},
		{[]string{"produce", "--replication-factor", "0"}, "--replication-factor 0"},
		{[]string{"produce", "--report-interval", "1ms"}, "--report-interval"},
		{[]string{"produce", "--timeout", "0s"}, "--timeout"},
		{[]string{"consume", "--output", "yaml"}, "--output \"yaml\": want auto, text or json"},
		{[]string{"consume", "--acks", "1"}, "unknown flag: --acks"},
		{[]string{"produce", "--topic", " "}, "--topic is empty"},
		{[]string{"produce", "a-topic"}, "wants no arguments"},
		{[]string{"warp"}, `unknown command "warp"`},
	} {
		args := append([]string{"bench"}, tc.args...)
		r := run(t, "", nil, append(args, "--bootstrap", addr)...)
		wantOneLineError(t, r, tc.want)
		if r.stdout != "" {
			t.Errorf("%v: printed %q before failing", tc.args, r.stdout)
		}
	}
}

func TestBenchDefaults(t *testing.T) {
	given := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, g := range names {
				if g == n {
					return true
				}
			}
			return false
		}
	}
	bf := benchFlags{topic: "t", partitions: 6, replicationFactor: -1, recordSize: 1024, timeout: time.Minute,
		acks: "all", linger: 5 * time.Millisecond, producers: 1, idempotent: true, compression: "none",
		reportInterval: time.Second, output: "auto"}

	c, err := bf.validate(benchProduce, given())
	if err != nil {
		t.Fatal(err)
	}
	if c.duration != benchDefaultDuration || c.count != 0 || !c.idempotent || c.acksName != "all" {
		t.Errorf("produce defaults: duration %s count %d idempotent %v acks %q", c.duration, c.count, c.idempotent, c.acksName)
	}
	c, err = bf.validate(benchConsume, given())
	if err != nil {
		t.Fatal(err)
	}
	if c.count != -1 || c.duration != 0 {
		t.Errorf("consume defaults: count %d duration %s, want the topic as it is (-1, 0)", c.count, c.duration)
	}
	// acks=1 turns idempotence off unless it was asked for.
	bf.acks = "1"
	bf.count = 10
	c, err = bf.validate(benchProduce, given("acks", "count"))
	if err != nil {
		t.Fatal(err)
	}
	if c.idempotent || c.acksName != "1" || c.count != 10 || c.duration != 0 {
		t.Errorf("--acks 1 --count 10: idempotent %v acks %q count %d duration %s", c.idempotent, c.acksName, c.count, c.duration)
	}
	if got := c.json().Producer; got == nil || got.Idempotent || got.Acks != "1" || got.LingerMs != 5 {
		t.Errorf("config echo: %+v", got)
	}
	if c, _ := bf.validate(benchConsume, given()); c.json().Producer != nil {
		t.Error("consume's config echo has producer settings")
	}
	// --raw reads what the topic holds: --count and --duration conflict.
	bf.raw = true
	if c, err := bf.validate(benchConsume, given()); err != nil || !c.raw || c.count != -1 {
		t.Errorf("consume --raw: raw %v count %d, %v", c.raw, c.count, err)
	}
	bf.rawConnections = 0
	if _, err := bf.validate(benchConsume, given("raw-connections")); err == nil || !strings.Contains(err.Error(), "--raw-connections 0") {
		t.Errorf("--raw-connections 0: %v", err)
	}
	if _, err := bf.validate(benchConsume, given("count")); err == nil || !strings.Contains(err.Error(), "--raw") {
		t.Errorf("consume --raw --count: %v, want an error naming --raw", err)
	}
}

func TestLatencySummary(t *testing.T) {
	h := newLatencyHist()
	if s := h.summary(); s != nil {
		t.Fatalf("empty histogram summarised as %+v, want nil", s)
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	s := h.summary()
	near := func(name string, got, want float64) {
		if d := got - want; d < -want/500 || d > want/500 { // three significant digits
			t.Errorf("%s = %v ms, want %v ms", name, got, want)
		}
	}
	if s.Samples != 1000 {
		t.Errorf("samples %d, want 1000", s.Samples)
	}
	near("p50", s.P50, 500)
	near("p99", s.P99, 990)
	near("p99.9", s.P999, 999)
	near("max", s.Max, 1000)
	if !(s.P50 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
		t.Errorf("percentiles out of order: %+v", s)
	}
	// Out of range values are clamped, not dropped.
	h.record(-time.Second)
	h.record(time.Hour)
	if s := h.summary(); s.Samples != 1002 || s.Max < float64(latencyMaxMicros)/1000*0.999 {
		t.Errorf("after clamped values: %+v", s)
	}
}

func TestBenchJSONLines(t *testing.T) {
	var out bytes.Buffer
	var m meter
	rep := &benchReporter{w: &out, start: time.Now(), m: &m}
	m.add(1000, 1<<20)
	rep.tick(time.Second)
	m.add(3000, 3<<20)
	rep.tick(3 * time.Second)
	c := benchConfig{mode: benchProduce, topic: "t", partitions: 3, replicationFactor: 1, duration: 2 * time.Second,
		timeout: time.Minute, recordSize: 1024, acksName: "all", producers: 2, idempotent: true, compressionName: "zstd"}
	res := benchResult{Type: "result", Mode: benchProduce, Records: 4000, Bytes: 4 << 20, ElapsedS: 3,
		RecordsPerS: 1333.333, MBPerS: 1.333, LatencyMs: &latencySummary{Samples: 4000, P50: 1, P99: 2, P999: 3, Max: 4},
		Stopped: "duration", Config: c.json()}
	rep.result(res)

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 2 progress and 1 result:\n%s", len(lines), out.String())
	}
	var p progressLine
	if err := json.Unmarshal([]byte(lines[1]), &p); err != nil {
		t.Fatal(err)
	}
	// Totals so far; rates over the last interval (3000 records in 2s).
	want := progressLine{Type: "progress", ElapsedS: 3, Records: 4000, Bytes: 4 << 20, RecordsPerS: 1500, MBPerS: 1.5}
	if p != want {
		t.Errorf("progress %+v, want %+v", p, want)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "mode", "records", "bytes", "elapsed_s", "records_per_s", "mb_per_s", "latency_ms", "errors", "stopped", "config"} {
		if _, ok := got[k]; !ok {
			t.Errorf("result lacks %q: %s", k, lines[2])
		}
	}
	lat := got["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p99", "p999", "max"} {
		if _, ok := lat[k].(float64); !ok {
			t.Errorf("latency_ms lacks %q: %s", k, lines[2])
		}
	}
	cfg := got["config"].(map[string]any)
	if cfg["topic"] != "t" || cfg["duration_s"] != 2.0 || cfg["producer"].(map[string]any)["compression"] != "zstd" {
		t.Errorf("config echo: %v", cfg)
	}
}

func TestBenchText(t *testing.T) {
	var out bytes.Buffer
	var m meter
	rep := &benchReporter{w: &out, text: true, start: time.Now(), m: &m,
		progress: func(time.Duration, int64) float64 { return 0.5 }}
	m.add(1234567, 1234567*100)
	rep.tick(2 * time.Second)
	line := out.String()
	if !strings.HasPrefix(line, "\r[############------------]  50%") || !strings.HasSuffix(line, "\x1b[K") || strings.Contains(line, "\n") {
		t.Errorf("progress line %q: want a bar redrawn in place", line)
	}
	if !strings.Contains(line, "1,234,567 records") {
		t.Errorf("progress line %q lacks the record count", line)
	}
	out.Reset()
	produced := int64(10)
	rep.result(benchResult{Mode: benchE2E, Records: 10, Bytes: 10240, ElapsedS: 1, RecordsPerS: 10, Stopped: "count",
		LatencyMs:    &latencySummary{Samples: 10, P50: 1.5, P99: 2.5, P999: 3.5, Max: 4.5},
		AckLatencyMs: &latencySummary{Samples: 10, P50: 0.5, P99: 0.7, P999: 0.8, Max: 0.9},
		Produced:     &produced, Config: benchConfigJSON{Topic: "t"}})
	text := out.String()
	for _, want := range []string{"\r\x1b[K", `e2e "t": 10 records`, "end-to-end", "p99.9 3.500 ms", "acknowledgement", "max 0.900 ms", "stopped: count"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPacer(t *testing.T) {
	now := time.Now()
	p := &pacer{start: now.Add(-time.Hour), perRecord: time.Millisecond}
	if !p.wait(context.Background(), 5, now.Add(time.Hour)) {
		t.Error("a record already due was held back")
	}
	p = &pacer{start: now, perRecord: time.Hour}
	if p.wait(context.Background(), 1, now.Add(time.Minute)) {
		t.Error("a record due after the end was let through")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if p.wait(ctx, 1, now.Add(2*time.Hour)) {
		t.Error("an interrupted wait let a record through")
	}
}
