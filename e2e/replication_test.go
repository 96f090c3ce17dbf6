package e2e

// TestReplicatedPartitionSurvivesLeaderKills proves, on three real nodes,
// that a partition with replication factor 3 and min.insync.replicas=2
// loses no acknowledged record and duplicates none while its leader is
// SIGKILLed and restarted and while a follower is SIGSTOPped and
// resumed and while the leader is stopped with SIGTERM (controlled
// shutdown), that leadership moves and the ISR shrinks and grows back, and
// that acks=all is refused with NOT_ENOUGH_REPLICAS when
// the ISR is below min.insync.replicas.

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// failoverRounds is how many times the leader is killed and restarted, as
// issue 4 asks (each round waits for the session timeout: ~7 s here).
const failoverRounds = 5

// partitionState asks node ask (and no other: a killed or paused node
// would hold the answer up) for partition 0 of topic: leader and sorted
// ISR.
func partitionState(ctx context.Context, cl *kgo.Client, ask int32, topic string) (leader int32, isr []int32, ok bool) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	kresp, err := cl.Broker(int(ask)).Request(rctx, req)
	if err != nil {
		return -1, nil, false
	}
	resp := kresp.(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
		return -1, nil, false
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 && p.ErrorCode != kerr.LeaderNotAvailable.Code {
		return -1, nil, false
	}
	isr = slices.Clone(p.ISR)
	slices.Sort(isr)
	return p.Leader, isr, true
}

func TestReplicatedPartitionSurvivesLeaderKills(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	start := time.Now()
	// A 3 s session timeout (9 s by default) fences the killed leader
	// sooner, so that each round takes seconds.
	c := testkit.StartCluster(t, 3, testkit.Options{Settings: map[string]string{"broker.session.timeout.ms": "3000"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client(kgo.RetryTimeout(5 * time.Second)))
	two, three := "2", "3"
	for topic, minISR := range map[string]*string{"replicated": &two, "strict": &three} {
		resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": minISR}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	all := []int32{1, 2, 3}
	// down is the node killed, paused or stopped now (0: none); state
	// questions go to another.
	var down int32
	meta := c.Client()
	defer meta.Close()
	ask := func() int32 {
		if down == 1 {
			return 2
		}
		return 1
	}
	stateNow := func(topic string) (int32, []int32) {
		var l int32
		var isr []int32
		testkit.WaitFor(t, 10*time.Second, "topic metadata", func() bool {
			var ok bool
			l, isr, ok = partitionState(ctx, meta, ask(), topic)
			return ok
		})
		return l, isr
	}

	// The producer: bounded, paced, idempotent, acks=all.
	const maxRecords = 50000 // a bound; the rounds end it sooner
	var (
		mu      sync.Mutex
		acked   = map[string]int64{}
		failed  []error
		wg      sync.WaitGroup
		stopped = make(chan struct{})
	)
	prod := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(60*time.Second), kgo.RetryTimeout(60*time.Second))
	defer prod.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < maxRecords; i++ {
			select {
			case <-stopped:
				return
			case <-time.After(5 * time.Millisecond):
			}
			v := "v-" + itoa(i)
			prod.Produce(ctx, &kgo.Record{Topic: "replicated", Value: []byte(v)}, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err)
					return
				}
				acked[v] = r.Offset
			})
		}
	}()
	ackedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	testkit.WaitFor(t, 20*time.Second, "first acknowledged records", func() bool { return ackedNow() > 50 })

	for round := 1; round <= failoverRounds; round++ {
		leader, isr := stateNow("replicated")
		if leader < 1 {
			t.Fatalf("round %d: no leader", round)
		}
		before := ackedNow()
		killed := time.Now()
		c.Node(leader).Kill()
		down = leader
		testkit.WaitFor(t, 30*time.Second, "leadership to move and the ISR to shrink", func() bool {
			l, now, ok := partitionState(ctx, meta, ask(), "replicated")
			return ok && l >= 1 && l != leader && !slices.Contains(now, leader)
		})
		l2, isr2 := stateNow("replicated")
		t.Logf("round %d: killed leader %d (ISR %v); leader %d, ISR %v after %v", round, leader, isr, l2, isr2, time.Since(killed).Round(time.Millisecond))
		testkit.WaitFor(t, 20*time.Second, "acknowledgements to resume", func() bool { return ackedNow() > before+20 })
		// Still asked of another node: a restarted one answers from its
		// replayed, older image until it catches up.
		c.Node(leader).Start()
		testkit.WaitFor(t, 30*time.Second, "the restarted node to rejoin the ISR", func() bool {
			_, now, ok := partitionState(ctx, meta, ask(), "replicated")
			return ok && slices.Equal(now, all)
		})
		down = 0
		t.Logf("round %d: node %d back in the ISR %v after the kill", round, leader, time.Since(killed).Round(time.Millisecond))
	}
	// A follower paused (SIGSTOP) is fenced and leaves the ISR while
	// writes go on; resumed, it catches up and rejoins.
	leader, _ := stateNow("replicated")
	paused := int32(1)
	if paused == leader {
		paused = 2
	}
	before := ackedNow()
	c.Node(paused).Pause()
	down = paused
	stoppedAt := time.Now()
	testkit.WaitFor(t, 30*time.Second, "the paused follower to leave the ISR", func() bool {
		_, now, ok := partitionState(ctx, meta, ask(), "replicated")
		return ok && len(now) == 2 && !slices.Contains(now, paused)
	})
	testkit.WaitFor(t, 20*time.Second, "acknowledgements without the paused follower", func() bool { return ackedNow() > before+20 })
	c.Node(paused).Resume()
	testkit.WaitFor(t, 30*time.Second, "the resumed follower to rejoin the ISR", func() bool {
		_, now, ok := partitionState(ctx, meta, ask(), "replicated")
		return ok && slices.Equal(now, all)
	})
	down = 0
	t.Logf("follower %d paused and resumed: back in the ISR %v after the pause", paused, time.Since(stoppedAt).Round(time.Millisecond))
	// SIGTERM on the leader: controlled shutdown moves leadership before
	// the process exits, without waiting for the session timeout.
	leader, _ = stateNow("replicated")
	termAt := time.Now()
	c.Node(leader).Stop()
	down = leader
	// The node exits only after its controlled shutdown's entry (fenced,
	// leadership moved) is committed, or after 5 s without it, which it
	// logs. Its log, not a race against the 3 s session timeout, shows
	// which happened; the metadata then follows.
	if l := c.Node(leader).LogSinceLastStart(); !strings.Contains(l, "controlled shutdown done") || strings.Contains(l, "leadership not moved") {
		t.Fatalf("node %d exited on SIGTERM without a committed controlled shutdown:\n%s", leader, l)
	}
	var l2 int32
	var isr2 []int32
	testkit.WaitFor(t, 30*time.Second, "leadership to move on SIGTERM", func() bool {
		var ok bool
		l2, isr2, ok = partitionState(ctx, meta, ask(), "replicated")
		return ok && l2 >= 1 && l2 != leader && !slices.Contains(isr2, leader)
	})
	t.Logf("leader %d stopped with SIGTERM in %v: leader %d, ISR %v", leader, time.Since(termAt).Round(time.Millisecond), l2, isr2)
	c.Node(leader).Start()
	testkit.WaitFor(t, 30*time.Second, "the stopped node to rejoin the ISR", func() bool {
		_, now, ok := partitionState(ctx, meta, ask(), "replicated")
		return ok && slices.Equal(now, all)
	})
	down = 0
	close(stopped)
	wg.Wait()
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	nAcked, nFailed := len(acked), len(failed)
	if nFailed > 0 {
		t.Logf("the producer saw %d failures, first: %v", nFailed, failed[0])
	}
	mu.Unlock()

	// Every acknowledged record at its offset, nothing twice.
	var hw int64
	testkit.WaitFor(t, 10*time.Second, "end offsets", func() bool {
		ends, err := adm.ListEndOffsets(ctx, "replicated")
		if err != nil {
			return false
		}
		o, ok := ends.Lookup("replicated", 0)
		hw = o.Offset
		return ok && o.Err == nil
	})
	got := consumeAll(t, c.Node(1).Addr(), "replicated", int(hw), 30*time.Second)
	seen := map[string]int64{}
	for _, r := range got {
		if prev, dup := seen[string(r.Value)]; dup {
			t.Fatalf("record %s at offsets %d and %d", r.Value, prev, r.Offset)
		}
		seen[string(r.Value)] = r.Offset
	}
	mu.Lock()
	for v, off := range acked {
		if got, ok := seen[v]; !ok || got != off {
			t.Fatalf("acknowledged %s at offset %d, consumed at %d (present %v)", v, off, got, ok)
		}
	}
	mu.Unlock()
	t.Logf("%d records acknowledged, %d failed, %d consumed, all at their acknowledged offsets", nAcked, nFailed, len(got))
	// topic describe shows every node back in the ISR.
	desc := runCLI(t, c.Node(1), "", "topic", "describe", "replicated")
	t.Log(desc)
	if !regexp.MustCompile(`Partition: 0\tLeader: [123]\tReplicas: [123],[123],[123]\tIsr: [123],[123],[123]\t`).MatchString(desc) {
		t.Fatalf("topic describe does not show the full ISR:\n%s", desc)
	}
	// Preferred-leader election gives the partition back to its first
	// replica (or says none is needed when it leads already).
	elect, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"replicated": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	res := elect["replicated"][0]
	if res.Err != nil && !errors.Is(res.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("preferred election: %v", res.Err)
	}
	td, err := adm.ListTopics(ctx, "replicated")
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the preferred replica to lead", func() bool {
		l, _, ok := partitionState(ctx, meta, ask(), "replicated")
		return ok && l == td["replicated"].Partitions[0].Replicas[0]
	})
	t.Logf("preferred election: %v; leader is replica %d", res.Err, td["replicated"].Partitions[0].Replicas[0])

	// Below min.insync.replicas: the strict topic (3) with a node down.
	leader, _ = stateNow("strict")
	victim := int32(1)
	if victim == leader {
		victim = 2
	}
	c.Node(victim).Kill()
	down = victim
	testkit.WaitFor(t, 30*time.Second, "the strict topic's ISR to shrink", func() bool {
		_, isr, ok := partitionState(ctx, meta, ask(), "strict")
		return ok && len(isr) == 2
	})
	// NOT_ENOUGH_REPLICAS is retriable: without retries the client surfaces it.
	strict := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	defer strict.Close()
	err = strict.ProduceSync(ctx, &kgo.Record{Topic: "strict", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with ISR 2 < min.insync.replicas 3: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}
