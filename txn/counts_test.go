package txn

import (
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

// Stats counts open transactions with the oldest one's age, and the
// commits and aborts completed.
func TestManagerStats(t *testing.T) {
	e := newEnv(t)
	e.loadAll(e.m)
	if st := e.m.Stats(); st != (Stats{}) {
		t.Fatalf("a fresh coordinator: %+v", st)
	}
	pid, epoch := e.init("a", 60_000)
	if err := e.m.AddPartitions(ctx(t), "a", pid, epoch, []model.TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(3 * time.Second)
	if st := e.m.Stats(); st.Open != 1 || st.OldestOpenMs != 3000 {
		t.Fatalf("one open for 3 s: %+v", st)
	}
	if err := e.m.EndTxn(ctx(t), "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	if err := e.m.AddPartitions(ctx(t), "a", pid, epoch, []model.TopicPartition{tpB}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.EndTxn(ctx(t), "a", pid, epoch, false); err != nil {
		t.Fatal(err)
	}
	if st := e.m.Stats(); st.Open != 0 || st.Commits != 1 || st.Aborts != 1 {
		t.Fatalf("after a commit and an abort: %+v", st)
	}
}
