// These tests prove the Connect keys parse, default to off on
// 127.0.0.1:8083 with Kafka's group and topic names, and refuse bad values
// naming the key and what is valid.
package config

import (
	"strings"
	"testing"
)

func TestConnectKeys(t *testing.T) {
	d := Default().Connect
	if d.Enable || d.Listen != "127.0.0.1:8083" || d.GroupID != "connect-cluster" || d.ConfigStorageTopic != "connect-configs" ||
		d.OffsetStorageTopic != "connect-offsets" || d.StatusStorageTopic != "connect-status" || d.SessionTimeoutMs != 10000 ||
		d.KeyConverter != connectJSONConverter || d.ValueConverter != connectJSONConverter {
		t.Fatalf("defaults: %+v", d)
	}
	c := parseOK(t, "[ringtail]\nconnect_enable = true\nconnect_listen = \"0.0.0.0:18083\"\nconnect_group_id = \"g1\"\n"+
		"connect_config_storage_topic = \"c1\"\nconnect_offset_storage_topic = \"o1\"\nconnect_status_storage_topic = \"s1\"\n"+
		"connect_session_timeout_ms = 6000\nconnect_value_converter = \"StringConverter\"\nconnect_advertised_url = \"http://node1:18083\"")
	if cc := c.Connect; !cc.Enable || cc.Listen != "0.0.0.0:18083" || cc.GroupID != "g1" || cc.ConfigStorageTopic != "c1" ||
		cc.OffsetStorageTopic != "o1" || cc.StatusStorageTopic != "s1" || cc.SessionTimeoutMs != 6000 || cc.ValueConverter != "StringConverter" || cc.AdvertisedURL != "http://node1:18083" {
		t.Fatalf("parsed: %+v", cc)
	}
	for _, bad := range []struct{ doc, want string }{
		{"[ringtail]\nconnect_enable = 1", `ringtail.connect_enable = 1: must be true or false`},
		{"[ringtail]\nconnect_listen = \"8083\"", `ringtail.connect_listen = "8083": must be host:port (e.g. "127.0.0.1:8083")`},
		{"[ringtail]\nconnect_group_id = \" \"", `ringtail.connect_group_id = " ": must not be empty`},
		{"[ringtail]\nconnect_status_storage_topic = \"a b\"", `ringtail.connect_status_storage_topic = "a b": must be a topic name`},
		{"[ringtail]\nconnect_session_timeout_ms = 10", `ringtail.connect_session_timeout_ms = 10: must be`},
		{"[ringtail]\nconnect_advertised_url = \"node1:8083\"", `ringtail.connect_advertised_url = "node1:8083": must be an http:// or https:// URL`},
		{"[ringtail]\nconnect_key_converter = \"Nope\"", `ringtail.connect_key_converter = "Nope": must be one of org.apache.kafka.connect.json.JsonConverter,`},
	} {
		_, err := Parse([]byte(bad.doc))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
