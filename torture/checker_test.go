package torture

import (
	"os"
	"strings"
	"testing"
)

// synth builds histories by hand.
type synth struct{ ev []Event }

func (s *synth) send(p ProducerID, seq Seq, txn TxnNum, part int32) {
	s.ev = append(s.ev, Event{Kind: EvSend, Topic: "t", Producer: p, Seq: seq, Txn: txn, Partition: part})
}
func (s *synth) ack(p ProducerID, seq Seq, part int32, off int64) {
	s.ev = append(s.ev, Event{Kind: EvAck, Topic: "t", Producer: p, Seq: seq, Partition: part, Offset: off})
}
func (s *synth) fail(p ProducerID, seq Seq) {
	s.ev = append(s.ev, Event{Kind: EvFail, Topic: "t", Producer: p, Seq: seq, Err: "timeout"})
}
func (s *synth) read(p ProducerID, seq Seq, txn TxnNum, part int32, off int64) {
	s.ev = append(s.ev, Event{Kind: EvRead, Topic: "t", Partition: part, Offset: off,
		Value: Encode(Rec{Producer: p, Seq: seq, Txn: txn}, 8)})
}
func (s *synth) live(p ProducerID, seq Seq, txn TxnNum, part int32, off int64) {
	s.ev = append(s.ev, Event{Kind: EvLive, Topic: "t", Partition: part, Offset: off,
		Value: Encode(Rec{Producer: p, Seq: seq, Txn: txn}, 8)})
}
func (s *synth) txn(p ProducerID, txn TxnNum, o TxnOutcome) {
	s.ev = append(s.ev, Event{Kind: EvTxn, Producer: p, Txn: txn, Outcome: o})
}

// clean: producer 1 writes seq 1..5 to partition 0 (offsets 0..4), all
// acknowledged and read back; producer 2's seq 1 failed and is absent.
func clean() *synth {
	s := &synth{}
	for i := Seq(1); i <= 5; i++ {
		s.send(1, i, 0, 0)
		s.ack(1, i, 0, int64(i-1))
	}
	s.send(2, 1, 0, 1)
	s.fail(2, 1)
	for i := Seq(1); i <= 5; i++ {
		s.read(1, i, 0, 0, int64(i-1))
	}
	// The live reader saw the first three, the second twice.
	s.live(1, 1, 0, 0, 0)
	s.live(1, 2, 0, 0, 1)
	s.live(1, 2, 0, 0, 1)
	s.live(1, 3, 0, 0, 2)
	return s
}

func TestCheckCleanHistory(t *testing.T) {
	r := Check(clean().ev)
	if !r.OK() || r.Sent != 6 || r.Acked != 5 || r.Failed != 1 || r.Read != 5 || r.LiveRead != 4 {
		t.Fatalf("clean history: %v", r)
	}
	// A failed record may also turn up (it was written after all).
	s := clean()
	s.read(2, 1, 0, 1, 0)
	if r := Check(s.ev); !r.OK() {
		t.Fatalf("a failed record that was written is no anomaly: %v", r)
	}
}

// TestCheckCatchesEachAnomaly breaks the clean history in each way the
// checker must notice and checks that exactly that count moves.
func TestCheckCatchesEachAnomaly(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(s *synth)
		field func(Result) int
	}{
		{"lost", func(s *synth) { s.ev = dropRead(s.ev, 1, 3) }, func(r Result) int { return r.Lost }},
		{"duplicated", func(s *synth) { s.read(1, 2, 0, 0, 5) }, func(r Result) int { return r.Duplicated }},
		{"reordered", func(s *synth) {
			// Acknowledged and read at 6 and 5: seq 7 before seq 6.
			s.send(1, 6, 0, 0)
			s.ack(1, 6, 0, 6)
			s.send(1, 7, 0, 0)
			s.ack(1, 7, 0, 5)
			s.read(1, 7, 0, 0, 5)
			s.read(1, 6, 0, 0, 6)
		}, func(r Result) int { return r.Reordered }},
		{"misplaced", func(s *synth) {
			s.send(1, 6, 0, 0)
			s.ack(1, 6, 0, 9)
			s.read(1, 6, 0, 0, 5)
		}, func(r Result) int { return r.Misplaced }},
		{"corrupt", func(s *synth) {
			v := Encode(Rec{Producer: 1, Seq: 6}, 8)
			v[10] ^= 1
			s.ev = append(s.ev, Event{Kind: EvRead, Topic: "t", Offset: 5, Value: v})
		}, func(r Result) int { return r.Corrupt }},
		{"unexpected never sent", func(s *synth) { s.read(3, 1, 0, 0, 5) }, func(r Result) int { return r.Unexpected }},
		{"unexpected wrong partition", func(s *synth) {
			s.send(1, 6, 0, 1)
			s.read(1, 6, 0, 0, 5)
		}, func(r Result) int { return r.Unexpected }},
		{"dirty read gone", func(s *synth) {
			s.send(1, 6, 0, 0)
			s.live(1, 6, 0, 0, 5) // seen while running, not at the end
		}, func(r Result) int { return r.Dirty }},
		{"dirty read moved", func(s *synth) {
			s.send(1, 6, 0, 0)
			s.live(1, 6, 0, 0, 5)
			s.read(1, 6, 0, 0, 7)
		}, func(r Result) int { return r.Dirty }},
		{"aborted visible live", func(s *synth) {
			s.send(9, 1, 1, 0)
			s.txn(9, 1, TxnAborted)
			s.live(9, 1, 1, 0, 5)
		}, func(r Result) int { return r.RCAnomalies }},
		{"aborted visible", func(s *synth) {
			s.send(9, 1, 1, 0)
			s.ack(9, 1, 0, 5)
			s.txn(9, 1, TxnAborted)
			s.read(9, 1, 1, 0, 5)
		}, func(r Result) int { return r.RCAnomalies }},
		{"committed missing", func(s *synth) {
			s.send(9, 1, 1, 0)
			s.send(9, 2, 1, 1)
			s.ack(9, 1, 0, 5)
			s.ack(9, 2, 1, 0)
			s.txn(9, 1, TxnCommitted)
			s.read(9, 1, 1, 0, 5)
		}, func(r Result) int { return r.RCAnomalies }},
		{"unknown partly visible", func(s *synth) {
			s.send(9, 1, 1, 0)
			s.send(9, 2, 1, 1)
			s.txn(9, 1, TxnUnknown)
			s.read(9, 2, 1, 1, 0)
		}, func(r Result) int { return r.RCAnomalies }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := clean()
			c.edit(s)
			r := Check(s.ev)
			if c.field(r) != 1 || r.OK() {
				t.Fatalf("want exactly one anomaly of this kind, got %v", r)
			}
			if len(r.Details) == 0 {
				t.Fatal("no detail names the anomaly")
			}
		})
	}
}

func TestCheckTransactionsWhole(t *testing.T) {
	s := clean()
	// Committed and whole, aborted and invisible, unknown and all or none.
	for txn, o := range map[TxnNum]TxnOutcome{1: TxnCommitted, 2: TxnAborted, 3: TxnUnknown, 4: TxnUnknown} {
		for i := Seq(0); i < 3; i++ {
			s.send(9, Seq(txn)*10+i, txn, int32(i))
		}
		s.txn(9, txn, o)
	}
	off := int64(100)
	for _, txn := range []TxnNum{1, 3} {
		for i := Seq(0); i < 3; i++ {
			s.read(9, Seq(txn)*10+i, txn, int32(i), off)
			off++
		}
	}
	if r := Check(s.ev); !r.OK() || r.Txns != 4 {
		t.Fatalf("%v", r)
	}
}

func TestHistoryFileRoundTrip(t *testing.T) {
	s := clean()
	path := t.TempDir() + "/h.jsonl"
	var b strings.Builder
	if err := WriteEvents(&b, "seed=1", s.ev); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	hdr, ev, err := ReadEventsFile(path)
	if err != nil || hdr != " seed=1" || len(ev) != len(s.ev) {
		t.Fatalf("%q %d %v", hdr, len(ev), err)
	}
	if Check(ev).Summary() != Check(s.ev).Summary() {
		t.Fatal("the checker sees a different history after the file round trip")
	}
}

func dropRead(ev []Event, p ProducerID, seq Seq) []Event {
	var out []Event
	for _, e := range ev {
		if e.Kind == EvRead {
			if r, err := Decode(e.Value); err == nil && r.Producer == p && r.Seq == seq {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}
