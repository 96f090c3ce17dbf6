package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApplyIOConfig(t *testing.T) {
	dir := t.TempDir()
	io := filepath.Join(dir, "io-config.toml")
	if err := os.WriteFile(io, []byte("# by iotune\n[ringtail]\nshards = 1\nio_engine = \"sync\"\ngroup_commit = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// server.toml sets io_engine itself: it wins.
	c, err := Parse([]byte("[ringtail]\nio_engine = \"io_uring\"\nio_config_file = " + `"` + io + `"` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ApplyIOConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ringtail.Shards != 1 || c.Ringtail.IOEngine != "io_uring" || !c.Ringtail.GroupCommit {
		t.Errorf("after apply: %+v", c.Ringtail)
	}
	if strings.Join(res.Applied, "; ") != "group_commit = true; shards = 1" || strings.Join(res.Ignored, ",") != "io_engine" {
		t.Errorf("applied %q, ignored %q", res.Applied, res.Ignored)
	}

	// A missing file, or none configured, is no error.
	c = Default()
	c.Ringtail.IOConfigFile = filepath.Join(dir, "absent.toml")
	if res, err := ApplyIOConfig(c); res != nil || err != nil {
		t.Errorf("missing file: %v, %v", res, err)
	}

	for _, tc := range []struct{ body, want string }{
		{"[ringtail]\nadmin_listen = \"x\"\n", `"admin_listen": an io config file may set only shards, io_engine, group_commit, pin_shards`},
		{"[ringtail]\nio_engine = \"fast\"\n", `io_engine = "fast"`},
		{"[ringtail]\nshards = 100000\n", "shards = 100000"},
		{"shards = 1\n", `key "shards": an io config file holds only a [ringtail] table`},
		{"[ringtail\n", "invalid TOML"},
	} {
		if err := os.WriteFile(io, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		c := Default()
		c.Ringtail.IOConfigFile = io
		_, err := ApplyIOConfig(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ringtail.io_config_file") {
			t.Errorf("%q: error %v, want it to name ringtail.io_config_file and contain %q", tc.body, err, tc.want)
		}
		if c.Ringtail.IOEngine != "auto" || c.Ringtail.Shards != 0 {
			t.Errorf("%q: a failed apply changed the config: %+v", tc.body, c.Ringtail)
		}
	}
}
