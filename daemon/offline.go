package daemon

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/vfs"
)

// Offline log dirs (storage/offline.go): when a log dir goes offline,
// at start or while running, the node tells the controller which of its
// partition replicas are offline (Controller.ReportOfflineReplicas), so
// that leadership moves off this broker for them and it leaves their ISR,
// as a Kafka broker reports its offline dirs. The report is retried until
// it succeeds or the node stops. The partitions of a dir offline at start
// are not known from the dir: they are those the metadata assigns here
// that no online dir holds (reconcile holds them offline).

// reportRetry is the wait between failed reports.
const reportRetry = time.Second

// offlineDirs queues the partitions to report.
type offlineDirs struct {
	n       *Node
	mu      sync.Mutex
	pending map[model.TopicPartition]bool
	kick    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

// start runs the report loop.
func (o *offlineDirs) start(n *Node) {
	o.n = n
	o.pending = map[model.TopicPartition]bool{}
	o.kick = make(chan struct{}, 1)
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.done = make(chan struct{})
	go o.loop()
}

// stop ends the report loop and waits for it.
func (o *offlineDirs) stop() {
	if o.cancel == nil {
		return
	}
	o.cancel()
	<-o.done
	o.cancel = nil
}

// dirOffline is storage's OnOffline: it may run on a shard, so it only
// queues. parts is nil for a dir offline at start.
func (o *offlineDirs) dirOffline(dir string, err error, parts []model.TopicPartition) {
	o.partitionsOffline(parts)
	if o.n != nil && o.n.ready != nil {
		o.n.ready.changed() // requests waiting for these partitions look again
	}
}

// partitionsOffline queues parts for the report.
func (o *offlineDirs) partitionsOffline(parts []model.TopicPartition) {
	if len(parts) == 0 || o.kick == nil {
		return
	}
	o.mu.Lock()
	for _, tp := range parts {
		o.pending[tp] = true
	}
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *offlineDirs) loop() {
	defer close(o.done)
	for {
		select {
		case <-o.ctx.Done():
			return
		case <-o.kick:
		}
		o.n.refreshReplicas()
		for {
			o.mu.Lock()
			parts := make([]model.TopicPartition, 0, len(o.pending))
			for tp := range o.pending {
				parts = append(parts, tp)
			}
			o.mu.Unlock()
			if len(parts) == 0 {
				break
			}
			ctx, cancel := context.WithTimeout(o.ctx, 10*time.Second)
			err := o.n.ctrl.ReportOfflineReplicas(ctx, parts)
			cancel()
			if err == nil {
				o.n.log.Info("reported offline partition replicas to the controller", "partitions", len(parts))
				o.mu.Lock()
				for _, tp := range parts {
					delete(o.pending, tp)
				}
				o.mu.Unlock()
				continue
			}
			o.n.log.Warn("cannot report offline partition replicas to the controller; retrying", "partitions", len(parts), "err", err)
			t := time.NewTimer(reportRetry)
			select {
			case <-o.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// refreshReplicas re-applies the image to replication, which stops
// following and leading the replicas on offline log dirs.
func (n *Node) refreshReplicas() {
	n.reconcileMu.Lock()
	defer n.reconcileMu.Unlock()
	if n.repl != nil && n.ctrl != nil {
		n.repl.update(n.ctrl.Image())
	}
}

// reportHeldOffline logs the partitions the first reconcile held offline.
func (n *Node) reportHeldOffline() {
	if held := n.store.Held(); len(held) > 0 && n.store.AnyOffline() {
		n.log.Error("partitions assigned to this broker are in no online log dir while a log dir is offline: they are offline, not created empty",
			"partitions", len(held), "offline_partitions", fmt.Sprint(held))
	}
}

// assignedIn reports whether im assigns tp to node.
func assignedIn(im *controlplane.Image, tp model.TopicPartition, node int32) bool {
	t := im.Topics[tp.Topic]
	if t == nil || int(tp.Partition) >= len(t.Partitions) {
		return false
	}
	return contains(t.Partitions[tp.Partition].Replicas, node)
}

// checkLogDirMeta is the check of a log dir before it opens: the test
// fault hook, then its meta.properties, written when absent (Kafka's
// format writes one per log dir) and otherwise of the same cluster and
// node as the first dir's (first). The first dir was checked already.
func checkLogDirMeta(fsys vfs.FS, dir, firstDir string, first metaProperties) error {
	if err := vfs.TestFault(fsys, "open", dir); err != nil {
		return err
	}
	if dir == firstDir {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("daemon: log dir: %w", err)
	}
	m, _, err := loadOrFormat(dir, first.NodeID, first.ClusterID)
	if err != nil && m.ClusterID != "" && (m.ClusterID != first.ClusterID || m.NodeID != first.NodeID) {
		return fmt.Errorf("daemon: log dir %s belongs to cluster %s node %d, but %s (the first of log.dirs) to cluster %s node %d: "+
			"every log dir of a broker must be formatted for the same cluster and node", dir, m.ClusterID, m.NodeID, firstDir, first.ClusterID, first.NodeID)
	}
	return err
}
