package kafka

// AlterPartitionReassignments (key 45): versions 0-1;
// ListPartitionReassignments (key 46): version 0.
//
// Behavior:
//   - Alter sets each partition's target replicas (null cancels a
//     reassignment in progress, NO_REASSIGNMENT_IN_PROGRESS when there is
//     none); the controller adds the new replicas, waits until they are in
//     the ISR, then drops the old ones. Unknown brokers or duplicates give
//     INVALID_REPLICA_ASSIGNMENT, a missing partition
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - v1 (KIP-860): with allow_replication_factor_change false, a new
//     replica list whose length differs from the partition's replication
//     factor (its replicas before any reassignment in progress) is
//     INVALID_REPLICATION_FACTOR and is not applied; cancelling stays
//     allowed. Kafka's default (true) and v0 change any factor.
//   - List answers the reassignments in progress (of the named partitions,
//     or all with null topics): replicas, adding and removing.
//   - Authorization: AlterPartitionReassignments needs ALTER on the cluster,
//     ListPartitionReassignments DESCRIBE; else the top-level error is
//     CLUSTER_AUTHORIZATION_FAILED.
//
// Skipped on purpose: nothing.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

// reassigner is the part of *controlplane.Controller these APIs need.
type reassigner interface {
	AlterPartitionReassignments(ctx context.Context, reqs []controlplane.Reassign) []error
	ListPartitionReassignments(parts []model.TopicPartition) []controlplane.PartitionReassignment
}

func handleAlterPartitionReassignments(s *Server, cx *reqCtx, req *kmsg.AlterPartitionAssignmentsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	ra, ok := s.ctrl.(reassigner)
	if !ok {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil
	}
	if !cx.authorizeCluster(acl.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	ctx, cancel := adminTimeout(req.TimeoutMillis)
	defer cancel()
	var reqs []controlplane.Reassign
	var refused []error // per partition of the request, nil when sent
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if err := keepsReplicationFactor(s, ra, req, t.Topic, p); err != nil {
				refused = append(refused, err)
				continue
			}
			refused = append(refused, nil)
			reqs = append(reqs, controlplane.Reassign{Topic: t.Topic, Partition: p.Partition, Replicas: p.Replicas})
		}
	}
	sent := ra.AlterPartitionReassignments(ctx, reqs)
	errs := make([]error, len(refused))
	for k, j := 0, 0; k < len(refused); k++ {
		if refused[k] != nil {
			errs[k] = refused[k]
			continue
		}
		errs[k] = sent[j]
		j++
	}
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			if err := errs[i]; err != nil {
				rp.ErrorCode = errorCode(s.log, err)
				rp.ErrorMessage = errorMessage(err)
			}
			i++
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// keepsReplicationFactor refuses, for v1's allow_replication_factor_change
// false, a target replica list of another length than the partition's
// replication factor.
func keepsReplicationFactor(s *Server, ra reassigner, req *kmsg.AlterPartitionAssignmentsRequest, topic string, p kmsg.AlterPartitionAssignmentsRequestTopicPartition) error {
	if req.Version < 1 || req.AllowReplicationFactorChange || p.Replicas == nil {
		return nil
	}
	t := s.ctrl.Image().Topics[topic]
	if t == nil || p.Partition < 0 || int(p.Partition) >= len(t.Partitions) {
		return nil // the controller answers UNKNOWN_TOPIC_OR_PARTITION
	}
	rf := len(t.Partitions[p.Partition].Replicas)
	tp := model.TopicPartition{Topic: topic, Partition: p.Partition}
	for _, r := range ra.ListPartitionReassignments([]model.TopicPartition{tp}) {
		if r.Topic == topic && r.Partition == p.Partition {
			rf = len(r.Replicas) - len(r.Adding) // the replicas before it
		}
	}
	if len(p.Replicas) != rf {
		return fmt.Errorf("%w: the replication factor of %s-%d would change from %d to %d, but allow_replication_factor_change is false",
			kerr.InvalidReplicationFactor, topic, p.Partition, rf, len(p.Replicas))
	}
	return nil
}

func handleListPartitionReassignments(s *Server, cx *reqCtx, req *kmsg.ListPartitionReassignmentsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	ra, ok := s.ctrl.(reassigner)
	if !ok {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil
	}
	if !cx.authorizeCluster(acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	parts := requestPartitions(req.Topics, func(t kmsg.ListPartitionReassignmentsRequestTopic) (string, []int32) { return t.Topic, t.Partitions })
	idx := map[string]int{}
	for _, r := range ra.ListPartitionReassignments(parts) {
		j, ok := idx[r.Topic]
		if !ok {
			j = len(resp.Topics)
			idx[r.Topic] = j
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = r.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition, rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = r.Partition, r.Replicas, r.Adding, r.Removing
		if rp.AddingReplicas == nil {
			rp.AddingReplicas = []int32{}
		}
		if rp.RemovingReplicas == nil {
			rp.RemovingReplicas = []int32{}
		}
		resp.Topics[j].Partitions = append(resp.Topics[j].Partitions, rp)
	}
	return resp, nil
}
