package torture

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/testkit"
)

// The runs read their shape from the environment; unset, each is a smoke
// of a few rounds (part of make test). make torture sets:
//
//	RINGTAIL_TORTURE=long             100 single-node and 50 cluster rounds
//	RINGTAIL_TORTURE_SEED=N           replay seed N (else a new one, printed)
//	RINGTAIL_TORTURE_SINGLE_ROUNDS=N  override the round counts
//	RINGTAIL_TORTURE_CLUSTER_ROUNDS=N
//	RINGTAIL_TORTURE_OUT=dir          where a failed run's history goes (default: the temp dir)
//	RINGTAIL_TORTURE_RESULTS=file     append each summary line there too
const (
	envMode    = "RINGTAIL_TORTURE"
	envSeed    = "RINGTAIL_TORTURE_SEED"
	envOut     = "RINGTAIL_TORTURE_OUT"
	envResults = "RINGTAIL_TORTURE_RESULTS"
	envHistory = "RINGTAIL_TORTURE_HISTORY"
)

func long() bool { return os.Getenv(envMode) == "long" }

func envInt(t *testing.T, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", key, v)
	}
	return n
}

func seed(t *testing.T) uint64 {
	if v := os.Getenv(envSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", envSeed, v)
		}
		return s
	}
	return uint64(time.Now().UnixNano()) % 1_000_000_000
}

// run is one nemesis run: a workload against nodes while rounds apply
// faults, then a full read and the checker.
type run struct {
	t     *testing.T
	name  string
	seed  uint64
	plan  []Round
	h     *History
	w     *Workload
	res   *Result
	start time.Time
	// extra, when set, adds fields to the summary line (what the faults did).
	extra func() string
}

func newRun(t *testing.T, name string, s uint64, plan []Round) *run {
	r := &run{t: t, name: name, seed: s, plan: plan, h: NewHistory(), start: time.Now()}
	t.Logf("torture %s: seed %d (replay: make torture SEED=%d)", name, s, s)
	// Runs after a t.Fatal too (a node that never came back): the history
	// and the summary are written whatever ended the run.
	t.Cleanup(r.finish)
	return r
}

// execute runs the workload while apply carries out each round.
func (r *run) execute(apply func(i int, rd Round)) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.w.Run(ctx) }()
	defer func() { stop(); <-done }()
	for i, rd := range r.plan {
		// The load runs alone for rd.Load: a pace, not a wait for a state.
		time.Sleep(rd.Load)
		r.h.Add(Event{Kind: EvNem, Note: fmt.Sprintf("round %d: %v", i+1, rd)})
		apply(i, rd)
	}
	stop()
	<-done
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.w.ReadAll(rctx); err != nil {
		r.t.Errorf("torture %s: %v", r.name, err)
	}
	res := Check(r.h.Events())
	r.res = &res
	if !res.OK() {
		r.t.Errorf("torture %s: anomalies:\n%v", r.name, res)
	}
}

// finish prints the summary line and, for a failed run, writes the history.
func (r *run) finish() {
	res := Check(r.h.Events())
	if r.res != nil {
		res = *r.res
	}
	verdict := "PASS"
	if r.t.Failed() || r.res == nil {
		verdict = "FAIL"
	}
	extra := ""
	if r.extra != nil {
		extra = " " + r.extra()
	}
	line := fmt.Sprintf("torture %s seed=%d rounds=%d %s%s elapsed=%s result=%s bin=%s", r.name, r.seed, len(r.plan),
		res.Summary(), extra, time.Since(r.start).Round(time.Second), verdict, filepath.Base(os.Getenv("RINGTAIL_BIN")))
	if verdict == "FAIL" {
		dir := os.Getenv(envOut)
		if dir == "" {
			dir = os.TempDir()
		}
		path := filepath.Join(dir, fmt.Sprintf("torture-%s-seed-%d.history", r.name, r.seed))
		if err := os.MkdirAll(dir, 0o755); err == nil {
			if f, err := os.Create(path); err == nil {
				err = WriteEvents(f, line, r.h.Events())
				f.Close()
				if err == nil {
					line += " history=" + path
				}
			}
		}
	}
	fmt.Println(line)
	r.t.Log(line)
	if p := os.Getenv(envResults); p != "" {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
			f.Close()
		}
	}
}

// TestTortureSingle: one node, SIGKILL and restart each round, under
// idempotent and transactional load.
func TestTortureSingle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	s := seed(t)
	cfg := PlanConfig{Rounds: 3, Nodes: 1, Kinds: []Nemesis{NemKill},
		LoadMin: 200 * time.Millisecond, LoadMax: 600 * time.Millisecond}
	if long() {
		cfg.Rounds, cfg.LoadMax = 100, 1500*time.Millisecond
	}
	cfg.Rounds = envInt(t, "RINGTAIL_TORTURE_SINGLE_ROUNDS", cfg.Rounds)
	r := newRun(t, "single", s, Plan(s, cfg))
	n := testkit.StartNode(t, testkit.Options{Settings: map[string]string{"transaction.state.log.num.partitions": "3"}})
	n.CreateTopic("idem", 4, nil)
	n.CreateTopic("txn", 4, nil)
	r.w = &Workload{H: r.h, Seeds: func() []string { return []string{n.Addr()} }, Topic: "idem", TxnTopic: "txn",
		Partitions: 4, Producers: 3, TxnWriters: 1, Seed: s, Interval: 5 * time.Millisecond,
		RunID: strconv.FormatUint(s, 10), Logf: t.Logf}
	r.execute(func(i int, rd Round) {
		n.Kill()
		n.Start()
	})
}

// TestTortureCheckHistory re-checks a saved history
// (RINGTAIL_TORTURE_HISTORY=path; make torture-check HISTORY=path).
func TestTortureCheckHistory(t *testing.T) {
	path := os.Getenv(envHistory)
	if path == "" {
		t.Skip(envHistory + " not set")
	}
	header, ev, err := ReadEventsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := Check(ev)
	t.Logf("%s\nchecked again: %v", strings.TrimSpace(header), res)
	if !res.OK() {
		t.Fail()
	}
}
