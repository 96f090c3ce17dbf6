package group

// Consumer (KIP-848) groups in __consumer_offsets, with Kafka's record
// types (the key's version is the record type; values are flexible v0):
//
//	3 ConsumerGroupMetadata            (group)          group epoch
//	5 ConsumerGroupMemberMetadata      (group, member)  instance, rack, client, subscription, assignor
//	6 ConsumerGroupTargetAssignmentMetadata (group)     assignment epoch
//	7 ConsumerGroupTargetAssignmentMember (group, member) target partitions
//	8 ConsumerGroupCurrentMemberAssignment (group, member) epochs, state, assigned and revoking partitions
//
// Type 4 (ConsumerGroupPartitionMetadata) is not written: Kafka 4.1
// replaced it by the metadata hash; a replayed one is ignored.
//
// The coordinator keeps, per group, the records it last wrote (key ->
// value); after each change it writes the records whose value changed
// and tombstones for those that went (a removed member's 8, 7, 5).
// Replay keeps the last value of each key and rebuilds the group from
// them at the end of the load. A heartbeat is answered once its records
// are durable, as Kafka does; memory changes first (Kafka keeps a
// timeline to revert a failed write; here a failed write leaves memory
// ahead, the member gets the error and retries, and the next change
// rewrites all of the group's records).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/ringtail/ringtail/model"
)

// Record types (key versions) of consumer groups.
const (
	recCGMetadata          = 3
	recCGPartitionMeta     = 4
	recCGMember            = 5
	recCGTargetMetadata    = 6
	recCGTargetMember      = 7
	recCGCurrentAssignment = 8
)

var errShortRecord = errors.New("record too short")

// enc is a flexible-version encoder.
type enc struct{ b []byte }

func (e *enc) i8(v int8)   { e.b = append(e.b, byte(v)) }
func (e *enc) i16(v int16) { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)) }
func (e *enc) i32(v int32) { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *enc) uv(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) str16(s string) {
	e.i16(int16(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) cstr(s string) { e.uv(uint64(len(s)) + 1); e.b = append(e.b, s...) }
func (e *enc) cnstr(s *string) {
	if s == nil {
		e.uv(0)
		return
	}
	e.cstr(*s)
}
func (e *enc) tags() { e.uv(0) }
func (e *enc) topicParts(ts []ConsumerTopic) {
	e.uv(uint64(len(ts)) + 1)
	for _, t := range ts {
		e.b = append(e.b, t.ID[:]...)
		e.uv(uint64(len(t.Partitions)) + 1)
		for _, p := range t.Partitions {
			e.i32(p)
		}
		e.tags()
	}
}

// dec is a flexible-version decoder; the first error sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) need(n int) bool {
	if d.err == nil && len(d.b) < n {
		d.err = errShortRecord
	}
	return d.err == nil
}
func (d *dec) i8() int8 {
	if !d.need(1) {
		return 0
	}
	v := int8(d.b[0])
	d.b = d.b[1:]
	return v
}
func (d *dec) i16() int16 {
	if !d.need(2) {
		return 0
	}
	v := int16(binary.BigEndian.Uint16(d.b))
	d.b = d.b[2:]
	return v
}
func (d *dec) i32() int32 {
	if !d.need(4) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(d.b))
	d.b = d.b[4:]
	return v
}
func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}
func (d *dec) bytes(n uint64) []byte {
	if d.err == nil && uint64(len(d.b)) < n {
		d.err = errShortRecord
	}
	if d.err != nil {
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
func (d *dec) str16() string {
	n := d.i16()
	if n < 0 {
		d.err = errors.New("null key string")
		return ""
	}
	return string(d.bytes(uint64(n)))
}
func (d *dec) cnstr() *string {
	n := d.uv()
	if n == 0 || d.err != nil {
		return nil
	}
	s := string(d.bytes(n - 1))
	return &s
}
func (d *dec) cstr() string {
	if s := d.cnstr(); s != nil {
		return *s
	}
	return ""
}

// tagCount reads the number of tagged fields (a plain uvarint, unlike
// compact array lengths); each takes at least 2 bytes.
func (d *dec) tagCount() int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b)/2) {
		d.err = errShortRecord
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

// count reads a compact array length; each element is at least min bytes.
func (d *dec) count(min int) int {
	n := d.uv()
	if n == 0 || d.err != nil {
		return 0
	}
	if n-1 > uint64(len(d.b)/max(min, 1)) {
		d.err = errShortRecord
		return 0
	}
	return int(n - 1)
}
func (d *dec) skipTags() {
	n := d.tagCount()
	for i := 0; i < n && d.err == nil; i++ {
		d.uv()
		d.bytes(d.uv())
	}
}
func (d *dec) topicParts() []ConsumerTopic {
	n := d.count(18)
	out := make([]ConsumerTopic, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		var t ConsumerTopic
		copy(t.ID[:], d.bytes(16))
		k := d.count(4)
		for j := 0; j < k && d.err == nil; j++ {
			t.Partitions = append(t.Partitions, d.i32())
		}
		d.skipTags()
		out = append(out, t)
	}
	return out
}

func cgKey(typ int16, groupID string, memberID *string) []byte {
	var e enc
	e.i16(typ)
	e.str16(groupID)
	if memberID != nil {
		e.str16(*memberID)
	}
	return e.b
}

// cgRecords is the group's records as they should be in the log now,
// key -> value, by topic id (topics not in the image are left out).
//
// only, when not "", limits the member records to that member's.
func (cg *cgroup) records(groupID string, topics map[string]TopicMeta, only ...string) map[string][]byte {
	out := map[string][]byte{}
	// fill writes the fields; the value's tagged fields follow (none,
	// unless fill wrote them and said so).
	put := func(typ int16, member *string, fill func(e *enc) (tagged bool)) {
		var e enc
		e.i16(0)
		if !fill(&e) {
			e.tags()
		}
		out[string(cgKey(typ, groupID, member))] = e.b
	}
	put(recCGMetadata, nil, func(e *enc) bool { e.i32(cg.epoch); return false })
	put(recCGTargetMetadata, nil, func(e *enc) bool { e.i32(cg.assignmentEpoch); return false })
	for id, m := range cg.members {
		if len(only) > 0 && id != only[0] {
			continue
		}
		id := id
		put(recCGMember, &id, func(e *enc) bool {
			e.cnstr(m.instanceID)
			e.cnstr(m.rackID)
			e.cstr(m.clientID)
			e.cstr(m.clientHost)
			e.uv(uint64(len(m.topics)) + 1)
			for _, t := range m.topics {
				e.cstr(t)
			}
			if m.regex == "" {
				e.cnstr(nil)
			} else {
				e.cstr(m.regex)
			}
			e.i32(int32(m.rebalanceTimeout.Milliseconds()))
			if m.assignor == "" {
				e.cnstr(nil)
			} else {
				e.cstr(m.assignor)
			}
			m.classic.appendTagged(e)
			return true
		})
		put(recCGTargetMember, &id, func(e *enc) bool { e.topicParts(toConsumerTopics(cg.target[id], topics)); return false })
		put(recCGCurrentAssignment, &id, func(e *enc) bool {
			e.i32(m.epoch)
			e.i32(m.prevEpoch)
			e.i8(int8(m.state))
			e.topicParts(toConsumerTopics(m.assigned, topics))
			e.topicParts(toConsumerTopics(m.revoking, topics))
			return false
		})
	}
	return out
}

// persistConsumerLocked writes what changed in g's consumer-group state
// since the last write (see the file comment).
//
// only (a member id), when set and the group already has persisted
// records, says that nothing but that member and the group epochs can
// have changed, so only their records are compared (a heartbeat that
// moved no group-wide state).
func (c *Coordinator) persistConsumerLocked(g *group, now time.Time, topics map[string]TopicMeta, durable func(error), only ...string) {
	if durable == nil {
		durable = func(error) {}
	}
	cg := g.cg
	if cg == nil {
		durable(nil)
		return
	}
	partial := len(only) > 0 && cg.persisted != nil
	var cur map[string][]byte
	if partial {
		cur = cg.records(g.id, topics, only[0])
	} else {
		cur = cg.records(g.id, topics)
	}
	var recs []kv
	for _, k := range sortedKeys(cur) {
		if old, ok := cg.persisted[k]; !ok || string(old) != string(cur[k]) {
			recs = append(recs, kv{[]byte(k), cur[k]})
		}
	}
	gone := make([]string, 0)
	for k := range cg.persisted {
		if _, ok := cur[k]; !ok && !partial {
			gone = append(gone, k)
		}
	}
	// A member's records go current assignment first, member metadata
	// last (Kafka's order), so the type sorts descending.
	sort.Slice(gone, func(i, j int) bool { return gone[i] > gone[j] })
	for _, k := range gone {
		recs = append(recs, kv{[]byte(k), nil})
	}
	if len(recs) == 0 {
		durable(nil)
		return
	}
	if partial {
		for _, r := range recs {
			cg.persisted[string(r.key)] = r.value
		}
	} else {
		cg.persisted = cur
	}
	c.appendLocked(g.id, recs, now, func(err error, owned bool) {
		if err != nil && g.cg == cg {
			cg.persisted = nil // rewrite everything next time
		}
		durable(err)
	})
}

// consumerTombstones are the tombstones of every record of g's consumer
// group (DeleteGroups).
func (g *group) consumerTombstones() []kv {
	if g.cg == nil {
		return nil
	}
	var out []kv
	for _, k := range sortedKeys(g.cg.persisted) {
		out = append(out, kv{[]byte(k), nil})
	}
	return out
}

// cgLoad collects a partition's consumer-group records during replay.
type cgLoad struct {
	vals map[string][]byte // key -> last value
}

// replayConsumerRecord keeps a consumer-group record (key type 3-8) for
// buildConsumerGroup; an error is a key or value that does not decode.
func replayConsumerRecord(typ int16, key, value []byte, get func(string) *group) error {
	d := dec{b: key[2:]}
	groupID := d.str16()
	if typ != recCGMetadata && typ != recCGTargetMetadata && typ != recCGPartitionMeta {
		d.str16()
	}
	if d.err != nil {
		return fmt.Errorf("consumer group key type %d: %w", typ, d.err)
	}
	if value != nil {
		if _, err := decodeConsumerValue(typ, value); err != nil {
			return err
		}
	}
	g := get(groupID)
	if g.cgLoad == nil {
		g.cgLoad = &cgLoad{vals: map[string][]byte{}}
	}
	if value == nil {
		delete(g.cgLoad.vals, string(key))
	} else {
		g.cgLoad.vals[string(key)] = value
	}
	return nil
}

// cgValue is a decoded consumer-group value.
type cgValue struct {
	epoch              int32 // 3, 6 (assignment epoch), 8 (member epoch)
	prevEpoch          int32
	state              int8
	instanceID, rackID *string
	clientID, host     string
	topics             []string
	regex, assignor    *string
	rebalanceMs        int32
	parts, revoking    []ConsumerTopic
	classic            *classicMeta // 5: tagged field 0
}

// decodeConsumerValue decodes a value of record type typ.
func decodeConsumerValue(typ int16, value []byte) (cgValue, error) {
	var v cgValue
	d := dec{b: value}
	if ver := d.i16(); d.err == nil && ver != 0 {
		return v, fmt.Errorf("consumer group value type %d: unknown version %d", typ, ver)
	}
	switch typ {
	case recCGMetadata, recCGTargetMetadata:
		v.epoch = d.i32()
	case recCGPartitionMeta:
		return v, nil // ignored
	case recCGMember:
		v.instanceID, v.rackID = d.cnstr(), d.cnstr()
		v.clientID, v.host = d.cstr(), d.cstr()
		n := d.count(1)
		for i := 0; i < n && d.err == nil; i++ {
			v.topics = append(v.topics, d.cstr())
		}
		v.regex = d.cnstr()
		v.rebalanceMs = d.i32()
		v.assignor = d.cnstr()
		v.classic = d.memberTags()
	case recCGTargetMember:
		v.parts = d.topicParts()
	case recCGCurrentAssignment:
		v.epoch, v.prevEpoch, v.state = d.i32(), d.i32(), d.i8()
		v.parts, v.revoking = d.topicParts(), d.topicParts()
	}
	if typ != recCGMember {
		d.skipTags()
	}
	if d.err != nil {
		return v, fmt.Errorf("consumer group value type %d: %w", typ, d.err)
	}
	if v.regex != nil {
		if _, err := regexp.Compile(*v.regex); err != nil {
			return v, fmt.Errorf("consumer group member regex: %w", err)
		}
	}
	if v.state < int8(stateStable) || v.state > int8(stateUnreleased) {
		v.state = int8(stateStable)
	}
	return v, nil
}

// buildConsumerGroup turns a replayed group's consumer records into its
// cgroup; now starts the members' sessions.
func buildConsumerGroup(g *group, topics map[string]TopicMeta, now time.Time) {
	l := g.cgLoad
	g.cgLoad = nil
	if l == nil || len(l.vals) == 0 {
		return
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
	cg := newCGroup()
	vals := map[int16]map[string]cgValue{}
	for k, raw := range l.vals {
		typ := int16(binary.BigEndian.Uint16([]byte(k)))
		d := dec{b: []byte(k)[2:]}
		d.str16()
		member := ""
		if typ == recCGMember || typ == recCGTargetMember || typ == recCGCurrentAssignment {
			member = d.str16()
		}
		v, err := decodeConsumerValue(typ, raw)
		if err != nil {
			continue // checked at replay
		}
		if vals[typ] == nil {
			vals[typ] = map[string]cgValue{}
		}
		vals[typ][member] = v
	}
	cg.epoch = vals[recCGMetadata][""].epoch
	cg.assignmentEpoch = vals[recCGTargetMetadata][""].epoch
	for id, v := range vals[recCGMember] {
		m := &cmember{id: id, instanceID: v.instanceID, rackID: v.rackID, clientID: v.clientID, clientHost: v.host,
			topics: v.topics, rebalanceTimeout: time.Duration(v.rebalanceMs) * time.Millisecond,
			assigned: tpSet{}, revoking: tpSet{}, lastHeartbeat: now, classic: v.classic}
		if v.regex != nil {
			m.regex = *v.regex
			m.re = regexp.MustCompile("^(?:" + m.regex + ")$") // checked at replay
		}
		if v.assignor != nil {
			m.assignor = *v.assignor
		}
		if a, ok := vals[recCGCurrentAssignment][id]; ok {
			m.epoch, m.prevEpoch, m.state = a.epoch, a.prevEpoch, memberState(a.state)
			m.assigned, m.revoking = toSet(a.parts), toSet(a.revoking)
			if m.state == stateUnrevoked {
				m.revokeDeadline = now.Add(m.rebalanceTimeout)
			}
		}
		cg.members[id] = m
		if m.instanceID != nil {
			cg.statics[*m.instanceID] = id
		}
		if t, ok := vals[recCGTargetMember][id]; ok {
			cg.target[id] = toSet(t.parts)
		}
	}
	cg.metaKey = cg.metaKey0(topics)
	cg.persisted = cg.records(g.id, topics)
	g.cg = cg
	g.protocolType = "consumer"
	if len(cg.members) > 0 {
		g.state = Stable
	}
}
