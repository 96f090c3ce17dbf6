package kafka

// DescribeLogDirs (key 35): versions 0-4.
//
// Behavior (as Apache Kafka's ReplicaManager.describeLogDirs):
//   - One result per log dir (log.dirs, in order; LocalDirs), each
//     reported as an absolute path. A dir taken offline by an I/O error is
//     answered KAFKA_STORAGE_ERROR with no partitions, as Kafka answers an
//     offline dir. A Logs without LocalDirs describes the data dir alone.
//   - Topics null lists every partition replica stored on this node, led
//     or followed; otherwise only the partitions asked for that are stored
//     here. A topic or partition asked for that this node does not hold is
//     left out (no error), and so is a topic none of whose partitions is
//     listed.
//   - Per partition: Size is the bytes of all its segments (Kafka's
//     log.size: the .log files), OffsetLag 0 (a current log's lag is
//     max(high watermark - log end, 0), which is 0 on its own log),
//     IsFuture false.
//   - Only logs of topics the image has, with the same topic id, are
//     listed: a log left by a deleted topic, or by an earlier topic of the
//     same name, is on its way out.
//   - v4: TotalBytes and UsableBytes of the volume the dir is in (statfs:
//     f_blocks and f_bavail times f_frsize, as Java's FileStore). A dir
//     that cannot be statted is answered KAFKA_STORAGE_ERROR, as Kafka
//     answers an offline dir.
//   - Authorization: DESCRIBE on the cluster, else (v3+) the top-level
//     ErrorCode is CLUSTER_AUTHORIZATION_FAILED with no dirs (none before v3).
//
// Skipped on purpose: v5 (IsCordoned, KIP-1066), future logs
// (AlterReplicaLogDirs moves no replica between dirs). A node whose Logs
// does not implement LogDirs answers with the dirs and no partitions.

import (
	"math"
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

func handleDescribeLogDirs(s *Server, cx *reqCtx, req *kmsg.DescribeLogDirsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !cx.authorizeCluster(acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	dirs := s.localDirs()
	if len(dirs) == 0 {
		return resp, nil // no log dir configured: nothing to describe
	}
	var replicas []LocalReplica
	switch ld := s.logs.(type) {
	case LogDirsOf:
		if req.Topics != nil {
			// Only what is asked for (nothing for an empty list, as
			// consoles ask for the dirs' space alone).
			var tps []model.TopicPartition
			for _, t := range req.Topics {
				for _, p := range t.Partitions {
					tps = append(tps, model.TopicPartition{Topic: t.Topic, Partition: p})
				}
			}
			replicas = ld.LocalReplicasOf(tps)
		} else if all, ok := s.logs.(LogDirs); ok {
			replicas = all.LocalReplicas()
		}
	case LogDirs:
		replicas = ld.LocalReplicas()
	}
	for i, d := range dirs {
		abs := absPath(d.Path)
		dir := kmsg.NewDescribeLogDirsResponseDir()
		dir.Dir = abs
		if d.Offline {
			dir.ErrorCode = kerr.KafkaStorageError.Code
			resp.Dirs = append(resp.Dirs, dir)
			continue
		}
		total, usable, err := volumeBytes(abs)
		if err != nil {
			s.log.Warn("describe log dirs: log dir is unusable", "dir", abs, "err", err)
			dir.ErrorCode = kerr.KafkaStorageError.Code
			resp.Dirs = append(resp.Dirs, dir)
			continue
		}
		dir.TotalBytes, dir.UsableBytes = total, usable
		var here []LocalReplica
		for _, r := range replicas {
			if r.Dir == d.Path || (r.Dir == "" && i == 0) {
				here = append(here, r)
			}
		}
		dir.Topics = describeLocalReplicas(s, req, here)
		resp.Dirs = append(resp.Dirs, dir)
	}
	return resp, nil
}

// localDirs is the node's log dirs (LocalDirs), or its data dir alone.
func (s *Server) localDirs() []LocalDir {
	if ld, ok := s.logs.(LocalDirs); ok {
		return ld.LocalDirs()
	}
	if d := s.cfg.Broker.DataDir(); d != "" {
		return []LocalDir{{Path: d}}
	}
	return nil
}

// absPath is p made absolute, or p when that fails.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// describeLocalReplicas lists the replicas asked for (every one when
// req.Topics is null) among rs, grouped by topic in name order.
func describeLocalReplicas(s *Server, req *kmsg.DescribeLogDirsRequest, rs []LocalReplica) []kmsg.DescribeLogDirsResponseDirTopic {
	var wanted map[model.TopicPartition]bool
	if req.Topics != nil {
		wanted = map[model.TopicPartition]bool{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				wanted[model.TopicPartition{Topic: t.Topic, Partition: p}] = true
			}
		}
	}
	im := s.ctrl.Image()
	byTopic := map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
	for _, r := range rs {
		if wanted != nil && !wanted[model.TopicPartition{Topic: r.Topic, Partition: r.Partition}] {
			continue
		}
		if t, ok := im.Topics[r.Topic]; !ok || t.ID != r.TopicID {
			continue
		}
		rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		rp.Partition, rp.Size = r.Partition, r.Size
		byTopic[r.Topic] = append(byTopic[r.Topic], rp)
	}
	names := make([]string, 0, len(byTopic))
	for name := range byTopic {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]kmsg.DescribeLogDirsResponseDirTopic, 0, len(names))
	for _, name := range names {
		ps := byTopic[name]
		slices.SortFunc(ps, func(a, b kmsg.DescribeLogDirsResponseDirTopicPartition) int {
			return int(a.Partition) - int(b.Partition)
		})
		rt := kmsg.NewDescribeLogDirsResponseDirTopic()
		rt.Topic, rt.Partitions = name, ps
		out = append(out, rt)
	}
	return out
}

// volumeBytes is the size and the space available to this (unprivileged)
// process of the filesystem holding dir.
func volumeBytes(dir string) (total, usable int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, -1, err
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	return mulCapped(st.Blocks, bs), mulCapped(st.Bavail, bs), nil
}

// mulCapped is a*b, or MaxInt64 where that does not fit (as Kafka answers
// for a volume too large for a long).
func mulCapped(a, b uint64) int64 {
	if b != 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return int64(a * b)
}
