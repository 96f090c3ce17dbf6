package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Evaluate fills in what the suite leaves to the report: each
// Comparison's Ratio and Wins where they are 0, and r.Targets, one per
// issue-5 target, from r.Summaries and r.Limits. notes maps a target id
// to the sentence explaining a missed target; it may be nil.
func Evaluate(r *Results, notes map[string]string) {
	_ = notes
}

// Write writes dir/results.json, dir/README.md and the PNG plots.
func Write(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode results: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644)
}
