// These tests prove the web console keys parse, default to off on
// 127.0.0.1:9021 and writable, and refuse bad values naming the key and
// what is valid.
package config

import (
	"strings"
	"testing"
)

func TestConsoleKeys(t *testing.T) {
	if d := Default().Console; d.Enable || d.Listen != "127.0.0.1:9021" || d.ReadOnly {
		t.Fatalf("defaults: %+v", d)
	}
	c := parseOK(t, "[ringtail]\nconsole_enable = true\nconsole_listen = \"0.0.0.0:19021\"\nconsole_read_only = true")
	if cc := c.Console; !cc.Enable || cc.Listen != "0.0.0.0:19021" || !cc.ReadOnly {
		t.Fatalf("parsed: %+v", cc)
	}
	c = parseOK(t, "[ringtail]\nconsole_metrics_urls = \"http://10.0.0.2:9644/metrics, https://b:9644/metrics\"")
	if got := c.Console.MetricsURLs; len(got) != 2 || got[1] != "https://b:9644/metrics" {
		t.Fatalf("console_metrics_urls: %q", got)
	}
	for _, bad := range []struct{ doc, want string }{
		{"[ringtail]\nconsole_enable = \"yes\"", `ringtail.console_enable = "yes": must be true or false`},
		{"[ringtail]\nconsole_read_only = 1", `ringtail.console_read_only = 1: must be true or false`},
		{"[ringtail]\nconsole_listen = \"9021\"", `ringtail.console_listen = "9021": must be host:port (e.g. "127.0.0.1:9021")`},
		{"[ringtail]\nconsole_listen = \"localhost:0\"", `ringtail.console_listen = "localhost:0": port "0" must be from 1 to 65535`},
		{"[ringtail]\nconsole_metrics_urls = [\"10.0.0.2:9644\"]", `"10.0.0.2:9644" is not a URL: want http://host:port/metrics`},
	} {
		_, err := Parse([]byte(bad.doc))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
