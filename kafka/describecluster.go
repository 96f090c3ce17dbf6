package kafka

// DescribeCluster (key 60): versions 0-2.
//
// Behavior:
//   - The cluster id, the active controller's id (-1 during an election)
//     and the unfenced brokers with their endpoint for the configured
//     listener (as Metadata lists them); with include_fenced_brokers (v2)
//     the fenced ones too, marked is_fenced.
//   - Cluster authorized operations are the full bitfield when asked for
//     (with an authorizer, see below).
//   - endpoint_type 2 (controllers, v1) is UNSUPPORTED_ENDPOINT_TYPE: as in
//     Kafka, only controller listeners answer it.
//
//   - Authorization: anyone may describe the cluster (as in Kafka); the
//     authorized operations are DESCRIBE-gated and narrowed to those allowed.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

func handleDescribeCluster(s *Server, cx *reqCtx, req *kmsg.DescribeClusterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	im := s.ctrl.Image()
	resp.EndpointType = 1
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.EndpointType = req.EndpointType
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "this broker listener describes brokers (endpoint type 1) only"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	resp.ClusterID = im.ClusterID
	resp.ControllerID = s.controllerID(im)
	resp.ClusterAuthorizedOperations = authOpsNotRequested
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = 0
		if cx.allowed(acl.ResourceCluster, acl.ClusterName, acl.OpDescribe) {
			resp.ClusterAuthorizedOperations = cx.authorizedOps(acl.ResourceCluster, acl.ClusterName, clusterAuthorizedOps)
		}
	}
	for _, id := range im.BrokerIDs() {
		b := im.Brokers[id]
		if b.Fenced && !req.IncludeFencedBrokers {
			continue
		}
		ep, ok := b.Endpoint(s.cfg.ListenerName)
		if !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.ID, ep.Host, ep.Port
		rb.IsFenced = b.Fenced
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp, nil
}
