// These tests send the KIP-848 group APIs at each version they are served
// in over a raw connection: ConsumerGroupHeartbeat v0 (broker-made member
// ids) and v1, ConsumerGroupDescribe v0-v1, OffsetCommit and OffsetFetch
// v9 with member epochs, ListGroups v5's type filter, DescribeGroups and
// a classic JoinGroup against a consumer group.
package kafka

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
)

func newConsumerGroupHarness(t *testing.T) *harness {
	var ctrl *controlplane.Controller
	gc := group.New(group.Config{NumPartitions: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Topics: func() map[string]group.TopicMeta {
			out := map[string]group.TopicMeta{}
			for name, tp := range ctrl.Image().Topics {
				out[name] = group.TopicMeta{ID: tp.ID, Partitions: int32(len(tp.Partitions))}
			}
			return out
		}})
	h := newHarness(t, func(c *Config) { c.Groups = gc })
	ctrl = h.ctrl
	h.createTopic(group.OffsetsTopic, 1, nil)
	l, ok := h.logs.Log(model.TopicPartition{Topic: group.OffsetsTopic, Partition: 0})
	if !ok {
		t.Fatal("no log for __consumer_offsets-0")
	}
	if err := gc.Load(0, groupLog{l}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestConsumerGroupAPIs(t *testing.T) {
	h := newConsumerGroupHarness(t)
	h.createTopic("cg", 4, nil)
	c := h.dial()
	corr := int32(0)
	rt := func(r kmsg.Request) kmsg.Response { corr++; return c.roundTrip(r, corr) }
	code := func(what string, got int16, want *kerr.Error) {
		t.Helper()
		if want == nil && got != 0 || want != nil && got != want.Code {
			t.Fatalf("%s: error code %d (%v); want %v", what, got, kerr.ErrorForCode(got), want)
		}
	}
	hb := func(version int16, memberID string, epoch int32, topics []string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = version, "cg-group", memberID, epoch
		req.RebalanceTimeoutMillis = -1
		if epoch == 0 {
			req.RebalanceTimeoutMillis = 30000
			req.SubscribedTopicNames = topics
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		return rt(req).(*kmsg.ConsumerGroupHeartbeatResponse)
	}

	// v0: the broker names the member.
	r0 := hb(0, "", 0, []string{"cg"})
	code("v0 join", r0.ErrorCode, nil)
	if r0.MemberID == nil || *r0.MemberID == "" || r0.Assignment == nil || r0.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("v0 join: %+v", r0)
	}
	a, aEpoch := *r0.MemberID, r0.MemberEpoch
	// v1: the client names it (KIP-1082); an empty id is INVALID_REQUEST.
	code("v1 join with no member id", hb(1, "", 0, []string{"cg"}).ErrorCode, kerr.InvalidRequest)
	r1 := hb(1, "member-b", 0, []string{"cg"})
	code("v1 join", r1.ErrorCode, nil)
	if *r1.MemberID != "member-b" {
		t.Fatalf("v1 member id %q", *r1.MemberID)
	}
	code("fenced epoch", hb(1, a, aEpoch+5, nil).ErrorCode, kerr.FencedMemberEpoch)
	code("unknown member", hb(1, "nobody", 1, nil).ErrorCode, kerr.UnknownMemberID)

	for _, v := range []int16{0, 1} {
		d := kmsg.NewPtrConsumerGroupDescribeRequest()
		d.Version, d.Groups = v, []string{"cg-group", "no-such-group"}
		resp := rt(d).(*kmsg.ConsumerGroupDescribeResponse)
		code("describe", resp.Groups[0].ErrorCode, nil)
		code("describe unknown", resp.Groups[1].ErrorCode, kerr.GroupIDNotFound)
		if g := resp.Groups[0]; len(g.Members) != 2 || g.AssignorName != "uniform" || g.Epoch < 1 {
			t.Fatalf("v%d describe: %+v", v, g)
		}
	}

	// OffsetCommit v9: the generation is the member epoch.
	commit := func(memberID string, epoch int32, partition int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = 9, "cg-group", memberID, epoch
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = "cg"
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = partition, 1
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		return rt(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	desc := kmsg.NewPtrConsumerGroupDescribeRequest()
	desc.Version, desc.Groups = 1, []string{"cg-group"}
	var owned int32 = -1
	var epochNow int32
	for _, m := range rt(desc).(*kmsg.ConsumerGroupDescribeResponse).Groups[0].Members {
		if m.MemberID == a {
			epochNow = m.MemberEpoch
			for _, tp := range m.Assignment.TopicPartitions {
				owned = tp.Partitions[0]
			}
		}
	}
	if owned < 0 {
		t.Fatal("member a holds no partition")
	}
	code("commit at the member's epoch", commit(a, epochNow, owned), nil)
	code("commit at a newer epoch", commit(a, epochNow+1, owned), kerr.FencedMemberEpoch)
	code("commit of an unknown member", commit("nobody", 1, owned), kerr.UnknownMemberID)
	code("simple commit to a group with members", commit("", -1, owned), kerr.UnknownMemberID)

	// OffsetFetch v9 with the member's epoch, and a stale one.
	fetch := func(epoch int32) *kmsg.OffsetFetchResponseGroup {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group, g.MemberID, g.MemberEpoch = "cg-group", kmsg.StringPtr(a), epoch
		req.Groups = append(req.Groups, g)
		return &rt(req).(*kmsg.OffsetFetchResponse).Groups[0]
	}
	if g := fetch(epochNow); g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != 1 {
		t.Fatalf("fetch at the member's epoch: %+v", g)
	}
	code("fetch at a stale epoch", fetch(epochNow-1).ErrorCode, kerr.StaleMemberEpoch)

	// ListGroups v5: types.
	for _, tc := range []struct {
		types []string
		n     int
	}{{nil, 1}, {[]string{"consumer"}, 1}, {[]string{"Classic"}, 0}} {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version, req.TypesFilter = 5, tc.types
		resp := rt(req).(*kmsg.ListGroupsResponse)
		if len(resp.Groups) != tc.n || tc.n == 1 && (resp.Groups[0].GroupType != "consumer" || resp.Groups[0].ProtocolType != "consumer") {
			t.Fatalf("ListGroups types %v: %+v", tc.types, resp.Groups)
		}
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version, dg.Groups = 5, []string{"cg-group"}
	g := rt(dg).(*kmsg.DescribeGroupsResponse).Groups[0]
	if g.ProtocolType != "consumer" || g.Protocol != "uniform" || len(g.Members) != 2 {
		t.Fatalf("DescribeGroups: %+v", g)
	}
	assigned := 0
	for _, m := range g.Members {
		var a kmsg.ConsumerMemberAssignment
		var md kmsg.ConsumerMemberMetadata
		if err := a.ReadFrom(m.MemberAssignment); err != nil {
			t.Fatalf("member assignment: %v", err)
		}
		if err := md.ReadFrom(m.ProtocolMetadata); err != nil || len(md.Topics) != 1 || md.Topics[0] != "cg" {
			t.Fatalf("member metadata: %v %+v", err, md)
		}
		for _, t := range a.Topics {
			assigned += len(t.Partitions)
		}
	}
	if assigned == 0 {
		t.Fatal("DescribeGroups shows no assigned partitions")
	}
	// A classic member of another protocol type cannot join a consumer
	// group; one of the consumer protocol joins it as a classic member
	// (online conversion: v4+ first asks for a member id).
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Version, jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = 5, "cg-group", "connect", 10000, 10000
	jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
	code("classic join", rt(jg).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
	jg.ProtocolType = "consumer"
	code("classic join", rt(jg).(*kmsg.JoinGroupResponse).ErrorCode, kerr.MemberIDRequired)

	// Both leave; the group is Empty.
	for _, id := range []string{a, "member-b"} {
		code("leave", hb(1, id, -1, nil).ErrorCode, nil)
	}
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version = 5
	if g := rt(lg).(*kmsg.ListGroupsResponse).Groups; len(g) != 1 || g[0].GroupState != "Empty" {
		t.Fatalf("after leaving: %+v", g)
	}
}

// TestConsumerGroupAuthz: ConsumerGroupHeartbeat needs READ on the group
// and DESCRIBE on each subscribed topic; ConsumerGroupDescribe DESCRIBE
// on the group (Kafka's KafkaApis).
func TestConsumerGroupAuthz(t *testing.T) {
	gc := group.New(group.Config{NumPartitions: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Topics: func() map[string]group.TopicMeta { return map[string]group.TopicMeta{} }})
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
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.RebalanceTimeoutMillis, req.SubscribedTopicNames = "ag", "m1", 1000, []string{"secret"}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		corr++
		return c.roundTrip(req, corr).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode
	}
	describe := func() int16 {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{"ag"}
		corr++
		return c.roundTrip(req, corr).(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode
	}
	if c := hb(); c != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("heartbeat without READ on the group: %d", c)
	}
	if c := describe(); c != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("describe without DESCRIBE on the group: %d", c)
	}
	grant(t, h, anonAllow(acl.ResourceGroup, "ag", acl.PatternLiteral, acl.OpRead))
	if c := hb(); c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("heartbeat without DESCRIBE on the topic: %d", c)
	}
	grant(t, h, anonAllow(acl.ResourceTopic, "secret", acl.PatternLiteral, acl.OpDescribe))
	if c := hb(); c != 0 {
		t.Fatalf("authorized heartbeat: %d", c)
	}
	// READ implies DESCRIBE on the group.
	if c := describe(); c != 0 {
		t.Fatalf("describe with READ on the group: %d", c)
	}
}
