package share

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The records of __share_group_state, in Kafka's schemas (share
// coordinator, KIP-932). A key is its record type then the key fields;
// a value is its version then the flexible-v0 fields:
//
//	key   +--------+---------------------+----------+-----------+
//	      | type   | group id            | topic id | partition |
//	      | int16  | int16 len + bytes   | 16 bytes | int32     |
//	      +--------+---------------------+----------+-----------+
//	        0: ShareSnapshotKey v0, 1: ShareUpdateKey
//
//	value +---------+----------------+--------------------------------+-------------+--------------+
//	      | version | snapshot epoch | state epoch (snapshot only)    | leader epoch| start offset |
//	      | int16 0 | uint16         | int32                          | int32       | int64        |
//	      +---------+----------------+--------------------------------+-------------+--------------+
//	      | state batches: uvarint n+1, each first int64, last int64, | tagged fields |
//	      |   delivery state int8, delivery count int16, tags uvarint  | uvarint       |
//	      +-----------------------------------------------------------+---------------+
//
// A nil value is a tombstone (the state was deleted).

// Record types of __share_group_state keys.
const (
	SnapshotRecord int16 = 0
	UpdateRecord   int16 = 1
)

// maxGroupIDBytes bounds a decoded key's group id (Kafka's is 255 here
// too: group ids are checked at the edge).
const maxGroupIDBytes = math.MaxInt16

// ErrCorrupt wraps every decoding error.
var ErrCorrupt = errors.New("share: corrupt __share_group_state record")

// Key names one share-partition's durable state.
type Key struct {
	Group     string
	TopicID   [16]byte
	Partition int32
}

func (k Key) String() string {
	return fmt.Sprintf("%s:%x:%d", k.Group, k.TopicID, k.Partition)
}

// EncodeKey is k as a key of record type typ.
func EncodeKey(typ int16, k Key) []byte {
	b := make([]byte, 0, 2+2+len(k.Group)+16+4)
	b = binary.BigEndian.AppendUint16(b, uint16(typ))
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.Group)))
	b = append(b, k.Group...)
	b = append(b, k.TopicID[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(k.Partition))
}

// EncodeValue is s as the value of a record of type typ.
func EncodeValue(typ int16, s Snapshot) []byte {
	b := make([]byte, 0, 32+len(s.Batches)*20)
	b = binary.BigEndian.AppendUint16(b, 0) // version
	b = binary.BigEndian.AppendUint16(b, 0) // snapshot epoch
	if typ == SnapshotRecord {
		b = binary.BigEndian.AppendUint32(b, uint32(s.StateEpoch))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(s.LeaderEpoch))
	b = binary.BigEndian.AppendUint64(b, uint64(s.StartOffset))
	b = binary.AppendUvarint(b, uint64(len(s.Batches))+1)
	for _, sb := range s.Batches {
		b = binary.BigEndian.AppendUint64(b, uint64(sb.First))
		b = binary.BigEndian.AppendUint64(b, uint64(sb.Last))
		b = append(b, byte(sb.State))
		b = binary.BigEndian.AppendUint16(b, uint16(sb.DeliveryCount))
		b = append(b, 0) // no tagged fields
	}
	return append(b, 0)
}

// Decoded is one decoded record; Value is nil for a tombstone.
type Decoded struct {
	Type  int16
	Key   Key
	Value *Snapshot
}

// Decode parses one __share_group_state record.
func Decode(key, value []byte) (Decoded, error) {
	var d Decoded
	r := reader{b: key}
	d.Type = int16(r.u16())
	if d.Type != SnapshotRecord && d.Type != UpdateRecord {
		return d, fmt.Errorf("%w: record type %d", ErrCorrupt, d.Type)
	}
	n := int(r.u16())
	d.Key.Group = string(r.bytes(n))
	copy(d.Key.TopicID[:], r.bytes(16))
	d.Key.Partition = int32(r.u32())
	if r.err != nil || len(r.b) != 0 {
		return d, fmt.Errorf("%w: key of %d bytes", ErrCorrupt, len(key))
	}
	if d.Key.Group == "" || d.Key.Partition < 0 {
		return d, fmt.Errorf("%w: key %s", ErrCorrupt, d.Key)
	}
	if value == nil {
		return d, nil
	}
	r = reader{b: value}
	if v := r.u16(); v != 0 && r.err == nil {
		return d, fmt.Errorf("%w: %s: value version %d", ErrCorrupt, d.Key, v)
	}
	r.u16() // snapshot epoch
	s := &Snapshot{}
	if d.Type == SnapshotRecord {
		s.StateEpoch = int32(r.u32())
	}
	s.LeaderEpoch = int32(r.u32())
	s.StartOffset = int64(r.u64())
	count := r.uvarint()
	if count == 0 || count-1 > uint64(len(r.b))/19 {
		r.fail()
	} else {
		s.Batches = make([]StateBatch, 0, count-1)
		for i := uint64(1); i < count && r.err == nil; i++ {
			sb := StateBatch{First: int64(r.u64()), Last: int64(r.u64()), State: RecordState(int8(r.u8())), DeliveryCount: int16(r.u16())}
			r.skipTags()
			if sb.Last < sb.First || sb.First < 0 || sb.DeliveryCount < 0 {
				r.fail()
			}
			switch sb.State {
			case Available, Acquired, Acknowledged, Archived:
			default:
				r.fail()
			}
			s.Batches = append(s.Batches, sb)
		}
	}
	r.skipTags()
	if r.err != nil {
		return d, fmt.Errorf("%w: %s: value of %d bytes", ErrCorrupt, d.Key, len(value))
	}
	if s.StartOffset < -1 || (d.Type == SnapshotRecord && s.StartOffset < 0) {
		return d, fmt.Errorf("%w: %s: start offset %d", ErrCorrupt, d.Key, s.StartOffset)
	}
	d.Value = s
	return d, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = ErrCorrupt
	}
	r.b = nil
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.fail()
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// skipTags skips a tagged-field section (none are known).
func (r *reader) skipTags() {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		r.uvarint() // tag
		size := r.uvarint()
		if size > uint64(len(r.b)) {
			r.fail()
			return
		}
		r.bytes(int(size))
	}
}
