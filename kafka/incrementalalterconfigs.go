package kafka

// IncrementalAlterConfigs (key 44): versions 0-1.
//
// Behavior:
//   - Topics: each op applies on its own to the topic's overrides: SET (0),
//     DELETE (1, back to the default), APPEND (2) and SUBTRACT (3) on list
//     values; the result is validated as a whole (INVALID_CONFIG) and
//     validate_only writes nothing. A key given twice is INVALID_REQUEST,
//     an unknown op INVALID_REQUEST.
//   - Brokers: INVALID_REQUEST with a message: broker configs are static
//     (server.toml).
//   - Client metrics subscriptions (CLIENT_METRICS, 16): see telemetry.go.
//   - Group configs (GROUP, 32): see groupconfigs.go.
//   - Authorization: ALTER_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED)
//     or, for a broker, on the cluster (CLUSTER_AUTHORIZATION_FAILED).
//
// Skipped on purpose: dynamic broker configs and broker loggers.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

func handleIncrementalAlterConfigs(s *Server, cx *reqCtx, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	ctx, cancel := adminTimeout(0)
	defer cancel()
	for _, r := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
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
			ops = append(ops, controlplane.ConfigOp{Key: c.Name, Value: c.Value, Op: int8(c.Op)})
		}
		if err == nil {
			err = s.alterConfigs(ctx, int8(r.ResourceType), r.ResourceName, ops, true, req.ValidateOnly)
		}
		if err != nil {
			rr.ErrorCode = errorCode(s.log, err)
			rr.ErrorMessage = errorMessage(err)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// alterConfigs applies ops to one resource (shared with AlterConfigs).
func (s *Server) alterConfigs(ctx context.Context, typ int8, name string, ops []controlplane.ConfigOp, incremental, validateOnly bool) error {
	switch typ {
	case controlplane.ResourceTopic:
		if err := controlplane.ValidateTopicName(name); err != nil {
			return err
		}
		return s.ctrl.AlterTopicConfigs(ctx, name, ops, incremental, validateOnly)
	case controlplane.ResourceBroker:
		return fmt.Errorf("%w: broker configs are static; change them in server.toml and restart the broker", model.ErrInvalidRequest)
	case controlplane.ResourceClientMetrics:
		return s.alterClientMetrics(ctx, name, ops, incremental, validateOnly) // telemetry.go
	case controlplane.ResourceGroup:
		return s.alterGroupConfigs(ctx, name, ops, incremental, validateOnly) // groupconfigs.go
	default:
		return fmt.Errorf("%w: config resource type %d is not supported (topics are 2)", model.ErrInvalidRequest, typ)
	}
}
