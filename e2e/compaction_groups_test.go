package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ringtail/ringtail/testkit"
)

// __consumer_offsets is compacted (issue 12): a consumer group that
// committed 100,000 times holds one offset record per partition once the
// cleaner has run, and a broker restart replays those rather than the
// whole history. The node runs with small offsets.topic.segment.bytes so
// that the test's volume spans hundreds of segments, one
// __consumer_offsets partition, and the cleaner off while the group
// commits; a restart then measures the group load over the full history,
// and, with the cleaner on, another after cleaning. The figures are logged
// (benchmarks/results/2026-12-03-offsets-compaction.md); no timing is
// asserted, only that the second load replayed a small fraction of the
// records and that every committed offset survived.
func TestCompactionConsumerOffsetsShrinkAndReload(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	o, adminAddr := withAdmin(t, testkit.Options{
		Settings: map[string]string{
			"offsets.topic.segment.bytes":  "16384",
			"offsets.topic.num.partitions": "1",
			"log.cleaner.backoff.ms":       "100",
			"log.cleaner.enable":           "false",
		},
		// "loaded group partition" (records and bytes replayed) is a
		// debug line.
		Ringtail: map[string]string{"log_level": `"debug"`},
	})
	n := startNode(t, o)
	const (
		group      = "committer"
		partitions = 8 // per topic; every request commits all 16
		rounds     = 6250
	)
	topics := []string{"tracked-a", "tracked-b"}
	for _, topic := range topics {
		n.CreateTopic(topic, partitions, nil)
	}
	total := rounds * len(topics) * partitions
	if total < 100_000 {
		t.Fatalf("the test writes %d offset records; the acceptance asks for 100,000", total)
	}

	adm := n.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Round r commits offset r*10+p to partition p of each topic, so that
	// every commit differs and the last one is known.
	offsetOf := func(r int, p int32) int64 { return int64(r)*10 + int64(p) }
	start := time.Now()
	for r := 1; r <= rounds; r++ {
		offs := kadm.Offsets{}
		for _, topic := range topics {
			for p := int32(0); p < partitions; p++ {
				offs.Add(kadm.Offset{Topic: topic, Partition: p, At: offsetOf(r, p), LeaderEpoch: -1})
			}
		}
		resps, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			t.Fatalf("commit round %d: %v", r, err)
		}
	}
	commitTook := time.Since(start)
	t.Logf("%d offset records committed in %d OffsetCommit requests in %v", total, rounds, commitTook.Round(time.Millisecond))

	wantLast := func(when string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := n.Admin().FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("%s: fetch offsets of %s: %v", when, group, err)
		}
		got := 0
		for _, topic := range topics {
			for p := int32(0); p < partitions; p++ {
				o, ok := resp.Lookup(topic, p)
				switch {
				case !ok:
					t.Fatalf("%s: no committed offset for %s/%d", when, topic, p)
				case o.Err != nil:
					t.Fatalf("%s: %s/%d: %v", when, topic, p, o.Err)
				case o.At != offsetOf(rounds, p):
					t.Fatalf("%s: %s/%d committed %d, want the last commit, %d", when, topic, p, o.At, offsetOf(rounds, p))
				}
				got++
			}
		}
		all := 0
		resp.Each(func(kadm.OffsetResponse) { all++ })
		if all != got {
			t.Fatalf("%s: OffsetFetch returned %d partitions, want the %d committed: %v", when, all, got, resp.Offsets())
		}
	}
	wantLast("after committing")

	// offsetsSize is the bytes on disk of __consumer_offsets (one
	// partition), from DescribeLogDirs.
	offsetsSize := func() int64 { return topicSizeOnDisk(t, n, "__consumer_offsets") }
	segments := func() int {
		return int(metricSum(scrape(t, adminAddr), "ringtail_log_segments", map[string]string{"topic": "__consumer_offsets"}))
	}
	written, segsWritten := offsetsSize(), segments()
	t.Logf("__consumer_offsets holds %d bytes in %d segments with the cleaner off", written, segsWritten)

	// A restart with the whole history in the log.
	n.Restart()
	before := groupLoad(t, n)
	wantLast("after a restart with the cleaner off")
	t.Logf("restart with the cleaner off: %s", before)
	if before.records < total {
		t.Fatalf("the load replayed %d records; %d offset records were committed", before.records, total)
	}

	// The cleaner on: it compacts __consumer_offsets down to the live
	// offsets (plus what sits in the active segment).
	setSetting(t, n, "log.cleaner.enable", "true")
	n.Restart()
	testkit.WaitFor(t, 3*time.Minute, "the cleaner to compact __consumer_offsets (passes in /metrics, size on disk)", func() bool {
		return metricSum(scrape(t, adminAddr), "ringtail_cleaner_passes_total", nil) > 0 && offsetsSize() < written/20
	})
	cleaned, segsCleaned := offsetsSize(), segments()
	t.Logf("__consumer_offsets holds %d bytes in %d segments after cleaning (%d before, %.1f%%)", cleaned, segsCleaned, written, 100*float64(cleaned)/float64(written))
	wantLast("after cleaning")

	// A restart with the cleaned log: the load replays the live offsets.
	n.Restart()
	after := groupLoad(t, n)
	wantLast("after a restart with the cleaned log")
	t.Logf("restart after cleaning: %s", after)
	if after.records*20 > before.records {
		t.Fatalf("the load after cleaning replayed %d records, more than 1/20 of the %d before", after.records, before.records)
	}

	t.Logf("figures (markdown):\n"+
		"| | before cleaning | after cleaning |\n|---|---|---|\n"+
		"| offset records committed | %d | |\n"+
		"| __consumer_offsets on disk (DescribeLogDirs) | %d B | %d B |\n"+
		"| __consumer_offsets segments (`ringtail_log_segments`) | %d | %d |\n"+
		"| records replayed by the group load | %d | %d |\n"+
		"| bytes replayed by the group load | %d B | %d B |\n"+
		"| group load time (`consumer groups loaded took=`) | %v | %v |",
		total, written, cleaned, segsWritten, segsCleaned, before.records, after.records, before.bytes, after.bytes, before.took, after.took)
}

// groupLoadFigures is what the node logged when it loaded its consumer
// groups at its last start.
type groupLoadFigures struct {
	records, groups int
	bytes           int64
	took            time.Duration
}

func (g groupLoadFigures) String() string {
	return fmt.Sprintf("%d groups, %d records (%d bytes) replayed in %v", g.groups, g.records, g.bytes, g.took)
}

var (
	loadedPartitionLine = regexp.MustCompile(`msg="loaded group partition".* records=(\d+) .*bytes=(\d+)`)
	groupsLoadedLine    = regexp.MustCompile(`msg="consumer groups loaded".* groups=(\d+) took=(\S+)`)
)

// groupLoad parses the node's log since its last start: the debug line of
// each loaded __consumer_offsets partition and the "consumer groups
// loaded" line (waiting for it: it comes once the node serves).
func groupLoad(t *testing.T, n *testkit.Node) groupLoadFigures {
	t.Helper()
	var g groupLoadFigures
	testkit.WaitFor(t, time.Minute, `the node to log "consumer groups loaded"`, func() bool {
		return groupsLoadedLine.MatchString(n.LogSinceLastStart())
	})
	log := n.LogSinceLastStart()
	m := groupsLoadedLine.FindStringSubmatch(log)
	g.groups, _ = strconv.Atoi(m[1])
	took, err := time.ParseDuration(m[2])
	if err != nil {
		t.Fatalf("consumer groups loaded took=%q: %v", m[2], err)
	}
	g.took = took
	lines := loadedPartitionLine.FindAllStringSubmatch(log, -1)
	if len(lines) == 0 {
		t.Fatalf(`no "loaded group partition" line (records replayed) in the log since the last start`)
	}
	for _, l := range lines {
		r, _ := strconv.Atoi(l[1])
		b, _ := strconv.ParseInt(l[2], 10, 64)
		g.records += r
		g.bytes += b
	}
	return g
}

// setSetting rewrites key in the stopped or running node's server.toml
// (read at its next start).
func setSetting(t *testing.T, n *testkit.Node, key, value string) {
	t.Helper()
	data, err := os.ReadFile(n.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, key+" = ") {
			lines[i] = key + " = " + value
			found = true
		}
	}
	if !found {
		t.Fatalf("%s: no %s line to change", n.ConfigPath, key)
	}
	if err := os.WriteFile(n.ConfigPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}
