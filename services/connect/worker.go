package connect

// The task runtime: one goroutine per task, its converters, pause and
// resume, restarts after Kafka errors, and the state it reports. It owns
// no configs and no statuses; a herder drives it.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Task and connector states, Kafka's.
const (
	StateRunning    = "RUNNING"
	StatePaused     = "PAUSED"
	StateFailed     = "FAILED"
	StateUnassigned = "UNASSIGNED"
)

// Retry pacing after a Kafka error in a task.
const (
	retryBackoffMin = 250 * time.Millisecond
	retryBackoffMax = 10 * time.Second
	// stopTimeout bounds a task's stop: the transaction or flush in
	// flight finishes within it.
	stopTimeout = 30 * time.Second
)

// TaskID names a connector's task.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

func (id TaskID) String() string { return id.Connector + "-" + strconv.Itoa(id.Task) }

// StatusListener hears the states of tasks; trace is the error of a FAILED
// task.
type StatusListener interface {
	TaskState(id TaskID, state, trace string)
}

// taskFailure is an error of the task or its converters: the task fails
// (errors.tolerance=none) rather than retrying.
type taskFailure struct{ err error }

func (f *taskFailure) Error() string { return f.err.Error() }
func (f *taskFailure) Unwrap() error { return f.err }

func failure(err error) error { return &taskFailure{err: err} }

// Worker runs tasks.
type Worker struct {
	cfg     *WorkerConfig
	log     *slog.Logger
	offsets *offsetStore
	metrics *metrics
	status  StatusListener

	mu struct {
		sync.Mutex
		tasks map[TaskID]*taskRunner
	}
}

func newWorker(cfg *WorkerConfig, offsets *offsetStore, m *metrics, status StatusListener, log *slog.Logger) *Worker {
	w := &Worker{cfg: cfg, log: log, offsets: offsets, metrics: m, status: status}
	w.mu.tasks = map[TaskID]*taskRunner{}
	return w
}

// taskRunner is one running task.
type taskRunner struct {
	id      TaskID
	plugin  *Plugin
	connCfg map[string]string
	taskCfg map[string]string
	log     *slog.Logger

	paused atomic.Bool
	wake   chan struct{} // a pause or resume happened (buffered 1)
	cancel context.CancelFunc
	done   chan struct{}
	// pollCancel ends the poll in flight (a sink's), so a pause takes
	// effect without waiting for records.
	pollCancel atomic.Pointer[context.CancelFunc]
	// reported is the last state told to the listener (task goroutine
	// only).
	reported string
}

func (tr *taskRunner) poke() {
	select {
	case tr.wake <- struct{}{}:
	default:
	}
}

// StartTask starts a task; paused starts it in the PAUSED state.
func (w *Worker) StartTask(id TaskID, p *Plugin, connCfg, taskCfg map[string]string, paused bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.mu.tasks[id]; ok {
		return fmt.Errorf("task %s is already running", id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &taskRunner{id: id, plugin: p, connCfg: connCfg, taskCfg: taskCfg, wake: make(chan struct{}, 1),
		cancel: cancel, done: make(chan struct{}), log: w.log.With("connector", id.Connector, "task", id.Task)}
	tr.paused.Store(paused)
	w.mu.tasks[id] = tr
	go func() {
		defer close(tr.done)
		w.run(ctx, tr)
	}()
	return nil
}

// StopTask stops a task and waits for it (a transaction or flush in flight
// completes first).
func (w *Worker) StopTask(id TaskID) {
	w.mu.Lock()
	tr, ok := w.mu.tasks[id]
	delete(w.mu.tasks, id)
	w.mu.Unlock()
	if !ok {
		return
	}
	tr.cancel()
	select {
	case <-tr.done:
	case <-time.After(stopTimeout):
		tr.log.Warn("connect: task did not stop in time", "timeout", stopTimeout)
	}
	w.metrics.forgetTask(id)
}

// SetPaused pauses or resumes a task.
func (w *Worker) SetPaused(id TaskID, paused bool) {
	w.mu.Lock()
	tr, ok := w.mu.tasks[id]
	w.mu.Unlock()
	if ok && tr.paused.Swap(paused) != paused {
		tr.poke()
		if c := tr.pollCancel.Load(); c != nil && paused {
			(*c)()
		}
	}
}

// Tasks lists the running tasks.
func (w *Worker) Tasks() []TaskID {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]TaskID, 0, len(w.mu.tasks))
	for id := range w.mu.tasks {
		out = append(out, id)
	}
	return out
}

// StopAll stops every task, in parallel.
func (w *Worker) StopAll() {
	var wg sync.WaitGroup
	for _, id := range w.Tasks() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.StopTask(id)
		}()
	}
	wg.Wait()
	w.offsets.writeFile()
}

func (w *Worker) setState(tr *taskRunner, state, trace string) {
	w.metrics.taskState(tr.id, state)
	w.status.TaskState(tr.id, state, trace)
}

// run runs a task until ctx ends or it fails; Kafka errors restart it with
// backoff, task errors fail it.
func (w *Worker) run(ctx context.Context, tr *taskRunner) {
	backoff := retryBackoffMin
	for attempt := 0; ; attempt++ {
		var err error
		if tr.plugin.Type == TypeSource {
			err = w.runSource(ctx, tr)
		} else {
			err = w.runSink(ctx, tr)
		}
		if ctx.Err() != nil {
			return
		}
		var tf *taskFailure
		if errors.As(err, &tf) {
			tr.log.Error("connect: task failed", "err", err)
			w.setState(tr, StateFailed, err.Error())
			return
		}
		tr.log.Warn("connect: task stopped on a Kafka error; restarting it", "err", err, "backoff", backoff, "attempt", attempt+1)
		if sleepCtx(ctx, backoff) != nil {
			return
		}
		backoff = min(backoff*2, retryBackoffMax)
	}
}

// waitRunning blocks while the task is paused, reporting the states; it
// returns false when ctx ends.
func (w *Worker) waitRunning(ctx context.Context, tr *taskRunner) bool {
	for {
		state := StateRunning
		if tr.paused.Load() {
			state = StatePaused
		}
		if tr.reported != state {
			tr.reported = state
			w.setState(tr, state, "")
		}
		if state == StateRunning {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-tr.wake:
		}
	}
}

// converters builds a task's key and value converters: the connector's
// key.converter/value.converter with its own key.converter.* keys when it
// sets them, else the worker's.
func (w *Worker) converters(connCfg map[string]string) (key, value Converter, err error) {
	pick := func(which, workerClass string, workerProps map[string]string) (Converter, error) {
		class, props := workerClass, workerProps
		if c := strings.TrimSpace(connCfg[which]); c != "" {
			class, props = c, map[string]string{}
			for k, v := range connCfg {
				if rest, ok := strings.CutPrefix(k, which+"."); ok {
					props[rest] = v
				}
			}
		}
		c, err := newConverter(class, props, which == keyKeyConverter, w.cfg.SchemaRegistryTLS)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", which, err)
		}
		return c, nil
	}
	if key, err = pick(keyKeyConverter, w.cfg.KeyConverter, w.cfg.KeyProps); err != nil {
		return nil, nil, err
	}
	if value, err = pick(keyValueConverter, w.cfg.ValueConverter, w.cfg.ValueProps); err != nil {
		return nil, nil, err
	}
	return key, value, nil
}
