// Transcript tests of the leader state machine: each step is one input
// with the time passed in, and the effects it must return, rendered as one
// line ("hw=5 propose=[1 2] done=7:ok"). The clock is a plain int64.
package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/model"
)

func render(e Effects) string {
	var parts []string
	if e.HWChanged {
		parts = append(parts, fmt.Sprintf("hw=%d", e.HighWatermark))
	}
	if e.ProposeISR != nil {
		parts = append(parts, fmt.Sprintf("propose=%v", e.ProposeISR.ISR))
	}
	for _, c := range e.Completions {
		s := "ok"
		switch {
		case c.Err == nil:
		case errors.Is(c.Err, model.ErrNotEnoughReplicasAfterAppend):
			s = "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
		case errors.Is(c.Err, context.DeadlineExceeded):
			s = "TIMED_OUT"
		default:
			s = c.Err.Error()
		}
		parts = append(parts, fmt.Sprintf("done=%d:%s", c.ID, s))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// step is one transcript line.
type step struct {
	in   string // what happens, for the failure message
	do   func(l *Leader) Effects
	want string
}

func fetch(id model.NodeID, off model.Offset, now int64) step {
	return step{fmt.Sprintf("t=%d fetch from %d at %d", now, id, off), func(l *Leader) Effects { return l.FollowerFetch(id, off, now) }, ""}
}

func appended(end model.Offset, now int64) step {
	return step{fmt.Sprintf("t=%d leader end %d", now, end), func(l *Leader) Effects { return l.LeaderAppended(end, now) }, ""}
}

func wait(id uint64, last model.Offset, deadline int64) step {
	return step{fmt.Sprintf("waiter %d for offset %d", id, last), func(l *Leader) Effects { return l.AddWaiter(id, last, deadline) }, ""}
}

func tick(now int64) step {
	return step{fmt.Sprintf("t=%d tick", now), func(l *Leader) Effects { return l.Tick(now) }, ""}
}

func commit(isr []model.NodeID, pe int32, now int64) step {
	return step{fmt.Sprintf("t=%d ISR committed %v", now, isr), func(l *Leader) Effects { return l.ISRCommitted(isr, pe, now) }, ""}
}

func (s step) is(want string) step { s.want = want; return s }

func run(t *testing.T, l *Leader, steps []step) {
	t.Helper()
	for i, s := range steps {
		if got := render(s.do(l)); got != s.want {
			t.Fatalf("step %d (%s): got %q, want %q", i, s.in, got, s.want)
		}
	}
}

func newTestLeader(minISR int, isr ...model.NodeID) *Leader {
	return NewLeader(LeaderConfig{MinInsyncReplicas: minISR}, LeaderState{
		Self: 1, LeaderEpoch: 3, PartitionEpoch: 7, Replicas: []model.NodeID{1, 2, 3}, ISR: isr,
	}, 0)
}

func TestLeaderHWFollowsISRAndNeverGoesBack(t *testing.T) {
	l := newTestLeader(2, 1, 2, 3)
	run(t, l, []step{
		appended(10, 100).is("-"), // no follower heard from yet
		fetch(2, 10, 200).is("-"), // 3 still unknown
		fetch(3, 4, 300).is("hw=4"),
		fetch(3, 10, 400).is("hw=10"),
		// A follower's fetch offset below what it had (a restart that
		// lost its tail) must not pull the HW back.
		fetch(2, 6, 500).is("-"),
		appended(12, 600).is("-"),
		fetch(2, 12, 700).is("-"),
		fetch(3, 12, 800).is("hw=12"),
		// A divergent follower asking past the leader's end changes nothing.
		appended(14, 900).is("-"),
		fetch(2, 14, 950).is("-"),
		fetch(3, 20, 1000).is("-"),
	})
	if l.HighWatermark() != 12 {
		t.Fatalf("HW %d", l.HighWatermark())
	}
}

func TestLeaderISRShrinkOnLagAndExpandOnCatchUp(t *testing.T) {
	l := newTestLeader(2, 1, 2, 3)
	run(t, l, []step{
		appended(10, 0).is("-"),
		fetch(2, 10, 1_000).is("-"),
		fetch(3, 10, 1_000).is("hw=10"),
		appended(20, 2_000).is("-"),
		fetch(2, 20, 2_500).is("-"),
		// 3 keeps fetching but never reaches the end: after 30 s of not
		// being caught up it is proposed out.
		fetch(3, 12, 10_000).is("hw=12"),
		fetch(3, 14, 20_000).is("hw=14"),
		tick(30_000).is("-"),
		tick(31_001).is("propose=[1 2]"),
		tick(40_000).is("-"), // one proposal in flight at a time
		// Until the controller commits, 3 still holds the HW back.
		appended(22, 40_500).is("-"),
		fetch(2, 22, 41_000).is("-"),
		commit([]model.NodeID{1, 2}, 8, 42_000).is("hw=22"),
		// 3 catches up to the HW: proposed back in.
		fetch(3, 21, 43_000).is("-"),
		fetch(3, 22, 44_000).is("propose=[1 2 3]"),
		// The pending addition counts for the HW at once.
		appended(30, 45_000).is("-"),
		fetch(2, 30, 45_500).is("-"),
		fetch(3, 25, 46_000).is("hw=25"),
		commit([]model.NodeID{1, 2, 3}, 9, 47_000).is("-"),
	})
	if p := l.Pending(); p != nil {
		t.Fatalf("pending proposal %+v after commit", p)
	}
}

func TestLeaderFollowerKeepingUpStaysInISR(t *testing.T) {
	// A follower that always reaches the leader end seen at its previous
	// fetch is caught up, even though the leader keeps moving.
	l := newTestLeader(1, 1, 2)
	l.st.Replicas = []model.NodeID{1, 2}
	delete(l.replicas, 3)
	var steps []step
	for i := int64(1); i <= 20; i++ {
		steps = append(steps, appended(model.Offset(i*10), i*5_000).is("-"))
		steps = append(steps, fetch(2, model.Offset((i-1)*10), i*5_000+1).is(fmt.Sprintf("hw=%d", (i-1)*10)))
		steps = append(steps, tick(i*5_000+2).is("-"))
	}
	steps[1].want = "-" // offset 0: nothing to advance
	run(t, l, steps)
}

func TestLeaderAcksAll(t *testing.T) {
	t.Run("completes when the HW passes", func(t *testing.T) {
		l := newTestLeader(2, 1, 2, 3)
		if err := l.CheckAppend(); err != nil {
			t.Fatal(err)
		}
		run(t, l, []step{
			appended(5, 0).is("-"),
			wait(1, 4, 0).is("-"),
			appended(9, 1).is("-"),
			wait(2, 8, 0).is("-"),
			fetch(2, 9, 2).is("-"),
			fetch(3, 5, 3).is("hw=5 done=1:ok"),
			fetch(3, 9, 4).is("hw=9 done=2:ok"),
			wait(3, 8, 0).is("done=3:ok"), // already replicated (a retry)
		})
	})
	t.Run("refused before append below min.insync.replicas", func(t *testing.T) {
		l := newTestLeader(2, 1)
		if err := l.CheckAppend(); !errors.Is(err, model.ErrNotEnoughReplicas) {
			t.Fatalf("CheckAppend with ISR [1], min 2: %v", err)
		}
		if err := newTestLeader(1, 1).CheckAppend(); err != nil {
			t.Fatalf("CheckAppend with ISR [1], min 1: %v", err)
		}
	})
	t.Run("fails after append when the ISR shrinks", func(t *testing.T) {
		l := newTestLeader(2, 1, 2)
		run(t, l, []step{
			appended(5, 0).is("-"),
			wait(1, 4, 0).is("-"),
			wait(2, 4, 0).is("-"),
			tick(30_001).is("propose=[1]"),
			commit([]model.NodeID{1}, 8, 30_002).is("hw=5 done=1:NOT_ENOUGH_REPLICAS_AFTER_APPEND done=2:NOT_ENOUGH_REPLICAS_AFTER_APPEND"),
		})
	})
	t.Run("times out", func(t *testing.T) {
		l := newTestLeader(2, 1, 2)
		run(t, l, []step{
			appended(5, 0).is("-"),
			wait(1, 4, 1_000).is("-"),
			tick(999).is("-"),
			tick(1_000).is("done=1:TIMED_OUT"),
		})
	})
}

func TestPartitionedLeaderCannotAdvanceHW(t *testing.T) {
	// Followers stop fetching and the controller never commits the
	// shrink (the leader cannot reach it): the HW stays, acks=all waits.
	l := newTestLeader(2, 1, 2, 3)
	steps := []step{
		appended(10, 0).is("-"),
		fetch(2, 10, 100).is("-"),
		fetch(3, 10, 100).is("hw=10"),
		appended(15, 200).is("-"),
		wait(1, 14, 0).is("-"),
		tick(30_201).is("propose=[1]"),
	}
	for now := int64(31_000); now < 300_000; now += 7_000 {
		steps = append(steps, tick(now).is("-"), appended(model.Offset(15+now/7_000), now).is("-"))
	}
	run(t, l, steps)
	if l.HighWatermark() != 10 {
		t.Fatalf("partitioned leader moved the HW to %d", l.HighWatermark())
	}
	// The controller refused (another leader was elected): nothing acked.
	l.ProposalFailed()
	if err := l.CheckAppend(); err != nil {
		t.Fatalf("committed ISR is still [1 2 3]: %v", err)
	}
}
