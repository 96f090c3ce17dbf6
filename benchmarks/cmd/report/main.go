// Command report re-renders one benchmark-suite run: it re-reads
// <results-dir>/results.json, re-evaluates the targets (with the notes
// file, when given) and rewrites README.md, the PNG plots and
// results.json in that folder.
//
//	go run ./cmd/report [--notes target-notes.json] benchmarks/results/2026-11-23-host
//
// The notes file is JSON: one object mapping a target id ("a-fio",
// "a-kfake", "b-kfake", "c-kfake", "c-iperf", "d-p99", "d-p999",
// "e-1000", "e-10000") to the sentence that explains why that target was
// missed and what would close it. A note is shown only next to a missed
// target. Ids the report does not know are rejected, to catch typos.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/ringtail/ringtail/benchmarks/report"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	notesPath := fs.String("notes", "", "JSON file mapping target id to the note for a missed target")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: report [--notes FILE] <results-dir>")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir := fs.Arg(0)

	var notes map[string]string
	if *notesPath != "" {
		var err error
		if notes, err = readNotes(*notesPath); err != nil {
			fmt.Fprintf(stderr, "report: %v\n", err)
			return 1
		}
	}
	r, err := report.ReadResults(filepath.Join(dir, "results.json"))
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	report.Evaluate(r, notes)
	if err := report.Write(dir, r); err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	met := 0
	for _, t := range r.Targets {
		if t.Met {
			met++
		}
	}
	fmt.Fprintf(stdout, "wrote %s: %d of %d targets met\n", filepath.Join(dir, "README.md"), met, len(r.Targets))
	return 0
}

// readNotes reads a notes file: a JSON object of target id → sentence.
func readNotes(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var notes map[string]string
	if err := json.Unmarshal(b, &notes); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of target id to sentence: %w", path, err)
	}
	var unknown []string
	for id := range notes {
		if !slices.Contains(report.TargetIDs, id) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%s: unknown target ids %q (known: %q)", path, unknown, report.TargetIDs)
	}
	return notes, nil
}
