package group

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// CommitOffset is one partition of an OffsetCommit.
type CommitOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
}

// CommitRequest is one OffsetCommit.
type CommitRequest struct {
	Group, MemberID string
	InstanceID      *string
	Generation      int32 // -1: a simple commit (no group management)
	RetentionMs     int64 // v2-v4 retention_time; -1: the broker's
	Offsets         []CommitOffset
}

// CommitOffsets handles an OffsetCommit. done gets a request-level error
// (for every partition) or one error per offset, once durable. The
// offsets reach memory (FetchOffsets) only then, as Kafka applies a commit
// to its cache in the append's callback; a failed append leaves the
// previous offsets and answers storeError's error. Appends apply in log
// order, so of two commits of a partition in flight the later wins.
func (c *Coordinator) CommitOffsets(now time.Time, req CommitRequest, done func(top error, errs []error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(req.Group, true); err != nil {
		done(err, nil)
		return
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			done(fmt.Errorf("%w: the group has no generation %d", ErrIllegalGeneration, req.Generation), nil)
			return
		}
		g = newGroup(req.Group, now)
		c.mu.groups[req.Group] = g
		defer c.dropIfUnusedLocked(g)
	}
	switch {
	case g.deleting:
		done(fmt.Errorf("%w: the group is being deleted", ErrCoordinatorNotAvailable), nil)
		return
	case g.sg != nil:
		done(fmt.Errorf("%w: group %s is a share group", ErrGroupIDNotFound, g.id), nil) // as Kafka (KAFKA-17425)
		return
	case g.cg != nil:
		tps := make([]model.TopicPartition, len(req.Offsets))
		for i, o := range req.Offsets {
			tps[i] = model.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		}
		if err := g.cg.validateCommit(req.MemberID, req.Generation, tps); err != nil {
			done(err, nil)
			return
		}
		if m := g.cg.members[req.MemberID]; m != nil {
			m.lastHeartbeat = now
		}
	case g.fenced(req.MemberID, req.InstanceID):
		done(ErrFencedInstanceID, nil)
		return
	case req.Generation < 0 && g.state == Empty:
		// a simple commit: the group is not managed by this coordinator
	case g.state == CompletingRebalance:
		done(ErrRebalanceInProgress, nil)
		return
	case g.members[req.MemberID] == nil:
		done(ErrUnknownMemberID, nil)
		return
	case req.Generation != g.generation:
		done(fmt.Errorf("%w: generation %d; the group is at %d", ErrIllegalGeneration, req.Generation, g.generation), nil)
		return
	default:
		g.members[req.MemberID].lastHeartbeat = now
	}
	expireMs := int64(-1)
	if req.RetentionMs > 0 {
		expireMs = now.UnixMilli() + req.RetentionMs
	}
	errs, recs, tps, cms := c.offsetRecords(g.id, req.Offsets, now, expireMs)
	if len(recs) == 0 {
		done(nil, errs)
		return
	}
	for _, tp := range tps {
		g.pendingOffsets[tp]++
	}
	c.appendSeqLocked(g.id, recs, noProducer, now, func(err error, owned bool, w *write) {
		for _, tp := range tps {
			if g.pendingOffsets[tp]--; g.pendingOffsets[tp] <= 0 {
				delete(g.pendingOffsets, tp)
			}
		}
		if err != nil {
			c.dropIfUnusedLocked(g)
			done(err, nil)
			return
		}
		if owned {
			// g may have been forgotten (a simple commit's group is
			// dropped until it has an offset) or expired meanwhile; the
			// log now holds the offsets, so memory holds them too.
			cur := c.mu.groups[req.Group]
			if cur == nil {
				cur = newGroup(req.Group, now)
				c.mu.groups[req.Group] = cur
			}
			for i, tp := range tps {
				cm := cms[i]
				cm.seq = w.seq
				cur.offsets[tp] = cm
			}
		}
		done(nil, errs)
	})
}

// Offset is a committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// FetchOffsets returns the committed offsets of a group (none for an
// unknown group); the pending offsets of open transactions are not among
// them (FetchOffsetsStable tells which partitions have some).
func (c *Coordinator) FetchOffsets(groupID string) (map[model.TopicPartition]Offset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, true); err != nil {
		return nil, err
	}
	out := map[model.TopicPartition]Offset{}
	if g := c.mu.groups[groupID]; g != nil {
		for tp, o := range g.offsets {
			out[tp] = Offset{Offset: o.offset, LeaderEpoch: o.leaderEpoch, Metadata: o.metadata}
		}
	}
	return out, nil
}

// subscribedTopics is the union of the topics the members of a consumer
// group subscribe to; ok is false when they cannot be told (not a
// consumer group, or metadata that does not parse).
func (g *group) subscribedTopics() (map[string]bool, bool) {
	if g.protocolType != "consumer" {
		return nil, false
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// DeleteOffsets handles an OffsetDelete: done gets a group-level error or
// one error per partition.
func (c *Coordinator) DeleteOffsets(now time.Time, groupID string, tps []model.TopicPartition, done func(top error, errs []error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, false); err != nil {
		done(err, nil)
		return
	}
	g := c.mu.groups[groupID]
	if g == nil || g.sg != nil { // a share group has no offsets here (Kafka's ShareGroup.validateOffsetDelete)
		done(ErrGroupIDNotFound, nil)
		return
	}
	if g.deleting {
		done(fmt.Errorf("%w: the group is being deleted", ErrCoordinatorNotAvailable), nil)
		return
	}
	var subscribed map[string]bool
	if len(g.members) > 0 {
		var ok bool
		if subscribed, ok = g.subscribedTopics(); !ok {
			done(ErrNonEmptyGroup, nil)
			return
		}
	}
	errs := make([]error, len(tps))
	var recs []kv
	var deleted []model.TopicPartition
	for i, tp := range tps {
		if subscribed[tp.Topic] {
			errs[i] = ErrGroupSubscribedToTopic
			continue
		}
		_, ok := g.offsets[tp]
		if ok || g.pendingOffsets[tp] > 0 {
			deleted = append(deleted, tp)
			recs = append(recs, kv{offsetKey(g.id, tp), nil})
		}
	}
	if len(recs) == 0 {
		done(nil, errs)
		return
	}
	// The offsets leave memory once the tombstones are durable (Kafka
	// drops them first and writes the tombstones without waiting).
	c.appendLocked(g.id, recs, now, func(err error, owned bool) {
		if err != nil {
			done(err, nil)
			return
		}
		if cur := c.mu.groups[groupID]; owned && cur != nil {
			for _, tp := range deleted {
				cur.dropOffset(tp)
			}
		}
		done(nil, errs)
	})
}

// DeleteGroups handles a DeleteGroups: done gets one error per group once
// the tombstones are durable.
func (c *Coordinator) DeleteGroups(now time.Time, ids []string, done func(errs []error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := make([]error, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, id := range ids {
		if _, err := c.checkLocked(id, true); err != nil {
			errs[i] = err
			continue
		}
		g := c.mu.groups[id]
		switch {
		case g == nil:
			errs[i] = ErrGroupIDNotFound
			continue
		case g.deleting:
			errs[i] = fmt.Errorf("%w: the group is being deleted", ErrCoordinatorNotAvailable)
			continue
		case g.state != Empty || len(g.members) > 0:
			errs[i] = fmt.Errorf("%w: %d members in state %s", ErrNonEmptyGroup, len(g.members), g.state)
			continue
		}
		wg.Add(1)
		c.deleteGroupLocked(g, now, func(err error) {
			mu.Lock()
			errs[i] = err
			mu.Unlock()
			wg.Done()
		})
	}
	go func() {
		wg.Wait()
		done(errs)
	}()
}

// deleteGroupLocked writes tombstones for g's offsets (those in flight
// and those open transactions hold too) and metadata, and forgets g once
// they are durable. Until then g
// is marked deleting; if the append fails, g stays as it was and done gets
// the error. (Kafka drops the group from memory first and writes the
// tombstones without waiting; here memory never runs ahead of the log.)
func (c *Coordinator) deleteGroupLocked(g *group, now time.Time, done func(error)) {
	recs := make([]kv, 0, len(g.offsets)+1)
	recs = append(recs, g.consumerTombstones()...)
	recs = append(recs, g.shareTombstones()...)
	tps := make([]model.TopicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	for tp := range g.pendingOffsets {
		if _, ok := g.offsets[tp]; !ok {
			tps = append(tps, tp)
		}
	}
	for _, pend := range g.txnOffsets {
		for tp := range pend {
			if _, ok := g.offsets[tp]; !ok && g.pendingOffsets[tp] == 0 && !slices.Contains(tps, tp) {
				tps = append(tps, tp)
			}
		}
	}
	sort.Slice(tps, func(i, j int) bool {
		return tps[i].Topic < tps[j].Topic || tps[i].Topic == tps[j].Topic && tps[i].Partition < tps[j].Partition
	})
	for _, tp := range tps {
		recs = append(recs, kv{offsetKey(g.id, tp), nil})
	}
	recs = append(recs, kv{groupKey(g.id), nil})
	g.deleting = true
	c.appendLocked(g.id, recs, now, func(err error, owned bool) {
		g.deleting = false
		if err != nil {
			c.log.Warn("deleting group failed; it is kept", "group", g.id, "err", err)
			done(err)
			return
		}
		if owned && c.mu.groups[g.id] == g {
			// Requests that would change g were refused meanwhile, so
			// g is still Empty with no members.
			delete(c.mu.groups, g.id)
		}
		c.log.Info("group deleted", "group", g.id, "offsets", len(tps))
		done(nil)
	})
}

// expireOffsetsLocked applies Kafka's expiry rule: the offsets of an Empty
// group expire offsets.retention after the group became empty (or after
// the commit, for groups never managed here); an explicit expire timestamp
// (OffsetCommit v2-v4) wins. An offset an open transaction is about to
// replace does not expire (as in Kafka's new coordinator). An Empty group
// left with no offsets is deleted.
func (c *Coordinator) expireOffsetsLocked(now time.Time) {
	nowMs := now.UnixMilli()
	retMs := c.cfg.OffsetsRetention.Milliseconds()
	ids := make([]string, 0, len(c.mu.groups))
	for id, g := range c.mu.groups {
		if p := c.mu.parts[PartitionFor(id, c.cfg.NumPartitions)]; p != nil && !p.loading && g.state == Empty && len(g.pending) == 0 && !g.deleting && g.sg == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := c.mu.groups[id]
		var recs []kv
		var expired []model.TopicPartition
		for tp, o := range g.offsets {
			if g.pendingOffsets[tp] > 0 || g.hasTxnOffset(tp) {
				continue // a newer commit is in flight or pending (Kafka skips pending offsets too)
			}
			base := o.commitMs
			if g.protocolType != "" {
				base = g.stateTime.UnixMilli()
			}
			if o.expireMs >= 0 && nowMs >= o.expireMs || o.expireMs < 0 && base+retMs <= nowMs {
				expired = append(expired, tp)
			}
		}
		slices.SortFunc(expired, func(a, b model.TopicPartition) int {
			if c := strings.Compare(a.Topic, b.Topic); c != 0 {
				return c
			}
			return int(a.Partition - b.Partition)
		})
		for _, tp := range expired {
			recs = append(recs, kv{offsetKey(id, tp), nil})
		}
		removeGroup := len(expired) == len(g.offsets) && len(g.pendingOffsets) == 0 && len(g.txnOffsets) == 0
		if removeGroup {
			recs = append(recs, kv{groupKey(id), nil})
			recs = append(recs, g.consumerTombstones()...)
		}
		if len(recs) == 0 {
			continue
		}
		// Memory follows once the tombstones are durable; if the append
		// fails, the offsets stay and the next check expires them again.
		c.appendLocked(id, recs, now, func(err error, owned bool) {
			if err != nil || !owned || c.mu.groups[id] != g {
				return
			}
			for _, tp := range expired {
				g.dropOffset(tp)
			}
			if len(expired) > 0 {
				c.log.Info("expired committed offsets", "group", id, "partitions", len(expired))
			}
			if removeGroup && g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && len(g.pendingOffsets) == 0 && len(g.txnOffsets) == 0 && !g.deleting {
				delete(c.mu.groups, id)
				c.log.Info("removed empty group with no offsets", "group", id)
			}
		})
	}
}

// Listing is one group in ListGroups.
type Listing struct {
	ID, ProtocolType string
	// StateName is the state as Kafka names it for the group's type
	// (consumer groups: Empty, Assigning, Reconciling, Stable); Type is
	// "classic" or "consumer".
	StateName, Type string
	State           State
}

// ListGroups lists the groups of every loaded partition, filtered by state
// names (Kafka's, case-insensitive) when states is not empty. It reports
// ErrLoadInProgress while any owned partition is loading, with the groups
// it has.
func (c *Coordinator) ListGroups(states []string) ([]Listing, error) {
	return c.ListGroupsOf(states, nil)
}

// ListGroupsOf is ListGroups with ListGroups v5's types filter too
// ("classic", "consumer"; case-insensitive; empty: all).
func (c *Coordinator) ListGroupsOf(states, types []string) ([]Listing, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for _, p := range c.mu.parts {
		if p.loading {
			err = ErrLoadInProgress
		}
	}
	var out []Listing
	for id, g := range c.mu.groups {
		l := Listing{ID: id, ProtocolType: g.protocolType, State: g.state, StateName: g.state.String(), Type: "classic"}
		if g.cg != nil {
			l.StateName, l.Type = g.cg.stateName(), "consumer"
		}
		g.shareListing(&l)
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, l.StateName) }) {
			continue
		}
		if len(types) > 0 && !slices.ContainsFunc(types, func(s string) bool { return strings.EqualFold(s, l.Type) }) {
			continue
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// MemberDescription is one member in DescribeGroups.
type MemberDescription struct {
	MemberID             string
	InstanceID           *string
	ClientID, ClientHost string
	Metadata, Assignment []byte
}

// Description is a group in DescribeGroups.
type Description struct {
	State State
	// StateName is set for a consumer group (its own state names).
	StateName              string
	ProtocolType, Protocol string
	Members                []MemberDescription
}

// DescribeGroup describes a group; an unknown group is Dead with no
// members (no error), as in Kafka. Metadata and assignments are given only
// while Stable, as in Kafka.
func (c *Coordinator) DescribeGroup(groupID string) (Description, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, true); err != nil {
		return Description{State: Dead}, err
	}
	g := c.mu.groups[groupID]
	if g == nil {
		return Description{State: Dead}, nil
	}
	if g.sg != nil {
		return Description{State: Dead}, nil // Kafka describes only classic groups here (v6+ would be GROUP_ID_NOT_FOUND)
	}
	d := Description{State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol}
	if g.cg != nil {
		return g.cg.describeClassic(d, c.topics(), c.cfg.ConsumerAssignors[0]), nil
	}
	if g.state != Stable {
		d.Protocol = ""
	}
	for _, id := range g.order {
		m := g.members[id]
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if g.state == Stable {
			md.Metadata, md.Assignment = m.metadataFor(g.protocol), m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// offsetRecords turns a commit's offsets into __consumer_offsets records
// (an offset whose metadata is over offset.metadata.max.bytes gets its
// error in errs and no record), with the partitions and values written.
func (c *Coordinator) offsetRecords(groupID string, offsets []CommitOffset, now time.Time, expireMs int64) (errs []error, recs []kv, tps []model.TopicPartition, cms []committed) {
	errs = make([]error, len(offsets))
	nowMs := now.UnixMilli()
	for i, o := range offsets {
		md := ""
		if o.Metadata != nil {
			md = *o.Metadata
		}
		if len(md) > c.cfg.MaxOffsetMetadataBytes {
			errs[i] = fmt.Errorf("%w: %d bytes; the limit is %d (offset.metadata.max.bytes)", ErrOffsetMetadataTooLarge, len(md), c.cfg.MaxOffsetMetadataBytes)
			continue
		}
		cm := committed{offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: md, commitMs: nowMs, expireMs: expireMs}
		tp := model.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		tps, cms = append(tps, tp), append(cms, cm)
		recs = append(recs, kv{offsetKey(groupID, tp), offsetValue(cm)})
	}
	return errs, recs, tps, cms
}
