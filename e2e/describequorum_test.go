// This file proves that DescribeQuorum answers with every voter's
// progress whichever broker a client asks: clients send it to the
// controller that Metadata names, which on Ringtail is the answering
// broker itself, and a broker that does not lead the quorum forwards it
// to the leader, as Kafka's brokers forward it to the active controller.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func TestDescribeQuorumFromEveryBroker(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := testkit.StartCluster(t, 3, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ask := func(id int32) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Topics = []kmsg.DescribeQuorumRequestTopic{{Topic: "__cluster_metadata", Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}}}
		r, err := req.RequestWith(ctx, c.Node(id).Client())
		if err != nil {
			return nil, err
		}
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			t.Fatalf("node %d: answer %+v", id, r)
		}
		p := r.Topics[0].Partitions[0]
		return &p, kerr.ErrorForCode(p.ErrorCode)
	}
	for id := int32(1); id <= 3; id++ {
		var last *kmsg.DescribeQuorumResponseTopicPartition
		testkit.WaitFor(t, 20*time.Second, "every voter's progress from a DescribeQuorum sent to node "+itoa(int(id)), func() bool {
			p, err := ask(id)
			if err != nil || p.LeaderID < 1 || len(p.CurrentVoters) != 3 {
				return false
			}
			last = p
			for _, v := range p.CurrentVoters {
				if v.LogEndOffset < 0 {
					return false
				}
			}
			return true
		})
		t.Logf("node %d: leader %d, voters %+v", id, last.LeaderID, last.CurrentVoters)
	}
}
