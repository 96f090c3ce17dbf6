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

// TestCompactBenchSmoke runs both variants once with a second of load: the
// cleaner passes while the producer runs in the cleaner variant and never
// in the other, and the summary is written.
func TestCompactBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real binary")
	}
	out := filepath.Join(t.TempDir(), "compact.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	if err := run(ctx, []string{"--runs", "1", "--duration", "2s", "--rate", "20000", "--keys", "50", "--out", out}, &stdout); err != nil {
		t.Fatalf("compactbench: %v\n%s", err, stdout.String())
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
	if len(s.Runs) != 2 || s.OnRecS <= 0 || s.OffRecS <= 0 {
		t.Fatalf("summary: %+v", s)
	}
	for _, r := range s.Runs {
		if r.Cleaner && r.CleanerPasses < 1 || !r.Cleaner && r.CleanerPasses != 0 {
			t.Fatalf("run with cleaner=%v made %v passes", r.Cleaner, r.CleanerPasses)
		}
	}
}
