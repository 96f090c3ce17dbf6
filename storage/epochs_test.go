package storage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

func appendAt(t *testing.T, p *Partition, epoch model.Epoch, records []byte) AppendResult {
	t.Helper()
	ch := make(chan AppendResult, 1)
	p.Append(records, epoch, func(r AppendResult) { ch <- r })
	select {
	case r := <-ch:
		if r.Err != nil {
			t.Fatalf("append at epoch %d: %v", epoch, r.Err)
		}
		return r
	case <-time.After(waitTimeout):
		t.Fatal("append did not complete")
		return AppendResult{}
	}
}

// The leader-epoch-checkpoint is written without fsync on the append path
// (noteEpochs). A crash that loses those writes loses no epoch: recovery
// rebuilds the entries above the recovery point from the batches.
func TestEpochsSurviveALostCheckpointWrite(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		appendAt(t, p, 1, simpleBatch(2, 50, 1))
		appendAt(t, p, 3, simpleBatch(2, 50, 1))
		appendAt(t, p, 3, simpleBatch(1, 50, 1))
		appendAt(t, p, 5, simpleBatch(1, 50, 1))
		want := []EpochStart{{Epoch: 1, StartOffset: 0}, {Epoch: 3, StartOffset: 2}, {Epoch: 5, StartOffset: 5}}
		if got := epochsOf(t, p); !slices.Equal(got, want) {
			t.Fatalf("epochs before the crash: %v, want %v", got, want)
		}
		// The crash lost the last two writes of the file.
		path := filepath.Join(e.dir, tp0.String(), leaderEpochFile)
		if err := os.WriteFile(path, encodeEpochs([]epochEntry{{epoch: 1, start: 0}}), 0o644); err != nil {
			t.Fatal(err)
		}
		crash(m)
		m = e.open()
		defer m.Close()
		p, _ = m.Partition(tp0)
		if got := epochsOf(t, p); !slices.Equal(got, want) {
			t.Fatalf("epochs after the crash: %v, want %v (rebuilt from the batches)", got, want)
		}
		if ep, end, _ := p.EndOffsetForEpoch(3); ep != 3 || end != 5 {
			t.Fatalf("EndOffsetForEpoch(3) = %d, %d; want 3, 5", ep, end)
		}
		// The rebuilt list was written back durably.
		es, err := readEpochs(path)
		if err != nil || len(es) != 3 {
			t.Fatalf("file after recovery: %v %v", es, err)
		}
	})
}

// Before the recovery point passes a new epoch (a roll), the file holds
// it; a clean close leaves the file equal to the cache.
func TestEpochsDurableBeforeTheRecoveryPointPassesThem(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg.SegmentBytes = 1024
		m := e.open()
		p := e.create(m, tp0)
		path := filepath.Join(e.dir, tp0.String(), leaderEpochFile)
		appendAt(t, p, 2, simpleBatch(1, 100, 1))
		appendAt(t, p, 4, simpleBatch(1, 100, 1))
		for i := 0; p.recoveryPoint.Load() == 0; i++ {
			if i > 100 {
				t.Fatal("no roll after 100 appends")
			}
			appendAt(t, p, 4, simpleBatch(1, 400, 1))
		}
		var dirty bool
		if err := p.onShard(nil, func() error { dirty = p.epochsDirty; return nil }); err != nil {
			t.Fatal(err)
		}
		es, err := readEpochs(path)
		if err != nil || len(es) != 2 || es[1] != (epochEntry{epoch: 4, start: 1}) || dirty {
			t.Fatalf("after a roll the file holds %v (err %v, dirty %v); want both epochs, durable", es, err, dirty)
		}
		appendAt(t, p, 7, simpleBatch(1, 10, 1))
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		es, err = readEpochs(path)
		if err != nil || len(es) != 3 || es[2].epoch != 7 {
			t.Fatalf("after Close the file holds %v (err %v)", es, err)
		}
	})
}
