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

// TestTxnBenchSmoke runs the idempotent and a transactional variant once
// with two seconds of load: both produce, and the summary is written.
func TestTxnBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real binary")
	}
	out := filepath.Join(t.TempDir(), "txn.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	if err := run(ctx, []string{"--runs", "1", "--duration", "2s", "--producers", "2", "--transaction-sizes", "0,100", "--out", out}, &stdout); err != nil {
		t.Fatalf("txnbench: %v\n%s", err, stdout.String())
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
	if len(s.Runs) != 2 || len(s.Variants) != 2 || s.Variants[0].RecordsPerS <= 0 || s.Variants[1].RecordsPerS <= 0 {
		t.Fatalf("summary: %+v", s)
	}
}
