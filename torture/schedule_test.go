package torture

import (
	"reflect"
	"testing"
	"time"
)

var mixed = PlanConfig{Rounds: 200, Nodes: 3, DiskNode: 3, Combine: 0.3,
	Kinds:   []Nemesis{NemKill, NemPause, NemIsolate, NemOneWay, NemCut, NemSlowLinks, NemDiskFull, NemSlowFsync},
	LoadMin: 100 * time.Millisecond, LoadMax: time.Second, HoldMin: time.Second, HoldMax: 3 * time.Second}

func TestPlanReplays(t *testing.T) {
	a, b := Plan(42, mixed), Plan(42, mixed)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed planned different rounds")
	}
	if reflect.DeepEqual(a, Plan(43, mixed)) {
		t.Fatal("another seed planned the same rounds")
	}
}

func TestPlanCoversEveryNemesis(t *testing.T) {
	seen := map[Nemesis]int{}
	combos := 0
	for _, r := range Plan(7, mixed) {
		if len(r.Actions) > 1 {
			combos++
		}
		if r.Load < mixed.LoadMin || r.Load >= mixed.LoadMax || r.Hold < mixed.HoldMin || r.Hold >= mixed.HoldMax {
			t.Fatalf("round out of bounds: %v", r)
		}
		for _, a := range r.Actions {
			seen[a.Kind]++
			if a.Node < 1 || a.Node > 3 || ((a.Kind == NemOneWay || a.Kind == NemCut) && (a.Peer == a.Node || a.Peer < 1 || a.Peer > 3)) {
				t.Fatalf("bad action %v", a)
			}
			if a.Kind == NemDiskFull && a.Node != 3 {
				t.Fatalf("disk full on node %d, not the disk node", a.Node)
			}
		}
	}
	for _, k := range mixed.Kinds {
		if seen[k] == 0 {
			t.Fatalf("no %s in 200 rounds: %v", k, seen)
		}
	}
	if combos == 0 {
		t.Fatal("no combined rounds")
	}
}
