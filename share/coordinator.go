package share

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// StateTopic is the share coordinator's internal compacted topic.
const StateTopic = "__share_group_state"

// DefaultStatePartitions is share.coordinator.state.topic.num.partitions'
// default.
const DefaultStatePartitions = 50

// Errors of the share coordinator; the kafka package maps them to codes.
var (
	// ErrNotCoordinator: this node does not lead the key's
	// __share_group_state partition. Kafka: NOT_COORDINATOR.
	ErrNotCoordinator = errors.New("share: not the share coordinator")
	// ErrLoading: the partition is being replayed. Kafka:
	// COORDINATOR_LOAD_IN_PROGRESS.
	ErrLoading = errors.New("share: share coordinator loading")
	// ErrFencedStateEpoch: a write for an older state epoch than the one
	// stored. Kafka: FENCED_STATE_EPOCH.
	ErrFencedStateEpoch = errors.New("share: fenced state epoch")
	// ErrFencedLeaderEpoch: a write from a partition leader older than
	// the one that wrote last. Kafka: FENCED_LEADER_EPOCH.
	ErrFencedLeaderEpoch = errors.New("share: fenced leader epoch")
)

// PartitionFor is the __share_group_state partition holding group's
// state: abs(javaStringHashCode(group)) % partitions. Kafka hashes
// "group:topicId:partition" (each share-partition may have its own
// coordinator); Ringtail hashes the group only, so one coordinator holds
// all of a group's share-partitions (DescribeShareGroupOffsets and
// DeleteGroups ask one node).
func PartitionFor(group string, partitions int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// StateLog is one __share_group_state partition led by this node (the
// daemon's coordinatorLog: appends wait for the in-sync replicas).
type StateLog interface {
	// Append appends whole magic-v2 batches; done runs once they are
	// durable or failed. Append must not block.
	Append(records []byte, done func(error))
	Offsets() (logStart, highWatermark model.Offset)
	// Read returns whole batches from the one holding offset.
	Read(offset model.Offset, maxBytes int32) ([]byte, error)
}

// Coordinator is the share coordinator: the durable state of the
// share-partitions whose groups hash to the __share_group_state
// partitions this node leads. Safe for concurrent use.
type Coordinator struct {
	numPartitions int32
	log           *slog.Logger
	mu            sync.Mutex
	parts         map[int32]*statePart
}

type statePart struct {
	epoch   int32
	log     StateLog
	loading bool
	states  map[Key]*Snapshot
}

// NewCoordinator is a coordinator of a numPartitions-partition state topic.
func NewCoordinator(numPartitions int32, log *slog.Logger) *Coordinator {
	if numPartitions <= 0 {
		numPartitions = DefaultStatePartitions
	}
	if log == nil {
		log = slog.Default()
	}
	return &Coordinator{numPartitions: numPartitions, log: log, parts: map[int32]*statePart{}}
}

// NumPartitions is the state topic's partition count.
func (c *Coordinator) NumPartitions() int32 { return c.numPartitions }

// Owned lists the loaded partitions.
func (c *Coordinator) Owned() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int32
	for p, sp := range c.parts {
		if !sp.loading {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// replayReadBytes is how much of a partition a load reads at a time.
const replayReadBytes = 1 << 20

// Load makes this node the coordinator of partition p at leader epoch
// epoch and replays log into memory; requests for its keys answer
// ErrLoading meanwhile.
func (c *Coordinator) Load(p, epoch int32, log StateLog) error {
	if p < 0 || p >= c.numPartitions {
		return fmt.Errorf("share: load %s-%d: the topic has %d partitions", StateTopic, p, c.numPartitions)
	}
	sp := &statePart{epoch: epoch, log: log, loading: true, states: map[Key]*Snapshot{}}
	c.mu.Lock()
	c.parts[p] = sp
	c.mu.Unlock()
	start, hw := log.Offsets()
	skipped := 0
	for off := start; off < hw; {
		buf, err := log.Read(off, replayReadBytes)
		if err != nil {
			return fmt.Errorf("share: load %s-%d at offset %d: %w", StateTopic, p, off, err)
		}
		next, err := decodeBatches(buf, off, func(recs []kvRecord) {
			for _, r := range recs {
				d, err := Decode(r.key, r.value)
				if err != nil {
					skipped++
					continue
				}
				applyDecoded(sp.states, d)
			}
		})
		if err != nil {
			return fmt.Errorf("share: load %s-%d: %w", StateTopic, p, err)
		}
		if next <= off {
			break
		}
		off = next
	}
	if skipped > 0 {
		c.log.Warn("skipped records of the share state topic that do not decode", "partition", p, "records", skipped)
	}
	c.mu.Lock()
	if c.parts[p] == sp {
		sp.loading = false
	}
	c.mu.Unlock()
	return nil
}

func applyDecoded(states map[Key]*Snapshot, d Decoded) {
	if d.Value == nil {
		delete(states, d.Key)
		return
	}
	if d.Type == SnapshotRecord {
		s := *d.Value
		states[d.Key] = &s
		return
	}
	if s := states[d.Key]; s != nil {
		s.Apply(*d.Value, 0)
	}
}

// Unload forgets partition p (leadership moved away).
func (c *Coordinator) Unload(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.parts, p)
}

func (c *Coordinator) partLocked(group string) (*statePart, error) {
	sp := c.parts[PartitionFor(group, c.numPartitions)]
	if sp == nil {
		return nil, fmt.Errorf("%w for group %q", ErrNotCoordinator, group)
	}
	if sp.loading {
		return nil, fmt.Errorf("%w for group %q", ErrLoading, group)
	}
	return sp, nil
}

// Read returns k's state; ok is false when none was written (or it was
// deleted).
func (c *Coordinator) Read(k Key) (s Snapshot, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sp, err := c.partLocked(k.Group)
	if err != nil {
		return Snapshot{}, false, err
	}
	st := sp.states[k]
	if st == nil {
		return Snapshot{}, false, nil
	}
	out := *st
	out.Batches = slices.Clone(st.Batches)
	return out, true, nil
}

// Keys lists the share-partitions of group with state here.
func (c *Coordinator) Keys(group string) ([]Key, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sp, err := c.partLocked(group)
	if err != nil {
		return nil, err
	}
	var out []Key
	for k := range sp.states {
		if k.Group == group {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b Key) int {
		if c := slices.Compare(a.TopicID[:], b.TopicID[:]); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out, nil
}

// writeTimeout bounds a write that the log never answers.
const writeTimeout = 30 * time.Second

// Write stores k's state as a ShareSnapshot record, durably, then serves
// it. A state epoch below the stored one is ErrFencedStateEpoch; at the
// same state epoch, a leader epoch (>= 0) below the stored one is
// ErrFencedLeaderEpoch.
func (c *Coordinator) Write(ctx context.Context, k Key, s Snapshot) error {
	return c.append(ctx, k, &s)
}

// Delete forgets k's state (tombstones of both record types).
func (c *Coordinator) Delete(ctx context.Context, k Key) error {
	return c.append(ctx, k, nil)
}

func (c *Coordinator) append(ctx context.Context, k Key, s *Snapshot) error {
	c.mu.Lock()
	sp, err := c.partLocked(k.Group)
	if err == nil && s != nil {
		if cur := sp.states[k]; cur != nil && s.StateEpoch < cur.StateEpoch {
			err = fmt.Errorf("%w: %s: epoch %d below %d", ErrFencedStateEpoch, k, s.StateEpoch, cur.StateEpoch)
		} else if cur != nil && s.StateEpoch == cur.StateEpoch && s.LeaderEpoch >= 0 && s.LeaderEpoch < cur.LeaderEpoch {
			err = fmt.Errorf("%w: %s: leader epoch %d below %d", ErrFencedLeaderEpoch, k, s.LeaderEpoch, cur.LeaderEpoch)
		}
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	var recs []kvRecord
	if s == nil {
		recs = []kvRecord{{key: EncodeKey(SnapshotRecord, k)}, {key: EncodeKey(UpdateRecord, k)}}
	} else {
		recs = []kvRecord{{key: EncodeKey(SnapshotRecord, k), value: EncodeValue(SnapshotRecord, *s)}}
	}
	done := make(chan error, 1)
	sp.log.Append(buildBatch(recs, time.Now().UnixMilli()), func(err error) { done <- err })
	timer := time.NewTimer(writeTimeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("share: write of %s: no answer from the log in %s", k, writeTimeout)
	}
	if err != nil {
		return fmt.Errorf("share: write of %s: %w", k, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts[PartitionFor(k.Group, c.numPartitions)] != sp {
		return fmt.Errorf("%w for group %q (moved during the write)", ErrNotCoordinator, k.Group)
	}
	if s == nil {
		delete(sp.states, k)
	} else {
		cp := *s
		cp.Batches = slices.Clone(s.Batches)
		sp.states[k] = &cp
	}
	return nil
}

// kvRecord is one record's key and value (nil: a tombstone).
type kvRecord struct{ key, value []byte }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeaderBytes is the magic-v2 batch header through the record count;
// the CRC covers from crcStart on.
const (
	batchHeaderBytes = 61
	crcStart         = 21
)

// buildBatch encodes recs as one uncompressed magic-v2 batch with no
// producer (the layout txn and group write their topics in).
func buildBatch(recs []kvRecord, nowMs int64) []byte {
	var body []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value}
		enc := rec.AppendTo(nil)
		rec.Length = int32(len(enc) - 1)
		body = rec.AppendTo(body)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: nowMs, MaxTimestamp: nowMs,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: body,
	}
	b.Length = int32(batchHeaderBytes - 12 + len(body))
	out := b.AppendTo(make([]byte, 0, batchHeaderBytes+len(body)))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[crcStart:], castagnoli))
	return out
}

// decodeBatches parses the whole batches at the front of buf and hands
// the records of each ending at or after from to fn (compressed and
// control batches are skipped: Ringtail writes neither). It returns the
// offset after the last batch parsed.
func decodeBatches(buf []byte, from model.Offset, fn func([]kvRecord)) (model.Offset, error) {
	next := from
	for len(buf) >= 12 {
		size := 12 + int64(int32(binary.BigEndian.Uint32(buf[8:])))
		if size < batchHeaderBytes {
			return next, fmt.Errorf("%w: batch length %d", ErrCorrupt, size-12)
		}
		if size > int64(len(buf)) {
			break
		}
		raw := buf[:size]
		buf = buf[size:]
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil || b.Magic != 2 || b.LastOffsetDelta < 0 || b.FirstOffset < 0 {
			return next, fmt.Errorf("%w: batch after offset %d", ErrCorrupt, next)
		}
		if uint32(b.CRC) != crc32.Checksum(raw[crcStart:], castagnoli) {
			return next, fmt.Errorf("%w: batch at offset %d: CRC mismatch", ErrCorrupt, b.FirstOffset)
		}
		end := model.Offset(b.FirstOffset + int64(b.LastOffsetDelta) + 1)
		if end <= from {
			continue
		}
		next = max(next, end)
		if b.Attributes&0x07 != 0 || b.Attributes&0x20 != 0 {
			continue
		}
		var out []kvRecord
		recs := b.Records
		for i := int32(0); i < b.NumRecords; i++ {
			n, w := binary.Varint(recs)
			if w <= 0 || n < 0 || int64(len(recs)-w) < n {
				return next, fmt.Errorf("%w: batch at offset %d: bad record length", ErrCorrupt, b.FirstOffset)
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:w+int(n)]); err != nil {
				return next, fmt.Errorf("%w: batch at offset %d: record %d", ErrCorrupt, b.FirstOffset, i)
			}
			recs = recs[w+int(n):]
			out = append(out, kvRecord{key: r.Key, value: r.Value})
		}
		fn(out)
	}
	return next, nil
}
