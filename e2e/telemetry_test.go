// This file proves KIP-714 client telemetry end to end: a client metrics
// subscription made through IncrementalAlterConfigs on the CLIENT_METRICS
// resource (and read back with DescribeConfigs) makes a franz-go producer
// push its metrics, which show on the admin server's /metrics; bad
// subscriptions and bad pushes get Kafka's error codes.
package e2e

import (
	"context"
	"iter"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

const resourceClientMetrics = kmsg.ConfigResourceType(16)

// alterClientMetrics sets a subscription's keys (IncrementalAlterConfigs
// SET) and returns the resource's error code.
func alterClientMetrics(t *testing.T, cl *kgo.Client, name string, kv map[string]string) int16 {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = resourceClientMetrics, name
	for k, v := range kv {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		r.Configs = append(r.Configs, c)
	}
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Resources[0].ErrorCode
}

func TestTelemetryFranzPush(t *testing.T) {
	t.Parallel()
	o, admin := withAdmin(t, testkit.Options{})
	n := testkit.StartNode(t, o)
	adm := n.Client()
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Bad subscriptions are refused with Kafka's codes.
	if code := alterClientMetrics(t, adm, "bad", map[string]string{"interval.ms": "10"}); code != kerr.InvalidConfig.Code {
		t.Fatalf("interval.ms=10: code %d, want INVALID_CONFIG", code)
	}
	if code := alterClientMetrics(t, adm, "bad", map[string]string{"match": "rack=x"}); code != kerr.InvalidConfig.Code {
		t.Fatalf("match rack=x: code %d, want INVALID_CONFIG", code)
	}
	if code := alterClientMetrics(t, adm, "bad", map[string]string{"colour": "x"}); code != kerr.InvalidRequest.Code {
		t.Fatalf("unknown key: code %d, want INVALID_REQUEST", code)
	}
	if code := alterClientMetrics(t, adm, "e2e", map[string]string{
		"metrics": "org.apache.kafka.producer.,ringtail.test.", "interval.ms": "500", "match": "client_id=telemetry-e2e",
	}); code != 0 {
		t.Fatalf("subscription: code %d", code)
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = resourceClientMetrics, "e2e"
	dreq.Resources = append(dreq.Resources, dr)
	dresp, err := dreq.RequestWith(ctx, adm)
	if err != nil || dresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe: %v %+v", err, dresp)
	}
	got := map[string]string{}
	for _, c := range dresp.Resources[0].Configs {
		got[c.Name] = *c.Value
	}
	if got["interval.ms"] != "500" || got["match"] != "client_id=telemetry-e2e" || got["metrics"] != "org.apache.kafka.producer.,ringtail.test." {
		t.Fatalf("described: %v", got)
	}

	// A producer with a user metric pushes once it has produced.
	n.CreateTopic("telemetry", 1, nil)
	user := func() iter.Seq[kgo.Metric] {
		return func(yield func(kgo.Metric) bool) {
			yield(kgo.Metric{Name: "ringtail.test.gauge", Type: kgo.MetricTypeGauge, ValueInt: 42, Attrs: map[string]any{"app": "e2e"}})
		}
	}
	// franz-go asks ApiVersions at v5 first; the KIP-511 fallback (only
	// ApiVersions' own range) makes it ask again at v4 with its software
	// name, which the subscription's match and the labels below need.
	cl := n.Client(kgo.ClientID("telemetry-e2e"), kgo.DefaultProduceTopic("telemetry"), kgo.UserMetricsFn(user))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"client_id": "telemetry-e2e", "client_software_name": "kgo", "name": "ringtail.test.gauge", "attributes": "app=e2e"}
	testkit.WaitFor(t, 20*time.Second, "the pushed user metric on /metrics", func() bool {
		return metricSum(scrape(t, admin), "ringtail_client_metric", want) == 42
	})
	fams := scrape(t, admin)
	if v := metricSum(fams, "ringtail_client_metric", map[string]string{"client_id": "telemetry-e2e", "name": "org.apache.kafka.producer.connection.creation.total"}); v < 1 {
		t.Fatalf("producer connection.creation.total: %v", v)
	}
	pushes := metricSum(fams, "ringtail_telemetry_pushes_total", nil)
	cl.Close() // a terminating push
	testkit.WaitFor(t, 10*time.Second, "the terminating push", func() bool {
		return metricSum(scrape(t, admin), "ringtail_telemetry_pushes_total", nil) > pushes
	})

	// Raw pushes with bad input.
	g := kmsg.NewPtrGetTelemetrySubscriptionsRequest()
	gresp, err := g.RequestWith(ctx, adm)
	if err != nil || gresp.ErrorCode != 0 || gresp.ClientInstanceID == [16]byte{} || gresp.TelemetryMaxBytes != 1<<20 {
		t.Fatalf("get: %v %+v", err, gresp)
	}
	push := func(id [16]byte, sub int32, codec int8, payload []byte) int16 {
		p := kmsg.NewPtrPushTelemetryRequest()
		p.ClientInstanceID, p.SubscriptionID, p.CompressionType, p.Metrics = id, sub, codec, payload
		r, err := p.RequestWith(ctx, adm)
		if err != nil {
			t.Fatal(err)
		}
		return r.ErrorCode
	}
	if c := push([16]byte{}, gresp.SubscriptionID, 0, nil); c != kerr.InvalidRequest.Code {
		t.Fatalf("zero id: %d", c)
	}
	if c := push(gresp.ClientInstanceID, gresp.SubscriptionID+1, 0, nil); c != kerr.UnknownSubscriptionID.Code {
		t.Fatalf("wrong subscription id: %d", c)
	}
	if c := push(gresp.ClientInstanceID, gresp.SubscriptionID, 4, []byte("not zstd")); c != kerr.InvalidRecord.Code {
		t.Fatalf("bad payload: %d", c)
	}
	if c := push(gresp.ClientInstanceID, gresp.SubscriptionID, 0, nil); c != kerr.ThrottlingQuotaExceeded.Code {
		t.Fatalf("push before the interval: %d", c)
	}
}
