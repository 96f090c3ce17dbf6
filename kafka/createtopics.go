package kafka

// CreateTopics (key 19): versions 0-7.
//
// Behavior:
//   - Each topic succeeds or fails alone; validate_only (v1+) checks
//     everything and writes nothing.
//   - The answer comes once the created topics are usable on this node:
//     every partition it leads takes a write and serves a read (up to
//     awaitUsableMaxPartitions partitions; thousands answer at commit and
//     their first requests wait for their logs, see partitions.go).
//   - num_partitions / replication_factor -1 take the broker defaults;
//     explicit replica assignments need both at -1 and must cover
//     partitions 0..n-1 exactly once (else INVALID_REPLICA_ASSIGNMENT).
//   - Errors: INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS,
//     INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR,
//     INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG (a null config value or
//     one config.ValidateTopicConfig refuses), INVALID_REQUEST (a topic
//     named twice), each with its message (v1+).
//   - v5+ results carry the partition count, replication factor and the
//     topic's full config (also for validate_only); v7+ the topic id.
//   - Authorization: CREATE on the cluster or on the topic, else
//     TOPIC_AUTHORIZATION_FAILED.
//   - A creator without DESCRIBE_CONFIGS on the topic gets no configs back and
//     TOPIC_AUTHORIZATION_FAILED as topic_config_error_code (v5+), as Kafka does.
//
// Skipped on purpose: create-topic policies (no policy plug-in).

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

// awaitUsableMaxPartitions is the most partitions an admin request waits
// for (awaitUsable): creating a few hundred logs takes milliseconds, so the
// common case costs the client no retry; thousands take seconds, and those
// requests answer once the metadata is committed.
const awaitUsableMaxPartitions = 1000

// awaitUsable waits, bounded by ctx, until the partitions of topics that
// this node leads are ready to serve, unless there are more than
// awaitUsableMaxPartitions of them.
func (s *Server) awaitUsable(ctx context.Context, topics []string) {
	if len(topics) == 0 {
		return
	}
	im := s.ctrl.Image()
	n := 0
	for _, name := range topics {
		if t := im.Topics[name]; t != nil {
			n += len(t.Partitions)
		}
	}
	if n > awaitUsableMaxPartitions {
		return
	}
	if !s.awaitLeading(ctx, topics) {
		s.log.Debug("answering before every partition is ready here", "topics", topics, "err", ctx.Err())
	}
}

// adminTimeout turns a request's timeout_ms into a context; non-positive
// or absurd values get a sane bound.
func adminTimeout(ms int32) (context.Context, context.CancelFunc) {
	d := time.Duration(ms) * time.Millisecond
	if d <= 0 || d > 5*time.Minute {
		d = 30 * time.Second
	}
	return context.WithTimeout(context.Background(), d)
}

func handleCreateTopics(s *Server, cx *reqCtx, req *kmsg.CreateTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := adminTimeout(req.TimeoutMillis)
	defer cancel()

	count := map[string]int{}
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	errs := make([]error, len(req.Topics))
	var cmds []controlplane.CreateTopic
	var cmdIdx []int
	for i, t := range req.Topics {
		cmd, err := createTopicCmd(t)
		if err == nil && !cx.canCreateTopic(t.Topic) {
			err = kerr.TopicAuthorizationFailed
		}
		if err == nil && count[t.Topic] > 1 {
			err = fmt.Errorf("%w: topic %q appears more than once in the request", model.ErrInvalidRequest, t.Topic)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		cmds = append(cmds, cmd)
		cmdIdx = append(cmdIdx, i)
	}
	results := make([]controlplane.CreateTopicResult, len(req.Topics))
	if len(cmds) > 0 {
		var created []string
		for j, r := range s.ctrl.CreateTopics(ctx, cmds, req.ValidateOnly) {
			results[cmdIdx[j]] = r
			errs[cmdIdx[j]] = r.Err
			if r.Err == nil && !req.ValidateOnly {
				created = append(created, r.Name)
			}
		}
		s.awaitUsable(ctx, created)
	}
	for i, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		if err := errs[i]; err != nil {
			rt.ErrorCode = errorCode(s.log, err)
			rt.ErrorMessage = errorMessage(err)
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		r := results[i]
		rt.TopicID = r.ID
		rt.NumPartitions, rt.ReplicationFactor = r.NumPartitions, r.ReplicationFactor
		if !cx.allowed(acl.ResourceTopic, t.Topic, acl.OpDescribeConfigs) {
			rt.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		overrides := map[string]string{}
		for _, c := range t.Configs {
			overrides[c.Name] = *c.Value
		}
		for _, e := range s.cfg.Broker.DescribeTopicConfig(overrides) {
			rc := kmsg.NewCreateTopicsResponseTopicConfig()
			rc.Name = e.Name
			rc.ReadOnly = e.ReadOnly
			rc.Source = int8(e.Source)
			rc.IsSensitive = e.Sensitive
			if !e.Sensitive {
				v := e.Value
				rc.Value = &v
			}
			rt.Configs = append(rt.Configs, rc)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func createTopicCmd(t kmsg.CreateTopicsRequestTopic) (controlplane.CreateTopic, error) {
	cmd := controlplane.CreateTopic{Name: t.Topic, NumPartitions: t.NumPartitions, ReplicationFactor: t.ReplicationFactor}
	if len(t.Configs) > 0 {
		cmd.Configs = make(map[string]string, len(t.Configs))
		for _, c := range t.Configs {
			if c.Value == nil {
				return cmd, fmt.Errorf("%w: config %q of topic %q has a null value", model.ErrInvalidConfig, c.Name, t.Topic)
			}
			if _, dup := cmd.Configs[c.Name]; dup {
				return cmd, fmt.Errorf("%w: config %q appears more than once for topic %q", model.ErrInvalidRequest, c.Name, t.Topic)
			}
			cmd.Configs[c.Name] = *c.Value
		}
	}
	if len(t.ReplicaAssignment) > 0 {
		cmd.Assignments = make([][]int32, len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(cmd.Assignments) || cmd.Assignments[a.Partition] != nil {
				return cmd, fmt.Errorf("%w: topic %q: assignments must name partitions 0 to %d exactly once; got partition %d",
					model.ErrInvalidReplicaAssignment, t.Topic, len(t.ReplicaAssignment)-1, a.Partition)
			}
			cmd.Assignments[a.Partition] = append([]int32{}, a.Replicas...)
		}
	}
	return cmd, nil
}
