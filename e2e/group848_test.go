// This file proves KIP-848 consumer groups against Ringtail with franz-go's
// server-side balancer (ConsumerGroupHeartbeat, the broker assigns): three
// members (one in a child process) split a 12-partition topic and process
// every record exactly once, committing after processing; then the child
// is SIGKILLed and a fourth member joins while records keep arriving: the
// two surviving members keep consuming while the dead member's session
// runs out (no stop-the-world rebalance), its partitions move, and nothing
// committed is processed twice. A regex subscription picks up a topic
// created after the group started.
package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// kip848Prefix marks a balancer name (of memberOpts) as franz-go's
// server-side (KIP-848) variant: "848-sticky" asks the broker's uniform
// assignor, "848-range" its range assignor.
const kip848Prefix = "848-"

func kip848Opts(balancer string) []kgo.Opt {
	if len(balancer) > len(kip848Prefix) && balancer[:len(kip848Prefix)] == kip848Prefix {
		return []kgo.Opt{kgo.ServerSideBalancer()}
	}
	return nil
}

// start848Node starts a node whose consumer groups fence a silent member
// after groupSessionTimeout (Kafka's default is 45 s).
func start848Node(t *testing.T) *testkit.Node {
	t.Helper()
	return startNode(t, testkit.Options{Settings: map[string]string{
		"group.consumer.session.timeout.ms":    strconv.Itoa(int(groupSessionTimeout.Milliseconds())),
		"group.consumer.heartbeat.interval.ms": strconv.Itoa(int(groupHeartbeat.Milliseconds())),
	}})
}

// describe848 is ConsumerGroupDescribe of one group.
func describe848(t *testing.T, n *testkit.Node, group string) (kmsg.ConsumerGroupDescribeResponseGroup, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, n.Client())
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		return kmsg.ConsumerGroupDescribeResponseGroup{}, false
	}
	return resp.Groups[0], true
}

// wait848Stable waits until the group is Stable with members members that
// hold partitions partitions in all.
func wait848Stable(t *testing.T, n *testkit.Node, group string, members, partitions int) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	var last kmsg.ConsumerGroupDescribeResponseGroup
	testkit.WaitFor(t, groupWait, "consumer group "+group+" to be Stable", func() bool {
		g, ok := describe848(t, n, group)
		if !ok {
			return false
		}
		last = g
		if g.State != "Stable" || len(g.Members) != members {
			return false
		}
		total := 0
		for _, m := range g.Members {
			for _, tp := range m.Assignment.TopicPartitions {
				total += len(tp.Partitions)
			}
		}
		return total == partitions
	})
	return last
}

func TestGroup848FranzMembers(t *testing.T) {
	t.Parallel()
	n := start848Node(t)
	const (
		topic      = "work848"
		group      = "workers848"
		partitions = 12
		batch1     = 12 * 1000
		balancer   = kip848Prefix + "sticky"
	)
	n.CreateTopic(topic, partitions, nil)
	a := startMember(t, n, group, topic, balancer, "member-a")
	b := startMember(t, n, group, topic, balancer, "member-b")
	c := startChildMember(t, childMemberConfig{Addr: n.Addr(), Group: group, Topic: topic, Balancer: balancer, Name: "member-c"})
	d := wait848Stable(t, n, group, 3, partitions)
	t.Logf("consumer group stable at epoch %d, assignor %s", d.Epoch, d.AssignorName)
	if d.AssignorName != "uniform" {
		t.Fatalf("assignor %q; franz-go's sticky balancer asks for uniform", d.AssignorName)
	}

	prod := spreadProducer(n)
	ack := produceN(t, prod, topic, "b1", batch1)
	total := func() int { return a.count() + b.count() + c.count() }
	testkit.WaitFor(t, 2*time.Minute, "the group to process the first batch", func() bool { return total() >= batch1 })
	all := append(append(a.records(), b.records()...), c.records()...)
	if dups := checkGroupConsumption(t, ack, all, "", nil); dups != 0 {
		t.Fatalf("%d records processed twice with no member failing", dups)
	}
	for _, m := range []*groupMember{a, b} {
		if errs := m.errors(); len(errs) > 0 {
			t.Fatalf("%s: %d errors, first: %v", m.name, len(errs), errs[0])
		}
	}
	waitCommitted(t, n, group, topic, partitions)
	t.Logf("first batch: %d records processed exactly once (%s)", batch1, byMember(all))

	// Second phase: records keep coming; once the child processes some,
	// it is SIGKILLed and member-d joins.
	var (
		mu      sync.Mutex
		ack2    []acked
		stopped = make(chan struct{})
		prodEnd = make(chan struct{})
	)
	go func() {
		defer close(prodEnd)
		for i := 0; ; i++ {
			select {
			case <-stopped:
				return
			case <-time.After(20 * time.Millisecond):
			}
			got := produceBatch(prod, topic, "b2-"+strconv.Itoa(i), 24)
			mu.Lock()
			ack2 = append(ack2, got...)
			mu.Unlock()
		}
	}()
	testkit.WaitFor(t, time.Minute, "the child to process part of the second phase", func() bool { return c.countPrefix("b2-") > 0 })
	c.kill(t)
	killedCommits := c.commits()
	ca, cb := a.count(), b.count()
	e := startMember(t, n, group, topic, balancer, "member-d")
	// While the dead member's session runs out, the survivors keep
	// consuming: each processes records before its partitions move.
	testkit.WaitFor(t, groupSessionTimeout, "the surviving members to keep consuming after the kill", func() bool {
		return a.count() > ca && b.count() > cb
	})
	if a.assignedCount() == 0 || b.assignedCount() == 0 {
		t.Fatalf("a survivor lost all its partitions during the reassignment (a %d, b %d)", a.assignedCount(), b.assignedCount())
	}
	testkit.WaitFor(t, groupSessionTimeout+30*time.Second, "the dead member's partitions to be reassigned", func() bool {
		return a.assignedCount()+b.assignedCount()+e.assignedCount() == partitions && e.assignedCount() > 0
	})
	close(stopped)
	<-prodEnd
	mu.Lock()
	ack = append(ack, ack2...)
	mu.Unlock()
	testkit.WaitFor(t, 2*time.Minute, "the members to process the rest", func() bool {
		return distinct(a.records(), b.records(), c.records(), e.records()) >= len(ack)
	})
	all = append(append(append(a.records(), b.records()...), c.records()...), e.records()...)
	dups := checkGroupConsumption(t, ack, all, "member-c", killedCommits)
	for _, m := range []*groupMember{a, b, e} {
		if errs := m.errors(); len(errs) > 0 {
			t.Fatalf("%s: %d errors, first: %v", m.name, len(errs), errs[0])
		}
	}
	wait848Stable(t, n, group, 3, partitions)
	waitCommitted(t, n, group, topic, partitions)
	t.Logf("%d records processed (%s); %d processed again after the kill, all past the killed member's last commit", len(all), byMember(all), dups)
}

func waitCommitted(t *testing.T, n *testkit.Node, group, topic string, partitions int) {
	t.Helper()
	testkit.WaitFor(t, groupWait, "commits to reach the log ends", func() bool {
		end := endOffsets(t, n, topic, int32(partitions))
		got := committedOffsets(t, n.Admin(), group, topic)
		for p := range end {
			if got[int32(p)] != end[p] {
				return false
			}
		}
		return true
	})
}

func TestGroup848Regex(t *testing.T) {
	t.Parallel()
	n := start848Node(t)
	n.CreateTopic("orders-eu", 2, nil)
	n.CreateTopic("payments", 2, nil)
	cl := n.Client(
		kgo.ConsumerGroup("orders848"), kgo.ConsumeRegex(), kgo.ConsumeTopics("orders-.*"),
		kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.MetadataMaxAge(time.Second),
	)
	prod := n.Client()
	produceN(t, prod, "orders-eu", "eu", 10)
	produceN(t, prod, "payments", "pay", 10)
	got := map[string]int{}
	poll := func(want string, k int) {
		t.Helper()
		testkit.WaitFor(t, time.Minute, "records of "+want, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[r.Topic]++ })
			return got[want] >= k
		})
	}
	poll("orders-eu", 10)
	n.CreateTopic("orders-us", 3, nil)
	produceN(t, prod, "orders-us", "us", 30)
	poll("orders-us", 30)
	if got["payments"] != 0 {
		t.Fatalf("the group consumed %d records of payments, which orders-.* does not match", got["payments"])
	}
	g, ok := describe848(t, n, "orders848")
	if !ok || len(g.Members) != 1 || g.Members[0].SubscribedTopicRegex == nil || g.AssignorName != "range" {
		t.Fatalf("described %+v", g)
	}
	// A bad regex is refused with INVALID_REGULAR_EXPRESSION.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.RebalanceTimeoutMillis = "bad-regex", "m1", 1000
	re := "orders-("
	req.SubscribedTopicRegex = &re
	resp, err := req.RequestWith(context.Background(), n.Client())
	if err != nil || resp.ErrorCode != 128 {
		t.Fatalf("bad regex: %v, code %d", err, resp.ErrorCode)
	}
}

// TestGroup848Restart: a consumer group's epochs, members and assignments
// are in __consumer_offsets, so a restarted node describes the same group
// and its members carry on without rejoining.
func TestGroup848Restart(t *testing.T) {
	t.Parallel()
	n := start848Node(t)
	const topic, group, partitions = "restart848", "restart848", 4
	n.CreateTopic(topic, partitions, nil)
	a := startMember(t, n, group, topic, kip848Prefix+"range", "member-a")
	b := startMember(t, n, group, topic, kip848Prefix+"range", "member-b")
	before := wait848Stable(t, n, group, 2, partitions)
	if before.AssignorName != "range" {
		t.Fatalf("assignor %q; want range", before.AssignorName)
	}
	epochs := func(g kmsg.ConsumerGroupDescribeResponseGroup) map[string]int32 {
		out := map[string]int32{}
		for _, m := range g.Members {
			out[m.MemberID] = m.MemberEpoch
		}
		return out
	}
	n.Restart()
	after := wait848Stable(t, n, group, 2, partitions)
	if after.Epoch != before.Epoch || fmt.Sprint(epochs(after)) != fmt.Sprint(epochs(before)) {
		t.Fatalf("after the restart: epoch %d, members %v; before: epoch %d, members %v", after.Epoch, epochs(after), before.Epoch, epochs(before))
	}
	ack := produceN(t, spreadProducer(n), topic, "r", 400)
	testkit.WaitFor(t, time.Minute, "the members to consume after the restart", func() bool {
		return distinct(a.records(), b.records()) >= len(ack)
	})
	if dups := checkGroupConsumption(t, ack, append(a.records(), b.records()...), "", nil); dups != 0 {
		t.Fatalf("%d records processed twice", dups)
	}
	// ringtail group describe shows the epochs and assignments.
	out := runCLI(t, n, "", "group", "describe", group)
	for _, want := range []string{"Type: consumer", "State: Stable", fmt.Sprintf("Epoch: %d", after.Epoch), "Assignor: range", "Target: " + topic + "[", "Assigned: " + topic + "["} {
		if !strings.Contains(out, want) {
			t.Fatalf("group describe lacks %q:\n%s", want, out)
		}
	}
	if out := runCLI(t, n, "", "group", "list", "--type", "consumer"); !strings.Contains(out, group) {
		t.Fatalf("group list --type consumer lacks %s:\n%s", group, out)
	}
	if out := runCLI(t, n, "", "group", "list", "--type", "classic"); strings.Contains(out, group) {
		t.Fatalf("group list --type classic lists %s:\n%s", group, out)
	}
	for id, e := range epochs(after) {
		if !strings.Contains(out, fmt.Sprintf("Member: %s\tEpoch: %d", id, e)) {
			t.Fatalf("group describe lacks member %s at epoch %d:\n%s", id, e, out)
		}
	}
}

// TestGroup848Static: a static member (group.instance.id) that leaves
// with epoch -2 keeps its partitions; the instance's next client takes
// them over at the same epoch, and the group epoch does not move (no
// reassignment for the other member). franz-go's static leave omits the
// instance id, which Kafka (and Ringtail) refuse as INVALID_REQUEST, so
// the test sends the -2 heartbeat itself after closing the client.
func TestGroup848Static(t *testing.T) {
	t.Parallel()
	n := start848Node(t)
	const topic, group, partitions = "static848", "static848", 4
	n.CreateTopic(topic, partitions, nil)
	other := startMember(t, n, group, topic, kip848Prefix+"sticky", "member-a")
	_ = other
	static := func() *kgo.Client {
		return n.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.InstanceID("static-1"),
			kgo.Balancers(kgo.StickyBalancer()), kgo.ServerSideBalancer(), kgo.FetchMaxWait(500*time.Millisecond))
	}
	cl := static()
	go func() {
		for cl.PollFetches(context.Background()).Err() != kgo.ErrClientClosed {
		}
	}()
	before := wait848Stable(t, n, group, 2, partitions)
	memberOf := func(g kmsg.ConsumerGroupDescribeResponseGroup) (kmsg.ConsumerGroupDescribeResponseGroupMember, bool) {
		for _, m := range g.Members {
			if m.InstanceID != nil && *m.InstanceID == "static-1" {
				return m, true
			}
		}
		return kmsg.ConsumerGroupDescribeResponseGroupMember{}, false
	}
	old, _ := memberOf(before)
	cl.Close()
	leave := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	leave.Group, leave.MemberID, leave.MemberEpoch = group, old.MemberID, -2
	if resp, err := leave.RequestWith(context.Background(), n.Client()); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("static leave without an instance id: %v %+v", err, resp)
	}
	leave.InstanceID = kmsg.StringPtr("static-1")
	if resp, err := leave.RequestWith(context.Background(), n.Client()); err != nil || resp.ErrorCode != 0 || resp.MemberEpoch != -2 {
		t.Fatalf("static leave: %v %+v", err, resp)
	}
	if g, _ := describe848(t, n, group); g.Epoch != before.Epoch {
		t.Fatalf("a static leave moved the group epoch %d -> %d", before.Epoch, g.Epoch)
	}
	cl2 := static()
	defer cl2.Close()
	go func() {
		for cl2.PollFetches(context.Background()).Err() != kgo.ErrClientClosed {
		}
	}()
	testkit.WaitFor(t, groupWait, "the instance's new member to take over", func() bool {
		g, ok := describe848(t, n, group)
		m, found := memberOf(g)
		return ok && found && m.MemberID != old.MemberID && m.MemberEpoch > 0
	})
	after, _ := describe848(t, n, group)
	m, _ := memberOf(after)
	if after.Epoch != before.Epoch || m.MemberEpoch != old.MemberEpoch || fmt.Sprint(m.Assignment.TopicPartitions) != fmt.Sprint(old.Assignment.TopicPartitions) {
		t.Fatalf("static rejoin moved things: group epoch %d -> %d, member epoch %d -> %d, assignment %v -> %v",
			before.Epoch, after.Epoch, old.MemberEpoch, m.MemberEpoch, old.Assignment.TopicPartitions, m.Assignment.TopicPartitions)
	}
}
