package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCreateBenchSmoke runs the benchmark with a small topic: CreateTopics
// answers and the one Produce to every partition succeeds without a retry
// (run fails otherwise), and the summary is written.
func TestCreateBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real binary")
	}
	out := filepath.Join(t.TempDir(), "create.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	if err := run(ctx, []string{"--partitions", "64", "--runs", "1", "--out", out}, &stdout); err != nil {
		t.Fatalf("createbench: %v\n%s", err, stdout.String())
	}
	t.Log(strings.TrimSpace(stdout.String()))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Partitions != 64 || len(s.Runs) != 1 || s.Runs[0].WritableS < s.Runs[0].CreateS || s.MedianWritableS <= 0 {
		t.Fatalf("summary: %+v", s)
	}
}
