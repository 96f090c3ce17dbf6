package kafka

// Tests of what Produce v10+ adds: KIP-951's leader hints on
// NOT_LEADER_OR_FOLLOWER, present from v10 and absent before.

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The harness' only broker is node 1; this server calls itself node 2, so
// it leads nothing and names node 1 as the leader.
func TestProduceLeaderHints(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NodeID = 2 })
	h.createTopic("r", 1, nil)
	c := h.dial()
	for _, v := range []int16{9, 10, 11, 12} {
		req := produceReq(1, validBatch(t))
		req.Version = v
		resp := c.roundTrip(req, int32(v)).(*kmsg.ProduceResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("v%d: %v, want NOT_LEADER_OR_FOLLOWER", v, kerr.ErrorForCode(p.ErrorCode))
		}
		if v < 10 {
			if p.CurrentLeader.LeaderID != -1 || len(resp.Brokers) != 0 {
				t.Fatalf("v%d carries leader hints: %+v %+v", v, p.CurrentLeader, resp.Brokers)
			}
			continue
		}
		if p.CurrentLeader.LeaderID != 1 || p.CurrentLeader.LeaderEpoch < 0 {
			t.Fatalf("v%d: current leader %+v, want node 1", v, p.CurrentLeader)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 || resp.Brokers[0].Host != "127.0.0.1" || resp.Brokers[0].Port <= 0 {
			t.Fatalf("v%d: node endpoints %+v, want node 1's listener", v, resp.Brokers)
		}
	}
}
