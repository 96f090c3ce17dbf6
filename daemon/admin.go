package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringtail/ringtail/admin"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/kafka"
)

// FaultsEnv, set to 1 in the environment of `ringtail serve`, adds the
// test-only fault hooks to the admin server:
//
//	POST /debug/fault/stall-shard?shard=N    block shard N's goroutine
//	POST /debug/fault/unstall-shard?shard=N  let it go again
//
// A stalled shard stops the health check, and with it the systemd watchdog
// pings (e2e/ops_systemd_test.go). Nothing sets it outside the tests; the
// packaged unit does not.
const FaultsEnv = "RINGTAIL_TEST_FAULTS"

// adminCloseTimeout bounds how long shutdown waits for scrapes in flight.
const adminCloseTimeout = 5 * time.Second

// ops is the node's operational side: admin HTTP, metrics, watchdog.
type ops struct {
	admin   *admin.Server
	metrics *admin.Metrics
	// ready is set once Start has finished (every Node field is then
	// written) and cleared when Stop begins; scrapes read node state only
	// while it is set.
	ready atomic.Bool
	// wd is published once the shard runtime exists.
	wd atomic.Pointer[watchdog]

	stallMu sync.Mutex
	stalls  map[int]chan struct{} // shard -> closed to release it
}

// startAdmin opens the admin HTTP server (ringtail.admin_listen; ""
// disables it) before anything slow, so /v1/status/live answers during log
// recovery.
func (n *Node) startAdmin() error {
	if n.cfg.Ringtail.AdminListen == "" {
		return nil
	}
	n.ops.metrics = admin.NewMetrics(adminSource{n})
	n.ops.metrics.RegisterTelemetry(n.telemetrySource)
	srv, err := admin.Listen(admin.Config{
		Listen:  n.cfg.Ringtail.AdminListen,
		Metrics: n.ops.metrics,
		Live:    func() error { return n.ops.wd.Load().health() },
		Logger:  n.log,
	})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	n.ops.admin = srv
	if os.Getenv(FaultsEnv) == "1" {
		n.log.Warn("test-only fault hooks enabled on the admin server", "env", FaultsEnv)
		srv.Handle("POST /debug/fault/stall-shard", http.HandlerFunc(n.handleStallShard))
		srv.Handle("POST /debug/fault/unstall-shard", http.HandlerFunc(n.handleUnstallShard))
	}
	n.log.Info("admin server listening", "addr", srv.Addr().String())
	return nil
}

// observer is the kafka servers' request observer (nil without admin).
func (n *Node) observer() kafka.RequestObserver {
	if n.ops.metrics == nil {
		return nil
	}
	return n.ops.metrics
}

// setReady marks the node ready for /v1/status/ready and systemd's status.
func (n *Node) setReady() {
	n.ops.ready.Store(true)
	if n.ops.admin != nil {
		n.ops.admin.SetReady(true)
	}
	notify("STATUS=serving")
}

// unready clears readiness when shutdown begins.
func (n *Node) unready() {
	n.ops.ready.Store(false)
	if n.ops.admin != nil {
		n.ops.admin.SetReady(false)
	}
}

// stopOps stops the admin server (waiting for scrapes in flight, which read
// node state), the watchdog, and releases stalled shards, before the rest
// of the node closes.
func (n *Node) stopOps() {
	n.unready()
	if n.ops.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), adminCloseTimeout)
		_ = n.ops.admin.Close(ctx)
		cancel()
		n.ops.admin = nil
	}
	n.ops.wd.Load().close()
	n.ops.wd.Store(nil)
	n.ops.stallMu.Lock()
	for i, ch := range n.ops.stalls {
		close(ch)
		delete(n.ops.stalls, i)
	}
	n.ops.stallMu.Unlock()
}

// adminSource is what the metrics read at scrape time.
type adminSource struct{ n *Node }

func (s adminSource) Partitions() []admin.PartitionStats {
	n := s.n
	if !n.ops.ready.Load() || n.store == nil { // nil: a controller-only node
		return nil
	}
	im := n.ctrl.Image()
	var out []admin.PartitionStats
	for _, tp := range n.store.Partitions() {
		part, ok := n.store.Partition(tp)
		if !ok {
			continue
		}
		size, segs := part.Size()
		ps := admin.PartitionStats{Topic: tp.Topic, Partition: tp.Partition, SizeBytes: size, Segments: segs}
		if part.Compacted() {
			cs := part.CleanState()
			ps.Compacted, ps.DirtyRatio, ps.LastCleanMs = true, cs.DirtyRatio, cs.LastCleanMs
		}
		if t, ok := im.Topics[tp.Topic]; ok && int(tp.Partition) < len(t.Partitions) {
			p := t.Partitions[tp.Partition]
			ps.Leader = p.Leader == n.cfg.NodeID
			ps.UnderReplicated = ps.Leader && len(p.ISR) < len(p.Replicas)
		}
		if ps.Leader {
			_, hw, _ := part.Offsets()
			ps.LSOLag = int64(hw - part.LastStableOffset())
		}
		out = append(out, ps)
	}
	return out
}

// Cleaner is the log cleaner's counters.
func (s adminSource) Cleaner() admin.CleanerStats {
	n := s.n
	if !n.ops.ready.Load() || n.store == nil {
		return admin.CleanerStats{}
	}
	st := n.store.CleanerStats()
	return admin.CleanerStats{Passes: st.Passes, BytesRead: st.BytesRead, BytesWritten: st.BytesWritten, Uncleanable: st.Uncleanable}
}

// SegmentFiles is the segment file descriptor cache's figures
// (ringtail_segment_file*).
func (s adminSource) SegmentFiles() admin.SegmentFileStats {
	n := s.n
	if !n.ops.ready.Load() || n.store == nil {
		return admin.SegmentFileStats{}
	}
	st := n.store.FileCache()
	return admin.SegmentFileStats{Open: st.Open, Max: st.Max, Opens: st.Opens, Evictions: st.Evictions}
}

// LogDirs is each log dir's state (ringtail_log_dir*_offline).
func (s adminSource) LogDirs() []admin.LogDirStat {
	n := s.n
	if !n.ops.ready.Load() || n.store == nil {
		return nil
	}
	ds := n.store.Dirs()
	out := make([]admin.LogDirStat, len(ds))
	for i, d := range ds {
		out[i] = admin.LogDirStat{Dir: d.Path, Offline: d.Err != nil}
	}
	return out
}

// Txns is the transaction coordinator's counts (ringtail_txn_*).
func (s adminSource) Txns() admin.TxnStats {
	n := s.n
	if !n.ops.ready.Load() || n.txns == nil {
		return admin.TxnStats{}
	}
	st := n.txns.Stats()
	return admin.TxnStats{Open: st.Open, OldestOpenMs: st.OldestOpenMs, Commits: st.Commits, Aborts: st.Aborts}
}

func (s adminSource) runtime() *iocore.Runtime {
	if w := s.n.ops.wd.Load(); w != nil {
		return w.rt
	}
	return nil
}

func (s adminSource) Shards() []*iocore.Stats {
	rt := s.runtime()
	if rt == nil {
		return nil
	}
	out := make([]*iocore.Stats, rt.Len())
	for i := range out {
		out[i] = rt.Shard(i).Stats()
	}
	return out
}

func (s adminSource) EngineName() string {
	if rt := s.runtime(); rt != nil {
		return rt.EngineName()
	}
	return ""
}

func (s adminSource) TopicName(id [16]byte) string {
	if !s.n.ops.ready.Load() {
		return ""
	}
	if t, ok := s.n.ctrl.Image().TopicsByID[controlplane.UUID(id)]; ok {
		return t.Name
	}
	return ""
}

// FetchBytes sums the kafka servers' fetched record bytes, by path
// (ringtail_fetch_sendfile_bytes_total, ringtail_fetch_copied_bytes_total).
func (s adminSource) FetchBytes() (sendfile, copied int64) {
	if !s.n.ops.ready.Load() {
		return 0, 0
	}
	for _, srv := range s.n.servers {
		st := srv.FetchStats()
		sendfile += st.SendfileBytes
		copied += st.CopiedBytes
	}
	return sendfile, copied
}

// faultShard parses ?shard=N against the running shards.
func (n *Node) faultShard(w http.ResponseWriter, r *http.Request) (*iocore.Runtime, int, bool) {
	wd := n.ops.wd.Load()
	if wd == nil {
		http.Error(w, "no shard runtime", http.StatusServiceUnavailable)
		return nil, 0, false
	}
	i, err := strconv.Atoi(r.URL.Query().Get("shard"))
	if err != nil || i < 0 || i >= wd.rt.Len() {
		http.Error(w, fmt.Sprintf("shard: want 0 to %d", wd.rt.Len()-1), http.StatusBadRequest)
		return nil, 0, false
	}
	return wd.rt, i, true
}

// handleStallShard queues a task on the shard that blocks until unstalled
// (or the node stops), and answers once the task is running.
func (n *Node) handleStallShard(w http.ResponseWriter, r *http.Request) {
	rt, i, ok := n.faultShard(w, r)
	if !ok {
		return
	}
	n.ops.stallMu.Lock()
	if n.ops.stalls == nil {
		n.ops.stalls = map[int]chan struct{}{}
	}
	if _, ok := n.ops.stalls[i]; ok {
		n.ops.stallMu.Unlock()
		http.Error(w, "already stalled", http.StatusConflict)
		return
	}
	release, running := make(chan struct{}), make(chan struct{})
	n.ops.stalls[i] = release
	n.ops.stallMu.Unlock()
	go func() {
		_ = rt.Shard(i).Do(func() error {
			close(running)
			<-release
			return nil
		})
	}()
	select {
	case <-running:
		n.log.Warn("fault hook: shard stalled", "shard", i)
		fmt.Fprintln(w, "stalled")
	case <-r.Context().Done():
	}
}

func (n *Node) handleUnstallShard(w http.ResponseWriter, r *http.Request) {
	_, i, ok := n.faultShard(w, r)
	if !ok {
		return
	}
	n.ops.stallMu.Lock()
	defer n.ops.stallMu.Unlock()
	ch, ok := n.ops.stalls[i]
	if !ok {
		http.Error(w, "not stalled", http.StatusConflict)
		return
	}
	close(ch)
	delete(n.ops.stalls, i)
	n.log.Warn("fault hook: shard released", "shard", i)
	fmt.Fprintln(w, "released")
}
