// These tests prove the quota and connection-limit keys parse with Kafka's
// defaults and forms, refuse bad values naming the key, and survive TOML().
package config

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestQuotaKeys(t *testing.T) {
	d := Default()
	if d.Quotas.WindowNum != 11 || d.Quotas.WindowSizeSeconds != 1 || d.Quotas.MaxConnections != math.MaxInt32 || d.Quotas.MaxConnectionsPerIP != math.MaxInt32 {
		t.Fatalf("defaults: %+v", d.Quotas)
	}
	c := parseOK(t, `
quota.window.num = 5
quota.window.size.seconds = "2"
"max.connections" = 100
"max.connections.per.ip" = 3
max.connections.per.ip.overrides = "127.0.0.1:10, [::1]:7,localhost:2"
`)
	want := QuotaConfig{WindowNum: 5, WindowSizeSeconds: 2, MaxConnections: 100, MaxConnectionsPerIP: 3,
		PerIPOverrides: []ConnectionOverride{{"127.0.0.1", 10}, {"::1", 7}, {"localhost", 2}}}
	if !reflect.DeepEqual(c.Quotas, want) {
		t.Fatalf("parsed %+v, want %+v", c.Quotas, want)
	}
	// TOML() writes max.connections quoted, and reads back the same.
	doc := c.TOML()
	if !strings.Contains(doc, `"max.connections" = 100`) {
		t.Fatalf("TOML() does not quote max.connections:\n%s", doc)
	}
	if c2 := parseOK(t, doc); !reflect.DeepEqual(c2.Quotas, want) {
		t.Fatalf("round trip %+v, want %+v", c2.Quotas, want)
	}
}

func TestQuotaKeysRefused(t *testing.T) {
	for doc, want := range map[string]string{
		`quota.window.num = 0`:                                                              "quota.window.num = 0",
		`quota.window.size.seconds = -1`:                                                    "quota.window.size.seconds",
		`max.connections.per.ip = 0`:                                                        "needs max.connections.per.ip.overrides",
		`max.connections.per.ip.overrides = "host"`:                                         `"host" is not host:count`,
		`max.connections.per.ip.overrides = "h:1,h:2"`:                                      "host h appears twice",
		`max.connections.per.ip.overrides = "h:-1"`:                                         "count from 0",
		`"max.connections" = -5`:                                                            "max.connections = -5",
		`max.connections.per.ip.overrides = ["a:1"]`:                                        "must be a string",
		"\"max.connections.per.ip\" = 0\nmax.connections.per.ip.overrides = \"10.0.0.1:5\"": "",
	} {
		_, err := Parse([]byte(doc))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", doc, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want one with %q", doc, err, want)
		}
	}
}
