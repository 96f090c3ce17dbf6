package daemon

import (
	"fmt"
	"sync"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/kafka"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

// logs adapts the storage manager to what the kafka server needs.
type logs struct {
	m     *storage.LogDirs
	r     *replicas
	ready *readiness
}

// LeaderLog returns the log of a partition this node leads by the image
// once it serves: the log is this topic's (same topic id) and, with
// followers, replication leads at the image's leader epoch.
func (l logs) LeaderLog(t *controlplane.Topic, p controlplane.Partition) (kafka.Log, bool) {
	tp := model.TopicPartition{Topic: t.Name, Partition: p.Partition}
	part, ok := l.m.Partition(tp)
	if !ok || part.TopicID() != storage.TopicID(t.ID) {
		return nil, false
	}
	if len(p.Replicas) > 1 {
		lr := l.r.leader(tp)
		if lr == nil || lr.leaderEpoch != p.LeaderEpoch {
			return nil, false
		}
	}
	return partitionLog{Partition: part, r: l.r, tp: tp}, true
}

// LocalReplicas lists every partition log in the online log dirs, led or
// followed, with its dir, topic id and the bytes of its segments
// (DescribeLogDirs).
func (l logs) LocalReplicas() []kafka.LocalReplica {
	var out []kafka.LocalReplica
	for _, d := range l.m.DirPartitions() {
		if d.Err != nil {
			continue
		}
		for _, tp := range d.Partitions {
			part, ok := l.m.Partition(tp)
			if !ok {
				continue // deleted since Dirs
			}
			size, _ := part.Size()
			out = append(out, kafka.LocalReplica{Dir: d.Path, Topic: tp.Topic, TopicID: controlplane.UUID(part.TopicID()), Partition: tp.Partition, Size: size})
		}
	}
	return out
}

// LocalReplicasOf is LocalReplicas for the given partitions only: each
// one looked up, not every log walked.
func (l logs) LocalReplicasOf(tps []model.TopicPartition) []kafka.LocalReplica {
	var out []kafka.LocalReplica
	for _, tp := range tps {
		part, ok := l.m.Partition(tp)
		if !ok || l.m.Offline(tp) {
			continue
		}
		size, _ := part.Size()
		out = append(out, kafka.LocalReplica{Dir: l.m.DirOf(tp), Topic: tp.Topic, TopicID: controlplane.UUID(part.TopicID()), Partition: tp.Partition, Size: size})
	}
	return out
}

// LocalDirs lists the log dirs, in log.dirs order, and which are offline.
func (l logs) LocalDirs() []kafka.LocalDir {
	ds := l.m.Dirs()
	out := make([]kafka.LocalDir, len(ds))
	for i, d := range ds {
		out[i] = kafka.LocalDir{Path: d.Path, Offline: d.Err != nil}
	}
	return out
}

// Offline reports whether tp's replica here is on an offline log dir (or
// may be: storage.LogDirs.HoldOffline).
func (l logs) Offline(tp model.TopicPartition) bool { return l.m.Offline(tp) }

var (
	_ kafka.LogDirs     = logs{}
	_ kafka.LocalDirs   = logs{}
	_ kafka.OfflineLogs = logs{}
)

// Changed is closed when the next reconcile pass ends.
func (l logs) Changed() <-chan struct{} { return l.ready.wait() }

// readiness is a broadcast: closed and replaced at the end of every
// reconcile pass, when LeaderLog's answers may have changed.
type readiness struct {
	mu sync.Mutex
	ch chan struct{}
}

func newReadiness() *readiness { return &readiness{ch: make(chan struct{})} }

func (r *readiness) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ch
}

func (r *readiness) changed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.ch)
	r.ch = make(chan struct{})
}

// partitionLog is a *storage.Partition with kafka's result types, and the
// replicated side of a partition this node leads (replicas.go).
type partitionLog struct {
	*storage.Partition
	r  *replicas
	tp model.TopicPartition
}

var _ kafka.ReplicatedLog = partitionLog{}

func (p partitionLog) Append(records []byte, epoch model.Epoch, done func(kafka.AppendResult)) {
	if p.r.replicated(p.tp) && p.r.leader(p.tp) == nil {
		// Led here by the image but replication has not started (or has
		// stopped): no write of any acks may land outside it.
		start, _, _ := p.Partition.Offsets()
		done(kafka.AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: start,
			Err: fmt.Errorf("%s: not leading yet: %w", p.tp, model.ErrNotLeader)})
		return
	}
	p.Partition.Append(records, epoch, func(r storage.AppendResult) {
		if r.Err == nil {
			if lr := p.r.leader(p.tp); lr != nil {
				lr.Appended(r.LastOffset + 1)
			}
		}
		done(kafka.AppendResult(r))
	})
}

func (p partitionLog) Read(offset model.Offset, maxBytes int32, minOneBatch bool) (kafka.ReadResult, error) {
	r, err := p.Partition.Read(offset, maxBytes, minOneBatch)
	return kafka.ReadResult(r), err
}

func (p partitionLog) ReadCommitted(offset model.Offset, maxBytes int32, minOneBatch bool) (kafka.ReadResult, error) {
	r, err := p.Partition.ReadCommitted(offset, maxBytes, minOneBatch)
	return kafka.ReadResult(r), err
}

// AppendMarker appends a transaction marker like Append appends records:
// through replication when the partition is replicated.
func (p partitionLog) AppendMarker(m storage.Marker, epoch model.Epoch, done func(kafka.AppendResult)) {
	if p.r.replicated(p.tp) && p.r.leader(p.tp) == nil {
		start, _, _ := p.Partition.Offsets()
		done(kafka.AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: start,
			Err: fmt.Errorf("%s: not leading yet: %w", p.tp, model.ErrNotLeader)})
		return
	}
	p.Partition.AppendMarker(m, epoch, func(r storage.AppendResult) {
		if r.Err == nil {
			if lr := p.r.leader(p.tp); lr != nil {
				lr.Appended(r.LastOffset + 1)
			}
		}
		done(kafka.AppendResult(r))
	})
}

// ReadRanges is Read answered as segment-file ranges (the sendfile path).
func (p partitionLog) ReadRanges(offset model.Offset, maxBytes int32, minOneBatch bool) (storage.Ranges, error) {
	return p.Partition.ReadRanges(offset, maxBytes, minOneBatch)
}

// FollowerReadRanges is FollowerRead (replicas.go) answered as ranges.
func (p partitionLog) FollowerReadRanges(replica int32, offset model.Offset, maxBytes int32, minOneBatch bool) (storage.Ranges, error) {
	if lr := p.r.leader(p.tp); lr != nil {
		lr.FollowerFetch(replica, offset)
	}
	return p.Partition.ReadReplicaRanges(offset, maxBytes, minOneBatch)
}

var (
	_ kafka.RangedLog           = partitionLog{}
	_ kafka.RangedReplicatedLog = partitionLog{}
	_ kafka.TxnLog              = partitionLog{}
	_ kafka.RangedTxnLog        = partitionLog{}
)
