package connect

// The standalone herder: connector configs, target states and statuses in
// memory, for the life of the process (Kafka's standalone mode), and the
// entry point of `ringtail connect standalone`.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// kafkaWait bounds how long the worker waits for Kafka at start.
	kafkaWait         = 60 * time.Second
	readHeaderTimeout = 5 * time.Second
	httpReadTimeout   = 30 * time.Second
	httpIdleTimeout   = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
)

type connState struct {
	cfg    map[string]string
	plugin *Plugin
	tasks  []map[string]string
	paused bool
}

// Standalone is the standalone herder.
type Standalone struct {
	worker    *Worker
	workerID  string
	clusterID string
	log       *slog.Logger

	opMu sync.Mutex // one lifecycle operation at a time (they wait for tasks)
	mu   struct {
		sync.Mutex
		conns  map[string]*connState
		states map[TaskID]StateInfo
	}
}

var _ Herder = (*Standalone)(nil)

func newStandalone(workerID, clusterID string, log *slog.Logger) *Standalone {
	h := &Standalone{workerID: workerID, clusterID: clusterID, log: log}
	h.mu.conns = map[string]*connState{}
	h.mu.states = map[TaskID]StateInfo{}
	return h
}

// TaskState records a task's state (the worker's StatusListener).
func (h *Standalone) TaskState(id TaskID, state, trace string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.mu.conns[id.Connector]; ok {
		h.mu.states[id] = StateInfo{State: state, Trace: trace, WorkerID: h.workerID}
	}
}

func (h *Standalone) KafkaClusterID() string { return h.clusterID }

func (h *Standalone) Connectors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string{}, slices.Sorted(maps.Keys(h.mu.conns))...) // [] rather than null
}

func (h *Standalone) infoLocked(name string, c *connState) *ConnectorInfo {
	info := &ConnectorInfo{Name: name, Config: maps.Clone(c.cfg), Tasks: []TaskID{}, Type: c.plugin.Type}
	for i := range c.tasks {
		info.Tasks = append(info.Tasks, TaskID{name, i})
	}
	return info
}

func (h *Standalone) ConnectorInfo(name string) (*ConnectorInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.mu.conns[name]
	if !ok {
		return nil, errNoConnector(name)
	}
	return h.infoLocked(name, c), nil
}

// invalidConfig is Kafka's 400 for a config that does not validate.
func invalidConfig(v *ConfigInfos) *APIError {
	errs := v.Errors()
	msg := fmt.Sprintf("Connector configuration is invalid and contains the following %d error(s):\n%s\n"+
		"You can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`",
		len(errs), strings.Join(errs, "\n"))
	e := apiErr(http.StatusBadRequest, "%s", msg)
	e.Validation = v
	return e
}

func taskClass(p *Plugin) string { return strings.TrimSuffix(p.Class, "Connector") + "Task" }

func (h *Standalone) PutConnectorConfig(name string, cfg map[string]string, replace bool) (*ConnectorInfo, bool, error) {
	if strings.TrimSpace(name) == "" {
		return nil, false, apiErr(http.StatusBadRequest, "Connector name is required")
	}
	if strings.ContainsAny(name, "/\n\r") {
		return nil, false, apiErr(http.StatusBadRequest, "Connector name %q may not contain '/' or line breaks", name)
	}
	cfg = maps.Clone(cfg)
	if cfg == nil {
		cfg = map[string]string{}
	}
	if n, ok := cfg[keyName]; ok && n != name {
		return nil, false, apiErr(http.StatusBadRequest, "Connector name configuration (%s) doesn't match connector name in the URL (%s)", n, name)
	}
	cfg[keyName] = name
	v, p := Validate(cfg)
	if v.ErrorCount > 0 {
		return nil, false, invalidConfig(v)
	}
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	old, exists := h.mu.conns[name]
	h.mu.Unlock()
	if exists && !replace {
		return nil, false, apiErr(http.StatusConflict, "Connector %s already exists", name)
	}
	paused := false
	if exists {
		paused = old.paused
		h.stopTasks(name, len(old.tasks))
	}
	maxTasks, _ := strconv.Atoi(configValue(cfg, p, keyTasksMax))
	c := &connState{cfg: cfg, plugin: p, paused: paused}
	for _, tc := range p.TaskConfigs(cfg, maxTasks) {
		tc = maps.Clone(tc)
		tc["task.class"] = taskClass(p)
		c.tasks = append(c.tasks, tc)
	}
	h.mu.Lock()
	h.mu.conns[name] = c
	info := h.infoLocked(name, c)
	h.mu.Unlock()
	h.startTasks(name, c, nil)
	if exists {
		h.log.Info("connect: connector reconfigured", "connector", name)
	} else {
		h.log.Info("connect: connector created", "connector", name, "class", p.Class, "tasks", len(c.tasks))
	}
	return info, !exists, nil
}

// startTasks starts a connector's tasks (only those in only, when given).
func (h *Standalone) startTasks(name string, c *connState, only map[int]bool) {
	for i, tc := range c.tasks {
		if only != nil && !only[i] {
			continue
		}
		id := TaskID{name, i}
		h.mu.Lock()
		h.mu.states[id] = StateInfo{State: StateUnassigned, WorkerID: h.workerID}
		h.mu.Unlock()
		if err := h.worker.StartTask(id, c.plugin, c.cfg, tc, c.paused); err != nil {
			h.TaskState(id, StateFailed, err.Error())
		}
	}
}

func (h *Standalone) stopTasks(name string, n int) {
	for i := range n {
		h.worker.StopTask(TaskID{name, i})
	}
}

func (h *Standalone) DeleteConnector(name string) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	c, ok := h.mu.conns[name]
	h.mu.Unlock()
	if !ok {
		return errNoConnector(name)
	}
	h.stopTasks(name, len(c.tasks))
	h.mu.Lock()
	delete(h.mu.conns, name)
	for id := range h.mu.states {
		if id.Connector == name {
			delete(h.mu.states, id)
		}
	}
	h.mu.Unlock()
	h.log.Info("connect: connector deleted", "connector", name)
	return nil
}

func (h *Standalone) setPaused(name string, paused bool) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	c, ok := h.mu.conns[name]
	if ok {
		c.paused = paused
	}
	h.mu.Unlock()
	if !ok {
		return errNoConnector(name)
	}
	for i := range c.tasks {
		h.worker.SetPaused(TaskID{name, i}, paused)
	}
	h.log.Info("connect: connector target state", "connector", name, "paused", paused)
	return nil
}

func (h *Standalone) PauseConnector(name string) error  { return h.setPaused(name, true) }
func (h *Standalone) ResumeConnector(name string) error { return h.setPaused(name, false) }

func (h *Standalone) RestartConnector(name string, includeTasks, onlyFailed bool) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	c, ok := h.mu.conns[name]
	var only map[int]bool
	if ok && includeTasks {
		only = map[int]bool{}
		for i := range c.tasks {
			if !onlyFailed || h.mu.states[TaskID{name, i}].State == StateFailed {
				only[i] = true
			}
		}
	}
	h.mu.Unlock()
	if !ok {
		return errNoConnector(name)
	}
	// The file connectors hold nothing outside their tasks: restarting
	// the connector alone only logs.
	h.log.Info("connect: connector restarted", "connector", name, "tasks", len(only))
	for i := range only {
		h.worker.StopTask(TaskID{name, i})
	}
	h.startTasks(name, c, only)
	return nil
}

func (h *Standalone) RestartTask(id TaskID) error {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.mu.Lock()
	c, ok := h.mu.conns[id.Connector]
	h.mu.Unlock()
	if !ok {
		return errNoConnector(id.Connector)
	}
	if id.Task < 0 || id.Task >= len(c.tasks) {
		return errNoTask(id)
	}
	h.worker.StopTask(id)
	h.startTasks(id.Connector, c, map[int]bool{id.Task: true})
	h.log.Info("connect: task restarted", "task", id.String())
	return nil
}

func (h *Standalone) ConnectorStatus(name string) (*ConnectorStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.mu.conns[name]
	if !ok {
		return nil, errNoConnector(name)
	}
	st := &ConnectorStatus{Name: name, Type: c.plugin.Type, Tasks: []TaskStateInfo{},
		Connector: StateInfo{State: StateRunning, WorkerID: h.workerID}}
	if c.paused {
		st.Connector.State = StatePaused
	}
	for i := range c.tasks {
		s, ok := h.mu.states[TaskID{name, i}]
		if !ok {
			s = StateInfo{State: StateUnassigned, WorkerID: h.workerID}
		}
		st.Tasks = append(st.Tasks, TaskStateInfo{ID: i, StateInfo: s})
	}
	return st, nil
}

func (h *Standalone) TaskStatus(id TaskID) (*TaskStateInfo, error) {
	st, err := h.ConnectorStatus(id.Connector)
	if err != nil {
		return nil, err
	}
	if id.Task < 0 || id.Task >= len(st.Tasks) {
		return nil, errNoTask(id)
	}
	return &st.Tasks[id.Task], nil
}

func (h *Standalone) TaskConfigs(name string) ([]TaskInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.mu.conns[name]
	if !ok {
		return nil, errNoConnector(name)
	}
	out := []TaskInfo{}
	for i, tc := range c.tasks {
		out = append(out, TaskInfo{ID: TaskID{name, i}, Config: maps.Clone(tc)})
	}
	return out, nil
}

// StandaloneConfig is what `ringtail connect standalone` passes in.
type StandaloneConfig struct {
	Worker     map[string]string   // worker.properties
	Connectors []map[string]string // one config per connector file
	Logger     *slog.Logger
	// Ready, when set, is called with the REST URL once every connector
	// is created and the API serves.
	Ready func(url string)
}

// RunStandalone runs a standalone worker until ctx ends, then stops its
// tasks cleanly (in-flight transactions and flushes finish).
func RunStandalone(ctx context.Context, sc StandaloneConfig) error {
	log := sc.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := ParseWorkerConfig(sc.Worker, log)
	if err != nil {
		return err
	}
	// Check every connector before touching Kafka, so a typo fails fast.
	names := map[string]bool{}
	for i, cc := range sc.Connectors {
		name := cc[keyName]
		if v, _ := Validate(cc); v.ErrorCount > 0 || name == "" {
			errs := v.Errors()
			if name == "" {
				errs = append([]string{`name: Missing required configuration "name" which has no default value.`}, errs...)
			}
			return fmt.Errorf("connector config %d (%s) is invalid: %s", i+1, name, strings.Join(errs, "; "))
		}
		if names[name] {
			return fmt.Errorf("connector %s is configured twice", name)
		}
		names[name] = true
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listeners: %w", err)
	}
	defer ln.Close()
	workerID := workerIDFor(cfg.Listen, ln.Addr())
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...), kgo.ClientID("ringtail-connect"))
	if err != nil {
		return fmt.Errorf("bootstrap.servers: %w", err)
	}
	defer cl.Close()
	clusterID, err := waitKafka(ctx, kadm.NewClient(cl), cfg.Bootstrap)
	if err != nil {
		return err
	}
	store := newOffsetStore(cl, cfg.OffsetsTopic, cfg.OffsetFile, cfg.OffsetFlushInterval, log)
	tctx, cancel := context.WithTimeout(ctx, kafkaWait)
	err = store.ensureTopic(tctx, cfg.OffsetsPartitions, cfg.OffsetsReplication)
	cancel()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m := newMetrics(reg)
	h := newStandalone(workerID, clusterID, log)
	h.worker = newWorker(cfg, store, m, h, log)
	defer h.worker.StopAll()
	for _, cc := range sc.Connectors {
		if _, _, err := h.PutConnectorConfig(cc[keyName], cc, false); err != nil {
			return fmt.Errorf("connector %s: %w", cc[keyName], err)
		}
	}
	srv := &http.Server{Handler: newREST(h, reg, m, log), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: httpReadTimeout,
		IdleTimeout: httpIdleTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info("connect: standalone worker started", "rest", url, "worker_id", workerID, "kafka_cluster_id", clusterID,
		"connectors", len(sc.Connectors), "offsets_topic", cfg.OffsetsTopic)
	if sc.Ready != nil {
		sc.Ready(url)
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("REST listener: %w", err)
	}
	log.Info("connect: stopping the worker")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// waitKafka waits for the brokers to answer and returns the cluster id.
func waitKafka(ctx context.Context, adm *kadm.Client, seeds []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, kafkaWait)
	defer cancel()
	for {
		md, err := adm.BrokerMetadata(ctx)
		if err == nil {
			return md.Cluster, nil
		}
		if sleepCtx(ctx, 500*time.Millisecond) != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return "", ctx.Err()
			}
			return "", fmt.Errorf("bootstrap.servers %s: no broker answered within %v: %w", strings.Join(seeds, ","), kafkaWait, err)
		}
	}
}

// workerIDFor is Kafka's worker_id: the REST listener's host:port, the
// machine's hostname when it listens on every interface.
func workerIDFor(listen string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(listen)
	_, port, _ := net.SplitHostPort(bound.String())
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}
