// This file proves the node's systemd protocol, with the test as the
// NOTIFY_SOCKET listener: STATUS lines while it recovers its partitions,
// READY=1 only after recovery and once the Kafka listener accepts,
// WATCHDOG=1 pings while every shard makes progress, none while the
// test-only fault hook stalls a shard (and /v1/status/live says 503), pings
// again once the shard is released, and STOPPING=1 on SIGTERM.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// notifyListener is a systemd NOTIFY_SOCKET: it receives the node's
// datagrams and hands out their lines in order.
type notifyListener struct {
	path string
	conn *net.UnixConn
	msgs chan string

	mu      sync.Mutex
	all     []string      // every line so far, for failure messages
	onReady func() string // run when READY=1 arrives; its answer is queued after it
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	nl := &notifyListener{path: path, conn: conn, msgs: make(chan string, 1<<16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				nl.mu.Lock()
				nl.all = append(nl.all, line)
				hook := nl.onReady
				nl.mu.Unlock()
				nl.msgs <- line
				if line == "READY=1" && hook != nil {
					nl.msgs <- "test: on READY: " + hook()
				}
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return nl
}

func (nl *notifyListener) history() string {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	return strings.Join(nl.all, "\n")
}

// expect reads lines until one satisfies match, returning the lines read
// (the match last); it fails the test if none does within timeout.
func (nl *notifyListener) expect(t *testing.T, what string, timeout time.Duration, match func(string) bool) []string {
	t.Helper()
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case m := <-nl.msgs:
			seen = append(seen, m)
			if match(m) {
				return seen
			}
		case <-deadline:
			t.Fatalf("no %s within %v; notifications so far:\n%s", what, timeout, nl.history())
		}
	}
}

// expectNone fails the test if a line satisfying match arrives within d.
func (nl *notifyListener) expectNone(t *testing.T, what string, d time.Duration, match func(string) bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-nl.msgs:
			if match(m) {
				t.Fatalf("got %s (%q) within %v; notifications so far:\n%s", what, m, d, nl.history())
			}
		case <-deadline:
			return
		}
	}
}

func is(s string) func(string) bool { return func(m string) bool { return m == s } }

func hasPrefix(p string) func(string) bool {
	return func(m string) bool { return strings.HasPrefix(m, p) }
}

func TestSystemdNotifyAndWatchdog(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	const watchdogUsec = 1500000 // pings every 0.5 s
	nl := listenNotify(t)
	// The e2e tests do not run in parallel, so the environment (which
	// testkit passes to the node) is this test's alone.
	t.Setenv("NOTIFY_SOCKET", nl.path)
	t.Setenv("WATCHDOG_USEC", fmt.Sprint(watchdogUsec))
	t.Setenv("RINGTAIL_TEST_FAULTS", "1")
	o, adminAddr := withAdmin(t, testkit.Options{Ringtail: map[string]string{"shards": "2"}})
	n := testkit.NewNode(t, o)

	// A first start makes partitions for the second one to recover.
	n.Start()
	nl.expect(t, "READY=1 on the first start", time.Minute, is("READY=1"))
	n.CreateTopic("sd-notify", 3, nil)
	cl := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	produceN(t, cl, "sd-notify", "v", 100)
	cl.Close()
	n.Stop()
	nl.expect(t, "STOPPING=1 on SIGTERM", 30*time.Second, is("STOPPING=1"))

	// When READY=1 arrives, the Kafka listener must already accept and the
	// admin server must already say ready.
	nl.mu.Lock()
	nl.onReady = func() string {
		c, err := net.DialTimeout("tcp", n.Addr(), 5*time.Second)
		if err != nil {
			return "kafka listener: " + err.Error()
		}
		c.Close()
		resp, err := adminHTTP.Get("http://" + adminAddr + "/v1/status/ready")
		if err != nil {
			return "ready probe: " + err.Error()
		}
		resp.Body.Close()
		return fmt.Sprintf("ok (ready probe %d)", resp.StatusCode)
	}
	nl.mu.Unlock()
	n.Start()
	seen := nl.expect(t, "READY=1 on the second start", time.Minute, is("READY=1"))
	lastRecovering := ""
	for _, m := range seen {
		if strings.HasPrefix(m, "STATUS=recovering ") {
			lastRecovering = m
		}
	}
	// 3 partitions of sd-notify and 50 of __consumer_offsets.
	if lastRecovering != "STATUS=recovering 53/53 partitions" {
		t.Fatalf("before READY=1 the last recovery status was %q, want all 53 partitions; notifications:\n%s", lastRecovering, strings.Join(seen, "\n"))
	}
	if got := nl.expect(t, "the on-READY check", 10*time.Second, hasPrefix("test: on READY: ")); got[len(got)-1] != "test: on READY: ok (ready probe 200)" {
		t.Fatalf("at READY=1: %s", got[len(got)-1])
	}

	// Pings while healthy.
	for i := 0; i < 3; i++ {
		nl.expect(t, "WATCHDOG=1 while healthy", 10*time.Second, is("WATCHDOG=1"))
	}
	if code, body := httpDo(t, http.MethodGet, "http://"+adminAddr+"/v1/status/live"); code != http.StatusOK {
		t.Fatalf("live while healthy: %d %s", code, body)
	}

	// A stalled shard stops the pings.
	if code, body := httpDo(t, http.MethodPost, "http://"+adminAddr+"/debug/fault/stall-shard?shard=1"); code != http.StatusOK {
		t.Fatalf("stall-shard: %d %s", code, body)
	}
	nl.expect(t, "STATUS=unhealthy after stalling shard 1", 15*time.Second, hasPrefix("STATUS=unhealthy: shard 1 made no progress"))
	nl.expectNone(t, "WATCHDOG=1 while shard 1 is stalled", 2*time.Duration(watchdogUsec)*time.Microsecond, is("WATCHDOG=1"))
	if code, body := httpDo(t, http.MethodGet, "http://"+adminAddr+"/v1/status/live"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shard 1") {
		t.Fatalf("live while shard 1 is stalled: %d %s, want 503 naming shard 1", code, body)
	}

	// Released, it pings again, and the node still serves.
	if code, body := httpDo(t, http.MethodPost, "http://"+adminAddr+"/debug/fault/unstall-shard?shard=1"); code != http.StatusOK {
		t.Fatalf("unstall-shard: %d %s", code, body)
	}
	nl.expect(t, "WATCHDOG=1 after releasing shard 1", 15*time.Second, is("WATCHDOG=1"))
	if code, body := httpDo(t, http.MethodGet, "http://"+adminAddr+"/v1/status/live"); code != http.StatusOK {
		t.Fatalf("live after release: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl = n.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sd-notify", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after release: %v", err)
	}
	cl.Close()

	n.Stop()
	nl.expect(t, "STOPPING=1 on the second SIGTERM", 30*time.Second, is("STOPPING=1"))
}
