package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startServer builds the binary and starts it on a free loopback port
// (port 0, read back from its ready line). It returns the process and
// the address it announced.
func startServer(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kfake-server")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		// Drain anything else so the child never blocks on a full pipe.
		for sc.Scan() {
		}
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatal("kfake-server exited before its ready line")
		}
		const prefix = "kfake listening on "
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("ready line = %q, want prefix %q", line, prefix)
		}
		addr := strings.TrimPrefix(line, prefix)
		if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
			t.Fatalf("announced address %q is not a bound loopback port", addr)
		}
		return cmd, addr
	case <-time.After(30 * time.Second):
		t.Fatal("no ready line from kfake-server within 30s")
	}
	return nil, ""
}

func TestProduceConsumeAndSIGTERM(t *testing.T) {
	cmd, addr := startServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const (
		topic      = "kfake-server-test"
		partitions = 8
		n          = 1000
	)

	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(admCl)
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v / %v", err, resp.Err)
	}
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(details[topic].Partitions); got != partitions {
		t.Fatalf("topic has %d partitions, want %d", got, partitions)
	}
	admCl.Close()

	prod, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is on by default and needs acks=all
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: fmt.Appendf(nil, "record-%04d", i)}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if pid := recs[0].ProducerID; pid < 0 {
		t.Fatalf("producer id %d: the producer was not idempotent", pid)
	}
	usedPartitions := map[int32]bool{}
	for _, r := range recs {
		usedPartitions[r.Partition] = true
	}
	if len(usedPartitions) != partitions {
		t.Fatalf("records went to %d partitions, want %d", len(usedPartitions), partitions)
	}
	prod.Close()

	cons, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := make(map[string]bool, n)
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(seen), n)
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("record %q consumed twice", v)
			}
			seen[v] = true
		})
	}
	for i := range n {
		if v := fmt.Sprintf("record-%04d", i); !seen[v] {
			t.Fatalf("record %q never came back", v)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kfake-server exited %d after SIGTERM, want 0", ee.ExitCode())
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kfake-server still running 30s after SIGTERM")
	}
}
