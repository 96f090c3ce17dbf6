package console

// The overview's charts: a sampler reads the brokers' own Prometheus
// metrics every sampleInterval (the node's registry in the daemon, each
// broker's admin /metrics for `ringtail console --metrics-url`) and keeps
// the last chartWindow of derived points in a ring buffer, served as JSON
// to the page, where uPlot draws them. The metrics read are:
//
//   - ringtail_topic_bytes_in_total, ringtail_topic_records_in_total:
//     bytes and records appended by producers (summed over topics);
//   - ringtail_topic_bytes_out_total: bytes sent to consumers (the broker
//     does not count records sent, so there is no records-out line);
//   - ringtail_kafka_request_duration_seconds{api="Produce"|"Fetch"}:
//     p50 and p99 over each interval from the histogram's bucket deltas
//     (Fetch includes the long poll, so its p99 is often fetch.max.wait);
//   - ringtail_log_size_bytes: log segment bytes on each broker (the
//     broker exposes no per-log-dir figure; the volumes' free and total
//     space is the Brokers table's, from DescribeLogDirs).
//
// The derivation is pure code with the time passed in (sampler.add), so the
// tests drive it with a fake clock.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const (
	// sampleInterval is how often the metrics are read: often enough for
	// a live chart, rarely enough that a scrape of a large node's
	// registry (a series per topic) costs it nothing measurable.
	sampleInterval = 5 * time.Second
	chartWindow    = 15 * time.Minute
	scrapeTimeout  = 3 * time.Second
	// maxScrapeBytes bounds one /metrics body read from a broker.
	maxScrapeBytes = 64 << 20

	metricBytesIn   = "ringtail_topic_bytes_in_total"
	metricRecordsIn = "ringtail_topic_records_in_total"
	metricBytesOut  = "ringtail_topic_bytes_out_total"
	metricLatency   = "ringtail_kafka_request_duration_seconds"
	metricLogSize   = "ringtail_log_size_bytes"
)

// latencyAPIs are the request types charted, by their "api" label.
var latencyAPIs = [...]string{"Produce", "Fetch"}

// histo is a cumulative histogram: counts[i] observations <= upper[i]
// (finite bounds only), count in all.
type histo struct {
	upper, counts []float64
	count         float64
}

// snapshot is one source's figures at one scrape, counters summed over
// their labels.
type snapshot struct {
	bytesIn, recordsIn, bytesOut float64
	latency                      [len(latencyAPIs)]histo
	logBytes                     float64
	hasLog                       bool
}

// snapshotOf picks the charted metrics out of a scrape.
func snapshotOf(mfs []*dto.MetricFamily) snapshot {
	var s snapshot
	for _, mf := range mfs {
		switch mf.GetName() {
		case metricBytesIn:
			s.bytesIn = sumValues(mf)
		case metricRecordsIn:
			s.recordsIn = sumValues(mf)
		case metricBytesOut:
			s.bytesOut = sumValues(mf)
		case metricLogSize:
			s.logBytes, s.hasLog = sumValues(mf), true
		case metricLatency:
			for _, m := range mf.GetMetric() {
				h := m.GetHistogram()
				if h == nil {
					continue
				}
				for i, api := range latencyAPIs {
					if labelValue(m, "api") == api {
						s.latency[i] = histoOf(h)
					}
				}
			}
		}
	}
	return s
}

func sumValues(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		}
	}
	return v
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func histoOf(h *dto.Histogram) histo {
	out := histo{count: float64(h.GetSampleCount())}
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), +1) {
			continue // the text format's +Inf bucket is count
		}
		out.upper = append(out.upper, b.GetUpperBound())
		out.counts = append(out.counts, float64(b.GetCumulativeCount()))
	}
	return out
}

// delta is the counter's increase from prev to cur; a decrease is a reset
// (the broker restarted), after which cur counts from zero.
func delta(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// sub is the observations between prev and cur (cur alone after a reset,
// or when the buckets changed).
func (cur histo) sub(prev histo) histo {
	if cur.count < prev.count || len(prev.upper) != len(cur.upper) {
		return cur
	}
	out := histo{upper: cur.upper, counts: make([]float64, len(cur.counts)), count: cur.count - prev.count}
	for i := range cur.counts {
		if cur.upper[i] != prev.upper[i] || cur.counts[i] < prev.counts[i] {
			return cur
		}
		out.counts[i] = cur.counts[i] - prev.counts[i]
	}
	return out
}

// add sums two histograms of the same buckets (two brokers'); other
// buckets keep a.
func (a histo) add(b histo) histo {
	if len(a.upper) == 0 {
		return b
	}
	if len(b.upper) != len(a.upper) {
		return a
	}
	out := histo{upper: a.upper, counts: make([]float64, len(a.counts)), count: a.count + b.count}
	for i := range a.counts {
		out.counts[i] = a.counts[i] + b.counts[i]
	}
	return out
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear within the bucket holding the rank, the highest finite
// bound for a rank in the +Inf bucket, NaN with no observations.
func (h histo) quantile(q float64) float64 {
	if h.count <= 0 || len(h.upper) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lowerBound, lowerCount := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank && c > lowerCount {
			return lowerBound + (h.upper[i]-lowerBound)*(rank-lowerCount)/(c-lowerCount)
		}
		lowerBound, lowerCount = h.upper[i], c
	}
	return h.upper[len(h.upper)-1]
}

// point is the charts' values at one time; NaN is no value (a gap).
type point struct {
	at                           time.Time
	bytesIn, recordsIn, bytesOut float64
	// p50 and p99 of each latencyAPIs entry, in seconds.
	p50, p99 [len(latencyAPIs)]float64
	logBytes []float64 // by source
}

// sampler keeps the last chartWindow of points. Each source's previous
// snapshot is kept so that a rate spans exactly that source's interval.
type sampler struct {
	mu       sync.Mutex
	sources  []string // names, for the legend
	prev     []*snapshot
	prevAt   []time.Time
	errs     []string // each source's last scrape error, "" if none
	ring     []point
	start    int // index of the oldest point when the ring is full
	window   time.Duration
	interval time.Duration // between samples now (sampleBackoff)
}

func newSampler(sources []string, window, interval time.Duration) *sampler {
	n := int(window/interval) + 1
	return &sampler{sources: sources, prev: make([]*snapshot, len(sources)), prevAt: make([]time.Time, len(sources)),
		errs: make([]string, len(sources)), ring: make([]point, 0, n), window: window, interval: interval}
}

func (s *sampler) setInterval(d time.Duration) {
	s.mu.Lock()
	s.interval = d
	s.mu.Unlock()
}

// add records one round of scrapes taken at now: snaps[i] is source i's,
// nil where its scrape failed (errs[i] says why). The first round only
// primes the rates; each later one adds a point.
func (s *sampler) add(now time.Time, snaps []*snapshot, errs []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := point{at: now, bytesIn: math.NaN(), recordsIn: math.NaN(), bytesOut: math.NaN(), logBytes: make([]float64, len(s.sources))}
	var lat [len(latencyAPIs)]histo
	rated := false
	for i, cur := range snaps {
		p.logBytes[i] = math.NaN()
		s.errs[i] = ""
		if i < len(errs) && errs[i] != nil {
			s.errs[i] = errs[i].Error()
		}
		if cur == nil {
			continue
		}
		if cur.hasLog {
			p.logBytes[i] = cur.logBytes
		}
		prev, at := s.prev[i], s.prevAt[i]
		s.prev[i], s.prevAt[i] = cur, now
		dt := now.Sub(at).Seconds()
		if prev == nil || dt <= 0 {
			continue
		}
		if !rated {
			p.bytesIn, p.recordsIn, p.bytesOut = 0, 0, 0
			rated = true
		}
		p.bytesIn += delta(prev.bytesIn, cur.bytesIn) / dt
		p.recordsIn += delta(prev.recordsIn, cur.recordsIn) / dt
		p.bytesOut += delta(prev.bytesOut, cur.bytesOut) / dt
		for k := range lat {
			lat[k] = lat[k].add(cur.latency[k].sub(prev.latency[k]))
		}
	}
	for k := range lat {
		p.p50[k], p.p99[k] = lat[k].quantile(0.5), lat[k].quantile(0.99)
	}
	if rated {
		s.push(p)
	}
}

// push appends p, dropping points older than the window and, when the
// ring is full, the oldest.
func (s *sampler) push(p point) {
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, p)
		return
	}
	s.ring[s.start] = p
	s.start = (s.start + 1) % len(s.ring)
}

// points are the points within the window before now, oldest first.
func (s *sampler) points(now time.Time) []point {
	out := make([]point, 0, len(s.ring))
	for i := range s.ring {
		p := s.ring[(s.start+i)%len(s.ring)]
		if now.Sub(p.at) <= s.window {
			out = append(out, p)
		}
	}
	return out
}

// num is a chart value: NaN (no value) is JSON null, a gap in the line.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// series is the JSON the page's charts read: columns, as uPlot takes them.
type series struct {
	IntervalS float64  `json:"interval_s"`
	WindowS   float64  `json:"window_s"`
	Sources   []string `json:"sources"`
	Errors    []string `json:"errors"` // "source: error" for each failing source
	T         []int64  `json:"t"`      // unix seconds
	BytesIn   []num    `json:"bytes_in"`
	BytesOut  []num    `json:"bytes_out"`
	RecordsIn []num    `json:"records_in"`
	// Latency in milliseconds: "Produce p50", "Produce p99", ...
	LatencyNames []string `json:"latency_names"`
	Latency      [][]num  `json:"latency"`
	LogBytes     [][]num  `json:"log_bytes"` // by source
}

// series is the points within the window before now as columns.
func (s *sampler) series(now time.Time) series {
	s.mu.Lock()
	defer s.mu.Unlock()
	pts := s.points(now)
	out := series{IntervalS: s.interval.Seconds(), WindowS: s.window.Seconds(), Sources: s.sources, Errors: []string{},
		T: make([]int64, len(pts)), BytesIn: make([]num, len(pts)), BytesOut: make([]num, len(pts)), RecordsIn: make([]num, len(pts))}
	for i, e := range s.errs {
		if e != "" {
			out.Errors = append(out.Errors, s.sources[i]+": "+e)
		}
	}
	for k, api := range latencyAPIs {
		out.LatencyNames = append(out.LatencyNames, api+" p50", api+" p99")
		p50, p99 := make([]num, len(pts)), make([]num, len(pts))
		for i, p := range pts {
			p50[i], p99[i] = num(p.p50[k]*1000), num(p.p99[k]*1000)
		}
		out.Latency = append(out.Latency, p50, p99)
	}
	for j := range s.sources {
		col := make([]num, len(pts))
		for i, p := range pts {
			col[i] = num(p.logBytes[j])
		}
		out.LogBytes = append(out.LogBytes, col)
	}
	for i, p := range pts {
		out.T[i] = p.at.Unix()
		out.BytesIn[i], out.BytesOut[i], out.RecordsIn[i] = num(p.bytesIn), num(p.bytesOut), num(p.recordsIn)
	}
	return out
}

// metricSource is where one broker's metrics are read.
type metricSource struct {
	name   string
	gather func(ctx context.Context) ([]*dto.MetricFamily, error)
}

// metricSources are cfg's: the Gatherer (the daemon's own node), then
// each MetricsURLs entry, scraped over HTTP.
func metricSources(cfg Config) ([]metricSource, error) {
	var out []metricSource
	if gathererOK(cfg.Gatherer) {
		g := cfg.Gatherer
		out = append(out, metricSource{name: "this node", gather: func(context.Context) ([]*dto.MetricFamily, error) { return g.Gather() }})
	}
	hc := &http.Client{Timeout: scrapeTimeout}
	for _, raw := range cfg.MetricsURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("console: metrics URL %q: want http://host:port/metrics", raw)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/metrics"
		}
		target := u.String()
		out = append(out, metricSource{name: u.Host, gather: func(ctx context.Context) ([]*dto.MetricFamily, error) {
			return scrape(ctx, hc, target)
		}})
	}
	return out, nil
}

// scrape reads one Prometheus text exposition.
func scrape(ctx context.Context, hc *http.Client, target string) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", target, err)
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// sampleLoop reads every source each interval until ctx ends. Rounds
// that take long (a node with tens of thousands of topics has as many
// series to gather) stretch the wait (sampleBackoff), so that sampling
// costs the brokers a bounded share of a core.
func (s *Server) sampleLoop(ctx context.Context, sources []metricSource, interval time.Duration) {
	defer s.sampling.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	var bo sampleBackoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snaps := make([]*snapshot, len(sources))
		errs := make([]error, len(sources))
		var took time.Duration // by the gathers that succeeded
		for i, src := range sources {
			sctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
			start := time.Now()
			mfs, err := src.gather(sctx)
			cancel()
			if err != nil && len(mfs) == 0 {
				errs[i] = err
				continue
			}
			took += time.Since(start)
			sn := snapshotOf(mfs)
			snaps[i] = &sn
		}
		s.samples.add(time.Now(), snaps, errs)
		wait := bo.next(interval, took)
		s.samples.setInterval(wait)
		t.Reset(wait)
	}
}

const (
	// maxSampleShare: a round that gathered for d waits at least
	// d*maxSampleShare for the next (2% of a core).
	maxSampleShare = 50
	// maxSampleWait bounds the stretched wait: the charts stay charts.
	maxSampleWait = time.Minute
)

// sampleBackoff stretches the wait after slow rounds. It goes by the
// fastest of the last three, so that one round slowed by a busy machine
// (or a broker just started, the first rounds) does not stretch the wait.
type sampleBackoff struct {
	recent [3]time.Duration
	n      int
}

// next is the wait after a round that gathered for took.
func (b *sampleBackoff) next(interval, took time.Duration) time.Duration {
	b.recent[b.n%len(b.recent)] = took
	b.n++
	fastest := took
	for _, d := range b.recent { // zeros until three rounds are done
		fastest = min(fastest, d)
	}
	return min(max(interval, fastest*maxSampleShare), maxSampleWait)
}

// chartSeries serves the charts' points as JSON.
func (s *Server) chartSeries(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.samples == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"no metrics source: the console runs without the brokers' metrics (ringtail console --metrics-url)"}`))
		return
	}
	b, err := json.Marshal(s.samples.series(time.Now()))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// gathererOK reports whether g is usable: a nil interface holding a nil
// registry is not.
func gathererOK(g prometheus.Gatherer) bool {
	if g == nil {
		return false
	}
	if r, ok := g.(*prometheus.Registry); ok && r == nil {
		return false
	}
	return true
}
