package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/kafka"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
	"github.com/ringtail/ringtail/txn"
)

// groupTickInterval is how often the group coordinator's timers are
// driven (session and rebalance timeouts, the initial rebalance delay,
// offset expiry); it bounds how late a timeout fires.
const groupTickInterval = 100 * time.Millisecond

// offsetsTopicWaitForBrokers bounds how long a new cluster waits for the
// brokers it expects (offsetsTopicBrokers) to register before it creates
// __consumer_offsets on the brokers it has.
const offsetsTopicWaitForBrokers = 10 * time.Second

// offsetsTopicBrokers is how many live brokers a new cluster waits for
// before creating __consumer_offsets, so that its partitions spread: on
// combined nodes every voter (they are the cluster, however small), on
// broker-only nodes offsets.topic.replication.factor.
func (n *Node) offsetsTopicBrokers() int {
	if n.cfg.HasRole("controller") {
		return max(len(n.cfg.ControllerQuorumVoters), 1)
	}
	return int(n.cfg.OffsetsTopicReplicationFactor)
}

// newCoordinator makes the group coordinator from the broker config.
func (n *Node) newCoordinator() *group.Coordinator {
	c := n.cfg
	gc := group.Config{
		NumPartitions:         c.OffsetsTopicNumPartitions,
		InitialRebalanceDelay: time.Duration(c.GroupInitialRebalanceDelayMs) * time.Millisecond,
		OffsetsRetention:      time.Duration(c.OffsetsRetentionMinutes) * time.Minute,
		Logger:                n.log,

		ConsumerSessionTimeout:    time.Duration(c.GroupConsumer.SessionTimeoutMs) * time.Millisecond,
		ConsumerHeartbeatInterval: time.Duration(c.GroupConsumer.HeartbeatIntervalMs) * time.Millisecond,
		ConsumerMaxSize:           int(c.GroupConsumer.MaxSize),
		ConsumerAssignors:         c.GroupConsumer.AssignorNames(),
		ConsumerMigrationPolicy:   migrationPolicy(c.GroupConsumerMigrationPolicy),
		Topics:                    n.groupTopics(),
	}
	n.shareCoordinatorConfig(&gc) // sharegroups.go
	return group.New(gc)
}

// groupTopics gives consumer groups the topics of the metadata image
// (ids and partition counts), rebuilt only when the image changes.
func (n *Node) groupTopics() func() map[string]group.TopicMeta {
	var mu sync.Mutex
	var last *controlplane.Image
	var topics map[string]group.TopicMeta
	return func() map[string]group.TopicMeta {
		im := n.ctrl.Image()
		mu.Lock()
		defer mu.Unlock()
		if im != last && im != nil {
			topics = make(map[string]group.TopicMeta, len(im.Topics))
			racked := false
			for _, b := range im.Brokers {
				racked = racked || b.Rack != ""
			}
			for name, t := range im.Topics {
				tm := group.TopicMeta{ID: t.ID, Partitions: int32(len(t.Partitions))}
				if racked {
					// Replica racks, for rack-aware assignment.
					tm.Racks = make([][]string, len(t.Partitions))
					for i, p := range t.Partitions {
						for _, r := range p.Replicas {
							if b := im.Brokers[r]; b != nil && b.Rack != "" {
								tm.Racks[i] = append(tm.Racks[i], b.Rack)
							}
						}
					}
				}
				topics[name] = tm
			}
			last = im
		}
		if topics == nil {
			return map[string]group.TopicMeta{}
		}
		return topics
	}
}

// ensureOffsetsTopic creates __consumer_offsets through the controller
// when it is missing: offsets.topic.num.partitions partitions,
// offsets.topic.replication.factor capped at the live brokers, compacted,
// with offsets.topic.segment.bytes segments.
func (n *Node) ensureOffsetsTopic() error {
	im := n.ctrl.Image()
	if t := im.Topics[group.OffsetsTopic]; t != nil {
		if int32(len(t.Partitions)) != n.cfg.OffsetsTopicNumPartitions {
			return fmt.Errorf("daemon: %s has %d partitions but offsets.topic.num.partitions is %d; the partition count of %s cannot change once created (set it back to %d)",
				group.OffsetsTopic, len(t.Partitions), n.cfg.OffsetsTopicNumPartitions, group.OffsetsTopic, len(t.Partitions))
		}
		return nil
	}
	live := 0
	for _, b := range im.Brokers {
		if !b.Fenced {
			live++
		}
	}
	rf := min(int(n.cfg.OffsetsTopicReplicationFactor), max(live, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := n.ctrl.CreateTopics(ctx, []controlplane.CreateTopic{{
		Name: group.OffsetsTopic, NumPartitions: n.cfg.OffsetsTopicNumPartitions, ReplicationFactor: int16(rf),
		Configs: map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    strconv.Itoa(int(n.cfg.OffsetsTopicSegmentBytes)),
			"compression.type": "producer",
		},
	}}, false)
	if err := res[0].Err; err != nil {
		return fmt.Errorf("daemon: creating %s: %w", group.OffsetsTopic, err)
	}
	n.log.Info("created internal topic", "topic", group.OffsetsTopic, "partitions", n.cfg.OffsetsTopicNumPartitions, "replication_factor", rf)
	return nil
}

// offsetsTopicLoop waits until __consumer_offsets exists; the active
// controller creates it once every voter has registered as a broker (so
// that its partitions spread over the cluster), or after
// offsetsTopicWaitForBrokers without them. False: stop was closed first.
func (n *Node) offsetsTopicLoop(stop <-chan struct{}) bool {
	start := time.Now()
	for {
		im := n.ctrl.Image()
		if im.Topics[group.OffsetsTopic] != nil {
			return true
		}
		// The live broker with the lowest id creates it (any broker's
		// CreateTopics reaches the active controller), once there are
		// enough brokers for its replication factor, or after a wait.
		live, lowest := 0, int32(-1)
		for _, id := range im.BrokerIDs() {
			if !im.Brokers[id].Fenced {
				live++
				if lowest < 0 {
					lowest = id
				}
			}
		}
		if lowest == n.cfg.NodeID && n.ctrl.Registered() {
			if live >= n.offsetsTopicBrokers() || time.Since(start) > offsetsTopicWaitForBrokers {
				if err := n.ensureOffsetsTopic(); err != nil && !errors.Is(err, model.ErrTopicAlreadyExists) {
					n.log.Warn("creating internal topic; will retry", "topic", group.OffsetsTopic, "err", err)
				}
			}
		}
		select {
		case <-stop:
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// localLogWait bounds how long loadGroups waits for reconciliation to
// create a led partition's local log: the image is published before its
// subscribers (reconcile) have run.
const localLogWait = 30 * time.Second

// localLog returns tp's local log, waiting for reconcile to create it.
func (n *Node) localLog(tp model.TopicPartition) (*storage.Partition, bool) {
	deadline := time.Now().Add(localLogWait)
	for {
		if part, ok := n.store.Partition(tp); ok {
			return part, true
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		select {
		case <-n.stopGC:
			return nil, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runGroups keeps the coordinator on the __consumer_offsets partitions
// this node leads until stop closes: first a start-up load of every led
// partition (logged, with STATUS progress), then, every
// groupLeadershipPoll, the changes as leadership moves (failover,
// controlled shutdown, elections, reassignment).
func (n *Node) runGroups(gc *group.Coordinator, stop <-chan struct{}) {
	loaded := map[int32]int32{} // partition -> leader epoch loaded at
	n.syncGroups(gc, loaded, true)
	for {
		select {
		case <-stop:
			return
		case <-time.After(groupLeadershipPoll):
		}
		n.syncGroups(gc, loaded, false)
	}
}

// groupLeadershipPoll is how often runGroups looks for leadership moves.
const groupLeadershipPoll = 200 * time.Millisecond

// syncGroups makes the coordinator own exactly the __consumer_offsets
// partitions this node leads: a partition gained, or led at a new leader
// epoch, is loaded from its log (requests for its groups answer
// COORDINATOR_LOAD_IN_PROGRESS meanwhile); one lost is unloaded, its
// members told NOT_COORDINATOR so that they find the new coordinator.
// At start-up it loads what the replayed image says this node leads,
// waiting for reconcile to create the logs, and logs its progress;
// afterwards it acts only once this node's registration is in the image
// (before that the image may predate leadership moves), and a log that
// reconcile has not created yet waits for the next round.
func (n *Node) syncGroups(gc *group.Coordinator, loaded map[int32]int32, startup bool) {
	want := map[int32]int32{}
	if startup || n.ctrl.Registered() {
		want = n.ledPartitions(n.ctrl.Image().Topics[group.OffsetsTopic])
	}
	gain := leadershipChanges(loaded, want, func(p int32) {
		gc.Unload(p)
		n.log.Info("consumer group partition moved away", "partition", p)
	})
	start, lastLog := time.Now(), time.Now()
	if startup {
		n.log.Info("loading consumer groups", "partitions", len(gain))
	}
	for i, p := range gain {
		tp := model.TopicPartition{Topic: group.OffsetsTopic, Partition: p}
		var part *storage.Partition
		var ok bool
		if startup {
			part, ok = n.localLog(tp)
		} else {
			part, ok = n.store.Partition(tp)
		}
		if !ok {
			if startup {
				n.log.Error("no local log for a led __consumer_offsets partition; its groups are not served", "partition", tp.String())
			}
			continue
		}
		gc.Unload(p) // a new leader epoch: reload from the log
		if err := gc.Load(p, coordinatorLog{partitionLog{Partition: part, r: n.repl, tp: tp}, model.Epoch(want[p])}, time.Now()); err != nil {
			n.log.Error("loading consumer groups failed; the partition's groups are not served", "partition", tp.String(), "err", err)
			continue
		}
		loaded[p] = want[p]
		if !startup {
			n.log.Info("consumer group partition loaded", "partition", p, "leader_epoch", want[p])
			continue
		}
		if time.Since(lastLog) >= time.Second {
			lastLog = time.Now()
			n.log.Info("loading consumer groups", "done", i+1, "total", len(gain))
		}
		status(fmt.Sprintf("loading consumer groups %d/%d", i+1, len(gain)))
	}
	if startup {
		groups, _ := gc.ListGroups(nil)
		n.log.Info("consumer groups loaded", "partitions", len(loaded), "groups", len(groups), "took", time.Since(start).Round(time.Millisecond))
		status("serving")
	}
}

// tickGroups drives the coordinator's timers until stop closes.
func (n *Node) tickGroups(gc *group.Coordinator, stop <-chan struct{}) {
	t := time.NewTicker(groupTickInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			gc.Tick(now)
		}
	}
}

// coordinatorLog is a __consumer_offsets or __transaction_state partition
// as its coordinator uses it (group.Log, txn.StateLog): appends go
// through replication and are answered once the in-sync replicas have
// them, so that a coordinator that fails over never forgets an
// acknowledged commit.
//
// Offsets answers the log end where the coordinator asks for the high
// watermark, and Read reads up to it: right after a leader change the new
// leader's log may hold records the old leader acknowledged (they were in
// the ISR) above its high watermark, which catches up only as followers
// fetch (or, with a dead follower, after replica.lag.time.max.ms).
// Replaying only to the high watermark would forget acknowledged state;
// the leader's log is what the partition will hold (a later leader change
// unloads and replays it again).
type coordinatorLog struct {
	l     partitionLog
	epoch model.Epoch
}

// coordinatorAppendTimeout bounds how long a coordinator's append waits
// for the in-sync replicas.
const coordinatorAppendTimeout = 30 * time.Second

func (c coordinatorLog) Append(records []byte, done func(error)) {
	c.l.Append(records, c.epoch, func(r kafka.AppendResult) {
		if r.Err != nil {
			done(r.Err)
			return
		}
		c.l.AwaitCommit(r.LastOffset, time.Now().Add(coordinatorAppendTimeout), done)
	})
}

func (c coordinatorLog) Offsets() (logStart, highWatermark model.Offset) {
	ls, _, end := c.l.Partition.Offsets()
	return ls, end
}

func (c coordinatorLog) Read(offset model.Offset, maxBytes int32) ([]byte, error) {
	r, err := c.l.Partition.ReadReplica(offset, maxBytes, true)
	return r.Records, err
}

var (
	_ group.Log    = coordinatorLog{}
	_ txn.StateLog = coordinatorLog{}
)

// migrationPolicy is group.consumer.migration.policy (validated by config).
func migrationPolicy(s string) group.MigrationPolicy {
	p, _ := group.ParseMigrationPolicy(s)
	return p
}
