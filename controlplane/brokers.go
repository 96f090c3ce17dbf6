package controlplane

import (
	"context"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
)

// Broker lifecycle: registration, heartbeats and fencing.
//
// Every node runs heartbeatLoop: every HeartbeatInterval (and whenever the
// image changes) it checks that the image holds this node as a registered,
// unfenced broker with its current endpoints, and if not it proposes a
// RegisterBrokerRecord with a new broker epoch. The proposal goes to the
// active controller through raft (a follower forwards it), so it is retried
// until the quorum has a leader. A fenced node that is alive again is thus
// unfenced on its next heartbeat.
//
// Liveness is what the active controller sees of each node on the raft
// transport: raft's own heartbeats (every Tick) are answered by every live
// voter, and the controller loop samples raft's per-peer RecentActive flag on
// every tick into lastContact. While every broker is a voter that is the
// broker heartbeat, and it is the same when brokers become raft learners
// (the leader heartbeats learners too). fenceLoop, on the active controller
// only, proposes a BrokerFencingRecord for each unfenced broker it has not
// heard from for SessionTimeout. A new leader starts every voter's clock at
// its election, so a node is never fenced sooner than SessionTimeout after
// the leader could first have heard it.

// contactSince returns when the active controller last heard from node id;
// ok is false when this node is not the leader.
func (c *Controller) contactSince(id int32) (time.Time, bool) {
	c.live.Lock()
	defer c.live.Unlock()
	if !c.live.leader {
		return time.Time{}, false
	}
	t, ok := c.live.contact[id]
	return t, ok
}

// touchContact starts node id's session afresh at now (on the leader).
func (c *Controller) touchContact(id int32, now time.Time) {
	c.live.Lock()
	defer c.live.Unlock()
	if c.live.leader && c.live.contact != nil && c.live.contact[id].Before(now) {
		c.live.contact[id] = now
	}
}

// sampleContact runs on the controller loop after every tick.
func (c *Controller) sampleContact() {
	st := c.loop.rn.Status()
	now := c.cfg.Now()
	c.live.Lock()
	defer c.live.Unlock()
	if st.RaftState != raft.StateLeader {
		c.live.leader, c.live.match = false, nil
		return
	}
	if !c.live.leader || c.live.term != st.GetTerm() {
		// New leadership: everyone gets a full session from now.
		c.live.leader, c.live.term = true, st.GetTerm()
		c.live.contact, c.live.match = map[int32]time.Time{}, nil
		for id := range c.cfg.Voters {
			c.live.contact[id] = now
		}
		for id := range c.image.Load().Brokers {
			c.live.contact[id] = now // learners too
		}
	}
	c.live.contact[c.cfg.NodeID] = now
	if c.live.match == nil {
		c.live.match = make(map[int32]uint64, len(st.Progress))
	}
	for rid, pr := range st.Progress {
		if pr.RecentActive {
			c.live.contact[nodeID(rid)] = now
		}
		c.live.match[nodeID(rid)] = pr.Match
	}
}

// heartbeatLoop keeps this node registered and unfenced (see above).
func (c *Controller) heartbeatLoop() {
	defer c.wg.Done()
	for {
		ch := c.changedCh()
		if !c.registered(c.image.Load()) && c.leader.Load() >= 0 && !c.shuttingDown.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommandTimeout)
			err := c.register(ctx, true)
			cancel()
			if err != nil {
				c.cfg.Logger.Debug("broker registration", "err", err)
			} else {
				c.cfg.Logger.Info("registered as broker", "node_id", c.cfg.NodeID, "epoch", c.image.Load().Brokers[c.cfg.NodeID].Epoch)
			}
		}
		select {
		case <-c.stopc:
			return
		case <-ch:
		case <-time.After(c.cfg.HeartbeatInterval):
		}
	}
}

// fenceLoop fences brokers the active controller has not heard from.
func (c *Controller) fenceLoop() {
	defer c.wg.Done()
	period := max(c.cfg.SessionTimeout/9, 10*time.Millisecond)
	// registered holds each broker's epoch as last seen here: a broker
	// that registers anew (a restart) gets a full session from then, or
	// it could be fenced again before raft marks it active.
	registered := map[int32]int64{}
	for {
		select {
		case <-c.stopc:
			return
		case <-time.After(period):
		}
		if !c.leaderReady.Load() {
			continue
		}
		c.cmdMu.Lock()
		im := c.image.Load()
		now := c.cfg.Now()
		var recs []Record
		fencing := map[int32]bool{}
		for _, id := range im.BrokerIDs() {
			b := im.Brokers[id]
			if b.Fenced || id == c.cfg.NodeID {
				continue
			}
			if registered[id] != b.Epoch {
				registered[id] = b.Epoch
				c.touchContact(id, now)
				continue
			}
			since, ok := c.contactSince(id)
			if !ok || now.Sub(since) < c.cfg.SessionTimeout {
				continue
			}
			c.cfg.Logger.Warn("fencing broker: no heartbeat", "broker", id, "epoch", b.Epoch, "since", now.Sub(since).Round(time.Millisecond))
			recs = append(recs, Record{Type: RecBrokerFencing, BrokerFencing: &BrokerFencingRecord{BrokerID: id, BrokerEpoch: b.Epoch, Fenced: true}})
			fencing[id] = true
		}
		// Leadership moves off the brokers fenced now in the same entry,
		// and onto brokers that came back for leaderless partitions.
		moves := planLeadership(im, fencing, c.cfg.ElectLeader)
		for _, m := range moves {
			c.cfg.Logger.Info("partition leadership", "topic_id", m.Partition.TopicID, "partition", m.Partition.Partition,
				"leader", m.Partition.Leader, "leader_epoch", m.Partition.LeaderEpoch, "isr", m.Partition.ISR)
		}
		recs = append(recs, moves...)
		if len(recs) == 0 {
			// Reassignments complete in their own pass, on an image
			// without fencing or leadership moves pending.
			for _, r := range planReassignments(im) {
				c.cfg.Logger.Info("partition reassignment complete", "topic_id", r.Partition.TopicID, "partition", r.Partition.Partition,
					"replicas", r.Partition.Replicas, "leader", r.Partition.Leader, "isr", r.Partition.ISR)
				recs = append(recs, r)
			}
		}
		if len(recs) == 0 {
			c.cmdMu.Unlock()
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommandTimeout)
		err := c.commit(ctx, recs, false)
		c.cmdMu.Unlock()
		cancel()
		if err != nil {
			c.cfg.Logger.Debug("fencing brokers", "err", err)
		}
	}
}

// commitAnywhere commits recs from any voter: a follower's proposal goes to
// the leader through raft. It waits for a leader, and proposes again when
// the proposal was dropped for want of one (nothing was proposed then). The
// records must be safe to plan from this node's image, which may lag: the
// image rejects stale ones at apply.
func (c *Controller) commitAnywhere(ctx context.Context, recs []Record) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	for {
		if err := c.waitFor(ctx, func() bool {
			lead := c.leader.Load()
			return lead >= 0 && (lead != c.cfg.NodeID || c.leaderReady.Load())
		}); err != nil {
			return err
		}
		err := c.commit(ctx, recs, true)
		if !isNotController(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(c.cfg.Tick):
		}
	}
}

func isNotController(err error) bool {
	_, ok := err.(*NotControllerError)
	return ok
}

// Voters are the node ids of controller.quorum.voters, in order.
func (c *Controller) Voters() []int32 {
	ids := make([]int32, 0, len(c.cfg.Voters))
	for id := range c.cfg.Voters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
