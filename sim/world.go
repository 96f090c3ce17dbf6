package sim

import (
	"container/heap"
	"fmt"
	"hash"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Break names a deliberately broken variant, for tests that show the
// simulation catches it.
type Break string

// The broken variants.
const (
	// BreakNone runs the real code.
	BreakNone Break = ""
	// BreakAckBeforeISR answers acks=all produces once the leader has
	// appended, before the ISR has the record.
	BreakAckBeforeISR Break = "ack-before-isr"
	// BreakNoTruncate makes followers skip truncation by leader epoch.
	BreakNoTruncate Break = "no-truncate"
	// BreakForgetVote persists raft's HardState without the vote, so a
	// restarted voter may vote twice in one term.
	BreakForgetVote Break = "forget-vote"
	// BreakUnsyncedRaftLog persists a Ready's raft entries only with the
	// next Ready, after the messages that acknowledge them were sent: a
	// crash loses entries a leader counted as replicated.
	BreakUnsyncedRaftLog Break = "unsynced-raft-log"
	// BreakISRTimeoutIsRefusal treats an AlterPartition that timed out as
	// refused (the replication package's behaviour before ProposalUnknown):
	// the leader stops waiting for a member its expansion may yet add.
	BreakISRTimeoutIsRefusal Break = "isr-timeout-is-refusal"
	// BreakImageClearsPending forgets the ISR proposal in flight on any
	// image change, decided or not (the replication package's behaviour
	// before ISRCommitted compared partition epochs).
	BreakImageClearsPending Break = "image-clears-pending"
)

// Options configure one simulated run.
type Options struct {
	Seed       uint64
	Nodes      int           // voters and brokers; default 3
	Partitions int           // of the one replicated topic; default 2
	Chaos      time.Duration // simulated time with nemeses and load; default 30s
	Quiet      time.Duration // then healed, no load, until converged; default 40s
	Break      Break
	// Trace, when set, receives every trace line (debugging a seed).
	Trace func(string)
}

func (o *Options) normalize() {
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if o.Partitions <= 0 {
		o.Partitions = 2
	}
	if o.Chaos <= 0 {
		o.Chaos = 30 * time.Second
	}
	if o.Quiet <= 0 {
		o.Quiet = 40 * time.Second
	}
}

// Result is the outcome of a run.
type Result struct {
	Seed       uint64
	TraceHash  uint64 // FNV-64a over every trace line
	Events     int
	Violations []string // empty: every property held
	// Figures for the report.
	Acked, Terms, Crashes, Partitions, Applied int
}

// Violation is the first safety property that failed, and when.
type Violation struct {
	At   time.Duration
	What string
}

// event is one scheduled step.
type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// World is one simulation: the clock, the scheduler, the network, the
// nodes and the checker. Everything runs on the caller's goroutine.
type World struct {
	opts   Options
	rng    *rand.Rand
	now    time.Duration
	seq    uint64
	q      eventQueue
	trace  hash.Hash64
	events int
	net    *network
	nodes  []*node
	chk    *checker
	log    *slog.Logger
	quiet  bool // the chaos phase is over
	res    Result
}

// settleMax is how long past the quiet phase a run may take to converge.
const settleMax = 20 * time.Second

// epoch is the simulated wall clock's zero.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newWorld(opts Options) *World {
	opts.normalize()
	w := &World{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), trace: fnv.New64a(),
		log: slog.New(slog.DiscardHandler)}
	w.net = newNetwork(w)
	w.chk = newChecker(w)
	return w
}

// after schedules fn d from now.
func (w *World) after(d time.Duration, fn func()) {
	w.seq++
	heap.Push(&w.q, &event{at: w.now + d, seq: w.seq, fn: fn})
}

// tracef adds a line to the trace hash (and to Options.Trace).
func (w *World) tracef(format string, args ...any) {
	s := fmt.Sprintf("%d "+format, append([]any{w.now.Milliseconds()}, args...)...)
	w.trace.Write([]byte(s))
	w.trace.Write([]byte{'\n'})
	if w.opts.Trace != nil {
		w.opts.Trace(s)
	}
}

// jitter is a uniform duration in [lo, hi).
func (w *World) jitter(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)))
}

func (w *World) chance(p float64) bool { return w.rng.Float64() < p }

// Run simulates one seed and reports what it found. The caller must have
// seeded crypto/rand (testing/cryptotest.SetGlobalRandom) for the trace
// to replay exactly.
func Run(opts Options) Result {
	w := newWorld(opts)
	return w.run()
}

func (w *World) run() Result {
	w.res.Seed = w.opts.Seed
	for i := 0; i < w.opts.Nodes; i++ {
		w.nodes = append(w.nodes, newNode(w, int32(i)))
	}
	for _, n := range w.nodes {
		n.start()
	}
	w.startClient()
	w.startNemesis()
	end := w.opts.Chaos + w.opts.Quiet
	w.after(w.opts.Chaos, w.beginQuiet)
	w.loop(end)
	// Convergence is checked once the quiet phase is over; what is still
	// in flight then (a late fence, an ISR change) gets up to settleMax
	// more, a second at a time.
	for settled := time.Duration(0); len(w.chk.violations) == 0; settled += time.Second {
		msg := w.chk.converged()
		if msg == "" {
			break
		}
		if settled >= settleMax {
			w.chk.violate("%s", msg)
			break
		}
		end += time.Second
		w.loop(end)
	}
	w.res.TraceHash = w.trace.Sum64()
	w.res.Events = w.events
	w.res.Violations = w.chk.violations
	w.res.Terms = len(w.chk.leaders)
	w.res.Acked = len(w.chk.ackedRecs)
	w.res.Applied = int(w.chk.maxCommitted)
	return w.res
}

// beginQuiet ends the chaos: the network heals, crashed nodes restart,
// the load stops; what is left of the run must converge.
func (w *World) beginQuiet() {
	w.quiet = true
	w.tracef("quiet")
	w.net.heal()
	w.net.loss = 0
	w.net.maxWait = 20 * time.Millisecond
	for _, n := range w.nodes {
		if n.down {
			n.restart()
		}
	}
}

// loop runs the events up to end; a panic in the code under test (raft
// refusing a log that lost committed entries, say) is a violation.
func (w *World) loop(end time.Duration) {
	defer func() {
		if p := recover(); p != nil {
			w.chk.violate("panic: %v", p)
		}
	}()
	for len(w.q) > 0 && len(w.chk.violations) == 0 {
		e := heap.Pop(&w.q).(*event)
		if e.at > end {
			break
		}
		w.now = e.at
		w.events++
		e.fn()
	}
}
