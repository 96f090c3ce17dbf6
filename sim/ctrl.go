package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/replication"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The controller side of a node: a raft RawNode driven as the
// controller loop (controlplane/raft.go) drives it, over a simulated disk
// that keeps what a Ready persisted, applying entries to the real image.

const (
	raftTick        = 100 * time.Millisecond
	electionTicks   = 10
	heartbeatTicks  = 1
	sessionTimeout  = 3 * time.Second // broker.session.timeout.ms, shortened
	fencePeriod     = sessionTimeout / 9
	registerPeriod  = time.Second
	commandTimeout  = 5 * time.Second
	snapshotEntries = 40 // a snapshot every so many applied entries
	clusterID       = "sim"
)

// raftDisk is what survives a crash of the controller: the persisted
// hardstate, snapshot and entries.
type raftDisk struct {
	hs   *pb.HardState
	snap *pb.Snapshot
	ents []*pb.Entry
}

func (d *raftDisk) append(ents []*pb.Entry) {
	if len(ents) == 0 {
		return
	}
	first := ents[0].GetIndex()
	// Entries at and after the first new index are replaced.
	d.ents = slices.DeleteFunc(d.ents, func(e *pb.Entry) bool { return e.GetIndex() >= first })
	for _, e := range ents {
		d.ents = append(d.ents, proto.Clone(e).(*pb.Entry))
	}
}

func (d *raftDisk) saveSnapshot(s *pb.Snapshot) {
	d.snap = proto.Clone(s).(*pb.Snapshot)
	idx := s.GetMetadata().GetIndex()
	d.ents = slices.DeleteFunc(d.ents, func(e *pb.Entry) bool { return e.GetIndex() <= idx })
}

// pendingCmd is a proposal this node waits on.
type pendingCmd struct {
	what     string
	lead     int32 // the leader when proposed: a change fails it
	deadline time.Duration
	done     func(error)
}

type ctrl struct {
	n         *node
	disk      raftDisk
	rn        *raft.RawNode
	ms        *raft.MemoryStorage
	confState *pb.ConfState
	image     *controlplane.Image
	applied   uint64
	snapIndex uint64
	lead      int32
	ready     bool // leader with its term's first entry applied
	pending   map[uint64]*pendingCmd
	nextID    uint64
	// The active controller's liveness view (controlplane/brokers.go).
	contact    map[int32]time.Duration
	liveTerm   uint64
	isLeader   bool
	registered map[int32]int64
	// unsynced are entries not yet on the disk (BreakUnsyncedRaftLog).
	unsynced []*pb.Entry
}

func cloneEntries(ents []*pb.Entry) []*pb.Entry {
	out := make([]*pb.Entry, len(ents))
	for i, e := range ents {
		out[i] = proto.Clone(e).(*pb.Entry)
	}
	return out
}

func (c *ctrl) voters() []uint64 {
	var v []uint64
	for i := range c.n.w.nodes {
		v = append(v, controlplane.RaftID(int32(i)))
	}
	return v
}

// recover rebuilds the RawNode from the disk, as Controller.recover does.
func (c *ctrl) recover() {
	c.ms = raft.NewMemoryStorage()
	c.confState = &pb.ConfState{Voters: c.voters()}
	c.image = controlplane.EmptyImage(clusterID)
	c.applied, c.snapIndex = 0, 0
	if s := c.disk.snap; s != nil {
		must(c.ms.ApplySnapshot(s))
		c.confState = proto.Clone(s.GetMetadata().GetConfState()).(*pb.ConfState)
		im, err := controlplane.UnmarshalSnapshot(s.GetData(), clusterID)
		must(err)
		c.image = im
		c.applied = s.GetMetadata().GetIndex()
		c.snapIndex = c.applied
	} else {
		zero := uint64(0)
		must(c.ms.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: c.confState, Index: &zero, Term: &zero}}))
	}
	var ents []*pb.Entry
	for _, e := range c.disk.ents {
		ents = append(ents, proto.Clone(e).(*pb.Entry))
	}
	must(c.ms.Append(ents))
	if c.disk.hs != nil {
		must(c.ms.SetHardState(proto.Clone(c.disk.hs).(*pb.HardState)))
	}
	rn, err := raft.NewRawNode(controlplane.NewRaftConfig(controlplane.RaftID(c.n.id), c.ms, c.applied, electionTicks, heartbeatTicks, c.n.w.log))
	must(err)
	c.rn = rn
	c.lead, c.ready, c.isLeader = -1, false, false
	c.pending = map[uint64]*pendingCmd{}
	c.registered = map[int32]int64{}
	c.unsynced = nil
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// handleReady follows etcd raft's contract as the controller loop does:
// persist, send, apply, advance; then the checks.
func (c *ctrl) handleReady() {
	w := c.n.w
	for c.rn.HasReady() {
		rd := c.rn.Ready()
		hasSnap := rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot)
		// 1. Persist (the disk keeps it across a crash).
		if hasSnap {
			c.disk.saveSnapshot(rd.Snapshot)
		}
		if w.opts.Break == BreakUnsyncedRaftLog {
			c.disk.append(c.unsynced)
			c.unsynced = cloneEntries(rd.Entries)
		} else {
			c.disk.append(rd.Entries)
		}
		if len(rd.Entries) > 0 {
			w.crashPoint(c.n, 0.01)
		}
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			hs := proto.Clone(rd.HardState).(*pb.HardState)
			if w.opts.Break == BreakForgetVote {
				hs.Vote = nil
			}
			voted := hs.GetVote() != c.disk.hs.GetVote() || hs.GetTerm() != c.disk.hs.GetTerm()
			c.disk.hs = hs
			if voted && rd.HardState.GetVote() != 0 && rd.HardState.GetVote() != controlplane.RaftID(c.n.id) {
				w.crashPoint(c.n, 0.3)
			}
		}
		if hasSnap {
			must(c.ms.ApplySnapshot(rd.Snapshot))
		}
		must(c.ms.Append(rd.Entries))
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			must(c.ms.SetHardState(rd.HardState))
		}
		// 2. Send.
		for _, m := range rd.Messages {
			c.send(m)
			if m.GetType() == pb.MessageType_MsgSnap {
				c.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
			}
		}
		if rd.SoftState != nil {
			lead := controlplane.NodeIDOf(rd.SoftState.Lead)
			if lead != c.lead {
				c.lead = lead
				w.tracef("n%d lead=%d term=%d", c.n.id, lead, c.rn.BasicStatus().GetTerm())
				c.failPending(func(p *pendingCmd) bool { return p.lead != lead })
			}
			if rd.SoftState.RaftState == raft.StateLeader {
				w.chk.leader(c.rn.BasicStatus().GetTerm(), c.n.id)
			}
		}
		// 3. Apply.
		if hasSnap {
			im, err := controlplane.UnmarshalSnapshot(rd.Snapshot.GetData(), clusterID)
			must(err)
			c.confState = proto.Clone(rd.Snapshot.GetMetadata().GetConfState()).(*pb.ConfState)
			c.applied = rd.Snapshot.GetMetadata().GetIndex()
			c.snapIndex = c.applied
			w.tracef("n%d snapshot %d", c.n.id, c.applied)
			w.chk.snapshotApplied(c.n.id, c.applied, im)
			c.setImage(im)
		}
		for _, e := range rd.CommittedEntries {
			c.applyEntry(e)
		}
		// 4. Advance.
		c.rn.Advance(rd)
	}
	st := c.rn.BasicStatus()
	term, _ := c.ms.Term(st.GetCommit())
	c.ready = st.RaftState == raft.StateLeader && term == st.GetTerm() && c.applied >= st.GetCommit()
	if c.applied-c.snapIndex >= snapshotEntries {
		c.snapshot()
	}
}

func (c *ctrl) send(m *pb.Message) {
	to := controlplane.NodeIDOf(m.GetTo())
	what := fmt.Sprintf("raft %s t%d i%d lt%d c%d n%d rej%v h%d", m.GetType(), m.GetTerm(), m.GetIndex(), m.GetLogTerm(), m.GetCommit(), len(m.GetEntries()), m.GetReject(), m.GetRejectHint())
	c.n.w.net.send(c.n.id, to, what, func(dst *node) {
		if dst.ctrl.rn == nil {
			return
		}
		_ = dst.ctrl.rn.Step(m) // stale or unexpected messages are dropped
		dst.ctrl.handleReady()
		dst.afterControllerStep()
	})
}

func (c *ctrl) applyEntry(e *pb.Entry) {
	w := c.n.w
	c.applied = e.GetIndex()
	w.tracef("n%d apply %d t%d", c.n.id, e.GetIndex(), e.GetTerm())
	w.chk.entryApplied(c.n.id, e)
	if e.GetType() != pb.EntryType_EntryNormal || len(e.GetData()) == 0 {
		return
	}
	id, recs, err := controlplane.DecodeEntry(e.GetData())
	if err != nil {
		w.chk.violate("n%d: committed entry %d does not decode: %v", c.n.id, e.GetIndex(), err)
		return
	}
	n, err := c.image.ApplyEntry(int64(e.GetIndex()), recs)
	if err == nil {
		c.setImage(n)
		w.chk.imageApplied(c.n.id, e.GetIndex(), n)
	}
	if p := c.pending[id]; p != nil {
		delete(c.pending, id)
		w.tracef("n%d resolved %s err=%v", c.n.id, p.what, err != nil)
		p.done(err)
	}
}

func (c *ctrl) setImage(im *controlplane.Image) {
	c.image = im
	c.n.imageChanged()
}

// snapshot writes the image at the applied index and compacts the log,
// as Controller.snapshot does.
func (c *ctrl) snapshot() {
	data, err := c.image.MarshalSnapshot()
	must(err)
	snap, err := c.ms.CreateSnapshot(c.applied, c.confState, data)
	must(err)
	c.disk.saveSnapshot(snap)
	must(c.ms.Compact(c.applied))
	c.snapIndex = c.applied
	c.n.w.tracef("n%d compact %d", c.n.id, c.applied)
}

// propose sends recs as one entry through raft (a follower forwards it);
// done sees the apply result, or an error when the leader changes or the
// command times out first.
func (c *ctrl) propose(what string, recs []controlplane.Record, done func(error)) {
	c.nextID++
	id := uint64(c.n.id)<<48 | uint64(c.n.incarnation)<<32 | c.nextID
	data, err := controlplane.EncodeEntry(id, recs)
	must(err)
	if err := c.rn.Propose(data); err != nil {
		c.n.w.tracef("n%d propose %s dropped", c.n.id, what)
		done(err)
		return
	}
	c.n.w.tracef("n%d propose %s", c.n.id, what)
	c.pending[id] = &pendingCmd{what: what, lead: c.lead, deadline: c.n.w.now + commandTimeout, done: done}
	c.handleReady()
}

var errGone = errors.New("sim: leader changed or command timed out")

func (c *ctrl) failPending(pred func(*pendingCmd) bool) {
	var ids []uint64
	for id, p := range c.pending {
		if pred(p) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := c.pending[id]
		delete(c.pending, id)
		p.done(errGone)
	}
}

// tick is one raft tick, with what the controller loop does after it.
func (c *ctrl) tick() {
	c.rn.Tick()
	c.sampleContact()
	c.handleReady()
	now := c.n.w.now
	c.failPending(func(p *pendingCmd) bool { return now >= p.deadline })
}

// sampleContact is controlplane's: the leader's view of who it heard.
func (c *ctrl) sampleContact() {
	st := c.rn.Status()
	now := c.n.clock()
	if st.RaftState != raft.StateLeader {
		c.isLeader = false
		return
	}
	if !c.isLeader || c.liveTerm != st.GetTerm() {
		c.isLeader, c.liveTerm = true, st.GetTerm()
		c.contact = map[int32]time.Duration{}
		for i := range c.n.w.nodes {
			c.contact[int32(i)] = now
		}
	}
	c.contact[c.n.id] = now
	for rid, pr := range st.Progress {
		if pr.RecentActive {
			c.contact[controlplane.NodeIDOf(rid)] = now
		}
	}
}

// fence is one pass of the active controller's fenceLoop
// (controlplane/brokers.go): fence the brokers not heard from for the
// session timeout and move leadership off them, or elect leaders for
// leaderless partitions whose ISR came back.
func (c *ctrl) fence() {
	if !c.ready {
		return
	}
	im := c.image
	now := c.n.clock()
	var recs []controlplane.Record
	fencing := map[int32]bool{}
	for _, id := range im.BrokerIDs() {
		b := im.Brokers[id]
		if b.Fenced || id == c.n.id {
			continue
		}
		if c.registered[id] != b.Epoch {
			c.registered[id] = b.Epoch
			if c.isLeader && c.contact[id] < now {
				c.contact[id] = now
			}
			continue
		}
		since, ok := c.contact[id]
		if !ok || !c.isLeader || now-since < sessionTimeout {
			continue
		}
		recs = append(recs, controlplane.Record{Type: controlplane.RecBrokerFencing, BrokerFencing: &controlplane.BrokerFencingRecord{BrokerID: id, BrokerEpoch: b.Epoch, Fenced: true}})
		fencing[id] = true
	}
	recs = append(recs, controlplane.PlanLeadership(im, fencing, replication.ElectLeader)...)
	if len(recs) == 0 || c.hasPending("fence") {
		return
	}
	c.propose("fence", recs, func(error) {})
}

func (c *ctrl) hasPending(what string) bool {
	for _, p := range c.pending {
		if p.what == what {
			return true
		}
	}
	return false
}
