package cli

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// This file holds the pure half of `group reset-offsets`: parsing what to
// reset and to where, and computing the plan from offsets already fetched.
// No broker is involved, so the table tests in group_test.go cover it.

// resetMode is where --to-* or --shift-by moves a partition's offset.
type resetMode int

const (
	resetToEarliest resetMode = iota + 1
	resetToLatest
	resetToOffset
	resetToDatetime
	resetShiftBy
)

// resetTarget is the one destination the command line named.
type resetTarget struct {
	mode   resetMode
	offset int64     // resetToOffset
	shift  int64     // resetShiftBy
	at     time.Time // resetToDatetime
}

// resetFlags are the destination flags as given; exactly one must be set.
type resetFlags struct {
	toEarliest, toLatest bool
	toOffset             string
	toDatetime           string
	shiftBy              string
}

// parseResetTarget checks that exactly one destination is given and parses
// it. Numbers come in as strings so that "--to-offset" given as "" is an
// error rather than a silent 0.
func parseResetTarget(f resetFlags) (resetTarget, error) {
	var given []string
	if f.toEarliest {
		given = append(given, "--to-earliest")
	}
	if f.toLatest {
		given = append(given, "--to-latest")
	}
	if f.toOffset != "" {
		given = append(given, "--to-offset")
	}
	if f.toDatetime != "" {
		given = append(given, "--to-datetime")
	}
	if f.shiftBy != "" {
		given = append(given, "--shift-by")
	}
	switch len(given) {
	case 0:
		return resetTarget{}, errors.New("reset-offsets: give one of --to-earliest, --to-latest, --to-offset N, --to-datetime TIME, --shift-by N")
	case 1:
	default:
		return resetTarget{}, fmt.Errorf("reset-offsets: give only one of %s", strings.Join(given, ", "))
	}
	switch {
	case f.toEarliest:
		return resetTarget{mode: resetToEarliest}, nil
	case f.toLatest:
		return resetTarget{mode: resetToLatest}, nil
	case f.toOffset != "":
		n, err := strconv.ParseInt(strings.TrimSpace(f.toOffset), 10, 64)
		if err != nil || n < 0 {
			return resetTarget{}, fmt.Errorf("--to-offset %q: want an offset N >= 0", f.toOffset)
		}
		return resetTarget{mode: resetToOffset, offset: n}, nil
	case f.shiftBy != "":
		n, err := strconv.ParseInt(strings.TrimSpace(f.shiftBy), 10, 64)
		if err != nil {
			return resetTarget{}, fmt.Errorf("--shift-by %q: want a whole number of records, negative to go back", f.shiftBy)
		}
		return resetTarget{mode: resetShiftBy, shift: n}, nil
	default:
		at, err := parseDatetime(f.toDatetime)
		if err != nil {
			return resetTarget{}, err
		}
		return resetTarget{mode: resetToDatetime, at: at}, nil
	}
}

// parseDatetime reads --to-datetime: RFC 3339 (2024-05-01T12:00:00Z, with
// an optional fraction and any zone offset), or the same without a zone,
// which is taken as UTC so that a script means the same on every host.
func parseDatetime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--to-datetime %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z or 2024-05-01T14:00:00+02:00", s)
}

// topicSpec is one --topic: a topic and the partitions named, or nil for
// all of them.
type topicSpec struct {
	topic      string
	partitions []int32
}

// parseTopicSpecs reads repeated --topic T or --topic T:P,P,...; a topic
// named twice has its partition lists merged ("all" wins).
func parseTopicSpecs(list []string) ([]topicSpec, error) {
	idx := map[string]int{}
	var out []topicSpec
	for _, s := range list {
		name, parts, hasParts := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("--topic %q: want TOPIC or TOPIC:PARTITION,PARTITION,...", s)
		}
		var ps []int32
		if hasParts {
			if parts == "" {
				return nil, fmt.Errorf("--topic %q: no partitions after the colon; want TOPIC:0,1,2 or just TOPIC", s)
			}
			for _, p := range strings.Split(parts, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("--topic %q: partition %q is not a number >= 0", s, p)
				}
				ps = append(ps, int32(n))
			}
		}
		i, seen := idx[name]
		if !seen {
			idx[name] = len(out)
			out = append(out, topicSpec{topic: name, partitions: ps})
			continue
		}
		switch {
		case out[i].partitions == nil:
		case ps == nil:
			out[i].partitions = nil
		default:
			out[i].partitions = append(out[i].partitions, ps...)
		}
	}
	for i := range out {
		out[i].partitions = uniqueSorted(out[i].partitions)
	}
	return out, nil
}

func uniqueSorted(ps []int32) []int32 {
	if ps == nil {
		return nil
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	out := ps[:0]
	for i, p := range ps {
		if i == 0 || p != ps[i-1] {
			out = append(out, p)
		}
	}
	return out
}

// partitionOffsets is what the plan needs to know about one partition.
// An unknown offset is -1.
type partitionOffsets struct {
	topic     string
	partition int32
	committed int64 // the group's committed offset; -1 if none
	start     int64 // log start offset
	end       int64 // log end offset (high watermark)
	atTime    int64 // first offset at or after --to-datetime; -1 if none
}

// resetRow is one line of the plan.
type resetRow struct {
	topic     string
	partition int32
	old       int64 // -1: no committed offset
	new       int64
}

// planReset computes the new offset of every partition. Like
// kafka-consumer-groups it clamps a target outside [log start, log end] to
// the nearer bound, takes a time past the last record as the log end, and
// refuses to shift a partition that has no committed offset to shift from.
// The rows come back sorted by topic and partition.
func planReset(target resetTarget, parts []partitionOffsets) ([]resetRow, error) {
	rows := make([]resetRow, 0, len(parts))
	for _, p := range parts {
		var n int64
		switch target.mode {
		case resetToEarliest:
			n = p.start
		case resetToLatest:
			n = p.end
		case resetToOffset:
			n = target.offset
		case resetToDatetime:
			n = p.atTime
			if n < 0 {
				n = p.end
			}
		case resetShiftBy:
			if p.committed < 0 {
				return nil, fmt.Errorf("cannot shift %s partition %d: the group has no committed offset there to shift from", p.topic, p.partition)
			}
			n = p.committed + target.shift
		default:
			return nil, fmt.Errorf("reset-offsets: no destination given")
		}
		if n < p.start {
			n = p.start
		}
		if n > p.end {
			n = p.end
		}
		rows = append(rows, resetRow{topic: p.topic, partition: p.partition, old: p.committed, new: n})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].topic != rows[j].topic {
			return rows[i].topic < rows[j].topic
		}
		return rows[i].partition < rows[j].partition
	})
	return rows, nil
}

// groupStates are the classic-protocol group states, by lower-case name,
// for --state.
var groupStates = map[string]string{
	"preparingrebalance":  "PreparingRebalance",
	"completingrebalance": "CompletingRebalance",
	"stable":              "Stable",
	"dead":                "Dead",
	"empty":               "Empty",
	"assigning":           "Assigning",
	"reconciling":         "Reconciling",
}

// parseStates reads --state a,b,c case-insensitively into Kafka's spelling.
func parseStates(list []string) ([]string, error) {
	return parseStateList(list, groupStates, "PreparingRebalance, CompletingRebalance, Stable, Empty, Dead")
}

// parseStateList reads --state a,b,c case-insensitively through canon
// (lower case -> Kafka's spelling), without repeats; valid lists the names
// for the error.
func parseStateList(list []string, canon map[string]string, valid string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			c, ok := canon[strings.ToLower(s)]
			if !ok {
				return nil, fmt.Errorf("--state %q: want one or more of %s (comma-separated)", s, valid)
			}
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// inactive reports whether a group in state may have its offsets reset:
// no member may be consuming, as Kafka requires.
func inactive(state string) bool {
	return state == "Empty" || state == "Dead"
}

// showResetPlan prints what a reset would move (oldCol and newCol name the
// offset columns) and reports whether to go on: not on a dry run.
func (a *app) showResetPlan(group string, rows []resetRow, oldCol, newCol string, execute bool) (bool, error) {
	tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "GROUP\tTOPIC\tPARTITION\t%s\t%s\n", oldCol, newCol)
	for _, r := range rows {
		old := "-"
		if r.old >= 0 {
			old = strconv.FormatInt(r.old, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", group, r.topic, r.partition, old, r.new)
	}
	if err := tw.Flush(); err != nil {
		return false, err
	}
	if !execute {
		fmt.Fprintln(a.stderr, "ringtail: dry run, nothing changed; add --execute to apply")
		return false, nil
	}
	return true, nil
}
