package kafka

// GetTelemetrySubscriptions (key 71) and PushTelemetry (key 72): version 0.
// Client metrics subscriptions: the CLIENT_METRICS config resource (16) of
// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
//
// Behavior (KIP-714, as Kafka's ClientMetricsManager):
//   - GetTelemetrySubscriptions: a zero client instance id gets a new one
//     (always echoed back); the answer is the union of the metric prefixes
//     of every subscription whose match selects the client ([""] for "*",
//     none when nothing matches), the shortest of their interval.ms
//     (default 300000), telemetry.max.bytes, the accepted codecs zstd, lz4,
//     gzip, snappy, and a subscription id that is a hash of all that.
//     delta_temporality is false: sums come cumulative, so the latest value
//     pushed is the total that /metrics shows. Asking again within the push
//     interval without a push in between is THROTTLING_QUOTA_EXCEEDED
//     (unless the last push failed on its subscription or codec).
//   - PushTelemetry: checks in Kafka's order: a zero id or a push after a
//     terminating one INVALID_REQUEST; a stale subscription id
//     UNKNOWN_SUBSCRIPTION_ID; a push within the interval of the last
//     (except the first after a Get, and a terminating one)
//     THROTTLING_QUOTA_EXCEEDED; an unknown codec
//     UNSUPPORTED_COMPRESSION_TYPE; more than telemetry.max.bytes
//     TELEMETRY_TOO_LARGE; a payload that does not decompress or is not
//     OTLP MetricsData INVALID_RECORD. The latest value of each requested
//     metric is kept (telemetry package) and exported on /metrics.
//   - Authorization: none beyond authentication (KIP-714). The
//     CLIENT_METRICS configs need DESCRIBE_CONFIGS / ALTER_CONFIGS on the
//     cluster (CLUSTER_AUTHORIZATION_FAILED), as Kafka's AuthHelper.
//
// ListConfigResources (key 74): version 0 (KIP-714's
// ListClientMetricsResources), the names of the client metrics
// subscriptions, in order;
// DESCRIBE_CONFIGS on the cluster (CLUSTER_AUTHORIZATION_FAILED).
//
// Skipped on purpose: the broker-side metrics plugin interface of Kafka;
// pushed metrics are only exported on this node's /metrics. v1 of key 74
// (every config resource type) is left to the versions work.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/telemetry"
)

var telemetryErrors = []struct {
	err  error
	code *kerr.Error
}{
	{telemetry.ErrInvalidRequest, kerr.InvalidRequest},
	{telemetry.ErrUnknownSubscription, kerr.UnknownSubscriptionID},
	{telemetry.ErrThrottled, kerr.ThrottlingQuotaExceeded},
	{telemetry.ErrUnsupportedCompression, kerr.UnsupportedCompressionType},
	{telemetry.ErrTooLarge, kerr.TelemetryTooLarge},
	{telemetry.ErrBadPayload, kerr.InvalidRecord},
}

func telemetryCode(err error) int16 {
	for _, e := range telemetryErrors {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// telemetryManager is the node's telemetry state with the image's current
// subscriptions.
func (s *Server) telemetryManager() *telemetry.Manager {
	m := s.cfg.Telemetry
	m.SetSubscriptions(s.ctrl.Image().ClientMetrics)
	return m
}

// clientMeta is what subscriptions match the connection's client by.
func (cx *reqCtx) clientMeta() telemetry.ClientMeta {
	meta := telemetry.ClientMeta{ClientID: cx.clientID}
	if sw := cx.conn.software.Load(); sw != nil {
		meta.SoftwareName, meta.SoftwareVersion = sw[0], sw[1]
	}
	if h, p, err := net.SplitHostPort(cx.conn.remote); err == nil {
		meta.SourceAddress, meta.SourcePort = h, p
	}
	return meta
}

func handleGetTelemetrySubscriptions(s *Server, cx *reqCtx, req *kmsg.GetTelemetrySubscriptionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.GetTelemetrySubscriptionsResponse)
	r, err := s.telemetryManager().Get(s.cfg.Now(), req.ClientInstanceID, cx.clientMeta())
	resp.ClientInstanceID = r.InstanceID
	if err != nil {
		resp.ErrorCode = telemetryCode(err)
		return resp, nil
	}
	resp.SubscriptionID = r.SubscriptionID
	resp.AcceptedCompressionTypes = slices.Clone(r.Accepted)
	resp.PushIntervalMillis = r.IntervalMs
	resp.TelemetryMaxBytes = r.MaxBytes
	resp.DeltaTemporality = r.DeltaTemporality
	resp.RequestedMetrics = r.Metrics
	if resp.RequestedMetrics == nil {
		resp.RequestedMetrics = []string{}
	}
	return resp, nil
}

func handlePushTelemetry(s *Server, cx *reqCtx, req *kmsg.PushTelemetryRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.PushTelemetryResponse)
	err := s.telemetryManager().Push(s.cfg.Now(), cx.clientMeta(), telemetry.Push{
		InstanceID: req.ClientInstanceID, SubscriptionID: req.SubscriptionID, Terminating: req.Terminating,
		Compression: req.CompressionType, Metrics: req.Metrics,
	})
	if err != nil {
		resp.ErrorCode = telemetryCode(err)
		if errors.Is(err, telemetry.ErrBadPayload) {
			s.log.Debug("telemetry push refused", "client_id", cx.clientID, "err", err)
		}
	}
	return resp, nil
}

func handleListConfigResources(s *Server, cx *reqCtx, req *kmsg.ListConfigResourcesRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	if !cx.authorizeCluster(acl.OpDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	cm := s.ctrl.Image().ClientMetrics
	names := make([]string, 0, len(cm))
	for n := range cm {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := kmsg.NewListConfigResourcesResponseConfigResource()
		r.Name, r.Type = n, controlplane.ResourceClientMetrics
		resp.ConfigResources = append(resp.ConfigResources, r)
	}
	return resp, nil
}

// clientMetricsAlterer is the controller's side of CLIENT_METRICS changes
// (controlplane.Controller implements it).
type clientMetricsAlterer interface {
	AlterClientMetrics(ctx context.Context, name string, ops []controlplane.ConfigOp, incremental, validateOnly bool, validate func(string, map[string]string) error) error
}

// alterClientMetrics changes one subscription (AlterConfigs and
// IncrementalAlterConfigs).
func (s *Server) alterClientMetrics(ctx context.Context, name string, ops []controlplane.ConfigOp, incremental, validateOnly bool) error {
	a, ok := s.ctrl.(clientMetricsAlterer)
	if !ok {
		return errors.New("kafka: controller cannot store client metrics subscriptions")
	}
	return a.AlterClientMetrics(ctx, name, ops, incremental, validateOnly, telemetry.ValidateConfig)
}

// clientMetricsEntries describes one subscription: its three keys, set or
// default (Kafka describes an unknown subscription as all defaults).
func clientMetricsEntries(im *controlplane.Image, name string) ([]config.ConfigEntry, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: client metrics subscription name must not be empty", model.ErrInvalidRequest)
	}
	set := im.ClientMetrics[name]
	var out []config.ConfigEntry
	for _, k := range telemetry.ConfigKeys() {
		e := config.ConfigEntry{Name: k, Value: telemetry.ConfigDefault(k), Source: sourceDflt, Type: configTypeList}
		if k == telemetry.KeyInterval {
			e.Type = configTypeInt
		}
		if v, ok := set[k]; ok {
			e.Value, e.Source = v, sourceDynamicClientMetrics
		}
		out = append(out, e)
	}
	return out, nil
}

// Kafka's config types and the CLIENT_METRICS config source.
const (
	configTypeInt              = int8(kmsg.ConfigTypeInt)
	configTypeList             = int8(kmsg.ConfigTypeList)
	sourceDynamicClientMetrics = config.ConfigSource(kmsg.ConfigSourceClientMetricsConfig)
)

// noteSoftware keeps the client software name and version an ApiVersions
// request carries (v3+).
func (c *conn) noteSoftware(req *kmsg.ApiVersionsRequest) {
	if c == nil || req.Version < 3 {
		return
	}
	c.software.Store(&[2]string{req.ClientSoftwareName, req.ClientSoftwareVersion})
}
