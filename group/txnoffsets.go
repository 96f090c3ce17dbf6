package group

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ringtail/ringtail/model"
)

// Transactional offset commits (KIP-98, KIP-447).
//
// A TxnOffsetCommit writes its offsets as one transactional batch of the
// producer to the group's partition. Once that is durable the offsets
// are pending for (group, producer): FetchOffsets does not show them, and
// OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT for
// their partitions. The broker writes the transaction's marker to the
// partition and then calls CompleteTxn: a commit makes them the committed
// offsets, unless a partition's committed offset was appended later (an
// ordinary commit after the transactional one wins, as in the log); an
// abort drops them. Load does the same from the log, so memory and a
// replay agree:
//
//	log:    [txn batch P: t-0=5] [commit t-0=7] [COMMIT marker P]
//	memory: t-0 pending 5 (P) -> t-0=7 committed -> t-0 stays 7
//
// An offset tombstone (OffsetDelete, DeleteGroups, expiry) drops the
// partition's pending offsets of every producer too, as Kafka's new
// coordinator does when it replays one, so a group can be deleted while
// a transaction holds offsets for it (Kafka deletes an Empty group
// whatever transactions hold): its transactional offsets go with it, and
// the transaction's later commit changes nothing.

// TxnCommitRequest is one TxnOffsetCommit.
type TxnCommitRequest struct {
	Group           string
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	// MemberID, InstanceID and Generation are v3's (KIP-447); "", nil and
	// -1 when not sent, which skips the member checks.
	MemberID   string
	InstanceID *string
	Generation int32
	Offsets    []CommitOffset
}

// txnEnd is a transaction's outcome as CompleteTxn reports it.
type txnEnd struct {
	producerID int64
	commit     bool
}

// TxnCommitOffsets handles a TxnOffsetCommit, as Kafka's
// GroupCoordinator.handleTxnCommitOffsets: an unknown group is created
// (Empty; a simple consumer's transaction needs none); when a member id,
// an instance id or a generation is given the member must be current
// (FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION), with no
// check of the group's state; metadata over offset.metadata.max.bytes is
// refused per partition. done gets a request-level error or one error per
// offset once the batch is durable; the offsets are then pending for the
// producer (see above). A failed append leaves nothing pending; a
// producer error from the log (an older epoch) reaches the client.
func (c *Coordinator) TxnCommitOffsets(now time.Time, req TxnCommitRequest, done func(top error, errs []error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(req.Group, false); err != nil {
		done(err, nil)
		return
	}
	if req.ProducerID < 0 || req.ProducerEpoch < 0 {
		done(fmt.Errorf("%w: producer id %d epoch %d", model.ErrInvalidProducerEpoch, req.ProducerID, req.ProducerEpoch), nil)
		return
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		g = newGroup(req.Group, now)
		c.mu.groups[req.Group] = g
		defer c.dropIfUnusedLocked(g)
	}
	switch {
	case g.deleting:
		done(fmt.Errorf("%w: the group is being deleted", ErrCoordinatorNotAvailable), nil)
		return
	case g.cg != nil && (req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil):
		// A consumer group's member (either protocol): checked by its
		// epoch, as an OffsetCommit is.
		tps := make([]model.TopicPartition, len(req.Offsets))
		for i, o := range req.Offsets {
			tps[i] = model.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		}
		if err := g.cg.validateCommit(req.MemberID, req.Generation, tps); err != nil {
			done(err, nil)
			return
		}
	case req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil:
		switch {
		case g.fenced(req.MemberID, req.InstanceID):
			done(ErrFencedInstanceID, nil)
			return
		case g.members[req.MemberID] == nil:
			done(ErrUnknownMemberID, nil)
			return
		case req.Generation != g.generation:
			done(fmt.Errorf("%w: generation %d; the group is at %d", ErrIllegalGeneration, req.Generation, g.generation), nil)
			return
		}
	}
	errs, recs, tps, cms := c.offsetRecords(g.id, req.Offsets, now, -1)
	if len(recs) == 0 {
		done(nil, errs)
		return
	}
	for _, tp := range tps {
		g.pendingOffsets[tp]++
	}
	prod := txnProducer{id: req.ProducerID, epoch: req.ProducerEpoch}
	c.appendSeqLocked(g.id, recs, prod, now, func(err error, owned bool, w *write) {
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
			c.applyTxnCommitLocked(w, req.Group, tps, cms, now)
		}
		done(nil, errs)
	})
}

// applyTxnCommitLocked makes a durable transactional commit's offsets
// pending. As for CommitOffsets, the log holds them now, so memory does,
// whatever happened to the group meanwhile. If the transaction ended
// while the batch was in flight, its outcome applies at once (Kafka's
// completePendingTxnOffsetCommit drops the offsets of appends still in
// flight too; the log refuses such a batch after an abort, which bumps
// the epoch, so it is one written before the marker).
func (c *Coordinator) applyTxnCommitLocked(w *write, groupID string, tps []model.TopicPartition, cms []committed, now time.Time) {
	g := c.mu.groups[groupID]
	if g == nil {
		g = newGroup(groupID, now)
		c.mu.groups[groupID] = g
	}
	for i, tp := range tps {
		cm := cms[i]
		cm.seq = w.seq
		switch {
		case w.ended == nil:
			g.addTxnOffset(w.txn.id, tp, cm)
		case w.ended.commit:
			if cur, ok := g.offsets[tp]; !ok || cur.seq < cm.seq {
				g.offsets[tp] = cm
			}
		}
	}
	if w.ended == nil {
		w.p.indexTxn(w.txn.id, groupID)
	} else {
		c.dropIfUnusedLocked(g)
	}
}

// CompleteTxn applies the end of producerID's transaction to the groups
// of __consumer_offsets partition partition: the broker calls it once it
// has durably appended the producer's commit (commit true) or abort
// marker there. A commit makes the producer's pending offsets committed
// (a partition keeps its committed offset if that was appended after the
// pending one); an abort drops them. Nothing pending, or a partition not
// owned, is a no-op; during a load the outcome is applied when the load
// ends. now is the marker's time (offsets keep their commit's timestamp
// for expiry, as in Kafka).
func (c *Coordinator) CompleteTxn(partition int32, producerID int64, commit bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.mu.parts[partition]
	switch {
	case p == nil:
		return
	case p.loading:
		p.lateTxns = append(p.lateTxns, txnEnd{producerID: producerID, commit: commit})
		return
	}
	c.completeTxnLocked(p, producerID, commit)
	c.log.Debug("transaction completed in group partition", "partition", partition, "producer_id", producerID, "commit", commit, "at", now)
}

func (c *Coordinator) completeTxnLocked(p *ownedPartition, producerID int64, commit bool) {
	ids := make([]string, 0, len(p.producers[producerID]))
	for id := range p.producers[producerID] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	delete(p.producers, producerID)
	for _, w := range p.inflight {
		if w.txn.id == producerID && w.ended == nil {
			w.ended = &txnEnd{producerID: producerID, commit: commit}
		}
	}
	for _, id := range ids {
		if g := c.mu.groups[id]; g != nil {
			g.completeTxn(producerID, commit)
			c.dropIfUnusedLocked(g)
		}
	}
}

// indexTxn records that group id holds pending offsets of producer pid.
func (p *ownedPartition) indexTxn(pid int64, id string) {
	if p.producers[pid] == nil {
		p.producers[pid] = map[string]struct{}{}
	}
	p.producers[pid][id] = struct{}{}
}

// addTxnOffset makes o pending for producer pid (a later one of the same
// transaction replaces it).
func (g *group) addTxnOffset(pid int64, tp model.TopicPartition, o committed) {
	if g.txnOffsets[pid] == nil {
		g.txnOffsets[pid] = map[model.TopicPartition]committed{}
	}
	g.txnOffsets[pid][tp] = o
}

// completeTxn ends producer pid's transaction in g: Kafka's
// completePendingTxnOffsetCommit. On commit a pending offset replaces
// the committed one unless that was appended later.
func (g *group) completeTxn(pid int64, commit bool) {
	pend := g.txnOffsets[pid]
	delete(g.txnOffsets, pid)
	if !commit {
		return
	}
	for tp, o := range pend {
		if cur, ok := g.offsets[tp]; !ok || cur.seq < o.seq {
			g.offsets[tp] = o
		}
	}
}

// dropOffset applies an offset tombstone: the committed offset and every
// producer's pending one of tp go.
func (g *group) dropOffset(tp model.TopicPartition) {
	delete(g.offsets, tp)
	for pid, pend := range g.txnOffsets {
		delete(pend, tp)
		if len(pend) == 0 {
			delete(g.txnOffsets, pid)
		}
	}
}

// hasTxnOffset says whether an open transaction holds an offset of tp.
func (g *group) hasTxnOffset(tp model.TopicPartition) bool {
	for _, pend := range g.txnOffsets {
		if _, ok := pend[tp]; ok {
			return true
		}
	}
	return false
}

// HasPendingTxnOffsets reports whether an open transaction holds offsets
// of groupID for any of tps (for any partition when tps is empty).
func (c *Coordinator) HasPendingTxnOffsets(groupID string, tps ...model.TopicPartition) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.mu.groups[groupID]
	if g == nil {
		return false
	}
	if len(tps) == 0 {
		return len(g.txnOffsets) > 0
	}
	for _, tp := range tps {
		if g.hasTxnOffset(tp) {
			return true
		}
	}
	return false
}

// FetchOffsetsStable is FetchOffsets for an OffsetFetch with
// require_stable (KIP-447): it also says which partitions are not stable
// now, those for which an open transaction holds an offset (pending until
// its marker) or a commit is being written; they answer
// UNSTABLE_OFFSET_COMMIT, as Kafka's
// GroupMetadata.hasPendingOffsetCommitsForTopicPartition decides, so that
// a consumer taking a partition over does not start from an offset a
// transaction is about to replace.
func (c *Coordinator) FetchOffsetsStable(groupID string) (offsets map[model.TopicPartition]Offset, unstable map[model.TopicPartition]bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, true); err != nil {
		return nil, nil, err
	}
	offsets, unstable = map[model.TopicPartition]Offset{}, map[model.TopicPartition]bool{}
	g := c.mu.groups[groupID]
	if g == nil {
		return offsets, unstable, nil
	}
	for tp, o := range g.offsets {
		offsets[tp] = Offset{Offset: o.offset, LeaderEpoch: o.leaderEpoch, Metadata: o.metadata}
	}
	for tp := range g.pendingOffsets {
		unstable[tp] = true
	}
	for _, pend := range g.txnOffsets {
		for tp := range pend {
			unstable[tp] = true
		}
	}
	return offsets, unstable, nil
}

// txnStoreError is storeError for a transactional batch: the log's
// verdict on the producer (an older epoch: INVALID_PRODUCER_EPOCH)
// reaches the client as Kafka passes it on, so the producer learns it is
// fenced instead of retrying.
func txnStoreError(err error) error {
	for _, pe := range []error{model.ErrInvalidProducerEpoch, model.ErrUnknownProducerID, model.ErrOutOfOrderSequence} {
		if errors.Is(err, pe) {
			return fmt.Errorf("writing to %s: %w", OffsetsTopic, err)
		}
	}
	return storeError(err)
}
