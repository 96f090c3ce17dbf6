// This file proves that the packaged files agree with each other and with
// the binary: the shipped /etc/ringtail/server.toml is the default single
// node with its data in /var/lib/ringtail, and the unit, sysusers.d,
// tmpfiles.d and nfpm configuration name the same paths and user.
package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/config"
)

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPackagedServerTOMLIsDefaultSingleNode(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("../systemd/server.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.DataDir(); got != "/var/lib/ringtail" {
		t.Errorf("data dir %q, want /var/lib/ringtail", got)
	}
	want := config.Default()
	want.LogDirs = []string{"/var/lib/ringtail"}
	if cfg.TOML() != want.TOML() {
		t.Errorf("systemd/server.toml differs from the defaults by more than log.dirs; regenerate it from `ringtail config defaults`:\n%s\nwant:\n%s", cfg.TOML(), want.TOML())
	}
}

func TestPackagingFilesAgree(t *testing.T) {
	t.Parallel()
	unit := readRepoFile(t, "systemd/ringtail.service")
	nfpm := readRepoFile(t, "packaging/nfpm.yaml")
	for _, want := range []string{
		"Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure", "LimitNOFILE=", "LimitMEMLOCK=",
		"TimeoutStopSec=", "ProtectSystem=strict", "ReadWritePaths=/var/lib/ringtail", "ProtectHome=yes", "PrivateTmp=yes",
		"NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service io_uring_setup io_uring_enter io_uring_register",
		"ExecStart=/usr/bin/ringtail serve --config /etc/ringtail/server.toml", "User=ringtail",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("ringtail.service lacks %q", want)
		}
	}
	for _, want := range []string{
		"dst: /usr/bin/ringtail", "dst: /etc/ringtail/server.toml", "type: config|noreplace",
		"dst: /usr/lib/systemd/system/ringtail.service", "dst: /usr/lib/sysusers.d/ringtail.conf", "dst: /usr/lib/tmpfiles.d/ringtail.conf",
	} {
		if !strings.Contains(nfpm, want) {
			t.Errorf("nfpm.yaml lacks %q", want)
		}
	}
	if s := readRepoFile(t, "systemd/ringtail.sysusers"); !strings.Contains(s, "u ringtail ") {
		t.Errorf("sysusers.d does not create the ringtail user:\n%s", s)
	}
	if s := readRepoFile(t, "systemd/ringtail.tmpfiles"); !strings.Contains(s, "d /var/lib/ringtail 0750 ringtail ringtail") {
		t.Errorf("tmpfiles.d does not make /var/lib/ringtail 0750:\n%s", s)
	}
}
