package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

// EpochEnd is the leader's OffsetForLeaderEpoch answer: the largest epoch
// it knows that is <= the one asked, and where that epoch ends in its log
// (storage.UndefinedEpoch / UndefinedOffset when it cannot say).
type EpochEnd struct {
	Epoch     model.Epoch
	EndOffset model.Offset
}

// LatestEpoch is the epoch a follower asks the leader about: the newest in
// its cache; ok is false for an empty cache.
func LatestEpoch(local []storage.EpochStart) (model.Epoch, bool) {
	if len(local) == 0 {
		return storage.UndefinedEpoch, false
	}
	return local[len(local)-1].Epoch, true
}

// localEndForEpoch is Kafka's endOffsetFor over the follower's own cache.
func localEndForEpoch(local []storage.EpochStart, epoch model.Epoch, logEnd model.Offset) (model.Epoch, model.Offset) {
	if epoch < 0 || len(local) == 0 {
		return storage.UndefinedEpoch, storage.UndefinedOffset
	}
	if local[len(local)-1].Epoch == epoch {
		return epoch, logEnd
	}
	for i, e := range local {
		if e.Epoch > epoch {
			if i == 0 {
				return epoch, e.StartOffset
			}
			return local[i-1].Epoch, e.StartOffset
		}
	}
	return storage.UndefinedEpoch, storage.UndefinedOffset
}

// TruncationOffset decides where a follower cuts its log before fetching,
// given its epoch cache, log end and high watermark and the leader's
// answer for LatestEpoch(local):
//   - the leader cannot place the epoch (undefined): the high watermark,
//     the only offset known to be on the leader;
//   - the leader answered the epoch asked: min(its end offset, log end);
//   - the leader answered an older epoch (it never had ours, KIP-279): the
//     smaller of its end for that epoch and ours for the same epoch, and
//     never past the log end.
func TruncationOffset(local []storage.EpochStart, logEnd, hw model.Offset, leader EpochEnd) model.Offset {
	asked, ok := LatestEpoch(local)
	if !ok || leader.Epoch == storage.UndefinedEpoch || leader.EndOffset == storage.UndefinedOffset {
		return min(hw, logEnd)
	}
	end := leader.EndOffset
	if leader.Epoch != asked {
		if _, mine := localEndForEpoch(local, leader.Epoch, logEnd); mine != storage.UndefinedOffset {
			end = min(end, mine)
		}
	}
	return min(end, logEnd)
}

// FetchResult is one partition's answer to a replica Fetch.
type FetchResult struct {
	Records        []byte // whole batches from the fetch offset; may be empty
	HighWatermark  model.Offset
	LogStartOffset model.Offset
}

// LeaderClient is the partition leader as a follower's fetcher sees it. In
// the daemon it is Kafka OffsetForLeaderEpoch and Fetch requests with
// replica_id (ReplicaState) set to this node, over the leader's listener;
// in tests a fake in front of a real storage.Partition. Errors wrap
// model sentinels: model.ErrOffsetOutOfRange makes the fetcher truncate
// again, model.ErrNotLeader means the caller must wait for new metadata.
type LeaderClient interface {
	OffsetForLeaderEpoch(ctx context.Context, tp model.TopicPartition, leaderEpoch, epoch model.Epoch) (EpochEnd, error)
	Fetch(ctx context.Context, tp model.TopicPartition, leaderEpoch model.Epoch, offset model.Offset, maxBytes int32) (FetchResult, error)
}

// Fetcher replicates one partition from its leader into a local
// storage.Partition (in external-HW mode). It is a thin driver: Step does
// one round, the daemon's fetcher goroutine calls it in a loop (one
// goroutine per leader node, several partitions per Fetch, in a later
// step) and backs off on errors.
type Fetcher struct {
	TP          model.TopicPartition
	Local       *storage.Partition
	Leader      LeaderClient
	LeaderEpoch model.Epoch // the epoch of the leader being followed
	MaxBytes    int32       // replica.fetch.max.bytes; <= 0 means 1 MiB

	truncated bool
}

// Step truncates first if it has not yet for this leader epoch, then
// fetches once from the local log end and appends what came, and copies
// the leader's high watermark (bounded by the local end). appended is the
// number of bytes written.
func (f *Fetcher) Step(ctx context.Context) (appended int, err error) {
	if !f.truncated {
		if err := f.truncate(ctx); err != nil {
			return 0, err
		}
		f.truncated = true
	}
	_, _, end := f.Local.Offsets()
	max := f.MaxBytes
	if max <= 0 {
		max = 1 << 20
	}
	res, err := f.Leader.Fetch(ctx, f.TP, f.LeaderEpoch, end, max)
	if err != nil {
		if errors.Is(err, model.ErrOffsetOutOfRange) {
			f.truncated = false
		}
		return 0, fmt.Errorf("replication: %s: fetch at %d: %w", f.TP, int64(end), err)
	}
	if len(res.Records) > 0 {
		ch := make(chan storage.AppendResult, 1)
		f.Local.AppendReplica(res.Records, func(r storage.AppendResult) { ch <- r })
		var r storage.AppendResult
		select {
		case r = <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if r.Err != nil {
			f.truncated = false
			return 0, fmt.Errorf("replication: %s: append at %d: %w", f.TP, int64(end), r.Err)
		}
		appended = len(res.Records)
	}
	if _, err := f.Local.SetHighWatermark(res.HighWatermark); err != nil {
		return appended, err
	}
	return appended, nil
}

// truncate runs the OffsetForLeaderEpoch exchange and cuts the local log.
func (f *Fetcher) truncate(ctx context.Context) error {
	local, err := f.Local.LeaderEpochs()
	if err != nil {
		return err
	}
	_, hw, end := f.Local.Offsets()
	ans := EpochEnd{Epoch: storage.UndefinedEpoch, EndOffset: storage.UndefinedOffset}
	if epoch, ok := LatestEpoch(local); ok {
		if ans, err = f.Leader.OffsetForLeaderEpoch(ctx, f.TP, f.LeaderEpoch, epoch); err != nil {
			return fmt.Errorf("replication: %s: offset for leader epoch %d: %w", f.TP, int32(epoch), err)
		}
	} else if end == 0 {
		return nil
	}
	to := TruncationOffset(local, end, hw, ans)
	if to < end {
		if err := f.Local.TruncateTo(to); err != nil {
			return err
		}
	}
	return nil
}
