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

// TestFetchSessBenchSmoke runs both variants once over 100 partitions with
// two seconds of load: both fetch, and the summary is written.
func TestFetchSessBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real binary")
	}
	out := filepath.Join(t.TempDir(), "fetchsess.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	if err := run(ctx, []string{"--runs", "1", "--duration", "2s", "--partitions", "100", "--rate", "500", "--out", out}, &stdout); err != nil {
		t.Fatalf("fetchsessbench: %v\n%s", err, stdout.String())
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
	if len(s.Runs) != 2 || len(s.Variants) != 2 || s.Variants[0].RequestBytesPerS <= 0 || s.Variants[1].RequestBytesPerS <= 0 {
		t.Fatalf("summary: %+v", s)
	}
}

// TestFetchSessBenchReplicaSmoke runs the --replica variants once over 100
// partitions: the follower fetches in both, and with sessions its requests
// are smaller.
func TestFetchSessBenchReplicaSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	out := filepath.Join(t.TempDir(), "replica.json")
	if err := run(ctx, []string{"--replica", "--runs", "1", "--duration", "2s", "--partitions", "100", "--rate", "500", "--out", out}, &stdout); err != nil {
		t.Fatalf("fetchsessbench --replica: %v\n%s", err, stdout.String())
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
	if len(s.Variants) != 2 || s.Variants[0].BytesPerRequest <= 0 || s.Variants[0].BytesPerRequest >= s.Variants[1].BytesPerRequest {
		t.Fatalf("summary: %+v", s)
	}
}
