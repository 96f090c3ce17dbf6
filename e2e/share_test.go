package e2e

// This file proves share groups (KIP-932) with franz-go's share consumer
// (kgo.ShareGroup), the acceptance: four share consumers over a
// 2-partition topic split 40,000 records, each delivered and accepted
// exactly once overall; a consumer in a child process that is SIGKILLed
// while holding acquired records releases them (its connection drops, and
// in any case its locks run out after group.share.record.lock.duration.ms)
// and another consumer gets them, delivered again; records released at
// every delivery are archived after share.delivery.count.limit (5)
// deliveries, a rejected record at once, both counted on /metrics, and the
// share-partition start offset that DescribeShareGroupOffsets shows passes
// them.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// shareChildEnv carries a child share consumer's settings (JSON).
const shareChildEnv = "RINGTAIL_E2E_SHARE_CHILD"

type shareChildConfig struct {
	Addr, Group, Topic string
}

// shareConsumer is one franz-go share consumer of the test, counting
// what it accepted.
type shareTally struct {
	mu       sync.Mutex
	accepted map[string]int            // value -> times accepted, over every consumer
	by       map[string]map[string]int // consumer -> value -> deliveries seen
	counts   map[string]int32          // value -> highest delivery count seen
}

func newShareTally() *shareTally {
	return &shareTally{accepted: map[string]int{}, by: map[string]map[string]int{}, counts: map[string]int32{}}
}

func (st *shareTally) acceptedCount(prefix string) (distinct, total int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for v, n := range st.accepted {
		if strings.HasPrefix(v, prefix) {
			distinct++
			total += n
		}
	}
	return distinct, total
}

// runShareConsumer polls until ctx ends: poison-* records are released at
// every delivery, reject-* rejected, the rest accepted.
func runShareConsumer(ctx context.Context, t *testing.T, addr, group, topic, name string, st *shareTally, wg *sync.WaitGroup) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Errorf("%s: %v", name, err)
		wg.Done()
		return
	}
	go func() {
		defer wg.Done()
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 500)
			fs.EachRecord(func(r *kgo.Record) {
				v := string(r.Value)
				st.mu.Lock()
				if st.by[name] == nil {
					st.by[name] = map[string]int{}
				}
				st.by[name][v]++
				st.counts[v] = max(st.counts[v], r.DeliveryCount())
				switch {
				case strings.HasPrefix(v, "poison-"):
					r.Ack(kgo.AckRelease)
				case strings.HasPrefix(v, "reject-"):
					r.Ack(kgo.AckReject)
				default:
					st.accepted[v]++
					r.Ack(kgo.AckAccept)
				}
				st.mu.Unlock()
			})
		}
	}()
}

// brokerServes reports whether the broker advertises api key.
func brokerServes(t *testing.T, n *testkit.Node, key int16) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, n.Client())
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == key {
			return true
		}
	}
	return false
}

func TestShareGroupsFranz(t *testing.T) {
	t.Parallel()
	o, adminAddr := withAdmin(t, testkit.Options{Settings: shareSettings()})
	n := startNode(t, o)
	if !brokerServes(t, n, 76) {
		t.Fatal("the broker does not advertise ShareGroupHeartbeat (key 76)")
	}
	const topic, group, records = "share-franz", "share-franz-group", 40000
	n.CreateTopic(topic, 2, nil)
	prod := n.Client(kgo.ProducerLinger(5 * time.Millisecond))
	defer prod.Close()

	st := newShareTally()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := 0; i < 4; i++ {
		wg.Add(1)
		runShareConsumer(ctx, t, n.Addr(), group, topic, fmt.Sprintf("consumer-%d", i), st, &wg)
	}
	// share.auto.offset.reset is latest: produce once both
	// share-partitions have their start offset.
	testkit.WaitFor(t, 30*time.Second, "the share-partitions to be initialized", func() bool {
		so := shareStartOffsetsOK(n, group, topic)
		return so[0] >= 0 && so[1] >= 0
	})

	produceValues(t, prod, topic, "r-", records)
	testkit.WaitFor(t, 60*time.Second, "40,000 records accepted", func() bool {
		d, _ := st.acceptedCount("r-")
		return d == records
	})
	if d, total := st.acceptedCount("r-"); d != records || total != records {
		t.Fatalf("accepted %d distinct records %d times, want each of %d once", d, total, records)
	}
	st.mu.Lock()
	for name, seen := range st.by {
		if len(seen) == 0 {
			t.Errorf("%s got nothing", name)
		}
	}
	st.mu.Unlock()

	// A child consumer holds records and is SIGKILLed: they go to the
	// others, delivered a second time.
	child := startShareChild(t, shareChildConfig{Addr: n.Addr(), Group: group, Topic: topic})
	round := 0
	testkit.WaitFor(t, 30*time.Second, "the child to hold records", func() bool {
		if len(child.heldValues()) > 0 {
			return true
		}
		// The others are quick: keep records coming until the child,
		// once it has joined, gets some.
		produceValues(t, prod, topic, fmt.Sprintf("k%d-", round), 100)
		round++
		return len(child.heldValues()) > 0
	})
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	held := child.heldValues()
	testkit.WaitFor(t, 30*time.Second, "the killed child's records to be accepted by the others", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, v := range held {
			if st.accepted[v] == 0 {
				return false
			}
		}
		return true
	})
	st.mu.Lock()
	for _, v := range held {
		if st.counts[v] < 2 {
			t.Errorf("record %s held by the killed child was delivered %d times, want >= 2", v, st.counts[v])
		}
	}
	st.mu.Unlock()

	// Released at every delivery: archived after 5; a reject at once.
	before := scrape(t, adminAddr)
	produceValues(t, prod, topic, "poison-", 10)
	produceValues(t, prod, topic, "reject-", 2)
	testkit.WaitFor(t, 60*time.Second, "poison and rejected records to be archived", func() bool {
		d := metricSum(scrape(t, adminAddr), "ringtail_share_records_archived_total", nil) - metricSum(before, "ringtail_share_records_archived_total", nil)
		return d >= 12
	})
	st.mu.Lock()
	for i := 0; i < 10; i++ {
		if c := st.counts["poison-"+strconv.Itoa(i)]; c != 5 {
			t.Errorf("poison-%d delivered %d times, want 5", i, c)
		}
	}
	st.mu.Unlock()
	end := partitionEnds(t, n, topic)
	testkit.WaitFor(t, 30*time.Second, "the share-partition start offsets to pass the archived records", func() bool {
		so := shareStartOffsetsOK(n, group, topic)
		return so[0] == end[0] && so[1] == end[1]
	})
}

// shareStartOffsetsOK is shareStartOffsets without failing: -1 for what
// it cannot tell yet.
func shareStartOffsetsOK(n *testkit.Node, group, topic string) map[int32]int64 {
	out := map[int32]int64{0: -1, 1: -1}
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	g.GroupID = group
	g.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0, 1}}}
	req.Groups = append(req.Groups, g)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := n.Client()
	defer cl.Close()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return out
	}
	for _, rg := range resp.Groups {
		for _, rt := range rg.Topics {
			for _, p := range rt.Partitions {
				if rg.ErrorCode == 0 && p.ErrorCode == 0 {
					out[p.Partition] = p.StartOffset
				}
			}
		}
	}
	return out
}

func partitionEnds(t *testing.T, n *testkit.Node, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := n.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

func produceValues(t *testing.T, cl *kgo.Client, topic, prefix string, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, 0, count)
	for i := 0; i < count; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(prefix + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %s*: %v", prefix, err)
	}
}

// shareChild is a share consumer in a child process that reports every
// record it gets ("H <value>") and never acknowledges.
type shareChild struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	got []string
	eof chan struct{}
}

func (c *shareChild) heldValues() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func startShareChild(t *testing.T, cfg shareChildConfig) *shareChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(cfg)
	cmd := exec.Command(exe, "-test.run=^TestShareChildConsumer$", "-test.count=1")
	cmd.Env = append(os.Environ(), shareChildEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &shareChild{cmd: cmd, eof: make(chan struct{})}
	go func(r io.Reader) {
		defer close(c.eof)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "H "); ok {
				c.mu.Lock()
				c.got = append(c.got, v)
				c.mu.Unlock()
			}
		}
	}(stdout)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.eof
		_ = cmd.Wait()
	})
	return c
}

// TestShareChildConsumer is the child of TestShareGroupsFranz (skipped
// unless started by it): it polls and holds what it gets until killed.
func TestShareChildConsumer(t *testing.T) {
	t.Parallel()
	spec := os.Getenv(shareChildEnv)
	if spec == "" {
		t.Skip("run by TestShareGroupsFranz")
	}
	var cfg shareChildConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Addr), kgo.ShareGroup(cfg.Group), kgo.ConsumeTopics(cfg.Topic))
	if err != nil {
		t.Fatal(err)
	}
	for {
		fs := cl.PollRecords(context.Background(), 50)
		fs.EachRecord(func(r *kgo.Record) { fmt.Printf("H %s\n", r.Value) })
		if fs.NumRecords() > 0 {
			select {} // hold them (never acknowledged) until killed
		}
	}
}
