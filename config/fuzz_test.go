// FuzzParse proves that no server.toml, however mangled, panics Parse or
// yields a config that fails its own checks or changes when written back.
package config

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary documents. Invariants:
//   - Parse never panics;
//   - a rejected document gets one line of error starting "config: ";
//   - an accepted config re-validates (Validate returns nil);
//   - an accepted config written back with TOML() parses to the same config.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		DefaultTOML(),
		Default().TOML(),
		"log.retention.hours = 24\n[ringtail]\nshards = 2",
		"log = { retention = { ms = \"5\" } }",
		"listeners = [\"PLAINTEXT://[::1]:9092\", \"CONTROLLER://:9093\"]",
		"process.roles = \"broker\"\nlisteners = \"PLAINTEXT://:9092\"\ncontroller.quorum.voters = \"1@c:9093\"\nnode.id = 2",
		"process.roles = \"controller\"\nlisteners = \"CONTROLLER://h:9093\"",
		"\"log.dirs\" = \"/a,/b\"\nlog.dir = \"/c\"",
		"broker.rack = \"\\u0001\\\"x\"",
		"log.retention.hours = \"abc\"",
		"node.id = 1\nnode.id = 2",
		"log.cleaner.threads = 2\nlog.cleaner.io.max.bytes.per.second = 1.5e7\nlog.cleaner.min.cleanable.ratio = \"0.25\"",
		"log.cleaner.min.compaction.lag.ms = 10\nlog.cleaner.max.compaction.lag.ms = 9",
		"\"max.connections.per.ip\" = 0\nmax.connections.per.ip.overrides = \"[::1]:3,h:2\"\nquota.window.num = 2",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "config: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line starting \"config: \": %q", msg)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not re-validate: %v", err)
		}
		doc := c.TOML()
		c2, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("TOML() of an accepted config does not parse: %v\n%s", err, doc)
		}
		if !reflect.DeepEqual(bare(c), bare(c2)) {
			t.Fatalf("TOML() round trip changed the config:\n%+v\n%+v", bare(c), bare(c2))
		}
	})
}
