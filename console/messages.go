package console

// The message browser: a bounded window of records read with a consumer of
// its own (no group, nothing committed), shown as text, pretty JSON or hex,
// then filtered by key or substring within that window.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// maxWindow is the most records one page shows; defaultWindow what it
	// shows unless asked.
	maxWindow     = 100
	defaultWindow = 20
	// maxShownBytes cuts a key, value or header shown on the page.
	maxShownBytes = 8 << 10
	// maxReadRecords bounds what one window reads across partitions:
	// "newest 100 of all" reads up to 100 per partition and keeps the
	// newest 100, so without it a topic of 1,000 partitions would read
	// 100,000 records for one page.
	maxReadRecords = 1000
	// browseTimeout bounds reading one window.
	browseTimeout = 5 * time.Second
	// fetchMaxBytes bounds what one fetch brings, so a window of large
	// records cannot make the console hold much more than it shows.
	fetchMaxBytes          = 4 << 20
	fetchMaxPartitionBytes = 1 << 20
)

// browseQuery is the message browser's form.
type browseQuery struct {
	Partition int32     // -1: all
	From      string    // "newest", "offset", "beginning" or "timestamp"
	Offset    int64     // From == "offset"
	Time      time.Time // From == "timestamp"
	Count     int       // 1..maxWindow
	Format    string    // text, json, hex
	Key       string    // show only records whose key is this text
	Contains  string    // show only records whose key, value or a header contains this
	// at is where From == "timestamp" starts in each partition: the
	// first offset at or after Time (ListOffsets by time).
	at map[int32]int64
}

// parseBrowse reads the form, with defaults; an error names the field.
func parseBrowse(q url.Values) (browseQuery, error) {
	b := browseQuery{Partition: -1, From: "newest", Count: defaultWindow, Format: "text", Key: q.Get("key"), Contains: q.Get("q")}
	if v := q.Get("partition"); v != "" && v != "all" {
		p, err := strconv.ParseInt(v, 10, 32)
		if err != nil || p < 0 {
			return b, fmt.Errorf("partition %q: want all or a partition number", v)
		}
		b.Partition = int32(p)
	}
	switch v := q.Get("from"); v {
	case "", "newest":
	case "offset":
		b.From = v
		o, err := strconv.ParseInt(strings.TrimSpace(q.Get("offset")), 10, 64)
		if err != nil || o < 0 {
			return b, fmt.Errorf("offset %q: want an offset from 0 up", q.Get("offset"))
		}
		b.Offset = o
	case "beginning":
		b.From = v
	case "timestamp":
		b.From = v
		ts, err := parseTimestamp(q.Get("time"))
		if err != nil {
			return b, err
		}
		b.Time = ts
	default:
		return b, fmt.Errorf("from %q: want newest, offset, beginning or timestamp", v)
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxWindow {
			return b, fmt.Errorf("count %q: want 1 to %d records", v, maxWindow)
		}
		b.Count = n
	}
	switch v := q.Get("format"); v {
	case "":
	case "text", "json", "hex":
		b.Format = v
	default:
		return b, fmt.Errorf("format %q: want text, json or hex", v)
	}
	return b, nil
}

// bounds is a partition's offsets: records are at [Start, End).
type bounds struct{ Start, End int64 }

// plan is where each partition's read starts and the end it stops at;
// partitions with nothing to read are left out. newest reads the last
// count records of each partition (the window then keeps the newest count
// of all); offset reads count records from the offset, which must lie
// within [Start, End] of the partition asked for.
func plan(b browseQuery, parts map[int32]bounds) (map[int32]bounds, error) {
	out := make(map[int32]bounds)
	for p, bd := range parts {
		if b.Partition >= 0 && p != b.Partition {
			continue
		}
		start := bd.Start
		switch b.From {
		case "newest":
			start = max(bd.Start, bd.End-int64(b.Count))
		case "timestamp":
			at, ok := b.at[p]
			if !ok || at < 0 || at > bd.End {
				continue // no record at or after the time
			}
			start = max(bd.Start, at)
		case "offset":
			if b.Offset < bd.Start || b.Offset > bd.End {
				if b.Partition >= 0 {
					return nil, &offsetRangeError{Partition: p, Offset: b.Offset, Bounds: bd}
				}
				if b.Offset > bd.End {
					continue // this partition ends before the offset
				}
			} else {
				start = b.Offset
			}
		}
		if end := min(bd.End, start+int64(b.Count)); end > start {
			out[p] = bounds{start, end}
		}
	}
	return out, nil
}

// offsetRangeError is an offset outside a partition's records, said with
// the offsets it holds.
type offsetRangeError struct {
	Partition int32
	Offset    int64
	Bounds    bounds
}

func (e *offsetRangeError) Error() string {
	if e.Bounds.End == e.Bounds.Start {
		return fmt.Sprintf("partition %d holds no records (its next offset is %d); offset %d is out of range", e.Partition, e.Bounds.End, e.Offset)
	}
	return fmt.Sprintf("partition %d holds offsets %d to %d; offset %d is out of range", e.Partition, e.Bounds.Start, e.Bounds.End-1, e.Offset)
}

func (e *offsetRangeError) Unwrap() error { return kerr.OffsetOutOfRange }

// shownBytes is a key, value or header as the page shows it.
type shownBytes struct {
	Null    bool
	Text    string
	Schema  string // decoded with this schema: "AVRO schema 7"
	Err     string // framed for a schema but did not decode: why
	Note    string // "not UTF-8, shown as hex", "cut at 8 KiB of 20 KiB"
	Pre     bool   // multi-line: shown in a <pre>
	RawText string // the whole thing as text, for filtering
}

type shownHeader struct {
	Key   string
	Value shownBytes
}

type shownRecord struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       shownBytes
	Value     shownBytes
	Headers   []shownHeader
}

// show renders b in format (text, json or hex).
func show(b []byte, isNull bool, format string) shownBytes {
	if isNull {
		return shownBytes{Null: true, Text: "null"}
	}
	s := shownBytes{RawText: string(b)}
	total := len(b)
	cut := b
	if len(cut) > maxShownBytes {
		cut = cut[:maxShownBytes]
		s.Note = fmt.Sprintf("cut at %s of %s", humanBytes(maxShownBytes), humanBytes(int64(total)))
	}
	note := func(n string) {
		if s.Note != "" {
			s.Note = n + "; " + s.Note
		} else {
			s.Note = n
		}
	}
	switch format {
	case "json":
		var buf bytes.Buffer
		// encoding/json accepts invalid UTF-8 inside strings and would
		// pass it through Indent: such a value is not shown as JSON.
		if utf8.Valid(b) && json.Valid(b) && json.Indent(&buf, b, "", "  ") == nil {
			s.Text, s.Pre = buf.String(), true
			if buf.Len() > maxShownBytes {
				// Cut on the indented text, never inside a character.
				s.Text = strings.ToValidUTF8(s.Text[:maxShownBytes], "")
				s.Note = fmt.Sprintf("cut at %s of %s", humanBytes(maxShownBytes), humanBytes(int64(buf.Len())))
			}
			return s
		}
		note("not JSON")
		fallthrough
	case "text":
		if utf8.Valid(b) {
			s.Text = strings.ToValidUTF8(string(cut), "")
			s.Pre = strings.Contains(s.Text, "\n")
			return s
		}
		note("not UTF-8, shown as hex")
	}
	s.Text, s.Pre = hexDump(cut), true
	return s
}

// hexDump is b as lines of 16 bytes: offset, hex bytes.
func hexDump(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 16 {
		line := b[i:min(i+16, len(b))]
		fmt.Fprintf(&sb, "%04x  ", i)
		for j, c := range line {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(hex.EncodeToString([]byte{c}))
		}
		if i+16 < len(b) {
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

// keep says whether r passes the key and substring filters.
func (b browseQuery) keep(r shownRecord) bool {
	if b.Key != "" && (r.Key.Null || r.Key.RawText != b.Key) {
		return false
	}
	if b.Contains == "" {
		return true
	}
	if strings.Contains(r.Key.RawText, b.Contains) || strings.Contains(r.Value.RawText, b.Contains) {
		return true
	}
	for _, h := range r.Headers {
		if strings.Contains(h.Key, b.Contains) || strings.Contains(h.Value.RawText, b.Contains) {
			return true
		}
	}
	return false
}

// window orders the records read (newest first for "newest", oldest
// first for "timestamp", by partition and offset for "offset" and
// "beginning") and keeps count of them.
func window(b browseQuery, recs []shownRecord) []shownRecord {
	switch b.From {
	case "timestamp":
		sort.SliceStable(recs, func(i, j int) bool {
			if !recs[i].Timestamp.Equal(recs[j].Timestamp) {
				return recs[i].Timestamp.Before(recs[j].Timestamp)
			}
			if recs[i].Partition != recs[j].Partition {
				return recs[i].Partition < recs[j].Partition
			}
			return recs[i].Offset < recs[j].Offset
		})
	case "newest":
		sort.SliceStable(recs, func(i, j int) bool {
			if !recs[i].Timestamp.Equal(recs[j].Timestamp) {
				return recs[i].Timestamp.After(recs[j].Timestamp)
			}
			if recs[i].Partition != recs[j].Partition {
				return recs[i].Partition < recs[j].Partition
			}
			return recs[i].Offset > recs[j].Offset
		})
	default:
		sort.SliceStable(recs, func(i, j int) bool {
			if recs[i].Partition != recs[j].Partition {
				return recs[i].Partition < recs[j].Partition
			}
			return recs[i].Offset < recs[j].Offset
		})
	}
	if len(recs) > b.Count {
		recs = recs[:b.Count]
	}
	return recs
}

type messagesData struct {
	Topic      string
	Partitions []int32
	Query      browseQuery
	Read       int // records in the window before filtering
	Records    []shownRecord
	Note       string // the window ended early
	Problem    *problem
	Decoding   bool // a schema registry decodes framed keys and values
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	ctx, cancel := pageCtx(r)
	defer cancel()
	t, ok := s.topicOrFail(ctx, w, r, name)
	if !ok {
		return
	}
	d := messagesData{Topic: name, Decoding: s.dec != nil}
	for _, p := range t.Partitions.Sorted() {
		d.Partitions = append(d.Partitions, p.Partition)
	}
	bq, err := parseBrowse(r.URL.Query())
	d.Query = bq
	v := view{Title: "Messages in " + name, Nav: "topics", Flash: producedFlash(r.URL.Query())}
	if err != nil {
		d.Problem = &problem{What: "read messages", Detail: err.Error()}
		v.Data = d
		s.render(w, r, http.StatusBadRequest, "messages", v)
		return
	}
	if bq.Partition >= 0 && t.Partitions[bq.Partition].Topic == "" {
		d.Problem = &problem{What: "read messages", Name: kerr.UnknownTopicOrPartition.Message,
			Detail: fmt.Sprintf("topic %q has no partition %d (it has %d)", name, bq.Partition, len(t.Partitions))}
		v.Data = d
		s.render(w, r, http.StatusNotFound, "messages", v)
		return
	}
	recs, note, err := s.read(ctx, name, bq)
	if err != nil {
		p := kafkaProblem("read messages", err, "")
		var oe *offsetRangeError
		if errors.As(err, &oe) {
			p.Detail = oe.Error()
			p.Hint = fmt.Sprintf("Start from an offset from %d to %d, or read the newest records.", oe.Bounds.Start, oe.Bounds.End)
		}
		d.Problem = &p
		v.Data = d
		s.render(w, r, statusFor(err), "messages", v)
		return
	}
	d.Read, d.Note = len(recs), note
	for _, rec := range recs {
		if bq.keep(rec) {
			d.Records = append(d.Records, rec)
		}
	}
	v.Data = d
	s.render(w, r, 0, "messages", v)
}

// read reads the window bq asks for.
func (s *Server) read(ctx context.Context, topic string, bq browseQuery) ([]shownRecord, string, error) {
	starts, err := s.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, "", err
	}
	ends, err := s.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, "", err
	}
	parts := make(map[int32]bounds)
	var lerr error
	ends.Each(func(e kadm.ListedOffset) {
		st, ok := starts.Lookup(e.Topic, e.Partition)
		switch {
		case e.Err != nil:
			lerr = e.Err
		case !ok || st.Err != nil:
			lerr = st.Err
		default:
			parts[e.Partition] = bounds{st.Offset, e.Offset}
		}
	})
	if lerr != nil && (bq.Partition < 0 || parts[bq.Partition] == (bounds{})) {
		return nil, "", lerr
	}
	if bq.From == "timestamp" {
		listed, err := s.adm.ListOffsetsAfterMilli(ctx, bq.Time.UnixMilli(), topic)
		if err != nil {
			return nil, "", err
		}
		bq.at = map[int32]int64{}
		listed.Each(func(o kadm.ListedOffset) {
			if o.Err == nil && o.Topic == topic {
				bq.at[o.Partition] = o.Offset
			}
		})
	}
	todo, err := plan(bq, parts)
	if err != nil || len(todo) == 0 {
		return nil, "", err
	}
	offsets := make(map[int32]kgo.Offset, len(todo))
	for p, bd := range todo {
		offsets[p] = kgo.NewOffset().At(bd.Start)
	}
	opts := append(baseOpts(s.cfg), s.cfg.ClientOpts...)
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		// Control records are kept (and not shown) so that the read
		// walks past transaction markers up to the end offset.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(fetchMaxBytes), kgo.FetchMaxPartitionBytes(fetchMaxPartitionBytes),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, browseTimeout)
	defer cancel()
	var out []shownRecord
	dec := s.dec.window(ctx)
	left := len(todo)
	// Bounded: each poll moves some partition forward or ends at the
	// deadline; each partition stops at its end.
	for left > 0 {
		if len(out) >= maxReadRecords {
			return window(bq, out), fmt.Sprintf("Stopped after reading %d records, before the end of %d partition(s); choose one partition to see all of its window.", len(out), left), nil
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return window(bq, out), fmt.Sprintf("Stopped after %s before reaching the end of %d partition(s).", browseTimeout, left), nil
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, "", ferr
		}
		fs.EachRecord(func(rec *kgo.Record) {
			bd, ok := todo[rec.Partition]
			if !ok {
				return
			}
			if rec.Offset >= bd.End-1 { // past a compacted gap, too
				left--
				delete(todo, rec.Partition)
			}
			if rec.Offset >= bd.End || rec.Offset < bd.Start || rec.Attrs.IsControl() {
				return
			}
			out = append(out, toShown(rec, bq.Format, dec))
		})
	}
	return window(bq, out), "", nil
}

// toShown is rec as the page shows it; dec, when not nil, decodes keys
// and values framed for a schema (except when hex is asked for).
func toShown(rec *kgo.Record, format string, dec *decodeWindow) shownRecord {
	keyFormat := format
	if format == "json" && !json.Valid(rec.Key) {
		keyFormat = "text" // most keys are plain ids: no "not JSON" on each
	}
	sr := shownRecord{Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp,
		Key: showDecoded(rec.Key, rec.Key == nil, keyFormat, dec), Value: showDecoded(rec.Value, rec.Value == nil, format, dec)}
	for _, h := range rec.Headers {
		sr.Headers = append(sr.Headers, shownHeader{Key: h.Key, Value: show(h.Value, h.Value == nil, format)})
	}
	return sr
}

// timestampLayouts are what the time field takes: a browser's
// datetime-local value (read as UTC, which the page says), with or without
// seconds and milliseconds, or RFC 3339 with a zone.
var timestampLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.000", "2006-01-02 15:04:05", time.RFC3339Nano}

// parseTimestamp reads the time field: one of timestampLayouts, or
// milliseconds since the Unix epoch as Kafka stores them.
func parseTimestamp(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, v); err == nil {
			if t.Year() < 1970 {
				break
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want a date and time in UTC (2006-01-02T15:04:05), or milliseconds since 1970", v)
}
