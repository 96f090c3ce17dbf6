// Package daemon wires one Ringtail node together — config, shard runtime,
// metadata controller, partition storage and the Kafka listeners — and runs
// its lifecycle: start order, systemd notifications, graceful shutdown.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/console"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/fetchsession"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/kafka"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/replication"
	"github.com/ringtail/ringtail/security"
	"github.com/ringtail/ringtail/services/connect"
	"github.com/ringtail/ringtail/services/restproxy"
	"github.com/ringtail/ringtail/services/schemaregistry"
	"github.com/ringtail/ringtail/storage"
	"github.com/ringtail/ringtail/telemetry"
	"github.com/ringtail/ringtail/txn"
	"github.com/ringtail/ringtail/vfs"
)

// shutdownGrace bounds how long in-flight requests may take after SIGTERM.
const shutdownGrace = 10 * time.Second

// Node is one running Ringtail node.
type Node struct {
	// telem is the client telemetry store (telemetry.go), set when the
	// Kafka listeners open.
	telem   atomic.Pointer[telemetry.Manager]
	cfg     *config.Config
	log     *slog.Logger
	rt      *iocore.Runtime
	ctrl    *controlplane.Controller
	store   *storage.LogDirs
	sreg    *schemaregistry.Registry // schemaregistry.go; nil unless enabled
	proxy   *restproxy.Proxy         // restproxy.go; nil unless enabled
	console *console.Server          // console.go; nil unless enabled
	connect *connect.Distributed     // connect.go; nil unless enabled
	servers []*kafka.Server
	groups  *group.Coordinator
	txns    *txn.Manager
	stopGC  chan struct{}
	lns     []net.Listener
	wg      sync.WaitGroup
	// tls serves the SSL listeners, by listener name; the listeners
	// without listener.name.<name>.ssl.* overrides share one.
	tls map[string]*security.ServerTLS
	// fetchSessions is the listeners' shared fetch session cache (fetchsession.go).
	fetchSessions atomic.Pointer[fetchsession.Cache]
	// shares is the share-partition side of share groups (shares.go).
	shares *kafka.Shares
	// sregAuth authenticates the registry's requests (httpauth.go).
	sregAuth *servicesAuth
	// proxyAuth authenticates the HTTP Proxy's requests (restproxy.go).
	proxyAuth *servicesAuth
	// connectAuth authenticates the Connect REST API's requests (connect.go).
	connectAuth *servicesAuth

	// reconcileMu serialises reconciliation of local partitions.
	reconcileMu sync.Mutex
	// ready wakes the requests waiting for a partition to serve (logs.go).
	ready *readiness
	// rec runs reconcile off the controller loop (reconcileLoop).
	rec struct {
		latest atomic.Pointer[controlplane.Image]
		// again asks for a pass over the same image (local storage
		// changed: a quarantined partition released).
		again  atomic.Bool
		kick   chan struct{}
		stop   chan struct{}
		done   chan struct{}
		ctx    context.Context
		cancel context.CancelFunc
		// holdFile is the test hook's control file (testhooks.go).
		holdFile string
	}
	// repl runs partition replication (replicas.go).
	repl *replicas
	// ops is admin HTTP, metrics and the watchdog (admin.go, systemd.go).
	ops ops

	// limitStore is store for the controller's open file check, which
	// runs on the controller goroutine (set once storage is open).
	limitStore atomic.Pointer[storage.LogDirs]
	// offline reports the partitions of offline log dirs (offline.go).
	offline      offlineDirs
	quar         quarantine // quarantine.go
	maxOpenFiles int        // ringtail.max_open_files resolved against RLIMIT_NOFILE
}

// peerTLS is the TLS config for dialling other brokers' inter-broker
// listener, nil when that listener is PLAINTEXT.
func (n *Node) peerTLS() *tls.Config {
	st := n.tls[n.cfg.InterBrokerListenerName]
	if st == nil {
		return nil
	}
	return st.ClientConfig()
}

// newServerTLS loads the keys and certificates of the SSL listeners.
func newServerTLS(cfg *config.Config, logger *slog.Logger) (map[string]*security.ServerTLS, error) {
	out := map[string]*security.ServerTLS{}
	var shared *security.ServerTLS
	names := make([]string, 0, len(cfg.Listeners)+1)
	for _, l := range cfg.KafkaListeners() {
		names = append(names, l.Name)
	}
	if cfg.ControllerTLS() {
		// Also on a broker-only node: it dials the quorum with these keys.
		names = append(names, cfg.ControllerListener())
	}
	for _, name := range names {
		if !config.UsesTLS(cfg.ListenerProtocol(name)) {
			continue
		}
		if _, own := cfg.ListenerSSL[name]; own {
			st, err := security.NewServerTLS(cfg.SSLFor(name), logger.With("listener", name))
			if err != nil {
				return nil, fmt.Errorf("listener %s: %w", name, err)
			}
			out[name] = st
			continue
		}
		if shared == nil {
			var err error
			if shared, err = security.NewServerTLS(cfg.SSL, logger); err != nil {
				return nil, err
			}
		}
		out[name] = shared
	}
	return out, nil
}

// uniqueTLS lists each ServerTLS of m once.
func uniqueTLS(m map[string]*security.ServerTLS) []*security.ServerTLS {
	var out []*security.ServerTLS
	seen := map[*security.ServerTLS]bool{}
	for _, st := range m {
		if !seen[st] {
			seen[st] = true
			out = append(out, st)
		}
	}
	return out
}

// tlsWatchInterval is how often the keystore and truststore files are
// checked for changes.
const tlsWatchInterval = 2 * time.Second

// NewLogger makes the node's logger: text (or JSON) to stderr, without
// timestamps when journald adds its own.
func NewLogger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Ringtail.LogLevel))
	logLevel.Set(level)
	opts := &slog.HandlerOptions{Level: &logLevel}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}
	}
	if cfg.Ringtail.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// Serve loads the config at path ("" for defaults), starts a node and blocks
// until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	// Without a file the services start on their usual ports (schemaregistry.go).
	zeroConfigServices(cfg, path)
	io, err := config.ApplyIOConfig(cfg) // `ringtail iotune`'s settings
	if err != nil {
		return err
	}
	logger := NewLogger(cfg)
	if io != nil {
		logger.Info("io config applied", "file", io.Path, "applied", strings.Join(io.Applied, ", "),
			"server_toml_wins", strings.Join(io.Ignored, ", "))
	}
	hup := notifyHUP()
	defer signal.Stop(hup)
	n, err := Start(ctx, cfg, logger)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			logger.Info("stopped before serving", "reason", context.Cause(ctx))
			return nil
		}
		return err
	}
	// A misconfigured node (wrong cluster.id, voter list, or a node.id in
	// use) cannot join the quorum: it stops with the reason.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	refused := n.ctrl.Refused() // read here: Stop clears n.ctrl
	go func() {
		select {
		case err := <-refused:
			cancel(err)
		case <-ctx.Done():
		}
	}()
	n.waitSignals(ctx, path, hup)
	cause := context.Cause(ctx)
	logger.Info("shutting down", "reason", cause)
	_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyStopping)
	err = n.Stop()
	if errors.Is(cause, controlplane.ErrRefused) {
		return fmt.Errorf("daemon: %w", cause)
	}
	return err
}

// Start brings a node up and returns once it serves. A node of a quorum of
// several serves only once the quorum has a leader and the node has caught
// up with it (awaitQuorum); ctx ends that wait. On error everything started
// so far is stopped.
func Start(ctx context.Context, cfg *config.Config, logger *slog.Logger) (n *Node, err error) {
	voters := map[int32]string{}
	for _, v := range cfg.ControllerQuorumVoters {
		voters[v.ID] = v.Addr()
	}
	// config.Load checked that the voters name this node exactly when its
	// roles include controller. A broker that is not a voter follows the
	// metadata log as a raft learner; a controller-only node serves no
	// Kafka clients and holds no partitions.
	_, voter := voters[cfg.NodeID]
	broker := cfg.HasRole("broker")
	if (len(voters) > 1 || !voter) && cfg.ClusterID == "" {
		// Each node would format its data dir with its own random id, and
		// the voters would refuse each other forever.
		return nil, fmt.Errorf("daemon: cluster.id is not set, but controller.quorum.voters = %q names %d voters: set the same cluster.id (22 characters of URL-safe base64, e.g. from `ringtail cluster new-id` or any Kafka cluster id) on every node", votersList(cfg), len(voters))
	}
	// The keys and certificates of SSL listeners are read first, so that a
	// missing or mismatched file stops startup before anything is touched.
	serverTLS, err := newServerTLS(cfg, logger)
	if err != nil {
		return nil, err
	}
	node := &Node{cfg: cfg, log: logger, ready: newReadiness(), tls: serverTLS}
	n = node
	defer func() {
		// Returns below set n to nil, so close through node.
		if err != nil {
			node.closeAll()
		}
	}()
	if err := n.startAdmin(); err != nil {
		return nil, err
	}
	if err := n.logFileLimit(); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	dir := cfg.DataDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("daemon: data dir: %w", err)
	}
	meta, formatted, err := loadOrFormat(dir, cfg.NodeID, cfg.ClusterID)
	if err != nil {
		return nil, err
	}
	if formatted {
		logger.Info("formatted new data dir", "dir", dir, "cluster_id", meta.ClusterID, "node_id", meta.NodeID)
	}
	status("starting: shard runtime")
	n.rt, err = iocore.NewRuntime(iocore.RuntimeConfig{
		Shards: cfg.Ringtail.Shards, Engine: cfg.Ringtail.IOEngine, PinCPUs: cfg.Ringtail.PinShards, Logger: logger,
		NoGroupCommit: !cfg.Ringtail.GroupCommit,
	})
	if err != nil {
		return nil, err
	}
	n.startWatchdog()
	status("starting: metadata log")
	if err := n.openControlPlane(dir, meta.ClusterID, voters, voter, broker); err != nil {
		return nil, err
	}
	multi := len(voters) > 1 || !voter
	if !broker {
		if multi {
			if err := n.awaitQuorum(ctx); err != nil {
				return nil, err
			}
		}
		logger.Info("ringtail controller ready", "node_id", cfg.NodeID, "cluster_id", meta.ClusterID,
			"voters", votersList(cfg), "data_dir", dir)
		n.setReady()
		_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReady)
		return n, nil
	}
	status("starting: recovering partitions")
	if err := n.openStorage(meta); err != nil {
		return nil, err
	}
	n.repl = newReplicas(n)
	// Subscribers run on the controller loop, and a command is answered
	// only after they return: creating thousands of partition logs there
	// would stall the quorum and time out the CreateTopics that asked for
	// them (Kafka answers once the metadata is committed, too). The
	// subscriber only hands the image to reconcileLoop; until a log exists
	// the Kafka handlers answer NOT_LEADER_OR_FOLLOWER, which clients retry.
	n.rec.kick = make(chan struct{}, 1)
	n.startQuarantine() // before the first reconcile, which would create them empty
	n.ctrl.Subscribe(func(_, new *controlplane.Image) {
		n.rec.latest.Store(new)
		n.quar.poke()
		select {
		case n.rec.kick <- struct{}{}:
		default:
		}
	})
	first := n.ctrl.Image()
	n.rec.ctx, n.rec.cancel = context.WithCancel(context.Background())
	n.reconcile(nil, first)
	n.reportHeldOffline()
	n.rec.stop, n.rec.done = make(chan struct{}), make(chan struct{})
	go n.reconcileLoop(first)

	status("starting: consumer groups")
	if multi {
		if err := n.awaitQuorum(ctx); err != nil {
			return nil, err
		}
	}
	// A quorum of one creates __consumer_offsets before serving, as
	// before; with several voters the active controller creates it in the
	// background once enough brokers are up (offsetsTopicLoop).
	if !multi || n.ctrl.Image().Topics[group.OffsetsTopic] != nil {
		if err := n.ensureOffsetsTopic(); err != nil {
			return nil, err
		}
	}
	n.groups = n.newCoordinator()
	lazy := &lazyMarkers{}
	n.txns = n.newTxnManager(lazy)
	if err := n.openKafkaListeners(cfg, logger, lazy); err != nil {
		return nil, err
	}
	n.startBackground(multi)
	if err := n.startSchemaRegistry(); err != nil { // schemaregistry.go
		return nil, err
	}
	if err := n.startHTTPProxy(); err != nil { // restproxy.go
		return nil, err
	}
	if err := n.startConnect(); err != nil { // connect.go
		return nil, err
	}
	if err := n.startConsole(); err != nil { // console.go
		return nil, err
	}
	addrs := make([]string, len(n.lns))
	for i, ln := range n.lns {
		addrs[i] = ln.Addr().String()
	}
	logger.Info("ringtail ready", "node_id", cfg.NodeID, "cluster_id", meta.ClusterID, "listeners", addrs,
		"io_engine", n.rt.EngineName(), "shards", n.rt.Len(), "data_dir", dir)
	logAuthorizer(logger, cfg)
	n.setReady()
	_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReady)
	return n, nil
}

// openStorage opens (and recovers) the partition logs of every log dir;
// meta is the first dir's meta.properties, which the others must match.
func (n *Node) openStorage(meta metaProperties) error {
	cfg := n.cfg
	im := n.ctrl.Image()
	fsys := vfs.FromEnv(vfs.OS)
	if fsys != vfs.OS {
		n.log.Warn("test hook: log dirs listed in the control file fail with EIO", "env", vfs.FaultEnv, "file", os.Getenv(vfs.FaultEnv))
	}
	n.offline.start(n)
	var err error
	n.store, err = storage.OpenLogDirs(storage.LogDirsConfig{
		Dirs:      cfg.LogDirs,
		Check:     func(dir string) error { return checkLogDirMeta(fsys, dir, cfg.DataDir(), meta) },
		OnOffline: n.offline.dirOffline,
		Manager: storage.ManagerConfig{
			Runtime: n.rt, Logger: n.log, FS: fsys,
			RetentionCheckInterval: time.Duration(cfg.LogRetentionCheckIntervalMs) * time.Millisecond,
			OnRecoveryProgress: func(done, total int) {
				status(fmt.Sprintf("recovering %d/%d partitions", done, total))
			},
			MaxOpenFiles: n.maxOpenFiles,
			Cleaner: storage.CleanerConfig{
				Enabled: cfg.LogCleanerEnable, Threads: cfg.LogCleanerThreads,
				DedupeBufferBytes: cfg.LogCleanerDedupeBufferSize, LoadFactor: cfg.LogCleanerIOBufferLoadFactor,
				IOMaxBytesPerSecond: cfg.LogCleanerIOMaxBytesPerSecond,
				Backoff:             time.Duration(cfg.LogCleanerBackoffMs) * time.Millisecond,
			},
		}}, func(tp model.TopicPartition) storage.Config {
		var overrides map[string]string
		if t, ok := im.Topics[tp.Topic]; ok {
			overrides = t.Configs
		}
		return n.storageConfig(overrides)
	})
	if err != nil {
		return err
	}
	n.limitStore.Store(n.store)
	n.installCleanerStall()
	n.installReconcileHold() // testhooks.go
	rec := n.store.Recovery()
	n.log.Info("storage opened", "partitions", rec.Partitions, "clean_shutdown", rec.CleanShutdown,
		"rescanned", rec.Rescanned, "truncated_bytes", rec.TruncatedBytes, "log_dirs", len(cfg.LogDirs))
	return nil
}

// openControlPlane opens the metadata log and joins the quorum: over TLS
// when the controller listener is SSL.
func (n *Node) openControlPlane(dir, clusterID string, voters map[int32]string, voter, broker bool) error {
	var err error
	var ctrlLn net.Listener
	if voter && len(voters) > 1 {
		// The controller owns the listener once Open has it; until then a
		// failed start closes it here.
		if ctrlLn, err = n.listenController(); err != nil {
			return err
		}
	}
	var ctrlServerTLS, ctrlClientTLS *tls.Config
	if st := n.tls[n.cfg.ControllerListener()]; st != nil && n.cfg.ControllerTLS() {
		ctrlServerTLS, ctrlClientTLS = st.Config(), st.ClientConfig()
		n.log.Info("controller quorum speaks TLS", "listener", n.cfg.ControllerListener())
	}
	n.ctrl, err = controlplane.Open(controlplane.Config{
		Dir: dir, NodeID: n.cfg.NodeID, ClusterID: clusterID,
		Voters: voters, Listener: ctrlLn, ControllerOnly: !broker,
		Endpoints:                endpoints(n.cfg),
		Rack:                     n.cfg.BrokerRack,
		DefaultPartitions:        n.cfg.NumPartitions,
		DefaultReplicationFactor: n.cfg.DefaultReplicationFactor,
		ValidateTopicConfig:      config.ValidateTopicConfig,
		ValidateTopicConfigs:     n.cfg.ValidateTopicOverrides,
		Logger:                   n.log,
		ElectLeader:              replication.ElectLeader,
		CheckLocalReplicas:       n.checkLocalReplicas(broker),
		SessionTimeout:           time.Duration(n.cfg.BrokerSessionTimeoutMs) * time.Millisecond,
		ServerTLS:                ctrlServerTLS, ClientTLS: ctrlClientTLS,
	})
	if err != nil {
		if ctrlLn != nil {
			ctrlLn.Close()
		}
		return err
	}
	return nil
}

// openKafkaListeners opens every Kafka listener with its server; the
// first server also writes the transaction markers (lazy).
func (n *Node) openKafkaListeners(cfg *config.Config, logger *slog.Logger, lazy *lazyMarkers) error {
	verified := &kafka.VerifyCache{}
	quotas, conns := newQuotas(cfg)
	telem := newTelemetry(cfg)
	n.telem.Store(telem)
	sessions := n.fetchSessionCache(cfg)
	n.shares = n.newShares()
	budget := kafka.NewRequestBudget(cfg.Limits.QueuedMaxRequestBytes) // queued.max.request.bytes, all listeners

	for _, l := range cfg.KafkaListeners() {
		addr := net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("daemon: listeners: %s://%s: %w", l.Name, addr, err)
		}
		n.lns = append(n.lns, ln)
		kc := kafka.Config{
			NodeID: cfg.NodeID, ListenerName: l.Name, Broker: cfg, Logger: logger,
			IdleTimeout: cfg.Limits.ConnectionsMaxIdle(), RequestBudget: budget, Groups: n.groups, Txns: n.txns, TxnVerified: verified, Observer: n.observer(),
			Quotas: quotas, Conns: conns, Telemetry: telem,
		}
		kc.FetchSessions = sessions
		kc.ShareGroups, kc.GroupConfigBounds = n.shareGroups(), groupConfigBounds(cfg) // sharegroups.go
		kc.Shares, kc.ShareStates = n.shares, n.shares
		if config.UsesTLS(cfg.ListenerProtocol(l.Name)) {
			kc.TLS, kc.Principal = n.tls[l.Name].Config(), n.tls[l.Name].Principal
		}
		kc.SASL = n.saslConfig(l.Name)
		kc.PeerTLS = n.peerTLS()
		srv := kafka.NewServer(kc, n.ctrl, logs{m: n.store, r: n.repl, ready: n.ready})
		n.servers = append(n.servers, srv)
		if lazy.w == nil {
			lazy.w = kafka.NewMarkerWriter(srv)
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := srv.Serve(ln); err != nil {
				logger.Error("listener stopped", "listener", l.Name, "err", err)
			}
		}()
	}
	return nil
}

// startBackground starts the TLS certificate watchers and the group and
// transaction coordinators' loops. Groups load after the listeners open:
// clients that come early get COORDINATOR_LOAD_IN_PROGRESS and retry.
func (n *Node) startBackground(multi bool) {
	n.stopGC = make(chan struct{})
	for _, st := range uniqueTLS(n.tls) {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			st.Watch(n.stopGC, tlsWatchInterval)
		}()
	}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if multi && !n.offsetsTopicLoop(n.stopGC) {
			return
		}
		n.runGroups(n.groups, n.stopGC)
	}()
	go func() {
		defer n.wg.Done()
		n.tickGroups(n.groups, n.stopGC)
	}()
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.runTxns(n.txns, n.stopGC)
	}()
	go func() {
		defer n.wg.Done()
		n.tickTxns(n.txns, n.stopGC)
	}()
	if n.shares != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.runShares(n.shares, n.stopGC)
		}()
	}
}

// installCleanerStall is a test hook: with RINGTAIL_TEST_CLEANER_STALL set
// to a step of a cleaning pass (written, manifest, renaming, committed), the
// first pass to reach it logs "cleaner stalled for a test" and blocks there
// for good, so that a test can kill -9 the node at that moment.
func (n *Node) installCleanerStall() {
	step := os.Getenv("RINGTAIL_TEST_CLEANER_STALL")
	if step == "" {
		return
	}
	n.log.Warn("test hook: the log cleaner stalls at a step", "step", step)
	n.store.SetCleanFault(func(s string) bool {
		if s != step {
			return false
		}
		n.log.Warn("cleaner stalled for a test", "step", s)
		select {} // until the test kills the process
	})
}

// quorumRetryLog is how often awaitQuorum says it is still waiting.
const quorumRetryLog = 10 * time.Second

// awaitQuorum holds the start of a node of a multi-node quorum until it
// can serve (controlplane.AwaitServing): the quorum has a leader, this node
// has applied the metadata log up to it and, on a broker, registered. Until
// then the Kafka listeners stay closed, /v1/status/ready answers 503 and
// systemd has no READY=1, so clients and orchestration wait rather than get
// "controller not available". It returns early with the reason when the
// voters refuse this node (a misconfiguration) or ctx ends (SIGTERM).
//
// Later losses of the quorum do not stop the node: it goes on serving the
// partitions it leads from the image it has (as a Kafka broker does until
// it is fenced), metadata changes (CreateTopics...) fail with
// REQUEST_TIMED_OUT or NOT_CONTROLLER, which clients retry, and the active
// controller fences it after broker.session.timeout.ms if it is the one
// cut off, moving its leaderships away.
func (n *Node) awaitQuorum(ctx context.Context) error {
	status("waiting for the metadata quorum")
	start := time.Now()
	lastLog := start
	for {
		select {
		case err := <-n.ctrl.Refused():
			return err
		default:
		}
		actx, cancel := context.WithTimeout(ctx, time.Second)
		err := n.ctrl.AwaitServing(actx)
		cancel()
		if err == nil {
			n.log.Info("metadata quorum reached", "leader", n.ctrl.Status().LeaderID, "applied_index", n.ctrl.Status().Applied,
				"waited", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("daemon: waiting for the metadata quorum: %w", ctx.Err())
		}
		if time.Since(lastLog) >= quorumRetryLog {
			lastLog = time.Now()
			n.log.Warn("still waiting for the metadata quorum; the Kafka listeners open once it has a leader this node has caught up with",
				"voters", votersList(n.cfg), "waited", time.Since(start).Round(time.Second), "err", err)
			status(fmt.Sprintf("waiting for the metadata quorum (%s)", time.Since(start).Round(time.Second)))
		}
	}
}

// listenController opens this node's controller listener (the first of
// controller.listener.names that is in listeners). A taken port stops the
// start with the address and the listener's name.
func (n *Node) listenController() (net.Listener, error) {
	for _, name := range n.cfg.ControllerListenerNames {
		for _, l := range n.cfg.Listeners {
			if l.Name != name {
				continue
			}
			addr := net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("daemon: controller listener %s://%s (controller.listener.names): %w", l.Name, addr, err)
			}
			return ln, nil
		}
	}
	return nil, fmt.Errorf("daemon: controller.listener.names = %v: none of them is in listeners", n.cfg.ControllerListenerNames)
}

// votersList is controller.quorum.voters as written in the config.
func votersList(cfg *config.Config) string {
	parts := make([]string, len(cfg.ControllerQuorumVoters))
	for i, v := range cfg.ControllerQuorumVoters {
		parts[i] = v.String()
	}
	return strings.Join(parts, ",")
}

func status(s string) { _, _ = sddaemon.SdNotify(false, "STATUS="+s) }

// endpoints are the advertised Kafka listeners, registered with the
// controller and returned in Metadata.
func endpoints(cfg *config.Config) []controlplane.Endpoint {
	var eps []controlplane.Endpoint
	for _, l := range cfg.AdvertisedListeners {
		eps = append(eps, controlplane.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
	}
	return eps
}

// storageConfig resolves a topic's overrides over the broker defaults.
func (n *Node) storageConfig(overrides map[string]string) storage.Config {
	tc, err := n.cfg.TopicDefaults().With(overrides)
	if err != nil {
		// Overrides were validated before they were committed; a failure
		// here means an older version accepted something this one does not.
		n.log.Error("topic config override ignored", "err", err)
		tc = n.cfg.TopicDefaults()
	}
	retentionMs, retentionBytes := tc.RetentionMs, tc.RetentionBytes
	if !strings.Contains(tc.CleanupPolicy, "delete") {
		// cleanup.policy=compact alone: the cleaner, not retention, bounds
		// the log (as in Kafka); with compact,delete both apply.
		retentionMs, retentionBytes = -1, -1
	}
	return storage.Config{
		SegmentBytes:       tc.SegmentBytes,
		SegmentMs:          tc.SegmentMs,
		RetentionMs:        retentionMs,
		RetentionBytes:     retentionBytes,
		MaxMessageBytes:    tc.MaxMessageBytes,
		IndexIntervalBytes: tc.IndexIntervalBytes,
		SegmentIndexBytes:  tc.SegmentIndexBytes,
		FlushMessages:      tc.FlushMessages,
		FlushMs:            tc.FlushMs,
		LogAppendTime:      tc.MessageTimestampType == "LogAppendTime",
		Durable:            n.cfg.Ringtail.Durability != "relaxed" || tc.FlushMessages <= 1,
		Compact:            strings.Contains(tc.CleanupPolicy, "compact"),
		MinCleanableRatio:  tc.MinCleanableDirtyRatio,
		MinCompactionLagMs: tc.MinCompactionLagMs,
		MaxCompactionLagMs: tc.MaxCompactionLagMs,
		DeleteRetentionMs:  tc.DeleteRetentionMs,
	}
}

// reconcileLoop reconciles toward the latest image the subscriber handed
// over, starting from last (the image Start reconciled). Images that
// arrive while a pass runs are folded into the next one.
func (n *Node) reconcileLoop(last *controlplane.Image) {
	defer close(n.rec.done)
	for {
		select {
		case <-n.rec.stop:
			return
		case <-n.rec.kick:
		}
		if !n.holdReconcile() { // testhooks.go
			return
		}
		im := n.rec.latest.Load()
		if im == nil || im == last && !n.rec.again.Swap(false) {
			continue
		}
		n.reconcile(last, im)
		last = im
	}
}

// stopReconcile ends reconcileLoop (a pass creating partitions stops
// between chunks) and waits for it.
func (n *Node) stopReconcile() {
	if n.rec.cancel != nil {
		n.rec.cancel()
	}
	if n.rec.stop != nil {
		close(n.rec.stop)
		<-n.rec.done
		n.rec.stop = nil
	}
}

// reconcile moves local storage toward the image: partitions this node
// replicates exist, partitions of deleted topics are removed, config changes
// reach the logs. old is the image of the previous pass (nil at start).
// Passes may skip images, and a node may have been down meanwhile, so a
// log is matched to its topic by topic id (partition.metadata): a log of
// another id belongs to a topic deleted and re-created under the same
// name, and goes; the new topic's log is created empty. A log without an
// id (written before ids were recorded) is adopted by the topic of its
// name. When the pass ends, waiting requests look again (readiness).
func (n *Node) reconcile(old, im *controlplane.Image) {
	n.reconcileMu.Lock()
	defer n.reconcileMu.Unlock()
	defer n.ready.changed()
	want := map[model.TopicPartition]bool{}
	var create []storage.NewPartition
	var recreated, held []model.TopicPartition
	for name, t := range im.Topics {
		var oldT *controlplane.Topic
		if old != nil {
			oldT = old.Topics[name]
		}
		cfgChanged := oldT == nil || oldT.ID != t.ID || !sameMap(oldT.Configs, t.Configs)
		id := storage.TopicID(t.ID)
		var sc storage.Config
		scDone := false
		for _, p := range t.Partitions {
			if !contains(p.Replicas, n.cfg.NodeID) {
				continue
			}
			tp := model.TopicPartition{Topic: name, Partition: p.Partition}
			want[tp] = true
			if !scDone {
				sc, scDone = n.storageConfig(t.Configs), true
			}
			if n.store.Offline(tp) {
				continue // on an offline log dir, or may be (HoldOffline)
			}
			if part, ok := n.store.Partition(tp); ok {
				if part.TopicID() == (storage.TopicID{}) {
					if err := part.SetTopicID(id); err != nil {
						// Not served until it is recorded (the next pass
						// tries again); never deleted for it.
						n.log.Error("cannot record the topic id of a log", "partition", tp.String(), "err", err)
						continue
					}
				}
				if part.TopicID() == id {
					if cfgChanged {
						part.SetConfig(sc)
					}
					continue
				}
				recreated = append(recreated, tp)
			}
			if _, ok := n.store.Partition(tp); !ok && n.store.AnyOffline() && (old == nil || assignedIn(old, tp, n.cfg.NodeID)) {
				// Kafka's isNew rule: a partition assigned here before
				// that no online dir holds may live on the offline dir; it
				// is offline, never created empty over it.
				held = append(held, tp)
				continue
			}
			create = append(create, storage.NewPartition{TP: tp, Config: sc, TopicID: id})
		}
	}
	if len(held) > 0 {
		n.store.HoldOffline(held)
		n.offline.partitionsOffline(held)
	}
	for _, tp := range n.store.Held() {
		if !want[tp] {
			n.store.Release(tp)
		}
	}
	// Deletions first: they free descriptors for the creations, and a
	// re-created topic's old logs must be gone before the new ones open.
	for _, tp := range recreated {
		n.deletePartition(tp, "topic re-created")
	}
	for _, tp := range n.store.Partitions() {
		if !want[tp] {
			n.deletePartition(tp, "topic deleted")
		}
	}
	if len(create) > 0 {
		n.createPartitions(create)
	}
	n.repl.update(im)
}

func (n *Node) deletePartition(tp model.TopicPartition, why string) {
	if err := n.store.DeletePartition(tp); err != nil {
		n.log.Error("cannot delete partition", "partition", tp.String(), "err", err)
	} else {
		n.log.Info("deleted partition", "partition", tp.String(), "reason", why)
	}
}

// createPartitions creates local logs and logs the outcome once, not once
// per partition: a refusal for the open file limit names the limit.
func (n *Node) createPartitions(create []storage.NewPartition) {
	start := time.Now()
	errs := n.store.CreatePartitions(n.rec.ctx, create)
	failed := 0
	var first error
	var firstTP model.TopicPartition
	for i, err := range errs {
		if err != nil {
			if first == nil {
				first, firstTP = err, create[i].TP
			}
			failed++
		}
	}
	switch {
	case failed > 0 && errors.Is(first, storage.ErrFileLimit):
		n.log.Error("cannot create partitions: not enough open files", "partitions", failed, "err", first)
	case failed > 0:
		n.log.Error("cannot create partition", "partition", firstTP.String(), "failed", failed, "of", len(create), "err", first)
	}
	if len(create)-failed > 1 {
		n.log.Info("created partitions", "partitions", len(create)-failed, "took", time.Since(start).Round(time.Millisecond))
	}
}

// logFileLimit logs RLIMIT_NOFILE at start (Go raises the soft limit to
// the hard one; RaiseFileLimit makes sure) and warns when it is low for a
// broker with many partitions.
func (n *Node) logFileLimit() error {
	soft, hard, err := storage.RaiseFileLimit()
	if err != nil {
		n.log.Warn("cannot raise the open file limit", "soft", soft, "hard", hard, "err", err)
	}
	bound, err := storage.ResolveMaxOpenFiles(int64(n.cfg.Ringtail.MaxOpenFiles), soft)
	if err != nil {
		return err
	}
	n.maxOpenFiles = bound
	n.log.Info("open file limit", "limit", soft, "hard", hard, "max_open_files", max(bound, 0))
	return nil
}

// checkLocalReplicas refuses a CreateTopics or CreatePartitions that would
// place more partitions on this broker than its open file limit allows,
// before anything is committed (other brokers check when they create their
// logs). A controller-only node holds no partitions.
func (n *Node) checkLocalReplicas(broker bool) func(int) error {
	if !broker {
		return nil
	}
	return func(added int) error {
		check := storage.CheckFileLimit
		if st := n.limitStore.Load(); st != nil {
			check = st.CheckFileLimit // counts ringtail.max_open_files
		}
		if err := check(added); err != nil {
			return fmt.Errorf("%w: %w", model.ErrPolicyViolation, err)
		}
		return nil
	}
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// controlledShutdownTimeout bounds how long Stop waits for the metadata
// quorum to move leadership away.
const controlledShutdownTimeout = 5 * time.Second

// Stop shuts the node down: leadership moved away (controlled shutdown), listeners first, then in-flight requests, then
// storage (flushed, with the clean-shutdown marker), the shard runtime and
// the metadata log.
func (n *Node) Stop() error {
	n.unready()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var errs []error
	// Move partition leadership away first, while this node still serves
	// the fetches that let its followers catch up.
	sctx, scancel := context.WithTimeout(ctx, controlledShutdownTimeout)
	if err := n.ctrl.ControlledShutdown(sctx); err != nil {
		n.log.Warn("controlled shutdown: leadership not moved; it moves when this node is fenced", "err", err)
	}
	scancel()
	n.log.Info("controlled shutdown done", "took", time.Since(began).Round(time.Millisecond))
	n.stopConsole()
	n.stopConnect()
	n.stopHTTPProxy()
	n.stopSchemaRegistry()
	drain := time.Now()
	for _, s := range n.servers {
		// Requests still in flight when the grace runs out lose their
		// connections: nothing acknowledged is lost (an acknowledgement
		// is only sent once the record is durable), and clients retry
		// what was not answered, so this is a warning, not a failed stop.
		if err := s.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			n.log.Warn("shutdown: connections with requests still in flight closed at the end of the grace period",
				"grace", shutdownGrace, "draining_took", time.Since(drain).Round(time.Millisecond))
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	if n.stopGC != nil {
		close(n.stopGC)
	}
	n.wg.Wait()
	errs = append(errs, n.closeAll())
	if err := errors.Join(errs...); err != nil {
		n.log.Error("shutdown finished with errors", "err", err)
		return err
	}
	n.log.Info("shutdown complete")
	return nil
}

func (n *Node) closeAll() error {
	n.stopConsole()
	n.stopConnect()
	n.stopHTTPProxy()
	n.stopSchemaRegistry()
	n.stopOps()
	var errs []error
	for _, ln := range n.lns {
		ln.Close()
	}
	if n.stopGC != nil {
		// The group loader and ticker use storage: they end first.
		select {
		case <-n.stopGC:
		default:
			close(n.stopGC)
		}
		n.wg.Wait()
	}
	if n.txns != nil {
		n.txns.Close()
	}
	n.quar.stop()
	n.stopReconcile()
	n.offline.stop()
	if n.repl != nil {
		n.repl.close()
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
		n.store = nil
	}
	if n.rt != nil {
		errs = append(errs, n.rt.Close())
		n.rt = nil
	}
	if n.ctrl != nil {
		errs = append(errs, n.ctrl.Close())
		n.ctrl = nil
	}
	return errors.Join(errs...)
}

// Addrs returns the addresses the Kafka listeners are bound to.
func (n *Node) Addrs() []net.Addr {
	out := make([]net.Addr, len(n.lns))
	for i, ln := range n.lns {
		out[i] = ln.Addr()
	}
	return out
}
