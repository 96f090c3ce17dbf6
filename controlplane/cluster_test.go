// These tests prove that the controller runs a real raft quorum: three
// voters on an in-memory network that delivers messages only when the test
// says so (and can drop or partition them) elect a leader, apply the same
// entries in the same order, refuse commands on followers, survive the loss
// of the leader, keep a partitioned leader from committing, and rebuild the
// same image from their data dirs, snapshots included.
package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// fakeNet queues every message sent; deliverAll hands them over.
type fakeNet struct {
	mu      sync.Mutex
	queue   []*pb.Message
	deliver map[uint64]func(*pb.Message) bool
	cut     map[[2]uint64]bool // from, to
	// learners are the non-voters; every transport lists those running as
	// connected, as a voter's TCP transport lists the learners that dialed
	// it.
	learners map[int32]bool
}

func newFakeNet() *fakeNet {
	return &fakeNet{deliver: map[uint64]func(*pb.Message) bool{}, cut: map[[2]uint64]bool{}, learners: map[int32]bool{}}
}

type fakeTransport struct {
	net *fakeNet
	id  uint64
}

func (n *fakeNet) transport(node int32) NewTransportFunc {
	return func(deliver func(*pb.Message) bool) (Transport, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.deliver[raftID(node)] = deliver
		return &fakeTransport{net: n, id: raftID(node)}, nil
	}
}

func (t *fakeTransport) Send(msgs []*pb.Message) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	for _, m := range msgs {
		t.net.queue = append(t.net.queue, proto.Clone(m).(*pb.Message))
	}
}

func (t *fakeTransport) Learners() []int32 {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	var ids []int32
	for id := range t.net.learners {
		if t.net.deliver[raftID(id)] != nil && !t.net.cut[[2]uint64{raftID(id), t.id}] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (t *fakeTransport) Close() error {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	delete(t.net.deliver, t.id)
	return nil
}

// partition cuts every link between a and the others, both ways.
func (n *fakeNet) partition(a int32, others ...int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range others {
		n.cut[[2]uint64{raftID(a), raftID(b)}] = true
		n.cut[[2]uint64{raftID(b), raftID(a)}] = true
	}
}

// cutOneWay drops the messages from a to b only.
func (n *fakeNet) cutOneWay(a, b int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[[2]uint64{raftID(a), raftID(b)}] = true
}

func (n *fakeNet) heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = map[[2]uint64]bool{}
}

// deliverAll delivers the queued messages, dropping those on cut links or
// to stopped nodes, and reports whether there were any.
func (n *fakeNet) deliverAll() bool {
	n.mu.Lock()
	q := n.queue
	n.queue = nil
	n.mu.Unlock()
	for _, m := range q {
		n.mu.Lock()
		d := n.deliver[m.GetTo()]
		cut := n.cut[[2]uint64{m.GetFrom(), m.GetTo()}]
		n.mu.Unlock()
		if d != nil && !cut {
			d(m)
		}
	}
	return len(q) > 0
}

type testCluster struct {
	t   *testing.T
	net *fakeNet
	ids []int32 // the voters
	// learnerIDs are brokers that are not voters (addLearner).
	learnerIDs []int32
	// controllerOnly voters do not register as brokers.
	controllerOnly map[int32]bool
	dirs           map[int32]string
	nodes          map[int32]*Controller
	ticks          map[int32]chan time.Time
	tweak          func(*Config)
}

func newTestCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	tc := &testCluster{t: t, net: newFakeNet(), dirs: map[int32]string{}, nodes: map[int32]*Controller{},
		ticks: map[int32]chan time.Time{}, tweak: tweak, controllerOnly: map[int32]bool{}}
	for i := 1; i <= n; i++ {
		tc.ids = append(tc.ids, int32(i))
		tc.dirs[int32(i)] = t.TempDir()
	}
	for _, id := range tc.ids {
		tc.start(id)
	}
	t.Cleanup(func() {
		for _, c := range tc.nodes {
			c.Close()
		}
	})
	return tc
}

func (tc *testCluster) start(id int32) {
	tc.t.Helper()
	voters := map[int32]string{}
	for _, v := range tc.ids {
		voters[v] = fmt.Sprintf("node%d:9093", v)
	}
	ticks := make(chan time.Time)
	cfg := Config{
		Dir: tc.dirs[id], NodeID: id, ClusterID: "test-cluster",
		Endpoints:         []Endpoint{{Name: "PLAINTEXT", Host: fmt.Sprintf("node%d", id), Port: 9092}},
		DefaultPartitions: 1, DefaultReplicationFactor: 1,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Voters:       voters,
		NewTransport: tc.net.transport(id),
		Ticks:        ticks, Tick: 10 * time.Millisecond,
		CommandTimeout: 5 * time.Second,
		ControllerOnly: tc.controllerOnly[id],
	}
	if tc.tweak != nil {
		tc.tweak(&cfg)
	}
	// Open waits for the local replay only, which needs no network.
	c, err := Open(cfg)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.nodes[id] = c
	tc.ticks[id] = ticks
}

// addLearner starts a broker that is not a voter.
func (tc *testCluster) addLearner(id int32) {
	tc.t.Helper()
	tc.learnerIDs = append(tc.learnerIDs, id)
	tc.dirs[id] = tc.t.TempDir()
	tc.net.mu.Lock()
	tc.net.learners[id] = true
	tc.net.mu.Unlock()
	tc.start(id)
}

func (tc *testCluster) stop(id int32) {
	tc.nodes[id].Close()
	delete(tc.nodes, id)
}

// stabilize delivers messages until every node is quiet.
func (tc *testCluster) stabilize() {
	for range 1000 {
		for _, c := range tc.nodes {
			c.barrier()
		}
		if !tc.net.deliverAll() {
			return
		}
	}
	tc.t.Fatal("network did not quiesce")
}

// tick ticks every running node once, then stabilizes.
func (tc *testCluster) tick() {
	for _, id := range append(slices.Clone(tc.ids), tc.learnerIDs...) {
		if c, ok := tc.nodes[id]; ok {
			select {
			case tc.ticks[id] <- time.Now():
			case <-c.donec:
			}
		}
	}
	tc.stabilize()
}

// until ticks until cond holds.
func (tc *testCluster) until(what string, cond func() bool) {
	tc.t.Helper()
	for range 500 {
		if cond() {
			return
		}
		tc.tick()
	}
	tc.t.Fatalf("never reached: %s", what)
}

// leader waits for a ready leader among the running nodes (in the given
// set, if any) and returns it.
func (tc *testCluster) leader(among ...int32) int32 {
	tc.t.Helper()
	if len(among) == 0 {
		among = tc.ids
	}
	lead := int32(-1)
	tc.until("a ready leader", func() bool {
		for _, id := range among {
			if c, ok := tc.nodes[id]; ok && c.Status().Ready {
				lead = id
				return true
			}
		}
		return false
	})
	return lead
}

// do runs fn while pumping the network (without ticks) until fn returns.
func (tc *testCluster) do(fn func()) {
	tc.t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-done:
			tc.stabilize()
			return
		case <-deadline:
			tc.t.Fatal("command did not return")
		default:
		}
		tc.stabilize()
		time.Sleep(time.Millisecond) // let fn's goroutine reach the loop
	}
}

func (tc *testCluster) createTopic(on int32, name string, rf int16) error {
	var err error
	tc.do(func() {
		res := tc.nodes[on].CreateTopics(context.Background(), []CreateTopic{{Name: name, NumPartitions: 2, ReplicationFactor: rf}}, false)
		err = res[0].Err
	})
	return err
}

func (tc *testCluster) allRegistered() bool {
	want := len(tc.nodes) - len(tc.controllerOnly)
	for _, c := range tc.nodes {
		if len(c.Image().Brokers) != want {
			return false
		}
		for _, b := range c.Image().Brokers {
			if b.Fenced {
				return false
			}
		}
	}
	return true
}

func snapshotBytes(t *testing.T, im *Image) []byte {
	t.Helper()
	b, err := im.marshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameImages checks that every running node built byte-identical images.
func (tc *testCluster) sameImages() {
	tc.t.Helper()
	var first []byte
	var firstID int32
	for id, c := range tc.nodes {
		b := snapshotBytes(tc.t, c.Image())
		if first == nil {
			first, firstID = b, id
			continue
		}
		if !bytes.Equal(b, first) {
			tc.t.Fatalf("node %d image differs from node %d:\n%s\n%s", id, firstID, b, first)
		}
	}
}

func TestClusterElectsAndReplicatesInOrder(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.until("all brokers registered", tc.allRegistered)
	for i := range 5 {
		if err := tc.createTopic(lead, fmt.Sprintf("t%d", i), 3); err != nil {
			t.Fatal(err)
		}
	}
	tc.until("followers applied", func() bool {
		for _, c := range tc.nodes {
			if c.Image().Offset != tc.nodes[lead].Image().Offset {
				return false
			}
		}
		return true
	})
	tc.sameImages()
	for id, c := range tc.nodes {
		im := c.Image()
		if len(im.Topics) != 5 || im.ControllerID != lead {
			t.Fatalf("node %d: %d topics, controller %d (leader %d)", id, len(im.Topics), im.ControllerID, lead)
		}
		if got := im.Topics["t0"].Partitions[0].Replicas; len(got) != 3 {
			t.Fatalf("node %d: replicas %v", id, got)
		}
	}
}

// Topic commands work on every node, as Kafka's brokers forward them to
// the active controller: a follower's entry goes to the leader through
// raft, and a plan made from a lagging image is rejected at apply.
func TestFollowerForwardsCommands(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.until("all brokers registered", tc.allRegistered)
	var fol []int32
	for _, id := range tc.ids {
		if id != lead {
			fol = append(fol, id)
		}
	}
	if err := tc.createTopic(fol[0], "fromfollower", 3); err != nil {
		t.Fatal(err)
	}
	tc.stabilize()
	for id, c := range tc.nodes {
		if c.Image().Topics["fromfollower"] == nil {
			t.Fatalf("node %d lacks the topic a follower created", id)
		}
	}
	if err := tc.createTopic(fol[1], "fromfollower", 3); !errors.Is(err, model.ErrTopicAlreadyExists) {
		t.Fatalf("second create on another follower: %v, want ErrTopicAlreadyExists", err)
	}
	// A create planned on one follower before another follower's create
	// of the same name is refused when applied.
	c := tc.nodes[fol[1]]
	c.cmdMu.Lock()
	recs, _, err := c.planTopicLocked(CreateTopic{Name: "raced", NumPartitions: 1, ReplicationFactor: 1})
	c.cmdMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.createTopic(fol[0], "raced", 3); err != nil {
		t.Fatal(err)
	}
	tc.do(func() { err = c.commitAnywhere(context.Background(), recs) })
	if !errors.Is(err, model.ErrTopicAlreadyExists) {
		t.Fatalf("stale plan: %v, want ErrTopicAlreadyExists at apply", err)
	}
}

// Producer ids are handed out by every node (any broker answers
// InitProducerId): a follower claims its block through the leader, and no
// two nodes get the same id.
func TestFollowerAllocatesProducerIDs(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	tc.leader()
	tc.stabilize()
	seen := map[model.ProducerID]int32{}
	for _, id := range tc.ids {
		var pid model.ProducerID
		var err error
		tc.do(func() { pid, err = tc.nodes[id].AllocateProducerID(context.Background()) })
		if err != nil {
			t.Fatalf("node %d: AllocateProducerID: %v", id, err)
		}
		if other, dup := seen[pid]; dup {
			t.Fatalf("producer id %d handed to nodes %d and %d", pid, other, id)
		}
		seen[pid] = id
	}
}

func TestLeaderLossElectsNewLeader(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.until("all brokers registered", tc.allRegistered)
	if err := tc.createTopic(lead, "before", 1); err != nil {
		t.Fatal(err)
	}
	tc.stop(lead)
	var rest []int32
	for _, id := range tc.ids {
		if id != lead {
			rest = append(rest, id)
		}
	}
	next := tc.leader(rest...)
	if next == lead {
		t.Fatal("stopped node still leads")
	}
	if err := tc.createTopic(next, "after", 1); err != nil {
		t.Fatal(err)
	}
	tc.stabilize()
	for _, id := range rest {
		im := tc.nodes[id].Image()
		if im.Topics["before"] == nil || im.Topics["after"] == nil || im.ControllerID != next {
			t.Fatalf("node %d: topics %v, controller %d", id, im.TopicNames(), im.ControllerID)
		}
	}
	// The old leader comes back as a follower and catches up.
	tc.start(lead)
	tc.until("old leader caught up", func() bool { return tc.nodes[lead].Image().Topics["after"] != nil })
	tc.sameImages()
}

func TestPartitionedLeaderCannotCommit(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.CommandTimeout = 2 * time.Second })
	lead := tc.leader()
	tc.until("all brokers registered", tc.allRegistered)
	var rest []int32
	for _, id := range tc.ids {
		if id != lead {
			rest = append(rest, id)
		}
	}
	tc.net.partition(lead, rest...)
	oldErr := make(chan error, 1)
	go func() {
		res := tc.nodes[lead].CreateTopics(context.Background(), []CreateTopic{{Name: "minority", NumPartitions: 1, ReplicationFactor: 1}}, false)
		oldErr <- res[0].Err
	}()
	// The majority elects a new leader and commits.
	next := tc.leader(rest...)
	if err := tc.createTopic(next, "majority", 1); err != nil {
		t.Fatal(err)
	}
	// The old leader steps down (check quorum) and its command fails.
	tc.until("partitioned leader steps down", func() bool { return !tc.nodes[lead].Status().Ready })
	var err error
	tc.do(func() { err = <-oldErr })
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("partitioned leader's command: %v, want ErrTimeout", err)
	}
	tc.net.heal()
	tc.until("healed node caught up", func() bool { return tc.nodes[lead].Image().Topics["majority"] != nil })
	tc.stabilize()
	tc.sameImages()
	for id, c := range tc.nodes {
		if c.Image().Topics["minority"] != nil {
			t.Fatalf("node %d has the topic proposed by the partitioned leader", id)
		}
	}
}

func TestClusterRestartReplaysSameImage(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.SnapshotEntries = 4 })
	lead := tc.leader()
	tc.until("all brokers registered", tc.allRegistered)
	for i := range 3 {
		if err := tc.createTopic(lead, fmt.Sprintf("a%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	// A follower misses entries past a snapshot, so it needs the snapshot.
	var lag int32
	for _, id := range tc.ids {
		if id != lead {
			lag = id
		}
	}
	tc.stop(lag)
	for i := range 8 {
		if err := tc.createTopic(lead, fmt.Sprintf("b%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(tc.dirs[lead], metadataDirName, snapshotName)); err != nil {
		t.Fatalf("leader wrote no snapshot: %v", err)
	}
	tc.start(lag)
	tc.until("lagging node caught up", func() bool { return tc.nodes[lag].Image().Topics["b7"] != nil })
	tc.stabilize()
	tc.sameImages()
	// Every node restarts from its data dir to the same image.
	want := snapshotBytes(t, tc.nodes[lead].Image())
	for _, id := range tc.ids {
		tc.stop(id)
	}
	for _, id := range tc.ids {
		tc.start(id)
		if got := snapshotBytes(t, tc.nodes[id].Image()); !bytes.Equal(got, want) {
			t.Fatalf("node %d after restart:\n%s\nwant\n%s", id, got, want)
		}
	}
	next := tc.leader()
	if err := tc.createTopic(next, "c", 1); err != nil {
		t.Fatal(err)
	}
}

func TestRacingCreatesRejectedAtApply(t *testing.T) {
	c := openTest(t, t.TempDir())
	ctx := context.Background()
	// Two plans from the same image, as two leaders' terms or two racing
	// requests could make: the entry applied second is rejected.
	c.cmdMu.Lock()
	recs1, _, err1 := c.planTopicLocked(CreateTopic{Name: "dup", NumPartitions: 1, ReplicationFactor: 1})
	recs2, _, err2 := c.planTopicLocked(CreateTopic{Name: "dup", NumPartitions: 2, ReplicationFactor: 1})
	c.cmdMu.Unlock()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, recs := range [][]Record{recs1, recs2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.commit(ctx, recs, false)
		}()
	}
	wg.Wait()
	ok, exists := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, model.ErrTopicAlreadyExists):
			exists++
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 || exists != 1 {
		t.Fatalf("results %v", errs)
	}
	if c.Image().Topics["dup"] == nil {
		t.Fatal("no topic")
	}
}

func TestSnapshotCompactsLog(t *testing.T) {
	dir := t.TempDir()
	open := func() *Controller {
		c, err := Open(Config{Dir: dir, NodeID: 0, ClusterID: "c", SnapshotEntries: 5,
			DefaultPartitions: 1, DefaultReplicationFactor: 1,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open()
	for i := range 12 {
		if r := c.CreateTopics(context.Background(), []CreateTopic{{Name: fmt.Sprintf("t%d", i), NumPartitions: -1, ReplicationFactor: -1}}, false); r[0].Err != nil {
			t.Fatal(r[0].Err)
		}
	}
	want := snapshotBytes(t, c.Image())
	c.Close()
	_, ld, err := openRaftDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	si := ld.snap.GetMetadata().GetIndex()
	if si < 10 || len(ld.entries) >= 5 {
		t.Fatalf("snapshot at %d, %d entries kept", si, len(ld.entries))
	}
	c = open()
	defer c.Close()
	if got := snapshotBytes(t, c.Image()); !bytes.Equal(got, want) {
		t.Fatalf("after restart:\n%s\nwant\n%s", got, want)
	}
}

func TestOldFormatRefused(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, metadataDirName), 0o755)
	os.WriteFile(filepath.Join(dir, metadataDirName, legacyLogName), []byte("old"), 0o644)
	_, err := Open(Config{Dir: dir, NodeID: 1, ClusterID: "c", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("pre-raft")) {
		t.Fatalf("got %v", err)
	}
	// A log file without our magic is not read either.
	dir = t.TempDir()
	os.MkdirAll(filepath.Join(dir, metadataDirName), 0o755)
	os.WriteFile(filepath.Join(dir, metadataDirName, metadataLogName), []byte("garbage!garbage!"), 0o644)
	if _, err := Open(Config{Dir: dir, NodeID: 1, ClusterID: "c"}); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("got %v", err)
	}
}
