package kafka

// AlterReplicaLogDirs (key 34): versions 0-2, as Kafka's
// ReplicaManager.alterReplicaLogDirs for a replica already in the
// destination.
//
// Ringtail stores each replica in one of log.dirs (the ones
// DescribeLogDirs reports) and never moves a replica between dirs. So,
// per partition:
//   - a destination that is not the absolute path of a log dir (relative
//     paths included) is LOG_DIR_NOT_FOUND, as Kafka answers a dir that is
//     not in its config;
//   - a destination log dir that is offline, or cannot be statted, is
//     KAFKA_STORAGE_ERROR;
//   - a topic name too long for Kafka's future-log dir name (over 255
//     bytes with "-<partition>.<32 hex>-future") is INVALID_TOPIC_EXCEPTION;
//   - a partition the metadata does not have is UNKNOWN_TOPIC_OR_PARTITION;
//     one with no replica on this node is REPLICA_NOT_AVAILABLE (Kafka's
//     answer for NOT_LEADER_OR_FOLLOWER here);
//   - a replica already in the destination succeeds with nothing to do,
//     as Kafka answers a move to the dir a replica is in; a replica in
//     another log dir is LOG_DIR_NOT_FOUND (moves are not served).
//
// A partition named under several dirs is answered once, for the last.
// Authorization: ALTER on the cluster, else every partition is
// CLUSTER_AUTHORIZATION_FAILED. v1 and v2 change only the encoding.

import (
	"path/filepath"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

// maxFutureDirNameBytes is the longest future-log dir name Kafka accepts.
const maxFutureDirNameBytes = 255

func handleAlterReplicaLogDirs(s *Server, cx *reqCtx, req *kmsg.AlterReplicaLogDirsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
	dest := map[model.TopicPartition]string{}
	var order []model.TopicPartition
	for _, d := range req.Dirs {
		for _, t := range d.Topics {
			for _, p := range t.Partitions {
				tp := model.TopicPartition{Topic: t.Topic, Partition: p}
				if _, ok := dest[tp]; !ok {
					order = append(order, tp)
				}
				dest[tp] = d.Dir
			}
		}
	}
	allowed := cx.authorizeCluster(acl.OpAlter)
	// The log dirs by absolute path: true when usable.
	usable := map[string]bool{}
	dirs := s.localDirs()
	for _, d := range dirs {
		abs, err := filepath.Abs(d.Path)
		if err != nil {
			continue
		}
		_, _, statErr := volumeBytes(abs)
		usable[abs] = !d.Offline && statErr == nil
	}
	hosted := localReplicaSet(s, dirs)
	byTopic := map[string]int{}
	for _, tp := range order {
		code := int16(0)
		switch {
		case !allowed:
			code = kerr.ClusterAuthorizationFailed.Code
		case len(tp.Topic)+len(strconv.Itoa(int(tp.Partition)))+41 > maxFutureDirNameBytes:
			code = kerr.InvalidTopicException.Code
		case !hasKey(usable, dest[tp]):
			code = kerr.LogDirNotFound.Code
		case !usable[dest[tp]]:
			code = kerr.KafkaStorageError.Code
		case hosted[tp] == "" && !inImage(s, tp):
			code = kerr.UnknownTopicOrPartition.Code
		case hosted[tp] == "":
			code = kerr.ReplicaNotAvailable.Code
		case hosted[tp] != dest[tp]:
			code = kerr.LogDirNotFound.Code
		}
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[tp.Topic] = i
			rt := kmsg.NewAlterReplicaLogDirsResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
		rp.Partition, rp.ErrorCode = tp.Partition, code
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}

// localReplicaSet is the replicas stored on this node of topics the image
// has (with the same topic id), each with the absolute path of its log
// dir.
func localReplicaSet(s *Server, dirs []LocalDir) map[model.TopicPartition]string {
	out := map[model.TopicPartition]string{}
	ld, ok := s.logs.(LogDirs)
	if !ok || len(dirs) == 0 {
		return out
	}
	im := s.ctrl.Image()
	for _, r := range ld.LocalReplicas() {
		if t, ok := im.Topics[r.Topic]; ok && t.ID == r.TopicID {
			dir := r.Dir
			if dir == "" {
				dir = dirs[0].Path
			}
			out[model.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = absPath(dir)
		}
	}
	return out
}

func hasKey(m map[string]bool, k string) bool {
	_, ok := m[k]
	return ok
}

// inImage reports whether the metadata image has tp.
func inImage(s *Server, tp model.TopicPartition) bool {
	t := s.ctrl.Image().Topics[tp.Topic]
	return t != nil && tp.Partition >= 0 && int(tp.Partition) < len(t.Partitions)
}
