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
	rack   string   // "": none
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
		am := assignMember{id: id, topics: m.subscribed(topics), prev: cg.target[id]}
		if m.rackID != nil {
			am.rack = *m.rackID
		}
		ms = append(ms, am)
	}
	local := rackMatcher(ms, topics)
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	parts := map[string]int32{}
	for t, meta := range topics {
		parts[t] = meta.Partitions
	}
	if name == "range" {
		cg.target = assignRange(ms, parts, local)
	} else {
		cg.target = assignUniform(ms, parts, local)
	}
	cg.assignmentEpoch = cg.epoch
}

// rackMatcher says whether a member's rack holds a replica of a
// partition; nil when no member sends a rack or no partition has racks
// (then assignment ignores racks, as Kafka's assignors do).
func rackMatcher(ms []assignMember, topics map[string]TopicMeta) func(m assignMember, tp model.TopicPartition) bool {
	any := false
	for _, m := range ms {
		any = any || m.rack != ""
	}
	if !any {
		return nil
	}
	for _, t := range topics {
		if len(t.Racks) > 0 {
			return func(m assignMember, tp model.TopicPartition) bool {
				t := topics[tp.Topic]
				if m.rack == "" || int(tp.Partition) >= len(t.Racks) {
					return false
				}
				for _, r := range t.Racks[tp.Partition] {
					if r == m.rack {
						return true
					}
				}
				return false
			}
		}
	}
	return nil
}

// assignRange gives each topic's partitions in contiguous ranges to the
// members subscribed to it, sorted by member id; the first
// partitions%members members get one more. With racks (local not nil),
// each member first takes, up to its count, partitions with a replica
// in its rack; the rest fill the counts in order.
func assignRange(ms []assignMember, parts map[string]int32, local func(assignMember, model.TopicPartition) bool) map[string]tpSet {
	out := make(map[string]tpSet, len(ms))
	subs := map[string][]string{}
	for _, m := range ms {
		out[m.id] = tpSet{}
		for _, t := range m.topics {
			subs[t] = append(subs[t], m.id)
		}
	}
	byID := map[string]assignMember{}
	for _, m := range ms {
		byID[m.id] = m
	}
	for t, ids := range subs {
		n := parts[t]
		per, extra := n/int32(len(ids)), n%int32(len(ids))
		if local != nil {
			quota := map[string]int32{}
			for i, id := range ids {
				quota[id] = per
				if int32(i) < extra {
					quota[id]++
				}
			}
			free := []int32{}
			for p := int32(0); p < n; p++ {
				tp := model.TopicPartition{Topic: t, Partition: p}
				placed := false
				for _, id := range ids {
					if quota[id] > 0 && local(byID[id], tp) {
						out[id][tp] = struct{}{}
						quota[id]--
						placed = true
						break
					}
				}
				if !placed {
					free = append(free, p)
				}
			}
			for _, id := range ids {
				for ; quota[id] > 0 && len(free) > 0; quota[id]-- {
					out[id][model.TopicPartition{Topic: t, Partition: free[0]}] = struct{}{}
					free = free[1:]
				}
			}
			continue
		}
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
//
// With racks (local not nil), a free partition goes to the least loaded
// member with a replica in its rack when that member is no more loaded
// than the least loaded of all; balancing moves prefer such a member.
func assignUniform(ms []assignMember, parts map[string]int32, local func(assignMember, model.TopicPartition) bool) map[string]tpSet {
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
			if local != nil && !local(ms[best], tp) {
				for _, i := range eligible[t] {
					if len(out[ms[i].id]) == len(out[ms[best].id]) && local(ms[i], tp) {
						best = i
						break
					}
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
			cands := eligible[tp.Topic]
			if local != nil {
				// Rack-local receivers first.
				var near, far []int
				for _, i := range cands {
					if local(ms[i], tp) {
						near = append(near, i)
					} else {
						far = append(far, i)
					}
				}
				cands = append(near, far...)
			}
			for _, to := range cands {
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
