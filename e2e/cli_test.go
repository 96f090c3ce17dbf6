// This file proves the operator commands work against a running node:
// topic create/list/describe/alter-config/delete, produce from stdin with
// keys, and consume with the formats an operator reads.
package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/testkit"
)

func runCLI(t *testing.T, n *testkit.Node, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(n.Bin, append(args, "--bootstrap", n.Addr())...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ringtail %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func TestCLITopicsProduceConsume(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	runCLI(t, n, "", "topic", "create", "cli-topic", "--partitions", "3", "--config", "retention.ms=7200000")
	if out := runCLI(t, n, "", "topic", "list"); !strings.Contains(out, "cli-topic") {
		t.Fatalf("topic list: %s", out)
	}
	desc := runCLI(t, n, "", "topic", "describe", "cli-topic")
	for _, want := range []string{"cli-topic", "retention.ms", "7200000"} {
		if !strings.Contains(desc, want) {
			t.Fatalf("topic describe lacks %q:\n%s", want, desc)
		}
	}
	runCLI(t, n, "", "topic", "alter-config", "cli-topic", "--set", "retention.ms=1000000")
	if desc := runCLI(t, n, "", "topic", "describe", "cli-topic"); !strings.Contains(desc, "1000000") {
		t.Fatalf("alter-config not visible:\n%s", desc)
	}

	var in strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&in, "k%d|value %d\n", i, i)
	}
	runCLI(t, n, in.String(), "produce", "cli-topic", "--key-separator", "|", "--partition", "1")
	out := runCLI(t, n, "", "consume", "cli-topic", "--from-beginning", "--partition", "1", "-n", "100", "--format", "%k=%v@%o\n")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 100 {
		t.Fatalf("consumed %d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("k%d=value %d@%d", i, i, i); l != want {
			t.Fatalf("line %d: %q, want %q", i, l, want)
		}
	}
	runCLI(t, n, "", "topic", "delete", "cli-topic")
	if out := runCLI(t, n, "", "topic", "list"); strings.Contains(out, "cli-topic") {
		t.Fatalf("topic still listed after delete: %s", out)
	}
}

func TestConfigDefaultsStartsANode(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	out, err := exec.Command(testkit.Binary(t), "config", "defaults").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"log.retention.hours", "num.partitions", "[ringtail]", "io_engine"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("config defaults lacks %q", want)
		}
	}
	bad := exec.Command(testkit.Binary(t), "config", "check", "/dev/stdin")
	bad.Stdin = strings.NewReader("log.retention.hours = \"soon\"\n")
	msg, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "log.retention.hours") {
		t.Fatalf("config check of a bad value: err %v, output %s", err, msg)
	}
}

// TestPortTakenRefusesToStart: a Kafka port already in use stops start-up
// with one message naming the listener, and the data dir is left usable.
func TestPortTakenRefusesToStart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	n := testkit.NewNode(t, testkit.Options{})
	ln, err := net.Listen("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(n.Bin, "serve", "--config", n.ConfigPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "PLAINTEXT://127.0.0.1") || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("start with the port taken: err %v, output:\n%s", err, out)
	}
	if strings.Contains(string(out), "panic") {
		t.Fatalf("start-up failure panicked:\n%s", out)
	}
	ln.Close()
	n.Start() // the same data dir starts once the port is free
}
