package sim

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	pb "go.etcd.io/raft/v3/raftpb"
)

// checker holds what the cluster has promised so far and checks every
// step against it:
//   - one raft leader per term, one partition leader per leader epoch;
//   - a committed metadata entry is never lost or changed: every node
//     applies the same entry at each index and reaches the same image;
//   - a partition leader's high watermark never goes back, and the
//     records below any high watermark never change;
//   - an acknowledged (acks=all) record is on every member of the
//     leader's ISR when it is answered, and on every member of the
//     committed ISR from then on;
//   - at the end, healed and quiet, every node has applied every
//     committed entry and every replica holds its leader's log.
type checker struct {
	w          *World
	violations []string
	leaders    map[uint64]int32    // term -> leader
	entries    map[uint64][8]byte  // index -> hash of term and data
	images     map[uint64][]byte   // index -> marshalled image
	committed  [][]uint64          // per partition: record id per offset below a high watermark
	ackedRecs  map[uint64]ackedRec // record id -> where
	// hws is the high watermark of each leader instance (node, partition,
	// leader epoch).
	hws          map[[3]int32]model.Offset
	epochLeaders map[[2]int32]int32 // (partition, leader epoch) -> the node that led it
	maxCommitted uint64
	lastFull     int64
}

type ackedRec struct {
	part   int32
	offset model.Offset
}

func newChecker(w *World) *checker {
	return &checker{w: w, leaders: map[uint64]int32{}, entries: map[uint64][8]byte{}, images: map[uint64][]byte{},
		ackedRecs: map[uint64]ackedRec{}, hws: map[[3]int32]model.Offset{}, epochLeaders: map[[2]int32]int32{}}
}

func (c *checker) violate(format string, args ...any) {
	s := fmt.Sprintf("t=%v seed=%d: ", c.w.now, c.w.opts.Seed) + fmt.Sprintf(format, args...)
	c.w.tracef("VIOLATION %s", s)
	c.violations = append(c.violations, s)
}

func (c *checker) leader(term uint64, id int32) {
	if l, ok := c.leaders[term]; ok && l != id {
		c.violate("two raft leaders in term %d: nodes %d and %d", term, l, id)
		return
	}
	c.leaders[term] = id
}

func (c *checker) entryApplied(node int32, e *pb.Entry) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d %d ", e.GetTerm(), e.GetType())
	h.Write(e.GetData())
	var sum [8]byte
	copy(sum[:], h.Sum(nil))
	idx := e.GetIndex()
	if old, ok := c.entries[idx]; ok && old != sum {
		c.violate("node %d applied a different entry at committed index %d (term %d)", node, idx, e.GetTerm())
		return
	}
	c.entries[idx] = sum
	c.maxCommitted = max(c.maxCommitted, idx)
}

func (c *checker) imageApplied(node int32, idx uint64, im *controlplane.Image) {
	b, err := im.MarshalSnapshot()
	must(err)
	if old, ok := c.images[idx]; ok && !bytes.Equal(old, b) {
		c.violate("node %d built a different image at index %d", node, idx)
		return
	}
	c.images[idx] = b
}

func (c *checker) snapshotApplied(node int32, idx uint64, im *controlplane.Image) {
	if _, ok := c.entries[idx]; !ok && idx > 0 {
		c.violate("node %d installed a snapshot at index %d that no node applied", node, idx)
	}
	b, err := im.MarshalSnapshot()
	must(err)
	// A snapshot holds the image as of its last changing entry.
	if old, ok := c.images[uint64(max(im.Offset, 0))]; ok && !bytes.Equal(old, b) {
		c.violate("node %d installed a snapshot at index %d whose image differs", node, idx)
	}
}

func (c *checker) partition(p int32) *[]uint64 {
	for int(p) >= len(c.committed) {
		c.committed = append(c.committed, nil)
	}
	return &c.committed[p]
}

// checkPrefix compares r's log below hi with the committed records.
func (c *checker) checkPrefix(r *replica, lo, hi model.Offset) {
	com := c.partition(r.part)
	for o := lo; o < hi; o++ {
		id := r.log[o].id
		switch {
		case int(o) < len(*com) && (*com)[o] != id:
			c.violate("partition %d offset %d: node %d commits record %d, but record %d was committed there before", r.part, o, r.n.id, id, (*com)[o])
			return
		case int(o) == len(*com):
			*com = append(*com, id)
		}
	}
}

func (c *checker) leaderStarted(r *replica) {
	key := [2]int32{r.part, r.leaderEpoch}
	if l, ok := c.epochLeaders[key]; ok && l != r.n.id {
		c.violate("partition %d: nodes %d and %d both lead at leader epoch %d", r.part, l, r.n.id, r.leaderEpoch)
		return
	}
	c.epochLeaders[key] = r.n.id
	c.checkPrefix(r, 0, r.hw)
	c.hws[[3]int32{r.n.id, r.part, r.leaderEpoch}] = r.hw
}

func (c *checker) hwMoved(r *replica, old, hw model.Offset) {
	key := [3]int32{r.n.id, r.part, r.leaderEpoch}
	if prev, ok := c.hws[key]; ok && hw < prev {
		c.violate("partition %d: leader %d at epoch %d moved its high watermark back from %d to %d", r.part, r.n.id, r.leaderEpoch, prev, hw)
		return
	}
	if hw > r.end() {
		c.violate("partition %d: leader %d high watermark %d past its log end %d", r.part, r.n.id, hw, r.end())
		return
	}
	c.hws[key] = hw
	c.checkPrefix(r, min(old, hw), hw)
}

// acked checks an acks=all answer: the record is on every member of the
// leader's ISR.
func (c *checker) acked(r *replica, off model.Offset, id uint64) {
	c.w.tracef("n%d p%d ack %d id=%d", r.n.id, r.part, off, id)
	c.ackedRecs[id] = ackedRec{part: r.part, offset: off}
	for _, m := range r.leader.ISR() {
		if !c.w.nodes[m].reps[r.part].has(off, id) {
			c.violate("partition %d: record %d acknowledged at offset %d by leader %d (epoch %d), but ISR member %d (ISR %v) does not hold it",
				r.part, id, off, r.n.id, r.leaderEpoch, m, r.leader.ISR())
			return
		}
	}
}

func (r *replica) has(off model.Offset, id uint64) bool {
	return off < r.end() && r.log[off].id == id
}

// step runs after every step of a node; the full checks every 500 ms.
func (c *checker) step() {
	if ms := c.w.now.Milliseconds(); ms-c.lastFull >= 500 {
		c.lastFull = ms
		c.full()
	}
}

// newestImage is the image of the node that applied the most.
func (c *checker) newestImage() *controlplane.Image {
	var best *controlplane.Image
	for _, n := range c.w.nodes {
		if im := n.ctrl.image; im != nil && (best == nil || im.Offset > best.Offset) {
			best = im
		}
	}
	return best
}

// full checks every acknowledged record against the committed ISR.
func (c *checker) full() {
	im := c.newestImage()
	t := im.Topics[topicName]
	if t == nil {
		return
	}
	ids := make([]uint64, 0, len(c.ackedRecs))
	for id := range c.ackedRecs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := c.ackedRecs[id]
		p := t.Partitions[a.part]
		for _, m := range p.ISR {
			if !c.w.nodes[m].reps[a.part].has(a.offset, id) {
				c.violate("partition %d: acknowledged record %d (offset %d) is missing on ISR member %d (ISR %v, leader %d epoch %d)",
					a.part, id, a.offset, m, p.ISR, p.Leader, p.LeaderEpoch)
				return
			}
		}
	}
}

// converged says what has not converged after the quiet phase ("" when
// everything has): every node applied every committed entry, every
// partition has a leader, a full ISR, and replicas holding its log.
func (c *checker) converged() string {
	c.full()
	if len(c.violations) > 0 {
		return ""
	}
	ref := c.w.nodes[0].ctrl
	for _, n := range c.w.nodes {
		if n.ctrl.applied < c.maxCommitted {
			return fmt.Sprintf("node %d applied up to %d after the quiet phase; index %d was committed", n.id, n.ctrl.applied, c.maxCommitted)
		}
		if n.ctrl.image.Offset != ref.image.Offset {
			return fmt.Sprintf("node %d image at %d, node %d at %d after the quiet phase", n.id, n.ctrl.image.Offset, ref.n.id, ref.image.Offset)
		}
	}
	t := ref.image.Topics[topicName]
	if t == nil {
		return "the topic was never created"
	}
	for _, p := range t.Partitions {
		if p.Leader < 0 {
			return fmt.Sprintf("partition %d has no leader after the quiet phase (ISR %v)", p.Partition, p.ISR)
		}
		l := c.w.nodes[p.Leader].reps[p.Partition]
		if l.leader == nil {
			return fmt.Sprintf("partition %d: node %d leads in the image but not in fact", p.Partition, p.Leader)
		}
		if len(p.ISR) != len(p.Replicas) {
			return fmt.Sprintf("partition %d: ISR %v of replicas %v after the quiet phase", p.Partition, p.ISR, p.Replicas)
		}
		for _, id := range p.Replicas {
			r := c.w.nodes[id].reps[p.Partition]
			if !slices.Equal(r.log, l.log) {
				return fmt.Sprintf("partition %d: node %d's log (end %d) differs from leader %d's (end %d) after the quiet phase", p.Partition, id, r.end(), p.Leader, l.end())
			}
		}
		if l.hw != l.end() {
			return fmt.Sprintf("partition %d: leader high watermark %d below its log end %d after the quiet phase", p.Partition, l.hw, l.end())
		}
	}
	return ""
}
