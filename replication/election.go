package replication

import (
	"slices"

	"github.com/ringtail/ringtail/model"
)

// NoLeader is ElectLeader's answer when nobody may lead.
const NoLeader model.NodeID = -1

// ElectLeader picks a partition's new leader for the controller: the first
// replica, in replica order, that is in the ISR and live. When no ISR
// member is live and unclean is set (unclean.leader.election.enable), the
// first live replica, which may lose acknowledged records; unclean reports
// that. Otherwise NoLeader: the partition stays offline rather than lose
// data.
func ElectLeader(replicas, isr []model.NodeID, live func(model.NodeID) bool, uncleanAllowed bool) (leader model.NodeID, unclean bool) {
	for _, r := range replicas {
		if slices.Contains(isr, r) && live(r) {
			return r, false
		}
	}
	if uncleanAllowed {
		for _, r := range replicas {
			if live(r) {
				return r, true
			}
		}
	}
	return NoLeader, false
}
