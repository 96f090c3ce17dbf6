// This file fuzzes the decoders of bytes that come from the network or the
// disk: batch validation and crash recovery.
package storage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
)

// FuzzValidateBatches checks, for any input:
//   - ValidateBatches never panics;
//   - input it accepts re-validates with the same counts, and every batch in
//     it parses with ParseBatchHeader;
//   - flipping any single byte inside the CRC-covered part (attributes to
//     the end) of an accepted batch makes it rejected.
func FuzzValidateBatches(f *testing.F) {
	f.Add(simpleBatch(1, 10, 1), uint16(30))
	f.Add(append(simpleBatch(3, 5, 1), simpleBatch(2, 7, 9)...), uint16(100))
	f.Add(buildBatch(batchOpts{firstTs: 1, producerID: 3, epoch: 0, baseSeq: 0}, []testRec{{key: []byte("k"), value: []byte("v")}}), uint16(70))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, flip uint16) {
		nb, nr, err := ValidateBatches(data, 0)
		if err != nil {
			return
		}
		nb2, nr2, err := ValidateBatches(data, 0)
		if err != nil || nb2 != nb || nr2 != nr {
			t.Fatalf("accepted input did not re-validate: %v (%d/%d vs %d/%d)", err, nb, nr, nb2, nr2)
		}
		h, err := ParseBatchHeader(data)
		if err != nil {
			t.Fatalf("accepted input has no header: %v", err)
		}
		covered := h.Size() - offAttributes
		i := offAttributes + int(flip)%covered
		mut := append([]byte(nil), data...)
		mut[i] ^= 0xff
		if _, _, err := ValidateBatches(mut, 0); err == nil {
			t.Fatalf("flipping byte %d of an accepted batch went unnoticed", i)
		}
	})
}

// FuzzRecover writes a valid log followed by arbitrary tail bytes, recovers
// it uncleanly, and checks: recovery never fails, panics or quarantines
// the partition, every batch that was appended before the tail is still
// there, offsets increase, and the partition accepts appends after.
//
// The valid log (five batches, left as a crash leaves it) is written once
// into a template dir that each execution copies: writing it afresh cost
// two thirds of an execution's system calls, and the fuzzer's rate
// decides whether the target can reach make fuzz-long's ten million.
func FuzzRecover(f *testing.F) {
	f.Add([]byte("garbage"))
	f.Add(simpleBatch(2, 10, 1)[:40])
	f.Add(simpleBatch(2, 10, 1))
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineSync, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	defer rt.Close()
	cfg := testConfig()
	cfg.Durable = false // recovery does not depend on it; keeps the fuzzer fast
	open := func(t testing.TB, dir string) *Manager {
		m, err := OpenManager(ManagerConfig{Dir: dir, Runtime: rt, Logger: quietLogger()}, func(model.TopicPartition) Config { return cfg })
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tmpl := f.TempDir()
	m := open(f, tmpl)
	p, err := m.CreatePartition(tp0, cfg)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		mustAppend(f, p, simpleBatch(2, 50, 1))
	}
	m.closePartitions() // a crash: no clean-shutdown marker, no checkpoints
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(tmpl)); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tp0.String(), segmentName(0, logSuffix))
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.Write(tail)
		fh.Close()
		m := open(t, dir)
		defer m.Close()
		p, ok := m.Partition(tp0)
		if !ok { // a bad tail is cut, never a reason to move the log aside
			t.Fatalf("partition quarantined: %v", m.Recovery().Quarantined)
		}
		_, hw, _ := p.Offsets()
		if hw < 10 {
			t.Fatalf("lost acknowledged data: HW %d", hw)
		}
		// The tail may hold a batch whose CRC holds but whose base offset
		// (outside the CRC) jumps ahead: recovery keeps it, as Kafka's
		// does, so offsets need only increase past the acknowledged ten.
		got := readLog(t, p, 0, true)
		if len(got) < 5 || got[4].LastOffset() != 9 {
			t.Fatalf("the five acknowledged batches (offsets 0-9) did not come back first: %+v", got)
		}
		if r := mustAppend(t, p, simpleBatch(1, 1, 1)); r.BaseOffset != hw {
			t.Fatalf("append after recovery at %d, HW was %d", r.BaseOffset, hw)
		}
	})
}
