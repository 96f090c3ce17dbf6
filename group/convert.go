package group

// Conversion between classic and consumer (KIP-848) groups, as Kafka 4.0
// does it (group.consumer.migration.policy):
//
//   - Offline: an empty classic group (offsets only) that gets a
//     ConsumerGroupHeartbeat becomes a consumer group, and an empty
//     consumer group that gets a JoinGroup becomes a classic group, both
//     keeping their offsets, whatever the policy.
//   - Online upgrade (policy upgrade or bidirectional): a classic group
//     with members, of protocol type "consumer", that gets a
//     ConsumerGroupHeartbeat becomes a consumer group; its members keep
//     their assignments and epochs (the generation) and stay classic
//     members: JoinGroup, SyncGroup, Heartbeat and LeaveGroup reach the
//     consumer group (classic*ConsumerLocked below), which assigns for
//     them too. A JoinGroup is answered with the member's epoch as the
//     generation and no leader; SyncGroup with the member's assignment
//     in the consumer protocol's embedded format; Heartbeat with
//     REBALANCE_IN_PROGRESS when the member should rejoin (its epoch is
//     behind the group's, it must revoke, or the partitions it waits for
//     were released).
//   - Online downgrade (policy downgrade or bidirectional): when the last
//     consumer-protocol member leaves (or is fenced) and classic members
//     remain, the group becomes a classic group at the group epoch with
//     their assignments and starts a rebalance.
//
// A classic member's session is its JoinGroup session timeout; after a
// JoinGroup it must send SyncGroup, and after it is told to rejoin it must
// rejoin, within its rebalance timeout (Kafka's sync and join timeouts),
// or it is fenced. Its commits must carry its epoch exactly
// (ILLEGAL_GENERATION otherwise, as Kafka answers classic members).
// Classic members are persisted like the others, with Kafka's
// ClassicMemberMetadata (tagged field 0 of ConsumerGroupMemberMetadata).
//
// Skipped: the downgrade Kafka does when a classic static member replaces
// the last consumer-protocol static member (the group stays a consumer
// group until that member leaves). A group converted while
// CompletingRebalance takes the previous generation's assignments (the
// ones its members hold), as the assignment being written is not yet
// theirs. A malformed subscription in a classic JoinGroup to a consumer
// group is INCONSISTENT_GROUP_PROTOCOL (Kafka fails it as an internal
// error).

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// MigrationPolicy is group.consumer.migration.policy: which online
// conversions between classic and consumer groups are allowed.
type MigrationPolicy int8

// Migration policies; the zero value is Kafka's default.
const (
	MigrationBidirectional MigrationPolicy = iota
	MigrationUpgrade
	MigrationDowngrade
	MigrationDisabled
)

var migrationNames = [...]string{"bidirectional", "upgrade", "downgrade", "disabled"}

func (p MigrationPolicy) String() string {
	if int(p) < len(migrationNames) {
		return migrationNames[p]
	}
	return fmt.Sprintf("MigrationPolicy(%d)", p)
}

// ParseMigrationPolicy reads a policy name (case-insensitive).
func ParseMigrationPolicy(s string) (MigrationPolicy, error) {
	for i, n := range migrationNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return MigrationPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("unknown migration policy %q; valid: %s", s, strings.Join(migrationNames[:], ", "))
}

func (p MigrationPolicy) upgrade() bool {
	return p == MigrationBidirectional || p == MigrationUpgrade
}

func (p MigrationPolicy) downgrade() bool {
	return p == MigrationBidirectional || p == MigrationDowngrade
}

// classicMeta is what a classic member of a consumer group sent in its
// JoinGroup (Kafka's ClassicMemberMetadata).
type classicMeta struct {
	sessionTimeout time.Duration
	protocols      []Protocol
}

// protocol is the name the member's JoinGroup and SyncGroup answers carry:
// its first protocol, as in Kafka.
func (cm *classicMeta) protocol() string {
	if len(cm.protocols) == 0 {
		return ""
	}
	return cm.protocols[0].Name
}

// toConsumerLocked makes classic group g a consumer group for a joining
// ConsumerGroupHeartbeat: offline when g is empty, else online if the
// policy allows it (GROUP_ID_NOT_FOUND otherwise, as Kafka answers).
func (c *Coordinator) toConsumerLocked(g *group, now time.Time, topics map[string]TopicMeta) error {
	if len(g.members) == 0 && g.state == Empty {
		if g.generation > 0 || g.protocolType != "" {
			c.appendLocked(g.id, []kv{{groupKey(g.id), nil}}, now, nil)
		}
		g.pending = map[string]time.Time{}
		g.cg = newCGroup()
		g.protocolType, g.protocol, g.leader = "consumer", "", ""
		return nil
	}
	notFound := func(why string) error {
		return fmt.Errorf("%w: group %s is a classic group with members; %s", ErrGroupIDNotFound, g.id, why)
	}
	switch {
	case !c.cfg.ConsumerMigrationPolicy.upgrade():
		return notFound("online upgrade is disabled (group.consumer.migration.policy=" + c.cfg.ConsumerMigrationPolicy.String() + ")")
	case g.protocolType != "consumer":
		return notFound(fmt.Sprintf("its protocol type %q is not the consumer protocol", g.protocolType))
	case len(g.members) > c.cfg.ConsumerMaxSize:
		return notFound("it has more members than group.consumer.max.size")
	}
	cg := newCGroup()
	cg.epoch, cg.assignmentEpoch = g.generation, g.generation
	for _, id := range g.order {
		m := g.members[id]
		md := m.metadataFor(g.protocol)
		if md == nil && len(m.protocols) > 0 {
			md = m.protocols[0].Metadata
		}
		var sub kmsg.ConsumerMemberMetadata
		if err := sub.ReadFrom(md); err != nil {
			return notFound(fmt.Sprintf("member %s's subscription is malformed: %v", id, err))
		}
		assigned := tpSet{}
		if len(m.assignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(m.assignment); err != nil {
				return notFound(fmt.Sprintf("member %s's assignment is malformed: %v", id, err))
			}
			for _, t := range a.Topics {
				if _, ok := topics[t.Topic]; !ok {
					continue
				}
				for _, p := range t.Partitions {
					assigned[model.TopicPartition{Topic: t.Topic, Partition: p}] = struct{}{}
				}
			}
		}
		cm := &cmember{id: id, instanceID: m.instanceID, rackID: sub.Rack, clientID: m.clientID, clientHost: m.clientHost,
			epoch: g.generation, prevEpoch: g.generation, rebalanceTimeout: m.rebalanceTimeout,
			topics: sortedNames(sub.Topics), assigned: assigned, revoking: tpSet{}, lastHeartbeat: now,
			classic: &classicMeta{sessionTimeout: m.sessionTimeout, protocols: slices.Clone(m.protocols)}}
		cg.members[id] = cm
		cg.target[id] = maps.Clone(assigned)
		if cm.instanceID != nil {
			cg.statics[*cm.instanceID] = id
		}
	}
	// The joining member bumps the group epoch: members waiting in a
	// rebalance rejoin the consumer group.
	for _, id := range g.order {
		g.members[id].fail(ErrRebalanceInProgress)
	}
	c.appendLocked(g.id, []kv{{groupKey(g.id), nil}}, now, nil)
	c.log.Info("converted classic group to a consumer group (online upgrade)", "group", g.id, "generation", g.generation, "members", len(g.members))
	g.members, g.order, g.pending, g.statics = map[string]*member{}, nil, map[string]time.Time{}, map[string]string{}
	g.cg = cg
	g.protocolType, g.protocol, g.leader = "consumer", "", ""
	g.setState(Stable, now)
	return nil
}

func sortedNames(l []string) []string {
	out := slices.Clone(l)
	sort.Strings(out)
	return slices.Compact(out)
}

// downgradeOnLeaveLocked is Kafka's validateOnlineDowngradeWithFencedMember:
// whether removing member id should turn g back into a classic group.
func (c *Coordinator) downgradeOnLeaveLocked(g *group, id string) bool {
	cg := g.cg
	for mid, m := range cg.members {
		if mid != id && m.classic == nil {
			return false
		}
	}
	switch {
	case len(cg.members) <= 1:
		return false
	case !c.cfg.ConsumerMigrationPolicy.downgrade():
		c.log.Info("not downgrading the consumer group to a classic group: online downgrade is disabled", "group", g.id)
		return false
	case len(cg.members)-1 > c.cfg.MaxGroupSize:
		return false
	}
	return true
}

// toClassicLocked turns consumer group g, whose members but leaving are
// all classic, into a classic group at the group epoch holding their
// assignments, writes it (the consumer records' tombstones, then the
// classic group's record) and starts a rebalance, as Kafka's
// convertToClassicGroup does.
func (c *Coordinator) toClassicLocked(g *group, now time.Time, leaving string) {
	cg := g.cg
	tombs := g.consumerTombstones()
	topics := c.topics()
	g.cg = nil
	g.members, g.order, g.pending, g.statics = map[string]*member{}, nil, map[string]time.Time{}, map[string]string{}
	g.protocolType, g.leader = "consumer", ""
	g.generation = cg.epoch
	for _, id := range sortedKeys(cg.members) {
		if id == leaving {
			continue
		}
		cm := cg.members[id]
		m := &member{id: id, instanceID: cm.instanceID, clientID: cm.clientID, clientHost: cm.clientHost,
			sessionTimeout: cm.classic.sessionTimeout, rebalanceTimeout: cm.rebalanceTimeout,
			protocols: slices.Clone(cm.classic.protocols), assignment: encodeAssignment(cm.assigned, topics),
			lastHeartbeat: now, synced: true}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.addMember(m)
	}
	g.protocol = g.selectProtocol()
	g.setState(Stable, now)
	c.log.Info("converted consumer group to a classic group (online downgrade)", "group", g.id, "generation", g.generation, "members", len(g.members), "left", leaving)
	if len(tombs) > 0 {
		c.appendLocked(g.id, tombs, now, nil)
	}
	c.storeGroupLocked(g, nil, now, nil)
	c.prepareRebalanceLocked(g, now, "downgraded from a consumer group to a classic group")
}

// encodeAssignment is s in the consumer protocol's embedded assignment
// format (version 0, as Kafka's toConsumerProtocolAssignment).
func encodeAssignment(s tpSet, topics map[string]TopicMeta) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	for _, tp := range s.sorted() {
		if _, ok := topics[tp.Topic]; !ok {
			continue
		}
		if n := len(a.Topics); n > 0 && a.Topics[n-1].Topic == tp.Topic {
			a.Topics[n-1].Partitions = append(a.Topics[n-1].Partitions, tp.Partition)
			continue
		}
		a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: tp.Topic, Partitions: []int32{tp.Partition}})
	}
	return a.AppendTo(nil)
}

// supportsClassic is Kafka's ConsumerGroup.supportsClassicProtocols: the
// consumer protocol type, and (if there are classic members) a protocol
// every one of them supports.
func (cg *cgroup) supportsClassic(protocolType string, protocols []Protocol) bool {
	if protocolType != "consumer" || len(protocols) == 0 {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range cg.members {
			if m.classic != nil && !slices.ContainsFunc(m.classic.protocols, func(q Protocol) bool { return q.Name == p.Name }) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// classicJoinConsumerLocked is a JoinGroup to a consumer group with
// members (Kafka's classicGroupJoinToConsumerGroup): the member joins (or
// rejoins) as a classic member, the group's assignor runs if needed, the
// member is reconciled against the partitions its subscription says it
// owns, and the answer comes once that is durable.
func (c *Coordinator) classicJoinConsumerLocked(g *group, now time.Time, req JoinRequest, done func(JoinResult)) {
	cg := g.cg
	fail := func(err error) { done(JoinResult{Err: err, MemberID: req.MemberID, Generation: -1}) }
	if !cg.supportsClassic(req.ProtocolType, req.Protocols) {
		fail(fmt.Errorf("%w: member %s's protocols are not supported by consumer group %s", ErrInconsistentGroupProtocol, req.MemberID, g.id))
		return
	}
	id, unknown := req.MemberID, req.MemberID == ""
	if unknown {
		id = c.cfg.NewMemberID(req.ClientID)
	}
	if cg.members[id] == nil && (req.InstanceID == nil || cg.statics[*req.InstanceID] == "") && len(cg.members) >= c.cfg.ConsumerMaxSize {
		fail(fmt.Errorf("%w: the group has %d members (group.consumer.max.size)", ErrGroupMaxSizeReached, len(cg.members)))
		return
	}
	if unknown && req.InstanceID == nil && req.RequireKnownMemberID {
		done(JoinResult{Err: ErrMemberIDRequired, MemberID: id, Generation: -1})
		return
	}
	var sub kmsg.ConsumerMemberMetadata
	if err := sub.ReadFrom(req.Protocols[0].Metadata); err != nil {
		fail(fmt.Errorf("%w: malformed consumer protocol subscription: %v", ErrInconsistentGroupProtocol, err))
		return
	}
	m, isNew, err := c.classicMemberLocked(g, now, id, unknown, req)
	if err != nil {
		fail(err)
		return
	}
	topics := c.topics()
	changed := isNew
	if names := sortedNames(sub.Topics); !slices.Equal(names, m.topics) {
		m.topics, changed = names, true
	}
	if sub.Rack != nil && *sub.Rack != "" && (m.rackID == nil || *m.rackID != *sub.Rack) {
		m.rackID, changed = sub.Rack, true
	}
	if req.RebalanceTimeout > 0 {
		m.rebalanceTimeout = req.RebalanceTimeout
	}
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.classic = &classicMeta{sessionTimeout: req.SessionTimeout, protocols: slices.Clone(req.Protocols)}
	m.lastHeartbeat, m.rejoinDeadline = now, time.Time{}
	m.syncDeadline = now.Add(max(m.rebalanceTimeout, time.Millisecond))
	if key := cg.metaKey0(topics); key != cg.metaKey {
		cg.metaKey, changed = key, true
	}
	if changed {
		cg.epoch++
	}
	if cg.assignmentEpoch < cg.epoch {
		c.computeTargetLocked(cg, topics)
	}
	owned := tpSet{}
	for _, t := range sub.OwnedPartitions {
		if _, ok := topics[t.Topic]; ok {
			for _, p := range t.Partitions {
				owned[model.TopicPartition{Topic: t.Topic, Partition: p}] = struct{}{}
			}
		}
	}
	c.reconcileLocked(cg, m, owned, now)
	if g.state != Stable {
		g.setState(Stable, now)
	}
	res := JoinResult{Generation: m.epoch, ProtocolType: "consumer", Protocol: m.classic.protocol(), MemberID: m.id}
	c.persistConsumerLocked(g, now, topics, func(err error) {
		if err != nil {
			done(JoinResult{Err: err, MemberID: m.id, Generation: -1})
			return
		}
		done(res)
	})
}

// classicMemberLocked finds or adds the member of a classic JoinGroup to
// a consumer group; a static member's new member id takes over the old
// one's assignment and epoch.
func (c *Coordinator) classicMemberLocked(g *group, now time.Time, id string, unknown bool, req JoinRequest) (*cmember, bool, error) {
	cg := g.cg
	if req.InstanceID != nil {
		if sid := cg.statics[*req.InstanceID]; sid != "" && sid != id {
			if !unknown {
				return nil, false, fmt.Errorf("%w: instance %s is member %s", ErrFencedInstanceID, *req.InstanceID, sid)
			}
			old := cg.members[sid]
			m := *old
			m.id = id
			delete(cg.members, sid)
			if t, ok := cg.target[sid]; ok {
				cg.target[id] = t
				delete(cg.target, sid)
			}
			cg.members[id] = &m
			cg.statics[*req.InstanceID] = id
			c.log.Info("static member rejoined a consumer group with a new member id", "group", g.id, "instance_id", *req.InstanceID, "old_member_id", sid, "member_id", id)
			return &m, false, nil
		}
	}
	if m := cg.members[id]; m != nil {
		if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
			return nil, false, ErrFencedInstanceID
		}
		return m, false, nil
	}
	m := &cmember{id: id, instanceID: req.InstanceID, assigned: tpSet{}, revoking: tpSet{}, rebalanceTimeout: req.RebalanceTimeout, lastHeartbeat: now}
	cg.members[id] = m
	if m.instanceID != nil {
		cg.statics[*m.instanceID] = id
	}
	c.log.Info("classic member joined a consumer group", "group", g.id, "member_id", id)
	return m, true, nil
}

// classicMember is Kafka's validateConsumerGroupMember plus
// throwIfMemberDoesNotUseClassicProtocol.
func (cg *cgroup) classicMember(memberID string, instanceID *string) (*cmember, error) {
	var m *cmember
	if instanceID == nil {
		m = cg.members[memberID]
	} else {
		m = cg.members[cg.statics[*instanceID]]
		if m != nil && m.id != memberID {
			return nil, fmt.Errorf("%w: instance %s is member %s", ErrFencedInstanceID, *instanceID, m.id)
		}
	}
	if m == nil {
		return nil, fmt.Errorf("%w: no member %s", ErrUnknownMemberID, memberID)
	}
	if m.classic == nil {
		return nil, fmt.Errorf("%w: member %s uses the consumer protocol", ErrUnknownMemberID, memberID)
	}
	return m, nil
}

// askRejoin tells classic member m to rejoin: it must within its
// rebalance timeout (Kafka's join timeout).
func (m *cmember) askRejoin(now time.Time) error {
	if m.rejoinDeadline.IsZero() {
		m.rejoinDeadline = now.Add(max(m.rebalanceTimeout, time.Millisecond))
	}
	return ErrRebalanceInProgress
}

// classicSyncConsumerLocked is a SyncGroup to a consumer group (Kafka's
// classicGroupSyncToConsumerGroup): the member's current assignment.
func (c *Coordinator) classicSyncConsumerLocked(g *group, now time.Time, req SyncRequest, done func(SyncResult)) {
	cg := g.cg
	m, err := cg.classicMember(req.MemberID, req.InstanceID)
	if err == nil {
		err = m.checkGeneration(req.Generation)
	}
	if err == nil {
		if (req.ProtocolType != nil && *req.ProtocolType != "consumer") || (req.Protocol != nil && *req.Protocol != m.classic.protocol()) {
			err = fmt.Errorf("%w: the member joined with protocol %s of type consumer", ErrInconsistentGroupProtocol, m.classic.protocol())
		}
	}
	if err == nil && cg.epoch > m.epoch && m.state != stateUnrevoked {
		err = m.askRejoin(now)
	}
	if err != nil {
		done(SyncResult{Err: err})
		return
	}
	m.lastHeartbeat, m.syncDeadline = now, time.Time{}
	done(SyncResult{ProtocolType: "consumer", Protocol: m.classic.protocol(), Assignment: encodeAssignment(m.assigned, c.topics())})
}

func (m *cmember) checkGeneration(gen int32) error {
	if gen != m.epoch {
		return fmt.Errorf("%w: generation %d; the member is at %d", ErrIllegalGeneration, gen, m.epoch)
	}
	return nil
}

// classicHeartbeatConsumerLocked is a Heartbeat to a consumer group
// (Kafka's classicGroupHeartbeatToConsumerGroup).
func (c *Coordinator) classicHeartbeatConsumerLocked(g *group, now time.Time, memberID string, instanceID *string, generation int32) error {
	cg := g.cg
	m, err := cg.classicMember(memberID, instanceID)
	if err != nil {
		return err
	}
	if err := m.checkGeneration(generation); err != nil {
		return err
	}
	m.lastHeartbeat = now
	if m.epoch < cg.epoch || m.state == stateUnrevoked || (m.state == stateUnreleased && !cg.waitingOnUnreleased(m)) {
		return m.askRejoin(now)
	}
	return nil
}

// waitingOnUnreleased says whether a partition of m's target that m does
// not have is still held by another member.
func (cg *cgroup) waitingOnUnreleased(m *cmember) bool {
	for tp := range cg.target[m.id] {
		if _, ok := m.assigned[tp]; ok {
			continue
		}
		for id, o := range cg.members {
			if id == m.id {
				continue
			}
			_, a := o.assigned[tp]
			_, r := o.revoking[tp]
			if a || r {
				return true
			}
		}
	}
	return false
}

// classicLeaveConsumerLocked is a LeaveGroup to a consumer group (Kafka's
// classicGroupLeaveToConsumerGroup): each member's error, in order.
func (c *Coordinator) classicLeaveConsumerLocked(g *group, now time.Time, members []LeaveMember) []error {
	errs := make([]error, len(members))
	cg := g.cg
	for i, lm := range members {
		if g.cg != cg {
			errs[i] = ErrUnknownMemberID // the group was downgraded by an earlier one
			continue
		}
		var m *cmember
		if lm.InstanceID == nil {
			m = cg.members[lm.MemberID]
			if m != nil && m.classic == nil {
				errs[i] = fmt.Errorf("%w: member %s uses the consumer protocol", ErrUnknownMemberID, lm.MemberID)
				continue
			}
		} else {
			m = cg.members[cg.statics[*lm.InstanceID]]
			if m != nil && lm.MemberID != "" && m.id != lm.MemberID {
				errs[i] = ErrFencedInstanceID
				continue
			}
			if m != nil && m.classic == nil {
				errs[i] = fmt.Errorf("%w: member %s uses the consumer protocol", ErrUnknownMemberID, m.id)
				continue
			}
		}
		if m == nil {
			errs[i] = ErrUnknownMemberID
			continue
		}
		c.removeConsumerMemberLocked(g, now, m.id, "member left the group")
	}
	if g.cg == cg {
		c.persistConsumerLocked(g, now, c.topics(), nil)
	}
	return errs
}

// appendTagged writes the tagged fields of a ConsumerGroupMemberMetadata
// value: ClassicMemberMetadata (tag 0, a nullable struct: a 1 marker,
// SessionTimeoutMs, SupportedProtocols [Name, Metadata]) when set.
func (cm *classicMeta) appendTagged(e *enc) {
	if cm == nil {
		e.tags()
		return
	}
	var t enc
	t.i8(1)
	t.i32(int32(cm.sessionTimeout.Milliseconds()))
	t.uv(uint64(len(cm.protocols)) + 1)
	for _, p := range cm.protocols {
		t.cstr(p.Name)
		t.uv(uint64(len(p.Metadata)) + 1)
		t.b = append(t.b, p.Metadata...)
		t.tags()
	}
	t.tags()
	e.uv(1) // one tagged field
	e.uv(0) // tag 0
	e.uv(uint64(len(t.b)))
	e.b = append(e.b, t.b...)
}

// memberTags reads the tagged fields of a ConsumerGroupMemberMetadata
// value, returning its ClassicMemberMetadata (nil: none).
func (d *dec) memberTags() *classicMeta {
	var cm *classicMeta
	n := d.tagCount()
	for i := 0; i < n && d.err == nil; i++ {
		tag := d.uv()
		body := d.bytes(d.uv())
		if tag != 0 || d.err != nil {
			continue
		}
		t := dec{b: body}
		if t.i8() < 0 {
			continue // null
		}
		c := &classicMeta{sessionTimeout: time.Duration(t.i32()) * time.Millisecond}
		k := t.count(2)
		for j := 0; j < k && t.err == nil; j++ {
			p := Protocol{Name: t.cstr()}
			if l := t.uv(); l > 0 {
				p.Metadata = slices.Clone(t.bytes(l - 1))
			}
			t.skipTags()
			c.protocols = append(c.protocols, p)
		}
		t.skipTags()
		if t.err != nil {
			d.err = fmt.Errorf("classic member metadata: %w", t.err)
			return nil
		}
		cm = c
	}
	return cm
}
