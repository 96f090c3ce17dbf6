package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/replication"
	"github.com/ringtail/ringtail/storage"
)

// The follower side: one goroutine per partition this node follows, for
// one (leader, leader epoch), running a replication.Fetcher over Kafka
// OffsetForLeaderEpoch and Fetch requests to the leader's inter-broker
// listener with replica_id set to this node. replicas.update restarts it
// when the image names another leader or leader epoch.

const (
	// followerMaxWaitMs is the follower's Fetch max_wait_ms. The leader's
	// long poll wakes on high-watermark advances only, not on appends, so
	// this bounds how long a new append waits for followers.
	followerMaxWaitMs = 20
	// followerBackoff is the pause after a failed fetch round.
	followerBackoff = 200 * time.Millisecond
	// replicaFetchMaxBytes is replica.fetch.max.bytes.
	replicaFetchMaxBytes = 1 << 20
)

type followerReplica struct {
	leader      int32
	leaderEpoch int32
	cancel      context.CancelFunc
	done        chan struct{}
}

func (f *followerReplica) stop() {
	f.cancel()
	<-f.done
}

// startFollower starts fetching tp from p.Leader; nil when the leader has
// no inter-broker endpoint in im.
func (r *replicas) startFollower(im *controlplane.Image, t *controlplane.Topic, tp model.TopicPartition, part *storage.Partition, p controlplane.Partition) *followerReplica {
	b, ok := im.Brokers[p.Leader]
	if !ok {
		return nil
	}
	ep, ok := b.Endpoint(r.n.cfg.InterBrokerListenerName)
	if !ok {
		r.n.log.Error("leader has no inter-broker listener", "partition", tp.String(), "leader", p.Leader, "listener", r.n.cfg.InterBrokerListenerName)
		return nil
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID(fmt.Sprintf("ringtail-replica-%d", r.n.cfg.NodeID)),
		kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}
	if tc := r.n.peerTLS(); tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		r.n.log.Error("replica fetcher client", "partition", tp.String(), "err", err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &followerReplica{leader: p.Leader, leaderEpoch: p.LeaderEpoch, cancel: cancel, done: make(chan struct{})}
	fetcher := &replication.Fetcher{TP: tp, Local: part, LeaderEpoch: model.Epoch(p.LeaderEpoch), MaxBytes: replicaFetchMaxBytes,
		Leader: &leaderClient{cl: cl, self: r.n.cfg.NodeID, topicID: t.ID}}
	r.n.log.Info("following partition", "partition", tp.String(), "leader", p.Leader, "leader_epoch", p.LeaderEpoch)
	go func() {
		defer close(f.done)
		defer cl.Close()
		for ctx.Err() == nil {
			if _, err := fetcher.Step(ctx); err != nil && ctx.Err() == nil {
				r.n.log.Debug("replica fetch", "partition", tp.String(), "leader", p.Leader, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(followerBackoff):
				}
			}
		}
	}()
	return f
}

// leaderClient is replication.LeaderClient over kmsg requests to one
// leader.
type leaderClient struct {
	cl      *kgo.Client
	self    int32
	topicID controlplane.UUID
}

func (c *leaderClient) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	seeds := c.cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no leader address: %w", model.ErrNotLeader)
	}
	return seeds[0].Request(ctx, req)
}

// replicaErr maps a leader's error code to the model sentinels the
// Fetcher understands.
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

func (c *leaderClient) OffsetForLeaderEpoch(ctx context.Context, tp model.TopicPartition, leaderEpoch, epoch model.Epoch) (replication.EpochEnd, error) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = c.self
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tp.Partition, int32(leaderEpoch), int32(epoch)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.request(ctx, req)
	if err != nil {
		return replication.EpochEnd{}, err
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return replication.EpochEnd{}, fmt.Errorf("OffsetForLeaderEpoch answer without the partition: %w", model.ErrNotLeader)
	}
	p := resp.Topics[0].Partitions[0]
	if err := replicaErr(p.ErrorCode); err != nil {
		return replication.EpochEnd{}, err
	}
	return replication.EpochEnd{Epoch: model.Epoch(p.LeaderEpoch), EndOffset: model.Offset(p.EndOffset)}, nil
}

func (c *leaderClient) Fetch(ctx context.Context, tp model.TopicPartition, leaderEpoch model.Epoch, offset model.Offset, maxBytes int32) (replication.FetchResult, error) {
	req := kmsg.NewPtrFetchRequest()
	// replica_id before v15, replica_state from v15 (KIP-903): kgo picks
	// the version. No fetch session (SessionEpoch -1): a follower fetches
	// one partition per request, so a session would save nothing and take
	// a cache slot per partition.
	req.ReplicaID, req.ReplicaState.ID = c.self, c.self
	req.MaxWaitMillis = followerMaxWaitMs
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = tp.Topic, c.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset, rp.PartitionMaxBytes = tp.Partition, int32(leaderEpoch), int64(offset), maxBytes
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.request(ctx, req)
	if err != nil {
		return replication.FetchResult{}, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := replicaErr(resp.ErrorCode); err != nil {
		return replication.FetchResult{}, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return replication.FetchResult{}, fmt.Errorf("Fetch answer without the partition: %w", model.ErrNotLeader)
	}
	p := resp.Topics[0].Partitions[0]
	if err := replicaErr(p.ErrorCode); err != nil {
		return replication.FetchResult{}, err
	}
	return replication.FetchResult{Records: p.RecordBatches, HighWatermark: model.Offset(p.HighWatermark), LogStartOffset: model.Offset(p.LogStartOffset)}, nil
}
