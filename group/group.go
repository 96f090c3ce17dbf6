package group

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/ringtail/ringtail/model"
)

// State is a group's state, named as Kafka names it in DescribeGroups and
// ListGroups.
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	}
	return "Dead"
}

// Protocol is one protocol a member supports, with its opaque metadata
// (for consumers: the subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

type member struct {
	id                               string
	instanceID                       *string
	clientID, clientHost             string
	sessionTimeout, rebalanceTimeout time.Duration
	protocols                        []Protocol
	assignment                       []byte
	lastHeartbeat                    time.Time
	joinDone                         func(JoinResult) // awaiting the join response
	syncDone                         func(SyncResult) // awaiting the sync response
	synced                           bool             // sent SyncGroup in this generation
}

// fail answers a member's waiting requests with err.
func (m *member) fail(err error) {
	if m.joinDone != nil {
		m.joinDone(JoinResult{Err: err, MemberID: m.id, Generation: -1})
		m.joinDone = nil
	}
	if m.syncDone != nil {
		m.syncDone(SyncResult{Err: err})
		m.syncDone = nil
	}
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

type committed struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	expireMs    int64 // -1: none
	// seq orders the appends that wrote offsets in their partition's
	// log: the batch's base offset for a replayed record, the
	// partition's append counter (which starts at the log end after a
	// load) for one written here. A committed transaction's offset
	// replaces the current one only if it was appended later.
	seq int64
}

type group struct {
	id           string
	state        State
	stateTime    time.Time
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	order        []string             // member ids in join order (leader election, responses)
	pending      map[string]time.Time // MEMBER_ID_REQUIRED ids -> expiry
	statics      map[string]string    // group.instance.id -> member id

	joinDeadline          time.Time
	initialDelay          bool // the rebalance is Kafka's InitialDelayedJoin
	initialDelayRemaining time.Duration
	newMemberAdded        bool
	syncDeadline          time.Time

	// offsets are the durable committed offsets; pendingOffsets counts
	// the commits of each partition whose append is in flight.
	offsets        map[model.TopicPartition]committed
	pendingOffsets map[model.TopicPartition]int
	// txnOffsets are the durable offsets of open transactions, by
	// producer id: invisible to FetchOffsets until the producer's
	// commit marker (txnoffsets.go). Their appends in flight count in
	// pendingOffsets like any commit's.
	txnOffsets map[int64]map[model.TopicPartition]committed
	// deleting: a DeleteGroups wrote the group's tombstones and waits for
	// them to be durable; until then the group is shown as it was and
	// requests that would change it answer ErrCoordinatorNotAvailable
	// (Kafka's answer for a Dead group).
	deleting bool
	// cg is set for a KIP-848 consumer group (consumer.go); its members
	// are there, not in members.
	cg *cgroup
	// cgLoad holds the consumer-group records read by a replay until
	// Load builds cg from them.
	cgLoad *cgLoad
	// sg is set for a share group (share.go), sgLoad holds its records
	// during a replay (sharerecords.go).
	sg     *sgroup
	sgLoad *sgLoad
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id: id, state: Empty, stateTime: now,
		members: map[string]*member{}, pending: map[string]time.Time{}, statics: map[string]string{},
		offsets: map[model.TopicPartition]committed{}, pendingOffsets: map[model.TopicPartition]int{},
		txnOffsets: map[int64]map[model.TopicPartition]committed{},
	}
}

func (g *group) setState(s State, now time.Time) {
	g.state = s
	g.stateTime = now
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// supports is Kafka's supportsProtocols: an empty group takes any non-empty
// protocol type and protocol list; otherwise the type must match and one
// protocol must be supported by every member.
func (g *group) supports(protocolType string, protocols []Protocol) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supportedByAll(p.Name) {
			return true
		}
	}
	return false
}

func (g *group) supportedByAll(name string) bool {
	for _, m := range g.members {
		if !slices.ContainsFunc(m.protocols, func(p Protocol) bool { return p.Name == name }) {
			return false
		}
	}
	return true
}

// selectProtocol is Kafka's vote: the candidates are the protocols every
// member supports; each member votes for the first candidate in its own
// order; most votes wins, ties going to the leader's preference.
func (g *group) selectProtocol() string {
	lead := g.members[g.leader]
	if lead == nil {
		return ""
	}
	var candidates []string
	for _, p := range lead.protocols {
		if g.supportedByAll(p.Name) {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func sameProtocols(a, b []Protocol) bool {
	return slices.EqualFunc(a, b, func(x, y Protocol) bool { return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata) })
}

func (g *group) addMember(m *member) {
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.instanceID != nil {
		g.statics[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

func (g *group) removeMember(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	delete(g.members, id)
	g.order = slices.DeleteFunc(g.order, func(x string) bool { return x == id })
	if m.instanceID != nil && g.statics[*m.instanceID] == id {
		delete(g.statics, *m.instanceID)
	}
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// renameMember gives member m (a static one) the id newID in place of
// oldID, keeping its place in the join order and its leadership.
func (g *group) renameMember(m *member, oldID, newID string) {
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.order[slices.Index(g.order, oldID)] = newID
	g.statics[*m.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
}

// fenced is Kafka's isStaticMemberFenced: the instance id maps to another
// member id.
func (g *group) fenced(memberID string, instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	id, ok := g.statics[*instanceID]
	return ok && id != memberID
}

// JoinRequest is one JoinGroup.
type JoinRequest struct {
	Group, MemberID      string
	InstanceID           *string
	ClientID, ClientHost string
	SessionTimeout       time.Duration
	RebalanceTimeout     time.Duration
	ProtocolType         string
	Protocols            []Protocol
	// RequireKnownMemberID is JoinGroup v4+: a first join gets
	// ErrMemberIDRequired with its new member id.
	RequireKnownMemberID bool
}

// JoinMember is one member in the leader's JoinGroup response.
type JoinMember struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// JoinResult is a JoinGroup answer.
type JoinResult struct {
	Err          error
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	MemberID     string
	Members      []JoinMember // only for the leader
	// SkipAssignment marks a static leader that rejoined without a
	// rebalance: Members is filled but it must not assign (KIP-814; older
	// JoinGroup versions drop Members instead).
	SkipAssignment bool
}

// Join handles a JoinGroup. done runs when the rebalance completes (or at
// once for errors and for members that need no rebalance).
func (c *Coordinator) Join(now time.Time, req JoinRequest, done func(JoinResult)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fail := func(err error) { done(JoinResult{Err: err, MemberID: req.MemberID, Generation: -1}) }
	if _, err := c.checkLocked(req.Group, false); err != nil {
		fail(err)
		return
	}
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		fail(fmt.Errorf("%w: %v is outside [%v, %v] (group.min/max.session.timeout.ms)", ErrInvalidSessionTimeout, req.SessionTimeout, c.cfg.MinSessionTimeout, c.cfg.MaxSessionTimeout))
		return
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout // JoinGroup v0 has none
	}
	size := 0
	for _, p := range req.Protocols {
		size += len(p.Name) + len(p.Metadata)
	}
	if size > c.cfg.MaxMemberMetadataBytes {
		fail(fmt.Errorf("%w: %d bytes; the limit is %d", ErrMemberMetadataTooLarge, size, c.cfg.MaxMemberMetadataBytes))
		return
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			fail(ErrUnknownMemberID)
			return
		}
		g = newGroup(req.Group, now)
		c.mu.groups[req.Group] = g
		defer c.dropIfUnusedLocked(g)
	}
	if g.deleting {
		fail(fmt.Errorf("%w: the group is being deleted", ErrCoordinatorNotAvailable))
		return
	}
	if g.sg != nil {
		fail(fmt.Errorf("%w: group %s is a share group", ErrInconsistentGroupProtocol, g.id)) // as Kafka's classicGroupJoin
		return
	}
	if g.cg != nil {
		// A consumer (KIP-848) group: an empty one becomes classic
		// (keeping its offsets); one with members takes the joiner as a
		// classic member (convert.go).
		if len(g.cg.members) > 0 {
			c.classicJoinConsumerLocked(g, now, req, done)
			return
		}
		if recs := g.consumerTombstones(); len(recs) > 0 {
			c.appendLocked(g.id, recs, now, nil)
		}
		g.cg, g.protocolType = nil, ""
	}
	if !g.supports(req.ProtocolType, req.Protocols) {
		fail(fmt.Errorf("%w: protocol type %q with %d protocols does not fit the group (type %q)", ErrInconsistentGroupProtocol, req.ProtocolType, len(req.Protocols), g.protocolType))
		return
	}
	if req.MemberID == "" {
		isKnownStatic := req.InstanceID != nil && g.statics[*req.InstanceID] != ""
		if !isKnownStatic && len(g.members)+len(g.pending) >= c.cfg.MaxGroupSize {
			fail(fmt.Errorf("%w: %d members (group.max.size)", ErrGroupMaxSizeReached, c.cfg.MaxGroupSize))
			return
		}
		c.joinNewLocked(g, now, req, done)
		return
	}
	c.joinKnownLocked(g, now, req, done)
}

func (c *Coordinator) joinNewLocked(g *group, now time.Time, req JoinRequest, done func(JoinResult)) {
	id := c.cfg.NewMemberID(req.ClientID)
	if req.InstanceID != nil {
		if old := g.statics[*req.InstanceID]; old != "" {
			c.replaceStaticLocked(g, now, old, id, req, done)
			return
		}
		c.addMemberAndRebalanceLocked(g, now, id, req, done)
		return
	}
	if req.RequireKnownMemberID {
		g.pending[id] = now.Add(req.SessionTimeout)
		done(JoinResult{Err: ErrMemberIDRequired, MemberID: id, Generation: -1})
		return
	}
	c.addMemberAndRebalanceLocked(g, now, id, req, done)
}

func (c *Coordinator) joinKnownLocked(g *group, now time.Time, req JoinRequest, done func(JoinResult)) {
	if _, ok := g.pending[req.MemberID]; ok && req.InstanceID == nil {
		c.addMemberAndRebalanceLocked(g, now, req.MemberID, req, done)
		return
	}
	if g.fenced(req.MemberID, req.InstanceID) {
		done(JoinResult{Err: ErrFencedInstanceID, MemberID: req.MemberID, Generation: -1})
		return
	}
	m := g.members[req.MemberID]
	if m == nil {
		done(JoinResult{Err: ErrUnknownMemberID, MemberID: req.MemberID, Generation: -1})
		return
	}
	switch g.state {
	case PreparingRebalance:
		c.updateMemberAndRebalanceLocked(g, now, m, req, done)
	case CompletingRebalance:
		if sameProtocols(m.protocols, req.Protocols) {
			// A retry of a join that already completed: the same answer.
			done(g.joinResult(m.id))
			return
		}
		c.updateMemberAndRebalanceLocked(g, now, m, req, done)
	case Stable:
		if m.id == g.leader || !sameProtocols(m.protocols, req.Protocols) {
			c.updateMemberAndRebalanceLocked(g, now, m, req, done)
			return
		}
		m.lastHeartbeat = now
		done(g.joinResult(m.id))
	default:
		done(JoinResult{Err: ErrUnknownMemberID, MemberID: req.MemberID, Generation: -1})
	}
}

// joinResult is the answer for member id in the current generation; the
// leader gets every member's metadata for the chosen protocol.
func (g *group) joinResult(id string) JoinResult {
	r := JoinResult{Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, MemberID: id}
	if id == g.leader {
		for _, mid := range g.order {
			m := g.members[mid]
			r.Members = append(r.Members, JoinMember{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadataFor(g.protocol)})
		}
	}
	return r
}

func newMember(id string, now time.Time, req JoinRequest) *member {
	return &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		sessionTimeout: req.SessionTimeout, rebalanceTimeout: req.RebalanceTimeout,
		protocols: req.Protocols, lastHeartbeat: now,
	}
}

func (c *Coordinator) addMemberAndRebalanceLocked(g *group, now time.Time, id string, req JoinRequest, done func(JoinResult)) {
	m := newMember(id, now, req)
	m.joinDone = done
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	delete(g.pending, id)
	if g.state == PreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.addMember(m)
	c.maybePrepareRebalanceLocked(g, now, "member "+id+" joined")
}

func (c *Coordinator) updateMemberAndRebalanceLocked(g *group, now time.Time, m *member, req JoinRequest, done func(JoinResult)) {
	if m.joinDone != nil {
		// A second JoinGroup while the first waits: the first is answered
		// so that no request hangs; the client follows the newer one.
		m.joinDone(JoinResult{Err: ErrRebalanceInProgress, MemberID: m.id, Generation: -1})
	}
	m.protocols = req.Protocols
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.lastHeartbeat = now
	m.joinDone = done
	c.maybePrepareRebalanceLocked(g, now, "member "+m.id+" rejoined")
}

// replaceStaticLocked gives a known group.instance.id a new member id; the
// old id is fenced.
func (c *Coordinator) replaceStaticLocked(g *group, now time.Time, oldID, newID string, req JoinRequest, done func(JoinResult)) {
	m := g.members[oldID]
	m.fail(ErrFencedInstanceID)
	old := *m
	g.renameMember(m, oldID, newID)
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.lastHeartbeat = now
	c.log.Info("static member rejoined with a new member id", "group", g.id, "instance_id", *req.InstanceID, "old_member_id", oldID, "member_id", newID)
	if g.state == Stable && sameProtocols(m.protocols, req.Protocols) {
		// No rebalance: the member keeps its assignment under its new id.
		// The new id is in memory at once (it fences the old one), as in
		// Kafka; if the write fails, the old id comes back (Kafka's
		// revert) and the joiner gets the error.
		r := g.joinResult(newID)
		r.SkipAssignment = newID == g.leader
		m.synced = true
		gen := g.generation
		c.storeGroupLocked(g, nil, now, func(err error, _ bool) {
			if err == nil {
				done(r)
				return
			}
			if c.mu.groups[g.id] == g && g.members[newID] == m && g.generation == gen {
				g.renameMember(m, newID, oldID)
				m.clientID, m.clientHost = old.clientID, old.clientHost
				m.sessionTimeout, m.rebalanceTimeout = old.sessionTimeout, old.rebalanceTimeout
			}
			done(JoinResult{Err: err, MemberID: newID, Generation: -1})
		})
		return
	}
	c.updateMemberAndRebalanceLocked(g, now, m, req, done)
}

func (c *Coordinator) maybePrepareRebalanceLocked(g *group, now time.Time, reason string) {
	switch g.state {
	case Stable, CompletingRebalance, Empty:
		c.prepareRebalanceLocked(g, now, reason)
	case PreparingRebalance:
		c.maybeCompleteJoinLocked(g, now)
	}
}

func (c *Coordinator) prepareRebalanceLocked(g *group, now time.Time, reason string) {
	if g.state == CompletingRebalance {
		for _, id := range g.order {
			m := g.members[id]
			m.assignment = nil
			if m.syncDone != nil {
				m.syncDone(SyncResult{Err: ErrRebalanceInProgress})
				m.syncDone = nil
			}
		}
	}
	rt := g.maxRebalanceTimeout()
	if g.state == Empty && c.cfg.InitialRebalanceDelay > 0 {
		delay := min(c.cfg.InitialRebalanceDelay, rt)
		g.initialDelay = true
		g.initialDelayRemaining = max(rt-c.cfg.InitialRebalanceDelay, 0)
		g.joinDeadline = now.Add(delay)
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(rt)
	}
	c.log.Info("preparing to rebalance group", "group", g.id, "generation", g.generation, "reason", reason)
	g.setState(PreparingRebalance, now)
	c.maybeCompleteJoinLocked(g, now)
}

func (c *Coordinator) maybeCompleteJoinLocked(g *group, now time.Time) {
	if g.state != PreparingRebalance || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.joinDone == nil {
			return
		}
	}
	c.completeJoinLocked(g, now)
}

// completeJoinLocked ends PreparingRebalance: members that did not rejoin
// are removed, the generation advances and every joined member is answered.
func (c *Coordinator) completeJoinLocked(g *group, now time.Time) {
	for _, id := range slices.Clone(g.order) {
		if m := g.members[id]; m.joinDone == nil {
			c.log.Info("removing member that did not rejoin in time", "group", g.id, "member_id", id)
			g.removeMember(id)
		}
	}
	g.initialDelay = false
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(Empty, now)
		c.log.Info("group is empty", "group", g.id, "generation", g.generation)
		// As in Kafka, a failed write here is only logged: the new
		// generation stays in memory (it fences the old members either
		// way), and the next write of the group carries it.
		c.storeGroupLocked(g, nil, now, nil)
		return
	}
	g.protocol = g.selectProtocol()
	g.setState(CompletingRebalance, now)
	g.syncDeadline = now.Add(g.maxRebalanceTimeout())
	c.log.Info("rebalance: generation ready", "group", g.id, "generation", g.generation, "protocol", g.protocol, "members", len(g.members), "leader", g.leader)
	for _, id := range g.order {
		m := g.members[id]
		m.synced = false
		m.lastHeartbeat = now
		done := m.joinDone
		m.joinDone = nil
		done(g.joinResult(id))
	}
}

// SyncRequest is one SyncGroup.
type SyncRequest struct {
	Group, MemberID string
	InstanceID      *string
	Generation      int32
	ProtocolType    *string // v5+
	Protocol        *string // v5+
	Assignments     map[string][]byte
}

// SyncResult is a SyncGroup answer.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// Sync handles a SyncGroup: the leader's assignments are stored and handed
// to every member; others wait for the leader.
func (c *Coordinator) Sync(now time.Time, req SyncRequest, done func(SyncResult)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fail := func(err error) { done(SyncResult{Err: err}) }
	if _, err := c.checkLocked(req.Group, false); err != nil {
		fail(err)
		return
	}
	g := c.mu.groups[req.Group]
	switch {
	case g == nil:
		fail(ErrUnknownMemberID)
		return
	case g.cg != nil:
		c.classicSyncConsumerLocked(g, now, req, done)
		return
	case g.fenced(req.MemberID, req.InstanceID):
		fail(ErrFencedInstanceID)
		return
	case g.members[req.MemberID] == nil:
		fail(ErrUnknownMemberID)
		return
	case req.Generation != g.generation:
		fail(fmt.Errorf("%w: generation %d; the group is at %d", ErrIllegalGeneration, req.Generation, g.generation))
		return
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		fail(ErrInconsistentGroupProtocol)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case PreparingRebalance:
		fail(ErrRebalanceInProgress)
	case Stable:
		m.lastHeartbeat = now
		done(SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment})
	case CompletingRebalance:
		if m.syncDone != nil {
			m.syncDone(SyncResult{Err: ErrRebalanceInProgress})
		}
		m.syncDone = done
		m.synced = true
		m.lastHeartbeat = now
		if m.id != g.leader {
			return
		}
		// The leader's assignments reach memory, and the group becomes
		// Stable, only once they are durable; meanwhile the group stays
		// CompletingRebalance and members that sync wait. If the write
		// fails, Kafka's resetAndPropagateAssignmentError: every waiting
		// member gets the error and the group rebalances.
		assignments := make(map[string][]byte, len(g.members))
		for id := range g.members {
			a := req.Assignments[id]
			if a == nil {
				a = []byte{}
			}
			assignments[id] = a
		}
		gen := g.generation
		c.storeGroupLocked(g, assignments, now, func(err error, _ bool) {
			if c.mu.groups[g.id] != g || g.state != CompletingRebalance || g.generation != gen {
				// The rebalance moved on (or the group was unloaded)
				// while the write was in flight; that answered the
				// waiting members.
				return
			}
			if err != nil {
				c.log.Warn("storing the group assignment failed; rebalancing", "group", g.id, "generation", gen, "err", err)
				for _, id := range g.order {
					mm := g.members[id]
					mm.assignment = nil
					if mm.syncDone != nil {
						mm.syncDone(SyncResult{Err: err})
						mm.syncDone = nil
					}
				}
				c.prepareRebalanceLocked(g, now, "storing the group assignment failed")
				return
			}
			for id, mm := range g.members {
				mm.assignment = assignments[id]
				if mm.assignment == nil {
					mm.assignment = []byte{} // joined after the leader synced: cannot happen in CompletingRebalance
				}
			}
			g.setState(Stable, now)
			c.log.Info("group stable", "group", g.id, "generation", g.generation, "members", len(g.members))
			for _, id := range g.order {
				if mm := g.members[id]; mm.syncDone != nil {
					d := mm.syncDone
					mm.syncDone = nil
					d(SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: mm.assignment})
				}
			}
		})
	default:
		fail(ErrUnknownMemberID)
	}
}

// Heartbeat handles a Heartbeat.
func (c *Coordinator) Heartbeat(now time.Time, groupID, memberID string, instanceID *string, generation int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, false); err != nil {
		return err
	}
	g := c.mu.groups[groupID]
	switch {
	case g == nil:
		return ErrUnknownMemberID
	case g.cg != nil:
		return c.classicHeartbeatConsumerLocked(g, now, memberID, instanceID, generation)
	case g.fenced(memberID, instanceID):
		return ErrFencedInstanceID
	case g.members[memberID] == nil:
		return ErrUnknownMemberID
	case generation != g.generation:
		return fmt.Errorf("%w: generation %d; the group is at %d", ErrIllegalGeneration, generation, g.generation)
	}
	g.members[memberID].lastHeartbeat = now
	switch g.state {
	case PreparingRebalance:
		return ErrRebalanceInProgress
	case Stable, CompletingRebalance:
		return nil
	}
	return ErrUnknownMemberID
}

// LeaveMember is one member of a LeaveGroup.
type LeaveMember struct {
	MemberID   string
	InstanceID *string
}

// Leave handles a LeaveGroup: the error of each member, in order.
func (c *Coordinator) Leave(now time.Time, groupID string, members []LeaveMember) (top error, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, false); err != nil {
		return err, nil
	}
	g := c.mu.groups[groupID]
	if g != nil && g.cg != nil {
		return nil, c.classicLeaveConsumerLocked(g, now, members)
	}
	errs = make([]error, len(members))
	for i, lm := range members {
		if g == nil {
			errs[i] = ErrUnknownMemberID
			continue
		}
		id := lm.MemberID
		if lm.InstanceID != nil {
			sid := g.statics[*lm.InstanceID]
			switch {
			case sid == "":
				errs[i] = ErrUnknownMemberID
				continue
			case id != "" && id != sid:
				errs[i] = ErrFencedInstanceID
				continue
			}
			id = sid
		}
		if _, ok := g.pending[id]; ok {
			delete(g.pending, id)
			c.maybeCompleteJoinLocked(g, now)
			continue
		}
		if g.members[id] == nil {
			errs[i] = ErrUnknownMemberID
			continue
		}
		c.removeMemberLocked(g, now, id, "member left the group")
	}
	return nil, errs
}

// removeMemberLocked takes a member out (left, session expired) and moves
// the group on.
func (c *Coordinator) removeMemberLocked(g *group, now time.Time, id, reason string) {
	m := g.members[id]
	m.fail(ErrUnknownMemberID)
	g.removeMember(id)
	c.log.Info("member removed", "group", g.id, "member_id", id, "reason", reason)
	switch g.state {
	case Stable, CompletingRebalance:
		c.prepareRebalanceLocked(g, now, reason)
	case PreparingRebalance:
		c.maybeCompleteJoinLocked(g, now)
	}
}

func (c *Coordinator) tickGroupLocked(g *group, now time.Time) {
	for id, dl := range g.pending {
		if !now.Before(dl) {
			delete(g.pending, id)
		}
	}
	for _, id := range slices.Clone(g.order) {
		m := g.members[id]
		if m == nil || m.joinDone != nil || m.syncDone != nil {
			continue // a member waiting for an answer is alive
		}
		if !now.Before(m.lastHeartbeat.Add(m.sessionTimeout)) {
			c.removeMemberLocked(g, now, id, fmt.Sprintf("session timeout (%v) expired", m.sessionTimeout))
		}
	}
	switch g.state {
	case PreparingRebalance:
		if now.Before(g.joinDeadline) {
			c.maybeCompleteJoinLocked(g, now)
			return
		}
		if g.initialDelay && g.newMemberAdded && g.initialDelayRemaining > 0 {
			g.newMemberAdded = false
			d := min(c.cfg.InitialRebalanceDelay, g.initialDelayRemaining)
			g.initialDelayRemaining = max(g.initialDelayRemaining-c.cfg.InitialRebalanceDelay, 0)
			g.joinDeadline = now.Add(d)
			return
		}
		g.initialDelay = false
		g.pending = map[string]time.Time{}
		c.completeJoinLocked(g, now)
	case CompletingRebalance:
		if now.Before(g.syncDeadline) {
			return
		}
		for _, id := range slices.Clone(g.order) {
			if m := g.members[id]; !m.synced {
				c.log.Info("removing member that did not sync in time", "group", g.id, "member_id", id)
				m.fail(ErrUnknownMemberID)
				g.removeMember(id)
			}
		}
		c.prepareRebalanceLocked(g, now, "members did not send SyncGroup within the rebalance timeout")
	}
}

// dropIfUnusedLocked forgets a group that a failed request created (or
// whose only commit failed).
func (c *Coordinator) dropIfUnusedLocked(g *group) {
	if c.mu.groups[g.id] == g && g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && len(g.pendingOffsets) == 0 && len(g.txnOffsets) == 0 && g.generation == 0 && !g.deleting {
		delete(c.mu.groups, g.id)
	}
}
