package kafka

// Metadata (key 3): versions 0-13.
//
// Behavior:
//   - Brokers are the unfenced brokers of the image that have an endpoint
//     for the configured listener; cluster id (v2+) and controller id (v1+)
//     come from the image; topic ids from v10.
//   - Topics: null (v1+) or empty (v0) lists every topic; names that break
//     Kafka's rules are INVALID_TOPIC_EXCEPTION; a missing topic is created
//     with the broker defaults when auto.create.topics.enable is on and the
//     request allows it (v4+; always allowed before v4), otherwise it is
//     UNKNOWN_TOPIC_OR_PARTITION. Creation is synchronous, so the answer
//     already has the new topic's partitions (never LEADER_NOT_AVAILABLE
//     for a fresh topic), and it comes once the partitions this node leads
//     take writes (awaitUsable), so the client's first produce succeeds. Topics asked by id (v10+) that do not exist are
//     UNKNOWN_TOPIC_ID.
//   - Authorized operations (v8+) are the full bitfields when asked for,
//     narrowed to what the principal is allowed with an authorizer.
//   - Authorization (authz.go): a topic asked for by name or id that the
//     principal may not DESCRIBE is TOPIC_AUTHORIZATION_FAILED, whether it
//     exists or not; a listing of all topics leaves those out silently.
//     Auto-creation needs CREATE on the cluster or the topic, else
//     TOPIC_AUTHORIZATION_FAILED. Authorized operations are the ones the
//     principal is allowed.
//
//   - v13 (KIP-1102) adds a top-level ErrorCode; it is always 0, as a Kafka
//     broker sends it: REBOOTSTRAP_REQUIRED is for brokers that know the
//     client's view is stale, which Ringtail never decides.
//
//   - OfflineReplicas lists the replicas the controller records as on an
//     offline log dir (controlplane.Image.OfflineReplicas), and this node
//     for the partitions whose replica here is on one (OfflineLogs) before
//     its report is committed.
//
// Skipped on purpose: internal topics do not exist yet.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
)

// Authorized operations (Kafka's AclOperation codes) reported while there
// is no authorizer: everything that applies to the resource.
const (
	authOpsNotRequested = math.MinInt32
	// READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
	// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11.
	topicAuthorizedOps = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	// CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
	// ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
	clusterAuthorizedOps = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
)

// autoCreateTimeout bounds a topic creation triggered by Metadata.
const autoCreateTimeout = 30 * time.Second

func handleMetadata(s *Server, cx *reqCtx, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	im := s.ctrl.Image()

	type want struct {
		name string
		id   controlplane.UUID
		err  error
	}
	var wants []want
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if !all {
		seen := map[string]bool{}
		var missing []string
		for _, rt := range req.Topics {
			if req.Version >= 10 && rt.Topic == nil {
				wants = append(wants, want{id: controlplane.UUID(rt.TopicID)})
				continue
			}
			name := ""
			if rt.Topic != nil {
				name = *rt.Topic
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			w := want{name: name}
			if !cx.authorize(acl.ResourceTopic, name, acl.OpDescribe) {
				w.err = kerr.TopicAuthorizationFailed
			} else if err := controlplane.ValidateTopicName(name); err != nil {
				w.err = err
			} else if _, ok := im.Topics[name]; !ok {
				w.err = fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, name)
				missing = append(missing, name)
			}
			wants = append(wants, w)
		}
		allow := req.Version < 4 || req.AllowAutoTopicCreation
		if len(missing) > 0 && allow && s.cfg.Broker.AutoCreateTopics {
			var denied map[string]bool
			missing, denied = cx.mayCreate(missing)
			for i := range wants {
				if denied[wants[i].name] {
					wants[i].err = kerr.TopicAuthorizationFailed
				}
			}
		}
		if len(missing) > 0 && allow && s.cfg.Broker.AutoCreateTopics {
			created := s.autoCreate(missing)
			im = s.ctrl.Image()
			for i := range wants {
				if err, ok := created[wants[i].name]; ok {
					wants[i].err = err
				}
			}
		}
	} else {
		for _, name := range im.TopicNames() {
			if !cx.allowed(acl.ResourceTopic, name, acl.OpDescribe) {
				continue
			}
			wants = append(wants, want{name: name})
		}
	}

	for _, id := range im.BrokerIDs() {
		b := im.Brokers[id]
		if b.Fenced {
			continue
		}
		ep, ok := b.Endpoint(s.cfg.ListenerName)
		if !ok {
			continue
		}
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.ID, ep.Host, ep.Port
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	clusterID := im.ClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = s.controllerID(im)
	resp.AuthorizedOperations = authOpsNotRequested
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = cx.authorizedOps(acl.ResourceCluster, acl.ClusterName, clusterAuthorizedOps)
	}

	for _, w := range wants {
		rt := kmsg.NewMetadataResponseTopic()
		rt.AuthorizedOperations = authOpsNotRequested
		if req.IncludeTopicAuthorizedOperations {
			rt.AuthorizedOperations = topicAuthorizedOps
		}
		var t *controlplane.Topic
		if w.name == "" && w.err == nil {
			t = im.TopicsByID[w.id]
			rt.TopicID = w.id
			if t == nil {
				rt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, rt)
				continue
			}
			if !cx.authorize(acl.ResourceTopic, t.Name, acl.OpDescribe) {
				rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, rt)
				continue
			}
		} else {
			name := w.name
			rt.Topic = &name
			if w.err != nil {
				rt.ErrorCode = errorCode(s.log, w.err)
				resp.Topics = append(resp.Topics, rt)
				continue
			}
			if t = im.Topics[w.name]; t == nil {
				rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
				resp.Topics = append(resp.Topics, rt)
				continue
			}
		}
		name := t.Name
		rt.Topic = &name
		rt.TopicID = t.ID
		if req.IncludeTopicAuthorizedOperations {
			rt.AuthorizedOperations = cx.authorizedOps(acl.ResourceTopic, name, topicAuthorizedOps)
		}
		rt.IsInternal = name == group.OffsetsTopic
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, s.metadataPartition(im, t, &p))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// metadataPartition is partition p of topic t as Metadata answers it.
func (s *Server) metadataPartition(im *controlplane.Image, t *controlplane.Topic, p *controlplane.Partition) kmsg.MetadataResponseTopicPartition {
	rp := kmsg.NewMetadataResponseTopicPartition()
	rp.Partition = p.Partition
	rp.Leader = p.Leader
	rp.LeaderEpoch = p.LeaderEpoch
	rp.Replicas = append([]int32{}, p.Replicas...)
	rp.ISR = append([]int32{}, p.ISR...)
	// Every broker's offline replicas as the controller recorded them, and
	// this node's own at once (before its report is committed).
	rp.OfflineReplicas = append([]int32{}, im.OfflineReplicas(t.ID, p)...)
	if slices.Contains(p.Replicas, s.cfg.NodeID) && !slices.Contains(rp.OfflineReplicas, s.cfg.NodeID) &&
		s.offline(model.TopicPartition{Topic: t.Name, Partition: p.Partition}) {
		rp.OfflineReplicas = append(rp.OfflineReplicas, s.cfg.NodeID)
	}
	if p.Leader < 0 {
		rp.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	return rp
}

// autoCreate creates names with the broker defaults; the result has an
// entry per name: nil when the topic exists now.
func (s *Server) autoCreate(names []string) map[string]error {
	np, rf := s.cfg.Broker.NumPartitions, s.cfg.Broker.DefaultReplicationFactor
	if np <= 0 {
		np = -1
	}
	if rf <= 0 {
		rf = -1
	}
	cmds := make([]controlplane.CreateTopic, len(names))
	for i, n := range names {
		cmds[i] = controlplane.CreateTopic{Name: n, NumPartitions: np, ReplicationFactor: rf}
	}
	ctx, cancel := context.WithTimeout(context.Background(), autoCreateTimeout)
	defer cancel()
	out := make(map[string]error, len(names))
	var created []string
	defer func() { s.awaitUsable(ctx, created) }()
	for _, r := range s.ctrl.CreateTopics(ctx, cmds, false) {
		if r.Err != nil && !errors.Is(r.Err, model.ErrTopicAlreadyExists) {
			s.log.Warn("auto-creating topic failed", "topic", r.Name, "err", r.Err)
			out[r.Name] = r.Err
			continue
		}
		if r.Err == nil {
			s.log.Info("auto-created topic", "topic", r.Name, "partitions", r.NumPartitions, "replication_factor", r.ReplicationFactor)
			created = append(created, r.Name)
		}
		out[r.Name] = nil
	}
	return out
}

// controllerID is the controller id that Metadata and DescribeCluster
// report. Every broker accepts the controller's requests (CreateTopics,
// DeleteTopics, configs...) and forwards their entries to the active
// controller through the metadata quorum, as KRaft brokers forward, so
// this broker names itself while it is a registered broker: the active
// controller may be a controller-only node that clients cannot reach.
// DescribeQuorum reports the quorum leader.
func (s *Server) controllerID(im *controlplane.Image) int32 {
	if b, ok := im.Brokers[s.cfg.NodeID]; ok && !b.Fenced {
		return s.cfg.NodeID
	}
	return im.ControllerID
}
