package controlplane

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A follower cut off from the leader misses an entry; once the link is
// back, CatchUp returns only after the follower has applied it, although
// no tick (and so no heartbeat of the leader's own) happens meanwhile: the
// read index exchange itself brings the follower up to date.
func TestCatchUpAppliesWhatTheQuorumCommitted(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.until("all brokers registered", tc.allRegistered)
	var lagging int32 = -1
	for _, id := range tc.ids {
		if id != lead {
			lagging = id
			break
		}
	}
	tc.net.partition(lead, lagging)
	if err := tc.createTopic(lead, "fresh", 1); err != nil {
		t.Fatal(err)
	}
	tc.net.heal()
	tc.stabilize()
	if tc.nodes[lagging].Image().Topics["fresh"] != nil {
		t.Fatal("the cut-off follower has the topic before catching up: the test shows nothing")
	}
	var err error
	tc.do(func() { err = tc.nodes[lagging].CatchUp(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	if tc.nodes[lagging].Image().Topics["fresh"] == nil {
		t.Fatal("CatchUp returned before the follower applied the committed topic")
	}
	// Many callers at once share reads and all return.
	errs := make(chan error, 20)
	tc.do(func() {
		for range 20 {
			go func() { errs <- tc.nodes[lagging].CatchUp(context.Background()) }()
		}
		for range 20 {
			if err := <-errs; err != nil {
				errs <- err
				return
			}
		}
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// Without a leader CatchUp waits and then fails with ErrTimeout; a single
// voter catches up at once.
func TestCatchUpWithoutLeader(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.CommandTimeout = 300 * time.Millisecond })
	// No ticks: nobody campaigns, so there is no leader.
	err := tc.nodes[1].CatchUp(context.Background())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("CatchUp without a leader: %v, want ErrTimeout", err)
	}

	c, err := Open(Config{Dir: t.TempDir(), NodeID: 1, ClusterID: "solo"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
}
