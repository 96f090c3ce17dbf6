package daemon

import (
	"time"

	"github.com/ringtail/ringtail/admin"
	"github.com/ringtail/ringtail/kafka"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/share"
)

// The share-partition side of share groups (KIP-932): one kafka.Shares
// for the node's listeners, whose share coordinator owns the
// __share_group_state partitions this node leads, following leadership
// as the transaction coordinator does. The topic is created on the first
// share fetch or FindCoordinator for a share coordinator (kafka/sharestate.go).

// newShares makes the node's share-partition side and its coordinator.
func (n *Node) newShares() *kafka.Shares {
	return kafka.NewShares(n.cfg.Share, share.NewCoordinator(n.cfg.Share.StateTopicNumPartitions, n.log))
}

// runShares keeps the share coordinator on the __share_group_state
// partitions this node leads until stop closes, like runTxns.
func (n *Node) runShares(sh *kafka.Shares, stop <-chan struct{}) {
	defer sh.Close()
	c := sh.Coordinator()
	loaded := map[int32]int32{}
	for {
		ready := n.ready.wait()
		n.syncShares(c, loaded)
		select {
		case <-stop:
			return
		case <-ready:
		case <-time.After(groupLeadershipPoll):
		}
	}
}

// syncShares makes the coordinator own exactly the __share_group_state
// partitions this node leads, reloading one led at a new leader epoch.
func (n *Node) syncShares(c *share.Coordinator, loaded map[int32]int32) {
	t := n.ctrl.Image().Topics[share.StateTopic]
	want := n.ledPartitions(t)
	gain := leadershipChanges(loaded, want, func(p int32) {
		c.Unload(p)
		n.log.Info("share state partition moved away", "partition", p)
	})
	lg := logs{m: n.store, r: n.repl, ready: n.ready}
	for _, p := range gain {
		l, ok := lg.LeaderLog(t, t.Partitions[p])
		if !ok {
			continue // reconcile has not made it ready yet: next round
		}
		sl := coordinatorLog{l.(partitionLog), model.Epoch(want[p])}
		if err := c.Load(p, want[p], sl); err != nil {
			tp := model.TopicPartition{Topic: share.StateTopic, Partition: p}
			n.log.Error("loading share state failed; its groups' share-partitions are not served", "partition", tp.String(), "err", err)
			continue
		}
		loaded[p] = want[p]
		n.log.Info("share state partition loaded", "partition", p, "leader_epoch", want[p])
	}
}

var _ share.StateLog = coordinatorLog{}

// ShareStats is the share-partition side's counts for /metrics.
func (s adminSource) ShareStats() admin.ShareStats {
	if !s.n.ops.ready.Load() {
		return admin.ShareStats{}
	}
	sh := s.n.shares
	if sh == nil {
		return admin.ShareStats{}
	}
	c := sh.Counters()
	return admin.ShareStats{
		Acquired: c.Acquired.Load(), Accepted: c.Accepted.Load(), Released: c.Released.Load(), Rejected: c.Rejected.Load(),
		Gaps: c.Gaps.Load(), Renewed: c.Renewed.Load(), Archived: c.Archived.Load(), LockExpiries: c.LockExpiries.Load(),
		Sessions: sh.Sessions(),
	}
}
