// These tests prove that client quotas are described and altered with
// Kafka's semantics and errors, and enforced as Kafka does: produces are
// appended and answered with throttle_time_ms, an over-quota fetch gets an
// empty throttled response, strict mutations get THROTTLING_QUOTA_EXCEEDED,
// and connections over max.connections.per.ip are closed.
package kafka

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/quota"
)

func withQuotas(c *Config) { c.Quotas = quota.NewManager(quota.DefaultWindow) }

func sp(s string) *string { return &s }

func setQuota(t *testing.T, h *harness, entity kadm.ClientQuotaEntity, key string, v float64) {
	t.Helper()
	res, err := h.admin().AlterClientQuotas(testCtx(t), []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: key, Value: v}}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter %v %s=%v: %v %v", entity, key, v, err, res)
	}
}

func TestDescribeAndAlterClientQuotas(t *testing.T) {
	h := newHarness(t, withQuotas)
	adm := h.admin()
	ctx := testCtx(t)
	user := kadm.ClientQuotaEntity{{Type: "user", Name: sp("alice")}}
	both := kadm.ClientQuotaEntity{{Type: "user", Name: sp("alice")}, {Type: "client-id", Name: nil}}
	client := kadm.ClientQuotaEntity{{Type: "client-id", Name: sp("app")}}
	setQuota(t, h, user, "producer_byte_rate", 1024)
	setQuota(t, h, both, "consumer_byte_rate", 2048)
	setQuota(t, h, client, "request_percentage", 50)

	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: user, Ops: []kadm.AlterClientQuotaOp{{Key: "nonsense", Value: 1}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "group", Name: sp("g")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: user, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 0.5}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"Invalid configuration key nonsense", "Unhandled client quota entity type: group", "cannot be a fractional value"} {
		if res[i].Err != kerr.InvalidRequest || !strings.Contains(res[i].ErrMessage, want) {
			t.Errorf("entry %d: %v %q, want INVALID_REQUEST %q", i, res[i].Err, res[i].ErrMessage, want)
		}
	}
	// validate_only changes nothing.
	if res, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: sp("v")}},
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 10}}}}); err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}

	describe := func(strict bool, comps ...kadm.DescribeClientQuotaComponent) kadm.DescribedClientQuotas {
		t.Helper()
		d, err := adm.DescribeClientQuotas(ctx, strict, comps)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := describe(false); len(d) != 3 {
		t.Fatalf("describe all: %v", d)
	}
	// user=alice exactly: alice and alice/<default> (not strict).
	if d := describe(false, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: sp("alice"), MatchType: 0}); len(d) != 2 {
		t.Fatalf("user=alice: %v", d)
	}
	if d := describe(true, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: sp("alice"), MatchType: 0}); len(d) != 1 || d[0].Values[0].Value != 1024 {
		t.Fatalf("user=alice strict: %v", d)
	}
	if d := describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 1}); len(d) != 1 || d[0].Values[0].Key != "consumer_byte_rate" {
		t.Fatalf("client-id=<default>: %v", d)
	}
	if d := describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 2}); len(d) != 2 {
		t.Fatalf("client-id specified: %v", d)
	}
	// Bad filters: INVALID_REQUEST with a message.
	c := h.dial()
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	req.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 2}, {EntityType: "user", MatchType: 1}}
	resp := c.roundTrip(req, 1).(*kmsg.DescribeClientQuotasResponse)
	if resp.ErrorCode != kerr.InvalidRequest.Code || resp.ErrorMessage == nil || !strings.Contains(*resp.ErrorMessage, "more than once") {
		t.Fatalf("duplicate type: %d %v", resp.ErrorCode, resp.ErrorMessage)
	}
	req.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "ip", MatchType: 2}, {EntityType: "user", MatchType: 1}}
	if resp := c.roundTrip(req, 2).(*kmsg.DescribeClientQuotasResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("ip with user: %d", resp.ErrorCode)
	}
}

func quotaProduceReq(topic string, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = 1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestProduceOverQuotaIsAppendedAndThrottled(t *testing.T) {
	h := newHarness(t, withQuotas)
	h.createTopic("q", 1, nil)
	// The raw connections' client id is "raw"; the user is ANONYMOUS.
	setQuota(t, h, kadm.ClientQuotaEntity{{Type: "user", Name: sp("ANONYMOUS")}, {Type: "client-id", Name: sp("raw")}}, "producer_byte_rate", 1000)
	c := h.dial()
	resp := c.roundTrip(quotaProduceReq("q", bigBatch(t, 50000)), 1).(*kmsg.ProduceResponse)
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
		t.Fatal(err)
	}
	// 50 kB against 1000 B/s over a 10 s window: about (5000-1000)/1000 * 10 s.
	if resp.ThrottleMillis < 30000 {
		t.Fatalf("throttle_time_ms = %d, want about 40000", resp.ThrottleMillis)
	}
	if _, hw, _ := mustLog(t, h, "q", 0).Offsets(); hw != 1 {
		t.Fatalf("high watermark %d: the throttled produce was not appended", hw)
	}
	// Another client is not throttled.
	cl := h.client()
	defer cl.Close()
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: "q", Value: make([]byte, 100)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestFetchOverQuotaGetsEmptyThrottledResponse(t *testing.T) {
	h := newHarness(t, withQuotas)
	h.createTopic("f", 1, nil)
	c := h.dial()
	if resp := c.roundTrip(quotaProduceReq("f", bigBatch(t, 50000)), 1).(*kmsg.ProduceResponse); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatal(resp.Topics[0].Partitions[0].ErrorCode)
	}
	setQuota(t, h, kadm.ClientQuotaEntity{{Type: "client-id", Name: nil}}, "consumer_byte_rate", 1000)
	resp := c.roundTrip(fetchReq(11, "f", 0), 2).(*kmsg.FetchResponse)
	if resp.ThrottleMillis <= 0 || len(resp.Topics) != 0 {
		t.Fatalf("over-quota fetch: throttle %d, %d topics; want an empty throttled response", resp.ThrottleMillis, len(resp.Topics))
	}
	// The bytes were taken back: a client under a larger quota gets them.
	setQuota(t, h, kadm.ClientQuotaEntity{{Type: "client-id", Name: nil}}, "consumer_byte_rate", 1e6)
	c2 := h.dial()
	resp = c2.roundTrip(fetchReq(11, "f", 0), 3).(*kmsg.FetchResponse)
	if resp.ThrottleMillis != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("within quota: throttle %d, topics %d", resp.ThrottleMillis, len(resp.Topics))
	}
}

func TestStrictControllerMutationQuota(t *testing.T) {
	h := newHarness(t, withQuotas)
	// 1 mutation/s: a burst of 10.
	setQuota(t, h, kadm.ClientQuotaEntity{{Type: "client-id", Name: sp("raw")}}, "controller_mutation_rate", 1)
	c := h.dial()
	create := func(corr int32, names ...string) *kmsg.CreateTopicsResponse {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 6
		req.TimeoutMillis = 5000
		for _, n := range names {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = n, 12, 1
			req.Topics = append(req.Topics, rt)
		}
		return c.roundTrip(req, corr).(*kmsg.CreateTopicsResponse)
	}
	// The first topic fits the bucket (which it takes below zero), the
	// second is refused.
	resp := create(1, "m1", "m2")
	codes := map[string]int16{}
	for _, t := range resp.Topics {
		codes[t.Topic] = t.ErrorCode
	}
	if codes["m1"] != 0 || codes["m2"] != kerr.ThrottlingQuotaExceeded.Code || resp.ThrottleMillis <= 0 {
		t.Fatalf("codes %v, throttle %d", codes, resp.ThrottleMillis)
	}
	if h.ctrl.Image().Topics["m2"] != nil {
		t.Fatal("refused topic was created")
	}
}

func TestMaxConnectionsPerIP(t *testing.T) {
	q := config.Default().Quotas
	q.MaxConnectionsPerIP = 2
	h := newHarness(t, func(c *Config) { c.Conns = NewConnLimiter(q, "PLAINTEXT") })
	a, b := h.dial(), h.dial()
	api := kmsg.NewPtrApiVersionsRequest()
	a.roundTrip(api, 1)
	b.roundTrip(api, 1)
	h.dial().expectClosed()
	// The first two keep working; closing one frees its slot.
	a.roundTrip(api, 2)
	b.nc.Close()
	deadline := testCtx(t)
	for {
		nc, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		d := &rawConn{t: t, nc: nc}
		d.write(frame(api, 9))
		if _, _, err := d.readResponse(); err == nil {
			nc.Close()
			break
		}
		nc.Close()
		select {
		case <-deadline.Done():
			t.Fatal("no slot freed after closing a connection")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestRequestPercentageThrottlesAnyResponse(t *testing.T) {
	h := newHarness(t, withQuotas)
	// A millionth of a thread: any handler time is over it.
	setQuota(t, h, kadm.ClientQuotaEntity{{Type: "client-id", Name: sp("raw")}}, "request_percentage", 1e-6)
	c := h.dial()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	resp := c.roundTrip(req, 1).(*kmsg.MetadataResponse)
	// Kafka caps a request-quota throttle at one quota window.
	if resp.ThrottleMillis <= 0 || resp.ThrottleMillis > 1000 {
		t.Fatalf("throttle_time_ms = %d, want (0, 1000]", resp.ThrottleMillis)
	}
	// Another client is not muted.
	other := h.client(kgo.ClientID("other"))
	if err := other.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestConnectionCreationRateOfIP(t *testing.T) {
	q := config.Default().Quotas
	q.WindowNum = 2 // the rate over one second: a second connection at once is 2/s
	h := newHarness(t, func(c *Config) { c.Conns = NewConnLimiter(q, "PLAINTEXT") })
	// One admin client, connected before the quota, keeps its connection.
	adm := h.admin()
	alter := func(name *string, v float64) {
		t.Helper()
		res, err := adm.AlterClientQuotas(testCtx(t), []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: name}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: v}}}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	alter(sp("127.0.0.1"), 1)
	api := kmsg.NewPtrApiVersionsRequest()
	h.dial().roundTrip(api, 1)
	h.dial().expectClosed()
	// The ip default does not apply to 127.0.0.1, which has its own.
	alter(nil, 1000)
	h.dial().expectClosed()
}
