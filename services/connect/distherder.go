package connect

// The distributed herder's REST side: reads answer from this worker's
// snapshot of the config and status topics; writes are made by the leader
// (a non-leader forwards the request to the leader's URL with
// forward=false, as Kafka does), which appends to the config topic and
// answers once its own snapshot shows the record. A connector restart is
// a restart-connector-<name> record (Kafka's KIP-745 layout) that each
// worker acts on for what it runs; a task restart goes to the worker that
// runs the task.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	errRebalance = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
	errNoLeader  = "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."
	leaderPoll   = 100 * time.Millisecond
	leaderWrite  = 5 * time.Second
)

func (d *Distributed) KafkaClusterID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.clusterID
}

func (d *Distributed) Connectors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string{}, sortedKeys(d.mu.snap.Connectors)...)
}

func connectorType(cfg map[string]string) ConnectorType {
	if p := FindPlugin(cfg[keyConnectorClass]); p != nil {
		return p.Type
	}
	return "unknown"
}

func (d *Distributed) ConnectorInfo(name string) (*ConnectorInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg, ok := d.mu.snap.Connectors[name]
	if !ok {
		return nil, errNoConnector(name)
	}
	info := &ConnectorInfo{Name: name, Config: maps.Clone(cfg), Tasks: []TaskID{}, Type: connectorType(cfg)}
	for i := range d.mu.snap.Tasks[name] {
		info.Tasks = append(info.Tasks, TaskID{name, i})
	}
	return info, nil
}

func (d *Distributed) TaskConfigs(name string) ([]TaskInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.mu.snap.Connectors[name]; !ok {
		return nil, errNoConnector(name)
	}
	out := []TaskInfo{}
	for i, tc := range d.mu.snap.Tasks[name] {
		out = append(out, TaskInfo{ID: TaskID{name, i}, Config: maps.Clone(tc)})
	}
	return out, nil
}

func (d *Distributed) ConnectorStatus(name string) (*ConnectorStatus, error) {
	d.mu.Lock()
	cfg, ok := d.mu.snap.Connectors[name]
	n := len(d.mu.snap.Tasks[name])
	d.mu.Unlock()
	if !ok {
		return nil, errNoConnector(name)
	}
	st := &ConnectorStatus{Name: name, Type: connectorType(cfg), Tasks: []TaskStateInfo{},
		Connector: StateInfo{State: StateUnassigned}}
	if v, ok := d.statuses.get(connectorStatusKey(name)); ok {
		st.Connector = v.info()
	}
	for i := range n {
		s := StateInfo{State: StateUnassigned}
		if v, ok := d.statuses.get(taskStatusKey(TaskID{name, i})); ok {
			s = v.info()
		}
		st.Tasks = append(st.Tasks, TaskStateInfo{ID: i, StateInfo: s})
	}
	return st, nil
}

func (d *Distributed) TaskStatus(id TaskID) (*TaskStateInfo, error) {
	st, err := d.ConnectorStatus(id.Connector)
	if err != nil {
		return nil, err
	}
	if id.Task < 0 || id.Task >= len(st.Tasks) {
		return nil, errNoTask(id)
	}
	return &st.Tasks[id.Task], nil
}

// checkConnectorConfig is PutConnectorConfig's validation, the standalone
// herder's.
func checkConnectorConfig(name string, cfg map[string]string) (map[string]string, error) {
	if strings.TrimSpace(name) == "" {
		return nil, apiErr(http.StatusBadRequest, "Connector name is required")
	}
	if strings.ContainsAny(name, "/\n\r") {
		return nil, apiErr(http.StatusBadRequest, "Connector name %q may not contain '/' or line breaks", name)
	}
	cfg = maps.Clone(cfg)
	if cfg == nil {
		cfg = map[string]string{}
	}
	if n, ok := cfg[keyName]; ok && n != name {
		return nil, apiErr(http.StatusBadRequest, "Connector name configuration (%s) doesn't match connector name in the URL (%s)", n, name)
	}
	cfg[keyName] = name
	if v, _ := Validate(cfg); v.ErrorCount > 0 {
		return nil, invalidConfig(v)
	}
	return cfg, nil
}

// leaderCurrent checks that this worker leads and has read every config
// record written so far; it returns the snapshot.
func (d *Distributed) leaderCurrent() (*configSnapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), configWait)
	defer cancel()
	if leader, _, err := d.awaitRound(ctx); err != nil || !leader {
		return nil, apiErr(http.StatusConflict, "%s", errRebalance)
	}
	if err := d.configs.readToEnd(ctx); err != nil {
		return nil, apiErr(http.StatusInternalServerError, "Reading the config topic: %v", err)
	}
	return d.snapshot(), nil
}

// leaderConnector is leaderCurrent for a write to connector name: 404
// when the snapshot has no such connector.
func (d *Distributed) leaderConnector(name string) (*configSnapshot, error) {
	snap, err := d.leaderCurrent()
	if err != nil {
		return nil, err
	}
	if _, ok := snap.Connectors[name]; !ok {
		return nil, errNoConnector(name)
	}
	return snap, nil
}

// writeConfig appends records to the config topic and waits until this
// worker's snapshot has them.
func (d *Distributed) writeConfig(ctx context.Context, recs ...*kgo.Record) error {
	for _, r := range recs {
		r.Topic, r.Partition = d.cfg.ConfigTopic, 0
	}
	res := d.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("writing to the config topic %s: %w", d.cfg.ConfigTopic, err)
	}
	last := int64(-1)
	for _, r := range res {
		last = max(last, r.Record.Offset)
	}
	return d.configs.waitFor(ctx, map[int32]int64{0: last + 1})
}

func (d *Distributed) restWrite(recs ...*kgo.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), configWait)
	defer cancel()
	if err := d.writeConfig(ctx, recs...); err != nil {
		return apiErr(http.StatusInternalServerError, "%v", err)
	}
	return nil
}

func jsonValue(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (d *Distributed) PutConnectorConfig(name string, cfg map[string]string, replace bool) (*ConnectorInfo, bool, error) {
	cfg, err := checkConnectorConfig(name, cfg)
	if err != nil {
		return nil, false, err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	snap, err := d.leaderCurrent()
	if err != nil {
		return nil, false, err
	}
	_, exists := snap.Connectors[name]
	if exists && !replace {
		return nil, false, apiErr(http.StatusConflict, "Connector %s already exists", name)
	}
	rec := &kgo.Record{Key: []byte(connectorKey(name)), Value: jsonValue(propertiesValue{Properties: cfg})}
	if err := d.restWrite(rec); err != nil {
		return nil, false, err
	}
	d.log.Info("connect: connector config written", "connector", name, "created", !exists)
	info, err := d.ConnectorInfo(name)
	return info, !exists, err
}

func (d *Distributed) DeleteConnector(name string) error {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	snap, err := d.leaderConnector(name)
	if err != nil {
		return err
	}
	if err := d.restWrite(&kgo.Record{Key: []byte(connectorKey(name))}, &kgo.Record{Key: []byte(targetStateKey(name))}); err != nil {
		return err
	}
	keys := []string{connectorStatusKey(name)}
	for i := range snap.Tasks[name] {
		keys = append(keys, taskStatusKey(TaskID{name, i}))
	}
	d.statuses.remove(keys...)
	d.log.Info("connect: connector deleted", "connector", name)
	return nil
}

func (d *Distributed) setTargetState(name, state string) error {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	if _, err := d.leaderConnector(name); err != nil {
		return err
	}
	return d.restWrite(&kgo.Record{Key: []byte(targetStateKey(name)), Value: jsonValue(targetStateValue{State: state})})
}

func (d *Distributed) PauseConnector(name string) error { return d.setTargetState(name, targetPaused) }
func (d *Distributed) ResumeConnector(name string) error {
	return d.setTargetState(name, targetStarted)
}

// restartRequest is a restart-connector-<name> record.
type restartRequest struct {
	Connector    string
	IncludeTasks bool `json:"include-tasks"`
	OnlyFailed   bool `json:"only-failed"`
}

func parseRestart(key string, value []byte) (restartRequest, bool) {
	name, ok := strings.CutPrefix(key, "restart-connector-")
	if !ok || value == nil {
		return restartRequest{}, false
	}
	var rr restartRequest
	if json.Unmarshal(value, &rr) != nil {
		return restartRequest{}, false
	}
	rr.Connector = name
	return rr, true
}

func (d *Distributed) RestartConnector(name string, includeTasks, onlyFailed bool) error {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	if _, err := d.leaderConnector(name); err != nil {
		return err
	}
	rr := restartRequest{IncludeTasks: includeTasks, OnlyFailed: onlyFailed}
	return d.restWrite(&kgo.Record{Key: []byte("restart-connector-" + name), Value: jsonValue(rr)})
}

// runRestarts acts on the restart requests read since the last call, for
// the connectors and tasks this worker runs.
func (d *Distributed) runRestarts() {
	d.mu.Lock()
	rrs := d.mu.restarts
	d.mu.restarts = nil
	a, running := d.mu.assigned, d.mu.running
	d.mu.Unlock()
	if !running {
		return
	}
	for _, rr := range rrs {
		if slices.Contains(a.Connectors, rr.Connector) && !rr.OnlyFailed {
			d.log.Info("connect: connector restarted", "connector", rr.Connector)
		}
		if !rr.IncludeTasks {
			continue
		}
		for _, id := range a.Tasks {
			if id.Connector != rr.Connector {
				continue
			}
			if v, ok := d.statuses.get(taskStatusKey(id)); rr.OnlyFailed && (!ok || v.State != StateFailed) {
				continue
			}
			d.restartLocal(id)
		}
	}
}

// restartLocal restarts a task this worker runs.
func (d *Distributed) restartLocal(id TaskID) bool {
	d.workMu.Lock()
	defer d.workMu.Unlock()
	d.mu.Lock()
	owned := d.mu.running && slices.Contains(d.mu.assigned.Tasks, id)
	d.mu.Unlock()
	if !owned {
		return false
	}
	d.worker.StopTask(id)
	d.startWork(assignment{Tasks: []TaskID{id}})
	d.log.Info("connect: task restarted", "task", id.String())
	return true
}

func (d *Distributed) RestartTask(id TaskID) error {
	snap := d.snapshot()
	if _, ok := snap.Connectors[id.Connector]; !ok {
		return errNoConnector(id.Connector)
	}
	if id.Task < 0 || id.Task >= len(snap.Tasks[id.Connector]) {
		return errNoTask(id)
	}
	if !d.restartLocal(id) {
		return apiErr(http.StatusConflict, "%s", errRebalance)
	}
	return nil
}

// leaderWork makes the task configs of connectors whose config is newer
// than their tasks: task-<name>-<n> records, then commit-<name>.
func (d *Distributed) leaderWork(ctx context.Context) {
	if !d.isLeader() {
		return
	}
	d.mu.Lock()
	snap := d.mu.snap.clone()
	d.mu.Unlock()
	for _, name := range sortedKeys(snap.Connectors) {
		if !snap.needsTasks(name) {
			continue
		}
		d.mu.Lock()
		at, ok := d.mu.written[name]
		done := ok && at == snap.ConnOffset[name]
		d.mu.written[name] = snap.ConnOffset[name]
		d.mu.Unlock()
		if done {
			continue
		}
		cfg := snap.Connectors[name]
		v, p := Validate(cfg)
		if v.ErrorCount > 0 {
			d.log.Warn("connect: connector config in the config topic does not validate; no tasks made", "connector", name, "errors", v.Errors())
			continue
		}
		maxTasks, _ := strconv.Atoi(configValue(cfg, p, keyTasksMax))
		var recs []*kgo.Record
		tcs := p.TaskConfigs(cfg, maxTasks)
		for i, tc := range tcs {
			tc = maps.Clone(tc)
			tc["task.class"] = taskClass(p)
			recs = append(recs, &kgo.Record{Key: []byte(taskKey(TaskID{name, i})), Value: jsonValue(propertiesValue{Properties: tc})})
		}
		recs = append(recs, &kgo.Record{Key: []byte(commitKey(name)), Value: jsonValue(commitValue{Tasks: len(tcs)})})
		wctx, cancel := context.WithTimeout(ctx, leaderWrite)
		err := d.writeConfig(wctx, recs...)
		cancel()
		if err != nil {
			d.log.Warn("connect: writing task configs failed; the next leader writes them", "connector", name, "err", err)
			d.mu.Lock()
			delete(d.mu.written, name)
			d.mu.Unlock()
			continue
		}
		d.log.Info("connect: task configs written", "connector", name, "tasks", len(tcs))
	}
}

// forwarder sends writes a non-leader receives to the leader, and a task
// restart to the worker that runs the task.
func (d *Distributed) forwarder(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet || req.URL.Query().Get("forward") == "false" {
			next.ServeHTTP(w, req)
			return
		}
		target, err := d.forwardTarget(req)
		if err != nil {
			writeErr(w, err)
			return
		}
		if target == "" {
			next.ServeHTTP(w, req)
			return
		}
		d.forward(w, req, target)
	})
}

// forwardTarget is the URL to send req to, "" to serve it here.
func (d *Distributed) forwardTarget(req *http.Request) (string, error) {
	parts := strings.Split(strings.Trim(req.URL.EscapedPath(), "/"), "/")
	if len(parts) == 0 || parts[0] != "connectors" {
		return "", nil
	}
	if len(parts) == 5 && parts[2] == "tasks" && parts[4] == "restart" {
		c, _ := url.PathUnescape(parts[1])
		n, _ := strconv.Atoi(parts[3])
		v, ok := d.statuses.get(taskStatusKey(TaskID{c, n}))
		if !ok || v.WorkerID == d.workerID || v.State == StateUnassigned {
			return "", nil
		}
		return strings.SplitAfter(d.url, "://")[0] + v.WorkerID, nil
	}
	ok := len(parts) == 1 && req.Method == http.MethodPost || // create
		len(parts) == 2 && req.Method == http.MethodDelete ||
		len(parts) == 3 && slices.Contains([]string{"config", "pause", "resume", "restart"}, parts[2])
	if !ok {
		return "", nil
	}
	leader, leaderURL, err := d.awaitRound(req.Context())
	if err != nil || leader {
		return "", err
	}
	return leaderURL, nil
}

// awaitRound waits out a rebalance in progress (bounded by configWait) and
// says whether this worker leads, else the leader's URL.
func (d *Distributed) awaitRound(ctx context.Context) (bool, string, error) {
	deadline := time.Now().Add(configWait)
	for {
		d.mu.Lock()
		leader, leaderURL := d.mu.leader, d.mu.leaderURL
		d.mu.Unlock()
		switch {
		case leader || leaderURL != "":
			return leader, leaderURL, nil
		case time.Now().After(deadline):
			return false, "", apiErr(http.StatusConflict, "%s", errNoLeader)
		}
		if sleepCtx(ctx, leaderPoll) != nil {
			return false, "", apiErr(http.StatusConflict, "%s", errNoLeader)
		}
	}
}

func (d *Distributed) forward(w http.ResponseWriter, req *http.Request, target string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBodyBytes))
	if err != nil {
		writeErr(w, apiErr(http.StatusBadRequest, "Cannot read the request body: %v", err))
		return
	}
	q := req.URL.Query()
	q.Set("forward", "false")
	u := target + req.URL.EscapedPath() + "?" + q.Encode()
	out, err := http.NewRequestWithContext(req.Context(), req.Method, u, bytes.NewReader(body))
	if err != nil {
		writeErr(w, apiErr(http.StatusInternalServerError, "IO Error trying to forward REST request: %v", err))
		return
	}
	for _, h := range []string{"Content-Type", "Accept", "Authorization"} {
		if v := req.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	resp, err := d.fwd.Do(out)
	if err != nil {
		writeErr(w, apiErr(http.StatusInternalServerError, "IO Error trying to forward REST request: %v", err))
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Location"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 16<<20))
}
