// These tests prove the consumer-group commands without a broker: parsing of
// --state, --topic and the reset destinations, the reset plan (clamping,
// datetime past the end, shifting without a commit), the describe table, and
// that bad command lines fail with one line before any request is sent.
package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestParseResetTarget(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		flags   resetFlags
		want    resetTarget
		wantErr string
	}{
		{"earliest", resetFlags{toEarliest: true}, resetTarget{mode: resetToEarliest}, ""},
		{"latest", resetFlags{toLatest: true}, resetTarget{mode: resetToLatest}, ""},
		{"offset", resetFlags{toOffset: "42"}, resetTarget{mode: resetToOffset, offset: 42}, ""},
		{"offset zero", resetFlags{toOffset: "0"}, resetTarget{mode: resetToOffset}, ""},
		{"negative offset", resetFlags{toOffset: "-1"}, resetTarget{}, "--to-offset"},
		{"offset not a number", resetFlags{toOffset: "ten"}, resetTarget{}, "--to-offset"},
		{"shift back", resetFlags{shiftBy: "-5"}, resetTarget{mode: resetShiftBy, shift: -5}, ""},
		{"shift forward", resetFlags{shiftBy: "+7"}, resetTarget{mode: resetShiftBy, shift: 7}, ""},
		{"shift not a number", resetFlags{shiftBy: "1.5"}, resetTarget{}, "--shift-by"},
		{"datetime utc", resetFlags{toDatetime: "2024-05-01T12:00:00Z"}, resetTarget{mode: resetToDatetime, at: at}, ""},
		{"datetime zone", resetFlags{toDatetime: "2024-05-01T14:00:00+02:00"}, resetTarget{mode: resetToDatetime, at: at}, ""},
		{"datetime fraction", resetFlags{toDatetime: "2024-05-01T12:00:00.250Z"}, resetTarget{mode: resetToDatetime, at: at.Add(250 * time.Millisecond)}, ""},
		{"datetime no zone is utc", resetFlags{toDatetime: "2024-05-01T12:00:00"}, resetTarget{mode: resetToDatetime, at: at}, ""},
		{"datetime bad", resetFlags{toDatetime: "yesterday"}, resetTarget{}, "RFC 3339"},
		{"none", resetFlags{}, resetTarget{}, "give one of"},
		{"two", resetFlags{toEarliest: true, shiftBy: "1"}, resetTarget{}, "only one of --to-earliest, --shift-by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseResetTarget(tc.flags)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.mode != tc.want.mode || got.offset != tc.want.offset || got.shift != tc.want.shift || !got.at.Equal(tc.want.at) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTopicSpecs(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    string // topic[partitions] ... ; "*" for all partitions
		wantErr string
	}{
		{[]string{"orders"}, "orders[*]", ""},
		{[]string{"orders:2,0,1,0"}, "orders[0 1 2]", ""},
		{[]string{"a:1", "b", "a:0"}, "a[0 1] b[*]", ""},
		{[]string{"a:1", "a"}, "a[*]", ""},
		{[]string{"a", "a:1"}, "a[*]", ""},
		{[]string{" orders : 1"}, "orders[1]", ""},
		{[]string{":1"}, "", "want TOPIC"},
		{[]string{"orders:"}, "", "no partitions"},
		{[]string{"orders:x"}, "", `partition "x"`},
		{[]string{"orders:-1"}, "", `partition "-1"`},
	} {
		got, err := parseTopicSpecs(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var parts []string
		for _, s := range got {
			ps := "*"
			if s.partitions != nil {
				ps = strings.ReplaceAll(joinInt32s(s.partitions), ",", " ")
			}
			parts = append(parts, s.topic+"["+ps+"]")
		}
		if g := strings.Join(parts, " "); g != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, g, tc.want)
		}
	}
}

func TestParseStates(t *testing.T) {
	got, err := parseStates([]string{"stable,EMPTY", "Stable", " preparingrebalance "})
	if err != nil {
		t.Fatal(err)
	}
	if g := strings.Join(got, ","); g != "Stable,Empty,PreparingRebalance" {
		t.Fatalf("got %s", g)
	}
	if _, err := parseStates([]string{"Stable,Running"}); err == nil || !strings.Contains(err.Error(), `"Running"`) {
		t.Fatalf("unknown state: err %v", err)
	}
	if got, err := parseStates(nil); err != nil || got != nil {
		t.Fatalf("no filter: %v, %v", got, err)
	}
}

func TestPlanReset(t *testing.T) {
	// Partition 0: log 10..100, committed 50. Partition 1: log 0..20, no
	// commit. The time index puts the datetime at offset 60 on p0 and past
	// the last record on p1.
	parts := []partitionOffsets{
		{topic: "t", partition: 1, committed: -1, start: 0, end: 20, atTime: -1},
		{topic: "t", partition: 0, committed: 50, start: 10, end: 100, atTime: 60},
	}
	for _, tc := range []struct {
		name    string
		target  resetTarget
		parts   []partitionOffsets
		want    []int64 // new offsets of p0, p1
		wantErr string
	}{
		{"earliest", resetTarget{mode: resetToEarliest}, parts, []int64{10, 0}, ""},
		{"latest", resetTarget{mode: resetToLatest}, parts, []int64{100, 20}, ""},
		{"offset inside", resetTarget{mode: resetToOffset, offset: 15}, parts, []int64{15, 15}, ""},
		{"offset clamped to start and end", resetTarget{mode: resetToOffset, offset: 5}, parts[1:], []int64{10}, ""},
		{"offset clamped to end", resetTarget{mode: resetToOffset, offset: 1000}, parts, []int64{100, 20}, ""},
		{"datetime, past the end is the end", resetTarget{mode: resetToDatetime}, parts, []int64{60, 20}, ""},
		{"shift back", resetTarget{mode: resetShiftBy, shift: -30}, parts[1:], []int64{20}, ""},
		{"shift back clamped", resetTarget{mode: resetShiftBy, shift: -45}, parts[1:], []int64{10}, ""},
		{"shift forward clamped", resetTarget{mode: resetShiftBy, shift: 80}, parts[1:], []int64{100}, ""},
		{"shift without a commit", resetTarget{mode: resetShiftBy, shift: 1}, parts, nil, "no committed offset"},
		{"no destination", resetTarget{}, parts, nil, "no destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := planReset(tc.target, tc.parts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d", len(rows), len(tc.want))
			}
			for i, r := range rows {
				if r.partition != int32(i) && len(tc.parts) == 2 {
					t.Fatalf("rows not sorted by partition: %+v", rows)
				}
				if r.new != tc.want[i] {
					t.Errorf("partition %d: new offset %d, want %d", r.partition, r.new, tc.want[i])
				}
				wantOld := int64(-1)
				if r.partition == 0 {
					wantOld = 50
				}
				if r.old != wantOld {
					t.Errorf("partition %d: old offset %d, want %d", r.partition, r.old, wantOld)
				}
			}
		})
	}
}

func TestWriteGroupLag(t *testing.T) {
	member := kadm.DescribedGroupMember{MemberID: "m-1", ClientID: "c1", ClientHost: "/127.0.0.1"}
	l := kadm.DescribedGroupLag{
		Group: "g", State: "Stable", ProtocolType: "consumer", Protocol: "range",
		Coordinator: kadm.BrokerDetail{NodeID: 1},
		Members:     []kadm.DescribedGroupMember{member},
		Lag: kadm.GroupLag{"t": {
			0: {Member: &member, Topic: "t", Partition: 0, Commit: kadm.Offset{At: 7}, End: kadm.ListedOffset{Offset: 10}, Lag: 3},
			1: {Member: &member, Topic: "t", Partition: 1, Commit: kadm.Offset{At: -1}, End: kadm.ListedOffset{Offset: 4}, Lag: 4},
			2: {Topic: "t", Partition: 2, Commit: kadm.Offset{At: 5}, End: kadm.ListedOffset{Offset: -1, Err: kerr.NotLeaderForPartition}, Lag: -1, Err: kerr.NotLeaderForPartition},
		}},
	}
	var b strings.Builder
	writeGroupLag(&b, l)
	out := b.String()
	if !strings.Contains(out, "Group: g\tState: Stable\tProtocol: consumer/range\tCoordinator: 1\tMembers: 1") {
		t.Fatalf("header missing:\n%s", out)
	}
	want := [][]string{
		{"g", "t", "0", "7", "10", "3", "m-1", "/127.0.0.1", "c1"},
		{"g", "t", "1", "-", "4", "-", "m-1", "/127.0.0.1", "c1"},
		{"g", "t", "2", "5", "-", "-", "-", "-", "-", "NOT_LEADER_FOR_PARTITION:"},
	}
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "g" {
			continue
		}
		w := want[rows]
		for i := range w {
			if f[i] != w[i] {
				t.Fatalf("row %d: %q, want fields %q", rows, line, w)
			}
		}
		rows++
	}
	if rows != len(want) {
		t.Fatalf("%d partition rows, want %d:\n%s", rows, len(want), out)
	}
}

func TestGroupUsageErrors(t *testing.T) {
	addr := closedPort(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"group", "describe"}, "wants at least one GROUP"},
		{[]string{"group", "delete"}, "wants at least one GROUP"},
		{[]string{"group", "list", "extra"}, "wants no arguments"},
		{[]string{"group", "list", "--state", "Running"}, `--state "Running"`},
		{[]string{"group", "reset-offsets", "g", "--topic", "t"}, "give one of --to-earliest"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"}, "only one of"},
		{[]string{"group", "reset-offsets", "g", "--to-earliest"}, "--all-topics, one of the two"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--all-topics", "--to-earliest"}, "one of the two"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t:x", "--to-earliest"}, `partition "x"`},
		{[]string{"group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "now"}, "RFC 3339"},
		{[]string{"group", "reset-offsets", "--topic", "t", "--to-earliest"}, "wants one GROUP"},
		{[]string{"group", "frobnicate"}, `unknown command "frobnicate"`},
		// Valid command lines reach the broker, which is not there.
		{[]string{"group", "list"}, "list groups"},
		{[]string{"group", "describe", "g"}, "describe groups"},
	} {
		r := run(t, "", nil, append(tc.args, "--bootstrap", addr)...)
		wantOneLineError(t, r, tc.want)
	}
}
