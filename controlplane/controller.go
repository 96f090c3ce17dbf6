package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringtail/ringtail/model"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Limits.
const (
	// maxTopicNameLen is Kafka's limit (249, so that "<topic>-<partition>"
	// and ".delete" suffixes fit a file name).
	maxTopicNameLen = 249
	// maxPartitionsPerTopic bounds one CreateTopics/CreatePartitions.
	maxPartitionsPerTopic = 100000
	// producerIDBlockSize is how many producer ids one ProducerIDsRecord hands out.
	producerIDBlockSize = 1000
)

// Config configures a Controller. The fields after Logger are for the raft
// quorum; left zero they give a single voter, this node, with no listener.
type Config struct {
	// Dir is the data dir; the log lives in Dir/__cluster_metadata-0.
	Dir       string
	NodeID    int32
	ClusterID string
	// Endpoints and Rack are this node's broker registration.
	Endpoints []Endpoint
	Rack      string
	// DefaultPartitions and DefaultReplicationFactor apply when a request
	// says -1 (num.partitions, default.replication.factor).
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	// ValidateTopicConfig checks one topic config key and value; its error
	// should wrap model.ErrInvalidConfig.
	ValidateTopicConfig func(key, value string) error
	// ValidateTopicConfigs, when set, checks a topic's whole set of
	// overrides after each key passed (rules between keys, such as
	// min.compaction.lag.ms <= max.compaction.lag.ms); its error should
	// wrap model.ErrInvalidConfig.
	ValidateTopicConfigs func(configs map[string]string) error
	Logger               *slog.Logger

	// Voters maps each voter's node id to its controller address
	// (controller.quorum.voters). Empty: this node alone. A node that is
	// not among them is a broker that follows the log as a raft learner:
	// it dials every voter, and the active controller adds it to the raft
	// configuration as a learner when it connects.
	Voters map[int32]string
	// ControllerOnly is set on a node whose process.roles is only
	// controller: it votes and applies the log but never registers as a
	// broker, so no partition is placed on it. It must be a voter.
	ControllerOnly bool
	// Listener is this node's controller listener, needed on a voter of a
	// quorum of more than one unless NewTransport is set. Learners have
	// none. The controller closes it.
	Listener net.Listener
	// ServerTLS and ClientTLS make the TCP transport speak TLS (the
	// controller listener is SSL); see TCPConfig.
	ServerTLS, ClientTLS *tls.Config
	// NewTransport replaces the TCP transport (tests: an in-memory network).
	NewTransport NewTransportFunc
	// Tick is the raft tick (default 100ms). Ticks, when set, replaces the
	// ticker: each value received is one tick (tests tick by hand).
	Tick  time.Duration
	Ticks <-chan time.Time
	// ElectionTicks and HeartbeatTicks are raft's (defaults 10 and 1).
	ElectionTicks, HeartbeatTicks int
	// CommandTimeout bounds how long a command waits for a leader and for
	// its entry to apply (default 10s).
	CommandTimeout time.Duration
	// SnapshotEntries is how many applied entries trigger a snapshot of the
	// image and a compaction of the entry log (default 1000).
	SnapshotEntries uint64
	// HeartbeatInterval is how often this node checks its own broker
	// registration (default 2s, broker.heartbeat.interval.ms);
	// SessionTimeout is how long the active controller waits without
	// hearing from a broker before fencing it (default 9s,
	// broker.session.timeout.ms). Now is the clock (default time.Now).
	HeartbeatInterval, SessionTimeout time.Duration
	Now                               func() time.Time
	// ElectLeader picks partition leaders when brokers are fenced or come
	// back (replication.ElectLeader). Nil: leadership never moves.
	ElectLeader ElectFunc
	// CheckLocalReplicas, when set, is asked before a CreateTopics or
	// CreatePartitions is committed how many new partition replicas it
	// places on this node; an error (which should wrap
	// model.ErrPolicyViolation) refuses the command. The daemon checks its
	// open file limit, so that a topic is not created that this node
	// could not open.
	CheckLocalReplicas func(added int) error

	refused chan error // from the TCP transport's OnRefused
}

// ErrRefused means the voters refuse this node for a configuration error
// (another cluster id, a voter list that differs, a node id in use): it
// cannot join until its config is fixed.
var ErrRefused = errors.New("controlplane: refused by the controller quorum")

// Refused yields an error wrapping ErrRefused when a majority of the
// voters refuse this node's handshake; the node should stop with it.
func (c *Controller) Refused() <-chan error { return c.cfg.refused }

// ErrNotController is returned (wrapped in a *NotControllerError) by a
// command sent to a voter that is not the raft leader.
var ErrNotController = errors.New("controlplane: not the active controller")

// ErrTimeout means a command's entry was not applied in time: no leader, no
// quorum (a partitioned leader), or a slow disk. The command may still take
// effect later.
var ErrTimeout = errors.New("controlplane: timed out waiting for the metadata quorum")

// NotControllerError says which node is the leader, when known.
type NotControllerError struct {
	NodeID   int32
	LeaderID int32 // -1: no leader known
}

func (e *NotControllerError) Error() string {
	if e.LeaderID < 0 {
		return fmt.Sprintf("controlplane: node %d is not the active controller, and no leader is known", e.NodeID)
	}
	return fmt.Sprintf("controlplane: node %d is not the active controller; node %d is", e.NodeID, e.LeaderID)
}

// Is makes errors.Is(err, ErrNotController) hold.
func (e *NotControllerError) Is(target error) bool { return target == ErrNotController }

// Controller accepts metadata commands, proposes them as raft entries and
// publishes the Image that the applied entries build. One goroutine, the
// controller loop (raft.go), owns the raft node, the storage and the
// transport; commands reach it through channels. Commands on this node are
// serialised by cmdMu: the controller is not on any data path.
type Controller struct {
	cfg   Config
	self  uint64 // raft id
	image atomic.Pointer[Image]
	// soleVoter: this node is the whole quorum. learner: this node is not
	// a voter, and follows the log as a raft learner.
	soleVoter, learner bool
	// incarnation names this process's broker registration: with several
	// voters every start registers anew, so that the image holding it
	// proves this node has applied the log past everything decided while
	// it was down.
	incarnation UUID
	// shuttingDown stops heartbeatLoop from registering again after
	// ControlledShutdown fenced this node.
	shuttingDown atomic.Bool

	cmdMu sync.Mutex
	// pidNext and pidEnd are this node's current producer-id block, guarded
	// by cmdMu.
	pidNext, pidEnd int64

	subMu       sync.Mutex
	subscribers []func(old, new *Image)

	// Published by the loop for commands.
	leader      atomic.Int32  // node id, -1 unknown
	leaderReady atomic.Bool   // leader with its term's first entry applied
	term        atomic.Uint64 // raft term (Kafka's quorum epoch)
	applied     atomic.Uint64
	st          struct {
		sync.Mutex
		changed chan struct{} // closed and replaced on every change
		pending map[uint64]chan error
		loopErr error
	}

	propc    chan proposal
	recvc    chan *pb.Message
	barrierc chan chan struct{}
	readc    chan chan error // CatchUp's reads (readindex.go)
	stopc    chan struct{}
	donec    chan struct{}
	wg       sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	ticker    *time.Ticker

	loop loopState // owned by the controller loop

	// live is the active controller's view of broker liveness, written by
	// the controller loop (brokers.go).
	live struct {
		sync.Mutex
		leader  bool
		term    uint64
		contact map[int32]time.Time
		// match is each replica's raft Match index, sampled with contact
		// on the leader (nil elsewhere): DescribeQuorum's log end offsets.
		match map[int32]uint64
	}
}

// Open recovers the raft storage, starts the controller loop and waits
// until the image holds everything this node had committed. A single voter
// then elects itself and registers this node as a broker before Open
// returns; with several voters, registration goes on in the background once
// a leader is known.
func Open(cfg Config) (*Controller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ValidateTopicConfig == nil {
		cfg.ValidateTopicConfig = func(string, string) error { return nil }
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.HeartbeatTicks <= 0 {
		cfg.HeartbeatTicks = 1
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	if cfg.SnapshotEntries == 0 {
		cfg.SnapshotEntries = 1000
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 9 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NodeID < 0 {
		return nil, fmt.Errorf("controlplane: node id %d: must be 0 or more", cfg.NodeID)
	}
	if len(cfg.Voters) == 0 {
		cfg.Voters = map[int32]string{cfg.NodeID: ""}
	}
	_, voter := cfg.Voters[cfg.NodeID]
	if !voter && cfg.ControllerOnly {
		return nil, fmt.Errorf("controlplane: node %d is controller-only but not among the voters (%s)", cfg.NodeID, votersString(cfg.Voters))
	}
	soleVoter := voter && len(cfg.Voters) == 1
	if !soleVoter && cfg.NewTransport == nil {
		if voter && cfg.Listener == nil {
			return nil, fmt.Errorf("controlplane: %d voters (%s) need this node's controller listener", len(cfg.Voters), votersString(cfg.Voters))
		}
		refused := make(chan error, 1)
		cfg.NewTransport = NewTCPTransport(TCPConfig{ClusterID: cfg.ClusterID, NodeID: cfg.NodeID, Voters: cfg.Voters, Listener: cfg.Listener, Logger: cfg.Logger,
			ServerTLS: cfg.ServerTLS, ClientTLS: cfg.ClientTLS,
			OnRefused: func(reason string) {
				refused <- fmt.Errorf("%w: a majority of the voters (%s) refuse node %d: %s", ErrRefused, votersString(cfg.Voters), cfg.NodeID, reason)
			}})
		cfg.refused = refused
	}
	c := &Controller{
		cfg: cfg, self: raftID(cfg.NodeID), incarnation: NewUUID(),
		propc: make(chan proposal), recvc: make(chan *pb.Message), barrierc: make(chan chan struct{}),
		readc: make(chan chan error),
		stopc: make(chan struct{}), donec: make(chan struct{}),
		soleVoter: soleVoter, learner: !voter,
	}
	c.leader.Store(-1)
	c.st.changed = make(chan struct{})
	c.st.pending = map[uint64]chan error{}
	initialCommit, err := c.recover()
	if err != nil {
		return nil, err
	}
	if cfg.NewTransport != nil {
		tr, err := cfg.NewTransport(c.deliver)
		if err != nil {
			c.loop.disk.close()
			return nil, err
		}
		c.loop.tr = tr
	} else {
		c.loop.tr = nopTransport{}
	}
	if cfg.Ticks != nil {
		c.loop.ticks = cfg.Ticks
	} else {
		c.ticker = time.NewTicker(cfg.Tick)
		c.loop.ticks = c.ticker.C
	}
	if soleVoter {
		// A quorum of one need not wait an election timeout.
		_ = c.loop.rn.Campaign()
	}
	go c.run()

	ctx, cancel := context.WithTimeout(context.Background(), cfg.CommandTimeout)
	defer cancel()
	if err := c.waitFor(ctx, func() bool { return c.applied.Load() >= initialCommit }); err != nil {
		c.Close()
		return nil, fmt.Errorf("controlplane: replaying the metadata log: %w", err)
	}
	im := c.Image()
	cfg.Logger.Info("metadata log replayed", "applied_index", c.applied.Load(), "image_offset", im.Offset, "topics", len(im.Topics))
	if soleVoter && !cfg.ControllerOnly {
		if err := c.register(ctx, false); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.wg.Add(1)
	go c.fenceLoop()
	if !cfg.ControllerOnly {
		c.wg.Add(1)
		go c.heartbeatLoop()
	}
	return c, nil
}

// Image is the current metadata image. Never modify it.
func (c *Controller) Image() *Image { return c.image.Load() }

// Subscribe calls fn with the old and new image after every applied change,
// on the controller loop, in log order. fn must not call the controller's
// commands (they wait on the loop that is calling fn).
func (c *Controller) Subscribe(fn func(old, new *Image)) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	c.subscribers = append(c.subscribers, fn)
}

// QuorumStatus is this node's view of the metadata quorum.
type QuorumStatus struct {
	NodeID   int32
	LeaderID int32 // -1: unknown
	// Ready means this node is the leader and has applied its term's first
	// entry, so it accepts commands.
	Ready   bool
	Applied uint64 // raft index
	Term    uint64 // raft term, the quorum's epoch
}

// ReplicaProgress is the quorum leader's view of one voter's or broker's
// copy of the metadata log.
type ReplicaProgress struct {
	Match       uint64    // the raft index it is known to hold
	LastContact time.Time // when the leader last heard from it
}

// Progress is, on the quorum leader, its own last raft index and every
// replica's progress (voters and the brokers that follow as learners),
// as of the last tick; ok is false on any other node.
func (c *Controller) Progress() (last uint64, replicas map[int32]ReplicaProgress, ok bool) {
	c.live.Lock()
	defer c.live.Unlock()
	if !c.live.leader || c.live.match == nil {
		return 0, nil, false
	}
	replicas = make(map[int32]ReplicaProgress, len(c.live.match))
	for id, m := range c.live.match {
		replicas[id] = ReplicaProgress{Match: m, LastContact: c.live.contact[id]}
	}
	return c.live.match[c.cfg.NodeID], replicas, true
}

// Status reports this node's view of the quorum.
func (c *Controller) Status() QuorumStatus {
	return QuorumStatus{NodeID: c.cfg.NodeID, LeaderID: c.leader.Load(), Ready: c.leaderReady.Load(), Applied: c.applied.Load(), Term: c.term.Load()}
}

// Close stops the controller loop, the transport (and the controller
// listener) and closes the log. Commands in flight fail with model.ErrClosed.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		close(c.stopc)
		<-c.donec
		c.wg.Wait()
		if c.ticker != nil {
			c.ticker.Stop()
		}
		err1 := c.loop.tr.Close()
		err2 := c.loop.disk.close()
		c.closeErr = errors.Join(err1, err2)
	})
	return c.closeErr
}

func (c *Controller) register(ctx context.Context, forward bool) error {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	im := c.image.Load()
	if c.registered(im) && !c.staleOffline(im) {
		return nil
	}
	var epoch int64 = im.Offset + 1
	return c.commit(ctx, []Record{{Type: RecRegisterBroker, RegisterBroker: &RegisterBrokerRecord{
		BrokerID: c.cfg.NodeID, BrokerEpoch: epoch, Incarnation: c.incarnation,
		Endpoints: slices.Clone(c.cfg.Endpoints), Rack: c.cfg.Rack,
	}}}, forward)
}

func (c *Controller) registered(im *Image) bool {
	b, ok := im.Brokers[c.cfg.NodeID]
	if !ok {
		return false
	}
	// A quorum of one has nothing to catch up on after its replay, and
	// keeps its registration across restarts.
	fresh := c.soleVoter || b.Incarnation == c.incarnation
	return fresh && slices.Equal(b.Endpoints, c.cfg.Endpoints) && b.Rack == c.cfg.Rack && !b.Fenced
}

// staleOffline reports whether the image holds offline replicas of this
// node recorded by an earlier process: a quorum of one keeps its
// registration across restarts, but registers anew at Open when a failed
// log dir of the previous process is on record, which clears it.
func (c *Controller) staleOffline(im *Image) bool {
	b, ok := im.Brokers[c.cfg.NodeID]
	return ok && len(b.Offline) > 0 && b.Incarnation != c.incarnation
}

// Registered reports whether the image holds this process's own broker
// registration, unfenced. Until it does, the image may be older than what
// the quorum decided while this node was down (leaders moved away), so the
// node must not act as a partition leader on it.
func (c *Controller) Registered() bool { return c.registered(c.image.Load()) }

// AwaitServing waits until this node may serve clients: the quorum has a
// leader, this node has applied the log as far as the quorum had committed
// (CatchUp) and, unless it is controller-only, its own broker registration
// is in the image (registration goes on in the background). Bounded by ctx
// and the command timeout; on failure the caller may call again.
func (c *Controller) AwaitServing(ctx context.Context) error {
	if !c.cfg.ControllerOnly {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
		defer cancel()
		if err := c.waitFor(ctx, func() bool { return c.registered(c.image.Load()) }); err != nil {
			return fmt.Errorf("controlplane: not registered as a broker yet (quorum leader %d): %w", c.leader.Load(), err)
		}
	}
	return c.CatchUp(ctx)
}

// catchUpToPlan brings the image up to what the quorum has committed
// before a command is planned on it: a topic or broker registered through
// another node a moment ago is then seen, and the plan is not refused at
// apply as stale (or placed on too few brokers). A sole voter's image is
// always current.
func (c *Controller) catchUpToPlan(ctx context.Context) error {
	if c.soleVoter {
		return nil
	}
	return c.CatchUp(ctx)
}

// ValidateTopicName applies Kafka's rules for topic names.
func ValidateTopicName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: topic name is empty", model.ErrInvalidTopic)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: topic name cannot be %q", model.ErrInvalidTopic, name)
	}
	if len(name) > maxTopicNameLen {
		return fmt.Errorf("%w: topic name is %d characters; the limit is %d", model.ErrInvalidTopic, len(name), maxTopicNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: topic name %q contains %q; valid characters are ASCII letters, digits, '.', '_' and '-'", model.ErrInvalidTopic, name, r)
		}
	}
	return nil
}

// CreateTopic is one topic of a CreateTopics command.
type CreateTopic struct {
	Name              string
	NumPartitions     int32 // -1: default
	ReplicationFactor int16 // -1: default
	// Assignments, when set, gives the replicas of each partition
	// (NumPartitions and ReplicationFactor must then be -1).
	Assignments [][]int32
	Configs     map[string]string
}

// CreateTopicResult is the outcome for one topic.
type CreateTopicResult struct {
	Name              string
	ID                UUID
	NumPartitions     int32
	ReplicationFactor int16
	Err               error
}

// CreateTopics validates and creates topics. Each topic succeeds or fails
// alone. With validateOnly nothing is written.
func (c *Controller) CreateTopics(ctx context.Context, topics []CreateTopic, validateOnly bool) []CreateTopicResult {
	res := make([]CreateTopicResult, len(topics))
	if err := c.catchUpToPlan(ctx); err != nil {
		for i, t := range topics {
			res[i] = CreateTopicResult{Name: t.Name, Err: err}
		}
		return res
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	seen := map[string]int{}
	for _, t := range topics {
		seen[t.Name]++
	}
	for i, t := range topics {
		res[i].Name = t.Name
		if seen[t.Name] > 1 {
			res[i].Err = fmt.Errorf("%w: topic %q appears more than once in the request", model.ErrInvalidRequest, t.Name)
			continue
		}
		if err := ctx.Err(); err != nil {
			res[i].Err = err
			continue
		}
		recs, r, err := c.planTopicLocked(t)
		res[i] = r
		res[i].Err = err
		if err != nil || validateOnly {
			continue
		}
		if err := c.commitAnywhere(ctx, recs); err != nil {
			res[i].Err = err
		}
	}
	return res
}

func (c *Controller) planTopicLocked(t CreateTopic) ([]Record, CreateTopicResult, error) {
	r := CreateTopicResult{Name: t.Name}
	im := c.image.Load()
	if err := ValidateTopicName(t.Name); err != nil {
		return nil, r, err
	}
	if _, ok := im.Topics[t.Name]; ok {
		return nil, r, fmt.Errorf("%w: topic %q already exists", model.ErrTopicAlreadyExists, t.Name)
	}
	// '.' and '_' collide in metric names, so Kafka refuses topics that
	// differ only by them.
	norm := strings.ReplaceAll(t.Name, ".", "_")
	for name := range im.Topics {
		if strings.ReplaceAll(name, ".", "_") == norm {
			return nil, r, fmt.Errorf("%w: topic %q collides with existing topic %q ('.' and '_' are the same in metric names)", model.ErrInvalidTopic, t.Name, name)
		}
	}
	for k, v := range t.Configs {
		if err := c.cfg.ValidateTopicConfig(k, v); err != nil {
			return nil, r, err
		}
	}
	if f := c.cfg.ValidateTopicConfigs; f != nil {
		if err := f(t.Configs); err != nil {
			return nil, r, err
		}
	}
	var assign [][]int32
	if len(t.Assignments) > 0 {
		if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
			return nil, r, fmt.Errorf("%w: both replica assignments and partitions/replication factor were given", model.ErrInvalidRequest)
		}
		if err := c.checkAssignments(im, t.Assignments, -1); err != nil {
			return nil, r, err
		}
		assign = t.Assignments
	} else {
		np, rf := t.NumPartitions, t.ReplicationFactor
		if np == -1 {
			np = c.cfg.DefaultPartitions
		}
		if rf == -1 {
			rf = c.cfg.DefaultReplicationFactor
		}
		if np <= 0 || np > maxPartitionsPerTopic {
			return nil, r, fmt.Errorf("%w: %d partitions requested; must be between 1 and %d", model.ErrInvalidPartitions, np, maxPartitionsPerTopic)
		}
		var err error
		assign, err = place(im, 0, np, rf)
		if err != nil {
			return nil, r, err
		}
	}
	if err := c.checkLocalReplicas(assign); err != nil {
		return nil, r, err
	}
	id := NewUUID()
	r.ID = id
	r.NumPartitions = int32(len(assign))
	r.ReplicationFactor = int16(len(assign[0]))
	recs := []Record{{Type: RecTopic, Topic: &TopicRecord{Name: t.Name, ID: id}}}
	for p, reps := range assign {
		recs = append(recs, Record{Type: RecPartition, Partition: &PartitionRecord{
			TopicID: id, Partition: int32(p), Replicas: reps, ISR: slices.Clone(reps), Leader: reps[0],
		}})
	}
	keys := make([]string, 0, len(t.Configs))
	for k := range t.Configs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := t.Configs[k]
		recs = append(recs, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: t.Name, Name: k, Value: &v}})
	}
	return recs, r, nil
}

// checkLocalReplicas passes the number of assign's replicas on this node
// to Config.CheckLocalReplicas.
func (c *Controller) checkLocalReplicas(assign [][]int32) error {
	if c.cfg.CheckLocalReplicas == nil {
		return nil
	}
	n := 0
	for _, reps := range assign {
		if slices.Contains(reps, c.cfg.NodeID) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return c.cfg.CheckLocalReplicas(n)
}

// checkAssignments validates explicit replica lists; wantRF < 0 takes the
// first list's length as the replication factor.
func (c *Controller) checkAssignments(im *Image, assign [][]int32, wantRF int) error {
	if len(assign) > maxPartitionsPerTopic {
		return fmt.Errorf("%w: %d partitions; the limit is %d", model.ErrInvalidPartitions, len(assign), maxPartitionsPerTopic)
	}
	for p, reps := range assign {
		if wantRF < 0 {
			wantRF = len(reps)
		}
		if len(reps) == 0 || len(reps) != wantRF {
			return fmt.Errorf("%w: partition %d has %d replicas; every partition needs the same non-zero count", model.ErrInvalidReplicaAssignment, p, len(reps))
		}
		seen := map[int32]bool{}
		for _, b := range reps {
			if _, ok := im.Brokers[b]; !ok {
				return fmt.Errorf("%w: partition %d names unknown broker %d", model.ErrInvalidReplicaAssignment, p, b)
			}
			if seen[b] {
				return fmt.Errorf("%w: partition %d names broker %d twice", model.ErrInvalidReplicaAssignment, p, b)
			}
			seen[b] = true
		}
	}
	return nil
}

// place spreads count partitions starting at partition first over the
// unfenced brokers, round robin, leaders rotating. When brokers set
// broker.rack, the round robin runs over a list that alternates racks
// (Kafka's rack-aware assignment), so consecutive replicas of a
// partition sit in different racks while there are racks to spare.
func place(im *Image, first, count int32, rf int16) ([][]int32, error) {
	var live []int32
	byRack := map[string][]int32{}
	for _, id := range im.BrokerIDs() {
		if b := im.Brokers[id]; !b.Fenced {
			live = append(live, id)
			byRack[b.Rack] = append(byRack[b.Rack], id)
		}
	}
	if len(byRack) > 1 {
		racks := make([]string, 0, len(byRack))
		for r := range byRack {
			racks = append(racks, r)
		}
		slices.Sort(racks)
		live = live[:0]
		for i := 0; ; i++ {
			added := false
			for _, r := range racks {
				if i < len(byRack[r]) {
					live = append(live, byRack[r][i])
					added = true
				}
			}
			if !added {
				break
			}
		}
	}
	if rf <= 0 || int(rf) > len(live) {
		return nil, fmt.Errorf("%w: replication factor %d; it must be between 1 and the number of available brokers (%d)", model.ErrInvalidReplicationFactor, rf, len(live))
	}
	out := make([][]int32, count)
	for i := int32(0); i < count; i++ {
		p := first + i
		reps := make([]int32, rf)
		for j := range reps {
			reps[j] = live[(int(p)+j)%len(live)]
		}
		out[i] = reps
	}
	return out, nil
}

// DeleteTopics deletes topics by name; one error (or nil) per name.
func (c *Controller) DeleteTopics(ctx context.Context, names []string) []error {
	errs := make([]error, len(names))
	if err := c.catchUpToPlan(ctx); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	for i, n := range names {
		t, ok := c.image.Load().Topics[n]
		if !ok {
			errs[i] = fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, n)
			continue
		}
		errs[i] = c.commitAnywhere(ctx, []Record{{Type: RecRemoveTopic, RemoveTopic: &RemoveTopicRecord{TopicID: t.ID}}})
	}
	return errs
}

// CreatePartitions grows a topic to count partitions.
func (c *Controller) CreatePartitions(ctx context.Context, topic string, count int32, assignments [][]int32, validateOnly bool) error {
	if err := c.catchUpToPlan(ctx); err != nil {
		return err
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	im := c.image.Load()
	t, ok := im.Topics[topic]
	if !ok {
		return fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, topic)
	}
	have := int32(len(t.Partitions))
	if count <= have {
		return fmt.Errorf("%w: topic %q has %d partitions; the new count %d must be larger", model.ErrInvalidPartitions, topic, have, count)
	}
	if count > maxPartitionsPerTopic {
		return fmt.Errorf("%w: %d partitions; the limit is %d", model.ErrInvalidPartitions, count, maxPartitionsPerTopic)
	}
	rf := len(t.Partitions[0].Replicas)
	var assign [][]int32
	if len(assignments) > 0 {
		if int32(len(assignments)) != count-have {
			return fmt.Errorf("%w: %d assignments for %d new partitions", model.ErrInvalidReplicaAssignment, len(assignments), count-have)
		}
		if err := c.checkAssignments(im, assignments, rf); err != nil {
			return err
		}
		assign = assignments
	} else {
		var err error
		if assign, err = place(im, have, count-have, int16(rf)); err != nil {
			return err
		}
	}
	if err := c.checkLocalReplicas(assign); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	recs := make([]Record, 0, len(assign))
	for i, reps := range assign {
		recs = append(recs, Record{Type: RecPartition, Partition: &PartitionRecord{
			TopicID: t.ID, Partition: have + int32(i), Replicas: reps, ISR: slices.Clone(reps), Leader: reps[0],
		}})
	}
	return c.commitAnywhere(ctx, recs)
}

// Config alteration operations (Kafka's IncrementalAlterConfigs op codes).
const (
	OpSet      int8 = 0
	OpDelete   int8 = 1
	OpAppend   int8 = 2
	OpSubtract int8 = 3
)

// ConfigOp is one change to a topic config.
type ConfigOp struct {
	Key   string
	Value *string
	Op    int8
}

// AlterTopicConfigs changes a topic's config overrides. With incremental
// false (legacy AlterConfigs) the ops replace every override; with true each
// op applies on its own (IncrementalAlterConfigs).
func (c *Controller) AlterTopicConfigs(ctx context.Context, topic string, ops []ConfigOp, incremental, validateOnly bool) error {
	if err := c.catchUpToPlan(ctx); err != nil {
		return err
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	t, ok := c.image.Load().Topics[topic]
	if !ok {
		return fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, topic)
	}
	next := map[string]string{}
	if incremental {
		next = cloneMap(t.Configs)
	}
	for _, op := range ops {
		switch op.Op {
		case OpSet:
			if op.Value == nil {
				return fmt.Errorf("%w: %s: set needs a value", model.ErrInvalidConfig, op.Key)
			}
			next[op.Key] = *op.Value
		case OpDelete:
			delete(next, op.Key)
		case OpAppend, OpSubtract:
			if op.Value == nil {
				return fmt.Errorf("%w: %s: append/subtract need a value", model.ErrInvalidConfig, op.Key)
			}
			next[op.Key] = listOp(next[op.Key], *op.Value, op.Op == OpAppend)
		default:
			return fmt.Errorf("%w: %s: unknown operation %d (valid: 0 set, 1 delete, 2 append, 3 subtract)", model.ErrInvalidRequest, op.Key, op.Op)
		}
	}
	for k, v := range next {
		if err := c.cfg.ValidateTopicConfig(k, v); err != nil {
			return err
		}
	}
	if f := c.cfg.ValidateTopicConfigs; f != nil {
		if err := f(next); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	var recs []Record
	keys := make([]string, 0, len(next)+len(t.Configs))
	for k := range next {
		keys = append(keys, k)
	}
	for k := range t.Configs {
		if _, ok := next[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, ok := next[k]
		old, had := t.Configs[k]
		switch {
		case ok && (!had || old != v):
			val := v
			recs = append(recs, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: topic, Name: k, Value: &val}})
		case !ok && had:
			recs = append(recs, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: topic, Name: k}})
		}
	}
	return c.commitAnywhere(ctx, recs)
}

// listOp appends v's items to (or removes them from) a comma-separated list.
func listOp(list, v string, add bool) string {
	var items []string
	if list != "" {
		items = strings.Split(list, ",")
	}
	for _, it := range strings.Split(v, ",") {
		it = strings.TrimSpace(it)
		i := slices.Index(items, it)
		switch {
		case add && i < 0:
			items = append(items, it)
		case !add && i >= 0:
			items = slices.Delete(items, i, i+1)
		}
	}
	return strings.Join(items, ",")
}

// AllocateProducerID hands out a producer id, claiming a new block from the
// metadata log when the current one is spent.
func (c *Controller) AllocateProducerID(ctx context.Context) (model.ProducerID, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	for attempt := 0; c.pidNext >= c.pidEnd; attempt++ {
		start := c.image.Load().NextProducerID
		end := start + producerIDBlockSize
		// Any node hands out producer ids, so the block is claimed through
		// whichever voter leads; a block planned from a lagging image is
		// rejected at apply and planned again.
		err := c.commitAnywhere(ctx, []Record{{Type: RecProducerIDs, ProducerIDs: &ProducerIDsRecord{BrokerID: c.cfg.NodeID, NextProducerID: end}}})
		if errors.Is(err, errStaleProducerIDs) && attempt < 10 {
			continue // another block was handed out first: plan again
		}
		if err != nil {
			return -1, err
		}
		c.pidNext, c.pidEnd = start, end
	}
	id := c.pidNext
	c.pidNext++
	return model.ProducerID(id), nil
}
