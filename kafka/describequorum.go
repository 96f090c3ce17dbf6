package kafka

// DescribeQuorum (key 55): versions 0-2.
//
// Behavior:
//   - Answers for __cluster_metadata-0 from this node's view of the
//     controller quorum: the leader (-1 during an election) and every voter
//     of controller.quorum.voters. Any node answers (Kafka forwards to the
//     active controller); `ringtail cluster info` uses it.
//   - Another topic or partition is UNKNOWN_TOPIC_OR_PARTITION (with an
//     error message from v2).
//   - On the quorum leader, each voter's and observer's log end offset is
//     the raft index the leader knows it holds (raft's Match), so that
//     the leader's own minus a replica's is that replica's lag in entries;
//     v1's last fetch timestamp is when the leader last heard from it and
//     its last caught-up timestamp the same when it holds everything, else
//     -1. Any other node does not know them: -1 (Kafka forwards
//     DescribeQuorum to the active controller; ask that node).
//   - v2 (KIP-853): replica directory ids are zero, as Kafka reports with
//     a static voter set (kraft.version 0); Nodes lists each voter with its
//     controller.quorum.voters endpoint under the first of
//     controller.listener.names.
//   - Authorization: DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED.
//
// Skipped on purpose: the leader epoch is the raft term and offsets are
// raft indexes, not Kafka offsets of a metadata topic; observers are the registered brokers that are not voters, with no
// endpoints in Nodes (Kafka lists observers' endpoints only for KIP-853
// dynamic quorums).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"slices"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
)

const metadataTopic = "__cluster_metadata"

// quorumDescriber is the part of *controlplane.Controller DescribeQuorum
// needs; handler fakes without it answer with no voters.
type quorumDescriber interface {
	Status() controlplane.QuorumStatus
	Voters() []int32
	Progress() (last uint64, replicas map[int32]controlplane.ReplicaProgress, ok bool)
}

// replicaState is one voter's or observer's state: its progress where this
// node leads the quorum, -1 (unknown) elsewhere.
func replicaState(id int32, last uint64, progress map[int32]controlplane.ReplicaProgress) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	v.ReplicaID, v.LogEndOffset = id, -1
	if p, ok := progress[id]; ok {
		v.LogEndOffset = int64(p.Match)
		if !p.LastContact.IsZero() {
			v.LastFetchTimestamp = p.LastContact.UnixMilli()
			if p.Match >= last {
				v.LastCaughtUpTimestamp = v.LastFetchTimestamp
			}
		}
	}
	return v
}

func handleDescribeQuorum(s *Server, cx *reqCtx, req *kmsg.DescribeQuorumRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if !cx.authorizeCluster(acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	leader := s.ctrl.Image().ControllerID
	var voters []int32
	epoch, hw := int32(-1), int64(-1)
	var last uint64
	var progress map[int32]controlplane.ReplicaProgress
	if q, ok := s.ctrl.(quorumDescriber); ok {
		st := q.Status()
		leader, epoch, hw = st.LeaderID, int32(st.Term), int64(st.Applied)
		voters = q.Voters()
		last, progress, _ = q.Progress()
	}
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition = rp.Partition
			if rt.Topic != metadataTopic || rp.Partition != 0 {
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
				if req.Version >= 2 {
					msg := "DescribeQuorum answers only for " + metadataTopic + "-0"
					p.ErrorMessage = &msg
				}
				t.Partitions = append(t.Partitions, p)
				continue
			}
			// The epoch is the raft term; the high watermark is the raft
			// index this node has applied.
			p.LeaderID, p.LeaderEpoch, p.HighWatermark = leader, epoch, hw
			for _, id := range voters {
				p.CurrentVoters = append(p.CurrentVoters, replicaState(id, last, progress))
			}
			// Observers: the brokers that follow the log as learners.
			p.Observers = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
			if len(voters) > 0 {
				for _, id := range s.ctrl.Image().BrokerIDs() {
					if !slices.Contains(voters, id) {
						p.Observers = append(p.Observers, replicaState(id, last, progress))
					}
				}
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if req.Version >= 2 {
		resp.Nodes = quorumNodes(s, voters)
	}
	return resp, nil
}

// quorumNodes are the voters' endpoints from controller.quorum.voters.
func quorumNodes(s *Server, voters []int32) []kmsg.DescribeQuorumResponseNode {
	out := []kmsg.DescribeQuorumResponseNode{}
	if s.cfg.Broker == nil || len(s.cfg.Broker.ControllerListenerNames) == 0 {
		return out
	}
	listener := s.cfg.Broker.ControllerListenerNames[0]
	for _, id := range voters {
		for _, v := range s.cfg.Broker.ControllerQuorumVoters {
			if v.ID != id || v.Port <= 0 || v.Port > 65535 {
				continue
			}
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = id
			n.Listeners = []kmsg.DescribeQuorumResponseNodeListener{{Name: listener, Host: v.Host, Port: uint16(v.Port)}}
			out = append(out, n)
		}
	}
	return out
}
