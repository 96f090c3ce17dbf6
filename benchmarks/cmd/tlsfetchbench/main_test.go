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

// TestTLSFetchBenchSmoke reads a small topic once per variant: every
// variant reads every record, and the summary is written.
func TestTLSFetchBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real binary")
	}
	out := filepath.Join(t.TempDir(), "tls.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	if err := run(ctx, []string{"--runs", "1", "--size", "4", "--out", out}, &stdout); err != nil {
		t.Fatalf("tlsfetchbench: %v\n%s", err, stdout.String())
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
	if len(s.Runs) != 3 || len(s.Variants) != 3 {
		t.Fatalf("summary: %+v", s)
	}
	for _, r := range s.Runs {
		if r.Records != 4<<20/1024 || r.MiBPerS <= 0 {
			t.Fatalf("run %+v: want %d records read", r, 4<<20/1024)
		}
	}
}
