package kafka

// Tests DescribeQuorum v1-v2 on the harness' one-voter quorum: unknown
// timestamps are -1, v2 lists the voter's controller endpoint, and a
// partition other than __cluster_metadata-0 carries an error message.

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeQuorumVersions(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	for _, v := range []int16{0, 1, 2} {
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Version = v
		req.Topics = []kmsg.DescribeQuorumRequestTopic{
			{Topic: metadataTopic, Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}, {Partition: 1}}},
		}
		resp := c.roundTrip(req, int32(v)).(*kmsg.DescribeQuorumResponse)
		ps := resp.Topics[0].Partitions
		if resp.ErrorCode != 0 || len(ps) != 2 || ps[0].ErrorCode != 0 || ps[0].LeaderID != 1 || len(ps[0].CurrentVoters) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if vs := ps[0].CurrentVoters[0]; vs.ReplicaID != 1 || (v >= 1 && (vs.LastFetchTimestamp != -1 || vs.LastCaughtUpTimestamp != -1)) {
			t.Fatalf("v%d voter: %+v", v, vs)
		}
		if ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || (v >= 2) != (ps[1].ErrorMessage != nil) {
			t.Fatalf("v%d partition 1: %v %v", v, kerr.ErrorForCode(ps[1].ErrorCode), ps[1].ErrorMessage)
		}
		if v < 2 {
			continue
		}
		want := h.broker.ControllerQuorumVoters[0]
		if len(resp.Nodes) != 1 || resp.Nodes[0].NodeID != 1 || len(resp.Nodes[0].Listeners) != 1 {
			t.Fatalf("v2 nodes: %+v", resp.Nodes)
		}
		if l := resp.Nodes[0].Listeners[0]; l.Name != h.broker.ControllerListenerNames[0] || l.Host != want.Host || int(l.Port) != want.Port {
			t.Fatalf("v2 listener %+v, want %+v", l, want)
		}
	}
}
