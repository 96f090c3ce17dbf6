// This file proves Kafka-style authorization on the real binary: an SSL
// listener that requires client certificates gives each client its
// principal (User:CN=...), ACLs are managed with `ringtail acl`, and for
// each principal (a super user, a producer of one topic, a consumer of a
// topic prefix and its groups, and one with no ACLs) each of produce,
// fetch, create topic, delete topic, describe configs, alter configs, join
// group, commit offsets and transactional produce has the outcome Kafka's
// documentation gives, every refusal with its exact error code. A denied
// principal's Metadata lists no topic it may not describe, and naming one
// gives TOPIC_AUTHORIZATION_FAILED whether it exists or not.
package e2e

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// aclSettings turn Kafka's StandardAuthorizer on with User:CN=admin and
// the PLAINTEXT listener's User:ANONYMOUS (readiness, the CLI here, and
// inter-broker traffic) as super users.
func aclSettings() map[string]string {
	return map[string]string{
		"authorizer.class.name": `"org.apache.kafka.metadata.authorizer.StandardAuthorizer"`,
		"super.users":           `"User:CN=admin;User:ANONYMOUS"`,
	}
}

// principals are the test's client certificates, by CN.
var principals = []string{"admin", "producer", "consumer", "nobody"}

// clientCerts issues one client certificate per principal from ca.
func clientCerts(t *testing.T, ca *testkit.CA) map[string]*tls.Config {
	t.Helper()
	out := map[string]*tls.Config{}
	for _, cn := range principals {
		cert, key := ca.Issue(t, testkit.CertOptions{CN: cn})
		out[cn] = clientTLS(t, ca, cert, key)
	}
	return out
}

// kconn speaks the protocol by hand over one TLS connection, so that each
// request's exact error code can be checked (a client library would
// retry, reroute or fold codes into errors).
type kconn struct {
	t    *testing.T
	nc   net.Conn
	corr int32
}

func dialTLS(t *testing.T, addr string, tc *tls.Config) *kconn {
	t.Helper()
	nc, err := tls.Dial("tcp", addr, tc.Clone())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &kconn{t: t, nc: nc}
}

// do sends req at the version set on it and decodes the response.
func (c *kconn) do(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("acl-test"))
	if _, err := c.nc.Write(f.AppendRequest(nil, req, c.corr)); err != nil {
		c.t.Fatal(err)
	}
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatalf("key %d: %v", req.Key(), err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, buf); err != nil {
		c.t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != c.corr {
		c.t.Fatalf("correlation id %d, want %d", got, c.corr)
	}
	body := buf[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decoding the response to key %d: %v", req.Key(), err)
	}
	return resp
}

// retriable codes of a coordinator still loading or being created.
func coordinatorBusy(code int16) bool {
	return code == kerr.CoordinatorLoadInProgress.Code || code == kerr.CoordinatorNotAvailable.Code || code == kerr.NotCoordinator.Code
}

// untilSettled repeats op while it answers a retriable coordinator code.
func untilSettled(t *testing.T, op func() int16) int16 {
	t.Helper()
	var code int16
	testkit.WaitFor(t, 60*time.Second, "a coordinator answer", func() bool {
		code = op()
		return !coordinatorBusy(code)
	})
	return code
}

func (c *kconn) produce(topic string) int16 {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = recordBatch([]string{"v"})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return c.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

func (c *kconn) fetch(topic string) int16 {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch = 12, -1, 10, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return c.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
}

func (c *kconn) createTopic(topic string) int16 {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = 7, 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	req.Topics = append(req.Topics, rt)
	return c.do(req).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
}

func (c *kconn) deleteTopic(topic string) int16 {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = 6, 30000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	return c.do(req).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode
}

func (c *kconn) describeConfigs(topic string) int16 {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, r)
	return c.do(req).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode
}

func (c *kconn) alterConfigs(topic string) int16 {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version = 1
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value, cfg.Op = "retention.ms", kmsg.StringPtr("3600000"), 0
	r.Configs = append(r.Configs, cfg)
	req.Resources = append(req.Resources, r)
	return c.do(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
}

// joinGroup is what a consumer does: FindCoordinator, then JoinGroup. A
// first join answers MEMBER_ID_REQUIRED (KIP-394), which means admitted.
func (c *kconn) joinGroup(g string) int16 {
	return untilSettled(c.t, func() int16 {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorKeys = 4, []string{g}
		if code := c.do(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode; code != 0 {
			return code
		}
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version, req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = 5, g, 10000, 10000, "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
		req.Protocols = append(req.Protocols, p)
		code := c.do(req).(*kmsg.JoinGroupResponse).ErrorCode
		if code == kerr.MemberIDRequired.Code {
			return 0
		}
		return code
	})
}

// commitOffsets commits offset 0 of topic's partition 0 for group g as a
// standalone (simple) consumer.
func (c *kconn) commitOffsets(g, topic string) int16 {
	return untilSettled(c.t, func() int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation, req.MemberID = 8, g, -1, ""
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 0, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return c.do(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	})
}

// initTxn is a transactional producer's first request after
// FindCoordinator: InitProducerId with its transactional id.
func (c *kconn) initTxn(id string) int16 {
	return untilSettled(c.t, func() int16 {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorType, fc.CoordinatorKeys = 4, 1, []string{id}
		if code := c.do(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode; code != 0 {
			return code
		}
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 4, kmsg.StringPtr(id), 60000
		req.ProducerID, req.ProducerEpoch = -1, -1
		return c.do(req).(*kmsg.InitProducerIDResponse).ErrorCode
	})
}

// metadata returns the topics of a Metadata request (all when names is
// nil) with their error codes.
func (c *kconn) metadata(names ...string) map[string]int16 {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	if names != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, n := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
	}
	out := map[string]int16{}
	for _, t := range c.do(req).(*kmsg.MetadataResponse).Topics {
		if t.Topic != nil {
			out[*t.Topic] = t.ErrorCode
			if t.ErrorCode != 0 && len(t.Partitions) > 0 {
				c.t.Errorf("topic %s refused with code %d but its partitions are listed", *t.Topic, t.ErrorCode)
			}
		}
	}
	return out
}

// aclNode starts a node with an mTLS listener and the authorizer on, and
// grants the test's ACLs with the CLI (as the PLAINTEXT super user).
func aclNode(t *testing.T) (*tlsNode, map[string]*tls.Config) {
	t.Helper()
	n := newTLSNode(t, "required", testkit.CertOptions{}, true, aclSettings())
	certs := clientCerts(t, n.ca)
	runCLI(t, n.Node, "", "acl", "add", "--allow-principal", "User:CN=producer", "--producer", "--topic", "orders", "--transactional-id", "tx-orders")
	runCLI(t, n.Node, "", "acl", "add", "--allow-principal", "User:CN=consumer", "--consumer", "--topic", "logs-", "--group", "logs-", "--resource-pattern-type", "prefixed")
	n.CreateTopic("orders", 1, nil)
	n.CreateTopic("logs-app", 1, nil)
	return n, certs
}

func TestACLMatrix(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a node")
	}
	n, certs := aclNode(t)

	const (
		ok          = 0
		topicDenied = 29 // TOPIC_AUTHORIZATION_FAILED
		groupDenied = 30 // GROUP_AUTHORIZATION_FAILED
		txnDenied   = 53 // TRANSACTIONAL_ID_AUTHORIZATION_FAILED
		exists      = 36 // TOPIC_ALREADY_EXISTS: authorized, then refused
	)
	type row struct {
		topic, newTopic, delTopic, group, txnID                         string
		produce, fetch, create, del, describe, alter, join, commit, txn int16
	}
	matrix := map[string]row{
		// A super user may do anything.
		"admin": {"orders", "admin-new", "admin-new", "admin-g", "tx-admin", ok, ok, ok, ok, ok, ok, ok, ok, ok},
		// --producer: WRITE, DESCRIBE, CREATE on orders; WRITE, DESCRIBE on
		// tx-orders. No READ, no DESCRIBE_CONFIGS, no group.
		"producer": {"orders", "orders", "orders", "orders-g", "tx-orders", ok, topicDenied, exists, topicDenied, topicDenied, topicDenied, groupDenied, groupDenied, ok},
		// --consumer on the logs- prefix: READ, DESCRIBE on topics and READ
		// on groups starting with logs-.
		"consumer": {"logs-app", "logs-new", "logs-app", "logs-g", "tx-logs", topicDenied, ok, topicDenied, topicDenied, topicDenied, topicDenied, ok, ok, txnDenied},
		"nobody":   {"orders", "nobody-new", "orders", "nobody-g", "tx-nobody", topicDenied, topicDenied, topicDenied, topicDenied, topicDenied, topicDenied, groupDenied, groupDenied, txnDenied},
	}
	for _, who := range principals {
		r := matrix[who]
		t.Run(who, func(t *testing.T) {
			c := dialTLS(t, n.sslAddr(), certs[who])
			got := []int16{
				c.produce(r.topic), c.fetch(r.topic), c.createTopic(r.newTopic), c.deleteTopic(r.delTopic),
				c.describeConfigs(r.topic), c.alterConfigs(r.topic), c.joinGroup(r.group), c.commitOffsets(r.group+"-c", r.topic),
				c.initTxn(r.txnID),
			}
			want := []int16{r.produce, r.fetch, r.create, r.del, r.describe, r.alter, r.join, r.commit, r.txn}
			names := []string{"produce", "fetch", "create topic", "delete topic", "describe configs", "alter configs", "join group", "commit offsets", "transactional produce (InitProducerId)"}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s: %s answered %d (%v), want %d (%v)", who, names[i], got[i], kerr.ErrorForCode(got[i]), want[i], kerr.ErrorForCode(want[i]))
				}
			}
		})
	}

	// What each may see: Metadata of all topics lists only the topics the
	// principal may describe; asking for a hidden or a missing topic by
	// name gives the same TOPIC_AUTHORIZATION_FAILED.
	for who, want := range map[string][]string{"admin": {"logs-app", "orders"}, "producer": {"orders"}, "consumer": {"logs-app"}, "nobody": nil} {
		c := dialTLS(t, n.sslAddr(), certs[who])
		var seen []string
		for name := range c.metadata() {
			if !strings.HasPrefix(name, "__") {
				seen = append(seen, name)
			}
		}
		slices.Sort(seen)
		if !slices.Equal(seen, want) {
			t.Errorf("%s: metadata lists %v, want %v", who, seen, want)
		}
		if who == "admin" {
			continue
		}
		named := c.metadata("orders", "logs-app", "no-such-topic")
		for _, topic := range []string{"orders", "logs-app", "no-such-topic"} {
			wantCode := int16(topicDenied)
			if slices.Contains(want, topic) {
				wantCode = 0
			}
			if named[topic] != wantCode {
				t.Errorf("%s: metadata for %s: code %d, want %d", who, topic, named[topic], wantCode)
			}
		}
	}
	// Nor do the data and admin requests tell a hidden topic from a missing
	// one.
	nb := dialTLS(t, n.sslAddr(), certs["nobody"])
	for _, topic := range []string{"orders", "no-such-topic"} {
		got := []int16{nb.produce(topic), nb.fetch(topic), nb.describeConfigs(topic), nb.alterConfigs(topic), nb.deleteTopic(topic), nb.commitOffsets("logs-x", topic)}
		// The commit is refused for the group before the topic is looked at.
		if want := []int16{topicDenied, topicDenied, topicDenied, topicDenied, topicDenied, groupDenied}; !slices.Equal(got, want) {
			t.Errorf("nobody on %s: produce, fetch, describe configs, alter configs, delete, commit answered %v, want %v", topic, got, want)
		}
	}
	if _, ok := dialTLS(t, n.sslAddr(), certs["admin"]).metadata()["no-such-topic"]; ok {
		t.Error("a principal without CREATE auto-created a topic through Metadata")
	}

	// Real clients: a franz-go transactional producer commits as the
	// producer, and is refused as the consumer.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for who, wantErr := range map[string]error{"producer": nil, "consumer": kerr.TransactionalIDAuthorizationFailed} {
		id := map[string]string{"producer": "tx-orders", "consumer": "tx-logs"}[who]
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.sslAddr()), kgo.DialTLSConfig(certs[who].Clone()), kgo.TransactionalID(id),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RetryTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		err = txnWrite(ctx, cl, true, &kgo.Record{Topic: "orders", Value: []byte("txn-" + who)})
		cl.Close()
		if !errors.Is(err, wantErr) && !(wantErr == nil && err == nil) {
			t.Errorf("%s: franz-go transaction: %v, want %v", who, err, wantErr)
		}
	}
	// And a franz-go consumer in a group reads logs-app as the consumer.
	admin, err := kgo.NewClient(kgo.SeedBrokers(n.sslAddr()), kgo.DialTLSConfig(certs["admin"].Clone()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	produceN(t, admin, "logs-app", "log", 5)
	cons, err := kgo.NewClient(kgo.SeedBrokers(n.sslAddr()), kgo.DialTLSConfig(certs["consumer"].Clone()),
		kgo.ConsumeTopics("logs-app"), kgo.ConsumerGroup("logs-readers"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < 5 && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("consumer: %v", errs)
		}
		got += fs.NumRecords()
	}
	if got < 5 {
		t.Fatalf("consumer read %d records, want 5", got)
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("consumer group commit: %v", err)
	}

	// Denials are counted by operation and resource type.
	_, body := httpDo(t, "GET", "http://"+n.admin+"/metrics")
	for _, series := range []string{`ringtail_authorization_denied_total{operation="WRITE",resource_type="TOPIC"}`, `ringtail_authorization_denied_total{operation="READ",resource_type="GROUP"}`} {
		if !strings.Contains(body, series) {
			t.Errorf("metrics lack %s", series)
		}
	}
	if !strings.Contains(n.Log(), "authorization denied") {
		t.Error("no denial was logged")
	}
}

// The CLI lists, matches and removes what it added; removing the
// consumer's ACLs takes its access away at once.
func TestACLCLI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a node")
	}
	n, certs := aclNode(t)
	out := runCLI(t, n.Node, "", "acl", "list")
	for _, want := range []string{
		"Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`:",
		"(principal=User:CN=producer, host=*, operation=WRITE, permissionType=ALLOW)",
		"Current ACLs for resource `ResourcePattern(resourceType=GROUP, name=logs-, patternType=PREFIXED)`:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("acl list lacks %q:\n%s", want, out)
		}
	}
	out = runCLI(t, n.Node, "", "acl", "list", "--topic", "logs-app", "--resource-pattern-type", "match")
	if !strings.Contains(out, "name=logs-, patternType=PREFIXED") || strings.Contains(out, "orders") {
		t.Errorf("acl list --resource-pattern-type match for logs-app:\n%s", out)
	}
	c := dialTLS(t, n.sslAddr(), certs["consumer"])
	if code := c.fetch("logs-app"); code != 0 {
		t.Fatalf("consumer fetch before removal: %d", code)
	}
	out = runCLI(t, n.Node, "", "acl", "remove", "--topic", "logs-", "--resource-pattern-type", "prefixed", "--allow-principal", "User:CN=consumer")
	if strings.Count(out, "removed ") != 2 {
		t.Errorf("remove output:\n%s", out)
	}
	if code := c.fetch("logs-app"); code != 29 {
		t.Fatalf("consumer fetch on the same connection after removal: code %d, want 29", code)
	}
	// A principal that is not a super user may not manage ACLs.
	ca := kmsg.NewPtrCreateACLsRequest()
	ca.Version = 3
	cr := kmsg.NewCreateACLsRequestCreation()
	cr.ResourceType, cr.ResourceName, cr.ResourcePatternType, cr.Principal, cr.Host, cr.Operation, cr.PermissionType = 4, "kafka-cluster", 3, "User:CN=nobody", "*", 2, 3
	ca.Creations = append(ca.Creations, cr)
	if code := dialTLS(t, n.sslAddr(), certs["nobody"]).do(ca).(*kmsg.CreateACLsResponse).Results[0].ErrorCode; code != 31 {
		t.Fatalf("CreateAcls by User:CN=nobody: code %d, want 31 (CLUSTER_AUTHORIZATION_FAILED)", code)
	}
}
