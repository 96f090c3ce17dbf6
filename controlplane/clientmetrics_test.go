package controlplane

// Client metrics subscriptions apply as config records, leave earlier
// images alone, disappear with their last key and survive a snapshot.

import (
	"testing"
)

func TestClientMetricsImage(t *testing.T) {
	im := emptyImage("c", 1)
	v1, v2 := "*", "1000"
	recs := configDiff(ResourceClientMetrics, "all", nil, map[string]string{"metrics": v1, "interval.ms": v2})
	if len(recs) != 2 {
		t.Fatalf("diff: %+v", recs)
	}
	a, err := im.applyEntry(1, recs)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.ClientMetrics["all"]; got["metrics"] != "*" || got["interval.ms"] != "1000" || im.ClientMetrics != nil {
		t.Fatalf("applied: %v, base %v", a.ClientMetrics, im.ClientMetrics)
	}
	snap, err := a.marshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := unmarshalSnapshot(snap, "c", 1)
	if err != nil || r.ClientMetrics["all"]["metrics"] != "*" {
		t.Fatalf("snapshot: %v %v", err, r.ClientMetrics)
	}
	b, err := a.applyEntry(2, configDiff(ResourceClientMetrics, "all", a.ClientMetrics["all"], map[string]string{"interval.ms": v2}))
	if err != nil || len(b.ClientMetrics["all"]) != 1 || len(a.ClientMetrics["all"]) != 2 {
		t.Fatalf("delete one key: %v %v / %v", err, b.ClientMetrics, a.ClientMetrics)
	}
	c, err := b.applyEntry(3, configDiff(ResourceClientMetrics, "all", b.ClientMetrics["all"], nil))
	if err != nil || len(c.ClientMetrics) != 0 {
		t.Fatalf("delete all: %v %v", err, c.ClientMetrics)
	}
	next, err := applyConfigOps(map[string]string{"metrics": "a"}, []ConfigOp{{Key: "metrics", Value: &v1, Op: OpAppend}}, true)
	if err != nil || next["metrics"] != "a,*" {
		t.Fatalf("append: %v %v", err, next)
	}
}
