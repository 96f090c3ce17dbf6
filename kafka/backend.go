package kafka

import (
	"context"
	"time"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

// What the protocol server needs from the rest of the node. The daemon
// provides both: Controller is *controlplane.Controller, Logs adapts the
// storage manager. Keeping them as interfaces here lets handler tests run on
// small in-memory fakes.

// AppendResult is the outcome of appending one partition's records.
type AppendResult struct {
	BaseOffset, LastOffset model.Offset
	LogAppendTime          int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset         model.Offset
	Err                    error // wraps a model.Err* sentinel
}

// ReadResult is what a fetch of one partition returns.
type ReadResult struct {
	// Records holds whole batches, starting with the batch that contains
	// the fetch offset (which may start before it).
	Records                                         []byte
	HighWatermark, LastStableOffset, LogStartOffset model.Offset
	// Aborted (TxnLog.ReadCommitted) lists the aborted transactions
	// whose batches the records may hold.
	Aborted []storage.AbortedTxn
}

// Log is one partition's log on this node.
type Log interface {
	// Append validates records (one or more magic-v2 batches) and appends
	// them; done runs once, maybe on another goroutine, and must not block.
	// records must stay unmodified until done runs.
	Append(records []byte, leaderEpoch model.Epoch, done func(AppendResult))
	// Read returns whole batches from offset, up to maxBytes (at least one
	// batch if minOneBatch). offset == high watermark gives an empty result;
	// outside [log start, high watermark] gives model.ErrOffsetOutOfRange.
	Read(offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error)
	Offsets() (logStart, highWatermark, logEnd model.Offset)
	// OffsetForTime returns the first offset whose timestamp is >= ts.
	OffsetForTime(ts int64) (offset model.Offset, timestamp int64, ok bool)
	// MaxTimestamp returns the largest timestamp and its offset, or (-1, -1).
	MaxTimestamp() (ts int64, offset model.Offset)
	// DeleteRecords moves the log start to before (-1: the high watermark).
	DeleteRecords(before model.Offset) (model.Offset, error)
	// Changed is closed on the next high-watermark advance.
	Changed() <-chan struct{}
}

// ReplicatedLog is what a Log this node leads may also do when the
// partition has followers (the daemon's log adapter implements it for
// every partition; on an unreplicated one CheckAppend is nil and
// AwaitCommit answers at once).
type ReplicatedLog interface {
	Log
	// CheckAppend is called before an acks=all append: an error wraps
	// model.ErrNotEnoughReplicas when the ISR is below min.insync.replicas.
	CheckAppend() error
	// AwaitCommit calls done (once, maybe on another goroutine) when the
	// high watermark passes lastOffset, or with an error wrapping
	// model.ErrNotEnoughReplicasAfterAppend, model.ErrNotLeader or
	// context.DeadlineExceeded.
	AwaitCommit(lastOffset model.Offset, deadline time.Time, done func(error))
	// FollowerRead serves a follower's fetch: it records the follower's
	// log end (offset) with the leader and reads up to the log end.
	FollowerRead(replica int32, offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error)
	// EndOffsetForEpoch answers OffsetForLeaderEpoch.
	EndOffsetForEpoch(epoch model.Epoch) (model.Epoch, model.Offset, error)
}

// TxnLog is what a Log does for transactions (the daemon's logs all do;
// a Log without it serves no transactional traffic).
type TxnLog interface {
	// ReadCommitted is Read for read_committed consumers: up to the last
	// stable offset, with the aborted transactions the records overlap.
	ReadCommitted(offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error)
	// AppendMarker appends a transaction marker (see
	// storage.Partition.AppendMarker); done runs once, maybe on another
	// goroutine, and must not block.
	AppendMarker(m storage.Marker, leaderEpoch model.Epoch, done func(AppendResult))
	// Producers lists the partition's producers (DescribeProducers).
	Producers() ([]storage.ProducerInfo, error)
}

// RangedTxnLog is ReadCommitted answered as file ranges.
type RangedTxnLog interface {
	ReadCommittedRanges(offset model.Offset, maxBytes int32, minOneBatch bool) (storage.Ranges, error)
}

// RangedLog is a Log that can also answer a read with segment-file ranges
// instead of bytes (storage.Partition.ReadRanges), so that the connection's
// writer sends the records with sendfile and they never enter user space.
// The semantics are Read's: same offsets, limits and errors. The caller
// releases the ranges once the response is written (or dropped).
type RangedLog interface {
	ReadRanges(offset model.Offset, maxBytes int32, minOneBatch bool) (storage.Ranges, error)
}

// RangedReplicatedLog is FollowerRead answered as file ranges.
type RangedReplicatedLog interface {
	FollowerReadRanges(replica int32, offset model.Offset, maxBytes int32, minOneBatch bool) (storage.Ranges, error)
}

// Logs finds the local logs of the partitions this node leads.
type Logs interface {
	// LeaderLog returns the log of partition p of topic t, which the image
	// says this node leads, once it can serve as that leader: the log
	// exists for this topic id (not a log left by an earlier topic of the
	// same name) and, on a replicated partition, replication runs at p's
	// leader epoch. false means not yet.
	LeaderLog(t *controlplane.Topic, p controlplane.Partition) (Log, bool)
	// Changed is closed the next time LeaderLog's answers may have changed.
	Changed() <-chan struct{}
}

// LocalReplica is one partition replica whose log is stored on this node,
// led or followed.
type LocalReplica struct {
	// Dir is the log dir holding it ("": the data dir, the first of
	// log.dirs).
	Dir       string
	Topic     string
	TopicID   controlplane.UUID // from the log's partition.metadata; zero if none
	Partition int32
	// Size is the bytes of all the log's segments (the .log files, as
	// Kafka's log.size), what DescribeLogDirs reports.
	Size int64
}

// LogDirs is what a Logs may also do: list every partition replica stored
// in the node's data dir (DescribeLogDirs). A Logs without it answers
// DescribeLogDirs with no partitions.
type LogDirs interface {
	LocalReplicas() []LocalReplica
}

// LogDirsOf is what a LogDirs may also do: list only the replicas of the
// given partitions, without walking every log (a DescribeLogDirs naming
// 50 topics on a node of 100,000 partitions).
type LogDirsOf interface {
	LocalReplicasOf(tps []model.TopicPartition) []LocalReplica
}

// LocalDir is one of the node's log dirs.
type LocalDir struct {
	Path    string
	Offline bool // taken offline by an I/O error
}

// LocalDirs is what a Logs may also do: list the log dirs (log.dirs) and
// which are offline (DescribeLogDirs). Without it the data dir alone is
// described.
type LocalDirs interface {
	LocalDirs() []LocalDir
}

// OfflineLogs is what a Logs may also do: say which partition replicas of
// this node are on an offline log dir. Their data requests answer
// KAFKA_STORAGE_ERROR, and Metadata lists this node among their offline
// replicas.
type OfflineLogs interface {
	Offline(tp model.TopicPartition) bool
}

// Controller is the metadata side: a read-only image plus the commands that
// change it. Errors wrap model.Err* sentinels.
type Controller interface {
	Image() *controlplane.Image
	// CatchUp returns once the image holds every entry the metadata quorum
	// had committed when it was called.
	CatchUp(ctx context.Context) error
	CreateTopics(ctx context.Context, topics []controlplane.CreateTopic, validateOnly bool) []controlplane.CreateTopicResult
	DeleteTopics(ctx context.Context, names []string) []error
	CreatePartitions(ctx context.Context, topic string, count int32, assignments [][]int32, validateOnly bool) error
	AlterTopicConfigs(ctx context.Context, topic string, ops []controlplane.ConfigOp, incremental, validateOnly bool) error
	AllocateProducerID(ctx context.Context) (model.ProducerID, error)
	// AlterUserScramCredentials commits SCRAM credential changes, all or
	// none (scram_admin.go).
	AlterUserScramCredentials(ctx context.Context, recs []controlplane.ScramRecord) error
	// AlterClientQuotas validates and commits client quota changes; one
	// error per alteration (controlplane/quotas.go).
	AlterClientQuotas(ctx context.Context, alts []controlplane.QuotaAlteration, validateOnly bool) []error
	// CreateACLs and DeleteACLs change the ACL bindings (acls.go).
	CreateACLs(ctx context.Context, bindings []acl.Binding) []error
	DeleteACLs(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, error)
}

var _ Controller = (*controlplane.Controller)(nil)
