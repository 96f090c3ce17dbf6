// This file proves client quotas and connection limits on the real binary
// with real clients: a producer held to 1 MiB/s by its quota measures
// 1 MiB/s ± 10% (over 40 s, so that the 2 s window's bursts at the
// interval's edges stay small) while an unthrottled producer keeps its
// rate and the throttled one sees throttle_time_ms (the acceptance); a
// consumer over consumer_byte_rate is throttled yet reads everything;
// quotas set on one node of three are described by another; and
// max.connections.per.ip closes the connection over the limit.
package e2e

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// throttleHook counts the throttles a client is told about.
type throttleHook struct{ n, maxMs atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.n.Add(1)
	for {
		cur := h.maxMs.Load()
		if d.Milliseconds() <= cur || h.maxMs.CompareAndSwap(cur, d.Milliseconds()) {
			return
		}
	}
}

// ackMeter counts the acknowledged bytes of records acknowledged within
// [from, to).
type ackMeter struct {
	mu       sync.Mutex
	from, to time.Time
	bytes    int64
	perSec   []int64 // acknowledged bytes in each second from from
	failed   atomic.Int64
}

func (m *ackMeter) ack(r *kgo.Record, err error) {
	if err != nil {
		m.failed.Add(1)
		return
	}
	now := time.Now()
	m.mu.Lock()
	if !now.Before(m.from) && now.Before(m.to) {
		m.bytes += int64(len(r.Value))
		sec := int(now.Sub(m.from) / time.Second)
		for len(m.perSec) <= sec {
			m.perSec = append(m.perSec, 0)
		}
		m.perSec[sec] += int64(len(r.Value))
	}
	m.mu.Unlock()
}

func (m *ackMeter) rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return float64(m.bytes) / m.to.Sub(m.from).Seconds()
}

func (m *ackMeter) kibPerSecond() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int64, len(m.perSec))
	for i, b := range m.perSec {
		out[i] = b >> 10
	}
	return out
}

// produceFlatOut produces 16 KiB records to topic as fast as the client
// takes them until stop, counting acknowledged bytes in meter. The loop is
// bounded by stop and by maxRecords.
func produceFlatOut(t *testing.T, cl *kgo.Client, topic string, stop time.Time, meter *ackMeter) {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), stop)
	defer cancel()
	value := randomBytes(16 << 10)
	const maxRecords = 1 << 20
	for i := 0; i < maxRecords && ctx.Err() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, meter.ack)
	}
}

const mib = 1 << 20

// randomBytes is n incompressible bytes: quotas count bytes on the wire.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

func TestQuotaProducerHeldToItsRate(t *testing.T) {
	t.Parallel()
	// quota.window.num = 2: Kafka's rate over 2 one-second samples. With
	// the default 11, a producer flat out gets 10 s of quota in one burst
	// and then a throttle of seconds, so its rate over any 20 s swings by
	// tens of percent (quota.TestSteadyLoadIsHeldToQuota holds the default
	// over a longer run on a fake clock).
	n := startNode(t, testkit.Options{Settings: map[string]string{"quota.window.num": "2"}})
	n.CreateTopic("quota-slow", 1, nil)
	n.CreateTopic("quota-free", 1, nil)
	out := runCLI(t, n, "", "quota", "set", "--client-id", "throttled", "--producer-byte-rate", "1048576")
	if !strings.Contains(out, "done") {
		t.Fatalf("quota set: %s", out)
	}
	if out := runCLI(t, n, "", "quota", "list"); !strings.Contains(out, "client-id=throttled producer_byte_rate=1048576") {
		t.Fatalf("quota list: %q", out)
	}
	opts := func(id string, h *throttleHook) []kgo.Opt {
		// One produce request at a time, of at most 64 KiB: with several
		// in flight, a client sends on while its first throttle is on its
		// way back.
		return []kgo.Opt{kgo.ClientID(id), kgo.WithHooks(h), kgo.ProducerBatchMaxBytes(64 << 10), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.MaxProduceRequestsInflightPerBroker(1),
			kgo.MaxBufferedRecords(256), kgo.RecordDeliveryTimeout(60 * time.Second)}
	}
	// The unthrottled producer alone: its own rate.
	var freeHook, slowHook throttleHook
	solo := &ackMeter{from: time.Now().Add(time.Second)}
	solo.to = solo.from.Add(4 * time.Second)
	free := n.Client(opts("free", &freeHook)...)
	produceFlatOut(t, free, "quota-free", solo.to, solo)
	soloRate := solo.rate()
	t.Logf("unthrottled producer alone: %.1f MiB/s", soloRate/mib)

	// Both at once: 3 s of warm-up, then 20 s measured for the
	// unthrottled producer and 40 s for the throttled one. A 2 s quota
	// window lets a client run up to a window's worth ahead of or behind
	// its quota at any instant (the throttled one's seconds range from 0
	// to 2 MiB), so the measured interval's edges move its rate by up to
	// 2 MiB over the interval: 5% over 40 s.
	start := time.Now().Add(3 * time.Second)
	slowM := &ackMeter{from: start, to: start.Add(40 * time.Second)}
	freeM := &ackMeter{from: start, to: start.Add(20 * time.Second)}
	slow := n.Client(opts("throttled", &slowHook)...)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); produceFlatOut(t, slow, "quota-slow", slowM.to, slowM) }()
	go func() { defer wg.Done(); produceFlatOut(t, free, "quota-free", freeM.to, freeM) }()
	wg.Wait()
	slowRate, freeRate := slowM.rate(), freeM.rate()
	t.Logf("throttled %.3f MiB/s over 40 s (%d throttles, max %d ms; KiB per second %v), unthrottled %.1f MiB/s over 20 s", slowRate/mib, slowHook.n.Load(), slowHook.maxMs.Load(), slowM.kibPerSecond(), freeRate/mib)
	if slowRate < 0.9*mib || slowRate > 1.1*mib {
		t.Errorf("throttled producer: %.3f MiB/s, want 1 MiB/s ± 10%%; KiB acknowledged in each second: %v", slowRate/mib, slowM.kibPerSecond())
	}
	if slowHook.n.Load() == 0 {
		t.Error("the throttled producer never saw throttle_time_ms")
	}
	if freeHook.n.Load() != 0 {
		t.Errorf("the unthrottled producer saw %d throttles", freeHook.n.Load())
	}
	// Not held near the quota: well above it where the box allows.
	if soloRate > 6*mib && freeRate < 3*mib || soloRate <= 6*mib && freeRate < soloRate/2 {
		t.Errorf("unthrottled producer: %.1f MiB/s beside the throttled one, %.1f MiB/s alone", freeRate/mib, soloRate/mib)
	}
	if slowM.failed.Load() > 0 && slowM.bytes == 0 {
		t.Errorf("throttled producer: %d records failed", slowM.failed.Load())
	}
}

func TestQuotaConsumerThrottledReadsEverything(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{Settings: map[string]string{"quota.window.num": "2"}})
	n.CreateTopic("quota-read", 1, nil)
	p := n.Client(kgo.DefaultProduceTopic("quota-read"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const records = 96
	value := randomBytes(32 << 10) // 3 MiB in all, as it goes on the wire
	for i := 0; i < records; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := n.Admin().AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("slow-reader")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 512 << 10}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %v", err, res)
	}
	var hook throttleHook
	c := n.Client(kgo.ClientID("slow-reader"), kgo.WithHooks(&hook), kgo.ConsumeTopics("quota-read"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < records {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", got, records, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		got += fs.NumRecords()
	}
	if got != records {
		t.Fatalf("consumed %d records, want %d", got, records)
	}
	if hook.n.Load() == 0 {
		t.Fatal("3 MiB read under a 512 KiB/s quota was never throttled")
	}
}

func TestQuotaAlteredOnOneNodeDescribedOnAnother(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := testkit.StartCluster(t, 3, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	one := kadm.NewClient(c.Node(1).Client())
	res, err := one.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "user", Name: kadm.StringPtr("alice")}, {Type: "client-id"}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 2048}, {Key: "request_percentage", Value: 25}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter on node 1: %v %v", err, res)
	}
	three := c.Node(3).Client()
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	req.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0, Match: kadm.StringPtr("alice")}}
	testkit.WaitFor(t, 30*time.Second, "node 3 to describe the quota set on node 1", func() bool {
		resp, err := req.RequestWith(ctx, three.Broker(3))
		if err != nil || resp.ErrorCode != 0 || len(resp.Entries) != 1 {
			return false
		}
		vals := map[string]float64{}
		for _, v := range resp.Entries[0].Values {
			vals[v.Key] = v.Value
		}
		return vals["producer_byte_rate"] == 2048 && vals["request_percentage"] == 25
	})
	// Removed through node 2, gone everywhere.
	two := kadm.NewClient(c.Node(2).Client())
	res, err = two.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "user", Name: kadm.StringPtr("alice")}, {Type: "client-id"}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}, {Key: "request_percentage", Remove: true}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("remove on node 2: %v %v", err, res)
	}
	testkit.WaitFor(t, 30*time.Second, "node 3 to see the removal", func() bool {
		resp, err := req.RequestWith(ctx, three.Broker(3))
		return err == nil && resp.ErrorCode == 0 && len(resp.Entries) == 0
	})
}

// apiVersionsOK sends ApiVersions on nc and reports whether it is answered.
func apiVersionsOK(nc net.Conn) bool {
	req := kmsg.NewPtrApiVersionsRequest()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("limit"))
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(f.AppendRequest(nil, req, 1)); err != nil {
		return false
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return false
	}
	_, err := io.ReadFull(nc, make([]byte, binary.BigEndian.Uint32(size[:])))
	return err == nil
}

func TestMaxConnectionsPerIP(t *testing.T) {
	t.Parallel()
	const limit = 3
	n := startNode(t, testkit.Options{Settings: map[string]string{`"max.connections.per.ip"`: "3"}})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Hold limit working connections: until testkit's readiness probe has
	// been released, one of them may be refused; then try again.
	testkit.WaitFor(t, 30*time.Second, "holding max.connections.per.ip connections", func() bool {
		for len(held) < limit {
			c, err := net.Dial("tcp", n.Addr())
			if err != nil {
				return false
			}
			if !apiVersionsOK(c) {
				c.Close()
				return false
			}
			held = append(held, c)
		}
		return true
	})
	extra, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if apiVersionsOK(extra) {
		t.Fatalf("connection %d from one IP was served; max.connections.per.ip is %d", limit+1, limit)
	}
	for i, c := range held {
		if !apiVersionsOK(c) {
			t.Fatalf("held connection %d stopped working", i)
		}
	}
	if log := n.Log(); !strings.Contains(log, "max.connections.per.ip") {
		t.Fatalf("refusal not logged:\n%s", log)
	}
}

func TestQuotaCLISetListRemove(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	runCLI(t, n, "", "quota", "set", "--user", "alice", "--client-default", "--consumer-byte-rate", "2048", "--request-percentage", "12.5")
	runCLI(t, n, "", "quota", "set", "--user", "alice", "--controller-mutation-rate", "5")
	runCLI(t, n, "", "quota", "set", "--user-default", "--producer-byte-rate", "4096")
	out := runCLI(t, n, "", "quota", "list")
	for _, want := range []string{
		"user=alice,client-id=<default> consumer_byte_rate=2048 request_percentage=12.5",
		"user=alice controller_mutation_rate=5",
		"user=<default> producer_byte_rate=4096",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Fatalf("quota list lacks %q:\n%s", want, out)
		}
	}
	if out := runCLI(t, n, "", "quota", "list", "--user", "alice", "--strict"); out != "user=alice controller_mutation_rate=5\n" {
		t.Fatalf("quota list --user alice --strict: %q", out)
	}
	runCLI(t, n, "", "quota", "remove", "--user", "alice", "--client-default", "--key", "request_percentage")
	runCLI(t, n, "", "quota", "remove", "--user", "alice")
	out = runCLI(t, n, "", "quota", "list", "--user", "alice")
	if out != "user=alice,client-id=<default> consumer_byte_rate=2048\n" {
		t.Fatalf("after removals: %q", out)
	}
	errOut := runCLIFails(t, n, "quota", "set", "--client-id", "c", "--producer-byte-rate", "1.5")
	if !strings.Contains(errOut, "INVALID_REQUEST") || !strings.Contains(errOut, "cannot be a fractional value") {
		t.Fatalf("fractional byte rate: %q", errOut)
	}
	errOut = runCLIFails(t, n, "quota", "set", "--ip", "not-an-ip", "--connection-creation-rate", "5")
	if !strings.Contains(errOut, "not a valid IP") {
		t.Fatalf("bad ip: %q", errOut)
	}
}
