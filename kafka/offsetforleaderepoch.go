package kafka

// OffsetForLeaderEpoch (key 23): versions 0-4.
//
// Behavior:
//   - For each partition this node leads, the end offset of the asked
//     leader epoch in the local log (ReplicatedLog.EndOffsetForEpoch,
//     Kafka's semantics): the log end for the current epoch, the start of
//     the next epoch for an older one, UNDEFINED (-1, -1) for an unknown
//     newer one. Followers use it to truncate before fetching.
//   - Partitions led elsewhere are NOT_LEADER_OR_FOLLOWER; a stale or
//     future current_leader_epoch (v2+) is FENCED_LEADER_EPOCH /
//     UNKNOWN_LEADER_EPOCH.
//   - Authorization: DESCRIBE on each topic, else TOPIC_AUTHORIZATION_FAILED;
//     from a replica (replica_id >= 0, v3+), CLUSTER_ACTION on the cluster,
//     else every partition is CLUSTER_AUTHORIZATION_FAILED.
//
// Skipped on purpose: answering on a follower for a consumer (replica_id
// -2, KIP-392's fetch from follower).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

func handleOffsetForLeaderEpoch(s *Server, cx *reqCtx, req *kmsg.OffsetForLeaderEpochRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	lk := s.newLookup(readyWaitDefault)
	lk.check = cx.topicCheck(acl.OpDescribe)
	if req.ReplicaID >= 0 && s.AuthorizationEnabled() {
		// A replica needs CLUSTER_ACTION, and no topic ACLs.
		lk.check = nil
		if !cx.authorizeCluster(acl.OpClusterAction) {
			lk.check = func(string) error { return kerr.ClusterAuthorizationFailed }
		}
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LeaderEpoch, rp.EndOffset = -1, -1
			epoch := int32(-1)
			if req.Version >= 2 {
				epoch = p.CurrentLeaderEpoch
			}
			_, l, err := lk.partition(topicRef{name: t.Topic}, p.Partition, epoch)
			if err == nil {
				err = endOffsetForEpoch(l, model.Epoch(p.LeaderEpoch), &rp)
			}
			if err != nil {
				rp.ErrorCode = errorCode(s.log, err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func endOffsetForEpoch(l Log, epoch model.Epoch, rp *kmsg.OffsetForLeaderEpochResponseTopicPartition) error {
	rl, ok := l.(ReplicatedLog)
	if !ok {
		return kerr.UnsupportedVersion
	}
	e, off, err := rl.EndOffsetForEpoch(epoch)
	if err != nil {
		return err
	}
	rp.LeaderEpoch, rp.EndOffset = int32(e), int64(off)
	return nil
}
