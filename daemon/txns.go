package daemon

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/kafka"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/txn"
)

// The transaction coordinator's wiring: the coordinator owns the
// __transaction_state partitions this node leads, following leadership as
// the group coordinator does. The topic is created on the first
// FindCoordinator for a transactional id (kafka/txntopic.go), as in Kafka.

// newTxnManager makes the transaction coordinator; markers go through mw
// (set once the listeners exist).
func (n *Node) newTxnManager(mw txn.MarkerWriter) *txn.Manager {
	c := n.cfg
	return txn.NewManager(txn.ManagerConfig{
		NumPartitions: c.TransactionStateLogNumPartitions,
		MaxTimeoutMs:  c.TransactionMaxTimeoutMs,
		ExpirationMs:  int64(c.TransactionalIDExpirationMs),
		AllocateProducerID: func(ctx context.Context) (int64, error) {
			id, err := n.ctrl.AllocateProducerID(ctx)
			return int64(id), err
		},
		Markers: mw,
		Logger:  n.log,
	})
}

// lazyMarkers is a txn.MarkerWriter whose writer is set after the
// manager is made (the kafka server needs the manager first).
type lazyMarkers struct{ w *kafka.MarkerWriter }

func (l *lazyMarkers) WriteMarkers(ctx context.Context, m *txn.Markers, coordinatorEpoch int32) map[model.TopicPartition]error {
	if l.w == nil {
		out := map[model.TopicPartition]error{}
		for _, tp := range m.Partitions {
			out[tp] = fmt.Errorf("daemon: no listener to write markers through: %w", model.ErrNotLeader)
		}
		return out
	}
	return l.w.WriteMarkers(ctx, m, coordinatorEpoch)
}

// runTxns keeps the transaction coordinator on the __transaction_state
// partitions this node leads until stop closes, like runGroups.
func (n *Node) runTxns(m *txn.Manager, stop <-chan struct{}) {
	loaded := map[int32]int32{}
	for {
		// Readiness changes (a log made ready by reconcile) wake the loop
		// at once: a new coordinator partition loads without waiting
		// for the poll.
		ready := n.ready.wait()
		n.syncTxns(m, loaded)
		select {
		case <-stop:
			return
		case <-ready:
		case <-time.After(groupLeadershipPoll):
		}
	}
}

// syncTxns makes the coordinator own exactly the __transaction_state
// partitions this node leads, reloading one led at a new leader epoch
// (which is also the coordinator epoch of its markers).
func (n *Node) syncTxns(m *txn.Manager, loaded map[int32]int32) {
	t := n.ctrl.Image().Topics[txn.StateTopic]
	want := n.ledPartitions(t)
	gain := leadershipChanges(loaded, want, func(p int32) {
		m.Unload(p)
		n.log.Info("transaction state partition moved away", "partition", p)
	})
	lg := logs{m: n.store, r: n.repl, ready: n.ready}
	for _, p := range gain {
		tp := model.TopicPartition{Topic: txn.StateTopic, Partition: p}
		l, ok := lg.LeaderLog(t, t.Partitions[p])
		if !ok {
			continue // reconcile has not made it ready yet: next round
		}
		sl := coordinatorLog{l.(partitionLog), model.Epoch(want[p])}
		if err := m.Load(p, want[p], sl); err != nil {
			n.log.Error("loading transaction state failed; its transactional ids are not served", "partition", tp.String(), "err", err)
			continue
		}
		loaded[p] = want[p]
		n.log.Info("transaction state partition loaded", "partition", p, "coordinator_epoch", want[p])
	}
}

// tickTxns drives the coordinator's timers (transaction timeouts and id
// expiry) until stop closes.
func (n *Node) tickTxns(m *txn.Manager, stop <-chan struct{}) {
	every := time.Duration(n.cfg.TransactionAbortTimedOutCheckMs) * time.Millisecond
	t := time.NewTicker(min(every, time.Second))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			m.Tick(now)
		}
	}
}

// ledPartitions is partition -> leader epoch of the partitions of t (nil:
// none) this node leads.
func (n *Node) ledPartitions(t *controlplane.Topic) map[int32]int32 {
	want := map[int32]int32{}
	if t != nil {
		for _, p := range t.Partitions {
			if p.Leader == n.cfg.NodeID {
				want[p.Partition] = p.LeaderEpoch
			}
		}
	}
	return want
}

// leadershipChanges compares loaded (partition -> leader epoch loaded at)
// with want: each partition no longer led is dropped from loaded and
// passed to lost; the partitions gained or led at a new epoch are
// returned, sorted, for the caller to load.
func leadershipChanges(loaded, want map[int32]int32, lost func(p int32)) []int32 {
	for p := range loaded {
		if _, ok := want[p]; !ok {
			lost(p)
			delete(loaded, p)
		}
	}
	var gain []int32
	for p, epoch := range want {
		if e, ok := loaded[p]; !ok || e != epoch {
			gain = append(gain, p)
		}
	}
	slices.Sort(gain)
	return gain
}
