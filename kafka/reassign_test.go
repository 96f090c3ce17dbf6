package kafka

// Tests AlterPartitionReassignments v1 (KIP-860): with
// allow_replication_factor_change false a new replica count is refused
// with INVALID_REPLICATION_FACTOR before reaching the controller, and with
// it true (or at v0) the same request goes to the controller.

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAlterPartitionReassignmentsKeepsReplicationFactor(t *testing.T) {
	h := newHarness(t)
	h.createTopic("rf", 2, nil)
	c := h.dial()
	alter := func(version int16, allow bool, replicas []int32) int16 {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.Version, req.AllowReplicationFactorChange = version, allow
		req.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: "rf", Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{
			{Partition: 0, Replicas: replicas},
		}}}
		resp := c.roundTrip(req, 1).(*kmsg.AlterPartitionAssignmentsResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", version, resp)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := alter(1, false, []int32{1, 2}); code != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("RF 1 -> 2 not allowed: %v, want INVALID_REPLICATION_FACTOR", kerr.ErrorForCode(code))
	}
	// Allowed (v1 true, or v0): the controller sees it, and broker 2 does
	// not exist.
	for _, v := range []int16{0, 1} {
		if code := alter(v, true, []int32{1, 2}); code != kerr.InvalidReplicaAssignment.Code {
			t.Fatalf("v%d RF 1 -> 2 allowed: %v, want INVALID_REPLICA_ASSIGNMENT from the controller", v, kerr.ErrorForCode(code))
		}
	}
	// The same factor is fine either way.
	if code := alter(1, false, []int32{1}); code != 0 {
		t.Fatalf("RF kept: %v", kerr.ErrorForCode(code))
	}
}
