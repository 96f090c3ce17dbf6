package controlplane

// Brokers that are not voters follow the metadata log as raft learners:
// these tests run controller-only voters with learner brokers on the fake
// network, and a fake clock for fencing.

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestLearnersFollowTheLog(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) {
		c.SnapshotEntries = 4
		c.ControllerOnly = c.NodeID <= 3
	})
	for _, id := range tc.ids {
		tc.controllerOnly[id] = true
	}
	lead := tc.leader()
	tc.addLearner(4)
	tc.addLearner(5)
	tc.until("learners registered", tc.allRegistered)
	if got := tc.nodes[lead].Image().BrokerIDs(); !slices.Equal(got, []int32{4, 5}) {
		t.Fatalf("brokers %v, want [4 5]: controller-only voters must not register", got)
	}
	// A learner's commands are forwarded to the leader; placement uses
	// only the brokers.
	for i := range 6 {
		if err := tc.createTopic(4, fmt.Sprintf("t%d", i), 2); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range tc.nodes[lead].Image().Topics["t0"].Partitions {
		if !slices.Equal(slices.Sorted(slices.Values(p.Replicas)), []int32{4, 5}) {
			t.Fatalf("partition %d replicas %v, want brokers 4 and 5", p.Partition, p.Replicas)
		}
	}
	// A learner that joins after the log was compacted gets a snapshot
	// with itself in the raft configuration.
	tc.addLearner(6)
	tc.until("late learner caught up and registered", func() bool {
		return tc.allRegistered() && tc.nodes[6].Image().Topics["t5"] != nil
	})
	tc.stabilize()
	tc.sameImages()
	// Learners never lead: the leader goes, a voter takes over, and the
	// learners follow the new leader.
	term := tc.nodes[lead].Status().Term
	if term == 0 {
		t.Fatal("the leader reports term 0")
	}
	tc.stop(lead)
	var rest []int32
	for _, id := range tc.ids {
		if id != lead {
			rest = append(rest, id)
		}
	}
	next := tc.leader(rest...)
	if got := tc.nodes[next].Status().Term; got <= term {
		t.Fatalf("new leader's term %d, old %d: the quorum epoch must grow", got, term)
	}
	if err := tc.createTopic(5, "after", 3); err != nil {
		t.Fatal(err)
	}
	tc.until("learners applied the new leader's entry", func() bool {
		for _, id := range tc.learnerIDs {
			im := tc.nodes[id].Image()
			if im.Topics["after"] == nil || im.ControllerID != next {
				return false
			}
		}
		return true
	})
	for _, id := range tc.learnerIDs {
		if tc.nodes[id].Status().Ready {
			t.Fatalf("learner %d leads", id)
		}
	}
	// A restarted learner replays its own log and follows again.
	tc.stop(6)
	tc.start(6)
	if tc.nodes[6].Image().Topics["after"] == nil {
		t.Fatal("restarted learner lost applied entries")
	}
	tc.until("restarted learner hears the leader", func() bool { return tc.nodes[6].Status().LeaderID == next })
	if err := tc.createTopic(6, "afterrestart", 1); err != nil {
		t.Fatal(err)
	}
	tc.stabilize()
	tc.sameImages()
}

// A learner that goes silent is fenced by the active controller after the
// session timeout, measured on a fake clock that moves 10ms per tick; the
// voters, heard on every heartbeat, are not. Back, it registers again and
// is unfenced.
func TestSilentLearnerIsFenced(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	tc := newTestCluster(t, 3, func(c *Config) {
		c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		c.SessionTimeout = 90 * time.Millisecond
	})
	lead := tc.leader()
	tc.addLearner(4)
	tc.until("all registered", tc.allRegistered)
	step := func() { clock.Add(int64(10 * time.Millisecond)) }
	// Some time passes with everyone alive: nobody is fenced.
	for range 40 {
		step()
		tc.tick()
	}
	if !tc.allRegistered() {
		t.Fatalf("a live node was fenced: %+v", tc.nodes[lead].Image().Brokers)
	}
	epoch := tc.nodes[lead].Image().Brokers[4].Epoch
	tc.stop(4)
	tc.until("silent learner fenced", func() bool {
		step()
		b := tc.nodes[lead].Image().Brokers[4]
		return b != nil && b.Fenced && b.Epoch == epoch
	})
	for _, id := range tc.ids {
		if b := tc.nodes[lead].Image().Brokers[id]; b.Fenced {
			t.Fatalf("live voter %d fenced too", id)
		}
	}
	tc.start(4)
	tc.until("learner back and unfenced", func() bool {
		step()
		return tc.allRegistered()
	})
	if tc.nodes[lead].Image().Brokers[4].Epoch <= epoch {
		t.Fatal("the learner came back without a new broker epoch")
	}
	var err error
	tc.do(func() {
		res := tc.nodes[4].CreateTopics(context.Background(), []CreateTopic{{Name: "back", NumPartitions: 1, ReplicationFactor: 4}}, false)
		err = res[0].Err
	})
	if err != nil {
		t.Fatal(err)
	}
}
