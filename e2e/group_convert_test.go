// This file proves the online upgrade of a classic group to a KIP-848
// consumer group (group.consumer.migration.policy=bidirectional, the
// default): three franz-go members with the classic protocol
// (cooperative-sticky balancer, committing after processing) are
// restarted one at a time with the consumer protocol
// (kgo.ServerSideBalancer) while records keep arriving. The first
// consumer-protocol member converts the group; the classic members left
// keep working in it through JoinGroup/SyncGroup/Heartbeat. Every record
// produced is processed, and none is processed twice. The way back (the
// online downgrade when the last consumer-protocol member leaves) too.
package e2e

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// steadyProducer produces batches of 20 records every 50 ms until stop.
type steadyProducer struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	ack  []acked
	errs []error
}

func startSteadyProducer(cl *kgo.Client, topic string) *steadyProducer {
	p := &steadyProducer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			recs := make([]*kgo.Record, 20)
			for j := range recs {
				recs[j] = &kgo.Record{Topic: topic, Value: []byte("s-" + itoa(i) + "-" + itoa(j))}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			res := cl.ProduceSync(ctx, recs...)
			cancel()
			p.mu.Lock()
			for _, r := range res {
				if r.Err != nil {
					p.errs = append(p.errs, r.Err)
					continue
				}
				p.ack = append(p.ack, acked{r.Record.Partition, r.Record.Offset, string(r.Record.Value)})
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *steadyProducer) finish(t *testing.T) []acked {
	t.Helper()
	close(p.stop)
	<-p.done
	if len(p.errs) > 0 {
		t.Fatalf("%d produce errors, first: %v", len(p.errs), p.errs[0])
	}
	return p.ack
}

func TestGroupConvertClassicToConsumerOnline(t *testing.T) {
	t.Parallel()
	n := start848Node(t)
	const (
		topic      = "convert"
		group      = "converting"
		partitions = 6
	)
	n.CreateTopic(topic, partitions, nil)
	adm := n.Admin()
	var members []*groupMember
	for _, name := range []string{"classic-a", "classic-b", "classic-c"} {
		members = append(members, startMember(t, n, group, topic, "cooperative-sticky", name))
	}
	waitGroupStable(t, adm, group, 3, partitions)
	prod := startSteadyProducer(spreadProducer(n), topic)
	all := func() []consumedRec {
		var out []consumedRec
		for _, m := range members {
			out = append(out, m.records()...)
		}
		return out
	}
	testkit.WaitFor(t, groupWait, "the classic group to process records", func() bool { return len(all()) >= 100 })

	// One member at a time: the classic one leaves (committing what it
	// processed), a consumer-protocol one takes its place.
	for i, name := range []string{"consumer-a", "consumer-b", "consumer-c"} {
		members[i].leave()
		before := len(all())
		members = append(members, startMember(t, n, group, topic, kip848Prefix+"sticky", name))
		d := wait848Stable(t, n, group, 3, partitions)
		t.Logf("%s joined: consumer group stable at epoch %d with %d members", name, d.Epoch, len(d.Members))
		testkit.WaitFor(t, groupWait, "records to keep being processed", func() bool { return len(all()) > before+50 })
	}
	if l := listGroupType(t, n, group); l != "consumer" {
		t.Fatalf("group type %q after the upgrade", l)
	}
	ack := prod.finish(t)
	testkit.WaitFor(t, groupWait, "every record to be processed", func() bool { return distinct(all()) >= len(ack) })
	if dups := checkGroupConsumption(t, ack, all(), "", nil); dups != 0 {
		t.Fatalf("%d records processed twice", dups)
	}
	for _, m := range members {
		if errs := conversionErrors(m.errors()); len(errs) > 0 {
			t.Fatalf("%s: %d errors, first: %v", m.name, len(errs), errs[0])
		}
	}
	waitCommitted(t, n, group, topic, partitions)
}

// listGroupType is the group's type as ListGroups v5 reports it.
func listGroupType(t *testing.T, n *testkit.Node, group string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrListGroupsRequest()
	resp, err := req.RequestWith(ctx, n.Client())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range resp.Groups {
		if g.Group == group {
			return g.GroupType
		}
	}
	return ""
}

// TestGroupConvertConsumerToClassicOnline is the way back: consumer-protocol
// members are replaced by classic ones one at a time; a classic member
// joins the consumer group, and when the last consumer-protocol member
// leaves the group becomes a classic group again (an online downgrade),
// without losing or repeating a record.
func TestGroupConvertConsumerToClassicOnline(t *testing.T) {
	t.Parallel()
	n := start848Node(t)
	const (
		topic      = "unconvert"
		group      = "unconverting"
		partitions = 4
	)
	n.CreateTopic(topic, partitions, nil)
	var members []*groupMember
	for _, name := range []string{"consumer-a", "consumer-b"} {
		members = append(members, startMember(t, n, group, topic, kip848Prefix+"sticky", name))
	}
	wait848Stable(t, n, group, 2, partitions)
	prod := startSteadyProducer(spreadProducer(n), topic)
	all := func() []consumedRec {
		var out []consumedRec
		for _, m := range members {
			out = append(out, m.records()...)
		}
		return out
	}
	testkit.WaitFor(t, groupWait, "the consumer group to process records", func() bool { return len(all()) >= 100 })

	members[0].leave()
	members = append(members, startMember(t, n, group, topic, "cooperative-sticky", "classic-a"))
	wait848Stable(t, n, group, 2, partitions)
	if typ := listGroupType(t, n, group); typ != "consumer" {
		t.Fatalf("a mixed group is %q", typ)
	}
	before := len(all())
	testkit.WaitFor(t, groupWait, "the mixed group to process records", func() bool { return len(all()) > before+50 })

	members[1].leave() // the last consumer-protocol member
	members = append(members, startMember(t, n, group, topic, "cooperative-sticky", "classic-b"))
	waitGroupStable(t, n.Admin(), group, 2, partitions)
	if typ := listGroupType(t, n, group); typ != "classic" {
		t.Fatalf("group type %q after the last consumer-protocol member left", typ)
	}
	before = len(all())
	testkit.WaitFor(t, groupWait, "the classic group to process records", func() bool { return len(all()) > before+50 })
	ack := prod.finish(t)
	testkit.WaitFor(t, groupWait, "every record to be processed", func() bool { return distinct(all()) >= len(ack) })
	if dups := checkGroupConsumption(t, ack, all(), "", nil); dups != 0 {
		t.Fatalf("%d records processed twice", dups)
	}
	for _, m := range members {
		if errs := conversionErrors(m.errors()); len(errs) > 0 {
			t.Fatalf("%s: %d errors, first: %v", m.name, len(errs), errs[0])
		}
	}
	waitCommitted(t, n, group, topic, partitions)
}

// conversionErrors drops the one error a classic member may see when the
// group converts under it: a JoinGroup pending at that moment is answered
// REBALANCE_IN_PROGRESS (Kafka's convertToConsumerGroup completes every
// join and sync future with it) and the client rejoins. Every other error
// stays.
func conversionErrors(errs []error) []error {
	var out []error
	for _, err := range errs {
		if !errors.Is(err, kerr.RebalanceInProgress) {
			out = append(out, err)
		}
	}
	return out
}
