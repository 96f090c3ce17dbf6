package kafka

// Group configs (Kafka's GROUP config resource, type 32) in
// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs:
//
//   - Describe lists every group config key: the group's own value
//     (source GROUP_CONFIG, 8) or the broker's default (DEFAULT_CONFIG, 5),
//     for any group name, as Kafka (a group need not exist).
//   - Alter checks the whole result (controlplane.ValidateGroupConfig:
//     known keys, the broker's group.consumer.* and group.share.* bounds,
//     session above heartbeat); a bad one is INVALID_CONFIG naming the key
//     and what is valid.
//   - Authorization: DESCRIBE_CONFIGS or ALTER_CONFIGS on the group, else
//     GROUP_AUTHORIZATION_FAILED (configAuthz).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

// sourceGroupConfig is Kafka's GROUP_CONFIG config source.
const sourceGroupConfig = config.ConfigSource(kmsg.ConfigSourceGroupConfig)

// groupConfigBounds is the broker's defaults and bounds of group configs.
func (s *Server) groupConfigBounds() controlplane.GroupConfigBounds {
	if s.cfg.GroupConfigBounds != nil {
		return *s.cfg.GroupConfigBounds
	}
	return controlplane.KafkaGroupConfigBounds
}

// groupConfigEntries describes one group's configs.
func (s *Server) groupConfigEntries(im *controlplane.Image, name string) ([]config.ConfigEntry, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: the group name must not be empty", model.ErrInvalidRequest)
	}
	b := s.groupConfigBounds()
	set := im.GroupConfigs[name]
	out := make([]config.ConfigEntry, 0, len(controlplane.GroupConfigKeys))
	for _, k := range controlplane.GroupConfigKeys {
		e := config.ConfigEntry{Name: k, Value: b.GroupConfigDefault(k), Source: sourceDflt, Type: configTypeInt}
		if k == controlplane.GroupShareAutoOffsetReset || k == controlplane.GroupShareIsolationLevel {
			e.Type = int8(kmsg.ConfigTypeString)
		}
		if v, ok := set[k]; ok {
			e.Value, e.Source = v, sourceGroupConfig
		}
		out = append(out, e)
	}
	return out, nil
}

// groupConfigAlterer is the controller's side of GROUP config changes
// (controlplane.Controller implements it).
type groupConfigAlterer interface {
	AlterGroupConfigs(ctx context.Context, name string, ops []controlplane.ConfigOp, incremental, validateOnly bool, validate func(map[string]string) error) error
}

// alterGroupConfigs changes one group's configs.
func (s *Server) alterGroupConfigs(ctx context.Context, name string, ops []controlplane.ConfigOp, incremental, validateOnly bool) error {
	a, ok := s.ctrl.(groupConfigAlterer)
	if !ok {
		return errors.New("kafka: controller cannot store group configs")
	}
	b := s.groupConfigBounds()
	return a.AlterGroupConfigs(ctx, name, ops, incremental, validateOnly, func(v map[string]string) error {
		return controlplane.ValidateGroupConfig(b, v)
	})
}
