package group

// The server-side assignors of KIP-848 consumer groups (Kafka's
// UniformAssignor and RangeAssignor). Both are pure: members with their
// subscribed topics (and the previous target, for stickiness) in, a
// target assignment out.

import (
	"sort"

	"github.com/ringtail/ringtail/model"
)

// assignMember is one member as an assignor sees it.
type assignMember struct {
	id     string
	topics []string // subscribed and existing, sorted
	prev   tpSet    // the previous target
}

// computeTargetLocked recomputes the group's target assignment at its
// group epoch.
func (c *Coordinator) computeTargetLocked(cg *cgroup, topics map[string]TopicMeta) {
	counts := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			counts[m.assignor]++
		}
	}
	name := c.cfg.ConsumerAssignors[0]
	best := 0
	for _, a := range c.cfg.ConsumerAssignors {
		if counts[a] > best {
			name, best = a, counts[a]
		}
	}
	ms := make([]assignMember, 0, len(cg.members))
	for id, m := range cg.members {
		ms = append(ms, assignMember{id: id, topics: m.subscribed(topics), prev: cg.target[id]})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	parts := map[string]int32{}
	for t, meta := range topics {
		parts[t] = meta.Partitions
	}
	if name == "range" {
		cg.target = assignRange(ms, parts)
	} else {
		cg.target = assignUniform(ms, parts)
	}
	cg.assignmentEpoch = cg.epoch
}

// assignRange gives each topic's partitions in contiguous ranges to the
// members subscribed to it, sorted by member id; the first
// partitions%members members get one more.
func assignRange(ms []assignMember, parts map[string]int32) map[string]tpSet {
	out := make(map[string]tpSet, len(ms))
	subs := map[string][]string{}
	for _, m := range ms {
		out[m.id] = tpSet{}
		for _, t := range m.topics {
			subs[t] = append(subs[t], m.id)
		}
	}
	for t, ids := range subs {
		n := parts[t]
		per, extra := n/int32(len(ids)), n%int32(len(ids))
		p := int32(0)
		for i, id := range ids {
			k := per
			if int32(i) < extra {
				k++
			}
			for ; k > 0; k-- {
				out[id][model.TopicPartition{Topic: t, Partition: p}] = struct{}{}
				p++
			}
		}
	}
	return out
}

// assignUniform spreads all subscribed partitions evenly, keeping a
// partition with its previous owner while that owner is under its share:
// sticky first, then each free partition to the least loaded member
// subscribed to it, then moves from the most to the least loaded
// eligible member until no move narrows the gap.
func assignUniform(ms []assignMember, parts map[string]int32) map[string]tpSet {
	out := make(map[string]tpSet, len(ms))
	eligible := map[string][]int{} // topic -> member indexes
	total := 0
	for i, m := range ms {
		out[m.id] = tpSet{}
		for _, t := range m.topics {
			if len(eligible[t]) == 0 {
				total += int(parts[t])
			}
			eligible[t] = append(eligible[t], i)
		}
	}
	if len(ms) == 0 {
		return out
	}
	quota := (total + len(ms) - 1) / len(ms)
	topicsSorted := make([]string, 0, len(eligible))
	for t := range eligible {
		topicsSorted = append(topicsSorted, t)
	}
	sort.Strings(topicsSorted)
	owner := map[model.TopicPartition]int{}
	subscribed := func(i int, t string) bool {
		for _, j := range eligible[t] {
			if j == i {
				return true
			}
		}
		return false
	}
	for i, m := range ms {
		for _, tp := range m.prev.sorted() {
			if len(out[m.id]) >= quota {
				break
			}
			if tp.Partition >= parts[tp.Topic] || !subscribed(i, tp.Topic) {
				continue
			}
			if _, taken := owner[tp]; taken {
				continue
			}
			owner[tp] = i
			out[m.id][tp] = struct{}{}
		}
	}
	for _, t := range topicsSorted {
		for p := int32(0); p < parts[t]; p++ {
			tp := model.TopicPartition{Topic: t, Partition: p}
			if _, ok := owner[tp]; ok {
				continue
			}
			best := -1
			for _, i := range eligible[t] {
				if best < 0 || len(out[ms[i].id]) < len(out[ms[best].id]) {
					best = i
				}
			}
			owner[tp] = best
			out[ms[best].id][tp] = struct{}{}
		}
	}
	// Balance: move a partition from a member to an eligible one holding
	// at least two fewer, until none can move (bounded by the partitions).
	for moves := 0; moves <= total; moves++ {
		moved := false
		for _, tp := range sortedOwners(owner) {
			from := owner[tp]
			for _, to := range eligible[tp.Topic] {
				if len(out[ms[from].id]) >= len(out[ms[to].id])+2 {
					delete(out[ms[from].id], tp)
					out[ms[to].id][tp] = struct{}{}
					owner[tp] = to
					moved = true
					break
				}
			}
		}
		if !moved {
			break
		}
	}
	return out
}

func sortedOwners(owner map[model.TopicPartition]int) []model.TopicPartition {
	s := make(tpSet, len(owner))
	for tp := range owner {
		s[tp] = struct{}{}
	}
	return s.sorted()
}
