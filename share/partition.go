package share

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// RecordState is a record's delivery state, numbered as Kafka's
// RecordState (and the DeliveryState of its state batches).
type RecordState int8

const (
	Available    RecordState = 0
	Acquired     RecordState = 1
	Acknowledged RecordState = 2
	Archived     RecordState = 4
)

func (s RecordState) String() string {
	switch s {
	case Available:
		return "Available"
	case Acquired:
		return "Acquired"
	case Acknowledged:
		return "Acknowledged"
	case Archived:
		return "Archived"
	}
	return fmt.Sprintf("RecordState(%d)", int8(s))
}

// AckType is an acknowledgement type of ShareFetch/ShareAcknowledge.
type AckType int8

const (
	AckGap     AckType = 0
	AckAccept  AckType = 1
	AckRelease AckType = 2
	AckReject  AckType = 3
	// AckRenew (KIP-1222, v2) extends the lock of records still held.
	AckRenew AckType = 4
)

// Errors of the state machine; the kafka package maps them to codes.
var (
	// ErrInvalidRecordState: an acknowledgement names records the member
	// does not hold (never acquired, acquired by another member, lock
	// expired, or already acknowledged). Kafka: INVALID_RECORD_STATE.
	ErrInvalidRecordState = errors.New("share: records not acquired by this member")
	// ErrInvalidRequest: a malformed acknowledgement batch (last before
	// first, a types array of the wrong length, an unknown type).
	ErrInvalidRequest = errors.New("share: invalid acknowledgement batch")
)

// Limits and Kafka's defaults.
const (
	DefaultLockDuration       = 30 * time.Second
	DefaultDeliveryCountLimit = 5
	DefaultMaxRecordLocks     = 2000
)

// Counters are cumulative counts over every share-partition that shares
// them (the broker's metrics). Safe for concurrent use.
type Counters struct {
	Acquired     atomic.Int64 // records acquired (each delivery)
	Accepted     atomic.Int64 // ACCEPT acknowledgements, in records
	Released     atomic.Int64 // RELEASE acknowledgements, in records
	Rejected     atomic.Int64 // REJECT acknowledgements, in records
	Gaps         atomic.Int64 // GAP acknowledgements, in records
	Renewed      atomic.Int64 // RENEW acknowledgements, in records
	Archived     atomic.Int64 // records archived (rejected, gaps, delivery limit reached)
	LockExpiries atomic.Int64 // acquisition locks that expired
}

// Config configures one share-partition.
type Config struct {
	// LockDuration is the acquisition lock (share.record.lock.duration.ms).
	LockDuration time.Duration
	// DeliveryCountLimit is share.delivery.count.limit: a record released
	// (or whose lock expires) after this many deliveries is archived.
	DeliveryCountLimit int
	// MaxRecordLocks is group.share.partition.max.record.locks: the most
	// records the window (SPSO to SPEO) holds; no new records are
	// acquired past it until the SPSO moves.
	MaxRecordLocks int
	// Counters, when set, is told about every transition.
	Counters *Counters
}

func (c *Config) fill() {
	if c.LockDuration <= 0 {
		c.LockDuration = DefaultLockDuration
	}
	if c.DeliveryCountLimit <= 0 {
		c.DeliveryCountLimit = DefaultDeliveryCountLimit
	}
	if c.MaxRecordLocks <= 0 {
		c.MaxRecordLocks = DefaultMaxRecordLocks
	}
	if c.Counters == nil {
		c.Counters = &Counters{}
	}
}

type record struct {
	state    RecordState
	count    int16
	member   string
	deadline time.Time
}

// Partition is one share-partition's in-flight state. It is not safe for
// concurrent use: the caller serializes calls (one mutex per partition).
type Partition struct {
	cfg Config
	// start is the SPSO; recs[i] is offset start+i; the SPEO is
	// start+len(recs).
	start int64
	recs  []record
	// acquired counts records in state Acquired; nextDeadline is the
	// earliest lock deadline among them (zero when none).
	acquired     int
	nextDeadline time.Time
	// stateEpoch is the durable state's epoch (bumped by
	// AlterShareGroupOffsets-like resets); version counts the changes the
	// durable state must see.
	stateEpoch int32
	version    uint64
}

// New is an empty share-partition starting at start.
func New(cfg Config, start int64) *Partition {
	cfg.fill()
	return &Partition{cfg: cfg, start: max(start, 0)}
}

// SetConfig changes the lock duration, delivery limit and window bound
// (group configs changed); records already acquired keep their deadlines.
func (p *Partition) SetConfig(cfg Config) {
	cfg.fill()
	p.cfg = cfg
}

// StartOffset is the SPSO.
func (p *Partition) StartOffset() int64 { return p.start }

// EndOffset is the SPEO: the first offset never acquired.
func (p *Partition) EndOffset() int64 { return p.start + int64(len(p.recs)) }

// Version changes whenever the durable state (Snapshot) changes.
func (p *Partition) Version() uint64 { return p.version }

// AcquiredCount is how many records are acquired now.
func (p *Partition) AcquiredCount() int { return p.acquired }

// State returns offset's state and delivery count; offsets below the SPSO
// are reported Acknowledged (done), at or past the SPEO Available.
func (p *Partition) State(offset int64) (RecordState, int16, string) {
	if offset < p.start {
		return Acknowledged, 0, ""
	}
	i := offset - p.start
	if i >= int64(len(p.recs)) {
		return Available, 0, ""
	}
	r := p.recs[i]
	return r.state, r.count, r.member
}

// NextFetchOffset is where the next read of the log starts: the first
// Available record in the window, else the SPEO.
func (p *Partition) NextFetchOffset() int64 {
	for i, r := range p.recs {
		if r.state == Available {
			return p.start + int64(i)
		}
	}
	return p.EndOffset()
}

// CanAcquire reports whether an Acquire could hand out anything: an
// Available record in the window, or room past the SPEO.
func (p *Partition) CanAcquire() bool {
	if len(p.recs) < p.cfg.MaxRecordLocks {
		return true
	}
	return p.NextFetchOffset() < p.EndOffset()
}

// AcquiredRange is one range of records handed to a member with one
// delivery count (ShareFetch's AcquiredRecords).
type AcquiredRange struct {
	First, Last   int64
	DeliveryCount int16
}

// Acquire gives member the Available records among first..last (the
// offsets of the batches just read from the log), at most maxRecords
// (<= 0: no limit), each locked until now + the lock duration with its
// delivery count incremented. Offsets at or past the SPEO join the
// window, up to MaxRecordLocks records. Offsets the log did not return
// (compacted, control records) are acquired too; the client acknowledges
// them as gaps.
func (p *Partition) Acquire(member string, first, last int64, maxRecords int, now time.Time) []AcquiredRange {
	if last < first || last < p.start {
		return nil
	}
	if first < p.start {
		first = p.start
	}
	if end := p.EndOffset(); first > end {
		if p.acquired == 0 && p.allDone() {
			// Nothing in flight: the window jumps to the read (the log
			// start passed the SPEO).
			p.start, p.recs = first, p.recs[:0]
			p.version++
		} else {
			first = end // only records in or right after the window
			if first > last {
				return nil
			}
		}
	}
	deadline := now.Add(p.cfg.LockDuration)
	var out []AcquiredRange
	n := 0
	for off := first; off <= last; off++ {
		if maxRecords > 0 && n >= maxRecords {
			break
		}
		i := off - p.start
		if i >= int64(len(p.recs)) {
			if len(p.recs) >= p.cfg.MaxRecordLocks {
				break
			}
			p.recs = append(p.recs, record{})
		}
		r := &p.recs[i]
		if r.state != Available {
			continue
		}
		r.state, r.member, r.deadline = Acquired, member, deadline
		r.count++
		p.acquired++
		n++
		if k := len(out) - 1; k >= 0 && out[k].Last == off-1 && out[k].DeliveryCount == r.count {
			out[k].Last = off
		} else {
			out = append(out, AcquiredRange{First: off, Last: off, DeliveryCount: r.count})
		}
	}
	if n > 0 {
		if p.nextDeadline.IsZero() || deadline.Before(p.nextDeadline) {
			p.nextDeadline = deadline
		}
		p.cfg.Counters.Acquired.Add(int64(n))
	}
	return out
}

// Skip archives the Available records among first..last without
// delivering them (records of aborted transactions under read_committed);
// offsets past the SPEO join the window archived, up to MaxRecordLocks.
// It returns how many it archived.
func (p *Partition) Skip(first, last int64) int {
	first = max(first, p.start)
	n := 0
	for off := first; off <= last; off++ {
		for p.EndOffset() <= off {
			if len(p.recs) >= p.cfg.MaxRecordLocks {
				p.advance()
				return n
			}
			p.recs = append(p.recs, record{}) // Available, never delivered
		}
		if r := &p.recs[off-p.start]; r.state == Available {
			p.settle(r, Archived)
			n++
		}
	}
	p.advance()
	return n
}

func (p *Partition) allDone() bool {
	for _, r := range p.recs {
		if r.state != Acknowledged && r.state != Archived {
			return false
		}
	}
	return true
}

// AckBatch is one acknowledgement batch: Types has one type for the whole
// range or one per offset.
type AckBatch struct {
	First, Last int64
	Types       []AckType
}

// Acknowledge applies member's acknowledgements of one partition as a
// whole: when any offset is not acquired by member (ErrInvalidRecordState)
// or any batch is malformed (ErrInvalidRequest), nothing changes. RENEW is
// accepted only with allowRenew (ShareFetch/ShareAcknowledge v2 with
// IsRenewAck).
func (p *Partition) Acknowledge(member string, batches []AckBatch, allowRenew bool, now time.Time) error {
	for _, b := range batches {
		if err := p.checkAck(member, b, allowRenew); err != nil {
			return err
		}
	}
	deadline := now.Add(p.cfg.LockDuration)
	for _, b := range batches {
		for off := b.First; off <= b.Last; off++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[off-b.First]
			}
			r := &p.recs[off-p.start]
			switch t {
			case AckAccept:
				p.settle(r, Acknowledged)
				p.cfg.Counters.Accepted.Add(1)
			case AckReject:
				p.settle(r, Archived)
				p.cfg.Counters.Rejected.Add(1)
			case AckGap:
				p.settle(r, Archived)
				p.cfg.Counters.Gaps.Add(1)
			case AckRelease:
				p.release(r)
				p.cfg.Counters.Released.Add(1)
			case AckRenew:
				r.deadline = deadline
				p.cfg.Counters.Renewed.Add(1)
			}
		}
	}
	p.advance()
	return nil
}

func (p *Partition) checkAck(member string, b AckBatch, allowRenew bool) error {
	if b.Last < b.First || len(b.Types) == 0 || (len(b.Types) > 1 && int64(len(b.Types)) != b.Last-b.First+1) {
		return fmt.Errorf("%w: offsets %d-%d with %d types", ErrInvalidRequest, b.First, b.Last, len(b.Types))
	}
	for _, t := range b.Types {
		if t < AckGap || t > AckRenew || (t == AckRenew && !allowRenew) {
			return fmt.Errorf("%w: acknowledge type %d", ErrInvalidRequest, t)
		}
	}
	if b.First < p.start || b.Last >= p.EndOffset() {
		return fmt.Errorf("%w: offsets %d-%d outside the in-flight window %d-%d", ErrInvalidRecordState, b.First, b.Last, p.start, p.EndOffset())
	}
	for off := b.First; off <= b.Last; off++ {
		r := p.recs[off-p.start]
		if r.state != Acquired || r.member != member {
			return fmt.Errorf("%w: offset %d is %s", ErrInvalidRecordState, off, r.state)
		}
	}
	return nil
}

// settle ends an acquired record's delivery in state s.
func (p *Partition) settle(r *record, s RecordState) {
	if r.state == Acquired {
		p.acquired--
	}
	r.state, r.member, r.deadline = s, "", time.Time{}
	if s == Archived {
		p.cfg.Counters.Archived.Add(1)
	}
	p.version++
}

// release makes an acquired record Available again, or Archived once it
// has been delivered DeliveryCountLimit times.
func (p *Partition) release(r *record) {
	if int(r.count) >= p.cfg.DeliveryCountLimit {
		p.settle(r, Archived)
		return
	}
	p.settle(r, Available)
}

// advance moves the SPSO over the acknowledged and archived prefix.
func (p *Partition) advance() {
	i := 0
	for i < len(p.recs) && (p.recs[i].state == Acknowledged || p.recs[i].state == Archived) {
		i++
	}
	if i == 0 {
		return
	}
	p.start += int64(i)
	p.recs = append(p.recs[:0], p.recs[i:]...)
	p.version++
}

// Tick expires the acquisition locks whose deadline is at or before now:
// their records become Available (delivery count kept), or Archived at
// the delivery limit. It returns how many locks expired.
func (p *Partition) Tick(now time.Time) int {
	if p.acquired == 0 || p.nextDeadline.IsZero() || now.Before(p.nextDeadline) {
		return 0
	}
	n := 0
	var next time.Time
	for i := range p.recs {
		r := &p.recs[i]
		if r.state != Acquired {
			continue
		}
		if !r.deadline.After(now) {
			p.release(r)
			n++
			continue
		}
		if next.IsZero() || r.deadline.Before(next) {
			next = r.deadline
		}
	}
	p.nextDeadline = next
	p.cfg.Counters.LockExpiries.Add(int64(n))
	p.advance()
	return n
}

// ReleaseMember releases every record member holds (its share session
// closed or its connection dropped), as RELEASE would. It returns how
// many it released.
func (p *Partition) ReleaseMember(member string) int {
	n := 0
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == Acquired && r.member == member {
			p.release(r)
			n++
		}
	}
	p.advance()
	return n
}

// MoveStart sets the SPSO to off: records below it are dropped (the log
// start passed them, or the offsets were altered); a window that would
// start past its end restarts empty at off.
func (p *Partition) MoveStart(off int64) {
	if off == p.start {
		return
	}
	if off < p.start || off >= p.EndOffset() {
		p.acquired, p.nextDeadline = 0, time.Time{}
		p.recs = p.recs[:0]
	} else {
		for _, r := range p.recs[:off-p.start] {
			if r.state == Acquired {
				p.acquired--
			}
		}
		p.recs = append(p.recs[:0], p.recs[off-p.start:]...)
	}
	p.start = off
	p.version++
}
