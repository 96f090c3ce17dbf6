package kafka

// KIP-714 against the harness's real controller: the CLIENT_METRICS
// config resource needs ALTER_CONFIGS / DESCRIBE_CONFIGS on the cluster,
// while GetTelemetrySubscriptions and PushTelemetry need no ACL; a
// subscription set through IncrementalAlterConfigs is what Get answers,
// AlterConfigs replaces it, and deleting its keys removes it.

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

func incAlterCM(name string, op kmsg.IncrementalAlterConfigOp, kv ...string) *kmsg.IncrementalAlterConfigsRequest {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = 16, name
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = kv[i], kmsg.StringPtr(kv[i+1]), op
		r.Configs = append(r.Configs, c)
	}
	req.Resources = append(req.Resources, r)
	return req
}

func describeCM(name string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = 16, name
	req.Resources = append(req.Resources, r)
	return req
}

func getTelemetry(t *testing.T, cl *kgo.Client) *kmsg.GetTelemetrySubscriptionsResponse {
	return request[*kmsg.GetTelemetrySubscriptionsResponse](t, cl, kmsg.NewPtrGetTelemetrySubscriptionsRequest())
}

func TestTelemetryACLs(t *testing.T) {
	h := newHarness(t, withAuthorizer(""))
	cl := h.client(kgo.DisableClientMetrics())
	if r := request[*kmsg.IncrementalAlterConfigsResponse](t, cl, incAlterCM("s", 0, "metrics", "*")); r.Resources[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("alter without ACL: %d", r.Resources[0].ErrorCode)
	}
	if r := request[*kmsg.DescribeConfigsResponse](t, cl, describeCM("s")); r.Resources[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("describe without ACL: %d", r.Resources[0].ErrorCode)
	}
	if r := request[*kmsg.ListConfigResourcesResponse](t, cl, kmsg.NewPtrListConfigResourcesRequest()); r.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("list without ACL: %d", r.ErrorCode)
	}
	// No ACL at all is needed to ask for a subscription and push.
	g := getTelemetry(t, cl)
	if g.ErrorCode != 0 || g.ClientInstanceID == [16]byte{} || len(g.RequestedMetrics) != 0 || g.PushIntervalMillis != 300000 {
		t.Fatalf("get: %+v", g)
	}
	p := kmsg.NewPtrPushTelemetryRequest()
	p.ClientInstanceID, p.SubscriptionID = g.ClientInstanceID, g.SubscriptionID
	if r := request[*kmsg.PushTelemetryResponse](t, cl, p); r.ErrorCode != 0 {
		t.Fatalf("push: %d", r.ErrorCode)
	}

	grant(t, h, anonAllow(acl.ResourceCluster, acl.ClusterName, acl.PatternLiteral, acl.OpAlterConfigs))
	if r := request[*kmsg.IncrementalAlterConfigsResponse](t, cl, incAlterCM("s", 0, "metrics", "a.,b.", "interval.ms", "1000")); r.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter with ALTER_CONFIGS: %d", r.Resources[0].ErrorCode)
	}
	// DESCRIBE_CONFIGS is implied by ALTER_CONFIGS, as in Kafka.
	d := request[*kmsg.DescribeConfigsResponse](t, cl, describeCM("s"))
	got := map[string]string{}
	for _, c := range d.Resources[0].Configs {
		got[c.Name] = *c.Value
		if c.Name == "match" && c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("unset match: source %v", c.Source)
		}
		if c.Name == "metrics" && c.Source != kmsg.ConfigSourceClientMetricsConfig {
			t.Errorf("metrics: source %v", c.Source)
		}
	}
	if d.Resources[0].ErrorCode != 0 || got["metrics"] != "a.,b." || got["interval.ms"] != "1000" || got["match"] != "" {
		t.Fatalf("describe: %d %v", d.Resources[0].ErrorCode, got)
	}
	if r := request[*kmsg.ListConfigResourcesResponse](t, cl, kmsg.NewPtrListConfigResourcesRequest()); r.ErrorCode != 0 || len(r.ConfigResources) != 1 || r.ConfigResources[0].Name != "s" {
		t.Fatalf("list: %+v", r)
	}
	if r := request[*kmsg.DescribeConfigsResponse](t, cl, describeCM("")); r.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("describe empty name: %d", r.Resources[0].ErrorCode)
	}

	// A client that asks again after the change gets the new subscription
	// (its last push failed on the old one, so it may ask at once).
	p.SubscriptionID = g.SubscriptionID
	if r := request[*kmsg.PushTelemetryResponse](t, cl, p); r.ErrorCode != kerr.UnknownSubscriptionID.Code {
		t.Fatalf("push on the old subscription: %d", r.ErrorCode)
	}
	g2 := request[*kmsg.GetTelemetrySubscriptionsResponse](t, cl, &kmsg.GetTelemetrySubscriptionsRequest{ClientInstanceID: g.ClientInstanceID})
	if g2.ErrorCode != 0 || g2.ClientInstanceID != g.ClientInstanceID || g2.SubscriptionID == g.SubscriptionID || g2.PushIntervalMillis != 1000 || len(g2.RequestedMetrics) != 2 || g2.DeltaTemporality {
		t.Fatalf("get after the change: %+v", g2)
	}

	// AlterConfigs replaces every key; deleting the last key removes it.
	ar := kmsg.NewPtrAlterConfigsRequest()
	arr := kmsg.NewAlterConfigsRequestResource()
	arr.ResourceType, arr.ResourceName = 16, "s"
	arc := kmsg.NewAlterConfigsRequestResourceConfig()
	arc.Name, arc.Value = "metrics", kmsg.StringPtr("*")
	arr.Configs = append(arr.Configs, arc)
	ar.Resources = append(ar.Resources, arr)
	if r := request[*kmsg.AlterConfigsResponse](t, cl, ar); r.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter (replace): %d", r.Resources[0].ErrorCode)
	}
	if cm := h.ctrl.Image().ClientMetrics["s"]; len(cm) != 1 || cm["metrics"] != "*" {
		t.Fatalf("after replace: %v", cm)
	}
	if r := request[*kmsg.IncrementalAlterConfigsResponse](t, cl, incAlterCM("s", 1, "metrics", "")); r.Resources[0].ErrorCode != 0 {
		t.Fatalf("delete: %d", r.Resources[0].ErrorCode)
	}
	if _, ok := h.ctrl.Image().ClientMetrics["s"]; ok {
		t.Fatal("subscription left after its last key was deleted")
	}
	if r := request[*kmsg.IncrementalAlterConfigsResponse](t, cl, incAlterCM("s", 0, "interval.ms", "50")); r.Resources[0].ErrorCode != kerr.InvalidConfig.Code {
		t.Fatalf("interval.ms=50: %d", r.Resources[0].ErrorCode)
	}
}
