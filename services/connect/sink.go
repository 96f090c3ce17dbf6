package connect

// The sink side of the runtime: a read_committed consumer in group
// connect-<connector>; each poll's records go to the task, the task makes
// them durable, and the offsets it returns are committed.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const maxPollRecords = 1000

// SinkGroup is the consumer group of a sink connector, as Kafka names it.
func SinkGroup(connector string) string { return "connect-" + connector }

func (w *Worker) runSink(ctx context.Context, tr *taskRunner) error {
	keyConv, valConv, err := w.converters(tr.connCfg)
	if err != nil {
		return failure(err)
	}
	task := tr.plugin.NewSink()
	if err := task.Start(tr.taskCfg, tr.log); err != nil {
		return failure(fmt.Errorf("start: %w", err))
	}
	defer task.Stop()
	// taskMu keeps the group's offset adjustment (a kgo goroutine) apart
	// from Put and Flush.
	var taskMu sync.Mutex
	cl, err := kgo.NewClient(w.sinkOpts(tr, sinkAdjust(tr, task, &taskMu))...)
	if err != nil {
		return failure(err)
	}
	defer cl.Close()
	var lastCommit map[TopicPartition]int64
	commit := func(ctx context.Context, offs map[TopicPartition]int64) {
		todo := map[string]map[int32]kgo.EpochOffset{}
		for tp, o := range offs {
			if lastCommit[tp] == o {
				continue
			}
			if todo[tp.Topic] == nil {
				todo[tp.Topic] = map[int32]kgo.EpochOffset{}
			}
			todo[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		if len(todo) == 0 {
			return
		}
		cl.CommitOffsetsSync(ctx, todo, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				// The sidecar is ahead; a later commit catches up.
				tr.log.Warn("connect: sink offset commit failed", "err", err)
				return
			}
			lastCommit = offs
		})
	}
	for w.waitRunning(ctx, tr) {
		pctx, pcancel := context.WithCancel(ctx)
		tr.pollCancel.Store(&pcancel)
		if tr.paused.Load() {
			pcancel()
		}
		fs := cl.PollRecords(pctx, maxPollRecords)
		tr.pollCancel.Store(nil)
		pcancel()
		if fs.IsClientClosed() || ctx.Err() != nil {
			cl.AllowRebalance()
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				tr.log.Warn("connect: sink fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		var recs []SinkRecord
		var convErr error
		fs.EachRecord(func(r *kgo.Record) {
			if convErr != nil {
				return
			}
			k, err := keyConv.ToConnect(r.Topic, r.Key)
			if err != nil {
				convErr = fmt.Errorf("key converter: topic %s partition %d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			v, err := valConv.ToConnect(r.Topic, r.Value)
			if err != nil {
				convErr = fmt.Errorf("value converter: topic %s partition %d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			recs = append(recs, SinkRecord{TopicPartition: TopicPartition{r.Topic, r.Partition}, Offset: r.Offset, Key: k, Value: v})
		})
		if convErr != nil {
			cl.AllowRebalance()
			return failure(convErr)
		}
		taskMu.Lock()
		err := task.Put(recs)
		var offs map[TopicPartition]int64
		if err == nil {
			offs, err = task.Flush()
		}
		taskMu.Unlock()
		if err != nil {
			cl.AllowRebalance()
			return failure(err)
		}
		w.metrics.written(tr.id, len(recs))
		if len(recs) > 0 {
			commit(ctx, offs)
		}
		cl.AllowRebalance()
	}
	// A clean stop commits what the file holds, so a restart needs no
	// sidecar correction.
	taskMu.Lock()
	offs, err := task.Flush()
	taskMu.Unlock()
	if err == nil {
		cctx, cancel := context.WithTimeout(context.Background(), stopTimeout/2)
		commit(cctx, offs)
		cancel()
	}
	return nil
}

// sinkAdjust lets the task move the start of newly assigned partitions
// (the file sink's sidecar offsets win over an older group commit).
func sinkAdjust(tr *taskRunner, task SinkTask, taskMu *sync.Mutex) func(context.Context, map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	return func(_ context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
		committed := map[TopicPartition]int64{}
		for t, ps := range m {
			for p, o := range ps {
				off := o.EpochOffset().Offset
				if off < 0 {
					off = -1 // no commit: the reset offset (earliest) applies
				}
				committed[TopicPartition{t, p}] = off
			}
		}
		taskMu.Lock()
		start := task.Open(committed)
		taskMu.Unlock()
		for tp, off := range start {
			tr.log.Info("connect: sink starts a partition at the task's recorded offset, ahead of the group's commit",
				"topic", tp.Topic, "partition", tp.Partition, "offset", off, "committed", committed[tp])
			m[tp.Topic][tp.Partition] = kgo.NewOffset().At(off)
		}
		return m, nil
	}
}

// sinkOpts is the sink consumer: Kafka's group name and read_committed,
// commits only by the runtime, rebalances only between batches.
func (w *Worker) sinkOpts(tr *taskRunner, adjust func(context.Context, map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error)) []kgo.Opt {
	// Static membership (group.instance.id = the task's name): a task
	// restarted after a kill takes its partitions back at once, instead
	// of the group waiting out the dead member's session.
	opts := []kgo.Opt{kgo.SeedBrokers(w.cfg.Bootstrap...), kgo.ConsumerGroup(SinkGroup(tr.id.Connector)),
		kgo.InstanceID("connect-" + tr.id.String()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(), kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {}),
		kgo.AdjustFetchOffsetsFn(adjust), kgo.AllowAutoTopicCreation(), kgo.ClientID("ringtail-connect")}
	opts = append(opts, w.cfg.ClientOpts...)
	if re := strings.TrimSpace(tr.taskCfg[keyTopicsRegex]); re != "" {
		return append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(re))
	}
	return append(opts, kgo.ConsumeTopics(splitList(tr.taskCfg[keyTopics])...))
}
