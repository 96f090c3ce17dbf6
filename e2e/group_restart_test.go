// This file proves that committed offsets are durable: a group member
// commits part of a topic and stops; a restarted member resumes at exactly
// the committed offsets; the broker is SIGKILLed and restarted, still
// reports the same committed offsets, and a member resumes there again, so
// that across the three the topic is consumed exactly once.
package e2e

import (
	"testing"
	"time"

	"github.com/ringtail/ringtail/testkit"
)

func TestGroupOffsetsSurviveConsumerAndBrokerRestart(t *testing.T) {
	t.Parallel()
	n := startGroupNode(t)
	const (
		topic      = "resume"
		group      = "resumers"
		partitions = 3
		count      = 9000
	)
	n.CreateTopic(topic, partitions, nil)
	ack := produceN(t, spreadProducer(n), topic, "r", count)

	var all []consumedRec
	position := map[int32]int64{} // next offset per partition, from what was processed

	// session runs one member until it has processed share records (or
	// everything), checks it started at the committed offsets, and leaves.
	session := func(name string, share int) {
		t.Helper()
		m := startMemberLimit(t, n, group, topic, "range", name, share)
		testkit.WaitFor(t, 2*time.Minute, name+" to process its share", func() bool {
			return m.count() >= share || distinct(all, m.records()) >= count
		})
		m.leave()
		if errs := m.errors(); len(errs) > 0 {
			t.Fatalf("%s: %d errors, first: %v", name, len(errs), errs[0])
		}
		seen := map[int32]bool{}
		for _, r := range m.records() {
			if !seen[r.partition] {
				seen[r.partition] = true
				if r.offset != position[r.partition] {
					t.Fatalf("%s started partition %d at offset %d, but the group had committed %d", name, r.partition, r.offset, position[r.partition])
				}
			}
			position[r.partition] = r.offset + 1
		}
		all = append(all, m.records()...)
		t.Logf("%s processed %d records; positions %v", name, m.count(), position)
	}

	wantCommitted := func(when string) {
		t.Helper()
		got := committedOffsets(t, n.Admin(), group, topic)
		for p := int32(0); p < partitions; p++ {
			if got[p] != position[p] {
				t.Fatalf("%s: partition %d committed %d, want %d (the next offset after what was processed)", when, p, got[p], position[p])
			}
		}
	}

	session("first", count/4)
	wantCommitted("after the first consumer")
	session("restarted", count/4)
	wantCommitted("after the restarted consumer")

	n.Kill()
	n.Start()
	wantCommitted("after a SIGKILL and restart of the broker")
	session("after-broker-restart", count)
	if dups := checkGroupConsumption(t, ack, all, "", nil); dups != 0 {
		t.Fatalf("%d records consumed twice across the restarts", dups)
	}
	wantCommittedAtEnd(t, n, n.Admin(), group, topic, partitions)
}
