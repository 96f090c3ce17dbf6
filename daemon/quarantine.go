package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/ringtail/ringtail/model"
)

// Quarantined partitions (storage: a partition that could not be opened
// at startup is moved aside). Their log here is gone, so this broker must
// not lead them, nor count in their ISR, with an empty log: Kafka fences a
// restarted broker before it serves, Ringtail's keeps its registration. So
// they are held offline (KAFKA_STORAGE_ERROR) and reported to the
// controller as offline replicas, which moves leadership and the ISR to
// the other replicas in one entry. Once the image shows this broker out of
// both, the replica is cleared (Controller.ClearOfflineReplicas) and
// started anew: an empty follower that refetches from the leader and
// rejoins the ISR when caught up. A partition whose only in-sync copy was
// here stays offline, unless unclean.leader.election.enable (the topic's,
// else the broker's) accepts starting it empty, as Kafka would elect an
// out-of-sync replica.

// quarantineRetry is how often held partitions are looked at again
// without an image change.
const quarantineRetry = time.Second

type quarantine struct {
	n      *Node
	mu     sync.Mutex
	tps    map[model.TopicPartition]bool // held, not yet started anew
	warned map[model.TopicPartition]bool // the "stays offline" line logged
	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// startQuarantine holds the partitions storage quarantined at startup
// offline, queues their report and starts the loop that starts them anew.
// It runs before the first reconcile, which would otherwise create them
// empty.
func (n *Node) startQuarantine() {
	q := &n.quar
	var tps []model.TopicPartition
	for _, x := range n.store.Recovery().Quarantined {
		tps = append(tps, x.TP)
	}
	if len(tps) == 0 {
		return
	}
	q.n, q.tps, q.warned = n, map[model.TopicPartition]bool{}, map[model.TopicPartition]bool{}
	for _, tp := range tps {
		q.tps[tp] = true
	}
	n.store.HoldOffline(tps)
	n.offline.partitionsOffline(tps)
	q.kick = make(chan struct{}, 1)
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.done = make(chan struct{})
	go q.loop()
}

// poke makes the loop look again (an image changed).
func (q *quarantine) poke() {
	if q.kick == nil {
		return
	}
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *quarantine) stop() {
	if q.cancel == nil {
		return
	}
	q.cancel()
	<-q.done
	q.cancel = nil
}

func (q *quarantine) loop() {
	defer close(q.done)
	t := time.NewTicker(quarantineRetry)
	defer t.Stop()
	for {
		q.mu.Lock()
		left := len(q.tps)
		q.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-q.ctx.Done():
			return
		case <-q.kick:
		case <-t.C:
		}
		q.pass()
	}
}

// pass starts anew the held partitions the controller has moved off
// this broker (or that unclean election lets start empty).
func (q *quarantine) pass() {
	n := q.n
	im := n.ctrl.Image()
	q.mu.Lock()
	var tps []model.TopicPartition
	for tp := range q.tps {
		tps = append(tps, tp)
	}
	q.mu.Unlock()
	for _, tp := range tps {
		t := im.Topics[tp.Topic]
		if t == nil || int(tp.Partition) >= len(t.Partitions) || !contains(t.Partitions[tp.Partition].Replicas, n.cfg.NodeID) {
			q.forget(tp) // deleted or moved away: reconcile releases the hold
			continue
		}
		if !im.TopicPartitionOffline(n.cfg.NodeID, tp) {
			continue // the report is not committed yet
		}
		p := t.Partitions[tp.Partition]
		movedOff := p.Leader != n.cfg.NodeID && !contains(p.ISR, n.cfg.NodeID)
		if !movedOff && !im.UncleanAllowed(t) {
			q.mu.Lock()
			warn := !q.warned[tp]
			q.warned[tp] = true
			q.mu.Unlock()
			if warn {
				n.log.Error("quarantined partition stays offline: this broker held its only in-sync copy; restore its files from the quarantine dir and restart, "+
					"or set unclean.leader.election.enable=true on the topic to start it empty (its records are lost)",
					"partition", tp.String(), "leader", p.Leader, "isr", p.ISR)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(q.ctx, 10*time.Second)
		err := n.ctrl.ClearOfflineReplicas(ctx, []model.TopicPartition{tp})
		cancel()
		if err != nil {
			n.log.Warn("cannot clear a quarantined replica's offline mark; retrying", "partition", tp.String(), "err", err)
			continue
		}
		n.store.Release(tp)
		q.forget(tp)
		n.log.Info("quarantined partition started anew, empty", "partition", tp.String(), "leader", p.Leader, "isr", p.ISR,
			"as", map[bool]string{true: "a follower refetching from the leader", false: "leader (unclean.leader.election.enable)"}[movedOff])
		n.rec.again.Store(true)
		select {
		case n.rec.kick <- struct{}{}: // reconcile creates the log
		default:
		}
	}
}

func (q *quarantine) forget(tp model.TopicPartition) {
	q.mu.Lock()
	delete(q.tps, tp)
	q.mu.Unlock()
}
