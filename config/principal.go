package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// PrincipalRule is one rule of ssl.principal.mapping.rules: DEFAULT (the
// certificate's distinguished name as it is) or RULE:pattern/replacement/
// with an optional L or U (lower- or upper-case the result).
type PrincipalRule struct {
	Default     bool
	Pattern     *regexp.Regexp // anchored: the whole DN must match, as Java's Matcher.matches
	Replacement string         // in regexp.Expand form (Java's $1 written ${1})
	Case        byte           // 0, 'L' or 'U'
}

// ParsePrincipalMappingRules reads Kafka's ssl.principal.mapping.rules:
// rules separated by commas (a comma inside a pattern belongs to it), each
// DEFAULT or RULE:pattern/replacement/[LU]; "\" escapes the next character
// of a pattern or replacement.
func ParsePrincipalMappingRules(s string) ([]PrincipalRule, error) {
	var rules []PrincipalRule
	rest := strings.TrimSpace(s)
	if rest == "" {
		return nil, errors.New(`must be DEFAULT or a comma-separated list of RULE:pattern/replacement/[LU] and DEFAULT`)
	}
	for rest != "" {
		var r PrincipalRule
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			r.Default = true
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			pattern, after, ok := untilSlash(rest[len("RULE:"):])
			if !ok {
				return nil, fmt.Errorf("rule %q: want RULE:pattern/replacement/[LU]", rest)
			}
			repl, after2, ok := untilSlash(after)
			if !ok {
				return nil, fmt.Errorf("rule %q: want RULE:pattern/replacement/[LU]", rest)
			}
			re, err := regexp.Compile("^(?:" + pattern + ")$")
			if err != nil {
				return nil, fmt.Errorf("rule pattern %q: %v", pattern, err)
			}
			r.Pattern, r.Replacement = re, javaReplacement(repl)
			rest = after2
			if rest != "" && (rest[0] == 'L' || rest[0] == 'U') {
				r.Case, rest = rest[0], rest[1:]
			}
		default:
			return nil, fmt.Errorf("%q is not DEFAULT or RULE:pattern/replacement/[LU]", rest)
		}
		rules = append(rules, r)
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("%q: rules are separated by commas", rest)
		}
		rest = strings.TrimSpace(rest[1:])
	}
	return rules, nil
}

func checkPrincipalRules(s string) error {
	_, err := ParsePrincipalMappingRules(s)
	return err
}

// untilSlash splits s at its first unescaped '/'.
func untilSlash(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '/':
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// javaReplacement turns a Java replacement string ($1, \$) into
// regexp.Expand's template (${1}, $$).
func javaReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(s[i])
			}
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// MapPrincipal applies rules to a certificate's distinguished name (RFC
// 2253) and gives the principal's name: the first rule that matches wins;
// ok is false when none does (Kafka then fails the authentication).
func MapPrincipal(rules []PrincipalRule, dn string) (name string, ok bool) {
	for _, r := range rules {
		if r.Default {
			return dn, true
		}
		m := r.Pattern.FindStringSubmatchIndex(dn)
		if m == nil {
			continue
		}
		out := string(r.Pattern.ExpandString(nil, r.Replacement, dn, m))
		switch r.Case {
		case 'L':
			out = strings.ToLower(out)
		case 'U':
			out = strings.ToUpper(out)
		}
		return out, true
	}
	return "", false
}
