package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/admin"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/dialsrc"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/replication"
	"github.com/ringtail/ringtail/storage"
)

// The follower side: num.replica.fetchers replication.ReplicaFetchers per
// leader node this node follows partitions from (Kafka's
// ReplicaFetcherThread; a leader's partitions are split among them by
// replication.FetcherID), each on its own goroutine and its own
// connection to the leader's inter-broker listener: goroutines and
// connections are bounded by leaders x num.replica.fetchers whatever the
// partition count. Each round is one Fetch for every partition the
// fetcher follows, in an incremental fetch session (KIP-227), with
// replica_id (replica_state) set to this node, max_wait_ms
// replica.fetch.wait.max.ms and min_bytes replica.fetch.min.bytes: the
// leader answers as soon as its log end passes a fetched offset
// (FollowerChanged in replicas.go), so an acks=all append waits for no
// poll interval. Partitions that need truncation go through one
// OffsetForLeaderEpoch first.
// replicas.update moves partitions between fetchers as the image names
// other leaders or leader epochs, and stops a fetcher (closing its session
// on the leader) once it follows nothing or its leader's endpoint changes.

const (
	// followerBackoff is the pause after a failed fetch round, and how
	// long a partition the leader refused sits out.
	followerBackoff = 200 * time.Millisecond
	// closeSessionSlack bounds the Fetch that closes a stopped fetcher's
	// session, beyond the long poll it may queue behind: a broker reads
	// one Fetch per connection at a time (as Kafka reads one request), so
	// the close waits until the cancelled long poll is answered, up to
	// replica.fetch.wait.max.ms.
	closeSessionSlack = 500 * time.Millisecond
)

// followerReplica is one partition this node follows, and from whom.
type followerReplica struct {
	leader      int32
	leaderEpoch int32
	fetcher     int32 // replication.FetcherID
	// part is the local log it appends to: a topic deleted and re-created
	// under the same name (in one image, so at the same leader and epoch)
	// has a new log, which must be followed afresh.
	part *storage.Partition
}

// fetcherKey names one of the fetchers of one leader node.
type fetcherKey struct{ leader, id int32 }

// leaderFetcher runs one ReplicaFetcher against one leader node.
type leaderFetcher struct {
	leader int32
	id     int32
	addr   string
	f      *replication.ReplicaFetcher
	lc     *leaderClient
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// leaderAddr is the inter-broker endpoint of node id in im.
func (r *replicas) leaderAddr(im *controlplane.Image, id int32) (string, bool) {
	b, ok := im.Brokers[id]
	if !ok {
		return "", false
	}
	ep, ok := b.Endpoint(r.n.cfg.InterBrokerListenerName)
	if !ok {
		return "", false
	}
	return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), true
}

// startFetcher starts fetcher id for leader; nil when the leader has no
// inter-broker endpoint in im.
func (r *replicas) startFetcher(im *controlplane.Image, leader, id int32) *leaderFetcher {
	addr, ok := r.leaderAddr(im, leader)
	if !ok {
		r.n.log.Error("leader has no inter-broker listener", "leader", leader, "listener", r.n.cfg.InterBrokerListenerName)
		return nil
	}
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID(fmt.Sprintf("ringtail-replica-%d", r.n.cfg.NodeID)),
		kgo.RequestRetries(0), kgo.RetryTimeout(time.Second), kgo.WithHooks(&r.fetchStats)}
	if dial := dialsrc.KgoDialFunc(r.n.peerTLS()); dial != nil {
		opts = append(opts, kgo.Dialer(dial))
	} else if tc := r.n.peerTLS(); tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		r.n.log.Error("replica fetcher client", "leader", leader, "err", err)
		return nil
	}
	rc := r.n.cfg.ReplicaFetch
	lc := &leaderClient{cl: cl, self: r.n.cfg.NodeID, names: map[[16]byte]string{}, maxWaitMs: rc.WaitMaxMs, minBytes: rc.MinBytes}
	ctx, cancel := context.WithCancel(context.Background())
	lf := &leaderFetcher{leader: leader, id: id, addr: addr, lc: lc, cancel: cancel, done: make(chan struct{}),
		f: replication.NewReplicaFetcher(lc, replication.FetcherConfig{MaxBytes: rc.MaxBytes,
			ResponseMaxBytes: rc.ResponseMaxBytes, Backoff: followerBackoff})}
	r.n.log.Info("replica fetcher started", "leader", leader, "fetcher", id, "addr", addr)
	go func() {
		defer close(lf.done)
		lf.f.Run(ctx, replication.SystemClock{}, func(err error) {
			if !errors.Is(err, replication.ErrIdle) {
				r.n.log.Debug("replica fetch", "leader", leader, "fetcher", id, "err", err)
			}
		})
	}()
	return lf
}

// stop ends the fetcher, closes its session on the leader (best effort)
// and its connection. Safe to call twice; the caller holds no replicas.mu
// (the fetcher waits for its storage appends).
func (lf *leaderFetcher) stop() {
	lf.once.Do(func() {
		lf.cancel()
		<-lf.done
		if req, ok := lf.f.CloseSession(); ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(lf.lc.maxWaitMs)*time.Millisecond+closeSessionSlack)
			_, _ = lf.lc.Fetch(ctx, req, 0)
			cancel()
		}
		lf.lc.cl.Close()
	})
}

// follow puts tp in adds under the fetcher that follows it from its
// leader, starting that fetcher if needed (the caller Adds them); false
// when the leader cannot be reached (no endpoint).
func (r *replicas) follow(im *controlplane.Image, t *controlplane.Topic, tp model.TopicPartition, part *storage.Partition, p controlplane.Partition, adds map[*leaderFetcher][]replication.Followed) bool {
	key := fetcherKey{leader: p.Leader, id: int32(replication.FetcherID(tp, int(r.n.cfg.ReplicaFetch.NumFetchers)))}
	lf := r.fetchers[key]
	if lf == nil {
		if lf = r.startFetcher(im, key.leader, key.id); lf == nil {
			return false
		}
		r.fetchers[key] = lf
	}
	adds[lf] = append(adds[lf], replication.Followed{TP: tp, TopicID: t.ID, Local: part, LeaderEpoch: model.Epoch(p.LeaderEpoch)})
	r.followers[tp] = &followerReplica{leader: p.Leader, leaderEpoch: p.LeaderEpoch, fetcher: key.id, part: part}
	r.n.log.Info("following partition", "partition", tp.String(), "leader", p.Leader, "leader_epoch", p.LeaderEpoch)
	return true
}

// staleFollowersLocked takes out of r.followers every partition that im
// no longer has this node follow from the same leader at the same leader
// epoch, and out of r.fetchers every fetcher whose leader moved to another
// endpoint (all its partitions with it). The caller removes the partitions
// from their fetchers and stops the fetchers, without r.mu.
func (r *replicas) staleFollowersLocked(im *controlplane.Image) (drop map[fetcherKey][]model.TopicPartition, stopped []*leaderFetcher) {
	moved := map[int32]bool{}
	for key, lf := range r.fetchers {
		if addr, ok := r.leaderAddr(im, key.leader); !ok || addr != lf.addr {
			moved[key.leader] = true
			stopped = append(stopped, lf)
			delete(r.fetchers, key)
		}
	}
	drop = map[fetcherKey][]model.TopicPartition{}
	for tp, f := range r.followers {
		keep := !moved[f.leader] && r.external[tp]
		if keep {
			p, ok := imagePartition(im, tp)
			keep = ok && p.Leader == f.leader && p.LeaderEpoch == f.leaderEpoch
		}
		if keep {
			// A replica on an offline log dir is not followed: its
			// appends fail, and the fetcher's backoff would slow the
			// partitions it shares the fetcher with. Nor is a log that
			// was replaced (the topic re-created).
			cur, ok := r.n.store.Partition(tp)
			keep = ok && cur == f.part && !r.n.store.Offline(tp)
		}
		if !keep {
			key := fetcherKey{leader: f.leader, id: f.fetcher}
			drop[key] = append(drop[key], tp)
			delete(r.followers, tp)
		}
	}
	return drop, stopped
}

func imagePartition(im *controlplane.Image, tp model.TopicPartition) (controlplane.Partition, bool) {
	t := im.Topics[tp.Topic]
	if t == nil {
		return controlplane.Partition{}, false
	}
	if i := int(tp.Partition); i < len(t.Partitions) && t.Partitions[i].Partition == tp.Partition {
		return t.Partitions[i], true
	}
	for _, p := range t.Partitions {
		if p.Partition == tp.Partition {
			return p, true
		}
	}
	return controlplane.Partition{}, false
}

// unfollow removes drop from their fetchers and stops the fetchers in
// stopped and those left with nothing to fetch. Called without r.mu.
func (r *replicas) unfollow(drop map[fetcherKey][]model.TopicPartition, stopped []*leaderFetcher) {
	for _, lf := range stopped {
		lf.stop()
	}
	for key, tps := range drop {
		r.mu.Lock()
		lf := r.fetchers[key]
		r.mu.Unlock()
		if lf == nil {
			continue // stopped above
		}
		lf.f.Remove(tps...)
		r.mu.Lock()
		empty := lf.f.Len() == 0 && r.fetchers[key] == lf
		if empty {
			delete(r.fetchers, key)
		}
		r.mu.Unlock()
		if empty {
			lf.stop()
		}
	}
}

// replicaFetchStats counts the replica fetchers' Fetch requests and their
// bytes (ringtail_replica_fetch_*): a kgo hook on every fetcher's client.
type replicaFetchStats struct{ requests, requestBytes, responseBytes atomic.Int64 }

func (s *replicaFetchStats) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		s.requests.Add(1)
		s.requestBytes.Add(int64(n))
	}
}

func (s *replicaFetchStats) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		s.responseBytes.Add(int64(n))
	}
}

// ReplicaFetches is the replica fetchers' counts for /metrics.
func (s adminSource) ReplicaFetches() admin.ReplicaFetchStats {
	if !s.n.ops.ready.Load() || s.n.repl == nil { // nil: a controller-only node
		return admin.ReplicaFetchStats{}
	}
	r := s.n.repl
	st := &r.fetchStats
	return admin.ReplicaFetchStats{Requests: st.requests.Load(), RequestBytes: st.requestBytes.Load(), ResponseBytes: st.responseBytes.Load()}
}

// leaderClient is replication.SessionLeader over kmsg requests to one
// leader.
type leaderClient struct {
	cl   *kgo.Client
	self int32
	// names maps the topic ids of every partition fetched to their names:
	// a Fetch v13+ answer names topics by id only, and an incremental one
	// carries partitions the request did not name.
	names map[[16]byte]string
	// maxWaitMs and minBytes are replica.fetch.wait.max.ms and
	// replica.fetch.min.bytes.
	maxWaitMs, minBytes int32
}

func (c *leaderClient) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	seeds := c.cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no leader address: %w", model.ErrNotLeader)
	}
	return seeds[0].Request(ctx, req)
}

// replicaErr maps a leader's error code to the model sentinels the
// fetcher understands.
func replicaErr(code int16) error {
	if code == 0 {
		return nil
	}
	err := kerr.ErrorForCode(code)
	switch {
	case errors.Is(err, kerr.OffsetOutOfRange):
		return fmt.Errorf("%v: %w", err, model.ErrOffsetOutOfRange)
	case errors.Is(err, kerr.NotLeaderForPartition), errors.Is(err, kerr.FencedLeaderEpoch),
		errors.Is(err, kerr.UnknownLeaderEpoch), errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return fmt.Errorf("%v: %w", err, model.ErrNotLeader)
	}
	return err
}

func (c *leaderClient) OffsetsForLeaderEpoch(ctx context.Context, qs []replication.EpochQuery) (map[model.TopicPartition]replication.EpochAnswer, error) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = c.self
	for _, q := range qs {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != q.TP.Topic {
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = q.TP.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = q.TP.Partition, int32(q.CurrentLeaderEpoch), int32(q.Epoch)
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	kresp, err := c.request(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	out := make(map[model.TopicPartition]replication.EpochAnswer, len(qs))
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[model.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = replication.EpochAnswer{
				EpochEnd: replication.EpochEnd{Epoch: model.Epoch(p.LeaderEpoch), EndOffset: model.Offset(p.EndOffset)},
				Err:      replicaErr(p.ErrorCode)}
		}
	}
	return out, nil
}

// Fetch sends one replica Fetch for sr. replica_id before v15,
// replica_state from v15 (KIP-903): kgo picks the version; topics go by
// name and by id, the version decides which the wire carries.
func (c *leaderClient) Fetch(ctx context.Context, sr replication.SessionRequest, maxBytes int32) (replication.FetchResponse, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = c.self, c.self
	req.MaxWaitMillis, req.MinBytes = c.maxWaitMs, c.minBytes
	if sr.SessionEpoch == -1 && len(sr.Partitions) == 0 {
		req.MaxWaitMillis = 0 // closing the session
	}
	req.MaxBytes = maxBytes
	req.SessionID, req.SessionEpoch = sr.SessionID, sr.SessionEpoch
	if sr.SessionEpoch == 0 {
		// A request that opens a session is waited for even when the
		// fetcher stops: the leader creates the session whether or not
		// its answer is read, and only the id in that answer lets stop
		// close it (else it would sit on the leader until evicted). So
		// it is not a long poll: Add and Remove cannot cut it short, and
		// a partition added meanwhile (a topic just created, its first
		// acks=all produce waiting on this follower) would wait out
		// replica.fetch.wait.max.ms. The leader answers at once; the
		// next request, incremental, long-polls.
		req.MaxWaitMillis = 0
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Duration(c.maxWaitMs)*time.Millisecond+closeSessionSlack)
		defer cancel()
	}
	for _, p := range sr.Partitions {
		c.names[p.TopicID] = p.TP.Topic
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != p.TP.Topic || req.Topics[n-1].TopicID != p.TopicID {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = p.TP.Topic, p.TopicID
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset = p.TP.Partition, int32(p.CurrentLeaderEpoch), int64(p.FetchOffset)
		rp.LogStartOffset, rp.PartitionMaxBytes = int64(p.LogStartOffset), p.MaxBytes
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	for _, p := range sr.Forgotten {
		if n := len(req.ForgottenTopics); n == 0 || req.ForgottenTopics[n-1].Topic != p.TP.Topic || req.ForgottenTopics[n-1].TopicID != p.TopicID {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID = p.TP.Topic, p.TopicID
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
		ft := &req.ForgottenTopics[len(req.ForgottenTopics)-1]
		ft.Partitions = append(ft.Partitions, p.TP.Partition)
	}
	kresp, err := c.request(ctx, req)
	if err != nil {
		return replication.FetchResponse{}, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	switch resp.ErrorCode {
	case 0, kerr.FetchSessionIDNotFound.Code, kerr.InvalidFetchSessionEpoch.Code, kerr.FetchSessionTopicIDError.Code:
	default:
		return replication.FetchResponse{}, replicaErr(resp.ErrorCode)
	}
	out := replication.FetchResponse{ErrorCode: resp.ErrorCode, SessionID: resp.SessionID}
	for _, t := range resp.Topics {
		name := t.Topic
		if resp.Version >= 13 {
			var ok bool
			if name, ok = c.names[t.TopicID]; !ok {
				continue
			}
		}
		for _, p := range t.Partitions {
			out.Partitions = append(out.Partitions, replication.PartitionData{
				TP:  model.TopicPartition{Topic: name, Partition: p.Partition},
				Err: replicaErr(p.ErrorCode), Records: p.RecordBatches,
				HighWatermark: model.Offset(p.HighWatermark), LogStartOffset: model.Offset(p.LogStartOffset)})
		}
	}
	return out, nil
}
