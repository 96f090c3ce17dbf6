package torture

import (
	"fmt"
	"sort"
	"strings"
)

// Result is what Check found in a history.
type Result struct {
	Sent, Acked, Failed, Read int
	LiveRead                  int // records the live reader saw
	Txns                      int // transactions ended
	// Lost: acknowledged (or in a committed transaction) but never read.
	Lost int
	// Duplicated: one (producer, seq) read more than once.
	Duplicated int
	// Reordered: per producer, topic and partition, an acknowledged record
	// read at a lower offset than an acknowledged one sent before it.
	Reordered int
	// Misplaced: read, but not at the offset it was acknowledged at.
	Misplaced int
	// Corrupt: a value that does not decode (magic, length, CRC).
	Corrupt int
	// Unexpected: a well-formed record that was never sent, or read from
	// another topic or partition than it was sent to.
	Unexpected int
	// Dirty: read by the live reader while faults ran, but absent from
	// the final read or there at another offset (a read of a record the
	// log later lost or replaced).
	Dirty int
	// RCAnomalies: read_committed broken: a record of an aborted
	// transaction visible, one of a committed transaction missing, or a
	// transaction of unknown outcome partly visible.
	RCAnomalies int
	// Details name the first anomalies found (at most maxDetails).
	Details []string
}

const maxDetails = 20

// OK reports whether no anomaly was found.
func (r Result) OK() bool {
	return r.Lost+r.Duplicated+r.Reordered+r.Misplaced+r.Corrupt+r.Unexpected+r.Dirty+r.RCAnomalies == 0
}

// Summary is the counts on one line.
func (r Result) Summary() string {
	return fmt.Sprintf("sent=%d acked=%d failed=%d read=%d live_read=%d txns=%d lost=%d duplicated=%d reordered=%d misplaced=%d corrupt=%d unexpected=%d dirty=%d read_committed_anomalies=%d",
		r.Sent, r.Acked, r.Failed, r.Read, r.LiveRead, r.Txns, r.Lost, r.Duplicated, r.Reordered, r.Misplaced, r.Corrupt, r.Unexpected, r.Dirty, r.RCAnomalies)
}

func (r *Result) note(format string, args ...any) {
	if len(r.Details) < maxDetails {
		r.Details = append(r.Details, fmt.Sprintf(format, args...))
	}
}

type recKey struct {
	p ProducerID
	s Seq
}

type sendInfo struct {
	topic     string
	partition int32
	txn       TxnNum
	acked     bool
	offset    int64
}

type readInfo struct {
	topic     string
	partition int32
	offset    int64
	rec       Rec
}

// Check finds the anomalies in ev (see Result). Reads of a topic are taken
// as one complete read of it: everything acknowledged should be there.
// Records of transactions are judged by their transaction's outcome; a
// record that failed, or was never answered, may be present or absent.
func Check(ev []Event) Result {
	var res Result
	sent := map[recKey]*sendInfo{}
	outcome := map[recKey]TxnOutcome{} // by (producer, txn)
	var reads, live []readInfo
	for _, e := range ev {
		k := recKey{e.Producer, e.Seq}
		switch e.Kind {
		case EvSend:
			res.Sent++
			sent[k] = &sendInfo{topic: e.Topic, partition: e.Partition, txn: e.Txn}
		case EvAck:
			if s := sent[k]; s != nil {
				res.Acked++
				s.acked, s.offset = true, e.Offset
			}
		case EvFail:
			res.Failed++
		case EvTxn:
			res.Txns++
			outcome[recKey{e.Producer, Seq(e.Txn)}] = e.Outcome
		case EvRead:
			res.Read++
			r, err := Decode(e.Value)
			if err != nil {
				res.Corrupt++
				res.note("corrupt record at %s/%d@%d: %v", e.Topic, e.Partition, e.Offset, err)
				continue
			}
			reads = append(reads, readInfo{e.Topic, e.Partition, e.Offset, r})
		case EvLive:
			res.LiveRead++
			r, err := Decode(e.Value)
			if err != nil {
				res.Corrupt++
				res.note("corrupt record read live at %s/%d@%d: %v", e.Topic, e.Partition, e.Offset, err)
				continue
			}
			live = append(live, readInfo{e.Topic, e.Partition, e.Offset, r})
		}
	}
	seen := map[recKey]int{}
	type stream struct {
		topic string
		part  int32
		p     ProducerID
	}
	streams := map[stream][]readInfo{}
	for _, r := range reads {
		k := recKey{r.rec.Producer, r.rec.Seq}
		s := sent[k]
		if s == nil || s.topic != r.topic || s.partition != r.partition || s.txn != r.rec.Txn {
			res.Unexpected++
			res.note("unexpected record %d/%d (txn %d) at %s/%d@%d", k.p, k.s, r.rec.Txn, r.topic, r.partition, r.offset)
			continue
		}
		seen[k]++
		if seen[k] > 1 {
			res.Duplicated++
			res.note("duplicate of %d/%d at %s/%d@%d", k.p, k.s, r.topic, r.partition, r.offset)
			continue
		}
		if s.acked && s.offset != r.offset {
			res.Misplaced++
			res.note("record %d/%d read at %s/%d@%d, acknowledged at offset %d", k.p, k.s, r.topic, r.partition, r.offset, s.offset)
		}
		if s.acked {
			st := stream{r.topic, r.partition, k.p}
			streams[st] = append(streams[st], r)
		}
	}
	for st, rs := range streams {
		sort.Slice(rs, func(i, j int) bool { return rs[i].offset < rs[j].offset })
		var last Seq
		for _, r := range rs {
			if r.rec.Seq < last {
				res.Reordered++
				res.note("reordered: producer %d seq %d at %s/%d@%d after seq %d", st.p, r.rec.Seq, st.topic, st.part, r.offset, last)
				continue
			}
			last = r.rec.Seq
		}
	}
	checkSent(&res, sent, seen, outcome)
	checkLive(&res, live, reads, sent, outcome)
	sort.Strings(res.Details)
	return res
}

// checkSent finds lost records and read_committed anomalies from what was
// sent and what was seen.
func checkSent(res *Result, sent map[recKey]*sendInfo, seen map[recKey]int, outcome map[recKey]TxnOutcome) {
	type txnState struct{ records, visible int }
	txns := map[recKey]*txnState{}
	for k, s := range sent {
		if s.txn == 0 {
			if s.acked && seen[k] == 0 {
				res.Lost++
				res.note("lost: %d/%d acknowledged at %s/%d@%d, not read", k.p, k.s, s.topic, s.partition, s.offset)
			}
			continue
		}
		tk := recKey{k.p, Seq(s.txn)}
		ts := txns[tk]
		if ts == nil {
			ts = &txnState{}
			txns[tk] = ts
		}
		ts.records++
		if seen[k] > 0 {
			ts.visible++
		}
	}
	keys := make([]recKey, 0, len(txns))
	for k := range txns {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].p < keys[j].p || keys[i].p == keys[j].p && keys[i].s < keys[j].s
	})
	for _, tk := range keys {
		ts := txns[tk]
		o, ok := outcome[tk]
		if !ok {
			o = TxnUnknown
		}
		bad := ""
		switch {
		case o == TxnAborted && ts.visible > 0:
			bad = "aborted, yet visible"
		case o == TxnCommitted && ts.visible < ts.records:
			bad = "committed, yet not all visible"
			res.Lost += ts.records - ts.visible
		case o == TxnUnknown && ts.visible > 0 && ts.visible < ts.records:
			bad = "of unknown outcome, partly visible"
		}
		if bad != "" {
			res.RCAnomalies++
			res.note("transaction %d of producer %d %s: %d of %d records", tk.s, tk.p, bad, ts.visible, ts.records)
		}
	}
}

// checkLive finds dirty reads (seen live, then gone or moved) and records
// of aborted transactions seen live. A record seen live twice (the reader
// fetched again after an error) is no anomaly.
func checkLive(res *Result, live, reads []readInfo, sent map[recKey]*sendInfo, outcome map[recKey]TxnOutcome) {
	final := map[recKey]readInfo{}
	for _, r := range reads {
		k := recKey{r.rec.Producer, r.rec.Seq}
		if _, ok := final[k]; !ok {
			final[k] = r
		}
	}
	done := map[recKey]bool{}
	for _, r := range live {
		k := recKey{r.rec.Producer, r.rec.Seq}
		if done[k] {
			continue
		}
		done[k] = true
		s := sent[k]
		if s == nil || s.topic != r.topic || s.partition != r.partition || s.txn != r.rec.Txn {
			res.Unexpected++
			res.note("unexpected record %d/%d (txn %d) read live at %s/%d@%d", k.p, k.s, r.rec.Txn, r.topic, r.partition, r.offset)
			continue
		}
		if s.txn != 0 && outcome[recKey{k.p, Seq(s.txn)}] == TxnAborted {
			res.RCAnomalies++
			res.note("record %d/%d of aborted transaction %d read live at %s/%d@%d", k.p, k.s, s.txn, r.topic, r.partition, r.offset)
			continue
		}
		f, ok := final[k]
		if !ok || f.offset != r.offset {
			res.Dirty++
			res.note("dirty read: %d/%d read live at %s/%d@%d, at the end %v", k.p, k.s, r.topic, r.partition, r.offset, finalAt(f, ok))
		}
	}
}

func finalAt(f readInfo, ok bool) string {
	if !ok {
		return "absent"
	}
	return fmt.Sprintf("at offset %d", f.offset)
}

// String lists the counts and the details, one per line.
func (r Result) String() string {
	var b strings.Builder
	b.WriteString(r.Summary())
	for _, d := range r.Details {
		b.WriteString("\n  ")
		b.WriteString(d)
	}
	return b.String()
}
