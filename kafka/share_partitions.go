package kafka

// The share-partition side of share groups (KIP-932) on a broker: the
// in-memory share-partitions of the partitions this node leads (package
// share's state machines, one mutex each), their share sessions, and
// their durable state, read from and written to the share coordinator
// (sharestate.go: locally, or over the wire through WriteShareGroupState
// and ReadShareGroupState to the node that leads the group's
// __share_group_state partition).
//
// A share-partition is loaded on the first ShareFetch that names it: its
// state is read from the share coordinator, or, when none was written,
// initialized from the group's share.auto.offset.reset (latest: the high
// watermark; earliest: the log start; by_duration:<ISO-8601>: the first
// offset at or after now minus the duration) and written. Every change
// the durable state must see (acknowledgements, releases, lock expiries,
// the SPSO moving) is written, as one ShareSnapshot of the whole window,
// before the request that caused it is answered; acquisitions are not
// written (as in Kafka, a restart or leader move loses the locks, and the
// records are delivered again).

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/share"
)

// Shares is a node's share-partition side, shared by its servers (like
// FetchSessions): share-partitions, share sessions, counters and the
// node's share coordinator. It implements ShareStates for the group side.
type Shares struct {
	cfg      config.ShareConfig
	coord    *share.Coordinator
	sessions *share.Sessions
	counters share.Counters

	mu    sync.Mutex
	srv   *Server // the first server made with it: peers, image
	parts map[share.Key]*sharePart
	// stop ends the lock-expiry ticker.
	stop chan struct{}
	once sync.Once
}

// sharePart is one share-partition of this node.
type sharePart struct {
	key   share.Key
	topic string
	mu    sync.Mutex
	// p is nil until loaded; written is p.Version() as last written;
	// leaderEpoch is the partition's leader epoch p was loaded at: a
	// partition led again after leading elsewhere loads again.
	p           *share.Partition
	written     uint64
	leaderEpoch int32
	// avail is closed (and replaced) when records become Available again
	// (released, lock expired): long-polling fetches wake on it.
	avail chan struct{}
}

// NewShares makes the share-partition side from the broker's group.share.*
// keys; coord is the node's share coordinator (nil: none here, every
// state goes over the wire).
func NewShares(cfg config.ShareConfig, coord *share.Coordinator) *Shares {
	if cfg.StateTopicNumPartitions <= 0 {
		cfg = config.Default().Share
	}
	return &Shares{cfg: cfg, coord: coord, sessions: share.NewSessions(int(cfg.MaxShareSessions)),
		parts: map[share.Key]*sharePart{}, stop: make(chan struct{})}
}

// Counters are the share-partitions' cumulative counts (metrics).
func (sh *Shares) Counters() *share.Counters { return &sh.counters }

// Sessions is the number of open share sessions.
func (sh *Shares) Sessions() int { return sh.sessions.Len() }

// Coordinator is the node's share coordinator (nil: none).
func (sh *Shares) Coordinator() *share.Coordinator { return sh.coord }

// attach makes s the server the side works through and starts the lock
// expiry ticker.
func (sh *Shares) attach(s *Server) {
	sh.mu.Lock()
	if sh.srv == nil {
		sh.srv = s
		go sh.tickLoop()
	}
	sh.mu.Unlock()
}

// Close stops the ticker.
func (sh *Shares) Close() { sh.once.Do(func() { close(sh.stop) }) }

// shareTickInterval bounds how late an expired lock is noticed by a long
// poll (every operation also expires locks first).
const shareTickInterval = 100 * time.Millisecond

func (sh *Shares) tickLoop() {
	t := time.NewTicker(shareTickInterval)
	defer t.Stop()
	sh.mu.Lock()
	stopping := sh.srv.stopping
	sh.mu.Unlock()
	for {
		select {
		case <-sh.stop:
			return
		case <-stopping:
			return // the node's servers shut down together
		case now := <-t.C:
			sh.mu.Lock()
			parts := make([]*sharePart, 0, len(sh.parts))
			for _, sp := range sh.parts {
				parts = append(parts, sp)
			}
			s := sh.srv
			sh.mu.Unlock()
			for _, sp := range parts {
				sp.mu.Lock()
				if sp.p != nil && sp.p.Tick(now) > 0 {
					sp.wakeLocked()
					if s != nil {
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						if err := s.sharePersistLocked(ctx, sp); err != nil {
							s.log.Debug("writing share state after lock expiry failed; the next change retries", "share_partition", sp.key.String(), "err", err)
						}
						cancel()
					}
				}
				sp.mu.Unlock()
			}
		}
	}
}

func (sp *sharePart) wakeLocked() {
	if sp.avail != nil {
		close(sp.avail)
	}
	sp.avail = make(chan struct{})
}

// partFor returns key's share-partition (not loaded yet when new).
func (sh *Shares) partFor(key share.Key, topic string) *sharePart {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sp := sh.parts[key]
	if sp == nil {
		sp = &sharePart{key: key, topic: topic, avail: make(chan struct{})}
		sh.parts[key] = sp
	}
	return sp
}

// existing returns key's share-partition if this node has it.
func (sh *Shares) existing(key share.Key) *sharePart {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.parts[key]
}

// forget drops share-partitions matching fn (a group deleted, offsets
// altered): the next fetch loads them again.
func (sh *Shares) forget(fn func(share.Key) bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k := range sh.parts {
		if fn(k) {
			delete(sh.parts, k)
		}
	}
}

// releaseMember releases what member of group holds on parts.
func (s *Server) shareReleaseMember(group, member string, parts []share.TopicPartition) {
	for _, tp := range parts {
		sp := s.shares.existing(share.Key{Group: group, TopicID: tp.TopicID, Partition: tp.Partition})
		if sp == nil {
			continue
		}
		sp.mu.Lock()
		if sp.p != nil && sp.p.ReleaseMember(member) > 0 {
			sp.wakeLocked()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.sharePersistLocked(ctx, sp); err != nil {
				s.log.Debug("writing share state after a release failed", "share_partition", sp.key.String(), "err", err)
			}
			cancel()
		}
		sp.mu.Unlock()
	}
}

// shareConnClosed closes the share sessions c opened and releases their
// members' records (Kafka releases them when the connection drops).
func (s *Server) shareConnClosed(c *conn) {
	if s.shares == nil {
		return
	}
	for k, parts := range s.shares.sessions.CloseConn(c) {
		s.shareReleaseMember(k.Group, k.Member, parts)
	}
}

// shareGroupConfig is group's share configs (broker defaults without a
// group side), with the lock duration bounded by the broker's min/max.
func (s *Server) shareGroupConfig(group string) ShareGroupConfig {
	c := s.shares.cfg
	gc := ShareGroupConfig{AutoOffsetReset: "latest", RecordLockDuration: time.Duration(c.RecordLockDurationMs) * time.Millisecond,
		DeliveryCountLimit: int(c.DeliveryCountLimit)}
	if s.cfg.ShareGroups != nil {
		gc = s.cfg.ShareGroups.ShareConfig(group)
	}
	if gc.RecordLockDuration <= 0 {
		gc.RecordLockDuration = time.Duration(c.RecordLockDurationMs) * time.Millisecond
	}
	if gc.DeliveryCountLimit <= 0 {
		gc.DeliveryCountLimit = int(c.DeliveryCountLimit)
	}
	return gc
}

func (s *Server) sharePartConfig(gc ShareGroupConfig) share.Config {
	return share.Config{LockDuration: gc.RecordLockDuration, DeliveryCountLimit: gc.DeliveryCountLimit,
		MaxRecordLocks: int(s.shares.cfg.PartitionMaxRecordLocks), Counters: &s.shares.counters}
}

// shareLoadLocked loads sp (held) if it is not yet: its durable state, or
// a new one at share.auto.offset.reset, written before use.
func (s *Server) shareLoadLocked(ctx context.Context, sp *sharePart, l Log, gc ShareGroupConfig, leaderEpoch int32) error {
	pc := s.sharePartConfig(gc)
	if sp.p != nil && sp.leaderEpoch == leaderEpoch {
		sp.p.SetConfig(pc)
		return nil
	}
	sp.p, sp.leaderEpoch = nil, leaderEpoch
	snap, ok, err := s.shareRead(ctx, sp.key)
	if err != nil {
		return err
	}
	logStart, hw, _ := l.Offsets()
	if ok {
		p := share.Restore(pc, snap)
		if int64(logStart) > p.StartOffset() {
			p.MoveStart(int64(logStart))
		}
		sp.p, sp.written = p, p.Version()
		return nil
	}
	start, err := resetOffset(gc.AutoOffsetReset, l, s.cfg.Now())
	if err != nil {
		return err
	}
	start = min(max(start, int64(logStart)), int64(hw))
	p := share.New(pc, start)
	snap = p.Snapshot()
	snap.LeaderEpoch = leaderEpoch
	if err := s.shareWrite(ctx, sp.key, snap); err != nil {
		return err
	}
	sp.p, sp.written = p, p.Version()
	return nil
}

// resetOffset is share.auto.offset.reset's start offset in l.
func resetOffset(reset string, l Log, now time.Time) (int64, error) {
	logStart, hw, _ := l.Offsets()
	switch {
	case reset == "" || reset == "latest":
		return int64(hw), nil
	case reset == "earliest":
		return int64(logStart), nil
	case strings.HasPrefix(reset, "by_duration:"):
		d, err := parseISODuration(strings.TrimPrefix(reset, "by_duration:"))
		if err != nil {
			return 0, fmt.Errorf("%w: share.auto.offset.reset %q: %v", kerr.InvalidConfig, reset, err)
		}
		off, _, ok := l.OffsetForTime(now.Add(-d).UnixMilli())
		if !ok {
			return int64(hw), nil
		}
		return int64(off), nil
	}
	return 0, fmt.Errorf("%w: share.auto.offset.reset %q; valid: latest, earliest, by_duration:<ISO-8601 duration>", kerr.InvalidConfig, reset)
}

// parseISODuration parses the PnDTnHnMnS subset of ISO-8601 durations
// that Java's Duration.parse accepts (days, hours, minutes, seconds).
func parseISODuration(v string) (time.Duration, error) {
	if len(v) < 2 || (v[0] != 'P' && v[0] != 'p') {
		return 0, errors.New("want an ISO-8601 duration such as PT1H or P1D")
	}
	var total time.Duration
	inTime := false
	num := ""
	for _, r := range v[1:] {
		switch {
		case r == 'T' || r == 't':
			inTime = true
		case (r >= '0' && r <= '9') || r == '.':
			num += string(r)
		default:
			var f float64
			if _, err := fmt.Sscanf(num, "%g", &f); err != nil || num == "" {
				return 0, fmt.Errorf("bad number before %q", r)
			}
			unit := map[rune]time.Duration{'D': 24 * time.Hour, 'H': time.Hour, 'M': time.Minute, 'S': time.Second}[r&^0x20]
			if unit == 0 || (!inTime && r&^0x20 != 'D') {
				return 0, fmt.Errorf("unit %q", r)
			}
			total += time.Duration(f * float64(unit))
			num = ""
		}
	}
	if num != "" || total < 0 {
		return 0, errors.New("trailing number without a unit")
	}
	return total, nil
}

// sharePersistLocked writes sp's state (held) when it changed since the
// last write.
func (s *Server) sharePersistLocked(ctx context.Context, sp *sharePart) error {
	if sp.p == nil || sp.p.Version() == sp.written {
		return nil
	}
	if !s.shareLeads(sp) {
		// Led elsewhere now: what this node holds is stale, and must not
		// overwrite the new leader's state.
		sp.p = nil
		return fmt.Errorf("%w: %s moved away", model.ErrNotLeader, sp.key)
	}
	v := sp.p.Version()
	snap := sp.p.Snapshot()
	snap.LeaderEpoch = sp.leaderEpoch
	if err := s.shareWrite(ctx, sp.key, snap); err != nil {
		if errors.Is(err, share.ErrFencedStateEpoch) || errors.Is(err, kerr.FencedStateEpoch) ||
			errors.Is(err, share.ErrFencedLeaderEpoch) || errors.Is(err, kerr.FencedLeaderEpoch) {
			// AlterShareGroupOffsets or a newer leader moved it on:
			// load it again.
			sp.p = nil
		}
		return err
	}
	sp.written = v
	return nil
}

// shareStateWait bounds how long a read or write waits for the share
// coordinator (its topic being created, its partition loading).
const shareStateWait = 10 * time.Second

// shareCoordinatorNode is the node leading group's __share_group_state
// partition; the topic is created when missing (retriable meanwhile).
func (s *Server) shareCoordinatorNode(group string) (int32, error) {
	im := s.ctrl.Image()
	t := im.Topics[share.StateTopic]
	n := s.shares.cfg.StateTopicNumPartitions
	if t == nil {
		s.createShareStateTopic()
		return -1, fmt.Errorf("%s is being created: %w", share.StateTopic, kerr.CoordinatorNotAvailable)
	}
	if int32(len(t.Partitions)) != n {
		n = int32(len(t.Partitions))
	}
	p := t.Partitions[share.PartitionFor(group, n)]
	if b := im.Brokers[p.Leader]; b == nil || b.Fenced {
		return -1, fmt.Errorf("%s-%d has no live leader: %w", share.StateTopic, p.Partition, kerr.CoordinatorNotAvailable)
	}
	return p.Leader, nil
}

// shareRetriable: the coordinator may answer soon.
func shareRetriable(err error) bool {
	return errors.Is(err, share.ErrLoading) || errors.Is(err, share.ErrNotCoordinator) ||
		errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.CoordinatorLoadInProgress) ||
		errors.Is(err, kerr.NotCoordinator)
}

// shareRetry runs op until it succeeds, fails for good, or
// shareStateWait passes.
func (s *Server) shareRetry(ctx context.Context, op func() error) error {
	deadline := time.Now().Add(shareStateWait)
	for {
		err := op()
		if err == nil || !shareRetriable(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-s.stopping:
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// shareRead reads key's durable state from its share coordinator.
func (s *Server) shareRead(ctx context.Context, key share.Key) (snap share.Snapshot, ok bool, err error) {
	err = s.shareRetry(ctx, func() error {
		node, err := s.shareCoordinatorNode(key.Group)
		if err != nil {
			return err
		}
		if node == s.cfg.NodeID && s.shares.coord != nil {
			snap, ok, err = s.shares.coord.Read(key)
			return err
		}
		snap, ok, err = s.shareReadRemote(ctx, node, key)
		return err
	})
	return snap, ok, err
}

// shareWrite writes key's durable state through its share coordinator.
func (s *Server) shareWrite(ctx context.Context, key share.Key, snap share.Snapshot) error {
	return s.shareRetry(ctx, func() error {
		node, err := s.shareCoordinatorNode(key.Group)
		if err != nil {
			return err
		}
		if node == s.cfg.NodeID && s.shares.coord != nil {
			return s.shares.coord.Write(ctx, key, snap)
		}
		return s.shareWriteRemote(ctx, node, key, snap)
	})
}

// shareDelete deletes keys' durable state (one group) through its share
// coordinator.
func (s *Server) shareDelete(ctx context.Context, group string, keys []share.Key) error {
	return s.shareRetry(ctx, func() error {
		node, err := s.shareCoordinatorNode(group)
		if err != nil {
			return err
		}
		if node == s.cfg.NodeID && s.shares.coord != nil {
			for _, k := range keys {
				if err := s.shares.coord.Delete(ctx, k); err != nil {
					return err
				}
			}
			return nil
		}
		return s.shareDeleteRemote(ctx, node, group, keys)
	})
}

// shareGroupKeys lists group's share-partitions with durable state.
func (s *Server) shareGroupKeys(ctx context.Context, group string) ([]share.Key, error) {
	var keys []share.Key
	err := s.shareRetry(ctx, func() error {
		node, err := s.shareCoordinatorNode(group)
		if err != nil {
			return err
		}
		if node == s.cfg.NodeID && s.shares.coord != nil {
			keys, err = s.shares.coord.Keys(group)
			return err
		}
		keys, err = s.shareKeysRemote(ctx, node, group)
		return err
	})
	return keys, err
}

// DeleteGroup implements ShareStates: every share-partition state of
// group is deleted at its share coordinator and dropped here; its
// sessions close.
func (sh *Shares) DeleteGroup(ctx context.Context, group string) error {
	sh.mu.Lock()
	s := sh.srv
	sh.mu.Unlock()
	if s == nil {
		return fmt.Errorf("kafka: no listener to reach the share coordinator: %w", kerr.CoordinatorNotAvailable)
	}
	sh.sessions.CloseGroup(group)
	sh.forget(func(k share.Key) bool { return k.Group == group })
	if s.ctrl.Image().Topics[share.StateTopic] == nil {
		return nil // no share state was ever written
	}
	keys, err := s.shareGroupKeys(ctx, group)
	if err != nil {
		return err
	}
	return s.shareDelete(ctx, group, keys)
}

var _ ShareStates = (*Shares)(nil)

// shareErrorCode maps the share side's errors, then errorCode's.
func (s *Server) shareErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, share.ErrInvalidRecordState):
		return kerr.InvalidRecordState.Code
	case errors.Is(err, share.ErrInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, share.ErrSessionNotFound):
		return kerr.ShareSessionNotFound.Code
	case errors.Is(err, share.ErrInvalidSessionEpoch):
		return kerr.InvalidShareSessionEpoch.Code
	case errors.Is(err, share.ErrSessionLimit):
		return kerr.ShareSessionLimitReached.Code
	case errors.Is(err, share.ErrNotCoordinator):
		return kerr.NotCoordinator.Code
	case errors.Is(err, share.ErrLoading):
		return kerr.CoordinatorLoadInProgress.Code
	case errors.Is(err, share.ErrFencedStateEpoch):
		return kerr.FencedStateEpoch.Code
	case errors.Is(err, share.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, share.ErrCorrupt):
		return kerr.CorruptMessage.Code
	}
	return errorCode(s.log, err)
}

// shareTopicName is the name of topic id in im ("" when unknown).
func shareTopicName(im *controlplane.Image, id [16]byte) string {
	if t := im.TopicsByID[controlplane.UUID(id)]; t != nil {
		return t.Name
	}
	return ""
}

// sortedParts orders session partitions for a stable answer.
func sortedParts(parts []share.TopicPartition) {
	sort.Slice(parts, func(i, j int) bool {
		if c := strings.Compare(string(parts[i].TopicID[:]), string(parts[j].TopicID[:])); c != 0 {
			return c < 0
		}
		return parts[i].Partition < parts[j].Partition
	})
}

// shareLeads reports whether this node still leads sp's partition at the
// leader epoch sp was loaded at.
func (s *Server) shareLeads(sp *sharePart) bool {
	t := s.ctrl.Image().TopicsByID[controlplane.UUID(sp.key.TopicID)]
	if t == nil || int(sp.key.Partition) >= len(t.Partitions) {
		return false
	}
	p := t.Partitions[sp.key.Partition]
	return p.Leader == s.cfg.NodeID && p.LeaderEpoch == sp.leaderEpoch
}
