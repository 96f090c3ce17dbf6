// These tests send the share-group APIs over a raw connection:
// ShareGroupHeartbeat v1 and ShareGroupDescribe v0-v1, ListGroups' share
// type, GROUP configs through IncrementalAlterConfigs and DescribeConfigs
// and what the ShareGroups seam reads of them, DeleteGroups dropping the
// share-partition state first, and the ACL checks of Kafka's KafkaApis.
package kafka

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
)

// fakeShareStates records DeleteGroup calls; fail makes them fail.
type fakeShareStates struct {
	mu      sync.Mutex
	deleted []string
	fail    error
}

func (f *fakeShareStates) DeleteGroup(_ context.Context, g string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.deleted = append(f.deleted, g)
	return nil
}

func TestShareGroupAPIs(t *testing.T) {
	states := &fakeShareStates{}
	h := newConsumerGroupHarness(t)
	h.srv.cfg.ShareStates = states
	h.createTopic("sq", 2, nil)
	c := h.dial()
	corr := int32(0)
	rt := func(r kmsg.Request) kmsg.Response { corr++; return c.roundTrip(r, corr) }
	hb := func(id string, epoch int32, topics []string) *kmsg.ShareGroupHeartbeatResponse {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.Version = 1
		req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = "sg", id, epoch, topics
		return rt(req).(*kmsg.ShareGroupHeartbeatResponse)
	}
	a := hb("member-a", 0, []string{"sq"})
	if a.ErrorCode != 0 || a.MemberEpoch != 1 || a.Assignment == nil || len(a.Assignment.TopicPartitions) != 1 || len(a.Assignment.TopicPartitions[0].Partitions) != 2 || a.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("join: %+v", a)
	}
	if r := hb("", 0, []string{"sq"}); r.ErrorCode != kerr.InvalidRequest.Code || r.ErrorMessage == nil {
		t.Fatalf("no member id: %+v", r)
	}
	if r := hb("member-a", 9, nil); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("stale epoch: %+v", r)
	}
	if r := hb("member-b", 0, []string{"sq"}); r.ErrorCode != 0 || len(r.Assignment.TopicPartitions[0].Partitions) != 1 {
		t.Fatalf("second member: %+v", r)
	}
	for v := int16(0); v <= 1; v++ {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.Version, req.GroupIDs, req.IncludeAuthorizedOperations = v, []string{"sg", "nosuch"}, true
		resp := rt(req).(*kmsg.ShareGroupDescribeResponse)
		g := resp.Groups[0]
		if g.ErrorCode != 0 || g.GroupState != "Stable" || len(g.Members) != 2 || g.Assignor != "simple" || g.AuthorizedOperations != groupOps {
			t.Fatalf("describe v%d: %+v", v, g)
		}
		if tp := g.Members[0].Assignment.TopicPartitions; len(tp) != 1 || tp[0].Topic != "sq" {
			t.Fatalf("describe v%d assignment: %+v", v, tp)
		}
		if resp.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("describe of an unknown group: %+v", resp.Groups[1])
		}
	}
	freq := kmsg.NewPtrOffsetFetchRequest()
	freq.Version = 8
	freq.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "sg"}}
	if f := rt(freq).(*kmsg.OffsetFetchResponse); f.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("OffsetFetch of a share group: %+v", f.Groups[0])
	}
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.Version = 5
	lreq.TypesFilter = []string{"share"}
	if l := rt(lreq).(*kmsg.ListGroupsResponse); len(l.Groups) != 1 || l.Groups[0].GroupType != "share" || l.Groups[0].ProtocolType != "share" {
		t.Fatalf("list share groups: %+v", l.Groups)
	}

	// GROUP configs: validated, stored, described, read by the seam.
	iac := func(k, v string) *kmsg.IncrementalAlterConfigsResponseResource {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "sg"
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = k, &v
		r.Configs = append(r.Configs, cfg)
		req.Resources = append(req.Resources, r)
		return &rt(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
	}
	if r := iac("share.isolation.level", "dirty"); r.ErrorCode != kerr.InvalidConfig.Code || !strings.Contains(*r.ErrorMessage, "read_committed") {
		t.Fatalf("bad isolation level: %+v", r)
	}
	for k, v := range map[string]string{"share.isolation.level": "read_committed", "share.record.lock.duration.ms": "20000", "share.auto.offset.reset": "by_duration:PT5M", "share.heartbeat.interval.ms": "6000"} {
		if r := iac(k, v); r.ErrorCode != 0 {
			t.Fatalf("%s=%s: %+v", k, v, r)
		}
	}
	sc := NewShareGroups(h.srv.cfg.Groups, h.ctrl.Image, ShareDefaults{RecordLockDuration: 30 * time.Second, DeliveryCountLimit: 5}).ShareConfig("sg")
	if sc != (ShareGroupConfig{AutoOffsetReset: "by_duration:PT5M", RecordLockDuration: 20 * time.Second, DeliveryCountLimit: 5, IsolationLevel: 1}) {
		t.Fatalf("ShareConfig: %+v", sc)
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dreq.Version = 4
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "sg"
	dreq.Resources = append(dreq.Resources, dr)
	got := map[string]string{}
	for _, e := range rt(dreq).(*kmsg.DescribeConfigsResponse).Resources[0].Configs {
		got[e.Name] = *e.Value + "/" + e.Source.String()
	}
	if got["share.record.lock.duration.ms"] != "20000/GROUP_CONFIG" || got["share.session.timeout.ms"] != "45000/DEFAULT_CONFIG" || len(got) != 8 {
		t.Fatalf("describe configs: %v", got)
	}

	// DeleteGroups: refused with members; once empty, the share state is
	// dropped first and then the group; a failed drop keeps the group.
	del := func() int16 {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = []string{"sg"}
		return rt(req).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode
	}
	if code := del(); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete with members: %d", code)
	}
	hb("member-a", -1, nil)
	hb("member-b", -1, nil)
	states.fail = kerr.CoordinatorNotAvailable
	if code := del(); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("delete whose share state stays: %d", code)
	}
	states.fail = nil
	if code := del(); code != 0 || len(states.deleted) != 1 {
		t.Fatalf("delete: %d, share states dropped %v", code, states.deleted)
	}
	if r := hb("member-a", 1, nil); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("heartbeat to a deleted group: %+v", r)
	}
}

// TestShareGroupAuthz: ShareGroupHeartbeat needs READ on the group and
// DESCRIBE on each subscribed topic; ShareGroupDescribe DESCRIBE on the
// group and on the topics its members use; GROUP configs DESCRIBE_CONFIGS
// or ALTER_CONFIGS on the group.
func TestShareGroupAuthz(t *testing.T) {
	gc := group.New(group.Config{NumPartitions: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := newHarness(t, withAuthorizer(""), func(c *Config) { c.Groups = gc })
	grant(t, h, anonAllow(acl.ResourceCluster, acl.ClusterName, acl.PatternLiteral, acl.OpCreate))
	h.createTopic(group.OffsetsTopic, 1, nil)
	l, _ := h.logs.Log(model.TopicPartition{Topic: group.OffsetsTopic, Partition: 0})
	if err := gc.Load(0, groupLog{l}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c := h.dial()
	corr := int32(0)
	hb := func() int16 {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.Version = 1
		req.GroupID, req.MemberID, req.SubscribedTopicNames = "ag", "m1", []string{"secret"}
		corr++
		return c.roundTrip(req, corr).(*kmsg.ShareGroupHeartbeatResponse).ErrorCode
	}
	describe := func() int16 {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{"ag"}
		corr++
		return c.roundTrip(req, corr).(*kmsg.ShareGroupDescribeResponse).Groups[0].ErrorCode
	}
	describeConfigs := func() int16 {
		req := kmsg.NewPtrDescribeConfigsRequest()
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "ag"
		req.Resources = append(req.Resources, r)
		corr++
		return c.roundTrip(req, corr).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode
	}
	if c := hb(); c != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("heartbeat without READ on the group: %d", c)
	}
	if c := describe(); c != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("describe without DESCRIBE on the group: %d", c)
	}
	if c := describeConfigs(); c != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("describe configs without DESCRIBE_CONFIGS on the group: %d", c)
	}
	grant(t, h, anonAllow(acl.ResourceGroup, "ag", acl.PatternLiteral, acl.OpRead))
	if c := hb(); c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("heartbeat without DESCRIBE on the topic: %d", c)
	}
	grant(t, h, anonAllow(acl.ResourceTopic, "secret", acl.PatternLiteral, acl.OpDescribe))
	if c := hb(); c != 0 {
		t.Fatalf("authorized heartbeat: %d", c)
	}
	if c := describe(); c != 0 {
		t.Fatalf("describe with READ on the group: %d", c)
	}
	grant(t, h, anonAllow(acl.ResourceGroup, "ag", acl.PatternLiteral, acl.OpDescribeConfigs))
	if c := describeConfigs(); c != 0 {
		t.Fatalf("describe configs with DESCRIBE_CONFIGS: %d", c)
	}
	// A topic the principal may not describe hides the whole group.
	deny := anonAllow(acl.ResourceTopic, "secret", acl.PatternLiteral, acl.OpDescribe)
	deny.Permission = acl.PermDeny
	grant(t, h, deny)
	if c := describe(); c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("describe of a group using a hidden topic: %d", c)
	}
}
