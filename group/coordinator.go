package group

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/ringtail/ringtail/model"
)

// OffsetsTopic is the internal topic that holds group metadata and
// committed offsets.
const OffsetsTopic = "__consumer_offsets"

// Limits and Kafka's defaults.
const (
	// MaxGroupIDBytes bounds a group id (Kafka has no limit; ids are keys
	// in __consumer_offsets and names in logs, so Ringtail keeps them short).
	MaxGroupIDBytes = 255
	// DefaultMaxMemberMetadataBytes bounds the protocol metadata of one
	// JoinGroup (the sum over its protocols).
	DefaultMaxMemberMetadataBytes = 1 << 20
	// DefaultMaxGroupSize is group.max.size (Kafka's default).
	DefaultMaxGroupSize = 1<<31 - 1
	// DefaultMaxOffsetMetadataBytes is offset.metadata.max.bytes.
	DefaultMaxOffsetMetadataBytes = 4096
	// DefaultMinSessionTimeout and DefaultMaxSessionTimeout are
	// group.min/max.session.timeout.ms.
	DefaultMinSessionTimeout = 6 * time.Second
	DefaultMaxSessionTimeout = 30 * time.Minute
	// DefaultOffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	DefaultOffsetsRetentionCheckInterval = 10 * time.Minute
	// replayReadBytes is how much of a partition Load reads at a time.
	replayReadBytes = 1 << 20
)

// Config configures a Coordinator. Zero values take Kafka's defaults.
type Config struct {
	NumPartitions                 int32         // offsets.topic.num.partitions
	InitialRebalanceDelay         time.Duration // group.initial.rebalance.delay.ms
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration
	MinSessionTimeout             time.Duration
	MaxSessionTimeout             time.Duration
	MaxGroupSize                  int
	MaxMemberMetadataBytes        int
	MaxOffsetMetadataBytes        int
	Logger                        *slog.Logger
	// NewMemberID makes member ids; nil: clientID-<random uuid>.
	NewMemberID func(clientID string) string

	// KIP-848 consumer groups (group.consumer.*).
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
	ConsumerMaxSize           int
	ConsumerAssignors         []string // "uniform", "range"; the first is the default
	// ConsumerMigrationPolicy is group.consumer.migration.policy
	// (convert.go); the zero value is bidirectional.
	ConsumerMigrationPolicy MigrationPolicy
	// Topics lists the cluster's topics (from the metadata image), for
	// consumer groups' subscriptions; nil: none. It must return a new map
	// when the topics change (Tick re-evaluates subscriptions then) and
	// the map must not change afterwards.
	Topics func() map[string]TopicMeta

	// Share groups (group.share.*; share.go).
	ShareSessionTimeout    time.Duration
	ShareHeartbeatInterval time.Duration
	ShareMaxSize           int
	// ShareGroupTimeouts returns a share group's own session timeout and
	// heartbeat interval (its GROUP configs); nil: none.
	ShareGroupTimeouts func(groupID string) GroupTimeouts
	// ConsumerGroupTimeouts is the same for consumer (KIP-848) groups
	// (consumer.session.timeout.ms, consumer.heartbeat.interval.ms), read
	// through ConsumerTimeouts (share.go).
	ConsumerGroupTimeouts func(groupID string) GroupTimeouts
}

// Log is one __consumer_offsets partition, as the coordinator uses it.
type Log interface {
	// Append appends records (whole magic-v2 batches); done runs once the
	// append is durable or failed, maybe inside the call, and must not
	// block.
	Append(records []byte, done func(error))
	Offsets() (logStart, highWatermark model.Offset)
	// Read returns whole batches from the one holding offset (at least
	// one), up to about maxBytes; empty at the high watermark.
	Read(offset model.Offset, maxBytes int32) ([]byte, error)
}

// Coordinator is the group coordinator of one node. See the package doc
// for the caller's contract.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu struct {
		sync.Mutex
		parts      map[int32]*ownedPartition
		groups     map[string]*group
		lastExpiry time.Time
	}
}

type ownedPartition struct {
	log     Log
	loading bool
	// inflight are the appends not yet applied, in the order they were
	// handed to log (the log's order). An outcome is applied only once
	// every earlier append's is, so memory changes in log order even if
	// the log reports outcomes out of order.
	inflight []*write
	// nextSeq is the seq (see committed) of the next append: the log
	// end when loaded, so it orders after every replayed batch.
	nextSeq int64
	// producers maps a producer id to the groups holding its pending
	// transactional offsets (an entry may outlive them: a group deleted
	// meanwhile is skipped).
	producers map[int64]map[string]struct{}
	// lateTxns are the CompleteTxn calls made while loading; Load
	// applies them after the replay (the replay may have stopped before
	// their markers).
	lateTxns []txnEnd
}

// write is one append to a __consumer_offsets partition.
type write struct {
	p         *ownedPartition
	partition int32
	// apply runs under c.mu, in log order, with the outcome (nil or a
	// group error, see storeError); owned says whether p is still the
	// loaded partition, that is whether memory may be changed.
	apply func(err error, owned bool)
	// seq is the append's place in the log (ownedPartition.nextSeq).
	seq int64
	// txn is the producer of a transactional batch (id -1: none), whose
	// producer errors reach the client (txnStoreError); ended is its
	// transaction's outcome when CompleteTxn came while it was in flight.
	txn   txnProducer
	ended *txnEnd

	finished bool // the outcome is known (guarded by c.mu)
	err      error

	// early holds an outcome reported inside log.Append, while the
	// appending call still holds c.mu; that call applies it.
	early struct {
		sync.Mutex
		inAppend, done bool
		err            error
	}
}

// New returns a coordinator that owns no partitions yet.
func New(cfg Config) *Coordinator {
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = 50
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = 7 * 24 * time.Hour
	}
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = DefaultOffsetsRetentionCheckInterval
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if cfg.MaxGroupSize <= 0 {
		cfg.MaxGroupSize = DefaultMaxGroupSize
	}
	if cfg.MaxMemberMetadataBytes <= 0 {
		cfg.MaxMemberMetadataBytes = DefaultMaxMemberMetadataBytes
	}
	if cfg.MaxOffsetMetadataBytes <= 0 {
		cfg.MaxOffsetMetadataBytes = DefaultMaxOffsetMetadataBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ConsumerSessionTimeout <= 0 {
		cfg.ConsumerSessionTimeout = DefaultConsumerSessionTimeout
	}
	if cfg.ConsumerHeartbeatInterval <= 0 {
		cfg.ConsumerHeartbeatInterval = DefaultConsumerHeartbeatInterval
	}
	if cfg.ConsumerMaxSize <= 0 {
		cfg.ConsumerMaxSize = DefaultConsumerMaxSize
	}
	if len(cfg.ConsumerAssignors) == 0 {
		cfg.ConsumerAssignors = DefaultConsumerAssignors
	}
	if cfg.ShareSessionTimeout <= 0 {
		cfg.ShareSessionTimeout = DefaultShareSessionTimeout
	}
	if cfg.ShareHeartbeatInterval <= 0 {
		cfg.ShareHeartbeatInterval = DefaultShareHeartbeatInterval
	}
	if cfg.ShareMaxSize <= 0 {
		cfg.ShareMaxSize = DefaultShareMaxSize
	}
	if cfg.NewMemberID == nil {
		cfg.NewMemberID = randomMemberID
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger.With("component", "group")}
	c.mu.parts = map[int32]*ownedPartition{}
	c.mu.groups = map[string]*group{}
	return c
}

func randomMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s", clientID, h[0:8], h[8:12], h[12:16], h[16:20], h[20:])
}

// NumPartitions is the partition count of __consumer_offsets.
func (c *Coordinator) NumPartitions() int32 { return c.cfg.NumPartitions }

// PartitionFor is the __consumer_offsets partition of a group:
// abs(javaStringHashCode(groupID)) % partitions, as in Kafka
// (Utils.abs maps MinInt32 to 0).
func PartitionFor(groupID string, partitions int32) int32 {
	var h int32
	for _, r := range utf16Units(groupID) {
		h = 31*h + int32(r)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// utf16Units is the string as Java sees it (hashCode runs over UTF-16).
func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 0x10000:
			r -= 0x10000
			out = append(out, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
		default:
			out = append(out, uint16(r))
		}
	}
	return out
}

// validGroupID checks a group id. allowEmpty is Kafka's rule for
// OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups, which accept
// the empty id for compatibility with old clients.
func validGroupID(id string, allowEmpty bool) error {
	if id == "" && !allowEmpty {
		return fmt.Errorf("%w: the group id is empty", ErrInvalidGroupID)
	}
	if len(id) > MaxGroupIDBytes {
		return fmt.Errorf("%w: the group id is %d bytes; the limit is %d", ErrInvalidGroupID, len(id), MaxGroupIDBytes)
	}
	return nil
}

// checkLocked says whether this node coordinates groupID now.
func (c *Coordinator) checkLocked(groupID string, allowEmpty bool) (*ownedPartition, error) {
	if err := validGroupID(groupID, allowEmpty); err != nil {
		return nil, err
	}
	p, ok := c.mu.parts[PartitionFor(groupID, c.cfg.NumPartitions)]
	if !ok {
		return nil, ErrNotCoordinator
	}
	if p.loading {
		return nil, ErrLoadInProgress
	}
	return p, nil
}

// Check reports whether requests for groupID can be served here now:
// nil, ErrInvalidGroupID, ErrNotCoordinator or ErrLoadInProgress.
func (c *Coordinator) Check(groupID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.checkLocked(groupID, true)
	return err
}

// Load makes this node the coordinator of partition p of __consumer_offsets
// and replays log into memory; requests for its groups answer
// ErrLoadInProgress until it returns. now is the load time (session
// timers of loaded members start from it).
func (c *Coordinator) Load(p int32, log Log, now time.Time) error {
	op := &ownedPartition{log: log, loading: true, producers: map[int64]map[string]struct{}{}}
	c.mu.Lock()
	c.mu.parts[p] = op
	c.mu.Unlock()
	groups, st, err := replay(log, p, c.cfg.NumPartitions, c.log)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.parts[p] != op {
		return fmt.Errorf("group: load %s-%d: %w: unloaded while loading", OffsetsTopic, p, ErrNotCoordinator)
	}
	if err != nil {
		delete(c.mu.parts, p)
		return fmt.Errorf("group: load %s-%d: %w", OffsetsTopic, p, err)
	}
	op.nextSeq = st.end
	var topics map[string]TopicMeta
	for id, g := range groups {
		if g.cgLoad != nil {
			if topics == nil {
				topics = c.topics()
			}
			buildConsumerGroup(g, topics, now)
		}
		if g.sgLoad != nil {
			if topics == nil {
				topics = c.topics()
			}
			if !buildShareGroup(g, topics, now) {
				continue
			}
		}
		if len(g.members) > 0 {
			for _, m := range g.members {
				m.lastHeartbeat = now
			}
		}
		c.mu.groups[id] = g
		for pid := range g.txnOffsets {
			op.indexTxn(pid, id)
		}
	}
	op.loading = false
	for _, e := range op.lateTxns {
		c.completeTxnLocked(op, e.producerID, e.commit)
	}
	op.lateTxns = nil
	c.log.Debug("loaded group partition", "partition", p, "groups", len(groups), "records", st.records, "tombstones", st.tombstones, "bytes", st.bytes)
	return nil
}

// Unload gives up partition p (its leadership moved): its groups are
// dropped from memory and their waiting requests answered NOT_COORDINATOR.
func (c *Coordinator) Unload(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mu.parts, p)
	for id, g := range c.mu.groups {
		if PartitionFor(id, c.cfg.NumPartitions) != p {
			continue
		}
		for _, m := range g.members {
			m.fail(ErrNotCoordinator)
		}
		delete(c.mu.groups, id)
	}
}

// Owned lists the partitions this coordinator owns (loaded or loading).
func (c *Coordinator) Owned() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int32, 0, len(c.mu.parts))
	for p := range c.mu.parts {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Tick advances time: expires sessions and pending members, completes
// rebalances whose time is up, and (every retention check interval)
// expires committed offsets.
func (c *Coordinator) Tick(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.mu.groups))
	for id := range c.mu.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var topics map[string]TopicMeta
	for _, id := range ids {
		g := c.mu.groups[id]
		switch {
		case g == nil:
		case g.cg != nil:
			if topics == nil {
				topics = c.topics()
			}
			c.tickConsumerLocked(g, now, topics)
		case g.sg != nil:
			if topics == nil {
				topics = c.topics()
			}
			c.tickShareLocked(g, now, topics)
		default:
			c.tickGroupLocked(g, now)
		}
	}
	if c.mu.lastExpiry.IsZero() {
		c.mu.lastExpiry = now
	}
	if now.Sub(c.mu.lastExpiry) >= c.cfg.OffsetsRetentionCheckInterval {
		c.mu.lastExpiry = now
		c.expireOffsetsLocked(now)
	}
}

// ExpireOffsets runs the offset expiry check now (Tick runs it every
// retention check interval).
func (c *Coordinator) ExpireOffsets(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireOffsetsLocked(now)
}

// appendLocked writes recs to the group's partition. apply (may be nil)
// runs under c.mu once the append is durable or failed, after the
// outcomes of all earlier appends to the partition, and is the only place
// the change may reach memory: nothing a request decides is visible
// before it is durable.
//
// Called with c.mu held, so appends reach each log in the order they were
// decided. The log's done callback never waits for c.mu (the log may call
// it on its own goroutine, which a caller holding c.mu may be waiting on
// in Append): an outcome reported inside Append is applied by this call
// after Append returns; one reported later is applied on a new goroutine.
func (c *Coordinator) appendLocked(groupID string, recs []kv, now time.Time, apply func(err error, owned bool)) {
	c.appendSeqLocked(groupID, recs, noProducer, now, func(err error, owned bool, _ *write) {
		if apply != nil {
			apply(err, owned)
		}
	})
}

// noProducer is the producer of the coordinator's own (non-transactional)
// batches.
var noProducer = txnProducer{id: -1, epoch: -1}

// txnProducer is the producer of a transactional batch.
type txnProducer struct {
	id    int64
	epoch int16
}

// appendSeqLocked is appendLocked for a batch of producer prod (a
// transactional batch unless noProducer), whose apply also gets the
// write (its seq, and the transaction's outcome if known).
func (c *Coordinator) appendSeqLocked(groupID string, recs []kv, prod txnProducer, now time.Time, apply func(err error, owned bool, w *write)) {
	pid := PartitionFor(groupID, c.cfg.NumPartitions)
	p, ok := c.mu.parts[pid]
	if !ok {
		apply(ErrNotCoordinator, false, &write{seq: -1, txn: prod})
		return
	}
	w := &write{p: p, partition: pid, seq: p.nextSeq, txn: prod}
	w.apply = func(err error, owned bool) { apply(err, owned, w) }
	p.nextSeq++
	w.early.inAppend = true
	p.inflight = append(p.inflight, w)
	p.log.Append(buildBatch(recs, prod, now.UnixMilli()), func(err error) {
		if err != nil {
			c.log.Error("group: writing to __consumer_offsets failed", "group", groupID, "err", err)
		}
		w.early.Lock()
		if w.early.inAppend {
			w.early.done, w.early.err = true, err
			w.early.Unlock()
			return
		}
		w.early.Unlock()
		go c.finishWrite(w, err)
	})
	w.early.Lock()
	w.early.inAppend = false
	done, err := w.early.done, w.early.err
	w.early.Unlock()
	if done {
		c.finishWriteLocked(w, err)
	}
}

func (c *Coordinator) finishWrite(w *write, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finishWriteLocked(w, err)
}

// finishWriteLocked records w's outcome and applies every finished append
// at the head of its partition's queue.
func (c *Coordinator) finishWriteLocked(w *write, err error) {
	w.finished, w.err = true, err
	p := w.p
	for len(p.inflight) > 0 && p.inflight[0].finished {
		h := p.inflight[0]
		p.inflight[0] = nil
		p.inflight = p.inflight[1:]
		if h.apply != nil {
			err := storeError(h.err)
			if h.txn.id >= 0 {
				err = txnStoreError(h.err)
			}
			h.apply(err, c.mu.parts[h.partition] == p)
		}
	}
}

// storeError is the error a client gets for a failed append to
// __consumer_offsets, as Kafka's GroupMetadataManager maps it for offset
// commits and group metadata: a storage error (KAFKA_STORAGE_ERROR, such
// as a full disk) or a lost leadership is NOT_COORDINATOR, so the client
// finds the coordinator again and retries; anything else is
// COORDINATOR_NOT_AVAILABLE (Kafka's answer for NOT_ENOUGH_REPLICAS and
// UNKNOWN_TOPIC_OR_PARTITION; also retriable).
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotCoordinator), errors.Is(err, ErrCoordinatorNotAvailable):
		return err
	case errors.Is(err, model.ErrStorage), errors.Is(err, model.ErrNotLeader), errors.Is(err, model.ErrClosed):
		return fmt.Errorf("%w: writing to %s: %v", ErrNotCoordinator, OffsetsTopic, err)
	}
	return fmt.Errorf("%w: writing to %s: %v", ErrCoordinatorNotAvailable, OffsetsTopic, err)
}
