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

// Batch attributes the coordinator reads and writes.
const (
	attrCompression   = 0x07
	attrTransactional = 0x10
	attrControl       = 0x20
)

// buildBatch encodes recs as one uncompressed magic-v2 record batch
// (offsets are assigned by the log on append). With noProducer it has
// no producer; otherwise it is a transactional batch of prod: the
// transactional attribute, the producer's id and epoch and no sequence
// (-1), which the log accepts for a coordinator's transactional batch
// (it checks the epoch only).
func buildBatch(recs []kv, prod txnProducer, nowMs int64) []byte {
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
		ProducerID: prod.id, ProducerEpoch: prod.epoch, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: body,
	}
	if prod.id >= 0 {
		b.Attributes = attrTransactional
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
	records, tombstones, markers int
	bytes                        int64
	// end is past the last replayed batch (at least the high watermark
	// read at the start): the seq of the first append after the load.
	end int64
}

// replay reads a __consumer_offsets partition from its log start to its
// high watermark and rebuilds its groups: the last record of a key wins, a
// tombstone deletes. The offsets of a transactional batch are pending for
// its producer until that producer's marker (a control batch): a commit
// applies them (unless the partition's offset was written later), an
// abort drops them; a transaction still open at the end stays pending.
// Records it cannot parse are logged and skipped (a client may have
// produced to the topic); a batch whose CRC fails stops the load with an
// error.
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
	// producers maps a producer id to the groups holding its pending
	// offsets.
	producers := map[int64]map[string]struct{}{}
	start, hw := l.Offsets()
	st.end = int64(hw)
	for off := start; off < hw; {
		buf, err := l.Read(off, replayReadBytes)
		if err != nil {
			return nil, st, fmt.Errorf("read at offset %d: %w", off, err)
		}
		if len(buf) == 0 {
			break
		}
		st.bytes += int64(len(buf))
		from := off
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
			st.end = max(st.end, next)
			if b.Attributes&attrCompression != 0 {
				log.Warn("skipping a compressed batch in __consumer_offsets", "partition", partition, "offset", b.FirstOffset)
				continue
			}
			if b.Attributes&attrControl != 0 {
				commit, ok, err := parseMarker(&b)
				switch {
				case err != nil:
					return nil, st, fmt.Errorf("control batch at offset %d: %w", b.FirstOffset, err)
				case !ok:
					log.Warn("skipping a control batch that is not a transaction marker in __consumer_offsets", "partition", partition, "offset", b.FirstOffset)
					continue
				}
				st.markers++
				for id := range producers[b.ProducerID] {
					if g := groups[id]; g != nil {
						g.completeTxn(b.ProducerID, commit)
					}
				}
				delete(producers, b.ProducerID)
				continue
			}
			txnPID := int64(-1)
			if b.Attributes&attrTransactional != 0 {
				txnPID = b.ProducerID
			}
			err := eachRecord(&b, func(i int32, r *kmsg.Record) {
				st.records++
				if r.Value == nil {
					st.tombstones++
				}
				if err := applyRecord(r.Key, r.Value, b.FirstOffset, txnPID, get, groups, producers); err != nil {
					log.Warn("skipping an unreadable record in __consumer_offsets", "partition", partition, "offset", b.FirstOffset+int64(i), "err", err)
				}
			})
			if err != nil {
				return nil, st, fmt.Errorf("batch at offset %d: %w", b.FirstOffset, err)
			}
		}
		if off == from {
			// Read returns whole batches from the one holding off; one
			// that moves nothing forward would read the same bytes again
			// forever.
			return nil, st, fmt.Errorf("read at offset %d: %w: no batch past it", off, model.ErrCorruptRecord)
		}
	}
	for id, g := range groups {
		if PartitionFor(id, numPartitions) != partition {
			log.Warn("group found in the wrong __consumer_offsets partition; ignored", "group", id, "partition", partition)
			delete(groups, id)
			continue
		}
		if g.generation == 0 && len(g.members) == 0 && len(g.offsets) == 0 && len(g.txnOffsets) == 0 && g.protocolType == "" && g.cgLoad == nil {
			delete(groups, id)
		}
	}
	return groups, st, nil
}

// eachRecord decodes the records of an uncompressed batch in order.
func eachRecord(b *kmsg.RecordBatch, fn func(i int32, r *kmsg.Record)) error {
	recs := b.Records
	for i := int32(0); i < b.NumRecords; i++ {
		n, w := binary.Varint(recs)
		if w <= 0 || n < 0 || int64(len(recs)-w) < n {
			return fmt.Errorf("%w: bad record length", model.ErrCorruptRecord)
		}
		var r kmsg.Record
		if err := r.ReadFrom(recs[:w+int(n)]); err != nil {
			return fmt.Errorf("record %d: %w: %v", i, model.ErrCorruptRecord, err)
		}
		recs = recs[w+int(n):]
		fn(i, &r)
	}
	return nil
}

// parseMarker reads a control batch: ok is false for a control record
// that is not a transaction marker (Kafka's ControlRecordKey type 0 is
// ABORT, 1 COMMIT; the value, an EndTxnMarker, only carries the
// coordinator epoch, which the log has checked). An error is a batch
// whose records do not decode.
func parseMarker(b *kmsg.RecordBatch) (commit, ok bool, err error) {
	if b.NumRecords < 1 {
		return false, false, nil
	}
	var key []byte
	err = eachRecord(&kmsg.RecordBatch{NumRecords: 1, Records: b.Records}, func(_ int32, r *kmsg.Record) { key = r.Key })
	if err != nil {
		return false, false, err
	}
	var k kmsg.ControlRecordKey
	if len(key) < 4 || k.ReadFrom(key) != nil || k.Version != 0 {
		return false, false, nil
	}
	switch k.Type {
	case 0:
		return false, true, nil
	case 1:
		return true, true, nil
	}
	return false, false, nil
}

// applyRecord replays one record of the batch at seq; txnPID is the
// producer of a transactional batch (-1: none), whose offsets stay
// pending for it (and are listed in producers).
func applyRecord(key, value []byte, seq, txnPID int64, get func(string) *group, groups map[string]*group, producers map[int64]map[string]struct{}) error {
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
				g.dropOffset(tp)
			}
			return nil
		}
		var val kmsg.OffsetCommitValue
		if err := val.ReadFrom(value); err != nil {
			return fmt.Errorf("offset value: %w", err)
		}
		o := committed{offset: val.Offset, leaderEpoch: -1, metadata: val.Metadata, commitMs: val.CommitTimestamp, expireMs: -1, seq: seq}
		if val.Version >= 3 {
			o.leaderEpoch = val.LeaderEpoch
		}
		if val.Version == 1 && val.ExpireTimestamp >= 0 {
			o.expireMs = val.ExpireTimestamp
		}
		g := get(k.Group)
		if txnPID < 0 {
			g.offsets[tp] = o
			return nil
		}
		g.addTxnOffset(txnPID, tp, o)
		if producers[txnPID] == nil {
			producers[txnPID] = map[string]struct{}{}
		}
		producers[txnPID][k.Group] = struct{}{}
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group key: %w", err)
		}
		if value == nil {
			if g := groups[k.Group]; g != nil {
				offsets, txn := g.offsets, g.txnOffsets
				*g = *newGroup(k.Group, time.UnixMilli(0))
				g.offsets, g.txnOffsets = offsets, txn
				if len(offsets) == 0 && len(txn) == 0 {
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
		offsets, txn := g.offsets, g.txnOffsets
		*g = *newGroup(k.Group, time.UnixMilli(val.CurrentStateTimestamp))
		g.offsets, g.txnOffsets = offsets, txn
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
	case recCGMetadata, recCGPartitionMeta, recCGMember, recCGTargetMetadata, recCGTargetMember, recCGCurrentAssignment:
		return replayConsumerRecord(v, key, value, get)
	case recSGPartitionMeta, recSGMember, recSGMetadata, recSGTargetMetadata, recSGTargetMember, recSGCurrentAssignment, recSGStatePartitions:
		return replayShareRecord(v, key, value, get)
	default:
		return fmt.Errorf("unknown key version %d", v)
	}
	return nil
}
