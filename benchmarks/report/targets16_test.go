package report

import (
	"strings"
	"testing"
)

// Issue 16's targets miss when their figures do, and the shards target
// reads the unpinned pair, not the pair that compared one shard with
// itself.
func TestIssue16TargetsMiss(t *testing.T) {
	r := fabricated()
	Evaluate(r, nil)
	if got := targetByID(t, r, TargetShards); !strings.Contains(got.Measured, "unpinned-shards-cores 350 MiB/s = 1.03×") {
		t.Errorf("shards: measured %q", got.Measured)
	}
	if got := targetByID(t, r, TargetE100000); !strings.Contains(got.Measured, "restart to ready 9.50 s") || !strings.Contains(got.Measured, "6.10 KiB per partition") {
		t.Errorf("e-100000: measured %q", got.Measured)
	}
	r.Comparisons[len(r.Comparisons)-1].WithMBps = 300 // 0.88× one shard
	r.Find("f", "ringtail-3node").MBPerS = 150         // 44% of a's 342
	r.Find("d", VariantD10k).Latency.P99 = 2.6         // over 0.5 + 2 ms
	r.Find("d", VariantD10k).Latency.P999 = 8          // over 3 × 2.6
	r.Find("e", "partitions-100000").RecordsPerS = 0   // did not run
	Evaluate(r, map[string]string{TargetShards: "why shards missed"})
	for _, id := range []string{TargetShards, TargetF, TargetD10kP99, TargetD10kP999, TargetE100000} {
		if targetByID(t, r, id).Met {
			t.Errorf("%s: met, want missed", id)
		}
	}
	if got := targetByID(t, r, TargetShards); got.Note != "why shards missed" {
		t.Errorf("shards: note %q", got.Note)
	}
	if got := targetByID(t, r, TargetF); got.Measured != "150 MiB/s = 44%" {
		t.Errorf("f-a: measured %q", got.Measured)
	}
}
