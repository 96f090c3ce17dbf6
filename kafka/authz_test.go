package kafka

// Tests that the handlers authorize as Kafka's KafkaApis does, against a
// real controller holding the ACLs: every connection of the harness is
// PLAINTEXT, so its principal is User:ANONYMOUS, which the tests grant
// and deny things. Also CreateAcls/DescribeAcls/DeleteAcls and their
// errors, and that an ACL change reaches a connection's cached decisions.

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
)

func withAuthorizer(superUsers string) harnessOpt {
	return func(c *Config) {
		b := *c.Broker
		b.Authorizer = config.AuthorizerConfig{ClassName: config.StandardAuthorizerClass, SuperUsers: superUsers}
		c.Broker = &b
	}
}

func grant(t *testing.T, h *harness, bs ...acl.Binding) {
	t.Helper()
	for i, err := range h.ctrl.CreateACLs(testCtx(t), bs) {
		if err != nil {
			t.Fatalf("CreateACLs %v: %v", bs[i], err)
		}
	}
}

func anonAllow(rt acl.ResourceType, name string, pt acl.PatternType, op acl.Operation) acl.Binding {
	return acl.Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: acl.Anonymous, Host: "*", Operation: op, Permission: acl.PermAllow}
}

func request[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Request(testCtx(t), req)
	if err != nil {
		t.Fatalf("request key %d: %v", req.Key(), err)
	}
	return resp.(R)
}

func TestAclAPIsWithoutAuthorizer(t *testing.T) {
	h := newHarness(t)
	adm := h.admin()
	res, err := adm.CreateACLs(testCtx(t), kadm.NewACLs().Allow("User:x").Topics("t").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(res) != 1 || res[0].Err != kerr.SecurityDisabled {
		t.Fatalf("CreateAcls without an authorizer: %v %+v; want SECURITY_DISABLED", err, res)
	}
	d := request[*kmsg.DescribeACLsResponse](t, h.client(), &kmsg.DescribeACLsRequest{ResourceType: 1, ResourcePatternType: 1, Operation: 1, PermissionType: 1})
	if d.ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("DescribeAcls error %d, want SECURITY_DISABLED", d.ErrorCode)
	}
}

func TestAuthorizationDeniesAnonymous(t *testing.T) {
	h := newHarness(t, withAuthorizer("User:admin"))
	ctx := testCtx(t)
	if r := h.ctrl.CreateTopics(ctx, []controlplane.CreateTopic{{Name: "secret", NumPartitions: 1, ReplicationFactor: 1}}, false); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	cl := h.client()

	// Metadata: the existing topic is not listed, and asking for it or for
	// a missing one gives the same TOPIC_AUTHORIZATION_FAILED.
	all := request[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
	if len(all.Topics) != 0 {
		t.Fatalf("metadata lists %d topics to a principal with no ACLs", len(all.Topics))
	}
	named := kmsg.NewPtrMetadataRequest()
	for _, n := range []string{"secret", "missing"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		named.Topics = append(named.Topics, rt)
	}
	named.AllowAutoTopicCreation = true
	for _, rt := range request[*kmsg.MetadataResponse](t, cl, named).Topics {
		if rt.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(rt.Partitions) != 0 {
			t.Fatalf("metadata for %s: code %d, %d partitions; want TOPIC_AUTHORIZATION_FAILED and nothing", *rt.Topic, rt.ErrorCode, len(rt.Partitions))
		}
	}
	if _, ok := h.ctrl.Image().Topics["missing"]; ok {
		t.Fatal("metadata auto-created a topic for a principal without CREATE")
	}

	// Produce, fetch, configs, groups, transactions.
	prod := kmsg.NewPtrProduceRequest()
	prod.Acks, prod.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "secret"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte{1}
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)
	if c := request[*kmsg.ProduceResponse](t, cl, prod).Topics[0].Partitions[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("produce: code %d, want TOPIC_AUTHORIZATION_FAILED", c)
	}
	prod.TransactionID = kmsg.StringPtr("tx")
	if c := request[*kmsg.ProduceResponse](t, cl, prod).Topics[0].Partitions[0].ErrorCode; c != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional produce: code %d, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", c)
	}
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType, dcr.ResourceName = kmsg.ConfigResourceTypeTopic, "secret"
	dc.Resources = append(dc.Resources, dcr)
	if c := request[*kmsg.DescribeConfigsResponse](t, cl, dc).Resources[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("describe configs: code %d", c)
	}
	dcr.ResourceType, dcr.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	dc.Resources[0] = dcr
	if c := request[*kmsg.DescribeConfigsResponse](t, cl, dc).Resources[0].ErrorCode; c != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("describe broker configs: code %d", c)
	}
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "new", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	if c := request[*kmsg.CreateTopicsResponse](t, cl, ct).Topics[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("create topics: code %d", c)
	}
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"secret"}
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.Topic = kmsg.StringPtr("secret")
	dt.Topics = append(dt.Topics, dtt)
	if c := request[*kmsg.DeleteTopicsResponse](t, cl, dt).Topics[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("delete topics: code %d", c)
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorKeys = "g", []string{"g"}
	if c := request[*kmsg.FindCoordinatorResponse](t, cl, fc); c.ErrorCode != kerr.GroupAuthorizationFailed.Code && (len(c.Coordinators) == 0 || c.Coordinators[0].ErrorCode != kerr.GroupAuthorizationFailed.Code) {
		t.Fatalf("find coordinator: %+v", c)
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	if c := request[*kmsg.InitProducerIDResponse](t, cl, ip).ErrorCode; c != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("idempotent init producer id: code %d, want CLUSTER_AUTHORIZATION_FAILED", c)
	}
	ip.TransactionalID = kmsg.StringPtr("tx")
	// Straight to the broker: the client would ask FindCoordinator first,
	// which refuses the same way.
	raw, err := cl.Broker(1).Request(testCtx(t), ip)
	if err != nil {
		t.Fatal(err)
	}
	if c := raw.(*kmsg.InitProducerIDResponse).ErrorCode; c != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional init producer id: code %d", c)
	}
	ca := request[*kmsg.CreateACLsResponse](t, cl, &kmsg.CreateACLsRequest{Creations: []kmsg.CreateACLsRequestCreation{{
		ResourceType: 2, ResourceName: "t", ResourcePatternType: 3, Principal: "User:x", Host: "*", Operation: 3, PermissionType: 3}}})
	if ca.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("create acls without ALTER on the cluster: code %d", ca.Results[0].ErrorCode)
	}
	denied := int64(0)
	for _, d := range h.srv.DeniedCounts() {
		denied += d.Count
	}
	if denied < 10 {
		t.Fatalf("denials counted: %d (%+v)", denied, h.srv.DeniedCounts())
	}

	// Granting WRITE reaches the same connection's cached decision.
	grant(t, h, anonAllow(acl.ResourceTopic, "secr", acl.PatternPrefixed, acl.OpWrite))
	prod.TransactionID = nil
	if c := request[*kmsg.ProduceResponse](t, cl, prod).Topics[0].Partitions[0].ErrorCode; c == kerr.TopicAuthorizationFailed.Code {
		t.Fatal("produce still refused after WRITE was granted")
	}
	all = request[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
	if len(all.Topics) != 1 || *all.Topics[0].Topic != "secret" {
		t.Fatalf("metadata after WRITE (implies DESCRIBE): %+v", all.Topics)
	}
	ip.TransactionalID = nil
	if c := request[*kmsg.InitProducerIDResponse](t, cl, ip).ErrorCode; c != 0 {
		t.Fatalf("idempotent init producer id with WRITE on a topic: code %d", c)
	}
}

func TestAclAPIs(t *testing.T) {
	h := newHarness(t, withAuthorizer(""))
	grant(t, h, anonAllow(acl.ResourceCluster, acl.ClusterName, acl.PatternLiteral, acl.OpAlter))
	adm := h.admin()
	ctx := testCtx(t)
	b := kadm.NewACLs().Allow("User:CN=consumer").Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead).
		Groups("g1").Deny("User:CN=bad").DenyHosts("10.0.0.1")
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create %+v: %v", r, r.Err)
		}
	}
	// Describe needs DESCRIBE, implied by ALTER on the cluster.
	f := kadm.NewACLs().Topics("logs-1").ResourcePatternType(kadm.ACLPatternMatch).Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts()
	ds, err := adm.DescribeACLs(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		n += len(d.Described)
	}
	if n != 2 {
		t.Fatalf("MATCH topic logs-1 described %d acls, want 2 (allow + deny on the logs- prefix): %+v", n, ds)
	}
	// A bad creation is refused on its own.
	ca := request[*kmsg.CreateACLsResponse](t, h.client(), &kmsg.CreateACLsRequest{Creations: []kmsg.CreateACLsRequestCreation{
		{ResourceType: 2, ResourceName: "t", ResourcePatternType: 2, Principal: "User:x", Host: "*", Operation: 3, PermissionType: 3},
		{ResourceType: 2, ResourceName: "t", ResourcePatternType: 3, Principal: "nobody", Host: "*", Operation: 3, PermissionType: 3},
		{ResourceType: 2, ResourceName: "t", ResourcePatternType: 3, Principal: "User:x", Host: "*", Operation: 3, PermissionType: 3},
	}})
	if c := ca.Results; c[0].ErrorCode != kerr.InvalidRequest.Code || c[1].ErrorCode != kerr.InvalidRequest.Code || c[2].ErrorCode != 0 {
		t.Fatalf("create codes %d %d %d, want INVALID_REQUEST INVALID_REQUEST 0", c[0].ErrorCode, c[1].ErrorCode, c[2].ErrorCode)
	}
	d := request[*kmsg.DescribeACLsResponse](t, h.client(), &kmsg.DescribeACLsRequest{ResourceType: 0, ResourcePatternType: 1, Operation: 1, PermissionType: 1})
	if d.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("describe with an UNKNOWN resource type: code %d", d.ErrorCode)
	}
	del, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, r := range del {
		deleted += len(r.Deleted)
	}
	if deleted != 2 {
		t.Fatalf("deleted %d, want 2: %+v", deleted, del)
	}
	if got := len(h.ctrl.Image().ACLs); got != 4 { // cluster ALTER, group allow+deny, topic t
		t.Fatalf("%d acls left, want 4", got)
	}
	// Without ALTER on the cluster, no more changes.
	if _, err := h.ctrl.DeleteACLs(ctx, []acl.Filter{{ResourceType: acl.ResourceCluster, PatternType: acl.PatternAny, Operation: acl.OpAny, Permission: acl.PermAny}}); err != nil {
		t.Fatal(err)
	}
	res, _ = adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:x").Topics("t2").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if len(res) != 1 || res[0].Err != kerr.ClusterAuthorizationFailed {
		t.Fatalf("create without ALTER: %+v", res)
	}
}

// A replica's Fetch needs CLUSTER_ACTION on the cluster and no topic ACL;
// without it every partition is TOPIC_AUTHORIZATION_FAILED. A consumer's
// Fetch needs READ on the topic whatever it holds on the cluster.
func TestAuthorizationReplicaFetch(t *testing.T) {
	h := newHarness(t, withAuthorizer(""))
	if r := h.ctrl.CreateTopics(testCtx(t), []controlplane.CreateTopic{{Name: "r", NumPartitions: 1, ReplicationFactor: 1}}, false); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	c := h.dial()
	fetch := func(replica int32) int16 {
		req := fetchReq(12, "r", 0)
		req.ReplicaID = replica
		req.MaxWaitMillis = 0
		return c.roundTrip(req, 1).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := fetch(2); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("replica fetch without CLUSTER_ACTION: code %d", code)
	}
	grant(t, h, anonAllow(acl.ResourceCluster, acl.ClusterName, acl.PatternLiteral, acl.OpClusterAction))
	if code := fetch(2); code != 0 {
		t.Fatalf("replica fetch with CLUSTER_ACTION: code %d", code)
	}
	if code := fetch(-1); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("consumer fetch with only CLUSTER_ACTION: code %d", code)
	}
}

// BenchmarkAuthorizeCheck is what a produce request pays per topic for
// authorization on a real server: the check of authz.go with 1,000 ACLs
// in the image (the connection's cache hits after the first request),
// against a server without an authorizer.
func BenchmarkAuthorizeCheck(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("authorizer=%v", on), func(b *testing.B) {
			var opts []harnessOpt
			if on {
				opts = append(opts, withAuthorizer(""))
			}
			h := newHarness(b, opts...)
			var bs []acl.Binding
			for i := range 999 {
				bs = append(bs, acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: fmt.Sprintf("topic-%d", i), PatternType: acl.PatternLiteral,
					Principal: fmt.Sprintf("User:u%d", i%50), Host: "*", Operation: acl.OpWrite, Permission: acl.PermAllow})
			}
			bs = append(bs, acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: "orders", PatternType: acl.PatternLiteral,
				Principal: "User:producer", Host: "*", Operation: acl.OpWrite, Permission: acl.PermAllow})
			for _, err := range h.ctrl.CreateACLs(context.Background(), bs) {
				if err != nil {
					b.Fatal(err)
				}
			}
			c := newConn(h.srv, nil)
			c.principal, c.hostIP = "User:producer", "10.0.0.1"
			cx := &reqCtx{conn: c}
			for b.Loop() {
				if !cx.authorize(acl.ResourceTopic, "orders", acl.OpWrite) {
					b.Fatal("denied")
				}
			}
		})
	}
}

// logCounter counts "authorization denied" lines and remembers their
// suppressed counts.
type logCounter struct {
	mu         *sync.Mutex
	suppressed *[]int64
}

func (h logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h logCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "authorization denied" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			h.mu.Lock()
			*h.suppressed = append(*h.suppressed, a.Value.Int64())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}
func (h logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logCounter) WithGroup(string) slog.Handler      { return h }

// Denials are logged at most once a second, each line carrying how many
// were left out since the last, and all of them are counted.
func TestAuthorizationDenialLogRateLimited(t *testing.T) {
	var mu sync.Mutex
	var lines []int64
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	h := newHarness(t, withAuthorizer(""), func(c *Config) {
		c.Logger = slog.New(logCounter{mu: &mu, suppressed: &lines})
		c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	c := h.dial()
	describe := func() {
		req := kmsg.NewPtrDescribeConfigsRequest()
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
		req.Resources = append(req.Resources, r)
		c.roundTrip(req, 1)
	}
	for range 10 {
		describe()
	}
	clock.Add(int64(1500 * time.Millisecond))
	for range 5 {
		describe()
	}
	mu.Lock()
	got := append([]int64{}, lines...)
	mu.Unlock()
	if len(got) != 2 || got[0] != 0 || got[1] != 9 {
		t.Fatalf("logged lines with suppressed counts %v, want [0 9]", got)
	}
	var n int64
	for _, d := range h.srv.DeniedCounts() {
		if d.Operation == "DESCRIBE_CONFIGS" && d.ResourceType == "TOPIC" {
			n = d.Count
		}
	}
	if n != 15 {
		t.Fatalf("counted %d denials, want 15", n)
	}
}
