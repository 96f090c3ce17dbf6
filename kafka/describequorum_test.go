package kafka

// Tests DescribeQuorum v1-v2 on the harness' one-voter quorum: the leader
// reports its own log end and contact time, v2 lists the voter's controller endpoint, and a
// partition other than __cluster_metadata-0 carries an error message.

import (
	"testing"
	"time"

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
		// The leader's progress is sampled on its ticks: ask again until
		// the first sample is there.
		var resp *kmsg.DescribeQuorumResponse
		for deadline, corr := time.Now().Add(10*time.Second), int32(v)*1000; ; corr++ {
			resp = c.roundTrip(req, corr).(*kmsg.DescribeQuorumResponse)
			ps := resp.Topics[0].Partitions
			if len(ps) == 0 || len(ps[0].CurrentVoters) == 0 || ps[0].CurrentVoters[0].LogEndOffset >= 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		ps := resp.Topics[0].Partitions
		if resp.ErrorCode != 0 || len(ps) != 2 || ps[0].ErrorCode != 0 || ps[0].LeaderID != 1 || len(ps[0].CurrentVoters) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		// This node leads the quorum: the voter (itself) holds the log up
		// to at least what it applied, heard from now and caught up.
		if vs := ps[0].CurrentVoters[0]; vs.ReplicaID != 1 || vs.LogEndOffset < ps[0].HighWatermark || ps[0].HighWatermark < 1 ||
			(v >= 1 && (vs.LastFetchTimestamp <= 0 || vs.LastCaughtUpTimestamp != vs.LastFetchTimestamp)) {
			t.Fatalf("v%d voter: %+v (high watermark %d)", v, vs, ps[0].HighWatermark)
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
