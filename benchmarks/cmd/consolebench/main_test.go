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

// TestConsoleBenchSmoke runs the benchmark small: the topics are created
// and listed, every page of both consoles loads with 200, the three kinds
// of produce round run without an error and each console served pages
// during its loaded ones.
func TestConsoleBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the real binary")
	}
	out := filepath.Join(t.TempDir(), "console.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	args := []string{"--topics", "120", "--partitions", "2", "--loads", "3", "--rounds", "1", "--produce-for", "1s", "--out", out}
	if err := run(ctx, args, &stdout); err != nil {
		t.Fatalf("consolebench: %v\n%s", err, stdout.String())
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
	if s.Topics != 120 || len(s.Pages) != 10 || len(s.Rounds) != 3 {
		t.Fatalf("summary: %+v", s)
	}
	for _, p := range s.Pages {
		if p.Bytes == 0 || p.P50MS <= 0 {
			t.Fatalf("page %s: %+v", p.Path, p)
		}
	}
	if s.Rounds[0].ConsoleLoad != "" || s.Rounds[1].ConsoleLoad != "shared" || s.Rounds[2].ConsoleLoad != "fresh" ||
		s.Rounds[1].PageLoads == 0 || s.Rounds[2].PageLoads == 0 || s.MedianQuiet <= 0 || s.MedianShared <= 0 || s.MedianFresh <= 0 {
		t.Fatalf("rounds: %+v", s.Rounds)
	}
}
