// These tests prove the console's arithmetic: pages of a list, a group's
// lag per partition and in total, the rows of an offset reset preview, the
// window the message browser reads, and how bytes are shown.
package console

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestPaginate(t *testing.T) {
	for _, c := range []struct {
		total int
		page  string
		want  pager
	}{
		{0, "", pager{Page: 1, Pages: 1, Total: 0, From: 1, To: 0}},
		{50, "", pager{Page: 1, Pages: 1, Total: 50, From: 1, To: 50}},
		{51, "", pager{Page: 1, Pages: 2, Total: 51, From: 1, To: 50, Next: "/topics?page=2&q=a"}},
		{120, "3", pager{Page: 3, Pages: 3, Total: 120, From: 101, To: 120, Prev: "/topics?page=2&q=a"}},
		{120, "2", pager{Page: 2, Pages: 3, Total: 120, From: 51, To: 100, Prev: "/topics?q=a", Next: "/topics?page=3&q=a"}},
		{120, "99", pager{Page: 3, Pages: 3, Total: 120, From: 101, To: 120, Prev: "/topics?page=2&q=a"}}, // clamped
		{120, "-4", pager{Page: 1, Pages: 3, Total: 120, From: 1, To: 50, Next: "/topics?page=2&q=a"}},
		{120, "x", pager{Page: 1, Pages: 3, Total: 120, From: 1, To: 50, Next: "/topics?page=2&q=a"}},
	} {
		q := url.Values{"q": {"a"}, "deleted": {"old"}}
		if c.page != "" {
			q.Set("page", c.page)
		}
		got := paginate("/topics", q, c.total, perPage)
		if got.lo != got.From-1 || got.hi != got.To {
			t.Errorf("total %d page %q: slice [%d,%d) for rows %d-%d", c.total, c.page, got.lo, got.hi, got.From, got.To)
		}
		got.lo, got.hi = 0, 0
		if got != c.want {
			t.Errorf("total %d page %q:\n got %+v\nwant %+v", c.total, c.page, got, c.want)
		}
	}
}

func offsets(entries ...kadm.OffsetResponse) kadm.OffsetResponses {
	out := kadm.OffsetResponses{}
	for _, e := range entries {
		if out[e.Topic] == nil {
			out[e.Topic] = map[int32]kadm.OffsetResponse{}
		}
		out[e.Topic][e.Partition] = e
	}
	return out
}

func committedAt(topic string, p int32, at int64) kadm.OffsetResponse {
	return kadm.OffsetResponse{Offset: kadm.Offset{Topic: topic, Partition: p, At: at}}
}

func listed(entries ...kadm.ListedOffset) kadm.ListedOffsets {
	out := kadm.ListedOffsets{}
	for _, e := range entries {
		if out[e.Topic] == nil {
			out[e.Topic] = map[int32]kadm.ListedOffset{}
		}
		out[e.Topic][e.Partition] = e
	}
	return out
}

func TestComputeLag(t *testing.T) {
	committed := offsets(committedAt("t", 0, 5), committedAt("t", 1, 30), committedAt("u", 0, 0))
	assigned := map[string]map[int32]string{"t": {0: "c1", 2: "c2"}}
	ends := listed(
		kadm.ListedOffset{Topic: "t", Partition: 0, Offset: 10},
		kadm.ListedOffset{Topic: "t", Partition: 1, Offset: 20}, // committed past the end
		kadm.ListedOffset{Topic: "t", Partition: 2, Offset: 7},  // assigned, never committed
		kadm.ListedOffset{Topic: "u", Partition: 0, Err: kerr.NotLeaderForPartition},
	)
	rows, total := computeLag(committed, assigned, ends)
	type r struct {
		topic              string
		p                  int32
		member             string
		committed, end, lg int64
	}
	want := []r{{"t", 0, "c1", 5, 10, 5}, {"t", 1, "", 30, 20, 0}, {"t", 2, "c2", -1, 7, -1}, {"u", 0, "", 0, -1, -1}}
	if len(rows) != len(want) {
		t.Fatalf("rows: %+v", rows)
	}
	for i, w := range want {
		g := rows[i]
		if (r{g.Topic, g.Partition, g.Member, g.Committed, g.End, g.Lag}) != w {
			t.Errorf("row %d: got %+v, want %+v", i, g, w)
		}
	}
	if rows[3].Err == "" {
		t.Errorf("the end offset's error is not on the row: %+v", rows[3])
	}
	if total != 5 {
		t.Errorf("total lag %d, want 5 (unknown lags are not counted)", total)
	}
}

func TestResetPlan(t *testing.T) {
	committed := offsets(committedAt("t", 1, 12), committedAt("t", 0, 20))
	targets := listed(
		kadm.ListedOffset{Topic: "t", Partition: 1, Offset: 3},
		kadm.ListedOffset{Topic: "t", Partition: 0, Offset: 0},
		kadm.ListedOffset{Topic: "t", Partition: 2, Offset: 0}, // no commit yet
	)
	rows, err := resetPlan(committed, targets)
	if err != nil {
		t.Fatal(err)
	}
	want := []resetRow{{"t", 0, 20, 0, ""}, {"t", 1, 12, 3, ""}, {"t", 2, -1, 0, ""}}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
	targets["t"][2] = kadm.ListedOffset{Topic: "t", Partition: 2, Err: kerr.UnknownTopicOrPartition}
	if _, err := resetPlan(committed, targets); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("a partition that could not be listed: %v", err)
	}
}

func TestBrowsePlan(t *testing.T) {
	parts := map[int32]bounds{0: {0, 10}, 1: {5, 6}, 2: {0, 0}, 3: {8, 20}}
	got, err := plan(browseQuery{Partition: -1, From: "newest", Count: 3}, parts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]bounds{0: {7, 10}, 1: {5, 6}, 3: {17, 20}}
	if len(got) != len(want) {
		t.Fatalf("newest 3: %v", got)
	}
	for p, b := range want {
		if got[p] != b {
			t.Errorf("newest 3, partition %d: %v, want %v", p, got[p], b)
		}
	}
	got, err = plan(browseQuery{Partition: 0, From: "offset", Offset: 7, Count: 100}, parts)
	if err != nil || len(got) != 1 || got[0] != (bounds{7, 10}) {
		t.Errorf("offset 7 of partition 0: %v %v", got, err)
	}
	// All partitions from offset 9: those that end before it are skipped,
	// those starting after it are read from their start.
	parts[4] = bounds{12, 30}
	got, err = plan(browseQuery{Partition: -1, From: "offset", Offset: 9, Count: 2}, parts)
	if err != nil || len(got) != 3 || got[0] != (bounds{9, 10}) || got[3] != (bounds{9, 11}) || got[4] != (bounds{12, 14}) {
		t.Errorf("offset 9 of all: %v %v", got, err)
	}
	_, err = plan(browseQuery{Partition: 3, From: "offset", Offset: 2, Count: 5}, parts)
	var oe *offsetRangeError
	if !errors.As(err, &oe) || !errors.Is(err, kerr.OffsetOutOfRange) || !strings.Contains(err.Error(), "holds offsets 8 to 19") {
		t.Errorf("offset before the start: %v", err)
	}
	if _, err = plan(browseQuery{Partition: 2, From: "offset", Offset: 1, Count: 5}, parts); err == nil || !strings.Contains(err.Error(), "holds no records") {
		t.Errorf("offset in an empty partition: %v", err)
	}
}

func TestParseBrowse(t *testing.T) {
	b, err := parseBrowse(url.Values{})
	if err != nil || b.Partition != -1 || b.From != "newest" || b.Count != defaultWindow || b.Format != "text" {
		t.Fatalf("defaults: %+v %v", b, err)
	}
	b, err = parseBrowse(url.Values{"partition": {"2"}, "from": {"offset"}, "offset": {"40"}, "count": {"100"}, "format": {"hex"}, "key": {"k"}, "q": {"x"}})
	if err != nil || b.Partition != 2 || b.Offset != 40 || b.Count != 100 || b.Format != "hex" || b.Key != "k" || b.Contains != "x" {
		t.Fatalf("parsed: %+v %v", b, err)
	}
	for _, bad := range []struct{ k, v, want string }{
		{"partition", "-1", "partition"}, {"count", "101", "1 to 100"}, {"count", "0", "1 to 100"},
		{"format", "avro", "text, json or hex"}, {"from", "sideways", "newest, offset, beginning or timestamp"}, {"from", "timestamp", "time \"\": want a date"},
	} {
		if _, err := parseBrowse(url.Values{bad.k: {bad.v}}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%s: %v", bad.k, bad.v, err)
		}
	}
	if _, err := parseBrowse(url.Values{"from": {"offset"}, "offset": {"-3"}}); err == nil {
		t.Error("a negative offset is accepted")
	}
}

func TestShowBytes(t *testing.T) {
	if s := show([]byte(`{"a":[1,2]}`), false, "json"); !s.Pre || s.Text != "{\n  \"a\": [\n    1,\n    2\n  ]\n}" || s.Note != "" {
		t.Errorf("json: %+v", s)
	}
	if s := show([]byte("plain"), false, "json"); s.Text != "plain" || s.Note != "not JSON" {
		t.Errorf("json of text: %+v", s)
	}
	if s := show([]byte{0xff, 0x00, 'a'}, false, "text"); s.Text != "0000  ff 00 61" || !strings.Contains(s.Note, "not UTF-8") {
		t.Errorf("binary as text: %+v", s)
	}
	if s := show(nil, true, "hex"); !s.Null {
		t.Errorf("null: %+v", s)
	}
	big := strings.Repeat("x", maxShownBytes+10)
	if s := show([]byte(big), false, "text"); len(s.Text) != maxShownBytes || !strings.Contains(s.Note, "cut at 8.0 KiB") || s.RawText != big {
		t.Errorf("big value: len %d note %q", len(s.Text), s.Note)
	}
	wide := `["` + strings.Repeat("\u00e9", maxShownBytes) + `"]`
	if s := show([]byte(wide), false, "json"); !utf8.ValidString(s.Text) || !strings.Contains(s.Note, "cut at 8.0 KiB") {
		t.Errorf("big JSON of 2-byte characters: valid %v, note %q", utf8.ValidString(s.Text), s.Note)
	}
	if got := hexDump([]byte("0123456789abcdefXY")); got != "0000  30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66\n0010  58 59" {
		t.Errorf("hexDump: %q", got)
	}
	b := browseQuery{Key: "k1", Contains: "needle"}
	rec := shownRecord{Key: show([]byte("k1"), false, "text"), Value: show([]byte("hay needle hay"), false, "hex")}
	if !b.keep(rec) {
		t.Error("the filter drops a matching record (substring of a value shown as hex)")
	}
	b.Key = "k2"
	if b.keep(rec) {
		t.Error("the key filter keeps another key")
	}
}

// FuzzShow checks, for any record bytes in each format, that showing them
// never panics, yields valid UTF-8 (what html/template then escapes), keeps
// the whole input for filtering, and shows at most a bounded amount: the
// message browser's window stays bounded whatever a producer wrote.
func FuzzShow(f *testing.F) {
	for _, seed := range []string{"", "plain", `{"a":[1,{"b":null}]}`, "\xff\xfe\x00", "line\nline", "[1,2", "\u00e9\u4e2d"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []string{"text", "json", "hex"} {
			s := show(b, false, format)
			if !utf8.ValidString(s.Text) {
				t.Fatalf("%s: shown text is not UTF-8: %q", format, s.Text)
			}
			if s.RawText != string(b) {
				t.Fatalf("%s: the raw text for filtering lost bytes", format)
			}
			// A hex dump line of 16 bytes is at most 6 + 16*3 characters.
			if limit := maxShownBytes/16*(6+16*3) + 64; len(s.Text) > limit {
				t.Fatalf("%s: shows %d bytes, over %d", format, len(s.Text), limit)
			}
		}
	})
}
