package console

import (
	"strings"
	"testing"
)

// render is d as "+x", "-y", " z" lines.
func renderDiff(d []diffLine) string {
	var b strings.Builder
	for _, l := range d {
		b.WriteByte(l.Op)
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestLineDiff(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{"", "", ""},
		{"a\nb\n", "a\nb", " a\n b\n"},
		{"", "x\ny", "+x\n+y\n"},
		{"x\ny\n", "", "-x\n-y\n"},
		{"a\nb\nc", "a\nc", " a\n-b\n c\n"},
		{"a\nc", "a\nb\nc", " a\n+b\n c\n"},
		{"a\nb\nc\nd", "a\nx\nc\ny", " a\n-b\n+x\n c\n-d\n+y\n"},
		// An Avro record gaining a field: the rest is kept.
		{"{\n  \"fields\": [\n    {\"name\": \"id\"}\n  ]\n}",
			"{\n  \"fields\": [\n    {\"name\": \"id\"},\n    {\"name\": \"email\"}\n  ]\n}",
			" {\n   \"fields\": [\n-    {\"name\": \"id\"}\n+    {\"name\": \"id\"},\n+    {\"name\": \"email\"}\n   ]\n }\n"},
		{"a\r\nb\r\n", "a\nb\n", " a\n b\n"},
	} {
		d, ok := lineDiff(c.a, c.b)
		if got := renderDiff(d); !ok || got != c.want {
			t.Errorf("lineDiff(%q, %q) =\n%s(ok %v), want\n%s", c.a, c.b, got, ok, c.want)
		}
	}
	// Both sides rebuild from the diff, and a removed and added line
	// never stand for one kept: check on a longer case.
	a := strings.Repeat("k\nx\n", 200)
	b := strings.Repeat("k\ny\n", 200)
	d, ok := lineDiff(a, b)
	if !ok {
		t.Fatal("not diffed")
	}
	var olda, newb []string
	kept := 0
	for _, l := range d {
		if l.Op != '+' {
			olda = append(olda, l.Text)
		}
		if l.Op != '-' {
			newb = append(newb, l.Text)
		}
		if l.Op == ' ' {
			kept++
		}
	}
	if strings.Join(olda, "\n")+"\n" != a || strings.Join(newb, "\n")+"\n" != b || kept != 200 {
		t.Fatalf("diff does not rebuild its sides, or keeps %d lines, want 200", kept)
	}
	// Too large to diff: said so, not computed.
	big1 := strings.Repeat("a\n", 3000)
	big2 := strings.Repeat("b\n", 3000)
	if _, ok := lineDiff(big1, big2); ok {
		t.Fatal("a 3000×3000 diff was computed")
	}
}
