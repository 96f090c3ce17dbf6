// This file proves that `ringtail config import` turns the server.properties
// of Kafka's KRaft quickstart into a server.toml that starts a node which
// serves, with a warning for each setting Ringtail does not support.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestConfigImportKafkaQuickstart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	props, err := os.ReadFile("testdata/kraft-server.properties")
	if err != nil {
		t.Fatal(err)
	}
	n := testkit.NewNode(t, testkit.Options{})
	// The operator's edits to the quickstart file: this machine's ports and
	// data dir, so the node can run next to other tests.
	text := strings.NewReplacer(
		"localhost:9092", fmt.Sprintf("127.0.0.1:%d", n.Port),
		"://:9092", fmt.Sprintf("://127.0.0.1:%d", n.Port),
		"localhost:9093", fmt.Sprintf("127.0.0.1:%d", n.CtrlPort),
		"://:9093", fmt.Sprintf("://127.0.0.1:%d", n.CtrlPort),
		"/tmp/kraft-combined-logs", n.DataDir,
	).Replace(string(props))
	propsPath := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(propsPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(n.Bin, "config", "import", propsPath)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("config import: %v\n%s", err, stderr.String())
	}
	toml := stdout.String()
	for _, key := range []string{"num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
		"num.recovery.threads.per.data.dir"} {
		if !strings.Contains(stderr.String(), "warning: "+propsPath) || !strings.Contains(stderr.String(), " "+key+" = ") {
			t.Errorf("no warning for %s:\n%s", key, stderr.String())
		}
		if strings.Contains(toml, "\n"+key+" ") {
			t.Errorf("unsupported %s was imported:\n%s", key, toml)
		}
	}
	if got := strings.Count(stderr.String(), "ringtail: warning: "); got != 5 {
		t.Errorf("%d warnings, want 5:\n%s", got, stderr.String())
	}
	for _, line := range []string{`process.roles = "broker,controller"`, "node.id = 1", "log.retention.hours = 168",
		"transaction.state.log.replication.factor = 1", "transaction.state.log.min.isr = 1",
		"log.segment.bytes = 1073741824", fmt.Sprintf("log.dirs = %q", n.DataDir),
		`listener.security.protocol.map = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"`} {
		if !strings.Contains(toml, "\n"+line+"\n") {
			t.Errorf("server.toml lacks %q:\n%s", line, toml)
		}
	}

	// The imported file is the node's whole config (the admin server off,
	// since 9644 may be taken here).
	if err := os.WriteFile(n.ConfigPath, []byte(toml+"\n[ringtail]\nadmin_listen = \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Start()
	cl := n.Client(kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "imported", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce to the imported node: %v\n%s", err, n.Log())
	}
	got := consumeAll(t, n.Addr(), "imported", 1, 30*time.Second)
	if string(got[0].Value) != "hello" {
		t.Fatalf("consumed %q", got[0].Value)
	}
}
