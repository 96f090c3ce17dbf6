// This file fuzzes the decoders of bytes that come from the network or the
// disk: batch validation and crash recovery.
package storage

import (
	"io/fs"
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
// The valid log (five batches, left as a crash leaves it) is written once;
// its files are held in memory and each execution writes them, the tail
// appended to the segment, into a fresh dir, and ends with a crash (files
// released, nothing flushed), not a clean Close. The target is bound by
// system calls, and the fuzzer's rate decides whether it reaches make
// fuzz-long's ten million: copying the dir file by file and closing
// cleanly took over half of an execution
// (benchmarks/results/2026-12-04-fuzz-recover-rate.md: 1.66x the rate).
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
	files := readTree(f, tmpl)
	segment := filepath.Join(tp0.String(), segmentName(0, logSuffix))
	if files[segment] == nil {
		f.Fatalf("no %s in the written log: %v", segment, files)
	}
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		writeTree(t, dir, files, segment, tail)
		m := open(t, dir)
		defer m.closePartitions() // a crash again: Close's flush is not under test
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

// readTree returns the regular files under root by relative path, and
// each dir with a nil value.
func readTree(t testing.TB, root string) map[string][]byte {
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			out[rel] = nil
			return nil
		}
		b, err := os.ReadFile(path)
		out[rel] = append([]byte{}, b...) // never nil: nil marks a dir
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeTree writes files (from readTree) under root, appending tail to the
// file at the path named tailTo.
func writeTree(t testing.TB, root string, files map[string][]byte, tailTo string, tail []byte) {
	for rel, b := range files {
		if b == nil {
			if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for rel, b := range files {
		if b == nil {
			continue
		}
		if rel == tailTo {
			b = append(b[:len(b):len(b)], tail...)
		}
		if err := os.WriteFile(filepath.Join(root, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
