package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1µs to latencyMaxMicros with
// three significant digits; a longer one is recorded as the maximum.
const (
	latencyMaxMicros  = int64(10 * time.Minute / time.Microsecond)
	latencySigFigures = 3
	bytesPerMB        = 1 << 20 // as Kafka's perf tools
)

// latencyHist is an HDR histogram safe for concurrent recording.
type latencyHist struct {
	mu struct {
		sync.Mutex
		h *hdrhistogram.Histogram
	}
}

func newLatencyHist() *latencyHist {
	l := &latencyHist{}
	l.mu.h = hdrhistogram.New(1, latencyMaxMicros, latencySigFigures)
	return l
}

func (l *latencyHist) record(d time.Duration) {
	us := min(max(d.Microseconds(), 1), latencyMaxMicros)
	l.mu.Lock()
	_ = l.mu.h.RecordValue(us) // in range by the clamp above
	l.mu.Unlock()
}

// latencySummary is latency percentiles in milliseconds.
type latencySummary struct {
	Samples int64   `json:"samples"`
	P50     float64 `json:"p50"`
	P99     float64 `json:"p99"`
	P999    float64 `json:"p999"`
	Max     float64 `json:"max"`
}

// summary is nil when nothing was recorded, so an empty histogram never
// reads as a latency of zero.
func (l *latencyHist) summary() *latencySummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.mu.h
	if h.TotalCount() == 0 {
		return nil
	}
	ms := func(us int64) float64 { return round3(float64(us) / 1000) }
	return &latencySummary{
		Samples: h.TotalCount(),
		P50:     ms(h.ValueAtQuantile(50)),
		P99:     ms(h.ValueAtQuantile(99)),
		P999:    ms(h.ValueAtQuantile(99.9)),
		Max:     ms(h.Max()),
	}
}

// meter counts records and their bytes (key plus value).
type meter struct {
	records, bytes atomic.Int64
}

func (m *meter) add(records, bytes int64) {
	m.records.Add(records)
	m.bytes.Add(bytes)
}

type progressLine struct {
	Type        string  `json:"type"`
	ElapsedS    float64 `json:"elapsed_s"`
	Records     int64   `json:"records"`
	Bytes       int64   `json:"bytes"`
	RecordsPerS float64 `json:"records_per_s"`
	MBPerS      float64 `json:"mb_per_s"`
}

type benchResult struct {
	Type         string          `json:"type"`
	Mode         benchMode       `json:"mode"`
	Records      int64           `json:"records"`
	Bytes        int64           `json:"bytes"`
	ElapsedS     float64         `json:"elapsed_s"`
	RecordsPerS  float64         `json:"records_per_s"`
	MBPerS       float64         `json:"mb_per_s"`
	LatencyMs    *latencySummary `json:"latency_ms,omitempty"`
	AckLatencyMs *latencySummary `json:"ack_latency_ms,omitempty"`
	Produced     *int64          `json:"produced,omitempty"`
	Raw          *rawResultJSON  `json:"raw,omitempty"`
	Errors       int64           `json:"errors"`
	Stopped      string          `json:"stopped"`
	Config       benchConfigJSON `json:"config"`
}

type benchConfigJSON struct {
	Topic             string              `json:"topic"`
	Partitions        int32               `json:"partitions"`
	ReplicationFactor int16               `json:"replication_factor"`
	Count             int64               `json:"count,omitempty"`
	DurationS         float64             `json:"duration_s,omitempty"`
	TimeoutS          float64             `json:"timeout_s"`
	Producer          *producerConfigJSON `json:"producer,omitempty"`
}

type producerConfigJSON struct {
	RecordSize  int     `json:"record_size"`
	Acks        string  `json:"acks"`
	LingerMs    float64 `json:"linger_ms"`
	Producers   int     `json:"producers"`
	Idempotent  bool    `json:"idempotent"`
	Compression string  `json:"compression"`
	Keyed       bool    `json:"keyed"`
	Rate        float64 `json:"rate"`
	// TransactionSize is records per transaction (0: none).
	TransactionSize int64 `json:"transaction_size,omitempty"`
}

func (c benchConfig) json() benchConfigJSON {
	j := benchConfigJSON{
		Topic:             c.topic,
		Partitions:        c.partitions,
		ReplicationFactor: c.replicationFactor,
		Count:             max(c.count, 0),
		DurationS:         c.duration.Seconds(),
		TimeoutS:          c.timeout.Seconds(),
	}
	if c.mode != benchConsume {
		j.Producer = &producerConfigJSON{
			RecordSize:  c.recordSize,
			Acks:        c.acksName,
			LingerMs:    float64(c.linger) / float64(time.Millisecond),
			Producers:   c.producers,
			Idempotent:  c.idempotent,
			Compression: c.compressionName,
			Keyed:       c.keyed,
			Rate:        c.rate,

			TransactionSize: c.txnSize,
		}
	}
	return j
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// rates is records/s and MB/s over elapsed; zero for no time.
func rates(records, bytes int64, elapsed time.Duration) (float64, float64) {
	s := elapsed.Seconds()
	if s <= 0 {
		return 0, 0
	}
	return round3(float64(records) / s), round3(float64(bytes) / bytesPerMB / s)
}

// benchReporter prints progress every interval, as JSON lines or as one
// line redrawn in place, and the result at the end.
type benchReporter struct {
	w     io.Writer
	text  bool
	start time.Time
	m     *meter
	// progress is the fraction done, from 0 to 1, or < 0 when unknown.
	progress func(elapsed time.Duration, records int64) float64

	lastAt               time.Duration
	lastRecords, lastByt int64
	drew                 bool // a text progress line is on screen
}

// run reports every interval until stop is closed, then closes done.
func (r *benchReporter) run(interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			r.tick(time.Since(r.start))
		}
	}
}

func (r *benchReporter) tick(elapsed time.Duration) {
	records, bytes := r.m.records.Load(), r.m.bytes.Load()
	rps, mbps := rates(records-r.lastRecords, bytes-r.lastByt, elapsed-r.lastAt)
	r.lastAt, r.lastRecords, r.lastByt = elapsed, records, bytes
	p := progressLine{Type: "progress", ElapsedS: round3(elapsed.Seconds()), Records: records, Bytes: bytes, RecordsPerS: rps, MBPerS: mbps}
	if !r.text {
		writeJSONLine(r.w, p)
		return
	}
	frac := -1.0
	if r.progress != nil {
		frac = r.progress(elapsed, records)
	}
	fmt.Fprintf(r.w, "\r%s\x1b[K", progressText(p, frac))
	r.drew = true
}

// progressText is the one-line progress display: a bar when the end is
// known, then elapsed time, records and the current rates.
func progressText(p progressLine, frac float64) string {
	var b strings.Builder
	if frac >= 0 {
		const width = 24
		frac = min(frac, 1)
		n := int(frac * width)
		fmt.Fprintf(&b, "[%s%s] %3d%%  ", strings.Repeat("#", n), strings.Repeat("-", width-n), int(frac*100))
	}
	fmt.Fprintf(&b, "%6.1fs  %s records  %s records/s  %.2f MB/s",
		p.ElapsedS, groupDigits(p.Records), groupDigits(int64(p.RecordsPerS)), p.MBPerS)
	return b.String()
}

func (r *benchReporter) result(res benchResult) {
	if !r.text {
		writeJSONLine(r.w, res)
		return
	}
	if r.drew {
		fmt.Fprint(r.w, "\r\x1b[K")
	}
	io.WriteString(r.w, resultText(res))
}

// resultText is the human summary of a run.
func resultText(res benchResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q: %s records, %.1f MB in %.2fs: %s records/s, %.2f MB/s (stopped: %s)\n",
		res.Mode, res.Config.Topic, groupDigits(res.Records), float64(res.Bytes)/bytesPerMB, res.ElapsedS,
		groupDigits(int64(res.RecordsPerS)), res.MBPerS, res.Stopped)
	if res.Produced != nil {
		fmt.Fprintf(&b, "  produced and acknowledged: %s records\n", groupDigits(*res.Produced))
	}
	latency := func(name string, l *latencySummary) {
		if l != nil {
			fmt.Fprintf(&b, "  %-16s p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (%s samples)\n",
				name, l.P50, l.P99, l.P999, l.Max, groupDigits(l.Samples))
		}
	}
	switch res.Mode {
	case benchE2E:
		latency("end-to-end", res.LatencyMs)
		latency("acknowledgement", res.AckLatencyMs)
	case benchProduce:
		latency("acknowledgement", res.LatencyMs)
	}
	if res.Errors > 0 {
		fmt.Fprintf(&b, "  errors: %s\n", groupDigits(res.Errors))
	}
	return b.String()
}

func writeJSONLine(w io.Writer, v any) {
	line, err := json.Marshal(v)
	if err != nil { // only plain structs and finite numbers go in
		panic(fmt.Sprintf("bench: encoding output: %v", err))
	}
	w.Write(append(line, '\n'))
}

// groupDigits writes n with thousands separators: 1234567 is "1,234,567".
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
