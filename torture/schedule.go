package torture

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Nemesis is one kind of fault.
type Nemesis string

// The nemeses.
const (
	NemKill      Nemesis = "kill"       // SIGKILL a node, restart it at heal
	NemPause     Nemesis = "pause"      // SIGSTOP a node, SIGCONT at heal
	NemIsolate   Nemesis = "isolate"    // cut every link of a node (Fault drop or blackhole), both ways
	NemOneWay    Nemesis = "one-way"    // blackhole the link Node -> Peer only
	NemCut       Nemesis = "cut"        // cut Node <-> Peer both ways (Fault); the third node still sees both (a bridge)
	NemSlowLinks Nemesis = "slow-links" // delay every link of a node by Delay
	NemDiskFull  Nemesis = "disk-full"  // fill the disk node's log dir
	NemSlowFsync Nemesis = "slow-fsync" // each fsync batch of a node waits Delay
)

// Action is one nemesis applied in a round.
type Action struct {
	Kind  Nemesis
	Node  int // 1-based
	Peer  int // NemOneWay: the far end
	Fault Fault
	Delay time.Duration
}

func (a Action) String() string {
	switch a.Kind {
	case NemOneWay:
		return fmt.Sprintf("%s %d->%d", a.Kind, a.Node, a.Peer)
	case NemCut:
		return fmt.Sprintf("%s %d<->%d (%s)", a.Kind, a.Node, a.Peer, a.Fault)
	case NemIsolate:
		return fmt.Sprintf("%s %d (%s)", a.Kind, a.Node, a.Fault)
	case NemSlowLinks, NemSlowFsync:
		return fmt.Sprintf("%s %d (%v)", a.Kind, a.Node, a.Delay)
	}
	return fmt.Sprintf("%s %d", a.Kind, a.Node)
}

// Round is one step of a run: load alone for Load, then Actions together
// for Hold, then heal everything.
type Round struct {
	Actions []Action
	Load    time.Duration
	Hold    time.Duration
}

func (r Round) String() string {
	s := make([]string, len(r.Actions))
	for i, a := range r.Actions {
		s[i] = a.String()
	}
	return fmt.Sprintf("load %v, then %s for %v", r.Load, strings.Join(s, " + "), r.Hold)
}

// PlanConfig shapes a schedule.
type PlanConfig struct {
	Rounds   int
	Nodes    int
	Kinds    []Nemesis
	DiskNode int // the node whose log dir can fill (NemDiskFull)
	// Combine is the chance that a round applies two nemeses at once.
	Combine float64
	// Load and Hold bound each round's load and hold times.
	LoadMin, LoadMax time.Duration
	HoldMin, HoldMax time.Duration
}

// Plan is the schedule for seed: the same seed and config give the same
// rounds.
func Plan(seed uint64, c PlanConfig) []Round {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dur := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	rounds := make([]Round, c.Rounds)
	for i := range rounds {
		k := 1
		if len(c.Kinds) > 1 && rng.Float64() < c.Combine {
			k = 2
		}
		r := Round{Load: dur(c.LoadMin, c.LoadMax), Hold: dur(c.HoldMin, c.HoldMax)}
		used := map[Nemesis]bool{}
		for len(r.Actions) < k {
			kind := c.Kinds[rng.IntN(len(c.Kinds))]
			if used[kind] {
				continue
			}
			used[kind] = true
			r.Actions = append(r.Actions, action(rng, kind, c))
		}
		rounds[i] = r
	}
	return rounds
}

func action(rng *rand.Rand, kind Nemesis, c PlanConfig) Action {
	a := Action{Kind: kind, Node: 1 + rng.IntN(c.Nodes)}
	switch kind {
	case NemDiskFull:
		a.Node = c.DiskNode
	case NemIsolate:
		a.Fault = Drop
		if rng.IntN(2) == 0 {
			a.Fault = Blackhole
		}
	case NemOneWay:
		a.Fault = Blackhole
		a.Peer = 1 + (a.Node-1+1+rng.IntN(c.Nodes-1))%c.Nodes
	case NemCut:
		a.Fault = Drop
		if rng.IntN(2) == 0 {
			a.Fault = Blackhole
		}
		a.Peer = 1 + (a.Node-1+1+rng.IntN(c.Nodes-1))%c.Nodes
	case NemSlowLinks:
		a.Fault = Delay
		a.Delay = time.Duration(5+rng.IntN(100)) * time.Millisecond
	case NemSlowFsync:
		a.Delay = time.Duration(20+rng.IntN(300)) * time.Millisecond
	}
	return a
}

// WorkloadRand is the seeded source for the workload's own choices
// (partitions, commit or abort), apart from the schedule's.
func WorkloadRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x5851f42d4c957f2d, stream))
}
