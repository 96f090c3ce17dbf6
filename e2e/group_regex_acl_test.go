// This file proves that a KIP-848 regex subscription resolves only to the
// topics the member's principal may DESCRIBE, as Kafka 4 does: on a node
// with the StandardAuthorizer, principal CN=consumer (READ and DESCRIBE on
// topics and groups prefixed logs-) subscribes to "log.*", which also
// matches logz-hidden; it is assigned logs-app only, until DESCRIBE on
// logz-hidden is granted, after which its next heartbeat brings it.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func TestGroupRegexFilteredByACLs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a node")
	}
	n, certs := aclNode(t)
	n.CreateTopic("logz-hidden", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	details, err := n.Admin().ListTopics(ctx, "logs-app", "logz-hidden")
	if err != nil {
		t.Fatal(err)
	}
	idApp, idHidden := details["logs-app"].ID, details["logz-hidden"].ID

	c := dialTLS(t, n.sslAddr(), certs["consumer"])
	epoch := int32(0)
	var owned []kmsg.ConsumerGroupHeartbeatRequestTopic
	heartbeat := func() (*kmsg.ConsumerGroupHeartbeatResponse, int16) {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "logs-regex", "member-regex", epoch
		req.RebalanceTimeoutMillis = 10000
		req.Topics = owned
		if req.Topics == nil {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		if epoch == 0 {
			re := "log.*"
			req.SubscribedTopicRegex = &re
		}
		resp := c.do(req).(*kmsg.ConsumerGroupHeartbeatResponse)
		if resp.ErrorCode == 0 {
			epoch = resp.MemberEpoch
			if resp.Assignment != nil {
				owned = nil
				for _, at := range resp.Assignment.Topics {
					owned = append(owned, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: at.TopicID, Partitions: at.Partitions})
				}
			}
		}
		return resp, resp.ErrorCode
	}
	has := func(id [16]byte) bool {
		for _, o := range owned {
			if o.TopicID == id && len(o.Partitions) > 0 {
				return true
			}
		}
		return false
	}
	if code := untilSettled(t, func() int16 { _, code := heartbeat(); return code }); code != 0 {
		t.Fatalf("join: error %d", code)
	}
	testkit.WaitFor(t, 30*time.Second, "logs-app to be assigned", func() bool {
		if _, code := heartbeat(); code != 0 {
			t.Fatalf("heartbeat: error %d", code)
		}
		return has(idApp)
	})
	if has(idHidden) {
		t.Fatal("logz-hidden assigned to a principal that may not describe it")
	}
	runCLI(t, n.Node, "", "acl", "add", "--allow-principal", "User:CN=consumer", "--operation", "Describe", "--topic", "logz-hidden")
	testkit.WaitFor(t, 30*time.Second, "logz-hidden to be assigned once described", func() bool {
		if _, code := heartbeat(); code != 0 {
			t.Fatalf("heartbeat: error %d", code)
		}
		return has(idHidden) && has(idApp)
	})
}
