// These tests check the server.properties reader (Java's format: separators,
// continuations, escapes, repeated keys) and the TOML it becomes.
package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/config"
)

func TestParseProperties(t *testing.T) {
	in := "# comment\n! also a comment\n\n" +
		"a=1\n" +
		"b : two words \n" +
		"c three\n" +
		"d = first,\\\n    second\n" +
		"e\\=x = \\u0041\\tz\n" +
		"a = 3\n" +
		"f\n"
	got, err := parseProperties([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []property{
		{"a", "3", 10}, {"b", "two words ", 5}, {"c", "three", 6},
		{"d", "first,second", 7}, {"e=x", "A\tz", 9}, {"f", "", 11},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestImportPropertiesTypesAndWarnings(t *testing.T) {
	props := []property{
		{"node.id", "3", 1},
		{"auto.create.topics.enable", "FALSE", 2},
		{"log.dirs", `C:\data "x"`, 3},
		{"num.io.threads", "8", 4},
		{"log.retention.hours", "soon", 5},
	}
	doc, warnings := importProperties(props, "in.properties")
	for _, line := range []string{"node.id = 3\n", "auto.create.topics.enable = false\n", `log.dirs = "C:\\data \"x\""` + "\n",
		`log.retention.hours = "soon"` + "\n", "# num.io.threads=8\n"} {
		if !strings.Contains(doc, line) {
			t.Errorf("doc lacks %q:\n%s", line, doc)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "in.properties:4: num.io.threads = 8 not imported") {
		t.Errorf("warnings %q", warnings)
	}
	if _, err := config.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "log.retention.hours") {
		t.Errorf("a bad value should fail the check naming its key; got %v", err)
	}
}
