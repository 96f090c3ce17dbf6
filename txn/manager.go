package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// The Manager is the coordinator's runtime: it owns the __transaction_state
// partitions this node leads, runs one state machine (Coordinator) per
// partition, and does the I/O the state machine asks for. The caller's
// contract:
//
//  1. Own: for every __transaction_state partition this node leads, call
//     Load with its log and leader epoch (the coordinator epoch the
//     markers carry); Unload when leadership moves away. Requests for ids
//     of a partition not owned answer NOT_COORDINATOR, of one loading
//     COORDINATOR_LOAD_IN_PROGRESS.
//  2. Drive: one call per request; a call returns once its state change
//     is durable in the partition's log.
//  3. Tick: call Tick(now) often (every 100 ms is plenty): transaction
//     timeouts and transactional.id.expiration.ms are decided there.
//  4. Close on shutdown.
//
// Every state change is appended to the partition's log before the
// request is answered. The state machine changes memory when it decides,
// so while an id has a write (or a transaction's markers) in flight, other
// requests for it answer CONCURRENT_TRANSACTIONS; and when an append
// fails, the partition is replayed from its log, so that memory again
// equals what is durable (its requests answer COORDINATOR_LOAD_IN_PROGRESS
// meanwhile, the failed one NOT_COORDINATOR). Describe and List read
// memory, which may be one write ahead of the log for an id with a write
// in flight.
//
// Ending a transaction is three steps, each for one id at a time: append
// PrepareCommit/PrepareAbort, write the markers to every partition in the
// transaction (MarkerWriter; failed partitions are retried with backoff
// until written or the partition is unloaded), append
// CompleteCommit/CompleteAbort. A load resumes the markers of
// transactions it finds prepared.
//
// Lock order: Manager.mu only; it is never held across a log append, a
// replay, a producer id allocation or a MarkerWriter call.

// StateTopic is the internal topic that holds transaction state.
const StateTopic = "__transaction_state"

// Limits and Kafka's defaults.
const (
	// MaxTransactionalIDBytes bounds a transactional id. Kafka has no
	// limit of its own, and ids that tools generate run long (Flink's
	// sink: job, operator, subtask and a counter; Streams: application id
	// and task), so the bound is what the id's record key can hold:
	// TxnMetadataKey v0 writes it as a string with an int16 length.
	// Flexible request versions could carry more.
	MaxTransactionalIDBytes = math.MaxInt16
	// DefaultNumPartitions is transaction.state.log.num.partitions.
	DefaultNumPartitions = 50
	// DefaultMaxTimeoutMs is transaction.max.timeout.ms.
	DefaultMaxTimeoutMs = 900_000
	// DefaultExpirationMs is transactional.id.expiration.ms.
	DefaultExpirationMs = 7 * 24 * 3600 * 1000

	// markerBackoffMin and markerBackoffMax bound the wait before
	// writing markers again to partitions that failed.
	markerBackoffMin = 50 * time.Millisecond
	markerBackoffMax = time.Second
	// markerAttemptTimeout bounds one MarkerWriter call.
	markerAttemptTimeout = 30 * time.Second
	// reloadBackoffMax bounds the wait between replays of a partition
	// whose replay after a failed append failed too.
	reloadBackoffMax = 5 * time.Second
	// allocateTimeout bounds a producer id allocation Tick starts.
	allocateTimeout = 10 * time.Second
	// closeWait bounds how long Close waits for background work.
	closeWait = 5 * time.Second
	// initAllocateTries bounds how often InitProducerID allocates a
	// producer id because another request took the one it allocated.
	initAllocateTries = 3
)

// StateLog is one __transaction_state partition led by this node.
type StateLog interface {
	// Append appends records (whole magic-v2 batches); done runs once
	// the append is durable (and replicated as acks=all asks) or failed,
	// maybe inside the call. Append must not block.
	Append(records []byte, done func(error))
	Offsets() (logStart, highWatermark model.Offset)
	// Read returns whole batches from the one holding offset (at least
	// one), up to about maxBytes; empty at the high watermark.
	Read(offset model.Offset, maxBytes int32) ([]byte, error)
}

// MarkerWriter writes commit and abort markers to partition leaders.
type MarkerWriter interface {
	// WriteMarkers writes a COMMIT (m.Commit) or ABORT marker for
	// m.ProducerID at m.Epoch, with coordinatorEpoch, to each of
	// m.Partitions (wherever their leaders are) and returns the
	// partitions that failed with their errors (empty: all written). An
	// error wrapping kerr.UnknownTopicOrPartition means the partition is
	// gone and counts as written.
	WriteMarkers(ctx context.Context, m *Markers, coordinatorEpoch int32) map[model.TopicPartition]error
}

// ManagerConfig configures a Manager. Zero values take Kafka's defaults.
type ManagerConfig struct {
	NumPartitions int32 // transaction.state.log.num.partitions
	MaxTimeoutMs  int32 // transaction.max.timeout.ms
	ExpirationMs  int64 // transactional.id.expiration.ms
	// AllocateProducerID hands out a new producer id; it may block (the
	// Manager never calls it holding its lock).
	AllocateProducerID func(ctx context.Context) (int64, error)
	Markers            MarkerWriter
	Logger             *slog.Logger
	// Now is the clock of requests; nil: time.Now.
	Now func() time.Time
}

// Manager is the transaction coordinator of one node. See the contract
// above.
type Manager struct {
	cfg ManagerConfig
	log *slog.Logger
	// ctx ends with Close; every partition's context derives from it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts every goroutine the Manager starts.
	wg sync.WaitGroup
	// commits and aborts count completed transactions (metrics).
	commits, aborts atomic.Uint64

	mu struct {
		sync.Mutex
		closed bool
		parts  map[int32]*partition
		// spare are producer ids allocated ahead, outside the lock; the
		// state machines take them when they need one.
		spare      []int64
		allocating bool // Tick's background allocation is running
	}
}

// partition is one load of a __transaction_state partition: Load makes
// one, Unload ends it, and a failed append replaces it by a fresh replay.
type partition struct {
	id    int32
	epoch int32 // the leader epoch: the coordinator epoch of markers
	log   StateLog
	// ctx ends with this load (Unload, a reload, Close): marker writing
	// stops.
	ctx    context.Context
	cancel context.CancelFunc
	// ops counts this load's op goroutines; a reload waits for them, so
	// that it replays every append they made.
	ops sync.WaitGroup

	// Guarded by Manager.mu.
	loading   bool // Load is replaying
	reloading bool // an append failed; being replayed from the log
	coord     *Coordinator
	busy      map[string]*op // ids with a write or markers in flight
}

// op is the work in flight for one id: a state write, and for the end of
// a transaction its markers and the completing write.
type op struct {
	id string
	// persisted closes once the first write is durable or failed
	// (persistErr, set before).
	persisted  chan struct{}
	persistErr error
	// done closes once the op is over and the id free again.
	done chan struct{}
}

// errNoSparePID is the state machine's allocator finding no spare
// producer id; the Manager allocates one outside its lock and retries.
var errNoSparePID = errors.New("txn: no producer id allocated ahead")

// NewManager returns a Manager that owns no partitions yet.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = DefaultNumPartitions
	}
	if cfg.MaxTimeoutMs <= 0 {
		cfg.MaxTimeoutMs = DefaultMaxTimeoutMs
	}
	if cfg.ExpirationMs <= 0 {
		cfg.ExpirationMs = DefaultExpirationMs
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "txn")}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.parts = map[int32]*partition{}
	return m
}

// NumPartitions is the partition count of __transaction_state.
func (m *Manager) NumPartitions() int32 { return m.cfg.NumPartitions }

// PartitionFor is the __transaction_state partition of a transactional
// id: abs(javaStringHashCode(id)) % partitions, as in Kafka (Utils.abs
// maps MinInt32 to 0), the same function groups use.
func PartitionFor(transactionalID string, partitions int32) int32 {
	var h int32
	for _, r := range transactionalID {
		if r >= 0x10000 { // hashCode runs over UTF-16: a surrogate pair
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// StateName is a state as Kafka prints it (DescribeTransactions,
// ListTransactions, kafka-transactions.sh).
func StateName(s State) string { return s.String() }

func validID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: the transactional id is empty", kerr.InvalidRequest)
	}
	if len(id) > MaxTransactionalIDBytes {
		return fmt.Errorf("%w: the transactional id is %d bytes; the limit is %d", kerr.InvalidRequest, len(id), MaxTransactionalIDBytes)
	}
	return nil
}

// stateConfig is the state machines' configuration: producer ids come
// from the spare ones (the state machine runs under m.mu).
func (m *Manager) stateConfig() Config {
	return Config{MaxTimeoutMs: m.cfg.MaxTimeoutMs, ExpirationMs: m.cfg.ExpirationMs, AllocateProducerID: m.takeSpareLocked}
}

func (m *Manager) takeSpareLocked() (int64, error) {
	if len(m.mu.spare) == 0 {
		return -1, errNoSparePID
	}
	pid := m.mu.spare[0]
	m.mu.spare = m.mu.spare[1:]
	return pid, nil
}

// partLocked is the loaded partition of id.
func (m *Manager) partLocked(id string) (*partition, error) {
	n := PartitionFor(id, m.cfg.NumPartitions)
	p := m.mu.parts[n]
	if m.mu.closed || p == nil {
		return nil, fmt.Errorf("%w: %s belongs to %s-%d, not led here", kerr.NotCoordinator, id, StateTopic, n)
	}
	if p.loading || p.reloading {
		return nil, fmt.Errorf("%w: %s-%d is loading", kerr.CoordinatorLoadInProgress, StateTopic, n)
	}
	return p, nil
}

// checkLocked is partLocked for a request that may change id's state.
func (m *Manager) checkLocked(id string) (*partition, error) {
	p, err := m.partLocked(id)
	if err != nil {
		return nil, err
	}
	if p.busy[id] != nil {
		return nil, fmt.Errorf("%w: %s has a state change in flight", kerr.ConcurrentTransactions, id)
	}
	return p, nil
}

func (m *Manager) newPartitionLocked(id, epoch int32, log StateLog) *partition {
	p := &partition{id: id, epoch: epoch, log: log, busy: map[string]*op{}}
	p.ctx, p.cancel = context.WithCancel(m.ctx)
	return p
}

// Load makes this node the coordinator of partition n of
// __transaction_state at leader epoch coordinatorEpoch and replays log
// into memory; requests for its ids answer COORDINATOR_LOAD_IN_PROGRESS
// until it returns. Markers of transactions left prepared are written in
// the background. A partition already owned is unloaded first.
func (m *Manager) Load(n int32, coordinatorEpoch int32, log StateLog) error {
	if n < 0 || n >= m.cfg.NumPartitions {
		return fmt.Errorf("txn: load %s-%d: the topic has %d partitions", StateTopic, n, m.cfg.NumPartitions)
	}
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return fmt.Errorf("txn: load %s-%d: %w", StateTopic, n, model.ErrClosed)
	}
	if old := m.mu.parts[n]; old != nil {
		m.unloadLocked(old)
	}
	p := m.newPartitionLocked(n, coordinatorEpoch, log)
	p.loading = true
	m.mu.parts[n] = p
	m.mu.Unlock()

	start := time.Now()
	coord, st, err := replay(log, n, m.cfg.NumPartitions, m.stateConfig(), m.log)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.parts[n] != p {
		return fmt.Errorf("txn: load %s-%d: unloaded while loading", StateTopic, n)
	}
	if err != nil {
		m.unloadLocked(p)
		return fmt.Errorf("txn: load %s-%d: %w", StateTopic, n, err)
	}
	p.coord, p.loading = coord, false
	resumed := m.resumeLocked(p)
	m.log.Debug("loaded transaction state partition", "partition", n, "coordinator_epoch", coordinatorEpoch,
		"transactional_ids", len(coord.txns), "resumed_markers", resumed, "records", st.records,
		"tombstones", st.tombstones, "skipped_batches", st.skipped, "bytes", st.bytes, "took", time.Since(start))
	return nil
}

// resumeLocked starts writing the markers of p's prepared transactions.
func (m *Manager) resumeLocked(p *partition) int {
	pend := p.coord.Pending()
	nowMs := m.cfg.Now().UnixMilli()
	for _, mk := range pend {
		m.startLocked(p, mk.TxnID, Effects{Markers: mk}, nowMs)
	}
	return len(pend)
}

// Unload gives up partition n (its leadership moved): its ids answer
// NOT_COORDINATOR and marker writing for them stops; the next leader
// resumes it from the log.
func (m *Manager) Unload(n int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.mu.parts[n]; p != nil {
		m.unloadLocked(p)
	}
}

func (m *Manager) unloadLocked(p *partition) {
	if m.mu.parts[p.id] == p {
		delete(m.mu.parts, p.id)
	}
	p.cancel()
}

// Owned lists the partitions this Manager owns (loaded or loading).
func (m *Manager) Owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int32, 0, len(m.mu.parts))
	for n := range m.mu.parts {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Loading reports whether a partition is being loaded or reloaded: its
// transactions are not known yet (ListTransactions answers
// COORDINATOR_LOAD_IN_PROGRESS meanwhile, as Kafka).
func (m *Manager) Loading() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.mu.parts {
		if p.loading || p.reloading {
			return true
		}
	}
	return false
}

// Tick advances time: transactions open past their timeout are aborted
// (and their producer fenced), ids idle past transactional.id.expiration.ms
// are tombstoned; both are written like an EndTxn's. Ids with a write in
// flight wait for the next tick.
func (m *Manager) Tick(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return
	}
	nowMs := now.UnixMilli()
	needPID := false
	for _, n := range m.sortedPartsLocked() {
		p := m.mu.parts[n]
		if p.loading || p.reloading {
			continue
		}
		err := p.coord.tick(nowMs, func(id string) bool { return p.busy[id] != nil }, func(id string, eff Effects) {
			m.startLocked(p, id, eff, nowMs)
		})
		switch {
		case errors.Is(err, errNoSparePID):
			needPID = true
		case err != nil:
			m.log.Warn("transaction timeout: bumping the producer epoch failed; will retry", "partition", n, "err", err)
		}
	}
	if needPID && !m.mu.allocating {
		// A timed-out producer's epoch is exhausted: it needs a new
		// producer id, which must not be allocated under the lock.
		m.mu.allocating = true
		m.wg.Add(1)
		go m.allocateSpare()
	}
}

func (m *Manager) sortedPartsLocked() []int32 {
	ns := make([]int32, 0, len(m.mu.parts))
	for n := range m.mu.parts {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	return ns
}

func (m *Manager) allocateSpare() {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, allocateTimeout)
	pid, err := m.cfg.AllocateProducerID(ctx)
	cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.allocating = false
	if err != nil {
		m.log.Warn("allocating a producer id for a transaction timeout failed; will retry", "err", err)
		return
	}
	m.mu.spare = append(m.mu.spare, pid)
}

// Close stops marker writing and replays and waits (a bounded while) for
// them to end. Requests answer NOT_COORDINATOR afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return
	}
	m.mu.closed = true
	for _, p := range m.mu.parts {
		m.unloadLocked(p)
	}
	m.mu.Unlock()
	m.cancel()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		m.log.Warn("closing the transaction coordinator: background work still running", "waited", closeWait)
	}
}

// startLocked marks id busy and runs eff (Persist, then Markers and the
// completing write) on a new goroutine.
func (m *Manager) startLocked(p *partition, id string, eff Effects, nowMs int64) *op {
	o := &op{id: id, persisted: make(chan struct{}), done: make(chan struct{})}
	p.busy[id] = o
	var batch []byte
	if len(eff.Persist) > 0 {
		batch = buildBatch(eff.Persist, nowMs)
	}
	p.ops.Add(1)
	m.wg.Add(1)
	go m.runOp(p, o, batch, eff.Markers)
	return o
}

// releaseLocked frees o's id.
func (p *partition) releaseLocked(o *op) {
	if p.busy[o.id] == o {
		delete(p.busy, o.id)
	}
}

// liveLocked says whether p is still the loaded partition, so that its
// state machine may be used.
func (m *Manager) liveLocked(p *partition) bool {
	return m.mu.parts[p.id] == p && !p.loading && !p.reloading
}

func (m *Manager) runOp(p *partition, o *op, batch []byte, mk *Markers) {
	defer m.wg.Done()
	defer p.ops.Done()
	defer close(o.done)
	if batch != nil {
		if err := appendWait(p.log, batch); err != nil {
			o.persistErr = fmt.Errorf("%w: writing %s-%d: %v", kerr.NotCoordinator, StateTopic, p.id, err)
			m.mu.Lock()
			p.releaseLocked(o)
			m.reloadLocked(p, o.id, err)
			m.mu.Unlock()
			close(o.persisted)
			return
		}
	}
	if mk == nil {
		m.mu.Lock()
		p.releaseLocked(o)
		m.mu.Unlock()
		close(o.persisted)
		return
	}
	close(o.persisted)
	if !m.writeMarkers(p, mk) {
		m.mu.Lock()
		p.releaseLocked(o)
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	if !m.liveLocked(p) {
		p.releaseLocked(o)
		m.mu.Unlock()
		return
	}
	nowMs := m.cfg.Now().UnixMilli()
	eff, err := p.coord.MarkersWritten(mk.TxnID, mk.ProducerID, mk.Epoch, nowMs)
	if err != nil {
		// Not expected: the id was busy all along.
		m.log.Error("completing a transaction after its markers failed", "transactional_id", mk.TxnID, "err", err)
		p.releaseLocked(o)
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	err = appendWait(p.log, buildBatch(eff.Persist, nowMs))
	m.mu.Lock()
	p.releaseLocked(o)
	if err != nil {
		m.reloadLocked(p, o.id, err)
	} else if mk.Commit {
		m.commits.Add(1)
	} else {
		m.aborts.Add(1)
	}
	m.mu.Unlock()
}

// appendWait appends batch and waits for the outcome. The done callback
// only hands the outcome over: it never blocks the log's goroutine.
func appendWait(l StateLog, batch []byte) error {
	ch := make(chan error, 1)
	l.Append(batch, func(err error) {
		select {
		case ch <- err:
		default: // a second outcome; the log promised one
		}
	})
	return <-ch
}

// writeMarkers writes mk's markers, retrying the partitions that failed
// with backoff; false: p's load ended first.
func (m *Manager) writeMarkers(p *partition, mk *Markers) bool {
	remaining := mk.Partitions
	backoff := markerBackoffMin
	for attempt := 1; len(remaining) > 0; attempt++ {
		if p.ctx.Err() != nil {
			return false
		}
		try := *mk
		try.Partitions = remaining
		ctx, cancel := context.WithTimeout(p.ctx, markerAttemptTimeout)
		failed := m.cfg.Markers.WriteMarkers(ctx, &try, p.epoch)
		cancel()
		var left []model.TopicPartition
		var firstErr error
		for _, tp := range remaining {
			if err := failed[tp]; err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
				left = append(left, tp)
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		remaining = left
		if len(remaining) == 0 {
			break
		}
		if attempt == 1 || attempt%20 == 0 {
			m.log.Warn("writing transaction markers failed; retrying", "transactional_id", mk.TxnID, "producer_id", mk.ProducerID,
				"epoch", mk.Epoch, "commit", mk.Commit, "partitions_left", len(remaining), "attempt", attempt, "err", firstErr)
		}
		t := time.NewTimer(backoff)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		backoff = min(2*backoff, markerBackoffMax)
	}
	return p.ctx.Err() == nil
}

// reloadLocked replays p from its log after an append of id's failed:
// the state machine changed memory when it decided, so memory is ahead of
// the log until then.
func (m *Manager) reloadLocked(p *partition, id string, cause error) {
	if !m.liveLocked(p) {
		return
	}
	m.log.Error("writing to __transaction_state failed; reloading the partition from its log", "partition", p.id, "transactional_id", id, "err", cause)
	p.reloading = true
	p.cancel()
	m.wg.Add(1)
	go m.reload(p)
}

func (m *Manager) reload(p *partition) {
	defer m.wg.Done()
	p.ops.Wait() // every append of this load has its outcome: replay sees them all
	backoff := 100 * time.Millisecond
	for {
		coord, _, err := replay(p.log, p.id, m.cfg.NumPartitions, m.stateConfig(), m.log)
		m.mu.Lock()
		if m.mu.closed || m.mu.parts[p.id] != p {
			m.mu.Unlock()
			return
		}
		if err == nil {
			np := m.newPartitionLocked(p.id, p.epoch, p.log)
			np.coord = coord
			m.mu.parts[p.id] = np
			resumed := m.resumeLocked(np)
			m.mu.Unlock()
			m.log.Info("reloaded transaction state partition", "partition", p.id, "resumed_markers", resumed)
			return
		}
		m.mu.Unlock()
		m.log.Error("reloading a transaction state partition failed; will retry", "partition", p.id, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, reloadBackoffMax)
	}
}

// waitPersisted waits for o's first write. A ctx that ends first answers
// COORDINATOR_NOT_AVAILABLE, Kafka's answer for a __transaction_state
// append that timed out; the write goes on and the id stays busy until
// its outcome.
func waitPersisted(ctx context.Context, o *op) error {
	select {
	case <-o.persisted:
		return o.persistErr
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: the write to %s is not durable yet: %v", kerr.CoordinatorNotAvailable, o.id, StateTopic, ctx.Err())
	}
}

// allocError is the answer for a failed producer id allocation: the
// error's own code if it has one, else COORDINATOR_LOAD_IN_PROGRESS
// (Kafka's answer while no producer id block is available; retriable).
func allocError(err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return err
	}
	return fmt.Errorf("%w: allocating a producer id: %v", kerr.CoordinatorLoadInProgress, err)
}

// InitProducerID gives id its producer id and a new epoch, fencing older
// producers of the id (see Coordinator.InitProducerID). An open
// transaction of the older producer is aborted in the background and the
// call answers CONCURRENT_TRANSACTIONS; the client retries.
func (m *Manager) InitProducerID(ctx context.Context, id string, timeoutMs int32, expectedPID int64, expectedEpoch int16) (int64, int16, error) {
	if err := validID(id); err != nil {
		return -1, -1, err
	}
	for try := 0; try < initAllocateTries; try++ {
		m.mu.Lock()
		p, err := m.checkLocked(id)
		if err != nil {
			m.mu.Unlock()
			return -1, -1, err
		}
		if len(m.mu.spare) == 0 && needsPID(p.coord, id) {
			m.mu.Unlock()
			pid, err := m.cfg.AllocateProducerID(ctx)
			if err != nil {
				return -1, -1, allocError(err)
			}
			m.mu.Lock()
			m.mu.spare = append(m.mu.spare, pid)
			m.mu.Unlock()
			continue
		}
		nowMs := m.cfg.Now().UnixMilli()
		pid, epoch, eff, err := p.coord.InitProducerID(id, timeoutMs, expectedPID, expectedEpoch, nowMs)
		if errors.Is(err, errNoSparePID) {
			m.mu.Unlock()
			continue // another request took the spare id
		}
		if len(eff.Persist) == 0 {
			m.mu.Unlock()
			return pid, epoch, err
		}
		o := m.startLocked(p, id, eff, nowMs)
		m.mu.Unlock()
		if err != nil {
			return -1, -1, err // the abort of the old transaction goes on
		}
		if err := waitPersisted(ctx, o); err != nil {
			return -1, -1, err
		}
		return pid, epoch, nil
	}
	return -1, -1, fmt.Errorf("%w: %s: no producer id available", kerr.CoordinatorLoadInProgress, id)
}

// needsPID says whether InitProducerID of id may need a new producer id:
// the id is new, or its epoch is exhausted.
func needsPID(c *Coordinator, id string) bool {
	t, ok := c.txns[id]
	return !ok || t.Epoch >= math.MaxInt16-1
}

// AddPartitions adds tps to id's transaction, starting one when none is
// open (AddPartitionsToTxn; AddOffsetsToTxn with the group's
// __consumer_offsets partition).
func (m *Manager) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, tps []model.TopicPartition) error {
	if err := validID(id); err != nil {
		return err
	}
	m.mu.Lock()
	p, err := m.checkLocked(id)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	nowMs := m.cfg.Now().UnixMilli()
	eff, err := p.coord.AddPartitions(id, pid, epoch, tps, nowMs)
	if err != nil || len(eff.Persist) == 0 {
		m.mu.Unlock()
		return err
	}
	o := m.startLocked(p, id, eff, nowMs)
	m.mu.Unlock()
	return waitPersisted(ctx, o)
}

// Verify is KIP-890's verification (AddPartitionsToTxn v4+ verify_only):
// nil for each of tps in id's ongoing transaction at pid and epoch,
// INVALID_TXN_STATE for one not in it, or for all of them the reason the
// transaction cannot be checked (NOT_COORDINATOR, the producer's
// fencing, CONCURRENT_TRANSACTIONS while a state change is in flight or
// the transaction is completing). Nothing changes.
func (m *Manager) Verify(id string, pid int64, epoch int16, tps []model.TopicPartition) map[model.TopicPartition]error {
	out := make(map[model.TopicPartition]error, len(tps))
	all := func(err error) map[model.TopicPartition]error {
		for _, tp := range tps {
			out[tp] = err
		}
		return out
	}
	if err := validID(id); err != nil {
		return all(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.checkLocked(id)
	if err != nil {
		return all(err)
	}
	t, err := p.coord.check(id, pid, epoch)
	if err != nil {
		return all(err)
	}
	switch t.State {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		return all(fmt.Errorf("%w: %s is completing a transaction", kerr.ConcurrentTransactions, id))
	}
	for _, tp := range tps {
		if _, in := t.Partitions[tp]; in && t.State == kmsg.TransactionStateOngoing {
			out[tp] = nil
			continue
		}
		out[tp] = fmt.Errorf("%w: %s was not added to the transaction of %s", kerr.InvalidTxnState, tp, id)
	}
	return out
}

// EndTxn commits or aborts id's transaction. It answers once the markers
// are written and the completion is durable, or, once PrepareCommit or
// PrepareAbort is durable, when ctx ends (the decision is made; the
// markers go on in the background and requests for id answer
// CONCURRENT_TRANSACTIONS until they are written).
func (m *Manager) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) error {
	if err := validID(id); err != nil {
		return err
	}
	m.mu.Lock()
	p, err := m.checkLocked(id)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	nowMs := m.cfg.Now().UnixMilli()
	eff, err := p.coord.EndTxn(id, pid, epoch, commit, nowMs)
	if err != nil || len(eff.Persist) == 0 {
		m.mu.Unlock()
		return err
	}
	o := m.startLocked(p, id, eff, nowMs)
	m.mu.Unlock()
	if err := waitPersisted(ctx, o); err != nil {
		return err
	}
	select {
	case <-o.done:
	case <-ctx.Done():
	}
	return nil
}

// Describe returns id's state (DescribeTransactions): TRANSACTIONAL_ID_NOT_FOUND
// for an id it does not know.
func (m *Manager) Describe(id string) (Txn, error) {
	if validID(id) != nil {
		return Txn{}, fmt.Errorf("%w: %q", kerr.TransactionalIDNotFound, id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.partLocked(id)
	if err != nil {
		return Txn{}, err
	}
	t, ok := p.coord.Get(id)
	if !ok {
		return Txn{}, fmt.Errorf("%w: %s", kerr.TransactionalIDNotFound, id)
	}
	return t, nil
}

// List returns the transactions of the loaded partitions
// (ListTransactions), sorted by id, filtered by state name (StateName's;
// an unknown name matches nothing), by producer id, and, when
// minDurationMs > 0, to transactions ongoing for longer than
// minDurationMs. Empty filters match everything.
func (m *Manager) List(states []string, pids []int64, minDurationMs int64) []Txn {
	var wantState map[State]bool
	if len(states) > 0 {
		wantState = map[State]bool{}
		for _, name := range states {
			for s := kmsg.TransactionStateEmpty; s <= kmsg.TransactionStatePrepareEpochFence; s++ {
				if StateName(s) == name {
					wantState[s] = true
				}
			}
		}
	}
	var wantPID map[int64]bool
	if len(pids) > 0 {
		wantPID = map[int64]bool{}
		for _, pid := range pids {
			wantPID[pid] = true
		}
	}
	nowMs := m.cfg.Now().UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Txn
	for _, p := range m.mu.parts {
		if p.loading || p.reloading {
			continue
		}
		for id, t := range p.coord.txns {
			if wantState != nil && !wantState[t.State] || wantPID != nil && !wantPID[t.ProducerID] {
				continue
			}
			if minDurationMs > 0 && (t.State != kmsg.TransactionStateOngoing || nowMs-t.StartMs <= minDurationMs) {
				continue
			}
			cp, _ := p.coord.Get(id)
			out = append(out, cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Stats is what the metrics show of the coordinator.
type Stats struct {
	// Open counts transactions in Ongoing, PrepareCommit or PrepareAbort;
	// OldestOpenMs is the age of the oldest (0 when none).
	Open         int
	OldestOpenMs int64
	// Commits and Aborts count transactions completed here since start.
	Commits, Aborts uint64
}

// Stats returns the coordinator's counts.
func (m *Manager) Stats() Stats {
	st := Stats{Commits: m.commits.Load(), Aborts: m.aborts.Load()}
	nowMs := m.cfg.Now().UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.mu.parts {
		if p.coord == nil {
			continue
		}
		for _, t := range p.coord.txns {
			switch t.State {
			case kmsg.TransactionStateOngoing, kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
				st.Open++
				st.OldestOpenMs = max(st.OldestOpenMs, nowMs-t.StartMs)
			}
		}
	}
	return st
}
