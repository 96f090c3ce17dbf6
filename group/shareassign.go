package group

// The share-group assignor, Kafka's "simple" assignor for share groups
// (KIP-932): every partition of a subscribed topic is assigned, and the
// partitions of each topic are spread evenly over the members subscribed
// to it:
//
//   - members <= partitions: each partition has one member; each member
//     gets floor or ceil(partitions/members) of them.
//   - members > partitions: each member gets one partition; each
//     partition is shared by floor or ceil(members/partitions) members.
//
// It is sticky: a member keeps what it had in the previous target as far
// as these counts allow, so that a join or a leave moves few partitions
// (the share-partition side keeps each partition's in-flight records, so
// a move costs the member its place in the partition's fetch session,
// not records).

import (
	"sort"

	"github.com/ringtail/ringtail/model"
)

// shareAssign computes the target assignment of members over topics;
// prev is the previous target (for stickiness).
func shareAssign(members map[string]*smember, prev map[string]tpSet, topics map[string]TopicMeta) map[string]tpSet {
	out := make(map[string]tpSet, len(members))
	subs := map[string][]string{} // topic -> subscribed member ids, sorted
	for _, id := range sortedKeys(members) {
		out[id] = tpSet{}
		for _, t := range members[id].topics {
			if tm, ok := topics[t]; ok && tm.Partitions > 0 {
				subs[t] = append(subs[t], id)
			}
		}
	}
	for _, t := range sortedKeys(subs) {
		assignShareTopic(t, topics[t].Partitions, subs[t], prev, out)
	}
	return out
}

// assignShareTopic assigns topic t's parts partitions over ids (sorted).
func assignShareTopic(t string, parts int32, ids []string, prev map[string]tpSet, out map[string]tpSet) {
	nm, np := len(ids), int(parts)
	// want: partitions per member; need: members per partition.
	want := make(map[string]int, nm)
	need := make([]int, np)
	holders := make([][]string, np) // previous holders, in ids order
	held := make(map[string][]int32, nm)
	for _, id := range ids {
		for p := int32(0); p < parts; p++ {
			if _, ok := prev[id][model.TopicPartition{Topic: t, Partition: p}]; ok {
				holders[p] = append(holders[p], id)
				held[id] = append(held[id], p)
			}
		}
	}
	if nm <= np {
		// Members that held more keep the extra partition.
		order := append([]string(nil), ids...)
		sort.SliceStable(order, func(i, j int) bool { return len(held[order[i]]) > len(held[order[j]]) })
		for i, id := range order {
			want[id] = np / nm
			if i < np%nm {
				want[id]++
			}
		}
		for p := range need {
			need[p] = 1
		}
	} else {
		for _, id := range ids {
			want[id] = 1
		}
		order := make([]int, np)
		for p := range order {
			order[p] = p
		}
		sort.SliceStable(order, func(i, j int) bool { return len(holders[order[i]]) > len(holders[order[j]]) })
		for i, p := range order {
			need[p] = nm / np
			if i < nm%np {
				need[p]++
			}
		}
	}
	got := make(map[string]int, nm)
	have := make([]int, np)
	give := func(id string, p int) {
		out[id][model.TopicPartition{Topic: t, Partition: int32(p)}] = struct{}{}
		got[id]++
		have[p]++
	}
	// Keep what the previous target gave, within the counts.
	for _, id := range ids {
		for _, p := range held[id] {
			if got[id] < want[id] && have[p] < need[int(p)] {
				give(id, int(p))
			}
		}
	}
	// Fill: each partition short of members goes to the members short of
	// partitions, fewest first (ties: id order), never twice to one.
	for p := 0; p < np; p++ {
		for have[p] < need[p] {
			best := ""
			for _, id := range ids {
				if got[id] >= want[id] {
					continue
				}
				if _, dup := out[id][model.TopicPartition{Topic: t, Partition: int32(p)}]; dup {
					continue
				}
				if best == "" || got[id] < got[best] {
					best = id
				}
			}
			if best == "" {
				break // cannot happen: the counts add up
			}
			give(best, p)
		}
	}
}
