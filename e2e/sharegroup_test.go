// This file proves the group side of share groups (KIP-932) against the
// real binary with raw ShareGroupHeartbeat and ShareGroupDescribe
// requests (and franz-go's share consumer, which joins and leaves a group
// of its own): three members join a two-partition topic and get assignments
// that cover both partitions (members outnumber partitions, so one is
// shared); a member that stops heartbeating is removed after the session
// timeout; ListGroups, DescribeGroups and `ringtail group` show the group;
// its GROUP configs are validated and stored; the other protocols cannot
// use its id; it survives a restart with its members and epochs; and once
// empty it is deleted.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// shareMember heartbeats a share group from a goroutine, as a share
// consumer does, until stopped.
type shareMember struct {
	id   string
	stop chan struct{}
	done chan struct{}
	mu   struct {
		sync.Mutex
		epoch int32
		err   error
	}
}

func newShareID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "m-" + hex.EncodeToString(b[:])
}

func shareHB(cl *kgo.Client, group, id string, epoch int32, topics []string) (*kmsg.ShareGroupHeartbeatResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = group, id, epoch, topics
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	return resp, kerr.ErrorForCode(resp.ErrorCode)
}

// startShareMember joins id (or a new id) to group and keeps it alive.
func startShareMember(t *testing.T, cl *kgo.Client, group, id string, epoch int32, topics ...string) *shareMember {
	t.Helper()
	if id == "" {
		id = newShareID()
	}
	m := &shareMember{id: id, stop: make(chan struct{}), done: make(chan struct{})}
	m.mu.epoch = epoch
	go func() {
		defer close(m.done)
		tick := time.NewTicker(300 * time.Millisecond) // the heartbeat cadence
		defer tick.Stop()
		for {
			m.mu.Lock()
			epoch := m.mu.epoch
			m.mu.Unlock()
			var subs []string
			if epoch == 0 {
				subs = topics
			}
			resp, err := shareHB(cl, group, m.id, epoch, subs)
			m.mu.Lock()
			m.mu.err = err
			if err == nil {
				m.mu.epoch = resp.MemberEpoch
			}
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(m.halt)
	return m
}

// halt stops heartbeating (without leaving the group).
func (m *shareMember) halt() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

func describeShare(cl *kgo.Client, group string) (kmsg.ShareGroupDescribeResponseGroup, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return kmsg.ShareGroupDescribeResponseGroup{}, err
	}
	if len(resp.Groups) != 1 {
		return kmsg.ShareGroupDescribeResponseGroup{}, kerr.UnknownServerError
	}
	return resp.Groups[0], kerr.ErrorForCode(resp.Groups[0].ErrorCode)
}

// waitShareSettled waits until the group has exactly members (by id), all
// at the assignment epoch, with assignments that hold every one of parts
// partitions of topic.
func waitShareSettled(t *testing.T, cl *kgo.Client, group, topic string, parts int, members ...string) kmsg.ShareGroupDescribeResponseGroup {
	t.Helper()
	var last kmsg.ShareGroupDescribeResponseGroup
	testkit.WaitFor(t, 30*time.Second, "share group "+group+" to settle on "+strings.Join(members, ","), func() bool {
		g, err := describeShare(cl, group)
		if err != nil || g.GroupState != "Stable" || len(g.Members) != len(members) {
			return false
		}
		last = g
		held := map[int32]bool{}
		for _, m := range g.Members {
			if m.MemberEpoch != g.AssignmentEpoch || !contains(strings.Join(members, ","), m.MemberID) {
				return false
			}
			for _, tp := range m.Assignment.TopicPartitions {
				if tp.Topic != topic {
					return false
				}
				for _, p := range tp.Partitions {
					held[p] = true
				}
			}
		}
		return len(held) == parts
	})
	return last
}

func TestShareGroupMembership(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{Settings: map[string]string{
		"group.share.session.timeout.ms":        "3000",
		"group.share.min.session.timeout.ms":    "1000",
		"group.share.heartbeat.interval.ms":     "1000",
		"group.share.min.heartbeat.interval.ms": "500",
	}})
	const (
		topic = "share-q"
		group = "share-g"
	)
	n.CreateTopic(topic, 2, nil)
	cl := n.Client()

	// Three members over two partitions: every partition held, each
	// member one partition, one partition shared.
	a := startShareMember(t, cl, group, "", 0, topic)
	b := startShareMember(t, cl, group, "", 0, topic)
	c := startShareMember(t, cl, group, "", 0, topic)
	g := waitShareSettled(t, cl, group, topic, 2, a.id, b.id, c.id)
	for _, m := range g.Members {
		if len(m.Assignment.TopicPartitions) != 1 || len(m.Assignment.TopicPartitions[0].Partitions) != 1 {
			t.Fatalf("member %s holds %+v; want one partition", m.MemberID, m.Assignment.TopicPartitions)
		}
	}
	if g.Assignor != "simple" || g.GroupEpoch != g.AssignmentEpoch {
		t.Fatalf("group: %+v", g)
	}

	// franz-go's share consumer joins a group of its own through the same
	// heartbeats, and leaves it when closed. (It cannot fetch here: the
	// share-partition side serves ShareFetch.)
	kc := n.Client(kgo.ShareGroup("share-kgo"), kgo.ConsumeTopics(topic))
	pollCtx, stopPoll := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for pollCtx.Err() == nil {
			kc.PollFetches(pollCtx)
		}
	}()
	waitShareSettled(t, cl, "share-kgo", topic, 2, kgoMemberID(t, cl, "share-kgo"))
	stopPoll()
	<-polled
	kc.Close()
	testkit.WaitFor(t, 30*time.Second, "franz-go's member to leave", func() bool {
		g, err := describeShare(cl, "share-kgo")
		return err == nil && g.GroupState == "Empty"
	})

	// ListGroups (type filter), DescribeGroups (Kafka answers Dead for
	// a group of another type) and the CLI.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.TypesFilter, lreq.StatesFilter = []string{"share"}, []string{"Stable"}
	lresp, err := lreq.RequestWith(ctx, cl)
	if err != nil || len(lresp.Groups) != 1 || lresp.Groups[0].Group != group || lresp.Groups[0].GroupType != "share" || lresp.Groups[0].GroupState != "Stable" {
		t.Fatalf("ListGroups share: %+v %v", lresp, err)
	}
	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Groups = []string{group}
	if dresp, err := dreq.RequestWith(ctx, cl); err != nil || dresp.Groups[0].State != "Dead" || dresp.Groups[0].ErrorCode != 0 {
		t.Fatalf("DescribeGroups of a share group: %+v %v", dresp, err)
	}
	if out := runCLI(t, n, "", "group", "list", "--type", "share"); !containsLine(out, group) {
		t.Fatalf("group list --type share:\n%s", out)
	}
	out := runCLI(t, n, "", "group", "describe", group)
	for _, want := range []string{"Type: share", "State: Stable", a.id, b.id, c.id, "START-OFFSET"} {
		if !strings.Contains(out, want) {
			t.Fatalf("group describe lacks %q:\n%s", want, out)
		}
	}

	// The other protocols cannot use the id.
	jreq := kmsg.NewPtrJoinGroupRequest()
	jreq.Group, jreq.SessionTimeoutMillis, jreq.RebalanceTimeoutMillis, jreq.ProtocolType = group, 10000, 10000, "consumer"
	jreq.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
	if jresp, err := jreq.RequestWith(ctx, cl); err != nil || jresp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("JoinGroup on a share group: %+v %v", jresp, err)
	}
	creq := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	creq.Group, creq.MemberID, creq.RebalanceTimeoutMillis, creq.SubscribedTopicNames = group, newShareID(), 10000, []string{topic}
	creq.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if cresp, err := creq.RequestWith(ctx, cl); err != nil || cresp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupHeartbeat on a share group: %+v %v", cresp, err)
	}

	// c stops heartbeating: after the 3 s session it is gone and a and b
	// hold both partitions.
	c.halt()
	waitShareSettled(t, cl, group, topic, 2, a.id, b.id)
	c.mu.Lock()
	cEpoch := c.mu.epoch
	c.mu.Unlock()
	if _, err := shareHB(cl, group, c.id, cEpoch, nil); err != kerr.UnknownMemberID {
		t.Fatalf("heartbeat of the fenced member: %v", err)
	}

	// GROUP configs: a bad value names the key and the valid values; a
	// good one is stored and described.
	iac := func(k, v string) (int16, string) {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = k, &v
		r.Configs = append(r.Configs, cfg)
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		msg := ""
		if m := resp.Resources[0].ErrorMessage; m != nil {
			msg = *m
		}
		return resp.Resources[0].ErrorCode, msg
	}
	if code, msg := iac("share.auto.offset.reset", "sometimes"); code != kerr.InvalidConfig.Code || !strings.Contains(msg, "share.auto.offset.reset") || !strings.Contains(msg, "earliest") {
		t.Fatalf("bad share.auto.offset.reset: %d %q", code, msg)
	}
	if code, msg := iac("share.session.timeout.ms", "500"); code != kerr.InvalidConfig.Code || !strings.Contains(msg, "group.share.min.session.timeout.ms") {
		t.Fatalf("share.session.timeout.ms under the minimum: %d %q", code, msg)
	}
	if code, msg := iac("share.session.timeout.ms", "8000"); code != 0 {
		t.Fatalf("share.session.timeout.ms=8000: %d %q", code, msg)
	}
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	dc.Resources = append(dc.Resources, dr)
	dcr, err := dc.RequestWith(ctx, cl)
	if err != nil || dcr.Resources[0].ErrorCode != 0 {
		t.Fatalf("DescribeConfigs GROUP: %+v %v", dcr, err)
	}
	found := false
	for _, e := range dcr.Resources[0].Configs {
		if e.Name == "share.session.timeout.ms" {
			found = e.Value != nil && *e.Value == "8000" && e.Source == kmsg.ConfigSourceGroupConfig
		}
	}
	if !found {
		t.Fatalf("share.session.timeout.ms not described as set: %+v", dcr.Resources[0].Configs)
	}

	// A restart: the group comes back with its members and epochs.
	before := waitShareSettled(t, cl, group, topic, 2, a.id, b.id)
	a.halt()
	b.halt()
	n.Restart()
	cl = n.Client()
	var after kmsg.ShareGroupDescribeResponseGroup
	testkit.WaitFor(t, 30*time.Second, "the share group after the restart", func() bool {
		after, err = describeShare(cl, group)
		return err == nil
	})
	if after.GroupEpoch != before.GroupEpoch || len(after.Members) != 2 {
		t.Fatalf("after the restart: %+v\nbefore: %+v", after, before)
	}
	for i := range after.Members {
		if after.Members[i].MemberID != before.Members[i].MemberID || after.Members[i].MemberEpoch != before.Members[i].MemberEpoch {
			t.Fatalf("member %d after the restart: %+v; before %+v", i, after.Members[i], before.Members[i])
		}
	}
	// The members carry on with their epochs, then leave; the empty
	// group is deleted.
	for _, m := range []*shareMember{a, b} {
		m.mu.Lock()
		epoch := m.mu.epoch
		m.mu.Unlock()
		if _, err := shareHB(cl, group, m.id, epoch, nil); err != nil {
			t.Fatalf("heartbeat after the restart: %v", err)
		}
		if _, err := shareHB(cl, group, m.id, -1, nil); err != nil {
			t.Fatalf("leave: %v", err)
		}
	}
	runCLI(t, n, "", "group", "delete", group)
	if _, err := describeShare(cl, group); err != kerr.GroupIDNotFound {
		t.Fatalf("deleted share group: %v", err)
	}
}

// kgoMemberID waits for a share group's only member (franz-go makes its
// own id) and returns its id.
func kgoMemberID(t *testing.T, cl *kgo.Client, group string) string {
	t.Helper()
	var id string
	testkit.WaitFor(t, 30*time.Second, "franz-go's share consumer to join "+group, func() bool {
		g, err := describeShare(cl, group)
		if err != nil || len(g.Members) != 1 {
			return false
		}
		id = g.Members[0].MemberID
		return true
	})
	return id
}
