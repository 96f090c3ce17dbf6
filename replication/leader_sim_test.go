package replication

// Regression tests for two bugs the deterministic simulation (package sim)
// found: an ISR expansion whose outcome is unknown, and an image change
// that says nothing of the pending proposal, both let the high watermark
// pass a follower that the expansion could still add to the ISR; once it
// committed, an acknowledged record was missing on an ISR member (which
// could then be elected leader and lose it).

import (
	"testing"

	"github.com/ringtail/ringtail/model"
)

func unknown(now int64) step {
	return step{"proposal outcome unknown", func(l *Leader) Effects { l.ProposalUnknown(); return Effects{} }, ""}
}

// sim seed 243: an image change at the same partition epoch (another
// partition's entry) does not forget the proposal in flight.
func TestLeaderPendingExpansionSurvivesUnrelatedImageChange(t *testing.T) {
	l := newTestLeader(2, 1, 2)
	run(t, l, []step{
		appended(10, 0).is("-"),
		fetch(2, 10, 100).is("hw=10"),
		fetch(3, 10, 200).is("propose=[1 2 3]"),
		appended(12, 300).is("-"),
		fetch(2, 12, 400).is("-"), // 3 is at 10: the HW waits for it
		// The image changed elsewhere: same ISR, same partition epoch.
		commit([]model.NodeID{1, 2}, 7, 500).is("-"),
		fetch(2, 12, 600).is("-"),
		// The expansion commits: 3 is in the ISR and holds the records
		// below the HW.
		commit([]model.NodeID{1, 2, 3}, 8, 700).is("-"),
		fetch(3, 12, 800).is("hw=12"),
	})
}

// sim seed 187: an expansion that timed out may still commit; the HW waits
// for what it added until a newer ISR is committed, and Tick proposes it
// again to settle the question.
func TestLeaderUnknownExpansionStillCounts(t *testing.T) {
	l := newTestLeader(2, 1, 2)
	run(t, l, []step{
		appended(10, 0).is("-"),
		fetch(2, 10, 100).is("hw=10"),
		fetch(3, 10, 200).is("propose=[1 2 3]"),
		unknown(300).is("-"),
		appended(12, 400).is("-"),
		fetch(2, 12, 500).is("-"), // not past 3's end
		tick(600).is("propose=[1 2 3]"),
		unknown(700).is("-"),
		// The controller says the ISR at epoch 8 is [1 2]: the
		// expansion did not commit, and the HW moves on without 3.
		commit([]model.NodeID{1, 2}, 8, 800).is("hw=12"),
	})
	if l.Uncertain() != nil {
		t.Fatalf("uncertain %v after a newer ISR", l.Uncertain())
	}
}
