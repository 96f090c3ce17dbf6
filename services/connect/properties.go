package connect

// A reader for Java .properties files (java.util.Properties.load), the format
// of Kafka's worker and connector configs. Written by hand because the rules
// are small and exact: logical lines joined by a trailing odd backslash,
// comments on lines starting with # or !, the key ending at the first
// unescaped '=', ':' or whitespace, and \t \n \r \f \uXXXX escapes.

import (
	"fmt"
	"strings"
)

// maxPropertiesBytes bounds a properties file; Kafka's are a few KB.
const maxPropertiesBytes = 4 << 20

// Property is one key and value, in file order.
type Property struct {
	Key, Value string
	Line       int // first physical line of the entry, 1-based
}

// ParseProperties parses a .properties file. Later entries of a key win, as
// in Java; the result keeps every entry in order. It fails only on a file
// over 4 MiB or a malformed \u escape (Java throws there too).
func ParseProperties(data []byte) ([]Property, error) {
	if len(data) > maxPropertiesBytes {
		return nil, fmt.Errorf("properties: file is %d bytes, more than %d", len(data), maxPropertiesBytes)
	}
	var out []Property
	lines := splitPhysicalLines(data)
	for i := 0; i < len(lines); i++ {
		first := i + 1
		line := trimLeadingSpace(lines[i])
		if line == "" {
			continue
		}
		if line[0] == '#' || line[0] == '!' {
			continue // a comment line never continues
		}
		// Join continuation lines: an odd number of trailing backslashes.
		var logical strings.Builder
		for {
			cont := trailingBackslashes(line)%2 == 1
			if !cont {
				logical.WriteString(line)
				break
			}
			logical.WriteString(line[:len(line)-1])
			if i+1 >= len(lines) {
				break
			}
			i++
			line = trimLeadingSpace(lines[i])
		}
		k, v, err := splitEntry(logical.String())
		if err != nil {
			return nil, fmt.Errorf("properties: line %d: %w", first, err)
		}
		out = append(out, Property{Key: k, Value: v, Line: first})
	}
	return out, nil
}

// PropertiesMap is ParseProperties folded into a map, the last entry of a
// key winning.
func PropertiesMap(data []byte) (map[string]string, error) {
	ps, err := ParseProperties(data)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Key] = p.Value
	}
	return m, nil
}

// splitPhysicalLines splits at \n, \r and \r\n, as Java's LineReader does.
func splitPhysicalLines(data []byte) []string {
	var lines []string
	start := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			lines = append(lines, string(data[start:i]))
			start = i + 1
		case '\r':
			lines = append(lines, string(data[start:i]))
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(data) {
		lines = append(lines, string(data[start:]))
	}
	return lines
}

func isPropSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func trimLeadingSpace(s string) string {
	i := 0
	for i < len(s) && isPropSpace(s[i]) {
		i++
	}
	return s[i:]
}

func trailingBackslashes(s string) int {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n
}

// splitEntry splits a logical line into key and value: the key ends at the
// first unescaped '=', ':' or whitespace; then whitespace, at most one '='
// or ':', and whitespace again are skipped.
func splitEntry(s string) (string, string, error) {
	end := len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++ // the next character is part of the key, whatever it is
			continue
		}
		if c == '=' || c == ':' || isPropSpace(c) {
			end = i
			break
		}
	}
	rest := s[end:]
	rest = trimLeadingSpace(rest)
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = trimLeadingSpace(rest[1:])
	}
	k, err := unescapeProperty(s[:end])
	if err != nil {
		return "", "", err
	}
	v, err := unescapeProperty(rest)
	if err != nil {
		return "", "", err
	}
	return k, v, nil
}

// unescapeProperty resolves \t \n \r \f \uXXXX; a backslash before any
// other character stands for that character.
func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	var pendingHigh rune // a UTF-16 high surrogate waiting for its pair
	flush := func() {
		if pendingHigh != 0 {
			b.WriteRune(0xFFFD)
			pendingHigh = 0
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			flush()
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break // a lone trailing backslash is dropped, as Java does
		}
		switch c = s[i]; c {
		case 't':
			flush()
			b.WriteByte('\t')
		case 'n':
			flush()
			b.WriteByte('\n')
		case 'r':
			flush()
			b.WriteByte('\r')
		case 'f':
			flush()
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \uxxxx escape in %q`, s)
			}
			var r rune
			for _, h := range s[i+1 : i+5] {
				var d rune
				switch {
				case h >= '0' && h <= '9':
					d = h - '0'
				case h >= 'a' && h <= 'f':
					d = h - 'a' + 10
				case h >= 'A' && h <= 'F':
					d = h - 'A' + 10
				default:
					return "", fmt.Errorf(`malformed \uxxxx escape in %q`, s)
				}
				r = r<<4 | d
			}
			i += 4
			switch {
			case r >= 0xD800 && r < 0xDC00:
				flush()
				pendingHigh = r
			case r >= 0xDC00 && r < 0xE000 && pendingHigh != 0:
				b.WriteRune(0x10000 + (pendingHigh-0xD800)<<10 + (r - 0xDC00))
				pendingHigh = 0
			default:
				flush()
				b.WriteRune(r)
			}
		default:
			flush()
			b.WriteByte(c)
		}
	}
	flush()
	return b.String(), nil
}
