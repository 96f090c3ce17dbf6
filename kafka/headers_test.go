package kafka

// Tests that the handler files' header comments list the versions each
// served key answers, as the apis table (the only source ApiVersions
// advertises) has them: every key is named as "Name (key N): versions
// a-b" (or "version a", or "(key N, va-b)"), and no mention contradicts
// the table.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerHeadersListServedVersions(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	// The comment text of every non-test source file, lines joined.
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(src), "\n") {
			if c, ok := strings.CutPrefix(strings.TrimSpace(line), "//"); ok {
				b.WriteString(strings.TrimSpace(c))
				b.WriteByte(' ')
			} else {
				b.WriteString("\n")
			}
		}
	}
	text := b.String()
	for key, a := range apis {
		want := fmt.Sprintf("%d-%d", a.min, a.max)
		if a.min == a.max {
			want = fmt.Sprint(a.min)
		}
		inline := regexp.MustCompile(fmt.Sprintf(`\(key %d, v(\d+(?:-\d+)?)\)`, key))
		after := regexp.MustCompile(fmt.Sprintf(`\(key %d\)[^.\n]*?versions? (\d+(?:-\d+)?)`, key))
		var got []string
		for _, m := range inline.FindAllStringSubmatch(text, -1) {
			got = append(got, m[1])
		}
		for _, m := range after.FindAllStringSubmatch(text, -1) {
			got = append(got, m[1])
		}
		if len(got) == 0 {
			t.Errorf("key %d (versions %s): no handler header names its versions", key, want)
		}
		for _, g := range got {
			if g != want {
				t.Errorf("key %d: a header says versions %s, the apis table serves %s", key, g, want)
			}
		}
	}
}
