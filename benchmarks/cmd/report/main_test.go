package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/benchmarks/report"
)

// results is a run that meets d-p99 and d-p999 and misses a-kfake.
func results() *report.Results {
	return &report.Results{
		Date: "2026-11-23", Host: "h",
		Limits: report.Limits{FsyncLatencyMs: &report.Latency{P99: 1}},
		Summaries: []report.Summary{
			{Workload: "a", Variant: "ringtail", Runs: 1, RecordsPerS: 1000, MBPerS: 100},
			{Workload: "a", Variant: "kfake", Runs: 1, RecordsPerS: 2000, MBPerS: 200},
			{Workload: "d", Variant: "ringtail", Runs: 1, RecordsPerS: 100, MBPerS: 1, Latency: &report.Latency{P50: 1, P99: 2, P999: 3}},
		},
		Comparisons: []report.Comparison{{Mechanism: "m", Workload: "a", With: "ringtail", Without: "x", WithMBps: 100, WithoutMBps: 50}},
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRerender(t *testing.T) {
	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "results.json"), results())
	notes := filepath.Join(t.TempDir(), "notes.json")
	writeJSON(t, notes, map[string]string{"a-kfake": "kfake keeps records in memory only", "d-p99": "not shown: met"})

	var stdout, stderr bytes.Buffer
	if rc := run([]string{"--notes", notes, dir}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d, stderr %s", rc, stderr.String())
	}
	if !strings.Contains(stdout.String(), fmt.Sprintf("2 of %d targets met", len(report.TargetIDs))) {
		t.Errorf("stdout %q", stdout.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kfake keeps records in memory only", "| d-p99 |", "2.00×"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	if strings.Contains(string(md), "not shown: met") {
		t.Error("a met target shows its note")
	}
	for _, f := range []string{"throughput.png", "latency.png", "sidebyside.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	r, err := report.ReadResults(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Targets) != len(report.TargetIDs) || r.Comparisons[0].Ratio != 2 {
		t.Errorf("results.json not rewritten with the evaluation: %d targets, ratio %v", len(r.Targets), r.Comparisons[0].Ratio)
	}
}

func TestRepoNotesFileCoversEveryTarget(t *testing.T) {
	notes, err := readNotes(filepath.Join("..", "..", "target-notes.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range report.TargetIDs {
		if notes[id] == "" {
			t.Errorf("target-notes.json has no note for %q", id)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if rc := run([]string{dir}, &stdout, &stderr); rc != 1 {
		t.Errorf("no results.json: rc %d", rc)
	}
	if rc := run(nil, &stdout, &stderr); rc != 2 {
		t.Errorf("no folder: rc %d", rc)
	}
	writeJSON(t, filepath.Join(dir, "results.json"), results())
	notes := filepath.Join(dir, "notes.json")
	writeJSON(t, notes, map[string]string{"a-fi0": "typo"})
	stderr.Reset()
	if rc := run([]string{"--notes", notes, dir}, &stdout, &stderr); rc != 1 || !strings.Contains(stderr.String(), "a-fi0") {
		t.Errorf("unknown id: rc %d, stderr %q", rc, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); !os.IsNotExist(err) {
		t.Error("README.md written despite a bad notes file")
	}
}
