package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ringtail/ringtail/config"
)

func (a *app) configImportCommand() *cobra.Command {
	var output string
	var force bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Turn an Apache Kafka server.properties into a server.toml",
		Long: "Read an Apache Kafka (KRaft) server.properties and write the equivalent\n" +
			"server.toml to stdout (or --output). Each setting Ringtail does not support is\n" +
			"left out, with a warning on stderr and a comment in the output. The result is\n" +
			"checked as `ringtail config check` would; the exit status is 1 if it fails.",
		Args: exactArgs(1, "one FILE (a server.properties)"),
		RunE: func(_ *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("config import: %w", err)
			}
			props, err := parseProperties(data)
			if err != nil {
				return fmt.Errorf("config import: %s: %w", args[0], err)
			}
			doc, warnings := importProperties(props, args[0])
			for _, w := range warnings {
				fmt.Fprintln(a.stderr, "ringtail: warning: "+w)
			}
			if output == "" {
				if _, err := fmt.Fprint(a.stdout, doc); err != nil {
					return err
				}
			} else {
				flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
				if !force {
					flags |= os.O_EXCL
				}
				f, err := os.OpenFile(output, flags, 0o640)
				if err != nil {
					if errors.Is(err, os.ErrExist) {
						return fmt.Errorf("config import: %s exists (use --force to replace it)", output)
					}
					return fmt.Errorf("config import: %w", err)
				}
				_, werr := f.WriteString(doc)
				if cerr := f.Close(); werr == nil {
					werr = cerr
				}
				if werr != nil {
					return fmt.Errorf("config import: %w", werr)
				}
			}
			if _, err := config.Parse([]byte(doc)); err != nil {
				return fmt.Errorf("config import: the imported server.toml does not validate; fix it before starting: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the server.toml here instead of stdout (not over an existing file without --force)")
	cmd.Flags().BoolVar(&force, "force", false, "replace --output if it exists")
	return cmd
}

// property is one key=value of a server.properties, with its line number.
type property struct {
	key, value string
	line       int
}

// parseProperties reads the java.util.Properties text format: '#' and '!'
// comments, key and value separated by '=', ':' or whitespace, lines
// continued by a trailing backslash, and backslash escapes (\t, \n, \uXXXX,
// an escaped separator). A key given twice keeps its last value, as Java
// does.
func parseProperties(data []byte) ([]property, error) {
	var out []property
	index := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		start := lineNo
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continued(line) && sc.Scan() {
			lineNo++
			line = line[:len(line)-1] + strings.TrimLeft(sc.Text(), " \t\f")
		}
		key, value, err := splitProperty(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		if i, ok := index[key]; ok {
			out[i] = property{key: key, value: value, line: start}
			continue
		}
		index[key] = len(out)
		out = append(out, property{key: key, value: value, line: start})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// continued reports whether line ends in an odd number of backslashes.
func continued(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func splitProperty(line string) (key, value string, err error) {
	i := 0
	for i < len(line) {
		c := line[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	rawKey := line[:min(i, len(line))]
	rest := ""
	if i < len(line) {
		rest = strings.TrimLeft(line[i:], " \t\f")
		if rest != "" && (rest[0] == '=' || rest[0] == ':') {
			rest = strings.TrimLeft(rest[1:], " \t\f")
		}
	}
	if key, err = unescapeProperty(rawKey); err != nil {
		return "", "", err
	}
	if value, err = unescapeProperty(rest); err != nil {
		return "", "", fmt.Errorf("%s: %w", key, err)
	}
	return key, value, nil
}

func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 >= len(s) {
				return "", fmt.Errorf("short \\u escape")
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf("bad \\u escape %q", s[i-1:i+5])
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// keyLine matches a commented key line of config.DefaultTOML():
// "# log.retention.hours = 168".
var keyLine = regexp.MustCompile(`^# ([a-z0-9_.]+) = (.*)$`)

// kafkaKeys are the Kafka keys Ringtail knows, each with the TOML type of
// its default ('s' string, 'i' integer, 'f' float, 'b' boolean), read from
// config.DefaultTOML(), which lists every supported key.
func kafkaKeys() map[string]byte {
	keys := map[string]byte{}
	for _, line := range strings.Split(config.DefaultTOML(), "\n") {
		if strings.TrimSpace(line) == "[ringtail]" {
			break // Ringtail's own keys, which Kafka does not have
		}
		m := keyLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch def := m[2]; {
		case strings.HasPrefix(def, `"`):
			keys[m[1]] = 's'
		case def == "true" || def == "false":
			keys[m[1]] = 'b'
		case isFloat(def):
			keys[m[1]] = 'f'
		default:
			keys[m[1]] = 'i'
		}
	}
	return keys
}

// importProperties renders props as a server.toml and lists a warning for
// each setting left out.
func importProperties(props []property, source string) (doc string, warnings []string) {
	known := kafkaKeys()
	var b strings.Builder
	fmt.Fprintf(&b, "# server.toml imported from %s by `ringtail config import`.\n", source)
	b.WriteString("# Kafka's key names are Ringtail's; `ringtail config defaults` lists every key.\n\n")
	var skipped []string
	for _, p := range props {
		typ, ok := known[p.key]
		if rest, per := strings.CutPrefix(p.key, "listener.name."); !ok && per {
			// A per-listener key, listener.name.<listener>.ssl.*, takes
			// the type of the key it overrides.
			if _, key, cut := strings.Cut(rest, "."); cut && (strings.HasPrefix(key, "ssl.") || config.IsListenerSASLKey(key)) {
				typ, ok = known[key]
			}
		}
		if !ok {
			why := "Ringtail does not support it"
			if _, err := config.Parse([]byte(p.key + " = \"\"")); err != nil {
				why = strings.TrimSuffix(strings.TrimPrefix(err.Error(), "config: "), "; remove it")
			}
			warnings = append(warnings, fmt.Sprintf("%s:%d: %s = %s not imported: %s", source, p.line, p.key, p.value, why))
			skipped = append(skipped, p.key+"="+p.value)
			continue
		}
		b.WriteString(config.TOMLKey(p.key) + " = " + tomlValue(typ, p.value) + "\n")
	}
	if len(skipped) > 0 {
		b.WriteString("\n# Not imported: Kafka settings Ringtail does not support.\n")
		for _, s := range skipped {
			b.WriteString("# " + s + "\n")
		}
	}
	b.WriteString("\n# Ringtail's own settings (io_engine, shards, durability, admin_listen, ...)\n" +
		"# go in a [ringtail] table at the end of this file.\n")
	return b.String(), warnings
}

// tomlValue writes a property value as the TOML type its key wants; a value
// that is not of that type is written as a string, and the check after the
// import names it.
func tomlValue(typ byte, v string) string {
	v = strings.TrimSpace(v)
	switch typ {
	case 'i':
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return v
		}
	case 'b':
		if strings.EqualFold(v, "true") || strings.EqualFold(v, "false") {
			return strings.ToLower(v)
		}
	case 'f':
		// Java's spellings ("1.7976931348623157E308", "5.", ".5") as a TOML
		// float; "Infinity" and "NaN" stay strings, which the check refuses.
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return tomlString(v)
}

// isFloat reports whether a default from config.DefaultTOML() is a TOML
// float rather than an integer.
func isFloat(def string) bool {
	if _, err := strconv.ParseInt(def, 10, 64); err == nil {
		return false
	}
	_, err := strconv.ParseFloat(def, 64)
	return err == nil
}

// tomlString is s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
