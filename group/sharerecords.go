package group

// Share groups in __consumer_offsets, with Kafka's record types (the
// key's version is the record type; keys are (group) or (group, member)
// as non-flexible v0 strings; values are flexible v0):
//
//	11 ShareGroupMetadata                  (group)          group epoch
//	10 ShareGroupMemberMetadata            (group, member)  rack, client id and host, subscribed topic names
//	12 ShareGroupTargetAssignmentMetadata  (group)          assignment epoch
//	13 ShareGroupTargetAssignmentMember    (group, member)  target partitions (topic id, partitions)
//	14 ShareGroupCurrentMemberAssignment   (group, member)  epoch, previous epoch, state (0), assigned partitions
//
// Types 9 (ShareGroupPartitionMetadata, replaced by a metadata hash in
// Kafka 4.1) and 15 (ShareGroupStatePartitionMetadata, which share
// partitions have initialized state: the share-partition side keeps that
// here) are not written; replayed ones are ignored. As for consumer
// groups (consumerrecords.go), the coordinator keeps the records it last
// wrote per group and writes only the ones whose value changed, with
// tombstones for a removed member's 14, 13, 10; replay keeps the last
// value of each key and Load builds the group from them.

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/ringtail/ringtail/model"
)

// Record types (key versions) of share groups.
const (
	recSGPartitionMeta     = 9
	recSGMember            = 10
	recSGMetadata          = 11
	recSGTargetMetadata    = 12
	recSGTargetMember      = 13
	recSGCurrentAssignment = 14
	recSGStatePartitions   = 15
)

// isShareRecord reports whether a key version is a share-group record.
func isShareRecord(typ int16) bool {
	return typ >= recSGPartitionMeta && typ <= recSGStatePartitions
}

func shareMemberKeyed(typ int16) bool {
	return typ == recSGMember || typ == recSGTargetMember || typ == recSGCurrentAssignment
}

// records is the group's records as they should be in the log now, key ->
// value, with partitions by topic id (topics not in the image left out).
func (sg *sgroup) records(groupID string, topics map[string]TopicMeta) map[string][]byte {
	out := map[string][]byte{}
	put := func(typ int16, member *string, fill func(e *enc)) {
		var e enc
		e.i16(0)
		fill(&e)
		e.tags()
		out[string(cgKey(typ, groupID, member))] = e.b
	}
	put(recSGMetadata, nil, func(e *enc) { e.i32(sg.epoch) })
	put(recSGTargetMetadata, nil, func(e *enc) { e.i32(sg.assignmentEpoch) })
	for id, m := range sg.members {
		id := id
		put(recSGMember, &id, func(e *enc) {
			e.cnstr(m.rackID)
			e.cstr(m.clientID)
			e.cstr(m.clientHost)
			e.uv(uint64(len(m.topics)) + 1)
			for _, t := range m.topics {
				e.cstr(t)
			}
		})
		put(recSGTargetMember, &id, func(e *enc) { e.topicParts(toConsumerTopics(sg.target[id], topics)) })
		put(recSGCurrentAssignment, &id, func(e *enc) {
			e.i32(m.epoch)
			e.i32(m.prevEpoch)
			e.i8(0) // STABLE: share members have no other state
			e.topicParts(toConsumerTopics(m.assigned, topics))
		})
	}
	return out
}

// persistShareLocked writes what changed in g's share-group records since
// the last write; durable (may be nil) gets the append's outcome.
func (c *Coordinator) persistShareLocked(g *group, now time.Time, topics map[string]TopicMeta, durable func(error)) {
	if durable == nil {
		durable = func(error) {}
	}
	sg := g.sg
	cur := sg.records(g.id, topics)
	var recs []kv
	for _, k := range sortedKeys(cur) {
		if old, ok := sg.persisted[k]; !ok || string(old) != string(cur[k]) {
			recs = append(recs, kv{[]byte(k), cur[k]})
		}
	}
	var gone []string
	for k := range sg.persisted {
		if _, ok := cur[k]; !ok {
			gone = append(gone, k)
		}
	}
	// A member's records go current assignment first, member metadata
	// last (Kafka's order): the type sorts descending.
	sort.Sort(sort.Reverse(sort.StringSlice(gone)))
	for _, k := range gone {
		recs = append(recs, kv{[]byte(k), nil})
	}
	if len(recs) == 0 {
		durable(nil)
		return
	}
	prev := sg.persisted
	sg.persisted = cur
	c.appendLocked(g.id, recs, now, func(err error, owned bool) {
		if err != nil && g.sg == sg {
			// What the log holds is unknown now: every key either write
			// knew of is written again next time (a value, or a
			// tombstone for a key that is gone by then).
			unknown := make(map[string][]byte, len(prev)+len(sg.persisted))
			for k := range prev {
				unknown[k] = nil
			}
			for k := range sg.persisted {
				unknown[k] = nil
			}
			sg.persisted = unknown
		}
		durable(err)
	})
}

// shareTombstones are the tombstones of every record of g's share group
// (DeleteGroups).
func (g *group) shareTombstones() []kv {
	if g.sg == nil {
		return nil
	}
	var out []kv
	for _, k := range sortedKeys(g.sg.persisted) {
		out = append(out, kv{[]byte(k), nil})
	}
	return out
}

// sgLoad collects a partition's share-group records during replay.
type sgLoad struct {
	vals map[string][]byte // key -> last value
}

// replayShareRecord keeps a share-group record (key type 9-15) for
// buildShareGroup; an error is a key or value that does not decode.
func replayShareRecord(typ int16, key, value []byte, get func(string) *group) error {
	d := dec{b: key[2:]}
	groupID := d.str16()
	if shareMemberKeyed(typ) {
		d.str16()
	}
	if d.err != nil {
		return fmt.Errorf("share group key type %d: %w", typ, d.err)
	}
	if typ == recSGPartitionMeta || typ == recSGStatePartitions {
		return nil // not kept (see the file comment)
	}
	if value != nil {
		if _, err := decodeShareValue(typ, value); err != nil {
			return err
		}
	}
	g := get(groupID)
	if g.sgLoad == nil {
		g.sgLoad = &sgLoad{vals: map[string][]byte{}}
		// A share group's records keep the group through the replay's
		// sweep of groups with nothing in them (replay in persist.go).
		g.protocolType = ShareProtocolType
	}
	if value == nil {
		delete(g.sgLoad.vals, string(key))
	} else {
		g.sgLoad.vals[string(key)] = value
	}
	return nil
}

// sgValue is a decoded share-group value.
type sgValue struct {
	epoch, prevEpoch int32 // 11, 12 (assignment epoch), 14
	rackID           *string
	clientID, host   string
	topics           []string
	parts            []ConsumerTopic
}

// decodeShareValue decodes a value of record type typ (10-14).
func decodeShareValue(typ int16, value []byte) (sgValue, error) {
	var v sgValue
	d := dec{b: value}
	if ver := d.i16(); d.err == nil && ver != 0 {
		return v, fmt.Errorf("share group value type %d: unknown version %d", typ, ver)
	}
	switch typ {
	case recSGMetadata, recSGTargetMetadata:
		v.epoch = d.i32()
	case recSGMember:
		v.rackID = d.cnstr()
		v.clientID, v.host = d.cstr(), d.cstr()
		n := d.count(1)
		for i := 0; i < n && d.err == nil; i++ {
			v.topics = append(v.topics, d.cstr())
		}
	case recSGTargetMember:
		v.parts = d.topicParts()
	case recSGCurrentAssignment:
		v.epoch, v.prevEpoch = d.i32(), d.i32()
		d.i8() // state: always STABLE for share members
		v.parts = d.topicParts()
	}
	d.skipTags()
	if d.err != nil {
		return v, fmt.Errorf("share group value type %d: %w", typ, d.err)
	}
	return v, nil
}

// buildShareGroup turns a replayed group's share records into its sgroup
// (now starts the members' sessions); false: the group has none left and
// nothing else (its records were all tombstoned), so Load drops it.
func buildShareGroup(g *group, topics map[string]TopicMeta, now time.Time) bool {
	l := g.sgLoad
	g.sgLoad = nil
	if l == nil {
		return true
	}
	if len(l.vals) == 0 {
		g.protocolType = ""
		return len(g.offsets) > 0 || len(g.txnOffsets) > 0 || g.generation > 0 || g.cgLoad != nil || g.cg != nil
	}
	byID := make(map[[16]byte]string, len(topics))
	for name, t := range topics {
		byID[t.ID] = name
	}
	toSet := func(ts []ConsumerTopic) tpSet {
		s := tpSet{}
		for _, t := range ts {
			if name, ok := byID[t.ID]; ok {
				for _, p := range t.Partitions {
					s[model.TopicPartition{Topic: name, Partition: p}] = struct{}{}
				}
			}
		}
		return s
	}
	vals := map[int16]map[string]sgValue{}
	for k, raw := range l.vals {
		typ := int16(binary.BigEndian.Uint16([]byte(k)))
		d := dec{b: []byte(k)[2:]}
		d.str16()
		member := ""
		if shareMemberKeyed(typ) {
			member = d.str16()
		}
		v, err := decodeShareValue(typ, raw)
		if err != nil {
			continue // checked at replay
		}
		if vals[typ] == nil {
			vals[typ] = map[string]sgValue{}
		}
		vals[typ][member] = v
	}
	sg := newSGroup()
	sg.epoch = vals[recSGMetadata][""].epoch
	sg.assignmentEpoch = vals[recSGTargetMetadata][""].epoch
	for id, v := range vals[recSGMember] {
		m := &smember{id: id, rackID: v.rackID, clientID: v.clientID, clientHost: v.host, topics: v.topics, assigned: tpSet{}, lastHeartbeat: now}
		sort.Strings(m.topics)
		if a, ok := vals[recSGCurrentAssignment][id]; ok {
			m.epoch, m.prevEpoch, m.assigned = a.epoch, a.prevEpoch, toSet(a.parts)
		}
		sg.members[id] = m
		if t, ok := vals[recSGTargetMember][id]; ok {
			sg.target[id] = toSet(t.parts)
		}
	}
	sg.metaKey = sg.metaKey0(topics)
	sg.persisted = sg.records(g.id, topics)
	g.sg, g.protocolType = sg, ShareProtocolType
	g.state = Empty
	if len(sg.members) > 0 {
		g.state = Stable
	}
	return true
}
