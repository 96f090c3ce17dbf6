package kafka

// DeleteTopics (key 20): versions 0-6.
//
// Behavior:
//   - v0-v5 delete by name; v6 by name or by topic id (UNKNOWN_TOPIC_ID for
//     an unknown id, INVALID_REQUEST when an entry has both or neither).
//   - A missing topic is UNKNOWN_TOPIC_OR_PARTITION; the error message is
//     set from v5.
//   - Deletion is one metadata record; the storage side removes the logs
//     when it sees the new image.
//   - Authorization: DELETE on the topic, else TOPIC_AUTHORIZATION_FAILED.
//
// Skipped on purpose: delete.topic.enable (deletion is always allowed).

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

func handleDeleteTopics(s *Server, cx *reqCtx, req *kmsg.DeleteTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := adminTimeout(req.TimeoutMillis)
	defer cancel()
	im := s.ctrl.Image()

	type entry struct {
		name *string
		id   [16]byte
		err  error
	}
	var entries []entry
	if req.Version < 6 {
		for _, n := range req.TopicNames {
			entries = append(entries, entry{name: &n})
		}
	} else {
		for _, t := range req.Topics {
			e := entry{name: t.Topic, id: t.TopicID}
			hasID := t.TopicID != [16]byte{}
			switch {
			case t.Topic != nil && hasID:
				e.err = fmt.Errorf("%w: give a topic name or a topic id, not both", model.ErrInvalidRequest)
			case t.Topic == nil && !hasID:
				e.err = fmt.Errorf("%w: an entry has neither a topic name nor a topic id", model.ErrInvalidRequest)
			case t.Topic == nil:
				if top, ok := im.TopicsByID[controlplane.UUID(t.TopicID)]; ok {
					name := top.Name
					e.name = &name
				} else {
					e.err = fmt.Errorf("topic id %s: %w", controlplane.UUID(t.TopicID), kerr.UnknownTopicID)
				}
			}
			entries = append(entries, e)
		}
	}
	var names []string
	var idx []int
	for i, e := range entries {
		if e.err == nil && !cx.authorize(acl.ResourceTopic, *e.name, acl.OpDelete) {
			entries[i].err = kerr.TopicAuthorizationFailed
			continue
		}
		if e.err == nil {
			names = append(names, *e.name)
			idx = append(idx, i)
			if top, ok := im.Topics[*e.name]; ok {
				entries[i].id = top.ID
			}
		}
	}
	if len(names) > 0 {
		for j, err := range s.ctrl.DeleteTopics(ctx, names) {
			entries[idx[j]].err = err
		}
	}
	for _, e := range entries {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = e.name, e.id
		if e.err != nil {
			rt.ErrorCode = errorCode(s.log, e.err)
			rt.ErrorMessage = errorMessage(e.err)
		} else {
			s.log.Info("deleted topic", "topic", *e.name, "client_id", cx.clientID)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
