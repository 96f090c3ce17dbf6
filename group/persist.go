package group

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// kv is one record of __consumer_offsets; a nil value is a tombstone.
type kv struct{ key, value []byte }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeaderBytes is the magic-v2 batch header up to the record count;
// the CRC covers bytes crcStart.. of a batch.
const (
	batchHeaderBytes = 61
	crcStart         = 21
)

// buildBatch encodes recs as one uncompressed magic-v2 record batch with
// no producer (offsets are assigned by the log on append).
func buildBatch(recs []kv, nowMs int64) []byte {
	var body []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value}
		enc := rec.AppendTo(nil) // Length 0 encodes as one byte
		rec.Length = int32(len(enc) - 1)
		body = rec.AppendTo(body)
	}
	b := kmsg.RecordBatch{
		FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: nowMs, MaxTimestamp: nowMs,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: body,
	}
	b.Length = int32(batchHeaderBytes - 12 + len(body))
	out := b.AppendTo(make([]byte, 0, batchHeaderBytes+len(body)))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[crcStart:], castagnoli))
	return out
}

func offsetKey(groupID string, tp model.TopicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: 1, Group: groupID, Topic: tp.Topic, Partition: tp.Partition}
	return k.AppendTo(nil)
}

func offsetValue(o committed) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	if o.expireMs >= 0 {
		v.Version = 1 // the only version with an expire timestamp
		v.ExpireTimestamp = o.expireMs
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitMs
	return v.AppendTo(nil)
}

func groupKey(groupID string) []byte {
	k := kmsg.GroupMetadataKey{Version: 2, Group: groupID}
	return k.AppendTo(nil)
}

// groupValue encodes g; assignments, when not nil, are the members'
// assignments to write instead of the ones in memory (a SyncGroup's,
// which reach memory only once durable).
func groupValue(g *group, assignments map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, id := range g.order {
		m := g.members[id]
		gm := kmsg.NewGroupMetadataValueMember()
		gm.MemberID, gm.InstanceID, gm.ClientID, gm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		gm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		gm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		gm.Subscription = m.metadataFor(g.protocol)
		gm.Assignment = m.assignment
		if assignments != nil {
			gm.Assignment = assignments[m.id]
		}
		v.Members = append(v.Members, gm)
	}
	return v.AppendTo(nil)
}

// storeGroupLocked writes the group's metadata with its members (and
// assignments, or the ones given); apply is appendLocked's.
func (c *Coordinator) storeGroupLocked(g *group, assignments map[string][]byte, now time.Time, apply func(err error, owned bool)) {
	c.appendLocked(g.id, []kv{{groupKey(g.id), groupValue(g, assignments)}}, now, apply)
}

type replayStats struct {
	records, tombstones int
	bytes               int64
}

// replay reads a __consumer_offsets partition from its log start to its
// high watermark and rebuilds its groups: the last record of a key wins, a
// tombstone deletes. Records it cannot parse are logged and skipped (a
// client may have produced to the topic); a batch whose CRC fails stops
// the load with an error.
func replay(l Log, partition, numPartitions int32, log *slog.Logger) (map[string]*group, replayStats, error) {
	var st replayStats
	groups := map[string]*group{}
	get := func(id string) *group {
		g := groups[id]
		if g == nil {
			g = newGroup(id, time.UnixMilli(0))
			groups[id] = g
		}
		return g
	}
	start, hw := l.Offsets()
	for off := start; off < hw; {
		buf, err := l.Read(off, replayReadBytes)
		if err != nil {
			return nil, st, fmt.Errorf("read at offset %d: %w", off, err)
		}
		if len(buf) == 0 {
			break
		}
		st.bytes += int64(len(buf))
		for len(buf) >= 12 {
			size := 12 + int(int32(binary.BigEndian.Uint32(buf[8:])))
			if size < batchHeaderBytes || size > len(buf) {
				break // a partial batch at the end of the read
			}
			raw := buf[:size]
			buf = buf[size:]
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw); err != nil {
				return nil, st, fmt.Errorf("batch at offset %d: %w", off, err)
			}
			if uint32(b.CRC) != crc32.Checksum(raw[crcStart:], castagnoli) {
				return nil, st, fmt.Errorf("batch at offset %d: %w: CRC mismatch", b.FirstOffset, model.ErrCorruptRecord)
			}
			next := b.FirstOffset + int64(b.LastOffsetDelta) + 1
			if model.Offset(next) <= off {
				continue // a batch before off, returned because it holds off
			}
			off = model.Offset(next)
			if b.Attributes&0x07 != 0 || b.Attributes&0x20 != 0 {
				log.Warn("skipping a compressed or control batch in __consumer_offsets", "partition", partition, "offset", b.FirstOffset)
				continue
			}
			recs := b.Records
			for i := int32(0); i < b.NumRecords; i++ {
				n, w := binary.Varint(recs)
				if w <= 0 || n < 0 || int64(len(recs)-w) < n {
					return nil, st, fmt.Errorf("batch at offset %d: %w: bad record length", b.FirstOffset, model.ErrCorruptRecord)
				}
				var r kmsg.Record
				if err := r.ReadFrom(recs[:w+int(n)]); err != nil {
					return nil, st, fmt.Errorf("batch at offset %d: record %d: %w: %v", b.FirstOffset, i, model.ErrCorruptRecord, err)
				}
				recs = recs[w+int(n):]
				st.records++
				if r.Value == nil {
					st.tombstones++
				}
				if err := applyRecord(r.Key, r.Value, get, groups); err != nil {
					log.Warn("skipping an unreadable record in __consumer_offsets", "partition", partition, "offset", b.FirstOffset+int64(i), "err", err)
				}
			}
		}
	}
	for id, g := range groups {
		if PartitionFor(id, numPartitions) != partition {
			log.Warn("group found in the wrong __consumer_offsets partition; ignored", "group", id, "partition", partition)
			delete(groups, id)
			continue
		}
		if g.generation == 0 && len(g.members) == 0 && len(g.offsets) == 0 && g.protocolType == "" {
			delete(groups, id)
		}
	}
	return groups, st, nil
}

func applyRecord(key, value []byte, get func(string) *group, groups map[string]*group) error {
	if len(key) < 2 {
		return fmt.Errorf("key of %d bytes", len(key))
	}
	switch v := int16(binary.BigEndian.Uint16(key)); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("offset key: %w", err)
		}
		tp := model.TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if value == nil {
			if g := groups[k.Group]; g != nil {
				delete(g.offsets, tp)
			}
			return nil
		}
		var val kmsg.OffsetCommitValue
		if err := val.ReadFrom(value); err != nil {
			return fmt.Errorf("offset value: %w", err)
		}
		o := committed{offset: val.Offset, leaderEpoch: -1, metadata: val.Metadata, commitMs: val.CommitTimestamp, expireMs: -1}
		if val.Version >= 3 {
			o.leaderEpoch = val.LeaderEpoch
		}
		if val.Version == 1 && val.ExpireTimestamp >= 0 {
			o.expireMs = val.ExpireTimestamp
		}
		get(k.Group).offsets[tp] = o
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group key: %w", err)
		}
		if value == nil {
			if g := groups[k.Group]; g != nil {
				offsets := g.offsets
				*g = *newGroup(k.Group, time.UnixMilli(0))
				g.offsets = offsets
				if len(offsets) == 0 {
					delete(groups, k.Group)
				}
			}
			return nil
		}
		var val kmsg.GroupMetadataValue
		if err := val.ReadFrom(value); err != nil {
			return fmt.Errorf("group value: %w", err)
		}
		g := get(k.Group)
		offsets := g.offsets
		*g = *newGroup(k.Group, time.UnixMilli(val.CurrentStateTimestamp))
		g.offsets = offsets
		g.protocolType, g.generation = val.ProtocolType, val.Generation
		if val.Protocol != nil {
			g.protocol = *val.Protocol
		}
		for _, vm := range val.Members {
			m := &member{
				id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
				sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
				protocols:        []Protocol{{Name: g.protocol, Metadata: vm.Subscription}},
				assignment:       vm.Assignment, synced: true,
			}
			if m.rebalanceTimeout <= 0 {
				m.rebalanceTimeout = m.sessionTimeout
			}
			g.addMember(m)
		}
		if val.Leader != nil && g.members[*val.Leader] != nil {
			g.leader = *val.Leader
		}
		if len(g.members) > 0 {
			g.state = Stable
		}
	default:
		return fmt.Errorf("unknown key version %d", v)
	}
	return nil
}
