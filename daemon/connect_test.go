package daemon

import (
	"testing"

	"github.com/ringtail/ringtail/config"
)

// A `ringtail serve` without a config file runs Kafka Connect on
// 127.0.0.1:8083; with a config file it stays off unless enabled.
func TestZeroConfigServicesConnect(t *testing.T) {
	cfg := config.Default()
	zeroConfigServices(cfg, "")
	if !cfg.Connect.Enable || cfg.Connect.Listen != "127.0.0.1:8083" || cfg.Connect.GroupID != "connect-cluster" {
		t.Fatalf("zero config: %+v", cfg.Connect)
	}
	cfg = config.Default()
	zeroConfigServices(cfg, "/etc/ringtail/server.toml")
	if cfg.Connect.Enable {
		t.Fatal("Connect on with a config file that does not enable it")
	}
}
