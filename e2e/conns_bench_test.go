package e2e

// `make bench-conns` (issue 17): what 10,000 idle connections cost the real
// broker in memory and whether they slow another client, and what a client
// pipelining 1 GiB of produce requests without reading the responses makes
// the broker hold, with the default limits. Figures are recorded in
// RINGTAIL_CONNS_REPORT (JSON), never asserted; the test only runs when
// that variable is set. RINGTAIL_CONNS is the number of idle connections
// (default 10,000), RINGTAIL_PIPELINED_MIB the pipelined volume (default
// 1024). The broker runs under prlimit with room for the connections.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// latencies is round-trip times of one request kind.
type latencies struct {
	P50us, P99us int64
}

func measure(t *testing.T, c net.Conn, frame func(i int32) []byte, rounds int) latencies {
	t.Helper()
	d := make([]time.Duration, rounds)
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	for i := range d {
		start := time.Now()
		if _, err := c.Write(frame(int32(i))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readFrame(c); err != nil {
			t.Fatal(err)
		}
		d[i] = time.Since(start)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return latencies{P50us: d[rounds/2].Microseconds(), P99us: d[rounds*99/100].Microseconds()}
}

func TestBenchConnections(t *testing.T) {
	t.Parallel()
	report := os.Getenv("RINGTAIL_CONNS_REPORT")
	if report == "" {
		t.Skip("RINGTAIL_CONNS_REPORT not set: run `make bench-conns`")
	}
	conns := envInt("RINGTAIL_CONNS", 10000)
	pipelinedMiB := envInt("RINGTAIL_PIPELINED_MIB", 1024)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) not found: %v", err)
	}
	limit := conns + 1024 // each process holds one end of every connection
	n := testkit.NewNode(t, testkit.Options{})
	bin := n.Bin
	wrapper := filepath.Join(t.TempDir(), "ringtail-limited")
	script := fmt.Sprintf("#!/bin/sh\nexec %s --nofile=%d:%d %s \"$@\"\n", prlimit, limit, limit, n.Bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	n.Bin = wrapper
	n.Start()
	pid := n.PID()
	n.CreateTopic("lat", 1, nil)
	n.CreateTopic("latf", 1, nil)
	n.CreateTopic("pipelined", 1, nil)

	const rounds = 2000
	other := dialSmall(t, n)
	produce := func(i int32) []byte { return produceRequest("lat", 100, i) }
	// Fetches read the one record of latf, so that every response is the
	// same size.
	fetch := func(i int32) []byte { return fetchRequest("latf", i) }
	measure(t, other, func(i int32) []byte { return produceRequest("latf", 100, i) }, 1)
	measure(t, other, produce, 200) // warm up
	rssBefore := procStatus(t, pid, "VmRSS")
	prodBefore, fetchBefore := measure(t, other, produce, rounds), measure(t, other, fetch, rounds)

	// The idle connections: each asks for ApiVersions once, as a client
	// does, then stays silent.
	opened := time.Now()
	idle := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	apiv := kmsg.NewPtrApiVersionsRequest()
	apiv.Version = 3
	apiv.ClientSoftwareName, apiv.ClientSoftwareVersion = "idle", "1"
	hello := kmsg.NewRequestFormatter(kmsg.FormatterClientID("idle")).AppendRequest(nil, apiv, 1)
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", n.Addr(), hostileIOTimeout)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		idle = append(idle, c)
		c.SetDeadline(time.Now().Add(hostileIOTimeout))
		if _, err := c.Write(hello); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if _, _, err := readFrame(c); err != nil {
			t.Fatalf("connection %d: ApiVersions: %v", i, err)
		}
	}
	openTook := time.Since(opened)
	rssIdle := procStatus(t, pid, "VmRSS")
	prodIdle, fetchIdle := measure(t, other, produce, rounds), measure(t, other, fetch, rounds)
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	testkit.WaitFor(t, time.Minute, "the broker to close the idle connections", func() bool { return openFDs(t, pid) < 1000 })
	rssClosed := procStatus(t, pid, "VmRSS")
	t.Logf("%d idle connections (opened in %v): broker RSS %d KiB before, %d KiB with them (+%d KiB, %.1f KiB each), %d KiB after closing",
		conns, openTook.Round(time.Millisecond), rssBefore, rssIdle, rssIdle-rssBefore, float64(rssIdle-rssBefore)/float64(conns), rssClosed)
	t.Logf("another client's round trips, p50/p99 µs: produce %d/%d without, %d/%d with; fetch %d/%d without, %d/%d with",
		prodBefore.P50us, prodBefore.P99us, prodIdle.P50us, prodIdle.P99us, fetchBefore.P50us, fetchBefore.P99us, fetchIdle.P50us, fetchIdle.P99us)

	// 1 GiB of produce requests (1 MiB each) pipelined without reading:
	// first read afterwards, then behind a Fetch response that is never
	// read, so that the broker cannot answer.
	const each = 1 << 20
	count := pipelinedMiB
	c := dialSmall(t, n)
	base := resetPeakRSS(t, pid)
	start := time.Now()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	for i := 0; i < count; i++ {
		if _, err := c.Write(produceRequest("pipelined", each-200, int32(i))); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	for i := 0; i < count; i++ {
		if corr, _, err := readFrame(c); err != nil || corr != int32(i) {
			t.Fatalf("response %d: correlation id %d, %v", i, corr, err)
		}
	}
	readAfter := time.Since(start)
	peakRead := procStatus(t, pid, "VmHWM")

	preload(t, n, "unread")
	c2 := dialSmall(t, n)
	base2 := resetPeakRSS(t, pid)
	c2.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := c2.Write(fetchRequest("unread", 1<<30)); err != nil {
		t.Fatal(err)
	}
	written := 0
	for ; written < count; written++ {
		c2.SetWriteDeadline(time.Now().Add(3 * time.Second)) // back-pressure: the broker stopped reading
		if _, err := c2.Write(produceRequest("pipelined", each-200, int32(written+1))); err != nil {
			break
		}
	}
	peakUnread := procStatus(t, pid, "VmHWM")
	c2.Close()
	t.Logf("%d MiB pipelined, read afterwards: %v, broker RSS %d KiB before, peak %d KiB (+%d KiB)",
		pipelinedMiB, readAfter.Round(time.Millisecond), base, peakRead, peakRead-base)
	t.Logf("behind an unread fetch: the client wrote %d of %d MiB before the broker stopped reading; broker RSS %d KiB before, peak %d KiB (+%d KiB)",
		written, pipelinedMiB, base2, peakUnread, peakUnread-base2)

	b, _ := json.MarshalIndent(map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339), "binary": bin, "idle_connections": conns,
		"rlimit_nofile": limit, "open_seconds": openTook.Seconds(),
		"rss_kib_before": rssBefore, "rss_kib_with_idle": rssIdle, "rss_kib_after_close": rssClosed,
		"rss_kib_per_idle_connection": float64(rssIdle-rssBefore) / float64(conns),
		"produce_us_without":          prodBefore, "produce_us_with": prodIdle,
		"fetch_us_without": fetchBefore, "fetch_us_with": fetchIdle,
		"produce_p50_ratio": float64(prodIdle.P50us) / float64(max(prodBefore.P50us, 1)),
		"fetch_p50_ratio":   float64(fetchIdle.P50us) / float64(max(fetchBefore.P50us, 1)),
		"round_trips":       rounds,
		"pipelined_mib":     pipelinedMiB, "pipelined_request_bytes": each,
		"pipelined_read_after_seconds": readAfter.Seconds(), "pipelined_rss_kib_before": base, "pipelined_rss_kib_peak": peakRead,
		"unread_written_mib": written, "unread_rss_kib_before": base2, "unread_rss_kib_peak": peakUnread,
		"limits": "defaults: socket.request.max.bytes 100 MiB, queued.max.request.bytes 512 MiB, ringtail.connection_max_inflight_requests 64",
	}, "", "  ")
	if err := os.WriteFile(report, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %s", report)
}
