package share

// StateBatch is a run of records with one durable state and delivery
// count (Kafka's StateBatch of ShareSnapshotValue/ShareUpdateValue).
// Durable states are Available, Acknowledged and Archived: an acquired
// record is written as Available with its delivery count, since its lock
// does not survive a restart or a leader move (as in Kafka).
type StateBatch struct {
	First, Last   int64
	State         RecordState
	DeliveryCount int16
}

// Snapshot is the durable state of one share-partition.
type Snapshot struct {
	StateEpoch  int32
	LeaderEpoch int32
	// StartOffset is the SPSO; -1 in a ShareUpdate that does not move it.
	StartOffset int64
	Batches     []StateBatch
}

// Snapshot returns the durable state: the SPSO and the window as runs.
func (p *Partition) Snapshot() Snapshot {
	s := Snapshot{StateEpoch: p.stateEpoch, LeaderEpoch: -1, StartOffset: p.start}
	for i, r := range p.recs {
		st := r.state
		if st == Acquired {
			st = Available
		}
		off := p.start + int64(i)
		if k := len(s.Batches) - 1; k >= 0 && s.Batches[k].State == st && s.Batches[k].DeliveryCount == r.count && s.Batches[k].Last == off-1 {
			s.Batches[k].Last = off
			continue
		}
		s.Batches = append(s.Batches, StateBatch{First: off, Last: off, State: st, DeliveryCount: r.count})
	}
	return s
}

// StateEpoch is the durable state's epoch.
func (p *Partition) StateEpoch() int32 { return p.stateEpoch }

// Restore rebuilds a share-partition from its durable state. Batches
// below the SPSO are ignored; offsets in the window no batch covers are
// Available, never delivered. A window past MaxRecordLocks is cut there
// (the records beyond are read again as new); Acquired in a batch reads
// as Available.
func Restore(cfg Config, s Snapshot) *Partition {
	p := New(cfg, s.StartOffset)
	p.stateEpoch = s.StateEpoch
	limit := p.start + int64(p.cfg.MaxRecordLocks)
	for _, b := range s.Batches {
		first, last := max(b.First, p.start), min(b.Last, limit-1)
		if last < first {
			continue
		}
		st := b.State
		switch st {
		case Acknowledged, Archived:
		default:
			st = Available
		}
		for p.EndOffset() <= last {
			p.recs = append(p.recs, record{})
		}
		for off := first; off <= last; off++ {
			p.recs[off-p.start] = record{state: st, count: max(b.DeliveryCount, 0)}
		}
	}
	p.advance()
	return p
}

// Apply merges a ShareUpdate's batches into a snapshot (the durable form
// the share coordinator keeps): the update's start offset, when not -1,
// moves the SPSO; its batches replace the state of the offsets they
// cover.
func (s *Snapshot) Apply(u Snapshot, maxRecords int) {
	if maxRecords <= 0 {
		maxRecords = DefaultMaxRecordLocks
	}
	p := Restore(Config{MaxRecordLocks: maxRecords}, *s)
	if u.StartOffset >= 0 {
		p.MoveStart(max(u.StartOffset, p.start))
	}
	limit := p.start + int64(p.cfg.MaxRecordLocks)
	for _, b := range u.Batches {
		first, last := max(b.First, p.start), min(b.Last, limit-1)
		if last < first {
			continue
		}
		st := b.State
		if st != Acknowledged && st != Archived {
			st = Available
		}
		for p.EndOffset() <= last {
			p.recs = append(p.recs, record{})
		}
		for off := first; off <= last; off++ {
			p.recs[off-p.start] = record{state: st, count: max(b.DeliveryCount, 0)}
		}
	}
	p.advance()
	out := p.Snapshot()
	out.StateEpoch, out.LeaderEpoch = s.StateEpoch, max(s.LeaderEpoch, u.LeaderEpoch)
	*s = out
}
