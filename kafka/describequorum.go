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
//     -1. Any other node forwards the request to the leader's
//     inter-broker listener, as Kafka brokers forward DescribeQuorum to
//     the active controller: clients send it to the controller that
//     Metadata names, which on Ringtail is the answering broker itself
//     (controllerID). It answers itself, progress -1, when the request
//     came from a peer (no second hop), the leader is not a broker (a
//     controller-only node) or does not answer within forwardTimeout.
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
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
		var leads bool
		last, progress, leads = q.Progress()
		if !leads && leader >= 0 && leader != s.cfg.NodeID && !strings.HasPrefix(cx.clientID, peerClientPrefix) {
			if fwd, ok := s.forwardDescribeQuorum(leader, req); ok {
				return fwd, nil
			}
		}
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

// forwardTimeout bounds a DescribeQuorum forwarded to the quorum leader.
const forwardTimeout = 5 * time.Second

// forwardDescribeQuorum asks the quorum leader (a broker) for req's
// answer; ok is false when it cannot be asked or did not answer.
func (s *Server) forwardDescribeQuorum(leader int32, req *kmsg.DescribeQuorumRequest) (kmsg.Response, bool) {
	cl, err := s.peer(leader)
	if err != nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	fwd := *req // the peer client picks the version both sides know
	resp, err := cl.Request(ctx, &fwd)
	if err != nil {
		s.log.Debug("DescribeQuorum not forwarded to the quorum leader", "leader", leader, "err", err)
		return nil, false
	}
	return resp, true
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
