// This file proves the replication seams: an externally held high
// watermark, reads to the log end, the follower append path (offsets and
// epochs kept, CRC and contiguity checked, producer state updated),
// OffsetForLeaderEpoch answers, and TruncateTo, including a crash right
// after it.
package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

func appendEpoch(t *testing.T, p *Partition, records []byte, epoch model.Epoch) AppendResult {
	t.Helper()
	ch := make(chan AppendResult, 1)
	p.Append(records, epoch, func(r AppendResult) { ch <- r })
	select {
	case r := <-ch:
		if r.Err != nil {
			t.Fatalf("append: %v", r.Err)
		}
		return r
	case <-time.After(waitTimeout):
		t.Fatalf("append did not complete within %v", waitTimeout)
		return AppendResult{}
	}
}

func appendReplicaWait(t *testing.T, p *Partition, records []byte) AppendResult {
	t.Helper()
	ch := make(chan AppendResult, 1)
	p.AppendReplica(records, func(r AppendResult) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatalf("append replica did not complete within %v", waitTimeout)
		return AppendResult{}
	}
}

func epochsOf(t *testing.T, p *Partition) []EpochStart {
	t.Helper()
	es, err := p.LeaderEpochs()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestExternalHighWatermark(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		if err := p.SetExternalHW(true); err != nil {
			t.Fatal(err)
		}
		end := fill(t, p, 4)
		if _, hw, le := p.Offsets(); hw != 0 || le != end {
			t.Fatalf("offsets hw=%d le=%d, want 0 and %d", hw, le, end)
		}
		if res, err := p.Read(0, 1<<20, true); err != nil || len(res.Records) != 0 {
			t.Fatalf("consumer read above the HW: %d bytes, %v", len(res.Records), err)
		}
		res, err := p.ReadReplica(0, 1<<20, true)
		if err != nil || len(res.Records) == 0 || res.HighWatermark != 0 {
			t.Fatalf("replica read: %d bytes, hw %d, %v", len(res.Records), res.HighWatermark, err)
		}
		if _, err := p.ReadReplica(end+1, 1<<20, true); !errors.Is(err, model.ErrOffsetOutOfRange) {
			t.Fatalf("replica read past the log end: %v", err)
		}
		ch := p.Changed()
		if hw, err := p.SetHighWatermark(5); err != nil || hw != 5 {
			t.Fatalf("SetHighWatermark(5) = %d, %v", hw, err)
		}
		select {
		case <-ch:
		case <-time.After(waitTimeout):
			t.Fatal("Changed did not fire")
		}
		if hw, _ := p.SetHighWatermark(end + 100); hw != end {
			t.Fatalf("HW not bounded by the log end: %d, want %d", hw, end)
		}
		if err := p.SetExternalHW(false); err != nil {
			t.Fatal(err)
		}
		more := mustAppend(t, p, simpleBatch(1, 10, 5000))
		if _, hw, _ := p.Offsets(); hw != more.LastOffset+1 {
			t.Fatalf("single-node HW %d after leaving external mode, want %d", hw, more.LastOffset+1)
		}
	})
}

func TestEndOffsetForEpochSemantics(t *testing.T) {
	es := []epochEntry{{epoch: 1, start: 0}, {epoch: 3, start: 10}, {epoch: 6, start: 25}}
	for _, c := range []struct {
		ask         model.Epoch
		epoch       model.Epoch
		end         model.Offset
		explanation string
	}{
		{6, 6, 40, "latest epoch ends at the log end"},
		{3, 3, 25, "known epoch ends where the next starts"},
		{4, 3, 25, "unknown epoch between: the floor epoch, the next start"},
		{0, 0, 0, "older than every entry: the first start"},
		{7, -1, -1, "newer than any: undefined"},
		{-1, -1, -1, "undefined asked"},
	} {
		e, o := endOffsetForEpoch(es, c.ask, 40)
		if e != c.epoch || o != c.end {
			t.Errorf("%s: endOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", c.explanation, c.ask, e, o, c.epoch, c.end)
		}
	}
	if e, o := endOffsetForEpoch(nil, 1, 40); e != -1 || o != -1 {
		t.Errorf("empty cache: (%d, %d)", e, o)
	}
}

func TestAppendReplicaKeepsOffsetsAndEpochs(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		defer m.Close()
		leader := e.create(m, tp0)
		follower := e.create(m, model.TopicPartition{Topic: "orders", Partition: 1})
		if err := follower.SetExternalHW(true); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30; i++ {
			appendEpoch(t, leader, simpleBatch(3, 300, int64(1000+i)), model.Epoch(1+i/10*2))
		}
		appendEpoch(t, leader, idemBatch(7, 0, 0, 2), 7)
		_, _, end := leader.Offsets()
		// Copy in fetch-sized pieces, as a follower would.
		for next := model.Offset(0); next < end; {
			res, err := leader.ReadReplica(next, 4096, true)
			if err != nil {
				t.Fatal(err)
			}
			r := appendReplicaWait(t, follower, res.Records)
			if r.Err != nil {
				t.Fatalf("append replica at %d: %v", next, r.Err)
			}
			if r.BaseOffset != next {
				t.Fatalf("replica append at %d reported base %d", next, r.BaseOffset)
			}
			next = r.LastOffset + 1
		}
		if _, _, fe := follower.Offsets(); fe != end {
			t.Fatalf("follower end %d, leader %d", fe, end)
		}
		le, fe := epochsOf(t, leader), epochsOf(t, follower)
		if len(le) != 4 || len(fe) != len(le) {
			t.Fatalf("epochs leader %v follower %v", le, fe)
		}
		for i := range le {
			if le[i] != fe[i] {
				t.Fatalf("epoch entry %d: leader %v follower %v", i, le[i], fe[i])
			}
		}
		if _, err := follower.SetHighWatermark(end); err != nil {
			t.Fatal(err)
		}
		lr, _ := leader.Read(0, 1<<30, true)
		fr, _ := follower.Read(0, 1<<30, true)
		n := min(len(lr.Records), len(fr.Records))
		if n == 0 || !bytes.Equal(lr.Records[:n], fr.Records[:n]) {
			t.Fatal("follower bytes differ from the leader's")
		}
		// Producer state came along: the follower, made leader, dedupes.
		if err := follower.SetExternalHW(false); err != nil {
			t.Fatal(err)
		}
		if r := mustAppend(t, follower, idemBatch(7, 0, 0, 2)); r.BaseOffset != end-2 {
			t.Fatalf("retry on the new leader got %d, want duplicate at %d", r.BaseOffset, end-2)
		}

		// Refusals: batches that overlap, a batch that does not continue
		// the log, a bad CRC.
		res, _ := leader.ReadReplica(0, 4096, true)
		if r := appendReplicaWait(t, follower, res.Records); !errors.Is(r.Err, model.ErrOffsetOutOfRange) {
			t.Fatalf("replica append at an old offset: %v", r.Err)
		}
		b := simpleBatch(2, 10, 1)
		setBatchOffsetAndEpoch(b, end, 5)
		overlap := simpleBatch(2, 10, 1)
		setBatchOffsetAndEpoch(overlap, end+1, 5)
		if r := appendReplicaWait(t, follower, append(append([]byte(nil), b...), overlap...)); !errors.Is(r.Err, model.ErrInvalidRecord) {
			t.Fatalf("replica append of overlapping batches: %v", r.Err)
		}
		bad := append([]byte(nil), b...)
		bad[len(bad)-1] ^= 0xff
		if r := appendReplicaWait(t, follower, bad); !errors.Is(r.Err, model.ErrCorruptRecord) {
			t.Fatalf("replica append with a bad CRC: %v", r.Err)
		}
		if r := appendReplicaWait(t, follower, b); r.Err != nil || r.BaseOffset != end {
			t.Fatalf("good replica append: %+v", r)
		}
		// A compacted leader's log has gaps; the follower keeps them.
		gap := simpleBatch(2, 10, 1)
		setBatchOffsetAndEpoch(gap, end+7, 5)
		if r := appendReplicaWait(t, follower, gap); r.Err != nil || r.BaseOffset != end+7 || r.LastOffset != end+8 {
			t.Fatalf("replica append after a gap: %+v", r)
		}
		if _, _, logEnd := follower.Offsets(); logEnd != end+9 {
			t.Fatalf("log end after the gap %d, want %d", logEnd, end+9)
		}
	})
}

func TestTruncateToAndCrash(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.open()
		p := e.create(m, tp0)
		var cut model.Offset
		for i := 0; i < 60; i++ {
			if i == 40 {
				cut = appendEpoch(t, p, idemBatch(7, 0, 0, 2), 2).BaseOffset
				appendEpoch(t, p, idemBatch(7, 0, 2, 2), 2)
			}
			appendEpoch(t, p, simpleBatch(3, 300, int64(1000+i)), model.Epoch(1+i/40*2))
		}
		_, segsBefore := p.Size()
		if err := p.TruncateTo(cut + 2); err != nil {
			t.Fatal(err)
		}
		check := func(p *Partition, what string) {
			t.Helper()
			if _, hw, le := p.Offsets(); le != cut+2 || hw != cut+2 {
				t.Fatalf("%s: hw %d end %d, want %d", what, hw, le, cut+2)
			}
			hs := readAll(t, p, 0)
			if last := hs[len(hs)-1]; last.LastOffset() != cut+1 || last.ProducerID != 7 {
				t.Fatalf("%s: last batch %+v", what, last)
			}
			es := epochsOf(t, p)
			if len(es) != 2 || es[1] != (EpochStart{Epoch: 2, StartOffset: cut}) {
				t.Fatalf("%s: epochs %v", what, es)
			}
			if ep, end, _ := p.EndOffsetForEpoch(1); ep != 1 || end != cut {
				t.Fatalf("%s: EndOffsetForEpoch(1) = %d, %d", what, ep, end)
			}
		}
		check(p, "after truncate")
		if _, segs := p.Size(); segs >= segsBefore {
			t.Fatalf("%d segments after truncate, %d before", segs, segsBefore)
		}
		// Producer state forgot the dropped batch: seq 2 is new again, not
		// a duplicate of the truncated one.
		r := appendEpoch(t, p, idemBatch(7, 0, 2, 2), 4)
		if r.BaseOffset != cut+2 {
			t.Fatalf("re-append after truncate at %d, want %d", r.BaseOffset, cut+2)
		}
		if err := p.TruncateTo(cut + 2); err != nil {
			t.Fatal(err)
		}
		if err := p.TruncateTo(r.LastOffset + 10); err != nil {
			t.Fatal(err)
		}
		check(p, "after second truncate")
		crash(m)

		m = e.open()
		defer m.Close()
		p, _ = m.Partition(tp0)
		check(p, "after crash")
		if r := mustAppend(t, p, idemBatch(7, 0, 2, 2)); r.BaseOffset != cut+2 {
			t.Fatalf("append after crash at %d, want %d", r.BaseOffset, cut+2)
		}
		if err := p.TruncateTo(-5); !errors.Is(err, model.ErrOffsetOutOfRange) {
			t.Fatalf("truncate below the log start: %v", err)
		}
		// Truncating into the first segment leaves one segment; the log
		// goes on from there.
		if err := p.TruncateTo(3); err != nil {
			t.Fatal(err)
		}
		if _, segs := p.Size(); segs != 1 {
			t.Fatalf("%d segments after truncating to 3", segs)
		}
		if _, _, le := p.Offsets(); le != 3 {
			t.Fatalf("log end %d after truncating to 3", le)
		}
		if r := mustAppend(t, p, simpleBatch(1, 10, 1)); r.BaseOffset != 3 {
			t.Fatalf("append after truncating to 3 at %d", r.BaseOffset)
		}
	})
}
