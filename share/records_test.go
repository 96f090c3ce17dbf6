package share

// __share_group_state records round-trip in Kafka's layout, the
// coordinator replays them, and the decoder survives any bytes.

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/ringtail/ringtail/model"
)

func TestRecordRoundTrip(t *testing.T) {
	k := Key{Group: "g", TopicID: [16]byte{1, 2, 3}, Partition: 7}
	s := Snapshot{StateEpoch: 2, LeaderEpoch: 3, StartOffset: 40, Batches: []StateBatch{{40, 49, Archived, 5}, {50, 50, Available, 1}}}
	for _, typ := range []int16{SnapshotRecord, UpdateRecord} {
		d, err := Decode(EncodeKey(typ, k), EncodeValue(typ, s))
		if err != nil {
			t.Fatal(err)
		}
		want := s
		if typ == UpdateRecord {
			want.StateEpoch = 0
		}
		if d.Type != typ || d.Key != k || !reflect.DeepEqual(*d.Value, want) {
			t.Fatalf("type %d: %+v %+v", typ, d.Key, d.Value)
		}
	}
	// Kafka's key layout: type, group, topic id, partition.
	want := append([]byte{0, 1, 0, 1, 'g', 1, 2, 3}, make([]byte, 13)...)
	want = append(want, 0, 0, 0, 7)
	if got := EncodeKey(UpdateRecord, k); !bytes.Equal(got, want) {
		t.Fatalf("key % x", got)
	}
	if d, err := Decode(EncodeKey(SnapshotRecord, k), nil); err != nil || d.Value != nil {
		t.Fatalf("tombstone: %v %v", d, err)
	}
}

// memLog is a StateLog in memory.
type memLog struct {
	mu   sync.Mutex
	data []byte
	next int64
}

func (m *memLog) Append(b []byte, done func(error)) {
	m.mu.Lock()
	b = bytes.Clone(b)
	// Assign the base offset as the log would.
	for i := 0; i < 8; i++ {
		b[i] = byte(m.next >> (56 - 8*i))
	}
	m.next++
	m.data = append(m.data, b...)
	m.mu.Unlock()
	done(nil)
}

func (m *memLog) Offsets() (model.Offset, model.Offset) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return 0, model.Offset(m.next)
}

func (m *memLog) Read(off model.Offset, _ int32) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.data), nil
}

func TestCoordinatorReplay(t *testing.T) {
	l := &memLog{}
	c := NewCoordinator(3, nil)
	p := PartitionFor("g", 3)
	if err := c.Load(p, 1, l); err != nil {
		t.Fatal(err)
	}
	k1 := Key{Group: "g", Partition: 0}
	k2 := Key{Group: "g", Partition: 1}
	ctx := context.Background()
	if err := c.Write(ctx, k1, Snapshot{StartOffset: 5}); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, k1, Snapshot{StartOffset: 9, StateEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, k1, Snapshot{StartOffset: 10, StateEpoch: 0}); !errors.Is(err, ErrFencedStateEpoch) {
		t.Fatalf("older state epoch: %v", err)
	}
	if err := c.Write(ctx, k1, Snapshot{StartOffset: 9, StateEpoch: 1, LeaderEpoch: 4}); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, k1, Snapshot{StartOffset: 12, StateEpoch: 1, LeaderEpoch: 3}); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("older leader epoch: %v", err)
	}
	c.Write(ctx, k2, Snapshot{StartOffset: 3})
	c.Delete(ctx, k2)
	if _, _, err := c.Read(Key{Group: "other-group-x"}); err == nil && PartitionFor("other-group-x", 3) != p {
		t.Fatal("read of another coordinator's group")
	}
	c2 := NewCoordinator(3, nil)
	if err := c2.Load(p, 2, l); err != nil {
		t.Fatal(err)
	}
	s, ok, err := c2.Read(k1)
	if err != nil || !ok || s.StartOffset != 9 || s.StateEpoch != 1 {
		t.Fatalf("replayed %+v %v %v", s, ok, err)
	}
	if _, ok, _ := c2.Read(k2); ok {
		t.Fatal("deleted state replayed")
	}
	if keys, _ := c2.Keys("g"); len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
}

// FuzzDecode checks that Decode never panics, that what it accepts has
// a key with a group and a non-negative partition, batches with
// last >= first, and re-encodes to a record that decodes to the same.
func FuzzDecode(f *testing.F) {
	k := Key{Group: "g", Partition: 1}
	s := Snapshot{StartOffset: 4, Batches: []StateBatch{{4, 9, Acknowledged, 2}}}
	f.Add(EncodeKey(SnapshotRecord, k), EncodeValue(SnapshotRecord, s))
	f.Add(EncodeKey(UpdateRecord, k), EncodeValue(UpdateRecord, s))
	f.Add(EncodeKey(SnapshotRecord, k), []byte(nil))
	f.Add([]byte{0, 0, 0, 0}, []byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		d, err := Decode(key, value)
		if err != nil {
			return
		}
		if d.Key.Group == "" || d.Key.Partition < 0 {
			t.Fatalf("accepted key %+v", d.Key)
		}
		if d.Value == nil {
			return
		}
		for _, b := range d.Value.Batches {
			if b.Last < b.First {
				t.Fatalf("accepted batch %+v", b)
			}
		}
		d2, err := Decode(EncodeKey(d.Type, d.Key), EncodeValue(d.Type, *d.Value))
		if err != nil || !reflect.DeepEqual(d2.Value, d.Value) {
			t.Fatalf("re-encoded: %v %+v vs %+v", err, d2.Value, d.Value)
		}
		// Restoring any accepted snapshot stays bounded.
		p := Restore(Config{MaxRecordLocks: 100}, Snapshot{StartOffset: max(d.Value.StartOffset, 0), Batches: d.Value.Batches})
		if p.EndOffset()-p.StartOffset() > 100 {
			t.Fatalf("window %d", p.EndOffset()-p.StartOffset())
		}
	})
}
