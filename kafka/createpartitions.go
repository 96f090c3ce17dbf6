package kafka

// CreatePartitions (key 37): versions 0-3.
//
// Behavior:
//   - Grows each topic to count partitions, placed by the controller or as
//     given in assignment (one replica list per new partition). Answers
//     once the new partitions this node leads take writes (up to
//     awaitUsableMaxPartitions of them; see awaitUsable).
//   - INVALID_PARTITIONS when count is not larger than the current count,
//     UNKNOWN_TOPIC_OR_PARTITION for a missing topic,
//     INVALID_REPLICA_ASSIGNMENT for bad assignments, INVALID_REQUEST for a
//     topic named twice; validate_only writes nothing.
//   - Authorization: ALTER on the topic, else TOPIC_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

func handleCreatePartitions(s *Server, cx *reqCtx, req *kmsg.CreatePartitionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := adminTimeout(req.TimeoutMillis)
	defer cancel()
	count := map[string]int{}
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	var grown []string
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var err error
		if count[t.Topic] > 1 {
			err = fmt.Errorf("%w: topic %q appears more than once in the request", model.ErrInvalidRequest, t.Topic)
		} else if !cx.authorize(acl.ResourceTopic, t.Topic, acl.OpAlter) {
			err = kerr.TopicAuthorizationFailed
		} else {
			var assign [][]int32
			for _, a := range t.Assignment {
				assign = append(assign, append([]int32{}, a.Replicas...))
			}
			err = s.ctrl.CreatePartitions(ctx, t.Topic, t.Count, assign, req.ValidateOnly)
		}
		if err != nil {
			rt.ErrorCode = errorCode(s.log, err)
			rt.ErrorMessage = errorMessage(err)
		} else if !req.ValidateOnly {
			grown = append(grown, t.Topic)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	// The new partitions take writes here when the call returns.
	s.awaitUsable(ctx, grown)
	return resp, nil
}
