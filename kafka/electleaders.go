package kafka

// ElectLeaders (key 43): versions 0-2.
//
// Behavior:
//   - Preferred election (type 0, and every v0 request) makes each named
//     partition's first replica its leader when that replica is live and in
//     the ISR; unclean election (type 1) gives a leaderless partition a
//     live ISR member, or else any live replica.
//   - Null topics mean every partition. Per partition:
//     ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
//     ELIGIBLE_LEADERS_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION.
//   - Any broker answers; the change goes to the active controller through
//     the metadata quorum.
//   - Authorization: ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED
//     (top level and each partition named).
//
// Skipped on purpose: nothing.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

// leaderElector is the part of *controlplane.Controller ElectLeaders needs.
type leaderElector interface {
	ElectLeaders(ctx context.Context, typ int8, parts []model.TopicPartition) ([]model.TopicPartition, []error)
}

func handleElectLeaders(s *Server, cx *reqCtx, req *kmsg.ElectLeadersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	el, ok := s.ctrl.(leaderElector)
	if !ok {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil
	}
	ctx, cancel := adminTimeout(req.TimeoutMillis)
	defer cancel()
	parts := requestPartitions(req.Topics, func(t kmsg.ElectLeadersRequestTopic) (string, []int32) { return t.Topic, t.Partitions })
	typ := req.ElectionType
	if req.Version == 0 {
		typ = 0
	}
	var errs []error
	if !cx.authorizeCluster(acl.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		errs = make([]error, len(parts))
		for i := range errs {
			errs[i] = kerr.ClusterAuthorizationFailed
		}
	} else {
		parts, errs = el.ElectLeaders(ctx, typ, parts)
	}
	idx := map[string]int{}
	for i, tp := range parts {
		j, ok := idx[tp.Topic]
		if !ok {
			j = len(resp.Topics)
			idx[tp.Topic] = j
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = tp.Partition
		if errs[i] != nil {
			rp.ErrorCode = errorCode(s.log, errs[i])
			rp.ErrorMessage = errorMessage(errs[i])
		}
		resp.Topics[j].Partitions = append(resp.Topics[j].Partitions, rp)
	}
	return resp, nil
}

// requestPartitions flattens a request's topics and their partition
// numbers; nil topics (meaning all partitions) stay nil.
func requestPartitions[T any](topics []T, get func(T) (string, []int32)) []model.TopicPartition {
	if topics == nil {
		return nil
	}
	parts := []model.TopicPartition{}
	for _, t := range topics {
		name, ps := get(t)
		for _, p := range ps {
			parts = append(parts, model.TopicPartition{Topic: name, Partition: p})
		}
	}
	return parts
}
