package controlplane

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ringtail/ringtail/model"
)

// A reassignment adds the new replicas, completes only once they are in
// the ISR (dropping the leaving ones and moving leadership off them), and
// can be cancelled back to the original replicas.
func TestPartitionReassignment(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.addLearner(4)
	tc.until("all registered", tc.allRegistered)
	c := tc.nodes[lead]
	if err := tc.createTopic(lead, "t", 2); err != nil {
		t.Fatal(err)
	}
	p := c.Image().Topics["t"].Partitions[0]
	var newcomer int32
	for id := int32(1); id <= 4; id++ {
		if !slices.Contains(p.Replicas, id) {
			newcomer = id
			break
		}
	}
	leaving := p.Leader
	stay := p.Replicas[0]
	if stay == leaving {
		stay = p.Replicas[1]
	}
	target := []int32{newcomer, stay}
	var errs []error
	tc.do(func() {
		errs = tc.nodes[4].AlterPartitionReassignments(context.Background(), []Reassign{
			{Topic: "t", Partition: 0, Replicas: target},
			{Topic: "t", Partition: 0 + 7, Replicas: target},
			{Topic: "t", Partition: 1, Replicas: []int32{1, 1}},
		})
	})
	if errs[0] != nil || !errors.Is(errs[1], model.ErrUnknownTopicOrPartition) || !errors.Is(errs[2], model.ErrInvalidReplicaAssignment) {
		t.Fatalf("errors %v", errs)
	}
	tc.stabilize()
	mid := c.Image().Topics["t"].Partitions[0]
	if !slices.Equal(mid.Replicas, []int32{newcomer, stay, leaving}) || !slices.Equal(mid.AddingReplicas, []int32{newcomer}) ||
		!slices.Equal(mid.RemovingReplicas, []int32{leaving}) || mid.LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("in progress: %+v", mid)
	}
	if l := c.ListPartitionReassignments(nil); len(l) != 1 || l[0].Partition != 0 {
		t.Fatalf("list: %+v", l)
	}
	if recs := planReassignments(c.Image()); len(recs) != 0 {
		t.Fatalf("completed before the new replica is in the ISR: %+v", recs[0].Partition)
	}
	// The leader adds the caught-up newcomer to the ISR.
	tc.do(func() {
		_, err := c.AlterPartition(context.Background(), "t", 0, mid.Leader, mid.LeaderEpoch, mid.PartitionEpoch, append(slices.Clone(mid.ISR), newcomer))
		if err != nil {
			t.Error(err)
		}
	})
	recs := planReassignments(c.Image())
	if len(recs) != 1 {
		t.Fatalf("%d completion records", len(recs))
	}
	tc.do(func() {
		if err := c.commitAnywhere(context.Background(), recs); err != nil {
			t.Error(err)
		}
	})
	done := c.Image().Topics["t"].Partitions[0]
	if !slices.Equal(done.Replicas, target) || done.Reassigning() || slices.Contains(done.ISR, leaving) || done.Leader == leaving || !slices.Contains(target, done.Leader) {
		t.Fatalf("completed: %+v", done)
	}
	// Cancel: partition 1 goes back to where it was.
	p1 := c.Image().Topics["t"].Partitions[1]
	var other int32
	for id := int32(1); id <= 4; id++ {
		if !slices.Contains(p1.Replicas, id) {
			other = id
		}
	}
	tc.do(func() {
		errs = c.AlterPartitionReassignments(context.Background(), []Reassign{{Topic: "t", Partition: 1, Replicas: []int32{other}}})
	})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	tc.do(func() {
		errs = c.AlterPartitionReassignments(context.Background(), []Reassign{{Topic: "t", Partition: 1}, {Topic: "t", Partition: 0}})
	})
	if errs[0] != nil || !errors.Is(errs[1], ErrNoReassignmentInProgress) {
		t.Fatalf("cancel: %v", errs)
	}
	back := c.Image().Topics["t"].Partitions[1]
	if !slices.Equal(back.Replicas, p1.Replicas) || back.Reassigning() || back.Leader != p1.Leader {
		t.Fatalf("after cancel: %+v, was %+v", back, p1)
	}
	tc.stabilize()
	tc.sameImages()
}
