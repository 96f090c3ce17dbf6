package kafka

// AlterReplicaLogDirs (key 34): versions 0-2, as Kafka's
// ReplicaManager.alterReplicaLogDirs on a broker with one log dir.
//
// Ringtail stores every replica in one log dir, the data dir (the first
// of log.dirs, the one DescribeLogDirs reports); it never moves a replica
// between dirs. So, per partition:
//   - a destination that is not the data dir's absolute path (relative
//     paths and the other entries of log.dirs included, since Ringtail
//     does not use them) is LOG_DIR_NOT_FOUND, as Kafka answers a dir that
//     is not in its config;
//   - the data dir, when it cannot be statted, is KAFKA_STORAGE_ERROR (an
//     offline dir);
//   - a topic name too long for Kafka's future-log dir name (over 255
//     bytes with "-<partition>.<32 hex>-future") is INVALID_TOPIC_EXCEPTION;
//   - a partition the metadata does not have is UNKNOWN_TOPIC_OR_PARTITION;
//     one with no replica on this node is REPLICA_NOT_AVAILABLE (Kafka's
//     answer for NOT_LEADER_OR_FOLLOWER here);
//   - a replica already in the data dir succeeds with nothing to do, as
//     Kafka answers a move to the dir a replica is in.
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
	dataDir := ""
	if d := s.cfg.Broker.DataDir(); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			dataDir = abs
		}
	}
	var statErr error
	if dataDir != "" {
		_, _, statErr = volumeBytes(dataDir)
	}
	hosted := localReplicaSet(s)
	byTopic := map[string]int{}
	for _, tp := range order {
		code := int16(0)
		switch {
		case !allowed:
			code = kerr.ClusterAuthorizationFailed.Code
		case len(tp.Topic)+len(strconv.Itoa(int(tp.Partition)))+41 > maxFutureDirNameBytes:
			code = kerr.InvalidTopicException.Code
		case dataDir == "" || dest[tp] != dataDir:
			code = kerr.LogDirNotFound.Code
		case statErr != nil:
			code = kerr.KafkaStorageError.Code
		case !hosted[tp] && !inImage(s, tp):
			code = kerr.UnknownTopicOrPartition.Code
		case !hosted[tp]:
			code = kerr.ReplicaNotAvailable.Code
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
// has (with the same topic id).
func localReplicaSet(s *Server) map[model.TopicPartition]bool {
	out := map[model.TopicPartition]bool{}
	ld, ok := s.logs.(LogDirs)
	if !ok {
		return out
	}
	im := s.ctrl.Image()
	for _, r := range ld.LocalReplicas() {
		if t, ok := im.Topics[r.Topic]; ok && t.ID == r.TopicID {
			out[model.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = true
		}
	}
	return out
}

// inImage reports whether the metadata image has tp.
func inImage(s *Server, tp model.TopicPartition) bool {
	t := s.ctrl.Image().Topics[tp.Topic]
	return t != nil && tp.Partition >= 0 && int(tp.Partition) < len(t.Partitions)
}
