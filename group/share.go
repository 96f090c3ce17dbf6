package group

// Share groups (KIP-932), the group side: membership through
// ShareGroupHeartbeat, member and group epochs, and Kafka's SimpleAssignor
// for share groups (shareassign.go). Unlike a consumer group, a partition
// may go to several members at once (the share-partition side hands out
// records, not partitions), so a member moves straight to its target
// assignment on its next heartbeat: no revocation step, no partition
// waits for another member to release it.
//
//   - The group epoch grows when a member joins, leaves or is fenced,
//     when a subscription changes, and when a subscribed topic is
//     created, deleted or grows (Config.Topics, as for consumer groups).
//   - The target assignment is recomputed once the group epoch passes the
//     assignment epoch; a member takes the assignment epoch and its target
//     on its next heartbeat (Kafka's ShareGroupAssignmentBuilder).
//   - A member that misses its session (group.share.session.timeout.ms,
//     or the group's share.session.timeout.ms) is fenced: removed, and
//     its partitions go to the others.
//
// A share group is a group whose sg is set: its members are there, never
// in the classic fields. Its classic state mirrors membership (Empty
// with no members, else Stable), so DeleteGroups' and ListGroups' rules
// apply to it unchanged. A group id of another type is GROUP_ID_NOT_FOUND
// to ShareGroupHeartbeat, as in Kafka 4 (no conversion between share
// groups and the other types).

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
	"unsafe"
)

// Share-group defaults (Kafka's names and defaults).
const (
	DefaultShareSessionTimeout    = 45 * time.Second // group.share.session.timeout.ms
	DefaultShareHeartbeatInterval = 5 * time.Second  // group.share.heartbeat.interval.ms
	DefaultShareMaxSize           = 200              // group.share.max.size
	// ShareProtocolType is a share group's protocol type in ListGroups.
	ShareProtocolType = "share"
	// ShareAssignor is the name of the one share-group assignor.
	ShareAssignor = "simple"
	// maxShareMemberIDBytes bounds a client-made member id (Kafka sets no
	// limit; clients send a UUID of 22 or 36 characters).
	maxShareMemberIDBytes = 255
)

// ShareHeartbeat is one ShareGroupHeartbeat. A nil RackID or
// SubscribedTopicNames is "unchanged since the last heartbeat".
type ShareHeartbeat struct {
	Group, MemberID      string
	MemberEpoch          int32
	RackID               *string
	SubscribedTopicNames []string
	ClientID, ClientHost string
}

// ShareHeartbeatResult is the answer to a ShareGroupHeartbeat. Assignment
// is nil when the member is not sent one (the response's null).
type ShareHeartbeatResult struct {
	Err               error
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	Assignment        []ConsumerTopic
}

// GroupTimeouts are a group's own session timeout and heartbeat interval
// (its share.* or consumer.* GROUP configs); zero: the broker's.
type GroupTimeouts struct {
	Session, Heartbeat time.Duration
}

type smember struct {
	id                   string
	rackID               *string
	clientID, clientHost string
	topics               []string // subscribed names, sorted
	epoch, prevEpoch     int32
	assigned             tpSet
	lastHeartbeat        time.Time
}

// sgroup is the share part of a group (group.sg).
type sgroup struct {
	epoch, assignmentEpoch int32
	members                map[string]*smember
	target                 map[string]tpSet
	// metaKey is the subscribed topics' metadata (ids, partition counts)
	// the group epoch was last computed for.
	metaKey string
	// tickTopics is the topic map subscriptions were last compared with.
	tickTopics unsafe.Pointer
	// persisted is what the log holds for the group (sharerecords.go).
	persisted map[string][]byte
}

func newSGroup() *sgroup {
	return &sgroup{members: map[string]*smember{}, target: map[string]tpSet{}}
}

// stateName is the share group's state as Kafka names it.
func (sg *sgroup) stateName() string {
	if len(sg.members) == 0 {
		return "Empty"
	}
	return "Stable"
}

// metaKey0 is the key of the subscribed topics' metadata.
func (sg *sgroup) metaKey0(topics map[string]TopicMeta) string {
	seen := map[string]bool{}
	for _, m := range sg.members {
		for _, t := range m.topics {
			if _, ok := topics[t]; ok {
				seen[t] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for t := range seen {
		names = append(names, t)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, t := range names {
		fmt.Fprintf(&b, "%s:%x:%d,", t, topics[t].ID, topics[t].Partitions)
	}
	return b.String()
}

// shareTimeouts is group id's session timeout and heartbeat interval.
func (c *Coordinator) shareTimeouts(id string) (session, heartbeat time.Duration) {
	session, heartbeat = c.cfg.ShareSessionTimeout, c.cfg.ShareHeartbeatInterval
	if c.cfg.ShareGroupTimeouts != nil {
		o := c.cfg.ShareGroupTimeouts(id)
		if o.Session > 0 {
			session = o.Session
		}
		if o.Heartbeat > 0 {
			heartbeat = o.Heartbeat
		}
	}
	return session, heartbeat
}

// ConsumerTimeouts is consumer group id's session timeout and heartbeat
// interval: its consumer.* GROUP configs, else group.consumer.*.
func (c *Coordinator) ConsumerTimeouts(id string) (session, heartbeat time.Duration) {
	session, heartbeat = c.cfg.ConsumerSessionTimeout, c.cfg.ConsumerHeartbeatInterval
	if c.cfg.ConsumerGroupTimeouts != nil {
		o := c.cfg.ConsumerGroupTimeouts(id)
		if o.Session > 0 {
			session = o.Session
		}
		if o.Heartbeat > 0 {
			heartbeat = o.Heartbeat
		}
	}
	return session, heartbeat
}

// validateShareHeartbeat is Kafka's throwIfShareGroupHeartbeatRequestIsInvalid.
func validateShareHeartbeat(req *ShareHeartbeat) error {
	bad := func(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidRequest, msg) }
	switch {
	case strings.TrimSpace(req.MemberID) == "":
		return bad("MemberId can't be empty.")
	case strings.TrimSpace(req.Group) == "":
		return bad("GroupId can't be empty.")
	case req.RackID != nil && strings.TrimSpace(*req.RackID) == "":
		return bad("RackId can't be empty.")
	case req.MemberEpoch == epochJoin && len(req.SubscribedTopicNames) == 0:
		return bad("SubscribedTopicNames must be set in first request.")
	case req.MemberEpoch < epochLeave:
		return bad("MemberEpoch is invalid.")
	case len(req.MemberID) > maxShareMemberIDBytes:
		return bad(fmt.Sprintf("MemberId is %d bytes; the limit is %d.", len(req.MemberID), maxShareMemberIDBytes))
	case len(req.Group) > MaxGroupIDBytes:
		return fmt.Errorf("%w: the group id is %d bytes; the limit is %d", ErrInvalidGroupID, len(req.Group), MaxGroupIDBytes)
	}
	return nil
}

// ShareGroupHeartbeat handles a ShareGroupHeartbeat. done gets the answer
// once what the heartbeat changed is durable in __consumer_offsets (at
// once when nothing changed, or on an error); it runs once, maybe inside
// the call, and must not call back into the Coordinator. As for consumer
// groups, memory changes first: a failed write answers storeError's
// error and the group's records are all written again on its next change.
func (c *Coordinator) ShareGroupHeartbeat(now time.Time, req ShareHeartbeat, done func(ShareHeartbeatResult)) {
	fail := func(err error) {
		done(ShareHeartbeatResult{Err: err, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch})
	}
	if err := validateShareHeartbeat(&req); err != nil {
		fail(err)
		return
	}
	topics := c.topics()
	c.mu.Lock()
	defer c.mu.Unlock()
	res, g, err := c.shareHeartbeatLocked(now, req, topics)
	if err != nil {
		fail(err)
		return
	}
	c.persistShareLocked(g, now, topics, func(err error) {
		if err != nil {
			fail(err)
			return
		}
		done(res)
	})
}

func (c *Coordinator) shareHeartbeatLocked(now time.Time, req ShareHeartbeat, topics map[string]TopicMeta) (ShareHeartbeatResult, *group, error) {
	if _, err := c.checkLocked(req.Group, false); err != nil {
		return ShareHeartbeatResult{}, nil, err
	}
	g := c.mu.groups[req.Group]
	switch {
	case g == nil && req.MemberEpoch != epochJoin:
		return ShareHeartbeatResult{}, nil, fmt.Errorf("%w: share group %s not found", ErrGroupIDNotFound, req.Group)
	case g == nil:
		g = newGroup(req.Group, now)
		g.sg, g.protocolType = newSGroup(), ShareProtocolType
		c.mu.groups[req.Group] = g
		defer c.dropIfUnusedShareLocked(g)
	case g.deleting:
		return ShareHeartbeatResult{}, nil, fmt.Errorf("%w: the group is being deleted", ErrCoordinatorNotAvailable)
	case g.sg == nil:
		return ShareHeartbeatResult{}, nil, fmt.Errorf("%w: group %s is not a share group", ErrGroupIDNotFound, req.Group)
	}
	sg := g.sg
	if req.MemberEpoch == epochLeave {
		if sg.members[req.MemberID] == nil {
			return ShareHeartbeatResult{}, nil, fmt.Errorf("%w: share group %s has no member %s", ErrUnknownMemberID, g.id, req.MemberID)
		}
		c.removeShareMemberLocked(g, now, req.MemberID, "member left the group", topics)
		return ShareHeartbeatResult{MemberID: req.MemberID, MemberEpoch: epochLeave}, g, nil
	}
	m, isNew, err := c.shareMemberLocked(g, now, &req)
	if err != nil {
		return ShareHeartbeatResult{}, nil, err
	}
	m.lastHeartbeat = now
	if req.ClientID != "" || req.ClientHost != "" {
		m.clientID, m.clientHost = req.ClientID, req.ClientHost
	}
	changed := isNew
	if req.RackID != nil && (m.rackID == nil || *m.rackID != *req.RackID) {
		m.rackID = req.RackID
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		sort.Strings(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topics) {
			m.topics, changed = names, true
		}
	}
	c.refreshShareEpochLocked(sg, topics, changed)
	before := m.assigned
	// Kafka's ShareGroupAssignmentBuilder: straight to the target.
	if m.epoch != sg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, sg.assignmentEpoch
		m.assigned = sg.target[m.id]
		if m.assigned == nil {
			m.assigned = tpSet{}
		}
	}
	if g.state != Stable {
		g.setState(Stable, now)
	}
	_, hbi := c.shareTimeouts(g.id)
	res := ShareHeartbeatResult{MemberID: m.id, MemberEpoch: m.epoch, HeartbeatInterval: hbi}
	if req.MemberEpoch == epochJoin || req.SubscribedTopicNames != nil || !before.equal(m.assigned) {
		res.Assignment = toConsumerTopics(m.assigned, topics)
	}
	return res, g, nil
}

// refreshShareEpochLocked bumps the group epoch when changed or when the
// subscribed topics' metadata moved, and recomputes the target
// assignment when the group epoch passed it.
func (c *Coordinator) refreshShareEpochLocked(sg *sgroup, topics map[string]TopicMeta, changed bool) {
	if p := reflect.ValueOf(topics).UnsafePointer(); changed || p != sg.tickTopics {
		sg.tickTopics = p
		if key := sg.metaKey0(topics); key != sg.metaKey {
			sg.metaKey, changed = key, true
		}
	}
	if changed {
		sg.epoch++
	}
	if sg.assignmentEpoch < sg.epoch {
		sg.target = shareAssign(sg.members, sg.target, topics)
		sg.assignmentEpoch = sg.epoch
	}
}

// shareMemberLocked finds (or, for a join, adds) the heartbeat's member
// and checks its epoch (Kafka's throwIfShareGroupMemberEpochIsInvalid: the
// current epoch, or the previous one when the answer that moved it was
// lost).
func (c *Coordinator) shareMemberLocked(g *group, now time.Time, req *ShareHeartbeat) (m *smember, isNew bool, err error) {
	sg := g.sg
	m = sg.members[req.MemberID]
	if req.MemberEpoch == epochJoin {
		if m != nil {
			// A member that lost its epoch (fenced, or its answer lost)
			// joins again with its own id (KIP-1082): it starts over.
			m.epoch, m.prevEpoch, m.assigned = epochJoin, epochJoin, tpSet{}
			return m, false, nil
		}
		if len(sg.members) >= c.cfg.ShareMaxSize {
			return nil, false, fmt.Errorf("%w: the share group has reached its maximum capacity of %d members (group.share.max.size)", ErrGroupMaxSizeReached, c.cfg.ShareMaxSize)
		}
		m = &smember{id: req.MemberID, assigned: tpSet{}, lastHeartbeat: now}
		sg.members[m.id] = m
		c.log.Info("share group member joined", "group", g.id, "member_id", m.id)
		return m, true, nil
	}
	if m == nil {
		return nil, false, fmt.Errorf("%w: share group %s has no member %s", ErrUnknownMemberID, g.id, req.MemberID)
	}
	if req.MemberEpoch != m.epoch && req.MemberEpoch != m.prevEpoch {
		return nil, false, fmt.Errorf("%w: the share group member sent epoch %d; its epoch is %d. The member must abandon all its partitions and rejoin", ErrFencedMemberEpoch, req.MemberEpoch, m.epoch)
	}
	return m, false, nil
}

// removeShareMemberLocked takes a member out (left or fenced): the group
// epoch grows and the target is recomputed without it.
func (c *Coordinator) removeShareMemberLocked(g *group, now time.Time, id, reason string, topics map[string]TopicMeta) {
	sg := g.sg
	if sg.members[id] == nil {
		return
	}
	delete(sg.members, id)
	delete(sg.target, id)
	c.log.Info("share group member removed", "group", g.id, "member_id", id, "reason", reason)
	c.refreshShareEpochLocked(sg, topics, true)
	if len(sg.members) == 0 {
		g.setState(Empty, now)
	}
}

// tickShareLocked fences the members whose session expired and
// re-evaluates subscriptions when the topics changed; what changed is
// written.
func (c *Coordinator) tickShareLocked(g *group, now time.Time, topics map[string]TopicMeta) {
	sg := g.sg
	epoch := sg.epoch
	session, _ := c.shareTimeouts(g.id)
	for _, id := range sortedKeys(sg.members) {
		if m := sg.members[id]; !now.Before(m.lastHeartbeat.Add(session)) {
			c.removeShareMemberLocked(g, now, id, fmt.Sprintf("session timeout (%v) expired", session), topics)
		}
	}
	if reflect.ValueOf(topics).UnsafePointer() != sg.tickTopics {
		c.refreshShareEpochLocked(sg, topics, false)
	}
	if sg.epoch != epoch {
		c.persistShareLocked(g, now, topics, nil)
	}
}

// dropIfUnusedShareLocked forgets a share group a failed join created.
func (c *Coordinator) dropIfUnusedShareLocked(g *group) {
	if c.mu.groups[g.id] == g && g.sg != nil && len(g.sg.members) == 0 && g.sg.persisted == nil && !g.deleting {
		delete(c.mu.groups, g.id)
	}
}

// IsShareGroup reports whether groupID is a share group coordinated here.
func (c *Coordinator) IsShareGroup(groupID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.mu.groups[groupID]
	return g != nil && g.sg != nil
}

// ShareGroupState reports, for the share-partition side (kafka's
// ShareGroups), whether groupID exists here, whether it is a share group,
// and whether it has no members; err is a coordinator error
// (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, INVALID_GROUP_ID).
func (c *Coordinator) ShareGroupState(groupID string) (exists, isShare, empty bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, false); err != nil {
		return false, false, false, err
	}
	g := c.mu.groups[groupID]
	if g == nil {
		return false, false, true, nil
	}
	if g.sg == nil {
		return true, false, len(g.members) == 0 && (g.cg == nil || len(g.cg.members) == 0), nil
	}
	return true, true, len(g.sg.members) == 0, nil
}

// ShareMemberDescription is one member in ShareGroupDescribe.
type ShareMemberDescription struct {
	MemberID             string
	RackID               *string
	MemberEpoch          int32
	ClientID, ClientHost string
	SubscribedTopicNames []string
	Assignment           []ConsumerTopic // by topic id
}

// ShareDescription is a share group in ShareGroupDescribe.
type ShareDescription struct {
	State                  string // Empty, Stable
	Epoch, AssignmentEpoch int32
	Assignor               string
	Members                []ShareMemberDescription
	TopicNames             map[[16]byte]string
}

// DescribeShareGroup describes a share group: GROUP_ID_NOT_FOUND for an
// unknown group or one of another type, as Kafka answers.
func (c *Coordinator) DescribeShareGroup(groupID string) (ShareDescription, error) {
	topics := c.topics()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, false); err != nil {
		return ShareDescription{}, err
	}
	g := c.mu.groups[groupID]
	if g == nil || g.sg == nil {
		return ShareDescription{}, fmt.Errorf("%w: group %s is not a share group", ErrGroupIDNotFound, groupID)
	}
	sg := g.sg
	d := ShareDescription{State: sg.stateName(), Epoch: sg.epoch, AssignmentEpoch: sg.assignmentEpoch, Assignor: ShareAssignor, TopicNames: map[[16]byte]string{}}
	for name, t := range topics {
		d.TopicNames[t.ID] = name
	}
	for _, id := range sortedKeys(sg.members) {
		m := sg.members[id]
		d.Members = append(d.Members, ShareMemberDescription{
			MemberID: m.id, RackID: m.rackID, MemberEpoch: m.epoch, ClientID: m.clientID, ClientHost: m.clientHost,
			SubscribedTopicNames: slices.Clone(m.topics), Assignment: toConsumerTopics(m.assigned, topics),
		})
	}
	return d, nil
}

// shareListing fills a ListGroups entry of a share group.
func (g *group) shareListing(l *Listing) {
	if g.sg != nil {
		l.StateName, l.Type, l.ProtocolType = g.sg.stateName(), ShareProtocolType, ShareProtocolType
	}
}
