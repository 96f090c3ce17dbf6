package group

// KIP-848 consumer groups: the coordinator assigns partitions itself
// (assign.go) and reconciles each member towards its target assignment
// through ConsumerGroupHeartbeat, one member at a time, with no
// group-wide barrier:
//
//   - The group epoch grows whenever what the assignment depends on
//     changes: a member joins, leaves or is fenced, a subscription or the
//     assignor changes, a subscribed topic is created, deleted or grows.
//   - The target assignment is recomputed when the group epoch passes the
//     assignment epoch, by the assignor the members ask for (the most
//     asked for; config order breaks ties).
//   - A member at an older epoch first gives up the partitions its target
//     no longer holds: it keeps its epoch and is told its assignment
//     without them, until a heartbeat's owned partitions no longer list
//     them (Kafka's UNREVOKED_PARTITIONS). Then it moves to the
//     assignment epoch and gets its target minus the partitions other
//     members still hold (UNRELEASED_PARTITIONS), which it gets on a
//     later heartbeat, once released.
//
// A member that misses its session (group.consumer.session.timeout.ms)
// or does not revoke within its rebalance timeout is fenced: removed, its
// partitions go back to the assignor.

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/ringtail/ringtail/model"
)

// Consumer-group defaults (Kafka's names).
const (
	DefaultConsumerSessionTimeout    = 45 * time.Second // group.consumer.session.timeout.ms
	DefaultConsumerHeartbeatInterval = 5 * time.Second  // group.consumer.heartbeat.interval.ms
	DefaultConsumerMaxSize           = 1<<31 - 1        // group.consumer.max.size
	// maxRegexBytes bounds a subscription regex.
	maxRegexBytes = 4096
)

// DefaultConsumerAssignors is group.consumer.assignors' default; the
// first is used when a member names none.
var DefaultConsumerAssignors = []string{"uniform", "range"}

// Member epochs a heartbeat may carry besides a member's own.
const (
	epochJoin       = 0
	epochLeave      = -1
	epochStaticLeft = -2
)

// TopicMeta is what the coordinator needs of a topic: its id and
// partition count. Config.Topics lists them (from the metadata image).
type TopicMeta struct {
	ID         [16]byte
	Partitions int32
	// Racks are the racks of each partition's replicas (index: partition),
	// for rack-aware assignment; nil: unknown.
	Racks [][]string
}

// ConsumerTopic is a topic's partitions, by topic id as the protocol
// sends them.
type ConsumerTopic struct {
	ID         [16]byte
	Partitions []int32
}

// ConsumerHeartbeat is one ConsumerGroupHeartbeat. Nil fields are
// "unchanged since the last heartbeat".
type ConsumerHeartbeat struct {
	Version              int16
	Group, MemberID      string
	MemberEpoch          int32
	InstanceID, RackID   *string
	RebalanceTimeoutMs   int32 // -1: unchanged
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	ServerAssignor       *string
	Owned                []ConsumerTopic // nil: unchanged
	ClientID, ClientHost string
	// TopicAllowed says whether the member's principal may DESCRIBE a
	// topic: a regex subscription resolves only to such topics (Kafka 4
	// filters regex matches by the ACLs of the member that set the
	// regex). nil: every topic. It is called under the coordinator's
	// lock and must not call back into it.
	TopicAllowed func(topic string) bool
}

// ConsumerHeartbeatResult is the answer to a heartbeat. Assignment is
// nil when unchanged (the response's null).
type ConsumerHeartbeatResult struct {
	Err               error
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	Assignment        []ConsumerTopic
}

// memberState is a member's reconciliation state, named as Kafka names it.
type memberState int8

const (
	stateStable memberState = iota
	stateUnrevoked
	stateUnreleased
)

func (s memberState) String() string {
	return [...]string{"STABLE", "UNREVOKED_PARTITIONS", "UNRELEASED_PARTITIONS"}[s]
}

type tpSet map[model.TopicPartition]struct{}

func (s tpSet) sorted() []model.TopicPartition {
	out := make([]model.TopicPartition, 0, len(s))
	for tp := range s {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

func (s tpSet) equal(o tpSet) bool {
	if len(s) != len(o) {
		return false
	}
	for tp := range s {
		if _, ok := o[tp]; !ok {
			return false
		}
	}
	return true
}

type cmember struct {
	id                   string
	instanceID, rackID   *string
	clientID, clientHost string
	epoch, prevEpoch     int32
	state                memberState
	rebalanceTimeout     time.Duration
	topics               []string // subscribed names, sorted
	regex                string
	re                   *regexp.Regexp
	assignor             string
	assigned, revoking   tpSet
	lastHeartbeat        time.Time
	revokeDeadline       time.Time // set while revoking
	// classic is set for a member that uses the classic protocol
	// (convert.go); rejoinDeadline is when it must have rejoined after
	// being told to (zero: not told).
	classic        *classicMeta
	rejoinDeadline time.Time
	// allowed filters the topics a regex resolves to (the principal's
	// DESCRIBE ACLs, from its last heartbeat; nil: all, also after a
	// reload until the member's next heartbeat); resolved is what the
	// regex last resolved to, so an ACL change is seen on a heartbeat.
	allowed  func(topic string) bool
	resolved string
	// syncDeadline is when a classic member must have sent SyncGroup
	// after its JoinGroup (zero: synced).
	syncDeadline time.Time
}

// cgroup is the KIP-848 part of a group (group.cg); committed offsets
// stay in the group.
type cgroup struct {
	epoch, assignmentEpoch int32
	members                map[string]*cmember
	statics                map[string]string // instance id -> member id
	target                 map[string]tpSet
	// metaKey is the subscribed topics' metadata the group epoch was
	// last computed for (names and partition counts).
	metaKey string
	// persisted is what the log holds for the group: key -> value of the
	// records last written (consumerrecords.go); nil: nothing known.
	persisted map[string][]byte
	// tickTopics is the topic map Tick last evaluated subscriptions on.
	tickTopics unsafe.Pointer
}

func newCGroup() *cgroup {
	return &cgroup{members: map[string]*cmember{}, statics: map[string]string{}, target: map[string]tpSet{}}
}

// stateName is the group's state as Kafka names it.
func (cg *cgroup) stateName() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch && m.epoch != epochStaticLeft {
			return "Reconciling"
		}
		if m.state != stateStable {
			return "Reconciling"
		}
	}
	if cg.assignmentEpoch < cg.epoch {
		return "Assigning"
	}
	return "Stable"
}

// subscribed is the topics m subscribes to that exist.
func (m *cmember) subscribed(topics map[string]TopicMeta) []string {
	var out []string
	for _, t := range m.topics {
		if _, ok := topics[t]; ok {
			out = append(out, t)
		}
	}
	if m.re != nil {
		for t := range topics {
			if !strings.HasPrefix(t, "__") && m.re.MatchString(t) && !slices.Contains(m.topics, t) && (m.allowed == nil || m.allowed(t)) {
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out
}

// metaKeyLocked is the key of the group's subscribed topics' metadata.
func (cg *cgroup) metaKey0(topics map[string]TopicMeta) string {
	seen := map[string]bool{}
	for _, m := range cg.members {
		for _, t := range m.subscribed(topics) {
			seen[t] = true
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

func (c *Coordinator) topics() map[string]TopicMeta {
	if c.cfg.Topics == nil {
		return map[string]TopicMeta{}
	}
	return c.cfg.Topics()
}

// validateHeartbeat is Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid.
func validateHeartbeat(req *ConsumerHeartbeat) error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(f, a...)) }
	if req.Group == "" {
		return fmt.Errorf("%w: GroupId can't be empty", ErrInvalidGroupID)
	}
	if req.Version >= 1 || req.MemberEpoch != epochJoin {
		if req.MemberID == "" {
			return bad("MemberId can't be empty")
		}
	}
	if req.InstanceID != nil && *req.InstanceID == "" {
		return bad("InstanceId can't be empty")
	}
	if req.RackID != nil && *req.RackID == "" {
		return bad("RackId can't be empty")
	}
	switch {
	case req.MemberEpoch == epochJoin:
		if req.RebalanceTimeoutMs == -1 {
			return bad("RebalanceTimeoutMs must be provided in first request")
		}
		if len(req.Owned) > 0 {
			return bad("TopicPartitions must be empty when (re-)joining")
		}
		if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
			return bad("SubscribedTopicNames or SubscribedTopicRegex must be set in first request")
		}
	case req.MemberEpoch == epochStaticLeft:
		if req.InstanceID == nil {
			return bad("InstanceId can't be null when MemberEpoch is -2")
		}
	case req.MemberEpoch < epochStaticLeft:
		return bad("MemberEpoch %d is invalid", req.MemberEpoch)
	}
	if req.SubscribedTopicRegex != nil {
		if len(*req.SubscribedTopicRegex) > maxRegexBytes {
			return fmt.Errorf("%w: the regex is over %d bytes", ErrInvalidRegularExpression, maxRegexBytes)
		}
		if _, err := regexp.Compile(*req.SubscribedTopicRegex); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidRegularExpression, err)
		}
	}
	return nil
}

// ConsumerGroupHeartbeat handles a ConsumerGroupHeartbeat. done gets the
// answer once what the heartbeat changed is durable in __consumer_offsets
// (at once when it changed nothing, or failed); it runs once, maybe
// inside the call, and must not call back into the Coordinator. A failed
// write answers storeError's error; memory keeps the change (the member
// retries, and is fenced if its epoch moved), and the group's records
// are all written again on its next change.
func (c *Coordinator) ConsumerGroupHeartbeat(now time.Time, req ConsumerHeartbeat, done func(ConsumerHeartbeatResult)) {
	fail := func(err error) {
		done(ConsumerHeartbeatResult{Err: err, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch})
	}
	if err := validateHeartbeat(&req); err != nil {
		fail(err)
		return
	}
	if req.ServerAssignor != nil && !slices.Contains(c.cfg.ConsumerAssignors, *req.ServerAssignor) {
		fail(fmt.Errorf("%w: %q; this broker has %s", ErrUnsupportedAssignor, *req.ServerAssignor, strings.Join(c.cfg.ConsumerAssignors, ", ")))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var epochs [3]int
	if g := c.mu.groups[req.Group]; g != nil && g.cg != nil {
		epochs = [3]int{int(g.cg.epoch), int(g.cg.assignmentEpoch), len(g.cg.members)}
	}
	res, g, err := c.consumerHeartbeatLocked(now, req)
	if err != nil {
		fail(err)
		return
	}
	var only []string
	if g.cg != nil && epochs == [3]int{int(g.cg.epoch), int(g.cg.assignmentEpoch), len(g.cg.members)} && req.MemberEpoch > 0 {
		only = []string{res.MemberID} // nothing group-wide moved
	}
	c.persistConsumerLocked(g, now, c.topics(), func(err error) {
		if err != nil {
			fail(err)
			return
		}
		done(res)
	}, only...)
}

func (c *Coordinator) consumerHeartbeatLocked(now time.Time, req ConsumerHeartbeat) (ConsumerHeartbeatResult, *group, error) {
	if _, err := c.checkLocked(req.Group, false); err != nil {
		return ConsumerHeartbeatResult{}, nil, err
	}
	g := c.mu.groups[req.Group]
	if g != nil && g.sg != nil {
		return ConsumerHeartbeatResult{}, nil, fmt.Errorf("%w: group %s is a share group", ErrGroupIDNotFound, req.Group)
	}
	if req.MemberEpoch < 0 {
		res, err := c.consumerLeaveLocked(g, now, &req)
		return res, g, err
	}
	switch {
	case g == nil:
		if req.MemberEpoch != epochJoin {
			return ConsumerHeartbeatResult{}, nil, fmt.Errorf("%w: group %s has no member %s", ErrUnknownMemberID, req.Group, req.MemberID)
		}
		g = newGroup(req.Group, now)
		c.mu.groups[req.Group] = g
		defer c.dropIfUnusedLocked(g)
	case g.deleting:
		return ConsumerHeartbeatResult{}, nil, fmt.Errorf("%w: the group is being deleted", ErrCoordinatorNotAvailable)
	}
	topics := c.topics()
	if g.cg == nil {
		// A classic group becomes a consumer group on a join, keeping
		// its offsets (and, online, its members: convert.go).
		if req.MemberEpoch != epochJoin {
			return ConsumerHeartbeatResult{}, nil, fmt.Errorf("%w: group %s is not a consumer group", ErrGroupIDNotFound, g.id)
		}
		if err := c.toConsumerLocked(g, now, topics); err != nil {
			return ConsumerHeartbeatResult{}, nil, err
		}
	}
	cg := g.cg
	n := len(cg.members)
	m, err := c.consumerMemberLocked(g, now, &req)
	if err != nil {
		return ConsumerHeartbeatResult{}, nil, err
	}
	m.lastHeartbeat = now
	if req.ClientID != "" {
		m.clientID, m.clientHost = req.ClientID, req.ClientHost
	}
	changed := len(cg.members) > n // a new member
	if req.RackID != nil && (m.rackID == nil || *m.rackID != *req.RackID) {
		m.rackID, changed = req.RackID, true
	}
	if req.RebalanceTimeoutMs > 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMs) * time.Millisecond
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		sort.Strings(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topics) {
			m.topics, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, m.re, changed = *req.SubscribedTopicRegex, nil, true
		if m.regex != "" {
			m.re = regexp.MustCompile("^(?:" + m.regex + ")$") // validated above
		}
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	m.allowed = req.TopicAllowed
	recheck := false
	if m.re != nil {
		// What the regex resolves to may change with the ACLs too.
		if r := strings.Join(m.subscribed(topics), ","); r != m.resolved {
			m.resolved, recheck = r, true
		}
	}
	// The subscribed topics' metadata is compared when a subscription or
	// the topic list changed (metaKey0 is members x topics for regexes).
	if p := reflect.ValueOf(topics).UnsafePointer(); changed || recheck || p != cg.tickTopics {
		cg.tickTopics = p
		if key := cg.metaKey0(topics); key != cg.metaKey {
			cg.metaKey, changed = key, true
		}
	}
	if changed {
		cg.epoch++
	}
	if cg.assignmentEpoch < cg.epoch {
		c.computeTargetLocked(cg, topics)
	}
	before := m.assigned
	prevEpoch := m.epoch
	var owned tpSet
	if req.Owned != nil {
		owned = ownedSet(req.Owned, topics)
	}
	c.reconcileLocked(cg, m, owned, now)
	if g.state != Stable {
		g.setState(Stable, now)
	}
	_, interval := c.ConsumerTimeouts(g.id)
	res := ConsumerHeartbeatResult{MemberID: m.id, MemberEpoch: m.epoch, HeartbeatInterval: interval}
	if req.MemberEpoch == epochJoin || req.Owned != nil || prevEpoch != m.epoch || !before.equal(m.assigned) {
		res.Assignment = toConsumerTopics(m.assigned, topics)
	}
	return res, g, nil
}

// consumerMemberLocked finds (or, for a join, adds) the heartbeat's member
// and checks its epoch.
func (c *Coordinator) consumerMemberLocked(g *group, now time.Time, req *ConsumerHeartbeat) (*cmember, error) {
	cg := g.cg
	if req.MemberEpoch == epochJoin {
		if req.MemberID == "" {
			req.MemberID = c.cfg.NewMemberID(req.ClientID)
		}
		if m := cg.members[req.MemberID]; m != nil {
			// A rejoin of a known member: it starts over from its
			// assignment (Kafka keeps the member and resets its epoch).
			if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
				return nil, ErrFencedInstanceID
			}
			m.epoch, m.prevEpoch = 0, 0
			c.releaseLocked(cg, m)
			return m, nil
		}
		if req.InstanceID != nil {
			if old := cg.members[cg.statics[*req.InstanceID]]; old != nil {
				if old.epoch != epochStaticLeft {
					return nil, fmt.Errorf("%w: instance %s is still in use by member %s", ErrUnreleasedInstanceID, *req.InstanceID, old.id)
				}
				// A static member back: the new id takes over the old
				// member's assignment and epoch.
				m := *old
				m.id = req.MemberID
				m.epoch, m.prevEpoch = old.prevEpoch, old.prevEpoch
				delete(cg.members, old.id)
				if t, ok := cg.target[old.id]; ok {
					cg.target[m.id] = t
					delete(cg.target, old.id)
				}
				cg.members[m.id] = &m
				cg.statics[*req.InstanceID] = m.id
				return &m, nil
			}
		}
		if len(cg.members) >= c.cfg.ConsumerMaxSize {
			return nil, fmt.Errorf("%w: the group has %d members (group.consumer.max.size)", ErrGroupMaxSizeReached, len(cg.members))
		}
		m := &cmember{id: req.MemberID, instanceID: req.InstanceID, assignor: "", assigned: tpSet{}, revoking: tpSet{},
			rebalanceTimeout: time.Duration(req.RebalanceTimeoutMs) * time.Millisecond, lastHeartbeat: now}
		cg.members[m.id] = m
		if m.instanceID != nil {
			cg.statics[*m.instanceID] = m.id
		}
		c.log.Info("consumer group member joined", "group", g.id, "member_id", m.id)
		return m, nil
	}
	m := cg.members[req.MemberID]
	if m == nil {
		return nil, fmt.Errorf("%w: group %s has no member %s", ErrUnknownMemberID, g.id, req.MemberID)
	}
	if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
		return nil, ErrFencedInstanceID
	}
	if req.MemberEpoch != m.epoch {
		// Kafka accepts the previous epoch when the member only owns
		// partitions it still has (its answer to the last epoch bump was
		// lost).
		if req.MemberEpoch == m.prevEpoch && req.Owned != nil && ownedSet(req.Owned, c.topics()).subsetOf(m.assigned) {
			return m, nil
		}
		return nil, fmt.Errorf("%w: member %s sent epoch %d; its epoch is %d", ErrFencedMemberEpoch, m.id, req.MemberEpoch, m.epoch)
	}
	return m, nil
}

func (s tpSet) subsetOf(o tpSet) bool {
	for tp := range s {
		if _, ok := o[tp]; !ok {
			return false
		}
	}
	return true
}

// consumerLeaveLocked handles epoch -1 (leave) and -2 (static member
// leaving for now, keeping its assignment until its session expires).
func (c *Coordinator) consumerLeaveLocked(g *group, now time.Time, req *ConsumerHeartbeat) (ConsumerHeartbeatResult, error) {
	if g == nil || g.cg == nil {
		return ConsumerHeartbeatResult{}, fmt.Errorf("%w: no member %s", ErrUnknownMemberID, req.MemberID)
	}
	cg := g.cg
	id := req.MemberID
	if req.InstanceID != nil {
		sid := cg.statics[*req.InstanceID]
		switch {
		case sid == "":
			return ConsumerHeartbeatResult{}, fmt.Errorf("%w: no member with instance id %s", ErrUnknownMemberID, *req.InstanceID)
		case sid != id:
			return ConsumerHeartbeatResult{}, fmt.Errorf("%w: instance %s is member %s", ErrFencedInstanceID, *req.InstanceID, sid)
		}
	}
	m := cg.members[id]
	if m == nil {
		return ConsumerHeartbeatResult{}, fmt.Errorf("%w: group %s has no member %s", ErrUnknownMemberID, g.id, id)
	}
	if req.MemberEpoch == epochStaticLeft {
		m.prevEpoch, m.epoch = m.epoch, epochStaticLeft
		m.lastHeartbeat = now
		c.log.Info("static consumer group member left temporarily", "group", g.id, "member_id", id)
		return ConsumerHeartbeatResult{MemberID: id, MemberEpoch: epochStaticLeft}, nil
	}
	c.removeConsumerMemberLocked(g, now, id, "member left the group")
	return ConsumerHeartbeatResult{MemberID: id, MemberEpoch: epochLeave}, nil
}

// removeConsumerMemberLocked takes a member out: its partitions are free
// and the group epoch grows so that the others get them.
func (c *Coordinator) removeConsumerMemberLocked(g *group, now time.Time, id, reason string) {
	cg := g.cg
	m := cg.members[id]
	if m == nil {
		return
	}
	if c.downgradeOnLeaveLocked(g, id) {
		c.log.Info("consumer group member removed", "group", g.id, "member_id", id, "reason", reason)
		c.toClassicLocked(g, now, id)
		return
	}
	delete(cg.members, id)
	delete(cg.target, id)
	if m.instanceID != nil && cg.statics[*m.instanceID] == id {
		delete(cg.statics, *m.instanceID)
	}
	cg.epoch++
	c.log.Info("consumer group member removed", "group", g.id, "member_id", id, "reason", reason)
	if len(cg.members) == 0 {
		g.setState(Empty, now) // offsets expire from here (offsets.retention.minutes)
	}
}

// releaseLocked forgets what m holds (a rejoin starts from nothing).
func (c *Coordinator) releaseLocked(cg *cgroup, m *cmember) {
	m.assigned, m.revoking, m.state = tpSet{}, tpSet{}, stateStable
}

// reconcileLocked moves m towards its target (Kafka's
// CurrentAssignmentBuilder). owned is what the member reported (nil:
// unchanged).
func (c *Coordinator) reconcileLocked(cg *cgroup, m *cmember, owned tpSet, now time.Time) {
	if m.state == stateUnrevoked {
		if owned == nil {
			return
		}
		for tp := range m.revoking {
			if _, still := owned[tp]; still {
				return // not yet revoked
			}
		}
		m.revoking = tpSet{}
		m.state = stateStable
	}
	if m.epoch == cg.assignmentEpoch && m.state == stateStable {
		return
	}
	target := cg.target[m.id]
	revoke := tpSet{}
	keep := tpSet{}
	for tp := range m.assigned {
		if _, ok := target[tp]; ok {
			keep[tp] = struct{}{}
		} else {
			revoke[tp] = struct{}{}
		}
	}
	if len(revoke) > 0 {
		m.assigned, m.revoking, m.state = keep, revoke, stateUnrevoked
		m.revokeDeadline = now.Add(m.rebalanceTimeout)
		return
	}
	held := tpSet{}
	for id, o := range cg.members {
		if id == m.id {
			continue
		}
		for tp := range o.assigned {
			held[tp] = struct{}{}
		}
		for tp := range o.revoking {
			held[tp] = struct{}{}
		}
	}
	next := tpSet{}
	for tp := range target {
		if _, ok := held[tp]; !ok {
			next[tp] = struct{}{}
		}
	}
	m.assigned = next
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = stateStable
	if len(next) != len(target) {
		m.state = stateUnreleased
	}
}

// tickConsumerLocked fences members whose session expired or that did
// not revoke in time, and re-evaluates subscriptions against the topics.
func (c *Coordinator) tickConsumerLocked(g *group, now time.Time, topics map[string]TopicMeta) {
	cg := g.cg
	epoch := cg.epoch
	defer func() {
		if cg.epoch != epoch && g.cg == cg {
			c.persistConsumerLocked(g, now, topics, nil)
		}
	}()
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	groupSession, _ := c.ConsumerTimeouts(g.id)
	for _, id := range ids {
		if g.cg != cg {
			return // downgraded to a classic group (convert.go)
		}
		m := cg.members[id]
		session := groupSession
		if m.classic != nil {
			session = m.classic.sessionTimeout
		}
		switch {
		case !now.Before(m.lastHeartbeat.Add(session)):
			c.removeConsumerMemberLocked(g, now, id, fmt.Sprintf("session timeout (%v) expired", session))
		case m.classic == nil && m.state == stateUnrevoked && m.rebalanceTimeout > 0 && !now.Before(m.revokeDeadline):
			c.removeConsumerMemberLocked(g, now, id, fmt.Sprintf("did not revoke its partitions within the rebalance timeout (%v)", m.rebalanceTimeout))
		case m.classic != nil && !m.rejoinDeadline.IsZero() && !now.Before(m.rejoinDeadline):
			c.removeConsumerMemberLocked(g, now, id, fmt.Sprintf("did not rejoin within the rebalance timeout (%v)", m.rebalanceTimeout))
		case m.classic != nil && !m.syncDeadline.IsZero() && !now.Before(m.syncDeadline):
			c.removeConsumerMemberLocked(g, now, id, fmt.Sprintf("did not sync within the rebalance timeout (%v)", m.rebalanceTimeout))
		}
	}
	if g.cg != cg {
		return
	}
	// Subscriptions are re-evaluated when the topic list is a new one
	// (Config.Topics hands out a new map when the metadata changes).
	if p := reflect.ValueOf(topics).UnsafePointer(); p != cg.tickTopics {
		cg.tickTopics = p
		if key := cg.metaKey0(topics); key != cg.metaKey {
			cg.metaKey = key
			cg.epoch++
		}
	}
}

func ownedSet(ts []ConsumerTopic, topics map[string]TopicMeta) tpSet {
	byID := make(map[[16]byte]string, len(topics))
	for name, t := range topics {
		byID[t.ID] = name
	}
	out := tpSet{}
	for _, t := range ts {
		name, ok := byID[t.ID]
		if !ok {
			continue
		}
		for _, p := range t.Partitions {
			out[model.TopicPartition{Topic: name, Partition: p}] = struct{}{}
		}
	}
	return out
}

func toConsumerTopics(s tpSet, topics map[string]TopicMeta) []ConsumerTopic {
	out := []ConsumerTopic{}
	for _, tp := range s.sorted() {
		t, ok := topics[tp.Topic]
		if !ok {
			continue
		}
		if n := len(out); n > 0 && out[n-1].ID == t.ID {
			out[n-1].Partitions = append(out[n-1].Partitions, tp.Partition)
			continue
		}
		out = append(out, ConsumerTopic{ID: t.ID, Partitions: []int32{tp.Partition}})
	}
	return out
}

// validateConsumerCommit checks an OffsetCommit (v9+) to a consumer group:
// the member must exist and send its epoch; an older epoch is accepted
// when every partition committed is still the member's (held or being
// revoked), so a commit racing an epoch bump is kept; otherwise
// STALE_MEMBER_EPOCH. A newer epoch is FENCED_MEMBER_EPOCH. Epoch -1
// with no member (admin tools) commits only to an empty group.
func (cg *cgroup) validateCommit(memberID string, epoch int32, tps []model.TopicPartition) error {
	if epoch < 0 && memberID == "" && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[memberID]
	if m == nil {
		return fmt.Errorf("%w: no member %q", ErrUnknownMemberID, memberID)
	}
	if m.classic != nil {
		return m.checkGeneration(epoch) // Kafka: classic members commit at their epoch only
	}
	switch {
	case epoch > m.epoch:
		return fmt.Errorf("%w: epoch %d; the member is at %d", ErrFencedMemberEpoch, epoch, m.epoch)
	case epoch < m.epoch:
		for _, tp := range tps {
			_, a := m.assigned[tp]
			_, r := m.revoking[tp]
			if !a && !r {
				return fmt.Errorf("%w: epoch %d; the member is at %d", ErrStaleMemberEpoch, epoch, m.epoch)
			}
		}
	}
	return nil
}

// validateFetch checks an OffsetFetch (v9+) that names a member.
func (cg *cgroup) validateFetch(memberID string, epoch int32) error {
	m := cg.members[memberID]
	if m == nil {
		return fmt.Errorf("%w: no member %q", ErrUnknownMemberID, memberID)
	}
	if m.classic != nil {
		return m.checkGeneration(epoch)
	}
	if epoch != m.epoch {
		return fmt.Errorf("%w: epoch %d; the member is at %d", ErrStaleMemberEpoch, epoch, m.epoch)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
