// This file proves `ringtail bench` works against a running node, as a smoke
// run of a few seconds (the benchmarks themselves never run in CI): produce
// for two seconds, consume what was produced, and an e2e run at a fixed
// rate, each printing JSON lines whose result counts the records and
// carries ordered latency percentiles.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/testkit"
)

// benchLine is one JSON line of `ringtail bench`, progress or result.
type benchLine struct {
	Type         string        `json:"type"`
	Mode         string        `json:"mode"`
	ElapsedS     float64       `json:"elapsed_s"`
	Records      int64         `json:"records"`
	Bytes        int64         `json:"bytes"`
	RecordsPerS  float64       `json:"records_per_s"`
	MBPerS       float64       `json:"mb_per_s"`
	LatencyMs    *benchLatency `json:"latency_ms"`
	AckLatencyMs *benchLatency `json:"ack_latency_ms"`
	Produced     *int64        `json:"produced"`
	Errors       int64         `json:"errors"`
	Stopped      string        `json:"stopped"`
	Raw          *struct {
		Connections int   `json:"connections"`
		Responses   int64 `json:"responses"`
		WireBytes   int64 `json:"wire_bytes"`
	} `json:"raw"`
	Config struct {
		Topic    string `json:"topic"`
		Producer *struct {
			RecordSize int `json:"record_size"`
		} `json:"producer"`
	} `json:"config"`
}

type benchLatency struct {
	Samples int64    `json:"samples"`
	P50     *float64 `json:"p50"`
	P99     *float64 `json:"p99"`
	P999    *float64 `json:"p999"`
	Max     *float64 `json:"max"`
}

// runBench runs `ringtail bench ARGS` against n and returns its progress
// lines and its result, which must be the last line.
func runBench(t *testing.T, n *testkit.Node, args ...string) ([]benchLine, benchLine) {
	t.Helper()
	cmd := exec.Command(n.Bin, append(append([]string{"bench"}, args...), "--bootstrap", n.Addr(), "--report-interval", "200ms")...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ringtail bench %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	var progress []benchLine
	var result *benchLine
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if result != nil {
			t.Fatalf("bench %s: a line after the result: %s", args[0], sc.Text())
		}
		var l benchLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bench %s: line %q is not JSON: %v", args[0], sc.Text(), err)
		}
		switch l.Type {
		case "progress":
			progress = append(progress, l)
		case "result":
			result = &l
		default:
			t.Fatalf("bench %s: line of type %q: %s", args[0], l.Type, sc.Text())
		}
	}
	if result == nil {
		t.Fatalf("bench %s printed no result:\n%s", args[0], out.String())
	}
	t.Logf("bench %s: %d records in %.2fs (%.0f records/s, %.1f MB/s), stopped: %s",
		args[0], result.Records, result.ElapsedS, result.RecordsPerS, result.MBPerS, result.Stopped)
	if result.Errors != 0 || result.Records <= 0 || result.Bytes <= 0 || result.RecordsPerS <= 0 || result.ElapsedS <= 0 {
		t.Fatalf("bench %s result: %+v", args[0], *result)
	}
	return progress, *result
}

func checkLatency(t *testing.T, what string, l *benchLatency, samples int64) {
	t.Helper()
	if l == nil || l.P50 == nil || l.P99 == nil || l.P999 == nil || l.Max == nil {
		t.Fatalf("%s: latency percentiles missing: %+v", what, l)
	}
	if l.Samples != samples {
		t.Errorf("%s: %d latency samples, want one per record (%d)", what, l.Samples, samples)
	}
	if !(0 < *l.P50 && *l.P50 <= *l.P99 && *l.P99 <= *l.P999 && *l.P999 <= *l.Max) {
		t.Errorf("%s: latency percentiles not 0 < p50 <= p99 <= p99.9 <= max: p50 %v p99 %v p99.9 %v max %v",
			what, *l.P50, *l.P99, *l.P999, *l.Max)
	}
}

func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})

	// produce: two seconds (capped at 20,000 records/s so that the
	// consume below stays short under -race); the tool creates the topic.
	progress, res := runBench(t, n, "produce", "--topic", "bench-smoke", "--partitions", "3",
		"--duration", "2s", "--rate", "20000", "--record-size", "200", "--producers", "2")
	if res.Mode != "produce" || res.Stopped != "duration" || res.Config.Topic != "bench-smoke" {
		t.Errorf("produce result: %+v", res)
	}
	if res.Bytes != res.Records*200 {
		t.Errorf("produce: %d bytes for %d records of 200 bytes", res.Bytes, res.Records)
	}
	if len(progress) == 0 || progress[len(progress)-1].Records > res.Records {
		t.Errorf("produce: progress lines %+v do not lead up to the result's %d records", progress, res.Records)
	}
	checkLatency(t, "produce", res.LatencyMs, res.Records)
	produced := res.Records
	if desc := runCLI(t, n, "", "topic", "describe", "bench-smoke"); !strings.Contains(desc, "bench-smoke") {
		t.Fatalf("the bench topic was not created:\n%s", desc)
	}

	// consume: by default exactly what the topic holds.
	_, res = runBench(t, n, "consume", "--topic", "bench-smoke")
	if res.Mode != "consume" || res.Stopped != "count" || res.Records != produced || res.Bytes != produced*200 {
		t.Errorf("consume read %d records, %d bytes (stopped: %s); %d were produced", res.Records, res.Bytes, res.Stopped, produced)
	}
	if res.LatencyMs != nil {
		t.Errorf("consume reported a latency: %+v", res.LatencyMs)
	}

	// consume --raw: the same records by raw Fetch requests, counted from
	// the batch headers; its bytes are whole batches, so above the values'.
	_, res = runBench(t, n, "consume", "--raw", "--topic", "bench-smoke")
	if res.Mode != "consume" || res.Stopped != "count" || res.Records != produced || res.Bytes <= produced*200 || res.Bytes > produced*(200+100) {
		t.Errorf("consume --raw read %d records, %d bytes (stopped: %s); %d records of 200 bytes were produced", res.Records, res.Bytes, res.Stopped, produced)
	}
	if res.Raw == nil || res.Raw.Responses < 1 || res.Raw.WireBytes < res.Bytes || res.Raw.Connections != 1 {
		t.Errorf("consume --raw: raw figures %+v for %d batch bytes", res.Raw, res.Bytes)
	}
	// Three partitions over two connections: the same records.
	_, res2 := runBench(t, n, "consume", "--raw", "--raw-connections", "2", "--topic", "bench-smoke")
	if res2.Records != produced || res2.Bytes != res.Bytes || res2.Raw == nil || res2.Raw.Connections != 2 {
		t.Errorf("consume --raw --raw-connections 2: %d records, %d bytes, raw %+v; want %d records, %d bytes, 2 connections", res2.Records, res2.Bytes, res2.Raw, produced, res.Bytes)
	}

	// e2e: a fixed count at a fixed rate, keyed and compressed, on the same
	// topic: the consumer must see exactly this run's records.
	_, res = runBench(t, n, "e2e", "--topic", "bench-smoke", "--count", "2000", "--rate", "2000",
		"--producers", "2", "--keyed", "--compression", "snappy", "--record-size", "100")
	if res.Mode != "e2e" || res.Stopped != "count" || res.Records != 2000 || res.Produced == nil || *res.Produced != 2000 {
		t.Errorf("e2e result: records %d, produced %v, stopped %s", res.Records, res.Produced, res.Stopped)
	}
	if res.Config.Producer == nil || res.Config.Producer.RecordSize != 100 || res.Bytes != 2000*(100+8) {
		t.Errorf("e2e: %d bytes for 2000 records of 100 bytes and 8-byte keys; config %+v", res.Bytes, res.Config.Producer)
	}
	checkLatency(t, "e2e end-to-end", res.LatencyMs, 2000)
	checkLatency(t, "e2e acknowledgement", res.AckLatencyMs, 2000)
	// Records arrive at 2000/s over about a second; faster would mean the
	// rate was not applied.
	if res.ElapsedS < 0.9 {
		t.Errorf("e2e: 2000 records at --rate 2000 took %.3fs", res.ElapsedS)
	}
}
