package e2e

// Limits against careless and hostile clients (issue 17), against the real
// binary over raw loopback sockets: per-API request caps under
// socket.request.max.bytes, a client that pipelines produce requests and
// never reads a response (bounded by ringtail.connection_max_inflight_requests
// and queued.max.request.bytes), a client that never reads its fetch
// responses (one fetch response held, closed after connections.max.idle.ms),
// an idle connection closed after connections.max.idle.ms, and 80-byte
// hostile requests costing next to no CPU. Memory is the broker's peak RSS
// (VmHWM after resetting it through /proc/<pid>/clear_refs) with generous
// margins. A broker built with -tags ringtail_unlimited has none of the
// connection limits; the tests must fail against it:
//
//	go build -race -tags ringtail_unlimited -o /tmp/rt-unlimited ./cmd/ringtail
//	RINGTAIL_BIN=/tmp/rt-unlimited go test -race -run 'Pipelined|SlowFetch' ./e2e

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

const (
	// limitsMaxRequest is the limits node's socket.request.max.bytes,
	// limitsQueued its queued.max.request.bytes, limitsInflight its
	// ringtail.connection_max_inflight_requests, limitsIdle its
	// connections.max.idle.ms.
	limitsMaxRequest = 1 << 20
	limitsQueued     = 2 << 20
	limitsInflight   = 4
	limitsIdle       = 4 * time.Second
	// pipelinedBytes is what the careless producer sends without reading.
	pipelinedBytes = 64 << 20
	// rssMarginKB bounds the limits node's peak RSS growth in each test:
	// the limits allow a few MiB of requests or one fetch response; the
	// rest is Go's heap headroom and the race detector's shadow memory.
	// Without the limits the same tests grow by hundreds of MiB.
	rssMarginKB = 80 << 10
)

// startLimitsNode starts a node with small limits; it returns the node and
// its admin address (metrics).
func startLimitsNode(t *testing.T) (*testkit.Node, string) {
	s := map[string]string{
		"socket.request.max.bytes": fmt.Sprint(limitsMaxRequest),
		"queued.max.request.bytes": fmt.Sprint(limitsQueued),
		"connections.max.idle.ms":  fmt.Sprint(limitsIdle.Milliseconds()),
		"message.max.bytes":        fmt.Sprint(limitsMaxRequest),
	}
	r := map[string]string{
		"connection_max_inflight_requests": fmt.Sprint(limitsInflight),
		"fetch_sendfile":                   "false", // responses in memory: what a slow reader could pin
	}
	o, admin := withAdmin(t, testkit.Options{Settings: s, Ringtail: r})
	return startNode(t, o), admin
}

// resetPeakRSS resets the broker's VmHWM to its current RSS (clear_refs
// 5) and returns that RSS in KiB.
func resetPeakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the broker's peak RSS: %v", err)
	}
	return procStatus(t, pid, "VmRSS")
}

// produceRequest frames a Produce v7 (acks=1) of one batch of one record
// of valueBytes bytes to partition 0 of topic.
func produceRequest(topic string, valueBytes int, corr int32) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, 1, 30000
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = recordBatch([]string{strings.Repeat("p", valueBytes)})
	tp := kmsg.NewProduceRequestTopic()
	tp.Topic, tp.Partitions = topic, []kmsg.ProduceRequestTopicPartition{p}
	req.Topics = []kmsg.ProduceRequestTopic{tp}
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("limits")).AppendRequest(nil, req, corr)
}

// header frames a request header v1 (key, version, correlation id, client
// id "h") behind a size prefix claiming size bytes.
func header(size uint32, key, version int16) []byte {
	b := binary.BigEndian.AppendUint32(nil, size)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 1)
	return append(b, 'h')
}

// TestRequestCapsPerAPI: on a node with the default socket.request.max.bytes
// (100 MiB), a Metadata or DescribeGroups frame claiming 32 MiB + 1 and an
// ApiVersions frame claiming 1 MiB + 1 close the connection as soon as the
// header arrives (no body is sent), while an ApiVersions frame of exactly
// 1 MiB is answered and a Produce of 33 MiB is read and answered
// (MESSAGE_TOO_LARGE), not closed.
func TestRequestCapsPerAPI(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	n.CreateTopic("big", 1, nil)
	for _, c := range []struct {
		name         string
		size         uint32
		key, version int16
	}{
		{"Metadata v1 of 32 MiB + 1", 32<<20 + 1, 3, 1},
		{"DescribeGroups v0 of 32 MiB + 1", 32<<20 + 1, 15, 0},
		{"ApiVersions v0 of 1 MiB + 1", 1<<20 + 1, 18, 0},
		{"Heartbeat v0 of 1 MiB + 1", 1<<20 + 1, 12, 0},
		{"FindCoordinator v0 of 1 MiB + 1", 1<<20 + 1, 10, 0},
	} {
		if err := expectRefused(n.Addr(), header(c.size, c.key, c.version), func() error { return nil }); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	c, err := net.DialTimeout("tcp", n.Addr(), hostileIOTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(4 * hostileIOTimeout))
	// ApiVersions v0 has an empty body: the padding to 1 MiB is ignored.
	apiv := header(1<<20, 18, 0)
	apiv = append(apiv, make([]byte, 1<<20+4-len(apiv))...)
	if _, err := c.Write(apiv); err != nil {
		t.Fatal(err)
	}
	if corr, body, err := readFrame(c); err != nil || corr != 1 || len(body) < 2 || binary.BigEndian.Uint16(body) != 0 {
		t.Fatalf("ApiVersions of exactly 1 MiB: correlation id %d, %v", corr, err)
	}
	if _, err := c.Write(produceRequest("big", 33<<20, 2)); err != nil {
		t.Fatal(err)
	}
	corr, body, err := readFrame(c)
	if err != nil || corr != 2 {
		t.Fatalf("Produce of 33 MiB: correlation id %d, %v", corr, err)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 7
	if err := resp.ReadFrom(body); err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("Produce of 33 MiB: %v", err)
	}
	t.Logf("Produce of 33 MiB answered with error code %d (message.max.bytes is 1 MB)", resp.Topics[0].Partitions[0].ErrorCode)
}

// TestCarelessClientsAreBounded runs, on one node with small limits:
//
//   - an idle connection, closed after connections.max.idle.ms;
//   - a slow reader: 32 Fetch requests for 8 MB of records (read through
//     memory: fetch_sendfile off), none of whose responses is read. The
//     broker holds one fetch response, not 32, and closes the connection
//     once its write has made no progress for connections.max.idle.ms;
//   - 64 MiB of produce requests (512 KiB each) pipelined on one connection
//     without reading a response: every request is acknowledged, in order,
//     once the client reads, and the broker's peak RSS grows by a bounded
//     amount;
//   - the same behind a Fetch whose 8 MB response the client does not read
//     either, so that the broker cannot write: it reads at most 4 requests
//     (2 MiB of queued bytes) ahead and stops; the client's writes block
//     (TCP back-pressure) and the connection is closed once the response
//     has made no progress for connections.max.idle.ms. Without the limits
//     the broker reads on and holds every request it reads.
func TestCarelessClientsAreBounded(t *testing.T) {
	t.Parallel()
	n, admin := startLimitsNode(t)
	n.CreateTopic("pipelined", 1, nil)
	preload(t, n, "slow")
	const records, valueBytes = preloadRecords, preloadValueBytes
	const each = 512 << 10
	count := pipelinedBytes / each

	t.Run("idle connection", func(t *testing.T) {
		t.Parallel() // measures no memory
		c, err := net.DialTimeout("tcp", n.Addr(), hostileIOTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.SetReadDeadline(start.Add(limitsIdle + hostileIOTimeout))
		if err := expectClosed(c); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("silent connection closed after %v (connections.max.idle.ms %v)", took.Round(time.Millisecond), limitsIdle)
		if took < limitsIdle/2 {
			t.Fatalf("closed after %v, before connections.max.idle.ms (%v)", took, limitsIdle)
		}
	})

	t.Run("slow reader", func(t *testing.T) {
		const fetches = 32
		c := dialSmall(t, n)
		base := resetPeakRSS(t, n.PID())
		var reqs []byte
		for i := 0; i < fetches; i++ {
			reqs = append(reqs, fetchRequest("slow", int32(i))...)
		}
		c.SetWriteDeadline(time.Now().Add(hostileIOTimeout))
		if _, err := c.Write(reqs); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		// The first response's size prefix: all the client reads before
		// the broker gives up.
		var size [4]byte
		c.SetReadDeadline(time.Now().Add(hostileIOTimeout))
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatal(err)
		}
		first := binary.BigEndian.Uint32(size[:])
		if first < records*valueBytes {
			t.Fatalf("the first fetch response has %d bytes, want at least %d", first, records*valueBytes)
		}
		testkit.WaitFor(t, limitsIdle+2*hostileIOTimeout, "the broker to close the slow reader's connection", func() bool {
			return !brokerHolds(t, n.PID(), c)
		})
		closed := time.Since(start)
		peak := procStatus(t, n.PID(), "VmHWM")
		// What reached the client before the close: fewer than all.
		c.SetReadDeadline(time.Now().Add(hostileIOTimeout))
		got, err := io.Copy(io.Discard, c)
		if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("reading what was sent: %v", err)
		}
		t.Logf("%d fetches of %d KiB each (the first response: %d KiB), never read: connection closed after %v; %d KiB reached the client; broker RSS %d KiB before, peak %d KiB (+%d KiB; margin %d KiB)",
			fetches, records*valueBytes>>10, first>>10, closed.Round(time.Millisecond), got>>10, base, peak, peak-base, rssMarginKB)
		if got >= int64(fetches*records*valueBytes) {
			t.Fatalf("all %d responses were sent; the test did not hold them back", fetches)
		}
		checkPeak(t, base, peak)
	})
	t.Run("read afterwards", func(t *testing.T) {
		c := dialSmall(t, n)
		base := resetPeakRSS(t, n.PID())
		start := time.Now()
		c.SetWriteDeadline(start.Add(60 * time.Second))
		for i := 0; i < count; i++ {
			if _, err := c.Write(produceRequest("pipelined", each-200, int32(i))); err != nil {
				t.Fatalf("writing request %d of %d: %v", i, count, err)
			}
		}
		written := time.Since(start)
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		for i := 0; i < count; i++ {
			corr, body, err := readFrame(c)
			if err != nil || corr != int32(i) {
				t.Fatalf("response %d: correlation id %d, %v", i, corr, err)
			}
			resp := kmsg.NewPtrProduceResponse()
			resp.Version = 7
			if err := resp.ReadFrom(body); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("response %d not acknowledged: %v %+v", i, err, resp)
			}
		}
		peak := procStatus(t, n.PID(), "VmHWM")
		t.Logf("%d MiB pipelined in %d requests: written in %v, all acknowledged; broker RSS %d KiB before, peak %d KiB (+%d KiB; margin %d KiB)",
			pipelinedBytes>>20, count, written.Round(time.Millisecond), base, peak, peak-base, rssMarginKB)
		checkPeak(t, base, peak)
	})

	t.Run("behind an unread fetch", func(t *testing.T) {
		c := dialSmall(t, n)
		base := resetPeakRSS(t, n.PID())
		start := time.Now()
		c.SetWriteDeadline(start.Add(limitsIdle + 2*hostileIOTimeout))
		if _, err := c.Write(fetchRequest("slow", 1<<30)); err != nil {
			t.Fatal(err)
		}
		sent, err := 0, error(nil)
		for ; sent < count && err == nil; sent++ {
			_, err = c.Write(produceRequest("pipelined", each-200, int32(sent+1)))
		}
		t.Logf("the client wrote %d of %d requests before: %v", sent, count, err)
		testkit.WaitFor(t, limitsIdle+2*hostileIOTimeout, "the broker to close the connection", func() bool {
			return !brokerHolds(t, n.PID(), c)
		})
		peak := procStatus(t, n.PID(), "VmHWM")
		t.Logf("closed after %v; broker RSS %d KiB before, peak %d KiB (+%d KiB; margin %d KiB)",
			time.Since(start).Round(time.Millisecond), base, peak, peak-base, rssMarginKB)
		if err == nil {
			t.Errorf("all %d MiB written to a broker that could not answer: no back-pressure", pipelinedBytes>>20)
		}
		checkPeak(t, base, peak)
	})

	// Every reservation of queued.max.request.bytes is given back.
	testkit.WaitFor(t, hostileIOTimeout, "ringtail_queued_request_bytes to return to 0", func() bool {
		return metricSum(scrape(t, admin), "ringtail_queued_request_bytes", nil) == 0
	})
	if got := metricSum(scrape(t, admin), "ringtail_queued_request_bytes_limit", nil); got != limitsQueued {
		t.Fatalf("ringtail_queued_request_bytes_limit %v, want %d", got, limitsQueued)
	}
}

// checkPeak fails the test when the broker's peak RSS grew by more than
// rssMarginKB over base.
func checkPeak(t *testing.T, base, peak int64) {
	t.Helper()
	if peak-base > rssMarginKB {
		t.Fatalf("the broker's peak RSS grew by %d KiB; limits allow %d requests / %d bytes in flight and one fetch response (margin %d KiB)",
			peak-base, limitsInflight, limitsQueued, rssMarginKB)
	}
}

// dialSmall connects to n with a small receive buffer, so that an unread
// response fills it.
func dialSmall(t *testing.T, n *testkit.Node) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.Addr(), hostileIOTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	return c
}

const (
	// preloadRecords of preloadValueBytes (incompressible) are what a
	// fetch of the preloaded topic returns: 8 MB.
	preloadRecords, preloadValueBytes = 10, 800 << 10
)

// preload produces 8 MB of incompressible records to partition 0 of a new
// topic.
func preload(t *testing.T, n *testkit.Node, topic string) {
	t.Helper()
	n.CreateTopic(topic, 1, nil)
	cl := n.Client(kgo.ProducerBatchMaxBytes(limitsMaxRequest-4096), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < preloadRecords; i++ {
		v := make([]byte, preloadValueBytes)
		rand.Read(v)
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: topic, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// fetchRequest frames a Fetch v11 of partition 0 of topic from offset 0,
// up to 16 MiB, without waiting.
func fetchRequest(topic string, corr int32) []byte {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = 11, -1, 16<<20, 0
	p := kmsg.NewFetchRequestTopicPartition()
	p.PartitionMaxBytes, p.LogStartOffset, p.CurrentLeaderEpoch = 16<<20, -1, -1
	tp := kmsg.NewFetchRequestTopic()
	tp.Topic, tp.Partitions = topic, []kmsg.FetchRequestTopicPartition{p}
	req.Topics = []kmsg.FetchRequestTopic{tp}
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("limits")).AppendRequest(nil, req, corr)
}

// brokerHolds reports whether process pid has a file descriptor for the
// far end of c: the socket in /proc/net/tcp whose local address is c's
// remote and whose remote is c's local. A socket the broker has closed
// may linger in the kernel (FIN_WAIT1 behind unsent data) with no owner.
func brokerHolds(t *testing.T, pid int, c net.Conn) bool {
	t.Helper()
	local, remote := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(":%04X", remote.Port)
	peer := fmt.Sprintf(":%04X", local.Port)
	inode := ""
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasSuffix(f[1], want) && strings.HasSuffix(f[2], peer) {
			inode = f[9]
		}
	}
	if inode == "" || inode == "0" {
		return false
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil && l == "socket:["+inode+"]" {
			return true
		}
	}
	return false
}
