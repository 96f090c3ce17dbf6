// This file proves the `ringtail group` commands against a running node:
// list shows a group (and filters by state), describe reports the
// committed offset, log end offset and lag that the test computes from what
// it produced and consumed, reset-offsets refuses an active group, prints a
// plan without changing anything unless --execute, and --to-earliest
// --execute makes a consumer of the group re-read from the start; delete
// refuses a group with members and removes an empty one.
package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/testkit"
)

// describeRow is one partition line of `ringtail group describe`.
type describeRow struct {
	current, end, lag, consumer, host, client string
}

// parseDescribe reads the partition lines of group's describe output.
func parseDescribe(t *testing.T, out, group, topic string) map[int32]describeRow {
	t.Helper()
	rows := map[int32]describeRow{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != group || f[1] != topic {
			continue
		}
		p, err := strconv.ParseInt(f[2], 10, 32)
		if err != nil {
			t.Fatalf("describe line %q: partition %q", line, f[2])
		}
		rows[int32(p)] = describeRow{f[3], f[4], f[5], f[6], f[7], f[8]}
	}
	return rows
}

func TestGroupCLIDescribeResetDelete(t *testing.T) {
	t.Parallel()
	n := startGroupNode(t)
	const (
		topic      = "cli-group"
		group      = "cli-workers"
		partitions = 3
		count      = 3000
	)
	n.CreateTopic(topic, partitions, nil)
	adm := n.Admin()
	prod := spreadProducer(n)
	ack := produceN(t, prod, topic, "c", count/2)

	// A member consumes and commits the first half, then stops polling
	// but stays in the group (its client stays open); the second half is
	// its lag.
	m := startMember(t, n, group, topic, "range", "cli-member")
	testkit.WaitFor(t, 2*time.Minute, "the member to process the first half", func() bool { return m.count() >= count/2 })
	close(m.stop)
	<-m.done
	if errs := m.errors(); len(errs) > 0 {
		t.Fatalf("member: %d errors, first: %v", len(errs), errs[0])
	}
	consumed := map[int32]int64{} // next offset per partition
	for _, r := range m.records() {
		consumed[r.partition] = r.offset + 1
	}
	ack = append(ack, produceN(t, prod, topic, "c2", count/2)...)
	produced := map[int32]int64{}
	for _, a := range ack {
		produced[a.partition]++
	}
	waitGroupStable(t, adm, group, 1, partitions)

	if out := runCLI(t, n, "", "group", "list"); !containsLine(out, group) {
		t.Fatalf("group list lacks %s:\n%s", group, out)
	}
	if out := runCLI(t, n, "", "group", "list", "--state", "stable"); !strings.Contains(out, group) || !strings.Contains(out, "Stable") {
		t.Fatalf("group list --state stable lacks %s:\n%s", group, out)
	}
	if out := runCLI(t, n, "", "group", "list", "--state", "Empty"); strings.Contains(out, group) {
		t.Fatalf("group list --state Empty shows the stable group:\n%s", out)
	}

	out := runCLI(t, n, "", "group", "describe", group)
	if !strings.Contains(out, "State: Stable") || !strings.Contains(out, "Members: 1") || !strings.Contains(out, "ClientId: cli-member") {
		t.Fatalf("describe header:\n%s", out)
	}
	rows := parseDescribe(t, out, group, topic)
	var totalLag int64
	for p := int32(0); p < partitions; p++ {
		r, ok := rows[p]
		if !ok {
			t.Fatalf("describe has no line for partition %d:\n%s", p, out)
		}
		if r.end != strconv.FormatInt(produced[p], 10) {
			t.Fatalf("partition %d: LOG-END-OFFSET %s, produced %d:\n%s", p, r.end, produced[p], out)
		}
		wantCurrent, wantLag := "-", "-"
		if c, ok := consumed[p]; ok {
			wantCurrent = strconv.FormatInt(c, 10)
			wantLag = strconv.FormatInt(produced[p]-c, 10)
			totalLag += produced[p] - c
		}
		if r.current != wantCurrent || r.lag != wantLag {
			t.Fatalf("partition %d: CURRENT-OFFSET %s LAG %s, want %s and %s (produced %d, consumed to %d):\n%s",
				p, r.current, r.lag, wantCurrent, wantLag, produced[p], consumed[p], out)
		}
		if r.consumer == "-" || r.client != "cli-member" {
			t.Fatalf("partition %d: consumer %q client %q, want the member:\n%s", p, r.consumer, r.client, out)
		}
	}
	if totalLag != count/2 {
		t.Fatalf("total lag %d, want the %d records produced after the member stopped", totalLag, count/2)
	}
	t.Logf("describe reports the lag the test computed (total %d):\n%s", totalLag, out)

	// An active group: no reset, no delete.
	if msg := runCLIFails(t, n, "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute"); !strings.Contains(msg, "inactive") {
		t.Fatalf("reset-offsets of an active group: %s", msg)
	}
	if msg := runCLIFails(t, n, "group", "delete", group); !strings.Contains(msg, "NON_EMPTY_GROUP") {
		t.Fatalf("delete of an active group: %s", msg)
	}

	m.leave()
	waitGroupState(t, adm, group, "Empty")
	before := committedOffsets(t, adm, group, topic)

	// Dry run: the plan, nothing changed.
	plan := runCLI(t, n, "", "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
	for p := int32(0); p < partitions; p++ {
		old := "-"
		if c, ok := before[p]; ok {
			old = strconv.FormatInt(c, 10)
		}
		want := []string{group, topic, strconv.Itoa(int(p)), old, "0"}
		if !hasFields(plan, want) {
			t.Fatalf("plan lacks %q:\n%s", want, plan)
		}
	}
	after := committedOffsets(t, adm, group, topic)
	for p, c := range before {
		if after[p] != c {
			t.Fatalf("a dry run changed partition %d from %d to %d", p, c, after[p])
		}
	}
	// --shift-by moves from the committed offset of the partitions named.
	var shifted int32 = -1
	for p, c := range before {
		if c >= 5 {
			shifted = p
		}
	}
	if shifted < 0 {
		t.Fatalf("no partition has 5 committed records to shift back over: %v", before)
	}
	plan = runCLI(t, n, "", "group", "reset-offsets", group, "--topic", topic+":"+itoa(int(shifted)), "--shift-by", "-5")
	if !hasFields(plan, []string{group, topic, itoa(int(shifted)), strconv.FormatInt(before[shifted], 10), strconv.FormatInt(before[shifted]-5, 10)}) {
		t.Fatalf("shift-by plan for partition %d committed at %d:\n%s", shifted, before[shifted], plan)
	}

	runCLI(t, n, "", "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
	after = committedOffsets(t, adm, group, topic)
	for p := int32(0); p < partitions; p++ {
		if o, ok := after[p]; !ok || o != 0 {
			t.Fatalf("after --to-earliest --execute partition %d is committed at %d (present %v), want 0", p, o, ok)
		}
	}

	// A consumer of the group re-reads everything from the start.
	m2 := startMember(t, n, group, topic, "range", "cli-member-2")
	testkit.WaitFor(t, 2*time.Minute, "the group to re-read the topic", func() bool { return m2.count() >= count })
	m2.leave()
	if dups := checkGroupConsumption(t, ack, m2.records(), "", nil); dups != 0 {
		t.Fatalf("%d records read twice after the reset", dups)
	}
	waitGroupState(t, adm, group, "Empty")
	if out := runCLI(t, n, "", "group", "describe", group); !hasFields(out, []string{group, topic, "0", strconv.FormatInt(produced[0], 10), strconv.FormatInt(produced[0], 10), "0", "-"}) {
		t.Fatalf("describe of the empty group after re-reading:\n%s", out)
	}

	if out := runCLI(t, n, "", "group", "delete", group); !strings.Contains(out, "deleted group "+group) {
		t.Fatalf("group delete: %s", out)
	}
	if out := runCLI(t, n, "", "group", "list"); containsLine(out, group) {
		t.Fatalf("group still listed after delete:\n%s", out)
	}
	if got := committedOffsets(t, adm, group, topic); len(got) != 0 {
		t.Fatalf("deleted group still has committed offsets %v", got)
	}
	if msg := runCLIFails(t, n, "group", "describe", group); !strings.Contains(msg, "GROUP_ID_NOT_FOUND") {
		t.Fatalf("describe of a deleted group: %s", msg)
	}
}

func containsLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// hasFields reports whether some line of out starts with the fields want.
func hasFields(out string, want []string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < len(want) {
			continue
		}
		ok := true
		for i := range want {
			if f[i] != want[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
