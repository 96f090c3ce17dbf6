package cli

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// parseKV splits "key=value" at the first '='; the value may be empty or
// contain '=' and ','.
func parseKV(flag, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return "", "", fmt.Errorf("--%s %q: want key=value", flag, s)
	}
	return k, v, nil
}

// parseKVs parses repeated --flag key=value into a map; a key given twice is
// an error rather than a silent last-wins.
func parseKVs(flag string, list []string) (map[string]string, error) {
	out := make(map[string]string, len(list))
	for _, s := range list {
		k, v, err := parseKV(flag, s)
		if err != nil {
			return nil, err
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--%s: %s is given twice", flag, k)
		}
		out[k] = v
	}
	return out, nil
}

// parseHeaders parses repeated --header key=value, in order; unlike configs
// a header key may repeat, as Kafka allows.
func parseHeaders(list []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, s := range list {
		k, v, err := parseKV("header", s)
		if err != nil {
			return nil, err
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}

// splitKey splits a produce input line at the first occurrence of sep into
// key and value. A line without sep has no key (a null key, as kcat -K
// gives) and is all value.
func splitKey(line, sep []byte) (key, value []byte, hasKey bool) {
	if len(sep) == 0 {
		return nil, line, false
	}
	i := bytes.Index(line, sep)
	if i < 0 {
		return nil, line, false
	}
	return line[:i], line[i+len(sep):], true
}

// unescape turns the escapes \n \t \r \\ (and \0) typed on a shell into the
// characters, as kcat does for its format and separators.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		case '\\':
			b.WriteByte('\\')
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// parseAcks maps --acks to kgo's acks; only acks=all can be idempotent.
func parseAcks(s string) (acks kgo.Acks, idempotent bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "-1", "all":
		return kgo.AllISRAcks(), true, nil
	case "1":
		return kgo.LeaderAck(), false, nil
	case "0":
		return kgo.NoAck(), false, nil
	}
	return kgo.Acks{}, false, fmt.Errorf("--acks %q: want -1 (all in-sync replicas), 1 (leader only) or 0 (no acknowledgement)", s)
}

func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// parseOffset reads --offset: "earliest", "latest", an offset N >= 0, or -N
// for N before the end of each partition (as kcat -o -N).
func parseOffset(s string) (kgo.Offset, error) {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "earliest", "beginning", "start":
		return kgo.NewOffset().AtStart(), nil
	case "latest", "end":
		return kgo.NewOffset().AtEnd(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return kgo.Offset{}, fmt.Errorf("--offset %q: want earliest, latest, an offset N, or -N for N records before the end", s)
	}
	if n < 0 {
		return kgo.NewOffset().AtEnd().Relative(n), nil
	}
	return kgo.NewOffset().At(n), nil
}

// A format is a compiled --format template: literal text and %-tokens.
//
//	%k key      %v value     %t timestamp (ms)   %p partition   %o offset
//	%h headers (k=v,k=v)     %T topic            %s key separator   %% a %
//
// Escapes \n \t \r \\ \0 are honoured; nothing is added at the end, so a
// line-per-record format ends in \n.
type format []formatPart

type formatPart struct {
	lit   string
	token byte // 0 for literal text
}

const formatTokens = "kvtpohTs"

func compileFormat(s string) (format, error) {
	s = unescape(s)
	var f format
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("--format %q: ends in a lone %%; write %%%% for a literal %%", s)
		}
		i++
		c := s[i]
		if c == '%' {
			lit.WriteByte('%')
			continue
		}
		if !strings.ContainsRune(formatTokens, rune(c)) {
			return nil, fmt.Errorf("--format: unknown token %%%c; known: %%k key, %%v value, %%t timestamp, %%p partition, %%o offset, %%h headers, %%T topic, %%s key separator, %%%% percent", c)
		}
		if lit.Len() > 0 {
			f = append(f, formatPart{lit: lit.String()})
			lit.Reset()
		}
		f = append(f, formatPart{token: c})
	}
	if lit.Len() > 0 {
		f = append(f, formatPart{lit: lit.String()})
	}
	return f, nil
}

// shortcutFormat is the template behind --print-key, --print-timestamp and
// --print-headers: the chosen fields, then the value, separated by the key
// separator, one record per line.
func shortcutFormat(printKey, printTimestamp, printHeaders bool) string {
	var b strings.Builder
	if printTimestamp {
		b.WriteString("%t%s")
	}
	if printHeaders {
		b.WriteString("%h%s")
	}
	if printKey {
		b.WriteString("%k%s")
	}
	b.WriteString("%v\n")
	return b.String()
}

// appendRecord renders r with f onto buf.
func (f format) appendRecord(buf []byte, r *kgo.Record, keySep string) []byte {
	for _, p := range f {
		switch p.token {
		case 0:
			buf = append(buf, p.lit...)
		case 'k':
			buf = append(buf, r.Key...)
		case 'v':
			buf = append(buf, r.Value...)
		case 't':
			buf = strconv.AppendInt(buf, r.Timestamp.UnixMilli(), 10)
		case 'p':
			buf = strconv.AppendInt(buf, int64(r.Partition), 10)
		case 'o':
			buf = strconv.AppendInt(buf, r.Offset, 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, h.Key...)
				buf = append(buf, '=')
				buf = append(buf, h.Value...)
			}
		case 'T':
			buf = append(buf, r.Topic...)
		case 's':
			buf = append(buf, keySep...)
		}
	}
	return buf
}
