// A regex subscription resolves only to the topics the member's principal
// may DESCRIBE (TopicAllowed), re-checked on each heartbeat.
package group

import "testing"

func TestRegexFilteredByTopicAllowed(t *testing.T) {
	cf := newCGFixture(t)
	cf.topic("orders-eu", 2)
	cf.topic("orders-us", 2)
	cf.topic("payments", 2)
	allowed := map[string]bool{"orders-eu": true, "payments": true}
	re := "orders-.*"
	hb := func(epoch int32, owned []ConsumerTopic) ConsumerHeartbeatResult {
		t.Helper()
		req := ConsumerHeartbeat{Version: 1, Group: "g", MemberID: "m", MemberEpoch: epoch, RebalanceTimeoutMs: 1000,
			Owned: owned, TopicAllowed: func(topic string) bool { return allowed[topic] }}
		if epoch == 0 {
			req.SubscribedTopicRegex = &re
		}
		r := syncHB(cf.c, cf.now, req)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return r
	}
	r := hb(0, []ConsumerTopic{})
	if len(r.Assignment) != 1 || r.Assignment[0].ID != cf.topics["orders-eu"].ID || count(r.Assignment) != 2 {
		t.Fatalf("assignment %+v; want orders-eu only", r.Assignment)
	}
	// DESCRIBE on orders-us granted: the next heartbeat resolves to it.
	allowed["orders-us"] = true
	r2 := hb(r.MemberEpoch, r.Assignment)
	if r2.MemberEpoch <= r.MemberEpoch || count(r2.Assignment) != 4 {
		t.Fatalf("after the grant: epoch %d, assignment %+v", r2.MemberEpoch, r2.Assignment)
	}
	// And revoked again: the member must give orders-us back.
	delete(allowed, "orders-us")
	r3 := hb(r2.MemberEpoch, r2.Assignment)
	if count(r3.Assignment) != 2 {
		t.Fatalf("after the revoke: %+v", r3.Assignment)
	}
}
