// These tests prove the command line's parsing pieces: key=value flags, the
// produce key separator, acks, compression and offsets, and the consume
// --format template.
package cli

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseKV(t *testing.T) {
	tests := []struct {
		in, k, v string
		ok       bool
	}{
		{"retention.ms=1000", "retention.ms", "1000", true},
		{"cleanup.policy=compact,delete", "cleanup.policy", "compact,delete", true},
		{"a=b=c", "a", "b=c", true},
		{" a =x", "a", "x", true},
		{"empty=", "empty", "", true},
		{"novalue", "", "", false},
		{"=v", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		k, v, err := parseKV("config", tt.in)
		if (err == nil) != tt.ok || k != tt.k || v != tt.v {
			t.Errorf("parseKV(%q) = %q, %q, %v", tt.in, k, v, err)
		}
		if err != nil && !strings.Contains(err.Error(), "--config") {
			t.Errorf("parseKV(%q) error %q does not name the flag", tt.in, err)
		}
	}
	m, err := parseKVs("config", []string{"a=1", "b=2,3"})
	if err != nil || !reflect.DeepEqual(m, map[string]string{"a": "1", "b": "2,3"}) {
		t.Errorf("parseKVs = %v, %v", m, err)
	}
	if _, err := parseKVs("set", []string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), "a is given twice") {
		t.Errorf("parseKVs duplicate: %v", err)
	}
	hs, err := parseHeaders([]string{"trace=1", "trace=2", "x="})
	want := []kgo.RecordHeader{{Key: "trace", Value: []byte("1")}, {Key: "trace", Value: []byte("2")}, {Key: "x", Value: []byte("")}}
	if err != nil || !reflect.DeepEqual(hs, want) {
		t.Errorf("parseHeaders = %v, %v", hs, err)
	}
	if _, err := parseHeaders([]string{"nokey"}); err == nil {
		t.Error("parseHeaders accepted a header without =")
	}
}

func TestSplitKey(t *testing.T) {
	tests := []struct {
		line, sep  string
		key, value string
		hasKey     bool
	}{
		{"k:v", ":", "k", "v", true},
		{"k:v:w", ":", "k", "v:w", true},
		{":v", ":", "", "v", true},
		{"k:", ":", "k", "", true},
		{"no separator", ":", "", "no separator", false},
		{"k::v", "::", "k", "v", true},
		{"k\tv", "\t", "k", "v", true},
		{"anything", "", "", "anything", false},
	}
	for _, tt := range tests {
		k, v, has := splitKey([]byte(tt.line), []byte(tt.sep))
		if string(k) != tt.key || string(v) != tt.value || has != tt.hasKey {
			t.Errorf("splitKey(%q, %q) = %q, %q, %v", tt.line, tt.sep, k, v, has)
		}
		if !has && k != nil {
			t.Errorf("splitKey(%q, %q): a line without a key must give a null key", tt.line, tt.sep)
		}
	}
}

func TestTrimEOL(t *testing.T) {
	for in, want := range map[string]string{"a\n": "a", "a\r\n": "a", "a": "a", "\n": "", "a\r": "a\r", "": ""} {
		if got := string(trimEOL([]byte(in))); got != want {
			t.Errorf("trimEOL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`a\tb`: "a\tb", `\n`: "\n", `\\`: `\`, `\r\0`: "\r\x00", `\q`: `\q`, `end\`: `end\`, "plain": "plain",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAcks(t *testing.T) {
	tests := []struct {
		in         string
		acks       kgo.Acks
		idempotent bool
	}{
		{"-1", kgo.AllISRAcks(), true},
		{"all", kgo.AllISRAcks(), true},
		{"1", kgo.LeaderAck(), false},
		{"0", kgo.NoAck(), false},
	}
	for _, tt := range tests {
		acks, idem, err := parseAcks(tt.in)
		if err != nil || acks != tt.acks || idem != tt.idempotent {
			t.Errorf("parseAcks(%q) = %v, %v, %v", tt.in, acks, idem, err)
		}
	}
	for _, bad := range []string{"2", "", "leader"} {
		if _, _, err := parseAcks(bad); err == nil {
			t.Errorf("parseAcks(%q) accepted it", bad)
		}
	}
}

func TestParseCompression(t *testing.T) {
	for _, ok := range []string{"none", "gzip", "snappy", "lz4", "zstd", "GZIP"} {
		if _, err := parseCompression(ok); err != nil {
			t.Errorf("parseCompression(%q): %v", ok, err)
		}
	}
	if _, err := parseCompression("brotli"); err == nil || !strings.Contains(err.Error(), "none, gzip, snappy, lz4 or zstd") {
		t.Errorf("parseCompression(brotli) = %v", err)
	}
}

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in   string
		want kgo.Offset
	}{
		{"earliest", kgo.NewOffset().AtStart()},
		{"latest", kgo.NewOffset().AtEnd()},
		{"0", kgo.NewOffset().At(0)},
		{"42", kgo.NewOffset().At(42)},
		{"-10", kgo.NewOffset().AtEnd().Relative(-10)},
	}
	for _, tt := range tests {
		got, err := parseOffset(tt.in)
		if err != nil || got.String() != tt.want.String() {
			t.Errorf("parseOffset(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "first", "1.5", "0x10"} {
		if _, err := parseOffset(bad); err == nil {
			t.Errorf("parseOffset(%q) accepted it", bad)
		}
	}
}

func TestFormat(t *testing.T) {
	rec := &kgo.Record{
		Topic:     "orders",
		Partition: 3,
		Offset:    1234,
		Key:       []byte("k1"),
		Value:     []byte("hello"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
	}
	nullKey := &kgo.Record{Topic: "t", Value: []byte("v"), Timestamp: time.UnixMilli(5)}
	tests := []struct {
		format string
		rec    *kgo.Record
		sep    string
		want   string
	}{
		{`%v\n`, rec, "\t", "hello\n"},
		{`%k%s%v\n`, rec, "\t", "k1\thello\n"},
		{`%k%s%v`, rec, " => ", "k1 => hello"},
		{`%T/%p@%o %t`, rec, "", "orders/3@1234 1700000000123"},
		{`[%h]`, rec, "", "[a=1,b=2]"},
		{`[%h]`, nullKey, "", "[]"},
		{`key=%k value=%v`, nullKey, "", "key= value=v"},
		{`100%% %v`, rec, "", "100% hello"},
		{`\t%v\\n`, rec, "", "\thello\\n"},
		{`no tokens`, rec, "", "no tokens"},
	}
	for _, tt := range tests {
		f, err := compileFormat(tt.format)
		if err != nil {
			t.Errorf("compileFormat(%q): %v", tt.format, err)
			continue
		}
		if got := string(f.appendRecord(nil, tt.rec, tt.sep)); got != tt.want {
			t.Errorf("format %q = %q, want %q", tt.format, got, tt.want)
		}
	}
	for _, bad := range []string{"%x", "%v%", "trailing %"} {
		if _, err := compileFormat(bad); err == nil {
			t.Errorf("compileFormat(%q) accepted it", bad)
		}
	}
}

func TestShortcutFormat(t *testing.T) {
	tests := []struct {
		key, ts, headers bool
		want             string
	}{
		{false, false, false, "%v\n"},
		{true, false, false, "%k%s%v\n"},
		{true, true, true, "%t%s%h%s%k%s%v\n"},
		{false, true, false, "%t%s%v\n"},
	}
	for _, tt := range tests {
		if got := shortcutFormat(tt.key, tt.ts, tt.headers); got != tt.want {
			t.Errorf("shortcutFormat(%v, %v, %v) = %q, want %q", tt.key, tt.ts, tt.headers, got, tt.want)
		}
	}
}

func TestBuildAlters(t *testing.T) {
	got, err := buildAlters([]string{"retention.ms=1000", "cleanup.policy=compact,delete"}, []string{"segment.ms"})
	want := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact,delete")},
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1000")},
		{Op: kadm.DeleteConfig, Name: "segment.ms"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("buildAlters = %+v, %v", got, err)
	}
	bad := []struct {
		sets, deletes []string
		want          string
	}{
		{nil, nil, "nothing to do"},
		{[]string{"a=1"}, []string{"a"}, "a is given twice across --set and --delete"},
		{nil, []string{"a", "a"}, "a is given twice"},
		{nil, []string{"a=1"}, "want a config key, without a value"},
		{[]string{"nokey"}, nil, "want key=value"},
	}
	for _, tt := range bad {
		if _, err := buildAlters(tt.sets, tt.deletes); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("buildAlters(%v, %v) = %v, want %q", tt.sets, tt.deletes, err, tt.want)
		}
	}
}
