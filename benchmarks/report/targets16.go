package report

import "fmt"

// Issue 16's other targets: the linger-0 latency at 10,000 records/s,
// shards against one shard, the 3-node cluster against one node, and
// 100,000 partitions on one node.
const (
	TargetD10kP99  = "d10k-p99"
	TargetD10kP999 = "d10k-p999"
	TargetShards   = "shards"
	TargetF        = "f-a"
	TargetE100000  = "e-100000"

	// VariantD10k is workload (d) at 10,000 records/s with linger 0.
	VariantD10k = "rate-10000-linger-0"

	// Extra keys of the many-partitions variants of (e).
	ExtraStartupS    = "startup_s"
	ExtraShutdownS   = "shutdown_s"
	ExtraIdleKiBPer  = "rss_idle_kib_per_partition"
	ExtraNofileLimit = "nofile_limit"
)

func targetD10kP99(r *Results) Target {
	return targetP99(r, TargetD10kP99, VariantD10k, "Workload (d) at 10,000 records/s, 1 KiB, acks=all, linger 0: e2e p99 against the disk's own fdatasync p99")
}

func targetD10kP999(r *Results) Target {
	return targetP999(r, TargetD10kP999, VariantD10k, "Workload (d) at 10,000 records/s, linger 0: p99.9 against its own p99")
}

// targetShards reads the shards comparison that ran with the broker free
// to use every CPU (the pinned pair compares one shard with itself).
func targetShards(r *Results) Target {
	t := Target{
		ID:          TargetShards,
		Description: "Workload (a): shards = cores against one shard on this machine",
		Target:      "≥ 1.0 × one shard",
		Measured:    notMeasured,
	}
	var c *Comparison
	for i := range r.Comparisons {
		x := &r.Comparisons[i]
		if x.Mechanism == "shards = cores vs one shard" && x.WithMBps > 0 && x.WithoutMBps > 0 && x.Note == "" {
			c = x
		}
	}
	if c == nil {
		return t
	}
	ratio := c.WithMBps / c.WithoutMBps
	t.Target = fmt.Sprintf("≥ 1.0 × a/%s %s MiB/s", c.Without, fmtNum(c.WithoutMBps))
	t.Measured = fmt.Sprintf("a/%s %s MiB/s = %.2f×", c.With, fmtNum(c.WithMBps), ratio)
	t.Met = ratio >= 1.0
	return t
}

func targetF(r *Results) Target {
	t := Target{
		ID:          TargetF,
		Description: "Workload (f), 3 nodes, RF=3, acks=all, against the single-node (a) on the same run",
		Target:      "≥ 60% of a/ringtail",
		Measured:    notMeasured,
	}
	a, f := r.Find("a", "ringtail"), r.Find("f", "ringtail-3node")
	if a != nil && a.MBPerS > 0 {
		t.Target = fmt.Sprintf("≥ 60%% of a/ringtail %s MiB/s = %s MiB/s", fmtNum(a.MBPerS), fmtNum(0.6*a.MBPerS))
	}
	if a == nil || f == nil || a.MBPerS <= 0 {
		return t
	}
	frac := f.MBPerS / a.MBPerS
	t.Measured = fmt.Sprintf("%s MiB/s = %.0f%%", fmtNum(f.MBPerS), frac*100)
	t.Met = frac >= 0.6
	return t
}

// targetManyPartitions: n partitions on one node ran (records/s > 0),
// with the memory, start-up time and descriptor limit recorded.
func targetManyPartitions(r *Results, id string, n int, desc, target string) Target {
	t := Target{ID: id, Description: desc, Target: target, Measured: notMeasured}
	s := r.Find("e", fmt.Sprintf("partitions-%d", n))
	if s == nil {
		return t
	}
	rss := "RSS not reported"
	if s.RSSMiB > 0 {
		rss = fmt.Sprintf("RSS %s MiB", fmtNum(s.RSSMiB))
	}
	t.Measured = fmt.Sprintf("%s records/s, %s MiB/s, %s", fmtCount(s.RecordsPerS), fmtNum(s.MBPerS), rss)
	if v := s.Extra[ExtraNofileLimit]; v > 0 {
		t.Measured += fmt.Sprintf("; open file limit %s", fmtCount(v))
	}
	if v, ok := s.Extra[ExtraStartupS]; ok {
		t.Measured += fmt.Sprintf("; clean restart to ready %s s", fmtNum(v))
	}
	if v, ok := s.Extra[ExtraIdleKiBPer]; ok {
		t.Measured += fmt.Sprintf(", idle RSS %s KiB per partition", fmtNum(v))
	}
	t.Met = s.RecordsPerS > 0 && s.RSSMiB > 0
	return t
}
