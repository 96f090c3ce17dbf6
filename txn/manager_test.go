package txn

// These tests prove the runtime around the state machine: every state
// change is durable in __transaction_state before it is answered, markers
// reach every partition (retried when they fail) before a transaction is
// completed, a reloaded partition equals its log and finishes what a
// previous coordinator left prepared, and ids with work in flight answer
// CONCURRENT_TRANSACTIONS. They use an in-memory log, a scripted marker
// writer and a fake clock, and wait on conditions with deadlines.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// memLog is a StateLog in memory. Appends can be made to fail, or held
// until released; Reads can be held to keep a load in progress.
type memLog struct {
	mu       sync.Mutex
	batches  [][]byte
	next     int64
	failNext int   // fail this many appends
	failErr  error // with this error
	hold     bool  // keep appends' outcomes until release
	held     []func()
	readGate chan struct{} // when set, Read waits for it to close
}

func (l *memLog) Append(records []byte, done func(error)) {
	l.mu.Lock()
	if l.failNext > 0 {
		l.failNext--
		err := l.failErr
		l.mu.Unlock()
		done(err)
		return
	}
	b := append([]byte(nil), records...)
	binary.BigEndian.PutUint64(b, uint64(l.next))
	l.next += int64(int32(binary.BigEndian.Uint32(b[23:]))) + 1
	l.batches = append(l.batches, b)
	if l.hold {
		l.held = append(l.held, func() { done(nil) })
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	done(nil)
}

// release reports the held appends' outcomes and stops holding.
func (l *memLog) release() {
	l.mu.Lock()
	held := l.held
	l.held, l.hold = nil, false
	l.mu.Unlock()
	for _, f := range held {
		f()
	}
}

func (l *memLog) heldCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}

func (l *memLog) fail(n int, err error) {
	l.mu.Lock()
	l.failNext, l.failErr = n, err
	l.mu.Unlock()
}

func (l *memLog) Offsets() (model.Offset, model.Offset) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, model.Offset(l.next)
}

func (l *memLog) Read(offset model.Offset, maxBytes int32) ([]byte, error) {
	l.mu.Lock()
	gate := l.readGate
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		last := int64(binary.BigEndian.Uint64(b)) + int64(int32(binary.BigEndian.Uint32(b[23:])))
		if last < int64(offset) {
			continue
		}
		if len(out) > 0 && len(out)+len(b) > int(maxBytes) {
			break
		}
		out = append(out, b...)
	}
	return out, nil
}

// state replays the log into a state machine: what a new coordinator
// would know.
func (l *memLog) state(t *testing.T, n, partitions int32) *Coordinator {
	t.Helper()
	c, _, err := replay(l, n, partitions, Config{}, discardLogger())
	if err != nil {
		t.Fatalf("replaying the log: %v", err)
	}
	return c
}

// written is one marker a partition got.
type written struct {
	tp               model.TopicPartition
	pid              int64
	epoch            int16
	commit           bool
	coordinatorEpoch int32
}

// fakeMarkers records markers; partitions can fail a number of times, and
// calls can be blocked until unblocked (or their context ends).
type fakeMarkers struct {
	mu      sync.Mutex
	failing map[model.TopicPartition]int // failures left; -1: forever
	failErr map[model.TopicPartition]error
	calls   map[model.TopicPartition]int
	written []written
	block   chan struct{}
}

func newFakeMarkers() *fakeMarkers {
	return &fakeMarkers{failing: map[model.TopicPartition]int{}, failErr: map[model.TopicPartition]error{}, calls: map[model.TopicPartition]int{}}
}

func (f *fakeMarkers) WriteMarkers(ctx context.Context, m *Markers, coordinatorEpoch int32) map[model.TopicPartition]error {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			out := map[model.TopicPartition]error{}
			for _, tp := range m.Partitions {
				out[tp] = ctx.Err()
			}
			return out
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[model.TopicPartition]error{}
	for _, tp := range m.Partitions {
		f.calls[tp]++
		if n := f.failing[tp]; n != 0 {
			if n > 0 {
				f.failing[tp] = n - 1
			}
			err := f.failErr[tp]
			if err == nil {
				err = errors.New("leader not reachable")
			}
			out[tp] = err
			if !errors.Is(err, kerr.UnknownTopicOrPartition) {
				continue
			}
		}
		f.written = append(f.written, written{tp, m.ProducerID, m.Epoch, m.Commit, coordinatorEpoch})
	}
	return out
}

func (f *fakeMarkers) setBlock(c chan struct{}) {
	f.mu.Lock()
	f.block = c
	f.mu.Unlock()
}

func (f *fakeMarkers) got() []written {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]written(nil), f.written...)
}

func (f *fakeMarkers) callsFor(tp model.TopicPartition) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[tp]
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

const (
	testPartitions = 4
	testCoordEpoch = 7
)

// env is a Manager over one memLog per partition.
type env struct {
	t       *testing.T
	m       *Manager
	logs    map[int32]*memLog
	markers *fakeMarkers
	clock   *fakeClock
	mu      sync.Mutex
	nextPID int64
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, logs: map[int32]*memLog{}, markers: newFakeMarkers(), clock: &fakeClock{t: time.UnixMilli(1_700_000_000_000)}, nextPID: 5000}
	for n := int32(0); n < testPartitions; n++ {
		e.logs[n] = &memLog{}
	}
	e.m = e.newManager()
	t.Cleanup(e.m.Close)
	return e
}

func (e *env) newManager() *Manager {
	return NewManager(ManagerConfig{
		NumPartitions: testPartitions, MaxTimeoutMs: 60_000, ExpirationMs: 3_600_000,
		AllocateProducerID: func(context.Context) (int64, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.nextPID++
			return e.nextPID, nil
		},
		Markers: e.markers, Logger: discardLogger(), Now: e.clock.Now,
	})
}

// loadAll makes m own every partition.
func (e *env) loadAll(m *Manager) {
	e.t.Helper()
	for n := int32(0); n < testPartitions; n++ {
		if err := m.Load(n, testCoordEpoch, e.logs[n]); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) logOf(id string) *memLog { return e.logs[PartitionFor(id, testPartitions)] }

// durable is id's state as its log says.
func (e *env) durable(id string) (Txn, bool) {
	e.t.Helper()
	return e.logOf(id).state(e.t, PartitionFor(id, testPartitions), testPartitions).Get(id)
}

func (e *env) init(id string, timeoutMs int32) (int64, int16) {
	e.t.Helper()
	pid, epoch, err := e.m.InitProducerID(ctx(e.t), id, timeoutMs, -1, -1)
	if err != nil {
		e.t.Fatalf("init %s: %v", id, err)
	}
	return pid, epoch
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually waits for cond, failing the test after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) waitState(id string, want State) {
	e.t.Helper()
	eventually(e.t, fmt.Sprintf("%s to be durably %s", id, StateName(want)), func() bool {
		d, ok := e.durable(id)
		if !ok || d.State != want {
			return false
		}
		t, err := e.m.Describe(id)
		return err == nil && t.State == want
	})
}

func sameTxn(a, b Txn) bool {
	if a.ID != b.ID || a.ProducerID != b.ProducerID || a.Epoch != b.Epoch || a.State != b.State || a.TimeoutMs != b.TimeoutMs ||
		a.StartMs != b.StartMs || a.LastUpdateMs != b.LastUpdateMs || len(a.Partitions) != len(b.Partitions) {
		return false
	}
	for tp := range a.Partitions {
		if _, ok := b.Partitions[tp]; !ok {
			return false
		}
	}
	return true
}

var tpC = model.TopicPartition{Topic: "c", Partition: 1}

// Init, add, commit: markers reach both partitions at the producer's
// epoch with the coordinator epoch, CompleteCommit is durable before
// EndTxn answers, and a second Manager loading the logs knows the same.
// Then an abort.
func TestManagerCommitRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	pid, epoch := e.init("tx", 10_000)
	if d, ok := e.durable("tx"); !ok || d.ProducerID != pid || d.State != kmsg.TransactionStateEmpty {
		t.Fatalf("after init the log holds %+v %v", d, ok)
	}
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA, tpB}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.durable("tx"); d.State != kmsg.TransactionStateOngoing || len(d.Partitions) != 2 {
		t.Fatalf("after add the log holds %+v", d)
	}
	v := e.m.Verify("tx", pid, epoch, []model.TopicPartition{tpA, tpC})
	if v[tpA] != nil || !errors.Is(v[tpC], kerr.InvalidTxnState) {
		t.Fatalf("verify: %v", v)
	}
	if v := e.m.Verify("tx", pid, epoch-1, []model.TopicPartition{tpA}); !errors.Is(v[tpA], kerr.ProducerFenced) {
		t.Fatalf("verify from an old epoch: %v", v)
	}
	if err := e.m.EndTxn(ctx(t), "tx", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	d, _ := e.durable("tx")
	if d.State != kmsg.TransactionStateCompleteCommit {
		t.Fatalf("EndTxn answered before CompleteCommit was durable: %+v", d)
	}
	got := e.markers.got()
	if len(got) != 2 || got[0] != (written{tpA, pid, epoch, true, testCoordEpoch}) || got[1] != (written{tpB, pid, epoch, true, testCoordEpoch}) {
		t.Fatalf("markers: %+v", got)
	}
	if v := e.m.Verify("tx", pid, epoch, []model.TopicPartition{tpA}); !errors.Is(v[tpA], kerr.InvalidTxnState) {
		t.Fatalf("verify after the commit: %v", v)
	}
	if err := e.m.EndTxn(ctx(t), "tx", pid, epoch, true); err != nil {
		t.Fatalf("a retried commit: %v", err)
	}
	// The next transaction, aborted.
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpC}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.EndTxn(ctx(t), "tx", pid, epoch, false); err != nil {
		t.Fatal(err)
	}
	if got := e.markers.got(); len(got) != 3 || got[2] != (written{tpC, pid, epoch, false, testCoordEpoch}) {
		t.Fatalf("abort markers: %+v", got)
	}
	mem, err := e.m.Describe("tx")
	if err != nil {
		t.Fatal(err)
	}
	m2 := e.newManager()
	defer m2.Close()
	e.loadAll(m2)
	loaded, err := m2.Describe("tx")
	if err != nil || !sameTxn(mem, loaded) || loaded.State != kmsg.TransactionStateCompleteAbort {
		t.Fatalf("reloaded %+v %v, had %+v", loaded, err, mem)
	}
	if _, err := m2.Describe("nope"); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatalf("describe of an unknown id: %v", err)
	}
}

// A coordinator that finds a transaction prepared in its log (the last
// one died between PrepareCommit and CompleteCommit) writes its markers
// and completes it; requests for the id meanwhile answer
// CONCURRENT_TRANSACTIONS.
func TestManagerLoadFinishesPreparedCommit(t *testing.T) {
	e := newEnv(t)
	// The previous coordinator's log, written through the state machine.
	f := newFixture(t)
	pid, epoch := f.init("half")
	f.apply(must(f.c.AddPartitions("half", pid, epoch, []model.TopicPartition{tpA, tpB}, f.now)))
	f.apply(must(f.c.EndTxn("half", pid, epoch, true, f.now)))
	log := e.logOf("half")
	for _, r := range f.log {
		log.Append(buildBatch([]Record{r}, f.now), func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	block := make(chan struct{})
	e.markers.setBlock(block)
	e.loadAll(e.m)
	d, err := e.m.Describe("half")
	if err != nil || d.State != kmsg.TransactionStatePrepareCommit {
		t.Fatalf("loaded %+v %v", d, err)
	}
	if _, _, err := e.m.InitProducerID(ctx(t), "half", 10_000, -1, -1); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("init while markers are resumed: %v", err)
	}
	if err := e.m.EndTxn(ctx(t), "half", pid, epoch, true); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("commit retry while markers are resumed: %v", err)
	}
	close(block)
	e.waitState("half", kmsg.TransactionStateCompleteCommit)
	got := e.markers.got()
	if len(got) != 2 || !got[0].commit || got[0].pid != pid || got[0].epoch != epoch || got[0].coordinatorEpoch != testCoordEpoch {
		t.Fatalf("resumed markers: %+v", got)
	}
	eventually(t, "the id to be free", func() bool {
		_, _, err := e.m.InitProducerID(ctx(t), "half", 10_000, -1, -1)
		return err == nil
	})
}

// An append that fails answers NOT_COORDINATOR, and the partition is
// replayed so that memory equals the log again; then requests work.
func TestManagerAppendFailureReloads(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	pid, epoch := e.init("tx", 10_000)
	e.logOf("tx").fail(1, fmt.Errorf("%w: disk full", model.ErrStorage))
	err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA})
	if !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("add with a failing log: %v", err)
	}
	eventually(t, "the reload", func() bool {
		_, err := e.m.Describe("tx")
		return err == nil
	})
	mem, _ := e.m.Describe("tx")
	d, _ := e.durable("tx")
	if !sameTxn(mem, d) || mem.State != kmsg.TransactionStateEmpty || len(mem.Partitions) != 0 {
		t.Fatalf("after the reload memory holds %+v, the log %+v", mem, d)
	}
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA}); err != nil {
		t.Fatalf("add after the reload: %v", err)
	}
	// A failed prepare: the transaction stays open, in memory as in the log.
	e.logOf("tx").fail(1, errors.New("not leader"))
	if err := e.m.EndTxn(ctx(t), "tx", pid, epoch, true); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("commit with a failing log: %v", err)
	}
	eventually(t, "the reload", func() bool {
		t, err := e.m.Describe("tx")
		return err == nil && t.State == kmsg.TransactionStateOngoing
	})
	if len(e.markers.got()) != 0 {
		t.Fatalf("markers written for a prepare that failed: %+v", e.markers.got())
	}
	if err := e.m.EndTxn(ctx(t), "tx", pid, epoch, true); err != nil {
		t.Fatalf("commit after the reload: %v", err)
	}
}

// Markers that fail for a while are retried until written; a partition
// that is gone counts as written.
func TestManagerRetriesMarkers(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	e.markers.failing[tpB] = 3
	e.markers.failing[tpC] = 1
	e.markers.failErr[tpC] = fmt.Errorf("%w: deleted", kerr.UnknownTopicOrPartition)
	pid, epoch := e.init("tx", 10_000)
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA, tpB, tpC}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.EndTxn(ctx(t), "tx", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.durable("tx"); d.State != kmsg.TransactionStateCompleteCommit {
		t.Fatalf("after the retries the log holds %+v", d)
	}
	if n := e.markers.callsFor(tpB); n != 4 {
		t.Fatalf("%s tried %d times, want 4", tpB, n)
	}
	if n, m := e.markers.callsFor(tpA), e.markers.callsFor(tpC); n != 1 || m != 1 {
		t.Fatalf("written partitions retried: %d %d", n, m)
	}
}

// EndTxn whose context ends while the markers are still failing answers
// success once the prepare is durable; the markers go on.
func TestManagerEndTxnContextAfterPrepare(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	block := make(chan struct{})
	e.markers.setBlock(block)
	pid, epoch := e.init("tx", 10_000)
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.m.EndTxn(c, "tx", pid, epoch, true); err != nil {
		t.Fatalf("commit whose context ended after the prepare: %v", err)
	}
	if d, _ := e.durable("tx"); d.State != kmsg.TransactionStatePrepareCommit {
		t.Fatalf("the log holds %+v", d)
	}
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA}); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("add while the markers are written: %v", err)
	}
	close(block)
	e.waitState("tx", kmsg.TransactionStateCompleteCommit)
}

// A transaction open past its timeout is aborted by Tick with the
// producer's epoch bumped, so the old producer is fenced; the next
// InitProducerID gets a later epoch.
func TestManagerTimeoutFences(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	pid, epoch := e.init("slow", 1_000)
	if err := e.m.AddPartitions(ctx(t), "slow", pid, epoch, []model.TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	e.m.Tick(e.clock.advance(500 * time.Millisecond))
	if d, _ := e.m.Describe("slow"); d.State != kmsg.TransactionStateOngoing {
		t.Fatalf("aborted before its timeout: %+v", d)
	}
	e.m.Tick(e.clock.advance(time.Second))
	e.waitState("slow", kmsg.TransactionStateCompleteAbort)
	if got := e.markers.got(); len(got) != 1 || got[0] != (written{tpA, pid, epoch + 1, false, testCoordEpoch}) {
		t.Fatalf("timeout markers: %+v", got)
	}
	err := e.m.EndTxn(ctx(t), "slow", pid, epoch, true)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("commit by the timed-out producer: %v", err)
	}
	if _, e2 := e.init("slow", 1_000); e2 != epoch+2 {
		t.Fatalf("epoch after the timeout: %d, want %d", e2, epoch+2)
	}
}

// An id idle past transactional.id.expiration.ms is tombstoned by Tick.
func TestManagerExpiration(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	e.init("idle", 1_000)
	e.m.Tick(e.clock.advance(3_600_001 * time.Millisecond))
	eventually(t, "the expiry tombstone", func() bool {
		_, ok := e.durable("idle")
		_, err := e.m.Describe("idle")
		return !ok && errors.Is(err, kerr.TransactionalIDNotFound)
	})
}

// InitProducerID over an open transaction aborts it (the old producer's
// markers, at a bumped epoch) and answers CONCURRENT_TRANSACTIONS until
// that is done.
func TestManagerInitAbortsOpenTransaction(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	pid, epoch := e.init("tx", 10_000)
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.m.InitProducerID(ctx(t), "tx", 10_000, -1, -1); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("init over an open transaction: %v", err)
	}
	var e2 int16
	eventually(t, "init to succeed after the abort", func() bool {
		var err error
		_, e2, err = e.m.InitProducerID(ctx(t), "tx", 10_000, -1, -1)
		return err == nil
	})
	if e2 != epoch+2 {
		t.Fatalf("epoch %d, want %d", e2, epoch+2)
	}
	if got := e.markers.got(); len(got) != 1 || got[0] != (written{tpA, pid, epoch + 1, false, testCoordEpoch}) {
		t.Fatalf("abort markers: %+v", got)
	}
}

// While an id's write is in flight, its other requests answer
// CONCURRENT_TRANSACTIONS; other ids are not held up.
func TestManagerConcurrentRequests(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	pid, epoch := e.init("tx", 10_000)
	log := e.logOf("tx")
	log.mu.Lock()
	log.hold = true
	log.mu.Unlock()
	addDone := make(chan error, 1)
	go func() { addDone <- e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA}) }()
	eventually(t, "the add's append", func() bool { return log.heldCount() == 1 })
	if err := e.m.EndTxn(ctx(t), "tx", pid, epoch, true); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("commit while the add is in flight: %v", err)
	}
	if v := e.m.Verify("tx", pid, epoch, []model.TopicPartition{tpA}); !errors.Is(v[tpA], kerr.ConcurrentTransactions) {
		t.Fatalf("verify while the add is not durable: %v", v)
	}
	other := ""
	for i := 0; other == "" || PartitionFor(other, testPartitions) == PartitionFor("tx", testPartitions); i++ {
		other = fmt.Sprintf("other-%d", i)
	}
	e.init(other, 10_000)
	log.release()
	if err := <-addDone; err != nil {
		t.Fatal(err)
	}
	if err := e.m.EndTxn(ctx(t), "tx", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
}

// Unload hands the partition away: NOT_COORDINATOR; a load in progress
// answers COORDINATOR_LOAD_IN_PROGRESS; unowned partitions NOT_COORDINATOR.
func TestManagerOwnership(t *testing.T) {
	e := newEnv(t)
	n := PartitionFor("tx", testPartitions)
	if _, _, err := e.m.InitProducerID(ctx(t), "tx", 10_000, -1, -1); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("init before any load: %v", err)
	}
	gate := make(chan struct{})
	log := e.logs[n]
	log.Append(buildBatch([]Record{tombstone("x")}, 0), func(error) {})
	log.mu.Lock()
	log.readGate = gate
	log.mu.Unlock()
	loaded := make(chan error, 1)
	go func() { loaded <- e.m.Load(n, testCoordEpoch, log) }()
	eventually(t, "the load to start", func() bool { return len(e.m.Owned()) == 1 })
	if _, _, err := e.m.InitProducerID(ctx(t), "tx", 10_000, -1, -1); !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("init while loading: %v", err)
	}
	close(gate)
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	pid, epoch := e.init("tx", 10_000)
	e.m.Unload(n)
	if len(e.m.Owned()) != 0 {
		t.Fatalf("owned after unload: %v", e.m.Owned())
	}
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA}); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("add after unload: %v", err)
	}
	if _, err := e.m.Describe("tx"); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("describe after unload: %v", err)
	}
	if err := e.m.Load(testPartitions, 1, log); err == nil {
		t.Fatal("loaded a partition past the partition count")
	}
}

// Unload stops markers that keep failing; Close returns.
func TestManagerUnloadStopsMarkers(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	e.markers.failing[tpA] = -1
	pid, epoch := e.init("tx", 10_000)
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.m.EndTxn(context.Background(), "tx", pid, epoch, true) }()
	eventually(t, "a retry", func() bool { return e.markers.callsFor(tpA) >= 2 })
	e.m.Unload(PartitionFor("tx", testPartitions))
	if err := <-done; err != nil {
		t.Fatalf("commit whose prepare was durable, unloaded: %v", err)
	}
	calls := e.markers.callsFor(tpA)
	if d, _ := e.durable("tx"); d.State != kmsg.TransactionStatePrepareCommit {
		t.Fatalf("the log holds %+v", d)
	}
	e.m.Close()
	if got := e.markers.callsFor(tpA); got > calls+1 {
		t.Fatalf("markers still written after unload: %d calls, then %d", calls, got)
	}
}

// Bad ids, timeouts, and List's filters.
func TestManagerRequestsAndList(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	if _, _, err := e.m.InitProducerID(ctx(t), strings.Repeat("x", MaxTransactionalIDBytes+1), 1_000, -1, -1); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("an id over the limit: %v", err)
	}
	if _, _, err := e.m.InitProducerID(ctx(t), "", 1_000, -1, -1); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("an empty id: %v", err)
	}
	if _, _, err := e.m.InitProducerID(ctx(t), "tx", 60_001, -1, -1); !errors.Is(err, kerr.InvalidTransactionTimeout) {
		t.Fatalf("a timeout over the maximum: %v", err)
	}
	p1, e1 := e.init("open", 60_000)
	if err := e.m.AddPartitions(ctx(t), "open", p1, e1, []model.TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	p2, _ := e.init("empty", 60_000)
	e.clock.advance(5 * time.Second)
	names := func(ts []Txn) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.ID+":"+StateName(t.State))
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		states []string
		pids   []int64
		dur    int64
		want   string
	}{
		{nil, nil, -1, "empty:Empty,open:Ongoing"},
		{[]string{"Ongoing"}, nil, 0, "open:Ongoing"},
		{[]string{"Nonsense"}, nil, 0, ""},
		{nil, []int64{p2}, 0, "empty:Empty"},
		{nil, nil, 4_000, "open:Ongoing"},
		{nil, nil, 6_000, ""},
	} {
		if got := names(e.m.List(c.states, c.pids, c.dur)); got != c.want {
			t.Errorf("List(%v, %v, %d) = %q, want %q", c.states, c.pids, c.dur, got, c.want)
		}
	}
}

// PartitionFor is Java's String.hashCode over UTF-16, made positive,
// modulo the partition count.
func TestPartitionFor(t *testing.T) {
	java := func(s string) int32 {
		var h int32
		for _, u := range utf16.Encode([]rune(s)) {
			h = 31*h + int32(u)
		}
		return h
	}
	if java("hello") != 99162322 {
		t.Fatal("the reference hash is not Java's")
	}
	for _, id := range []string{"", "a", "hello", "transactional-id-1", "ünïcødé", "emoji 😀 id", "polygenelubricants"} {
		h := java(id)
		want := int32(0)
		if h != -1<<31 {
			want = max(h, -h) % 50
		}
		if got := PartitionFor(id, 50); got != want {
			t.Errorf("PartitionFor(%q) = %d, want %d", id, got, want)
		}
	}
}

// FuzzDecodeBatches: the __transaction_state batch decoder never panics
// nor goes backwards (what it returns is at least from), and the records
// of a batch it accepts, written again by buildBatch, decode to the same
// records.
func FuzzDecodeBatches(f *testing.F) {
	fx := newFixture(&testing.T{})
	pid, epoch := fx.init("seed")
	fx.apply(must(fx.c.AddPartitions("seed", pid, epoch, []model.TopicPartition{tpA, tpB}, fx.now)))
	one := buildBatch(fx.log, fx.now)
	two := append(append([]byte(nil), one...), buildBatch([]Record{tombstone("seed")}, fx.now)...)
	binary.BigEndian.PutUint64(two[len(one):], 2)
	f.Add(one, int64(0))
	f.Add(two, int64(1))
	f.Add(two[:len(two)-3], int64(0))
	f.Fuzz(func(t *testing.T, buf []byte, from int64) {
		var got []batchRecords
		next, err := decodeBatches(buf, model.Offset(from), func(b batchRecords) { got = append(got, b) })
		if next < model.Offset(from) {
			t.Fatalf("went back from %d to %d", from, next)
		}
		if err != nil {
			return
		}
		for _, b := range got {
			if b.skipped || len(b.recs) == 0 {
				continue
			}
			var again []batchRecords
			if _, err := decodeBatches(buildBatch(b.recs, 0), 0, func(b batchRecords) { again = append(again, b) }); err != nil {
				t.Fatalf("re-encoded batch: %v", err)
			}
			if len(again) != 1 || len(again[0].recs) != len(b.recs) {
				t.Fatalf("re-encoded batch: %d batches", len(again))
			}
			for i, r := range b.recs {
				s := again[0].recs[i]
				if string(r.Key) != string(s.Key) || string(r.Value) != string(s.Value) || (r.Value == nil) != (s.Value == nil) {
					t.Fatalf("record %d changed: %q/%q", i, r.Key, s.Key)
				}
			}
		}
	})
}

// A completing write that fails: EndTxn still succeeds (the prepare was
// durable), the partition is replayed and the prepared transaction's
// markers are written again and completed.
func TestManagerCompleteFailureResumes(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	pid, epoch := e.init("tx", 10_000)
	if err := e.m.AddPartitions(ctx(t), "tx", pid, epoch, []model.TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	e.markers.setBlock(block)
	done := make(chan error, 1)
	go func() { done <- e.m.EndTxn(ctx(t), "tx", pid, epoch, true) }()
	eventually(t, "the prepare", func() bool {
		d, _ := e.durable("tx")
		return d.State == kmsg.TransactionStatePrepareCommit
	})
	e.logOf("tx").fail(1, errors.New("not leader"))
	close(block)
	if err := <-done; err != nil {
		t.Fatalf("commit whose completion failed: %v", err)
	}
	e.waitState("tx", kmsg.TransactionStateCompleteCommit)
	if got := e.markers.got(); len(got) != 2 || got[0] != got[1] {
		t.Fatalf("markers: %+v, want the commit marker twice", got)
	}
}

// A producer whose epoch is exhausted and whose transaction times out
// gets a new producer id (allocated outside the lock) at epoch 0, and
// the markers abort the old transaction under it.
func TestManagerTimeoutWithExhaustedEpoch(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now().UnixMilli()
	old := &Txn{ID: "tx", ProducerID: 42, Epoch: math.MaxInt16 - 1, TimeoutMs: 1_000, State: kmsg.TransactionStateOngoing,
		Partitions: map[model.TopicPartition]struct{}{tpA: {}}, StartMs: now, LastUpdateMs: now}
	e.logOf("tx").Append(buildBatch([]Record{old.record()}, now), func(error) {})
	e.loadAll(e.m)
	e.clock.advance(2 * time.Second)
	eventually(t, "the abort under a new producer id", func() bool {
		e.m.Tick(e.clock.Now())
		return len(e.markers.got()) == 1
	})
	got := e.markers.got()[0]
	if got.pid == 42 || got.epoch != 0 || got.commit {
		t.Fatalf("abort marker %+v", got)
	}
	e.waitState("tx", kmsg.TransactionStateCompleteAbort)
}
