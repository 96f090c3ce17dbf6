package kafka

// DescribeConfigs (key 32): versions 0-4.
//
// Behavior:
//   - Topics: every topic config with its effective value and source
//     (1 topic override, 4 static broker config, 5 default), from
//     config.Config.DescribeTopicConfig over the topic's overrides.
//   - Brokers: this node's static config (DescribeBrokerConfig); the
//     resource name must be "" or this node's id (else INVALID_REQUEST).
//   - config_names filters; include_synonyms (v1+) lists the entry itself
//     and, for a topic override, the value it overrides; documentation and
//     config types from v3.
//   - Sensitive values are null. Unknown resource types (broker loggers,
//     ...) are INVALID_REQUEST; unknown topics UNKNOWN_TOPIC_OR_PARTITION.
//   - Client metrics subscriptions (CLIENT_METRICS, 16): see telemetry.go.
//   - Group configs (GROUP, 32): see groupconfigs.go.
//   - Authorization: DESCRIBE_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED)
//     or, for a broker, on the cluster (CLUSTER_AUTHORIZATION_FAILED).
//
// Skipped on purpose: dynamic broker configs (broker configs are static
// until server.toml is reloaded by a restart).

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

// Kafka's config sources.
const (
	sourceTopic  = 1
	sourceStatic = 4
	sourceDflt   = 5
)

func handleDescribeConfigs(s *Server, cx *reqCtx, req *kmsg.DescribeConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	im := s.ctrl.Image()
	for _, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		entries, defaults, err := s.configEntries(im, int8(r.ResourceType), r.ResourceName)
		if aerr := cx.configAuthz(int8(r.ResourceType), r.ResourceName, acl.OpDescribeConfigs); aerr != nil {
			err = aerr
		}
		if err != nil {
			rr.ErrorCode = errorCode(s.log, err)
			rr.ErrorMessage = errorMessage(err)
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		for _, e := range entries {
			if r.ConfigNames != nil && !slices.Contains(r.ConfigNames, e.Name) {
				continue
			}
			rr.Configs = append(rr.Configs, describeEntry(req, e, defaults))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// configEntries returns a resource's config and, for topics, what each key
// would be without the topic's overrides (the synonyms).
func (s *Server) configEntries(im *controlplane.Image, typ int8, name string) (entries []config.ConfigEntry, defaults map[string]config.ConfigEntry, err error) {
	switch typ {
	case controlplane.ResourceTopic:
		if err := controlplane.ValidateTopicName(name); err != nil {
			return nil, nil, err
		}
		t, ok := im.Topics[name]
		if !ok {
			return nil, nil, fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, name)
		}
		defaults = map[string]config.ConfigEntry{}
		for _, e := range s.cfg.Broker.DescribeTopicConfig(nil) {
			defaults[e.Name] = e
		}
		return s.cfg.Broker.DescribeTopicConfig(t.Configs), defaults, nil
	case controlplane.ResourceBroker:
		if name != "" && name != strconv.Itoa(int(s.cfg.NodeID)) {
			return nil, nil, fmt.Errorf("%w: this is broker %d; ask broker %s for its own config", model.ErrInvalidRequest, s.cfg.NodeID, name)
		}
		return s.cfg.Broker.DescribeBrokerConfig(), nil, nil
	case controlplane.ResourceClientMetrics:
		entries, err := clientMetricsEntries(im, name) // telemetry.go
		return entries, nil, err
	case controlplane.ResourceGroup:
		entries, err := s.groupConfigEntries(im, name) // groupconfigs.go
		return entries, nil, err
	default:
		return nil, nil, fmt.Errorf("%w: config resource type %d is not supported (topics are 2, brokers 4)", model.ErrInvalidRequest, typ)
	}
}

func describeEntry(req *kmsg.DescribeConfigsRequest, e config.ConfigEntry, defaults map[string]config.ConfigEntry) kmsg.DescribeConfigsResponseResourceConfig {
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	rc.Name = e.Name
	rc.Value = sensitiveValue(e)
	rc.ReadOnly = e.ReadOnly
	rc.IsDefault = e.Source == sourceDflt
	rc.Source = kmsg.ConfigSource(e.Source)
	rc.IsSensitive = e.Sensitive
	rc.ConfigType = kmsg.ConfigType(e.Type)
	if req.IncludeDocumentation && e.Doc != "" {
		doc := e.Doc
		rc.Documentation = &doc
	}
	if req.IncludeSynonyms {
		syn := func(e config.ConfigEntry) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
			sy := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			sy.Name, sy.Value, sy.Source = e.Name, sensitiveValue(e), kmsg.ConfigSource(e.Source)
			return sy
		}
		rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn(e))
		if d, ok := defaults[e.Name]; ok && e.Source == sourceTopic {
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn(d))
		}
	}
	return rc
}

func sensitiveValue(e config.ConfigEntry) *string {
	if e.Sensitive {
		return nil
	}
	v := e.Value
	return &v
}
