// These tests prove the HTTP Proxy keys parse, default to off on
// 127.0.0.1:8082 with a 5-minute instance timeout, and refuse bad values
// naming the key and what is valid.
package config

import (
	"strings"
	"testing"
)

func TestHTTPProxyKeys(t *testing.T) {
	if d := Default().HTTPProxy; d.Enable || d.Listen != "127.0.0.1:8082" || d.ConsumerInstanceTimeoutMs != 300000 {
		t.Fatalf("defaults: %+v", d)
	}
	c := parseOK(t, "[ringtail]\nhttp_proxy_enable = true\nhttp_proxy_listen = \"0.0.0.0:18082\"\nhttp_proxy_consumer_instance_timeout_ms = 60000")
	if hp := c.HTTPProxy; !hp.Enable || hp.Listen != "0.0.0.0:18082" || hp.ConsumerInstanceTimeoutMs != 60000 {
		t.Fatalf("parsed: %+v", hp)
	}
	for _, bad := range []struct{ doc, want string }{
		{"[ringtail]\nhttp_proxy_enable = \"yes\"", `ringtail.http_proxy_enable = "yes": must be true or false`},
		{"[ringtail]\nhttp_proxy_listen = \"8082\"", `ringtail.http_proxy_listen = "8082": must be host:port (e.g. "127.0.0.1:8082")`},
		{"[ringtail]\nhttp_proxy_listen = \"localhost:99999\"", `ringtail.http_proxy_listen = "localhost:99999": port "99999" must be from 1 to 65535`},
		{"[ringtail]\nhttp_proxy_consumer_instance_timeout_ms = 10", `ringtail.http_proxy_consumer_instance_timeout_ms = 10: must be`},
	} {
		_, err := Parse([]byte(bad.doc))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
