package console

// The chart sampler with a fake clock: rates from counter deltas, a
// counter reset (broker restart), histogram quantiles over an interval,
// two sources summed, the window bounding the ring, and the JSON nulls for
// gaps. And the scrape of a text exposition over HTTP.

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// fakeBroker is a registry with the metrics the charts read.
type fakeBroker struct {
	reg                          *prometheus.Registry
	bytesIn, recordsIn, bytesOut *prometheus.CounterVec
	latency                      *prometheus.HistogramVec
	logSize                      *prometheus.GaugeVec
}

func newFakeBroker() *fakeBroker {
	b := &fakeBroker{reg: prometheus.NewRegistry(),
		bytesIn:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricBytesIn}, []string{"topic"}),
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRecordsIn}, []string{"topic"}),
		bytesOut:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricBytesOut}, []string{"topic"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricLatency,
			Buckets: []float64{0.001, 0.002, 0.004, 0.008}}, []string{"api"}),
		logSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricLogSize}, []string{"topic"}),
	}
	b.reg.MustRegister(b.bytesIn, b.recordsIn, b.bytesOut, b.latency, b.logSize)
	return b
}

func (b *fakeBroker) snap(t *testing.T) *snapshot {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	s := snapshotOf(mfs)
	return &s
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestSamplerRates(t *testing.T) {
	b := newFakeBroker()
	s := newSampler([]string{"b1"}, time.Minute, 10*time.Second)
	t0 := time.Unix(1_000_000, 0)
	s.add(t0, []*snapshot{b.snap(t)}, nil) // primes: no rate yet
	if pts := s.points(t0); len(pts) != 0 {
		t.Fatalf("after one sample: %+v, want no point (no rate yet)", pts)
	}
	b.bytesIn.WithLabelValues("a").Add(1000)
	b.bytesIn.WithLabelValues("b").Add(1000)
	b.recordsIn.WithLabelValues("a").Add(50)
	b.bytesOut.WithLabelValues("a").Add(500)
	b.logSize.WithLabelValues("a").Set(4096)
	b.logSize.WithLabelValues("b").Set(4096)
	s.add(t0.Add(10*time.Second), []*snapshot{b.snap(t)}, nil)
	p := s.points(t0.Add(10 * time.Second))[0]
	if !near(p.bytesIn, 200) || !near(p.recordsIn, 5) || !near(p.bytesOut, 50) || p.logBytes[0] != 8192 {
		t.Fatalf("rates: in %v B/s, %v rec/s, out %v B/s, log %v; want 200, 5, 50, 8192", p.bytesIn, p.recordsIn, p.bytesOut, p.logBytes[0])
	}
	if !math.IsNaN(p.p50[0]) {
		t.Fatalf("no Produce requests, yet p50 = %v", p.p50[0])
	}

	// The broker restarts: its counters start again from zero. The rate
	// counts what it did since (300 bytes), never a negative one.
	b2 := newFakeBroker()
	b2.bytesIn.WithLabelValues("a").Add(300)
	s.add(t0.Add(20*time.Second), []*snapshot{b2.snap(t)}, nil)
	if p := s.points(t0.Add(20 * time.Second))[1]; !near(p.bytesIn, 30) || p.recordsIn != 0 {
		t.Fatalf("after a reset: %v B/s, %v rec/s; want 30, 0", p.bytesIn, p.recordsIn)
	}
}

func TestSamplerQuantiles(t *testing.T) {
	b := newFakeBroker()
	s := newSampler([]string{"b1"}, time.Minute, 5*time.Second)
	t0 := time.Unix(2_000_000, 0)
	// Before the window: slow requests that must not count.
	for range 100 {
		b.latency.WithLabelValues("Produce").Observe(0.0075)
	}
	s.add(t0, []*snapshot{b.snap(t)}, nil)
	// In the interval: 100 Produce in (0, 1ms], 100 Fetch: 98 in
	// (1ms, 2ms], 2 in (4ms, 8ms].
	for range 100 {
		b.latency.WithLabelValues("Produce").Observe(0.0005)
	}
	for range 98 {
		b.latency.WithLabelValues("Fetch").Observe(0.0015)
	}
	for range 2 {
		b.latency.WithLabelValues("Fetch").Observe(0.005)
	}
	s.add(t0.Add(5*time.Second), []*snapshot{b.snap(t)}, nil)
	p := s.points(t0.Add(5 * time.Second))[0]
	// Produce: rank 50 of 100 in the first bucket [0, 1ms]: 0.5ms; rank 99: 0.99ms.
	if !near(p.p50[0], 0.0005) || !near(p.p99[0], 0.00099) {
		t.Fatalf("Produce p50 %v p99 %v, want 0.0005 0.00099", p.p50[0], p.p99[0])
	}
	// Fetch: rank 50 in (1ms, 2ms] holding 98: 1ms + 1ms*50/98; rank 99
	// in (4ms, 8ms] holding ranks 99-100: 4ms + 4ms*(99-98)/2 = 6ms.
	if !near(p.p50[1], 0.001+0.001*50/98) || !near(p.p99[1], 0.006) {
		t.Fatalf("Fetch p50 %v p99 %v, want %v 0.006", p.p50[1], p.p99[1], 0.001+0.001*50/98)
	}
	// A rank beyond the last finite bucket is its bound.
	h := histo{upper: []float64{1, 2}, counts: []float64{1, 1}, count: 10}
	if got := h.quantile(0.99); got != 2 {
		t.Fatalf("quantile in +Inf = %v, want 2", got)
	}
}

func TestSamplerSourcesAndWindow(t *testing.T) {
	b1, b2 := newFakeBroker(), newFakeBroker()
	s := newSampler([]string{"b1", "b2"}, 30*time.Second, 10*time.Second)
	t0 := time.Unix(3_000_000, 0)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	s.add(at(0), []*snapshot{b1.snap(t), b2.snap(t)}, nil)
	b1.bytesIn.WithLabelValues("a").Add(100)
	b2.bytesIn.WithLabelValues("a").Add(300)
	for range 10 {
		b1.latency.WithLabelValues("Produce").Observe(0.0005)
		b2.latency.WithLabelValues("Produce").Observe(0.0005)
	}
	s.add(at(10), []*snapshot{b1.snap(t), b2.snap(t)}, nil)
	if p := s.points(at(10))[0]; !near(p.bytesIn, 40) || !near(p.p50[0], 0.0005) {
		t.Fatalf("two sources: %v B/s p50 %v, want 40 and 0.0005", p.bytesIn, p.p50[0])
	}
	// b2 fails: b1 alone counts, and the error is reported by name.
	b1.bytesIn.WithLabelValues("a").Add(100)
	s.add(at(20), []*snapshot{b1.snap(t), nil}, []error{nil, errTest("connection refused")})
	ser := s.series(at(20))
	if len(ser.Errors) != 1 || ser.Errors[0] != "b2: connection refused" {
		t.Fatalf("errors %q", ser.Errors)
	}
	if got := float64(ser.BytesIn[1]); !near(got, 10) {
		t.Fatalf("with b2 down: %v B/s, want 10", got)
	}
	// The window keeps the last 30s: after many more samples, 4 points
	// (the ring holds window/interval+1) and none older than 30s.
	for sec := 30; sec <= 200; sec += 10 {
		s.add(at(sec), []*snapshot{b1.snap(t), b2.snap(t)}, nil)
	}
	pts := s.points(at(200))
	if len(pts) != 4 || !pts[0].at.Equal(at(170)) || !pts[3].at.Equal(at(200)) {
		t.Fatalf("window: %d points from %v to %v", len(pts), pts[0].at, pts[len(pts)-1].at)
	}
	// Later, with no new samples, the old points leave the window.
	if pts := s.points(at(225)); len(pts) != 1 {
		t.Fatalf("25s later %d points, want 1", len(pts))
	}
	// Gaps are JSON null.
	raw, err := json.Marshal(s.series(at(200)))
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if lat := back["latency"].([]any)[0].([]any); lat[0] != nil {
		t.Fatalf("p50 with no requests is %v, want null: %s", lat[0], raw)
	}
}

func TestSampleBackoff(t *testing.T) {
	var b sampleBackoff
	for i, c := range []struct{ took, want time.Duration }{
		{time.Second, 5 * time.Second}, // a slow first round: no backoff yet
		{time.Millisecond, 5 * time.Second},
		{500 * time.Millisecond, 5 * time.Second}, // one slow round: the fastest of three is 1ms
		{400 * time.Millisecond, 5 * time.Second},
		{200 * time.Millisecond, 10 * time.Second}, // three slow: 200ms × 50
		{2 * time.Second, 10 * time.Second},
		{3 * time.Second, 10 * time.Second},
		{3 * time.Second, time.Minute}, // 2s × 50, capped
		{time.Millisecond, 5 * time.Second},
	} {
		if got := b.next(5*time.Second, c.took); got != c.want {
			t.Errorf("round %d took %v: wait %v, want %v", i, c.took, got, c.want)
		}
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestScrapeText(t *testing.T) {
	b := newFakeBroker()
	b.bytesIn.WithLabelValues("a").Add(1234)
	b.latency.WithLabelValues("Fetch").Observe(0.003)
	srv := httptest.NewServer(promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	srcs, err := metricSources(Config{MetricsURLs: []string{srv.URL}})
	if err != nil || len(srcs) != 1 || srcs[0].name != strings.TrimPrefix(srv.URL, "http://") {
		t.Fatalf("sources %+v %v", srcs, err)
	}
	mfs, err := srcs[0].gather(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sn := snapshotOf(mfs)
	if sn.bytesIn != 1234 || sn.latency[1].count != 1 || len(sn.latency[1].upper) != 4 {
		t.Fatalf("scraped %+v", sn)
	}
	for _, bad := range []string{"ftp://x/metrics", "127.0.0.1:9644", "http://"} {
		if _, err := metricSources(Config{MetricsURLs: []string{bad}}); err == nil {
			t.Errorf("metrics URL %q accepted", bad)
		}
	}
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	srcs, _ = metricSources(Config{MetricsURLs: []string{notFound.URL + "/metrics"}})
	if _, err := srcs[0].gather(t.Context()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("scrape of a 404: %v", err)
	}
}

// BenchmarkSample10kTopics is one sample of a node with 10,000 topics
// (four series each): the registry's Gather and the console's pick of the
// charted figures, what the daemon's console costs the node every 5 s.
func BenchmarkSample10kTopics(b *testing.B) {
	fb := newFakeBroker()
	for i := range 10_000 {
		topic := "topic-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
		fb.bytesIn.WithLabelValues(topic).Add(float64(i))
		fb.recordsIn.WithLabelValues(topic).Add(float64(i))
		fb.bytesOut.WithLabelValues(topic).Add(float64(i))
		fb.logSize.WithLabelValues(topic).Set(float64(i))
	}
	fb.latency.WithLabelValues("Produce").Observe(0.001)
	s := newSampler([]string{"node"}, chartWindow, sampleInterval)
	now := time.Unix(0, 0)
	b.ReportAllocs()
	for b.Loop() {
		mfs, err := fb.reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		sn := snapshotOf(mfs)
		now = now.Add(sampleInterval)
		s.add(now, []*snapshot{&sn}, nil)
	}
}
