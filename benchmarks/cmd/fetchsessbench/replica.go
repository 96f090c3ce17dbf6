package main

// The --replica variant: what fetch sessions save a follower. Two nodes;
// node 1 leads every partition of a 1,000-partition topic with
// replication factor 2, node 2 follows them all from one replica fetcher.
// A producer writes the same steady trickle (acks=all). Measured on node
// 2's /metrics: its replica Fetch requests, request and response bytes
// (ringtail_replica_fetch_*); and node 1's CPU seconds per MiB it
// replicated (ringtail_topic_replication_bytes_out_total). Sessions off is
// max.incremental.fetch.session.cache.slots = 0 on node 1: the follower
// asks for a session on every full fetch and gets none.

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/benchmarks/internal/localnode"
)

// metricValue sums the samples of name (any labels matching the label
// substring, "" for all) in a /metrics text.
func metricValue(text, name, label string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		if label != "" && !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// onceReplica runs one --replica variant on a fresh two-node cluster.
func onceReplica(ctx context.Context, p params, dir string, sessions bool) (Run, error) {
	nodes, err := localnode.StartCluster(ctx, p.bin, dir, 2, func(id int) string {
		if !sessions && id == 1 {
			return "max.incremental.fetch.session.cache.slots = 0"
		}
		return ""
	})
	if err != nil {
		return Run{}, err
	}
	defer func() {
		for _, n := range nodes {
			n.Stop()
		}
	}()
	leader, follower := nodes[0], nodes[1]
	const topic = "replica-sessions"
	cl, err := kgo.NewClient(kgo.SeedBrokers(leader.Addr, follower.Addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return Run{}, err
	}
	defer cl.Close()
	if err := createLedBy(ctx, cl, topic, p.partitions, 1, 2); err != nil {
		return Run{}, err
	}
	if err := waitInSync(ctx, cl, topic, p.partitions); err != nil {
		return Run{}, err
	}

	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var prodErr atomic.Value
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		value := make([]byte, p.size)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		perTick := max(p.rate/100, 1)
		for lctx.Err() == nil {
			select {
			case <-tick.C:
			case <-lctx.Done():
				return
			}
			for range perTick {
				cl.Produce(lctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil && lctx.Err() == nil {
						prodErr.Store(err)
					}
				})
			}
		}
	}()
	select { // warm-up: the follower's session opens
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return Run{}, ctx.Err()
	}
	type sample struct{ reqs, reqBytes, respBytes, replicated, cpu float64 }
	take := func() (sample, error) {
		fm, err := follower.Metrics()
		if err != nil {
			return sample{}, err
		}
		lm, err := leader.Metrics()
		if err != nil {
			return sample{}, err
		}
		cpu, err := localnode.CPUSeconds(leader.PID())
		if err != nil {
			return sample{}, err
		}
		return sample{reqs: metricValue(fm, "ringtail_replica_fetch_requests_total", ""),
			reqBytes:   metricValue(fm, "ringtail_replica_fetch_request_bytes_total", ""),
			respBytes:  metricValue(fm, "ringtail_replica_fetch_response_bytes_total", ""),
			replicated: metricValue(lm, "ringtail_topic_replication_bytes_out_total", `topic="`+topic+`"`), cpu: cpu}, nil
	}
	s0, err := take()
	if err != nil {
		return Run{}, err
	}
	start := time.Now()
	select {
	case <-time.After(p.dur):
	case <-ctx.Done():
		return Run{}, ctx.Err()
	}
	s1, err := take()
	if err != nil {
		return Run{}, err
	}
	secs := time.Since(start).Seconds()
	stop()
	<-prodDone
	if e := prodErr.Load(); e != nil {
		return Run{}, fmt.Errorf("produce: %v", e)
	}
	reqs, rb, respB := s1.reqs-s0.reqs, s1.reqBytes-s0.reqBytes, s1.respBytes-s0.respBytes
	if reqs == 0 || s1.replicated == s0.replicated {
		return Run{}, fmt.Errorf("the follower fetched nothing in the window (%.0f fetch requests)", reqs)
	}
	r := Run{Sessions: sessions, FetchRequests: int64(reqs), RequestBytesPerS: rb / secs, BytesPerRequest: rb / reqs,
		ResponseBytesPS: respB / secs, FetchedMiB: (s1.replicated - s0.replicated) / (1 << 20), BrokerCPUSeconds: s1.cpu - s0.cpu}
	r.CPUPerMiB = r.BrokerCPUSeconds / r.FetchedMiB
	return r, nil
}

// createLedBy creates topic with every partition on replicas (the first
// the preferred leader).
func createLedBy(ctx context.Context, cl *kgo.Client, topic string, partitions int, replicas ...int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, -1, -1
	for i := range partitions {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), replicas
		t.ReplicaAssignment = append(t.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	if len(resp.Topics) != 1 {
		return fmt.Errorf("create topic: %d topics in the answer", len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	return nil
}

// waitInSync waits until every partition of topic has a leader and two
// in-sync replicas.
func waitInSync(ctx context.Context, cl *kgo.Client, topic string, partitions int) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		if resp, err := req.RequestWith(ctx, cl); err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == partitions {
			ok := true
			for _, p := range resp.Topics[0].Partitions {
				ok = ok && p.ErrorCode == 0 && p.Leader >= 0 && len(p.ISR) == 2
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("topic %s: partitions not all in sync after 60 s", topic)
}
