package console

// The controller quorum on the overview: DescribeQuorum asked of the
// active controller (which knows every replica's progress; any other node
// answers -1 for them), each voter's and observer's log end in raft
// entries, its lag behind the leader and when the leader last heard from
// it.

import (
	"context"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quorumRow is one voter or observer.
type quorumRow struct {
	ID       int32
	Voter    bool
	Leader   bool
	LogEnd   int64 // -1: unknown
	Lag      int64 // entries behind the leader; -1: unknown
	LastSeen string
}

type quorumData struct {
	Leader    int32
	Epoch     int32
	Committed int64
	Rows      []quorumRow
	MaxLag    int64 // the largest known lag among the voters
	Err       string
}

// describeQuorum asks about the metadata log. Only the quorum leader
// knows every replica's progress; Metadata's controller id is the
// answering broker itself (see kafka.controllerID), and a broker that
// does not lead forwards DescribeQuorum to the leader, as Kafka's brokers
// forward it to the active controller. controller is asked, or any broker
// when it is negative or unreachable.
func (s *Server) describeQuorum(ctx context.Context, controller int32, now time.Time) *quorumData {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, t)
	var resp kmsg.Response
	var err error
	if controller >= 0 {
		resp, err = s.cl.Broker(int(controller)).Request(ctx, req)
	}
	if controller < 0 || err != nil {
		resp, err = s.cl.Request(ctx, req)
	}
	if err != nil {
		return &quorumData{Err: err.Error()}
	}
	return quorumFrom(resp.(*kmsg.DescribeQuorumResponse), now)
}

// quorumFrom turns a DescribeQuorum response into the overview's rows.
func quorumFrom(resp *kmsg.DescribeQuorumResponse, now time.Time) *quorumData {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return &quorumData{Err: err.Error()}
	}
	if len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 {
		return &quorumData{Err: "no answer for __cluster_metadata-0"}
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return &quorumData{Err: err.Error()}
	}
	d := &quorumData{Leader: p.LeaderID, Epoch: p.LeaderEpoch, Committed: p.HighWatermark, MaxLag: -1}
	leaderEnd := int64(-1)
	for _, v := range p.CurrentVoters {
		if v.ReplicaID == p.LeaderID {
			leaderEnd = v.LogEndOffset
		}
	}
	add := func(v kmsg.DescribeQuorumResponseTopicPartitionReplicaState, voter bool) {
		r := quorumRow{ID: v.ReplicaID, Voter: voter, Leader: voter && v.ReplicaID == p.LeaderID, LogEnd: v.LogEndOffset, Lag: -1, LastSeen: "–"}
		if leaderEnd >= 0 && v.LogEndOffset >= 0 {
			r.Lag = max(leaderEnd-v.LogEndOffset, 0)
			if voter {
				d.MaxLag = max(d.MaxLag, r.Lag)
			}
		}
		if v.LastFetchTimestamp > 0 {
			r.LastSeen = now.Sub(time.UnixMilli(v.LastFetchTimestamp)).Round(100*time.Millisecond).String() + " ago"
		}
		d.Rows = append(d.Rows, r)
	}
	for _, v := range p.CurrentVoters {
		add(v, true)
	}
	for _, v := range p.Observers {
		add(v, false)
	}
	sort.SliceStable(d.Rows, func(i, j int) bool {
		if d.Rows[i].Voter != d.Rows[j].Voter {
			return d.Rows[i].Voter
		}
		return d.Rows[i].ID < d.Rows[j].ID
	})
	return d
}
