// This file drives share groups from the CLI against the real binary:
// `ringtail group alter-config` sets share.auto.offset.reset (a bad value
// is refused naming the valid ones), two `ringtail consume --share-group`
// runs split a topic's records between them with none printed twice (the
// first run's unprinted records are released when it exits), and
// `ringtail group describe` shows the share-partition start offsets past
// every accepted record.
package e2e

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/testkit"
)

func TestShareGroupCLI(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	runCLI(t, n, "", "topic", "create", "cli-share", "--partitions", "2")
	var in strings.Builder
	for i := 1; i <= 40; i++ {
		in.WriteString(strconv.Itoa(i) + "\n")
	}
	runCLI(t, n, in.String(), "produce", "cli-share")

	if out := runCLIFails(t, n, "group", "alter-config", "cli-workers", "--set", "share.auto.offset.reset=sometimes"); !strings.Contains(out, "INVALID_CONFIG") || !strings.Contains(out, "earliest") {
		t.Fatalf("a bad share.auto.offset.reset: %q; want INVALID_CONFIG naming the valid values", out)
	}
	runCLI(t, n, "", "group", "alter-config", "cli-workers", "--set", "share.auto.offset.reset=earliest")

	seen := map[int]int{}
	read := func(count int) {
		out := runCLI(t, n, "", "consume", "cli-share", "--share-group", "cli-workers", "-n", strconv.Itoa(count), "--timeout", "30s")
		for _, line := range strings.Fields(out) {
			v, err := strconv.Atoi(line)
			if err != nil {
				t.Fatalf("consume printed %q", line)
			}
			seen[v]++
		}
	}
	read(15)
	read(25)
	var dup []int
	for v, c := range seen {
		if c > 1 {
			dup = append(dup, v)
		}
	}
	sort.Ints(dup)
	if len(seen) != 40 || len(dup) > 0 {
		t.Fatalf("the two share group members printed %d distinct records (want 40), twice: %v", len(seen), dup)
	}

	// Every record was accepted: the start offsets sum to the 40 records.
	testkit.WaitFor(t, 30*time.Second, "the share-partition start offsets to pass every record", func() bool {
		out := runCLI(t, n, "", "group", "describe", "cli-workers")
		sum := 0
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[0] == "cli-workers" && f[1] == "cli-share" {
				off, err := strconv.Atoi(f[3])
				if err != nil {
					return false
				}
				sum += off
			}
		}
		return sum == 40
	})
}
