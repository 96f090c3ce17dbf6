package kafka

// AlterConfigs (key 33): versions 0-2.
//
// Behavior:
//   - Topics: the given configs replace all of the topic's overrides (the
//     legacy, non-incremental semantics); each value is checked by
//     config.ValidateTopicConfig (INVALID_CONFIG); validate_only writes
//     nothing. A key given twice is INVALID_REQUEST.
//   - Brokers: INVALID_REQUEST with a message: broker configs are static
//     (server.toml).
//   - Client metrics subscriptions (CLIENT_METRICS, 16): see telemetry.go.
//   - Group configs (GROUP, 32): see groupconfigs.go.
//   - Authorization: ALTER_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED)
//     or, for a broker, on the cluster (CLUSTER_AUTHORIZATION_FAILED).
//
// Skipped on purpose: dynamic broker configs; other resource types are
// INVALID_REQUEST.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

func handleAlterConfigs(s *Server, cx *reqCtx, req *kmsg.AlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	ctx, cancel := adminTimeout(0)
	defer cancel()
	for _, r := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		ops := make([]controlplane.ConfigOp, 0, len(r.Configs))
		seen := map[string]bool{}
		err := cx.configAuthz(int8(r.ResourceType), r.ResourceName, acl.OpAlterConfigs)
		for _, c := range r.Configs {
			if err != nil {
				break
			}
			if seen[c.Name] {
				err = fmt.Errorf("%w: config %q appears more than once", model.ErrInvalidRequest, c.Name)
				break
			}
			seen[c.Name] = true
			ops = append(ops, controlplane.ConfigOp{Key: c.Name, Value: c.Value, Op: controlplane.OpSet})
		}
		if err == nil {
			err = s.alterConfigs(ctx, int8(r.ResourceType), r.ResourceName, ops, false, req.ValidateOnly)
		}
		if err != nil {
			rr.ErrorCode = errorCode(s.log, err)
			rr.ErrorMessage = errorMessage(err)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}
