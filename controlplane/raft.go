package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringtail/ringtail/model"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// loopState is owned by the controller loop (and by Open before the loop
// starts).
type loopState struct {
	rn        *raft.RawNode
	ms        *raft.MemoryStorage
	disk      *raftDisk
	tr        Transport
	ticks     <-chan time.Time
	confState *pb.ConfState
	applied   uint64 // raft index of the last applied entry
	snapIndex uint64
	// snapNow asks for a snapshot after this Ready: a conf change was
	// applied, and a learner that needs a snapshot must find itself in it.
	snapNow bool
	// learnerAsked is when the leader last proposed adding each learner.
	learnerAsked map[uint64]time.Time
	// reads are the CatchUp reads in flight (readindex.go).
	reads readState
}

// entryData is the payload of a normal raft entry: one command's records,
// applied all or none, and the id its proposer waits on.
type entryData struct {
	ID      uint64   `json:"id"`
	Records []Record `json:"records"`
}

type proposal struct {
	id   uint64
	data []byte
}

// raftID maps a Kafka node id (0 is valid) to a raft id (0 means none).
func raftID(node int32) uint64 { return uint64(node) + 1 }

func nodeID(id uint64) int32 {
	if id == raft.None {
		return -1
	}
	return int32(id - 1)
}

// votersString is the voter list in Kafka's form, sorted by id.
func votersString(v map[int32]string) string {
	ids := make([]int32, 0, len(v))
	for id := range v {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id)) + "@" + v[id]
	}
	return strings.Join(parts, ",")
}

type nopTransport struct{}

func (nopTransport) Send([]*pb.Message) {}
func (nopTransport) Close() error       { return nil }

// recover loads the raft storage into a MemoryStorage and the image from
// the snapshot, and builds the RawNode. It returns the commit index that
// the loop must apply before Open returns.
func (c *Controller) recover() (uint64, error) {
	disk, ld, err := openRaftDisk(c.cfg.Dir)
	if err != nil {
		return 0, err
	}
	if ld.tornBytes > 0 {
		c.cfg.Logger.Warn("metadata log had a torn tail; truncated", "bytes", ld.tornBytes)
	}
	l := &c.loop
	l.disk = disk
	var voters []uint64
	for id := range c.cfg.Voters {
		voters = append(voters, raftID(id))
	}
	slices.Sort(voters)
	l.confState = &pb.ConfState{Voters: voters}
	l.ms = raft.NewMemoryStorage()
	im := emptyImage(c.cfg.ClusterID, -1)
	fail := func(err error) (uint64, error) {
		disk.close()
		return 0, err
	}
	if snap := ld.snap; snap != nil && !raft.IsEmptySnap(snap) {
		got := slices.Sorted(slices.Values(snap.GetMetadata().GetConfState().GetVoters()))
		if !slices.Equal(got, voters) {
			return fail(fmt.Errorf("controlplane: the metadata snapshot's voters %v differ from controller.quorum.voters (%s, raft ids %v); changing the voters is not supported yet", got, votersString(c.cfg.Voters), voters))
		}
		if err := l.ms.ApplySnapshot(snap); err != nil {
			return fail(fmt.Errorf("controlplane: %w", err))
		}
		l.confState = proto.Clone(snap.GetMetadata().GetConfState()).(*pb.ConfState)
		if im, err = unmarshalSnapshot(snap.GetData(), c.cfg.ClusterID, -1); err != nil {
			return fail(err)
		}
		l.applied = snap.GetMetadata().GetIndex()
		l.snapIndex = l.applied
	} else {
		// Every voter starts from the same configuration, so no conf-change
		// entries are needed to bootstrap.
		zero := uint64(0)
		if err := l.ms.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: l.confState, Index: &zero, Term: &zero}}); err != nil {
			return fail(fmt.Errorf("controlplane: %w", err))
		}
	}
	if err := l.ms.Append(ld.entries); err != nil {
		return fail(fmt.Errorf("controlplane: %w", err))
	}
	var commit uint64
	if ld.hs != nil {
		last, _ := l.ms.LastIndex()
		if ld.hs.GetCommit() > last {
			return fail(fmt.Errorf("%w: hardstate commits entry %d but the entry log ends at %d", ErrCorruptLog, ld.hs.GetCommit(), last))
		}
		if err := l.ms.SetHardState(ld.hs); err != nil {
			return fail(fmt.Errorf("controlplane: %w", err))
		}
		commit = ld.hs.GetCommit()
		c.term.Store(ld.hs.GetTerm())
	}
	rn, err := raft.NewRawNode(NewRaftConfig(c.self, l.ms, l.applied, c.cfg.ElectionTicks, c.cfg.HeartbeatTicks, c.cfg.Logger))
	if err != nil {
		return fail(fmt.Errorf("controlplane: raft: %w", err))
	}
	l.rn = rn
	c.image.Store(im)
	c.applied.Store(l.applied)
	return max(commit, l.applied), nil
}

// run is the controller loop, the only goroutine that touches the RawNode,
// the storage and the transport's Send.
func (c *Controller) run() {
	defer close(c.donec)
	defer c.failPending()
	// A restarted node has committed entries to apply before any input.
	if err := c.handleReady(); err != nil {
		c.stopWith(err)
		return
	}
	for {
		var barrier chan struct{}
		select {
		case <-c.loop.ticks:
			c.loop.rn.Tick()
			c.tickReads()
			c.sampleContact()
			c.addLearners()
		case m := <-c.recvc:
			_ = c.loop.rn.Step(m) // stale or unexpected messages are dropped
		case p := <-c.propc:
			if err := c.loop.rn.Propose(p.data); err != nil {
				c.resolve(p.id, &NotControllerError{NodeID: c.cfg.NodeID, LeaderID: nodeID(c.loop.rn.BasicStatus().Lead)})
			}
		case w := <-c.readc:
			c.askRead(w)
		case barrier = <-c.barrierc:
		case <-c.stopc:
			return
		}
		if err := c.handleReady(); err != nil {
			c.stopWith(err)
			return
		}
		if barrier != nil {
			close(barrier)
		}
	}
}

// stopWith records why the loop stopped; commands then fail with it.
func (c *Controller) stopWith(err error) {
	c.cfg.Logger.Error("controller stopped: metadata log write failed", "err", err)
	c.st.Lock()
	c.st.loopErr = err
	c.st.Unlock()
}

// handleReady follows etcd raft's contract (doc.go): persist HardState,
// entries and snapshot durably; send messages; apply the snapshot and the
// committed entries; Advance.
func (c *Controller) handleReady() error {
	l := &c.loop
	changed := false
	for l.rn.HasReady() {
		rd := l.rn.Ready()
		hasSnap := rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot)
		// 1. Persist.
		if hasSnap {
			if err := l.disk.saveSnapshot(rd.Snapshot); err != nil {
				return err
			}
			// The snapshot replaces every entry we hold.
			if err := l.disk.compact(nil); err != nil {
				return err
			}
		}
		if err := l.disk.append(rd.Entries); err != nil {
			return err
		}
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			if err := l.disk.saveHardState(rd.HardState); err != nil {
				return err
			}
		}
		if hasSnap {
			if err := l.ms.ApplySnapshot(rd.Snapshot); err != nil {
				return fmt.Errorf("controlplane: %w", err)
			}
		}
		if err := l.ms.Append(rd.Entries); err != nil {
			return fmt.Errorf("controlplane: %w", err)
		}
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			if err := l.ms.SetHardState(rd.HardState); err != nil {
				return fmt.Errorf("controlplane: %w", err)
			}
			c.term.Store(rd.HardState.GetTerm())
		}
		// 2. Send.
		l.tr.Send(rd.Messages)
		for _, m := range rd.Messages {
			if m.GetType() == pb.MsgSnap {
				// Sending is fire-and-forget; raft probes again if it was lost.
				l.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
			}
		}
		if rd.SoftState != nil {
			lead := nodeID(rd.SoftState.Lead)
			if c.leader.Swap(lead) != lead {
				old := c.image.Load()
				n := *old
				n.ControllerID = lead
				c.image.Store(&n)
				c.cfg.Logger.Info("metadata quorum leader", "leader", lead, "term", l.rn.BasicStatus().GetTerm())
				c.dropAskedReads()
			}
			changed = true
		}
		for _, rs := range rd.ReadStates {
			c.readAnswered(rs)
		}
		// 3. Apply.
		if hasSnap {
			im, err := unmarshalSnapshot(rd.Snapshot.GetData(), c.cfg.ClusterID, c.leader.Load())
			if err != nil {
				return err
			}
			old := c.image.Load()
			c.image.Store(im)
			c.notifySubscribers(old, im)
			l.confState = proto.Clone(rd.Snapshot.GetMetadata().GetConfState()).(*pb.ConfState)
			l.applied = rd.Snapshot.GetMetadata().GetIndex()
			l.snapIndex = l.applied
		}
		for _, e := range rd.CommittedEntries {
			c.applyEntry(e)
		}
		if len(rd.CommittedEntries) > 0 || hasSnap {
			c.applied.Store(l.applied)
			changed = true
		}
		// 4. Advance.
		l.rn.Advance(rd)
	}
	c.releaseReads()
	st := l.rn.BasicStatus()
	term, _ := l.ms.Term(st.GetCommit())
	ready := st.RaftState == raft.StateLeader && term == st.GetTerm() && l.applied >= st.GetCommit()
	if c.leaderReady.Swap(ready) != ready {
		changed = true
	}
	if l.applied-l.snapIndex >= c.cfg.SnapshotEntries || (l.snapNow && l.applied > l.snapIndex) {
		l.snapNow = false
		if err := c.snapshot(); err != nil {
			return err
		}
	}
	if changed {
		c.notify()
	}
	return nil
}

// applyEntry folds one committed entry into the image and answers its
// proposer if it is waiting here.
func (c *Controller) applyEntry(e *pb.Entry) {
	c.loop.applied = e.GetIndex()
	switch e.GetType() {
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			c.cfg.Logger.Error("metadata conf change does not decode; skipped", "index", e.GetIndex(), "err", err)
			return
		}
		c.applyConfChange(&cc, e.GetIndex())
		return
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			c.cfg.Logger.Error("metadata conf change does not decode; skipped", "index", e.GetIndex(), "err", err)
			return
		}
		c.applyConfChange(&cc, e.GetIndex())
		return
	}
	if len(e.GetData()) == 0 {
		return // a new leader's empty entry
	}
	var d entryData
	if err := json.Unmarshal(e.GetData(), &d); err != nil {
		// Every node sees the same bytes, so every node skips it.
		c.cfg.Logger.Error("metadata entry does not decode; skipped", "index", e.GetIndex(), "err", err)
		return
	}
	old := c.image.Load()
	n, err := old.applyEntry(int64(e.GetIndex()), d.Records)
	if err == nil {
		n.Offset = int64(e.GetIndex())
		c.image.Store(n)
		c.notifySubscribers(old, n)
	} else {
		c.cfg.Logger.Debug("metadata entry rejected at apply", "index", e.GetIndex(), "err", err)
	}
	c.resolve(d.ID, err)
}

// applyConfChange applies a committed raft configuration change. The only
// changes proposed are learners joining (addLearners); a change that would
// touch the voters is refused, since the voters come from the config.
func (c *Controller) applyConfChange(cc pb.ConfChangeI, index uint64) {
	l := &c.loop
	v2 := cc.AsV2()
	for _, ch := range v2.GetChanges() {
		if ch.GetType() != pb.ConfChangeType_ConfChangeAddLearnerNode || slices.Contains(l.confState.GetVoters(), ch.GetNodeId()) {
			// Every node sees the same entry, so every node skips it.
			c.cfg.Logger.Error("metadata conf change other than adding a learner; skipped", "index", index, "change", ch.String())
			return
		}
	}
	l.confState = l.rn.ApplyConfChange(cc)
	l.snapNow = true
	c.cfg.Logger.Info("metadata quorum configuration", "index", index, "voters", toNodeIDs(l.confState.GetVoters()), "learners", toNodeIDs(l.confState.GetLearners()))
}

func toNodeIDs(ids []uint64) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = nodeID(id)
	}
	slices.Sort(out)
	return out
}

// learnerLister is implemented by transports that know which non-voters
// (brokers that only follow the log) are connected to this node.
type learnerLister interface {
	Learners() []int32
}

// learnerRetry is how long the leader waits before proposing again to add
// a learner whose earlier proposal did not take effect.
const learnerRetry = 2 * time.Second

// addLearners runs on the controller loop after every tick: the ready
// leader proposes a learner for every connected non-voter that is not in
// the raft configuration yet. Raft takes one configuration change at a
// time and drops the others, so a dropped one is proposed again later.
func (c *Controller) addLearners() {
	l := &c.loop
	ll, ok := l.tr.(learnerLister)
	if !ok || !c.leaderReady.Load() {
		return
	}
	now := c.cfg.Now()
	if l.learnerAsked == nil {
		l.learnerAsked = map[uint64]time.Time{}
	}
	for _, id := range ll.Learners() {
		rid := raftID(id)
		if slices.Contains(l.confState.GetVoters(), rid) || slices.Contains(l.confState.GetLearners(), rid) {
			continue
		}
		if t, ok := l.learnerAsked[rid]; ok && now.Sub(t) < learnerRetry {
			continue
		}
		l.learnerAsked[rid] = now
		typ := pb.ConfChangeType_ConfChangeAddLearnerNode
		if err := l.rn.ProposeConfChange(&pb.ConfChange{Type: &typ, NodeId: &rid}); err != nil {
			c.cfg.Logger.Debug("proposing a learner", "node", id, "err", err)
		} else {
			c.cfg.Logger.Info("adding a broker to the metadata quorum as a learner", "node", id)
		}
		return // one change at a time
	}
}

func (c *Controller) notifySubscribers(old, n *Image) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for _, fn := range c.subscribers {
		fn(old, n)
	}
}

// snapshot writes the image as a snapshot at the applied index and compacts
// the entry log: snapshot file first, so a crash between the two leaves
// entries the snapshot covers, which load skips.
func (c *Controller) snapshot() error {
	l := &c.loop
	data, err := c.image.Load().marshalSnapshot()
	if err != nil {
		return fmt.Errorf("controlplane: encode snapshot: %w", err)
	}
	snap, err := l.ms.CreateSnapshot(l.applied, l.confState, data)
	if err != nil {
		return fmt.Errorf("controlplane: snapshot: %w", err)
	}
	if err := l.disk.saveSnapshot(snap); err != nil {
		return err
	}
	if err := l.ms.Compact(l.applied); err != nil {
		return fmt.Errorf("controlplane: compact: %w", err)
	}
	first, _ := l.ms.FirstIndex()
	last, _ := l.ms.LastIndex()
	var keep []*pb.Entry
	if last >= first {
		if keep, err = l.ms.Entries(first, last+1, 1<<62); err != nil {
			return fmt.Errorf("controlplane: compact: %w", err)
		}
	}
	if err := l.disk.compact(keep); err != nil {
		return err
	}
	l.snapIndex = l.applied
	c.cfg.Logger.Info("metadata snapshot", "index", l.applied, "entries_kept", len(keep))
	return nil
}

// deliver hands an inbound message to the loop; false once closed.
func (c *Controller) deliver(m *pb.Message) bool {
	select {
	case c.recvc <- m:
		return true
	case <-c.donec:
		return false
	}
}

// barrier returns once the loop has handled everything it received before
// and the Ready that followed (tests use it to reach a quiet state).
func (c *Controller) barrier() bool {
	ch := make(chan struct{})
	select {
	case c.barrierc <- ch:
	case <-c.donec:
		return false
	}
	select {
	case <-ch:
		return true
	case <-c.donec:
		return false
	}
}

func (c *Controller) changedCh() chan struct{} {
	c.st.Lock()
	defer c.st.Unlock()
	return c.st.changed
}

func (c *Controller) notify() {
	c.st.Lock()
	defer c.st.Unlock()
	close(c.st.changed)
	c.st.changed = make(chan struct{})
}

func (c *Controller) resolve(id uint64, err error) {
	c.st.Lock()
	ch, ok := c.st.pending[id]
	delete(c.st.pending, id)
	c.st.Unlock()
	if ok {
		ch <- err
	}
}

func (c *Controller) failPending() {
	c.st.Lock()
	defer c.st.Unlock()
	for id, ch := range c.st.pending {
		ch <- c.stoppedErrLocked()
		delete(c.st.pending, id)
	}
}

func (c *Controller) stoppedErr() error {
	c.st.Lock()
	defer c.st.Unlock()
	return c.stoppedErrLocked()
}

func (c *Controller) stoppedErrLocked() error {
	if c.st.loopErr != nil {
		return fmt.Errorf("%w: %v", model.ErrStorage, c.st.loopErr)
	}
	return fmt.Errorf("%w: controller", model.ErrClosed)
}

// waitFor waits until pred holds, re-checking on every change the loop
// publishes.
func (c *Controller) waitFor(ctx context.Context, pred func() bool) error {
	for {
		ch := c.changedCh()
		if pred() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		case <-c.donec:
			return c.stoppedErr()
		}
	}
}

// commit proposes recs as one entry and waits until this node applies it
// (nil) or rejects it at apply (the rejection). Unless forward is set, only
// a ready leader proposes: a follower answers *NotControllerError at once,
// and a node that is electing waits for the outcome. After a timeout the
// entry may still be committed later.
func (c *Controller) commit(ctx context.Context, recs []Record, forward bool) error {
	if len(recs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	if !forward {
		var notLeader error
		err := c.waitFor(ctx, func() bool {
			lead := c.leader.Load()
			if lead >= 0 && lead != c.cfg.NodeID {
				notLeader = &NotControllerError{NodeID: c.cfg.NodeID, LeaderID: lead}
				return true
			}
			return lead == c.cfg.NodeID && c.leaderReady.Load()
		})
		if notLeader != nil {
			return notLeader
		}
		if err != nil {
			return fmt.Errorf("controlplane: no ready leader: %w", err)
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := binary.BigEndian.Uint64(b[:])
	data, err := EncodeEntry(id, recs)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	c.st.Lock()
	c.st.pending[id] = done
	c.st.Unlock()
	forget := func() {
		c.st.Lock()
		delete(c.st.pending, id)
		c.st.Unlock()
	}
	lead := c.leader.Load()
	select {
	case c.propc <- proposal{id: id, data: data}:
	case <-ctx.Done():
		forget()
		return fmt.Errorf("%w: proposing: %w", ErrTimeout, ctx.Err())
	case <-c.donec:
		forget()
		return c.stoppedErr()
	}
	// A proposal sent to a leader that then died or lost its term is
	// dropped without a word; waiting for it would hold this node's
	// commands (cmdMu) for the whole timeout. When the leader changes
	// before the entry applies, the command fails like a timeout (it may
	// still apply) and the client retries against the new leader.
	for {
		changed := c.changedCh()
		if now := c.leader.Load(); now != lead {
			select {
			case err := <-done:
				return err
			default:
			}
			forget()
			return fmt.Errorf("%w: the metadata quorum leader changed from %d to %d before the entry applied", ErrTimeout, lead, now)
		}
		select {
		case err := <-done:
			return err
		case <-changed:
		case <-ctx.Done():
			forget()
			return fmt.Errorf("%w: entry not applied: %w", ErrTimeout, ctx.Err())
		case <-c.donec:
			select {
			case err := <-done:
				return err
			default:
			}
			forget()
			return c.stoppedErr()
		}
	}
}

// raftLogger sends raft's log lines to slog: debug and info at debug level,
// so a healthy quorum is quiet.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)              { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(f string, v ...any)   { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Info(v ...any)               { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.l.Warn(fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.l.Error(fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { r.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)   { r.Fatal(fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
