package connect

// kafkaLog tails every partition of an internal topic (configs, statuses)
// with read_committed fetches and hands the records to a callback, Kafka's
// KafkaBasedLog. Positions come from the fetched batches, so compaction
// gaps and control batches never leave a reader short of the end.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	logFetchWait    = 500 * time.Millisecond
	logRequestLimit = 5 * time.Second
	logRetryBackoff = 200 * time.Millisecond
)

type kafkaLog struct {
	cl    *kgo.Client
	adm   *kadm.Client
	topic string
	log   *slog.Logger
	// apply is called with each fetch's records, in offset order per
	// partition, from the partition's tail goroutine.
	apply func(recs []*kgo.Record)

	mu      sync.Mutex
	pos     map[int32]int64
	changed chan struct{} // closed and replaced when a position moves
	parts   int
	id      [16]byte
	leaders map[int32]int32
}

// newKafkaLog reads topic with its own client (its own connections, so its
// long polls wait behind no other log's).
func newKafkaLog(opts []kgo.Opt, topic string, log *slog.Logger, apply func([]*kgo.Record)) (*kafkaLog, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &kafkaLog{cl: cl, adm: kadm.NewClient(cl), topic: topic, log: log, apply: apply,
		pos: map[int32]int64{}, changed: make(chan struct{}), leaders: map[int32]int32{}}, nil
}

func (l *kafkaLog) close() { l.cl.Close() }

// refresh reads the topic's partitions and leaders.
func (l *kafkaLog) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, logRequestLimit)
	defer cancel()
	md, err := l.adm.Metadata(ctx, l.topic)
	if err != nil {
		return fmt.Errorf("topic %s: metadata: %w", l.topic, err)
	}
	td, ok := md.Topics[l.topic]
	if !ok || td.Err != nil {
		return fmt.Errorf("topic %s: metadata: %v", l.topic, td.Err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.id, l.parts = td.ID, len(td.Partitions)
	for p, pd := range td.Partitions {
		l.leaders[p] = pd.Leader
	}
	return nil
}

// start tails every partition until ctx ends.
func (l *kafkaLog) start(ctx context.Context, wg *sync.WaitGroup) error {
	if err := l.refresh(ctx); err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.tail(ctx)
	}()
	return nil
}

// tail fetches in rounds: one request per partition leader, all at once.
// A broker answers one request of a connection at a time, so a fetch per
// partition would queue each long poll behind the others.
func (l *kafkaLog) tail(ctx context.Context) {
	for ctx.Err() == nil {
		byLeader := map[int32][]int32{}
		l.mu.Lock()
		for p := range int32(l.parts) {
			byLeader[l.leaders[p]] = append(byLeader[l.leaders[p]], p)
		}
		l.mu.Unlock()
		var wg sync.WaitGroup
		errs := make(chan error, len(byLeader))
		for leader, parts := range byLeader {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.fetch(ctx, leader, parts); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil && ctx.Err() == nil {
			l.log.Debug("connect: internal topic fetch", "topic", l.topic, "err", err)
			if sleepCtx(ctx, logRetryBackoff) != nil {
				return
			}
			_ = l.refresh(ctx)
		}
	}
}

// fetch reads parts from their leader once, waiting up to logFetchWait
// for new records.
func (l *kafkaLog) fetch(ctx context.Context, leader int32, parts []int32) error {
	l.mu.Lock()
	id := l.id
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, int32(logFetchWait.Milliseconds()), 1, offsetFetchMaxBytes
	req.IsolationLevel, req.SessionEpoch = 1, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = l.topic, id
	pos := map[int32]int64{}
	for _, p := range parts {
		rp := kmsg.NewFetchRequestTopicPartition()
		pos[p] = l.pos[p]
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = p, l.pos[p], offsetFetchMaxBytes, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	l.mu.Unlock()
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, logRequestLimit)
	raw, err := l.cl.Broker(int(leader)).Request(rctx, req)
	cancel()
	if err != nil {
		return err
	}
	resp := raw.(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 {
		return fmt.Errorf("fetch answered %d topics", len(resp.Topics))
	}
	var firstErr error
	for i := range resp.Topics[0].Partitions {
		fr := &resp.Topics[0].Partitions[i]
		p, ok := pos[fr.Partition]
		if !ok {
			continue
		}
		if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
			if errors.Is(err, kerr.OffsetOutOfRange) && fr.LogStartOffset > p {
				l.advance(fr.Partition, nil, fr.LogStartOffset)
			} else if firstErr == nil {
				firstErr = fmt.Errorf("partition %d: %w", fr.Partition, err)
			}
			continue
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: p, IsolationLevel: kgo.ReadCommitted(),
			Topic: l.topic, Partition: fr.Partition}, fr, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("partition %d: %w", fr.Partition, fp.Err)
			}
			continue
		}
		l.advance(fr.Partition, fp.Records, next)
	}
	return firstErr
}

func (l *kafkaLog) advance(p int32, recs []*kgo.Record, next int64) {
	if len(recs) > 0 {
		l.apply(recs)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if next > l.pos[p] {
		l.pos[p] = next
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// position is the next offset partition p reads.
func (l *kafkaLog) position(p int32) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pos[p]
}

// readToEnd waits until every record written before the call is applied.
func (l *kafkaLog) readToEnd(ctx context.Context) error {
	want, err := l.endOffsets(ctx)
	for err != nil {
		// A partition leader that died: refresh the metadata and ask
		// again until ctx ends.
		l.cl.ForceMetadataRefresh()
		if sleepCtx(ctx, logRetryBackoff) != nil {
			return fmt.Errorf("topic %s: end offsets: %w", l.topic, err)
		}
		want, err = l.endOffsets(ctx)
	}
	return l.waitFor(ctx, want)
}

func (l *kafkaLog) endOffsets(ctx context.Context) (map[int32]int64, error) {
	lctx, cancel := context.WithTimeout(ctx, logRequestLimit)
	ends, err := l.adm.ListEndOffsets(lctx, l.topic)
	cancel()
	if err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && err == nil {
			err = o.Err
		}
		want[o.Partition] = o.Offset
	})
	return want, err
}

// waitFor waits until each partition's position reaches want's offset.
func (l *kafkaLog) waitFor(ctx context.Context, want map[int32]int64) error {
	for {
		l.mu.Lock()
		behind := false
		for p, o := range want {
			if l.pos[p] < o {
				behind = true
			}
		}
		ch := l.changed
		l.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: reading to the end: %w", l.topic, ctx.Err())
		case <-ch:
		}
	}
}

// ensureTopic creates an internal topic, compacted, when it is missing.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic, key string, partitions int32, replication int16, log *slog.Logger) error {
	resp, err := adm.CreateTopic(ctx, partitions, replication, map[string]*string{"cleanup.policy": strp("compact")}, topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create topic %s (%s): %w", topic, key, err)
	}
	log.Info("connect: created an internal topic", "topic", topic, "key", key, "partitions", partitions, "replication", replication)
	return nil
}
