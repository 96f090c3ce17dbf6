// Tests that the rate, throttle and resolution rules are Kafka's, on a
// fake clock: a client that obeys its throttle times ends at its quota.
package quota

import (
	"math"
	"testing"
	"time"
)

var t0 = time.UnixMilli(1_700_000_000_000)

func TestRateWindowIsAtLeastSamplesMinusOne(t *testing.T) {
	var r Rate
	w := DefaultWindow
	r.Record(w, 1000, 0)
	// One sample of 1000 bytes: measured over 10 full windows, not 0 ms.
	if got := r.WindowMs(w, 0); got != 10000 {
		t.Fatalf("window = %d ms, want 10000", got)
	}
	if got := r.Measure(w, 500); math.Abs(got-1000/10.5) > 1e-9 {
		t.Fatalf("rate = %v, want %v", got, 1000/10.5)
	}
	// 11 full windows later every sample is obsolete.
	if got := r.Measure(w, 11000); got != 0 {
		t.Fatalf("rate after expiry = %v, want 0", got)
	}
}

func TestThrottleMsFormula(t *testing.T) {
	// (2 - 1) / 1 * 10000 ms.
	if got := ThrottleMs(2<<20, 1<<20, 10000); got != 10000 {
		t.Fatalf("throttle = %d, want 10000", got)
	}
	if got := ThrottleMs(1<<20, 1<<20, 10000); got != 0 {
		t.Fatalf("at the quota: throttle = %d, want 0", got)
	}
}

func table(e Entity, key string, v float64) Table { return Table{e: {key: v}} }

func TestResolutionOrder(t *testing.T) {
	u, c := Named("alice"), Named("app")
	entities := []struct {
		e    Entity
		tags [2]string
	}{
		{Entity{u, c}, [2]string{"alice", "app"}},
		{Entity{u, Default}, [2]string{"alice", "app"}},
		{Entity{User: u}, [2]string{"alice", ""}},
		{Entity{Default, c}, [2]string{"alice", "app"}},
		{Entity{Default, Default}, [2]string{"alice", "app"}},
		{Entity{User: Default}, [2]string{"alice", ""}},
		{Entity{Client: c}, [2]string{"", "app"}},
		{Entity{Client: Default}, [2]string{"", "app"}},
	}
	// With entities i..7 all set, entity i wins.
	for i := range entities {
		tb := Table{}
		for j := i; j < len(entities); j++ {
			tb[entities[j].e] = map[string]float64{ProducerByteRate: float64(j + 1)}
		}
		v, tags, ok := tb.resolve(ProducerByteRate, "alice", "app")
		if !ok || v != float64(i+1) || tags != entities[i].tags {
			t.Fatalf("level %d: got %v %v %v, want %v %v", i, v, tags, ok, i+1, entities[i].tags)
		}
	}
	// Another key does not match, nor another user.
	tb := table(Entity{User: u}, ProducerByteRate, 5)
	if _, _, ok := tb.resolve(ConsumerByteRate, "alice", "app"); ok {
		t.Fatal("consumer_byte_rate resolved from a producer quota")
	}
	if _, _, ok := tb.resolve(ProducerByteRate, "bob", "app"); ok {
		t.Fatal("bob got alice's quota")
	}
}

// simulate runs a producer that wants rate bytes/s in chunks and, like a
// KIP-219 client muted by the broker, sends nothing for the throttle time
// it is given. It returns the bytes accepted per second over the last
// measure of the run.
func simulate(t *testing.T, m *Manager, typ Type, client string, rate, chunk float64, run, measure time.Duration) (float64, int) {
	t.Helper()
	interval := time.Duration(chunk / rate * float64(time.Second))
	now := t0
	end := t0.Add(run)
	start := end.Add(-measure)
	var sent float64
	throttled := 0
	for now.Before(end) {
		d := m.Record(typ, "ANONYMOUS", client, chunk, now)
		if !now.Before(start) {
			sent += chunk
		}
		next := now.Add(interval)
		if d > 0 {
			throttled++
			next = now.Add(max(d, interval))
		}
		now = next
	}
	return sent / measure.Seconds(), throttled
}

func TestSteadyLoadIsHeldToQuota(t *testing.T) {
	const quota = 1 << 20
	m := NewManager(DefaultWindow)
	m.SetTable(table(Entity{Client: Named("slow")}, ProducerByteRate, quota))
	got, throttled := simulate(t, m, Produce, "slow", 2<<20, 64<<10, 120*time.Second, 60*time.Second)
	if throttled == 0 {
		t.Fatal("2 MiB/s against a 1 MiB/s quota was never throttled")
	}
	if got < 0.95*quota || got > 1.05*quota {
		t.Fatalf("throttled producer averaged %.0f B/s, want 1 MiB/s ± 5%%", got)
	}
	// A client without a quota is never throttled.
	got, throttled = simulate(t, m, Produce, "fast", 2<<20, 64<<10, 30*time.Second, 20*time.Second)
	if throttled != 0 || got < 1.99*(1<<20) {
		t.Fatalf("unquota'd client: %.0f B/s, %d throttles", got, throttled)
	}
}

func TestUnrecordAndMaxValue(t *testing.T) {
	m := NewManager(DefaultWindow)
	m.SetTable(table(Entity{User: Default}, ConsumerByteRate, 1000))
	if d := m.Record(Fetch, "u", "c", 50000, t0); d <= 0 {
		t.Fatal("50 kB against 1000 B/s not throttled")
	}
	m.Unrecord(Fetch, "u", "c", 50000, t0)
	if d := m.Record(Fetch, "u", "c", 100, t0); d != 0 {
		t.Fatalf("after unrecord: throttle %v, want 0", d)
	}
	v, ok := m.MaxValueInWindow(Fetch, "u", "c")
	if !ok || v != 10000 {
		t.Fatalf("max value in window = %v %v, want 10000", v, ok)
	}
	if _, ok := m.MaxValueInWindow(Produce, "u", "c"); ok {
		t.Fatal("max value without a produce quota")
	}
}

func TestRequestPercentageCapsThrottleAtOneWindow(t *testing.T) {
	m := NewManager(DefaultWindow)
	m.SetTable(table(Entity{Client: Default}, RequestPercentage, 1))
	// 5 s of handler time against 1% of a thread.
	d := m.Record(Request, "u", "c", float64(5*time.Second), t0)
	if d != time.Second {
		t.Fatalf("request throttle = %v, want capped at 1s", d)
	}
	if d := m.Record(Request, "u", "other", float64(time.Millisecond), t0); d != 0 {
		t.Fatalf("1 ms of handler time: throttle %v", d)
	}
}

func TestControllerMutationBucket(t *testing.T) {
	m := NewManager(DefaultWindow)
	m.SetTable(table(Entity{User: Named("u")}, ControllerMutationRate, 2))
	// Burst 2 * 10 = 20 mutations.
	if d, ex := m.RecordMutations("u", "c", 20, true, t0); d != 0 || ex {
		t.Fatalf("burst: %v %v", d, ex)
	}
	// Strict: recorded though it goes below zero (bucket at 0 before).
	d, ex := m.RecordMutations("u", "c", 4, true, t0)
	if ex || d != 2*time.Second {
		t.Fatalf("over the burst: %v %v, want 2s not exceeded", d, ex)
	}
	// Now below zero: the next strict request is refused, not recorded.
	d, ex = m.RecordMutations("u", "c", 1, true, t0.Add(time.Second))
	if !ex || d != time.Second {
		t.Fatalf("strict below zero: %v %v, want 1s exceeded", d, ex)
	}
	// Permissive: recorded and throttled.
	d, ex = m.RecordMutations("u", "c", 2, false, t0.Add(time.Second))
	if ex || d != 2*time.Second {
		t.Fatalf("permissive: %v %v", d, ex)
	}
	// Refilled after 2 s.
	if d, ex := m.RecordMutations("u", "c", 1, true, t0.Add(3*time.Second)); ex || d != 500*time.Millisecond {
		t.Fatalf("after refill: %v %v", d, ex)
	}
}

func TestNoQuotaNoAccounting(t *testing.T) {
	m := NewManager(DefaultWindow)
	if m.Enabled(Produce) || m.Record(Produce, "u", "c", 1e12, t0) != 0 {
		t.Fatal("throttled without quotas")
	}
	m.SetTable(table(Entity{Client: Named("x")}, ProducerByteRate, 1))
	if !m.Enabled(Produce) || m.Enabled(Fetch) {
		t.Fatal("enabled flags wrong")
	}
	m.SetTable(Table{})
	if m.Enabled(Produce) {
		t.Fatal("still enabled after removal")
	}
}
