// `ringtail iotune` measures a data directory and writes an io config file
// that a node started with it applies, server.toml's own keys winning.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/testkit"
)

func TestBenchIOTune(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	data := t.TempDir()
	out := filepath.Join(t.TempDir(), "etc", "io-config.toml")
	cmd := exec.Command(testkit.Binary(t), "iotune", "--dir", data, "--duration", "1s", "--out", out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ringtail iotune: %v\n%s", err, b)
	}
	t.Logf("ringtail iotune:\n%s", b)
	for _, want := range []string{"fdatasync", "Sequential read:", "Recommended:", "shards = ", "Wrote " + out} {
		if !strings.Contains(string(b), want) {
			t.Errorf("iotune output lacks %q", want)
		}
	}
	if left, _ := os.ReadDir(data); len(left) != 0 {
		t.Errorf("iotune left files in the data directory: %v", left)
	}
	text, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	values, err := config.ParseIOConfig(text)
	if err != nil || values["shards"] == nil || values["io_engine"] == nil || values["group_commit"] == nil {
		t.Fatalf("io config %v (%v):\n%s", values, err, text)
	}

	// A node with the file applies all of it; a server.toml key wins.
	n := startNode(t, testkit.Options{DataDir: data, Ringtail: map[string]string{
		"io_config_file": `"` + out + `"`, "group_commit": "true"}})
	logLine := regexp.MustCompile(`msg="io config applied".*`).FindString(n.Log())
	if logLine == "" {
		t.Fatalf("no \"io config applied\" line in the node's log:\n%s", n.Log())
	}
	// testkit writes RINGTAIL_IO_ENGINE into server.toml, and that wins.
	if os.Getenv("RINGTAIL_IO_ENGINE") == "" {
		if !strings.Contains(logLine, "shards = ") || !strings.Contains(logLine, "io_engine = ") || !strings.Contains(logLine, "server_toml_wins=group_commit") {
			t.Errorf("log line %q: want shards and io_engine applied, group_commit left to server.toml", logLine)
		}
		wantEngine := strings.Trim(values["io_engine"].(string), `"`)
		if m := regexp.MustCompile(`msg="ringtail ready".*io_engine=(\S+) shards=(\d+)`).FindStringSubmatch(n.Log()); m == nil || strings.Trim(m[1], `"`) != wantEngine {
			t.Errorf("ready line %v: want io_engine %s from the file", m, wantEngine)
		}
	}

	// It serves: a record goes in and comes back.
	n.CreateTopic("iotuned", 1, nil)
	cl := n.Client(kgo.ConsumeTopics("iotuned"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "iotuned", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if fs := cl.PollRecords(ctx, 1); fs.NumRecords() != 1 {
		t.Fatalf("consumed %d records (%v)", fs.NumRecords(), fs.Errors())
	}
}
