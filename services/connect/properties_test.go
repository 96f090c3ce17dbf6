package connect

// The .properties reader follows java.util.Properties.load: separators,
// comments, continuations, escapes; and Kafka's quickstart files parse.

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseProperties(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"a=b", map[string]string{"a": "b"}},
		{"a = b ", map[string]string{"a": "b "}},
		{"a: b", map[string]string{"a": "b"}},
		{"a b", map[string]string{"a": "b"}},
		{"a\tb", map[string]string{"a": "b"}},
		{"  a=b", map[string]string{"a": "b"}},
		{"a", map[string]string{"a": ""}},
		{"a=", map[string]string{"a": ""}},
		{"a==b", map[string]string{"a": "=b"}},
		{"a = : b", map[string]string{"a": ": b"}},
		{"# comment\n! also\n  # indented\na=1", map[string]string{"a": "1"}},
		{"a=1\na=2", map[string]string{"a": "2"}},
		{"a=x#y", map[string]string{"a": "x#y"}},
		{"a=one \\\n    two", map[string]string{"a": "one two"}},
		{"a=one \\\\\nb=2", map[string]string{"a": `one \`, "b": "2"}},
		{"a=one\\\n", map[string]string{"a": "one"}},
		{"a=one\\", map[string]string{"a": "one"}},
		{`a=\t\n\r\f\q\\`, map[string]string{"a": "\t\n\r\fq\\"}},
		{`a=\u00e9\u4E2D`, map[string]string{"a": "é中"}},
		{`a=\ud83d\ude00`, map[string]string{"a": "😀"}},
		{`k\=ey=v`, map[string]string{"k=ey": "v"}},
		{`k\ ey v`, map[string]string{"k ey": "v"}},
		{"a=1\r\nb=2\rc=3", map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"# x \\\na=1", map[string]string{"a": "1"}}, // a comment does not continue
		{"a=1 \\\n# not a comment", map[string]string{"a": "1 # not a comment"}},
		{"\n\n   \n", map[string]string{}},
	} {
		got, err := PropertiesMap([]byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{`a=\u12`, `a=\uzzzz`, `\u00g0=1`} {
		if _, err := ParseProperties([]byte(bad)); err == nil {
			t.Errorf("%q: want a malformed \\u error", bad)
		}
	}
	ps, _ := ParseProperties([]byte("# c\na=1\n\nb=2 \\\n 3\nc=4"))
	if len(ps) != 3 || ps[0].Line != 2 || ps[1].Line != 4 || ps[2].Line != 6 {
		t.Errorf("line numbers: %+v", ps)
	}
}

func TestParseKafkaQuickstartWorker(t *testing.T) {
	m, err := PropertiesMap([]byte(strings.Join([]string{
		"# Licensed to the Apache Software Foundation (ASF) under one or more",
		"bootstrap.servers=localhost:9092",
		"key.converter=org.apache.kafka.connect.json.JsonConverter",
		"value.converter=org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable=true",
		"value.converter.schemas.enable=true",
		"offset.storage.file.filename=/tmp/connect.offsets",
		"offset.flush.interval.ms=10000",
		"# plugin.path=/usr/local/share/java,/usr/local/share/kafka/plugins,/opt/connectors,",
		"plugin.path=libs/connect-file-3.9.0.jar",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseWorkerConfig(m, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if c.Bootstrap[0] != "localhost:9092" || c.KeyConverter != JSONConverter || c.ValueProps["schemas.enable"] != "true" ||
		c.OffsetFile != "/tmp/connect.offsets" || c.OffsetFlushInterval.Milliseconds() != 10000 || c.Listen != DefaultListen ||
		c.OffsetsTopic != DefaultOffsetsTopic {
		t.Fatalf("%+v", c)
	}
}

func TestParseWorkerConfigListeners(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		want  string
		err   string
	}{
		{map[string]string{"listeners": "http://127.0.0.1:18083"}, "127.0.0.1:18083", ""},
		{map[string]string{"listeners": "http://:8083"}, ":8083", ""},
		{map[string]string{"listeners": "http://localhost:1,http://127.0.0.1:2"}, "localhost:1", ""},
		{map[string]string{"rest.port": "9000"}, "127.0.0.1:9000", ""},
		{map[string]string{"rest.port": "9000", "rest.host.name": "0.0.0.0"}, "0.0.0.0:9000", ""},
		{map[string]string{"listeners": "https://127.0.0.1:8443"}, "", "https is not supported"},
		{map[string]string{"listeners": "127.0.0.1:8083"}, "", "want http://host:port"},
		{map[string]string{"rest.port": "x"}, "", "rest.port"},
		{map[string]string{"offset.flush.interval.ms": "-1"}, "", "offset.flush.interval.ms"},
		{map[string]string{"value.converter": "com.example.Nope"}, "", "value.converter"},
		{map[string]string{"bootstrap.servers": " , "}, "", "bootstrap.servers is empty"},
	} {
		c, err := ParseWorkerConfig(tc.props, discardLogger())
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.props, err, tc.err)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.props, err)
		case c.Listen != tc.want:
			t.Errorf("%v: listen %q, want %q", tc.props, c.Listen, tc.want)
		}
	}
}

// FuzzParseProperties checks, for any input: no panic; every key and value
// of a valid UTF-8 input is valid UTF-8; a parsed entry written back as
// "key=value" with escapes parses to the same key and value.
func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{"a=b", "a: b\\\n  c", "# x\n!y\nk\\=1 v\\u00e9", "a=\\ud83d\\ude00\r\nb", "\\", "a=\\u"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		ps, err := ParseProperties(data)
		if err != nil || !utf8.Valid(data) {
			return // invalid UTF-8 passes through byte for byte; nothing to compare
		}
		for _, p := range ps {
			if !utf8.ValidString(p.Key) || !utf8.ValidString(p.Value) {
				t.Fatalf("invalid UTF-8 from valid input: %+v", p)
			}
			line := escapeProperty(p.Key, true) + "=" + escapeProperty(p.Value, false)
			back, err := ParseProperties([]byte(line))
			if err != nil || len(back) != 1 || back[0].Key != p.Key || back[0].Value != p.Value {
				t.Fatalf("round trip of %+v via %q: %+v %v", p, line, back, err)
			}
		}
	})
}

// escapeProperty writes s so that the reader gives it back (Java's store).
func escapeProperty(s string, key bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '=' || r == ':' || r == '#' || r == '!':
			b.WriteString(`\` + string(r))
		case r == ' ' && (key || i == 0):
			b.WriteString(`\ `)
		case r == utf8.RuneError || r < 0x20 || r > 0x7e:
			if r > 0xFFFF {
				r -= 0x10000
				b.WriteString(hex4(0xD800 + (r >> 10)))
				b.WriteString(hex4(0xDC00 + (r & 0x3FF)))
				continue
			}
			b.WriteString(hex4(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hex4(r rune) string {
	const digits = "0123456789abcdef"
	return `\u` + string([]byte{digits[r>>12&0xF], digits[r>>8&0xF], digits[r>>4&0xF], digits[r&0xF]})
}
