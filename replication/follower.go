package replication

import (
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

// EndOffsetForEpoch is the OffsetForLeaderEpoch answer over a leader-epoch
// cache and log end, with Kafka's endOffsetFor semantics (the same as
// storage.Partition.EndOffsetForEpoch): for the latest epoch, that epoch
// and the log end; for an older one, the largest cached epoch <= it and
// the start of the next; undefined for an empty cache or a newer epoch.
func EndOffsetForEpoch(local []storage.EpochStart, epoch model.Epoch, logEnd model.Offset) EpochEnd {
	e, off := localEndForEpoch(local, epoch, logEnd)
	return EpochEnd{Epoch: e, EndOffset: off}
}
