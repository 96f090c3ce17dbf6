package connect

// The distributed herder: the workers of one group.id share connectors
// through Kafka, as Kafka Connect's distributed mode. Connector configs,
// task configs and target states live in the config topic (configlog.go),
// statuses in the status topic (statuslog.go), source offsets in the
// offsets topic (offsets.go). The workers form a consumer group of
// protocol type "connect" (groupmember.go, protocol.go); its leader makes
// task configs and hands connectors and tasks out round-robin. The
// protocol is eager: a worker stops all its work before it rejoins, so two
// live workers never run the same task.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	defaultOffsetsReplicas = 3
	topicRetryBackoff      = time.Second
	// configWait bounds a REST write's wait for its own record, and a
	// member's wait to read the config topic as far as its assignment.
	configWait     = 15 * time.Second
	joinBackoffMax = 5 * time.Second
)

// DistributedConfig is a distributed worker inside the daemon.
type DistributedConfig struct {
	Worker *WorkerConfig // Bootstrap, ClientOpts, converters, offsets topic, Listen
	// AdvertisedURL is the URL other workers reach this one at; its
	// host:port is the worker_id. "": the listener's address.
	AdvertisedURL  string
	GroupID        string
	ConfigTopic    string
	StatusTopic    string
	SessionTimeout time.Duration
	// ReplicationFactor of the internal topics; 0: min(3, brokers now).
	ReplicationFactor int16
	Logger            *slog.Logger
	// Metrics registers the worker's metrics; Gatherer serves /metrics
	// (a fresh registry for both when nil).
	Metrics  prometheus.Registerer
	Gatherer prometheus.Gatherer
	// Middleware wraps every request (services/httpauth's authentication).
	Middleware func(http.Handler) http.Handler
	// TLS, when set, serves HTTPS; ForwardTLS is what forwarding a request
	// to the leader presents.
	TLS, ForwardTLS *tls.Config
}

// Distributed is a running distributed worker.
type Distributed struct {
	cfg      DistributedConfig
	log      *slog.Logger
	ln       net.Listener
	srv      *http.Server
	url      string // this worker's REST URL, its group metadata
	workerID string
	fwd      *http.Client

	cl       *kgo.Client
	member   *groupMember
	worker   *Worker
	statuses *statusStore
	configs  *kafkaLog
	statusLg *kafkaLog
	cancel   context.CancelFunc
	done     chan struct{}
	served   chan error

	wake chan struct{} // the config snapshot changed (buffered 1)
	opMu sync.Mutex    // one config write at a time (the leader's)
	// workMu orders task starts and stops, so a restart never starts a
	// task again after a revoke stopped it.
	workMu sync.Mutex

	mu struct {
		sync.Mutex
		snap       *configSnapshot
		replayed   bool // the config topic was read to its end once
		clusterID  string
		leader     bool
		leaderURL  string
		generation int32
		assigned   assignment
		running    bool             // assigned is started
		written    map[string]int64 // connector -> config offset its task configs were written for
		restarts   []restartRequest
	}
}

var _ Herder = (*Distributed)(nil)

// StartDistributed binds the REST listener and starts the worker: it joins
// its group in the background once Kafka answers and the internal topics
// exist, so a broker that is still forming its cluster is waited for.
func StartDistributed(cfg DistributedConfig) (*Distributed, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	wc := cfg.Worker
	if cfg.GroupID == "" || cfg.ConfigTopic == "" || cfg.StatusTopic == "" || wc.OffsetsTopic == "" {
		return nil, errors.New("connect: group.id, config.storage.topic, status.storage.topic and offset.storage.topic must be set")
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	ln, err := net.Listen("tcp", wc.Listen)
	if err != nil {
		return nil, fmt.Errorf("connect: listen %s: %w", wc.Listen, err)
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(wc.Bootstrap...), kgo.ClientID("ringtail-connect"), kgo.ProducerLinger(0)}, wc.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	d := &Distributed{cfg: cfg, log: log, ln: ln, cl: cl, done: make(chan struct{}), served: make(chan error, 1),
		wake: make(chan struct{}, 1), fwd: &http.Client{Timeout: httpReadTimeout}}
	d.workerID = workerIDFor(wc.Listen, ln.Addr())
	scheme := "http://"
	if cfg.TLS != nil {
		d.ln, scheme = tls.NewListener(ln, cfg.TLS), "https://"
	}
	if cfg.ForwardTLS != nil {
		d.fwd.Transport = &http.Transport{TLSClientConfig: cfg.ForwardTLS}
	}
	d.url = scheme + d.workerID
	if u, err := url.Parse(cfg.AdvertisedURL); cfg.AdvertisedURL != "" && err == nil && u.Host != "" {
		d.url, d.workerID = strings.TrimSuffix(cfg.AdvertisedURL, "/"), u.Host
	}
	d.mu.snap = newConfigSnapshot()
	d.mu.written = map[string]int64{}
	d.mu.generation = -1
	d.member = &groupMember{cl: cl, group: cfg.GroupID, session: cfg.SessionTimeout, generation: -1}
	reg, gatherer := cfg.Metrics, cfg.Gatherer
	if reg == nil || gatherer == nil {
		r := prometheus.NewRegistry()
		reg, gatherer = r, r
	}
	m := newMetrics(reg)
	store := newOffsetStore(cl, wc.OffsetsTopic, "", wc.OffsetFlushInterval, log)
	d.worker = newWorker(wc, store, m, d, log)
	d.statuses = newStatusStore(cl, cfg.StatusTopic, log)
	if d.configs, err = newKafkaLog(opts, cfg.ConfigTopic, log, d.applyConfig); err == nil {
		d.statusLg, err = newKafkaLog(opts, cfg.StatusTopic, log, d.statuses.apply)
	}
	if err != nil {
		ln.Close()
		cl.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	var handler http.Handler = d.forwarder(newREST(d, gatherer, m, log))
	if cfg.Middleware != nil {
		handler = cfg.Middleware(handler)
	}
	d.srv = &http.Server{Handler: handler, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: httpReadTimeout,
		IdleTimeout: httpIdleTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { d.served <- d.srv.Serve(d.ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		defer close(d.done)
		d.run(ctx)
	}()
	log.Info("connect: distributed worker started", "rest", d.url, "group_id", cfg.GroupID, "config_topic", cfg.ConfigTopic,
		"status_topic", cfg.StatusTopic, "offsets_topic", wc.OffsetsTopic, "session_timeout", cfg.SessionTimeout)
	return d, nil
}

// Addr is the REST listener's address.
func (d *Distributed) Addr() net.Addr { return d.ln.Addr() }

// URL is this worker's REST URL.
func (d *Distributed) URL() string { return d.url }

// Close stops the tasks (in-flight transactions and flushes finish),
// leaves the group so the others take the work over at once, and closes
// the REST listener.
func (d *Distributed) Close(ctx context.Context) error {
	d.cancel()
	select {
	case <-d.done:
	case <-ctx.Done():
		d.log.Warn("connect: worker did not stop in time", "err", ctx.Err())
	}
	err := d.srv.Shutdown(ctx)
	d.cl.Close()
	d.configs.close()
	d.statusLg.close()
	return err
}

// run is the worker's life: start, then join, work and heartbeat until
// ctx ends.
func (d *Distributed) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if err := d.startup(ctx, &wg); err != nil {
		if ctx.Err() == nil {
			d.log.Error("connect: distributed worker not started", "err", err)
		}
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := d.round(ctx)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		d.log.Info("connect: group round ended; joining again", "group_id", d.cfg.GroupID, "err", err, "backoff", backoff)
		if sleepCtx(ctx, backoff) != nil {
			break
		}
		backoff = min(backoff*2, joinBackoffMax)
	}
	d.revoke()
	lctx, cancel := context.WithTimeout(context.Background(), groupRequestSlack)
	if err := d.cl.Flush(lctx); err != nil { // the UNASSIGNED statuses
		d.log.Warn("connect: status writes not flushed", "err", err)
	}
	if err := d.member.leave(lctx); err != nil {
		d.log.Warn("connect: LeaveGroup failed; the others wait out the session", "err", err)
	} else {
		d.log.Info("connect: left the group", "group_id", d.cfg.GroupID)
	}
	cancel()
	d.worker.offsets.writeFile()
	d.log.Info("connect: distributed worker stopped", "group_id", d.cfg.GroupID)
}

// startup waits for Kafka, creates the internal topics and reads the
// config and status topics to their end.
func (d *Distributed) startup(ctx context.Context, wg *sync.WaitGroup) error {
	wc := d.cfg.Worker
	clusterID, err := waitKafka(ctx, kadm.NewClient(d.cl), wc.Bootstrap)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.mu.clusterID = clusterID
	d.mu.Unlock()
	adm := kadm.NewClient(d.cl)
	for attempt := 0; ; attempt++ {
		rf := d.cfg.ReplicationFactor
		if rf <= 0 {
			md, err := adm.BrokerMetadata(ctx)
			if err != nil {
				return err
			}
			rf = int16(min(defaultOffsetsReplicas, len(md.Brokers)))
		}
		tctx, cancel := context.WithTimeout(ctx, logRequestLimit)
		err = errors.Join(
			ensureTopic(tctx, adm, d.cfg.ConfigTopic, "config.storage.topic", 1, rf, d.log),
			ensureTopic(tctx, adm, d.cfg.StatusTopic, "status.storage.topic", defaultStatusPartitions, rf, d.log),
			d.worker.offsets.ensureTopic(tctx, wc.OffsetsPartitions, rf))
		cancel()
		if err == nil {
			break
		}
		if attempt%10 == 0 {
			d.log.Info("connect: internal topics not ready; retrying (the cluster may still be forming)", "err", err)
		}
		if sleepCtx(ctx, topicRetryBackoff) != nil {
			return ctx.Err()
		}
	}
	for _, l := range []*kafkaLog{d.configs, d.statusLg} {
		for l.start(ctx, wg) != nil {
			if sleepCtx(ctx, topicRetryBackoff) != nil {
				return ctx.Err()
			}
		}
	}
	for {
		err := d.configs.readToEnd(ctx)
		if err == nil {
			err = d.statusLg.readToEnd(ctx)
		}
		if err == nil {
			break
		}
		if sleepCtx(ctx, topicRetryBackoff) != nil {
			return ctx.Err()
		}
	}
	d.mu.Lock()
	d.mu.replayed = true
	d.mu.Unlock()
	return nil
}

// applyConfig replays config records (the config log's callback).
func (d *Distributed) applyConfig(recs []*kgo.Record) {
	d.mu.Lock()
	for _, r := range recs {
		if err := d.mu.snap.apply(string(r.Key), r.Value, r.Offset); err != nil {
			d.log.Warn("connect: config record skipped", "err", err)
		}
		// Restart requests read in the start-up replay are history.
		if rr, ok := parseRestart(string(r.Key), r.Value); ok && d.mu.replayed {
			d.mu.restarts = append(d.mu.restarts, rr)
		}
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Distributed) snapshot() *configSnapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.snap.clone()
}

// round is one membership: join, sync, work, heartbeat until a rebalance.
func (d *Distributed) round(ctx context.Context) error {
	d.revoke()
	d.mu.Lock()
	d.mu.leader, d.mu.leaderURL = false, ""
	meta := workerMetadata{Version: connectProtocolV0, URL: d.url, ConfigOffset: d.mu.snap.Offset}
	d.mu.Unlock()
	jr, err := d.member.join(ctx, meta)
	if err != nil {
		return d.groupErr("JoinGroup", err)
	}
	var assigns map[string]assignment
	if jr.leader {
		rctx, cancel := context.WithTimeout(ctx, configWait)
		err := d.configs.readToEnd(rctx)
		cancel()
		if err != nil {
			return err
		}
		assigns = assignWork(d.member.memberID, d.url, jr.members, d.snapshot())
	}
	a, err := d.member.sync(ctx, assigns)
	if err != nil {
		return d.groupErr("SyncGroup", err)
	}
	if a.Error == assignConfigMismatch {
		rctx, cancel := context.WithTimeout(ctx, configWait)
		defer cancel()
		return errors.Join(errors.New("config mismatch: reading the config topic further"), d.configs.readToEnd(rctx))
	}
	wctx, cancel := context.WithTimeout(ctx, configWait)
	err = d.configs.waitFor(wctx, map[int32]int64{0: a.ConfigOffset})
	cancel()
	if err != nil {
		return fmt.Errorf("assignment needs config offset %d: %w", a.ConfigOffset, err)
	}
	leaderURL := ""
	for _, m := range jr.members {
		if m.ID == a.Leader {
			leaderURL = m.Meta.URL
		}
	}
	if leaderURL == "" {
		leaderURL = a.LeaderURL
	}
	d.workMu.Lock()
	d.mu.Lock()
	d.mu.leader, d.mu.leaderURL = jr.leader, leaderURL
	d.mu.generation, d.mu.assigned, d.mu.running = d.member.generation, a, true
	version := d.mu.snap.Version
	d.mu.Unlock()
	d.log.Info("connect: joined the group", "group_id", d.cfg.GroupID, "generation", d.member.generation, "leader", jr.leader,
		"leader_url", leaderURL, "connectors", a.Connectors, "tasks", len(a.Tasks), "config_offset", a.ConfigOffset)
	d.startWork(a)
	d.workMu.Unlock()
	return d.heartbeatLoop(ctx, version)
}

// groupErr turns a group error into the round's end, forgetting the
// member id where the coordinator no longer knows it.
func (d *Distributed) groupErr(what string, err error) error {
	switch heartbeatAction(err) {
	case actionReset:
		d.member.memberID, d.member.generation = "", -1
	case actionFatal:
		d.log.Error("connect: the group refuses this worker", "group_id", d.cfg.GroupID, "request", what, "err", err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// heartbeatLoop keeps the membership until a rebalance; the leader
// starts one when the configs change what runs where.
func (d *Distributed) heartbeatLoop(ctx context.Context, version int64) error {
	every := heartbeatInterval(d.cfg.SessionTimeout)
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := time.Now()
	d.leaderWork(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
			d.applyTargetStates()
			d.runRestarts()
			if d.isLeader() {
				d.leaderWork(ctx)
				d.mu.Lock()
				changed := d.mu.snap.Version != version
				d.mu.Unlock()
				if changed {
					return nil // rejoin: the leader's JoinGroup starts the rebalance
				}
			}
		case now := <-t.C:
			err := d.member.heartbeat(ctx)
			switch heartbeatAction(err) {
			case actionNone:
				lastOK = now
			case actionRejoin:
				return nil
			case actionReset, actionFatal:
				return d.groupErr("Heartbeat", err)
			case actionRetry:
				if sessionLost(time.Now(), lastOK, d.cfg.SessionTimeout) {
					// The coordinator may have given our work to others by
					// now: stop it (the next round revokes first) and join
					// again. The member id is kept: a coordinator that
					// took the group over from a dead one may still know
					// it, and then the rebalance need not wait for it to
					// expire.
					return fmt.Errorf("no heartbeat answered for %v: %w", d.cfg.SessionTimeout, err)
				}
			}
		}
	}
}

func (d *Distributed) isLeader() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.leader
}

// startWork starts the assigned connectors (their status) and tasks; the
// caller holds workMu.
func (d *Distributed) startWork(a assignment) {
	snap := d.snapshot()
	for _, name := range a.Connectors {
		d.putConnectorStatus(name, snap.Paused[name])
	}
	for _, id := range a.Tasks {
		cfg := snap.Connectors[id.Connector]
		tasks := snap.Tasks[id.Connector]
		if cfg == nil || id.Task >= len(tasks) {
			continue
		}
		p := FindPlugin(cfg[keyConnectorClass])
		if p == nil {
			d.TaskState(id, StateFailed, fmt.Sprintf("connector.class %q is not a known plugin", cfg[keyConnectorClass]))
			continue
		}
		if err := d.worker.StartTask(id, p, cfg, tasks[id.Task], snap.Paused[id.Connector]); err != nil {
			d.TaskState(id, StateFailed, err.Error())
		}
	}
}

// revoke stops every task this worker runs and marks it UNASSIGNED, as an
// eager member does before it rejoins.
func (d *Distributed) revoke() {
	d.workMu.Lock()
	defer d.workMu.Unlock()
	d.mu.Lock()
	a, running := d.mu.assigned, d.mu.running
	d.mu.running = false
	d.mu.Unlock()
	if !running {
		return
	}
	var wg sync.WaitGroup
	for _, id := range a.Tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.worker.StopTask(id)
		}()
	}
	wg.Wait()
	// A deleted connector's statuses stay deleted.
	snap := d.snapshot()
	for _, id := range a.Tasks {
		if _, ok := snap.Connectors[id.Connector]; ok {
			d.TaskState(id, StateUnassigned, "")
		}
	}
	for _, name := range a.Connectors {
		if _, ok := snap.Connectors[name]; ok {
			d.putStatus(connectorStatusKey(name), StateUnassigned, "")
		}
	}
}

// TaskState writes a task's state to the status topic (the worker's
// StatusListener).
func (d *Distributed) TaskState(id TaskID, state, trace string) {
	d.putStatus(taskStatusKey(id), state, trace)
}

func (d *Distributed) putConnectorStatus(name string, paused bool) {
	state := StateRunning
	if paused {
		state = StatePaused
	}
	d.putStatus(connectorStatusKey(name), state, "")
}

func (d *Distributed) putStatus(key, state, trace string) {
	d.mu.Lock()
	gen := d.mu.generation
	d.mu.Unlock()
	v := statusValue{State: state, WorkerID: d.workerID, Generation: gen}
	if trace != "" {
		v.Trace = &trace
	}
	d.statuses.put(key, v)
}

// applyTargetStates pauses or resumes the running work after a
// target-state record.
func (d *Distributed) applyTargetStates() {
	d.mu.Lock()
	a, running, snap := d.mu.assigned, d.mu.running, d.mu.snap
	paused := map[string]bool{}
	for _, name := range a.Connectors {
		paused[name] = snap.Paused[name]
	}
	for _, id := range a.Tasks {
		paused[id.Connector] = snap.Paused[id.Connector]
	}
	d.mu.Unlock()
	if !running {
		return
	}
	for _, id := range a.Tasks {
		d.worker.SetPaused(id, paused[id.Connector])
	}
	for _, name := range a.Connectors {
		want := StateRunning
		if paused[name] {
			want = StatePaused
		}
		if cur, ok := d.statuses.get(connectorStatusKey(name)); !ok || cur.State != want || cur.WorkerID != d.workerID {
			d.putConnectorStatus(name, paused[name])
		}
	}
}
