package daemon

import (
	"testing"

	"github.com/ringtail/ringtail/config"
)

// TestOffsetsTopicBrokers: a new cluster creates __consumer_offsets once
// as many brokers as it expects have registered. A lone node expects
// itself, even with the default replication factor of 3 (capped at the
// live brokers), so its groups do not wait; combined nodes expect every
// voter; broker-only nodes, which cannot count the cluster, expect the
// replication factor.
func TestOffsetsTopicBrokers(t *testing.T) {
	voters := func(ids ...int32) []config.Voter {
		var vs []config.Voter
		for _, id := range ids {
			vs = append(vs, config.Voter{ID: id, Host: "127.0.0.1", Port: 9093})
		}
		return vs
	}
	for _, tc := range []struct {
		name   string
		roles  []string
		voters []config.Voter
		rf     int16
		want   int
	}{
		{"lone combined node, default rf", []string{"broker", "controller"}, voters(1), 3, 1},
		{"three combined nodes", []string{"broker", "controller"}, voters(1, 2, 3), 3, 3},
		{"three combined nodes, rf 1", []string{"broker", "controller"}, voters(1, 2, 3), 1, 3},
		{"five combined nodes", []string{"broker", "controller"}, voters(1, 2, 3, 4, 5), 3, 5},
		{"broker-only node", []string{"broker"}, voters(1, 2, 3), 3, 3},
		{"broker-only node, rf 2", []string{"broker"}, voters(1, 2, 3), 2, 2},
	} {
		n := &Node{cfg: &config.Config{ProcessRoles: tc.roles, ControllerQuorumVoters: tc.voters, OffsetsTopicReplicationFactor: tc.rf}}
		if got := n.offsetsTopicBrokers(); got != tc.want {
			t.Errorf("%s: offsetsTopicBrokers() = %d, want %d", tc.name, got, tc.want)
		}
	}
}
