// These tests prove the Schema Registry keys parse, default to off on
// 127.0.0.1:8081, and refuse bad values naming the key and what is valid.
package config

import (
	"strings"
	"testing"
)

func TestSchemaRegistryKeys(t *testing.T) {
	if d := Default().SchemaRegistry; d.Enable || d.Listen != "127.0.0.1:8081" || d.AdvertisedURL != "" {
		t.Fatalf("defaults: %+v", d)
	}
	c := parseOK(t, "[ringtail]\nschema_registry_enable = true\nschema_registry_listen = \"0.0.0.0:18081\"\nschema_registry_advertised_url = \"http://node1:18081\"")
	if sr := c.SchemaRegistry; !sr.Enable || sr.Listen != "0.0.0.0:18081" || sr.AdvertisedURL != "http://node1:18081" {
		t.Fatalf("parsed: %+v", sr)
	}
	for _, bad := range []struct{ doc, want string }{
		{"[ringtail]\nschema_registry_enable = \"yes\"", `ringtail.schema_registry_enable = "yes": must be true or false`},
		{"[ringtail]\nschema_registry_listen = \"8081\"", `ringtail.schema_registry_listen = "8081": must be host:port (e.g. "127.0.0.1:8081")`},
		{"[ringtail]\nschema_registry_listen = \"localhost:0\"", `ringtail.schema_registry_listen = "localhost:0": port "0" must be from 1 to 65535`},
		{"[ringtail]\nschema_registry_advertised_url = \"node1:8081\"", `ringtail.schema_registry_advertised_url = "node1:8081": must be an http:// or https:// URL`},
	} {
		_, err := Parse([]byte(bad.doc))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
