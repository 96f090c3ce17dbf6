package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// Timings of the consumer-group tests. The session timeout is short so that
// a killed member is noticed quickly (Kafka's group.min.session.timeout.ms
// is 6 s); the rebalance timeout is much longer, so that a rebalance which
// waits for it instead of expiring the dead member's session is caught.
const (
	groupSessionTimeout   = 6 * time.Second
	groupRebalanceTimeout = 30 * time.Second
	groupHeartbeat        = 500 * time.Millisecond
	groupWait             = 90 * time.Second // bound on any one wait for the group
)

// startGroupNode starts a node (skipping under -short) and fails at once,
// rather than after a long wait, if it does not serve the consumer-group
// APIs these tests need.
func startGroupNode(t *testing.T) *testkit.Node {
	t.Helper()
	n := startNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, n.Client())
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	served := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		served[k.ApiKey] = true
	}
	var missing []string
	for _, k := range []kmsg.Key{kmsg.FindCoordinator, kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup,
		kmsg.OffsetCommit, kmsg.OffsetFetch, kmsg.DescribeGroups, kmsg.ListGroups, kmsg.DeleteGroups} {
		if !served[int16(k)] {
			missing = append(missing, k.Name())
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the broker does not serve %s (not in its ApiVersions response)", strings.Join(missing, ", "))
	}
	return n
}

// spreadProducer is a client that spreads unkeyed records over every
// partition in turn, so each member of a group has work (the default
// sticky partitioner would put a whole burst on one partition).
func spreadProducer(n *testkit.Node) *kgo.Client {
	return n.Client(kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
}

// consumedRec is one record a group member processed.
type consumedRec struct {
	member    string
	partition int32
	offset    int64
	value     string
}

// balancerByName is the franz-go balancer a test (or a child process) uses.
func balancerByName(t testing.TB, name string) kgo.GroupBalancer {
	switch strings.TrimPrefix(name, kip848Prefix) {
	case "cooperative-sticky":
		return kgo.CooperativeStickyBalancer()
	case "range":
		return kgo.RangeBalancer()
	case "sticky":
		return kgo.StickyBalancer()
	case "roundrobin":
		return kgo.RoundRobinBalancer()
	}
	t.Fatalf("unknown balancer %q", name)
	return nil
}

// memberOpts are the options of a franz-go group member that commits only
// what it has processed: autocommit off, and rebalances held off between a
// poll and the commit that follows it, so a partition never changes hands
// with processed-but-uncommitted records.
func memberOpts(addr, group, topic, balancer, clientID string, t testing.TB) []kgo.Opt {
	return append(kip848Opts(balancer),
		kgo.SeedBrokers(addr),
		kgo.ClientID(clientID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(balancerByName(t, balancer)),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(groupSessionTimeout),
		kgo.RebalanceTimeout(groupRebalanceTimeout),
		kgo.HeartbeatInterval(groupHeartbeat),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
}

// groupMember is an in-process group member on its own client. Its loop
// polls, records what it got as processed, commits exactly those records,
// and only then allows a rebalance.
type groupMember struct {
	name  string
	cl    *kgo.Client
	limit int // records to process before it stops polling (staying in the group); 0: no limit

	mu struct {
		sync.Mutex
		got      []consumedRec
		assigned map[int32]bool
		errs     []error
	}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func startMember(t *testing.T, n *testkit.Node, group, topic, balancer, name string) *groupMember {
	t.Helper()
	return startMemberLimit(t, n, group, topic, balancer, name, 0)
}

// startMemberLimit starts a member that processes at most limit records.
func startMemberLimit(t *testing.T, n *testkit.Node, group, topic, balancer, name string, limit int) *groupMember {
	t.Helper()
	m := &groupMember{name: name, limit: limit, stop: make(chan struct{}), done: make(chan struct{})}
	m.mu.assigned = map[int32]bool{}
	opts := append(memberOpts(n.Addr(), group, topic, balancer, name, t),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.mu.assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { m.unassign(r[topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) { m.unassign(l[topic]) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	go m.run()
	t.Cleanup(func() { m.leave() })
	return m
}

func (m *groupMember) unassign(ps []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		delete(m.mu.assigned, p)
	}
}

func (m *groupMember) run() {
	defer close(m.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-m.done:
		}
	}()
	for {
		max := 1000
		if m.limit > 0 {
			left := m.limit - m.count()
			if left <= 0 {
				<-ctx.Done()
				return
			}
			max = min(max, left)
		}
		fs := m.cl.PollRecords(ctx, max)
		var errs []error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				errs = append(errs, err)
			}
		})
		recs := fs.Records()
		m.mu.Lock()
		m.mu.errs = append(m.mu.errs, errs...)
		for _, r := range recs {
			m.mu.got = append(m.mu.got, consumedRec{m.name, r.Partition, r.Offset, string(r.Value)})
		}
		m.mu.Unlock()
		if len(recs) > 0 {
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := m.cl.CommitRecords(cctx, recs...)
			ccancel()
			if err != nil {
				m.mu.Lock()
				m.mu.errs = append(m.mu.errs, errors.New("commit: "+err.Error()))
				m.mu.Unlock()
			}
		}
		m.cl.AllowRebalance()
		if ctx.Err() != nil {
			return
		}
	}
}

// leave stops the loop after its last commit, then closes the client,
// which sends LeaveGroup. It is safe to call twice.
func (m *groupMember) leave() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	m.closeOnce.Do(m.cl.Close)
}

func (m *groupMember) records() []consumedRec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]consumedRec(nil), m.mu.got...)
}

func (m *groupMember) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.got)
}

func (m *groupMember) errors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]error(nil), m.mu.errs...)
}

func (m *groupMember) assignedCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.assigned)
}

// describeGroup returns the group as the broker describes it; ok is false
// while the describe fails (the coordinator may still be loading).
func describeGroup(adm *kadm.Client, group string) (kadm.DescribedGroup, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return kadm.DescribedGroup{}, false
	}
	d, ok := ds[group]
	return d, ok && d.Err == nil
}

// waitGroupStable waits until the group is Stable with members members
// that between them are assigned all partitions, each at least one.
func waitGroupStable(t *testing.T, adm *kadm.Client, group string, members, partitions int) kadm.DescribedGroup {
	t.Helper()
	var last kadm.DescribedGroup
	testkit.WaitFor(t, groupWait, "group "+group+" to be Stable with all partitions assigned", func() bool {
		d, ok := describeGroup(adm, group)
		if !ok {
			return false
		}
		last = d
		if d.State != "Stable" || len(d.Members) != members {
			return false
		}
		total := 0
		for _, m := range d.Members {
			c, ok := m.Assigned.AsConsumer()
			if !ok {
				return false
			}
			k := 0
			for _, tp := range c.Topics {
				k += len(tp.Partitions)
			}
			if k == 0 {
				return false
			}
			total += k
		}
		return total == partitions
	})
	return last
}

// waitGroupState waits until the group is in state (Empty after the last
// member left, say).
func waitGroupState(t *testing.T, adm *kadm.Client, group, state string) {
	t.Helper()
	testkit.WaitFor(t, groupWait, "group "+group+" to be "+state, func() bool {
		d, ok := describeGroup(adm, group)
		return ok && d.State == state
	})
}

// committedOffsets is the group's committed offset per partition of topic;
// partitions without a commit are absent.
func committedOffsets(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		if o.Err != nil {
			t.Fatalf("fetch offsets of group %s: %s/%d: %v", group, topic, p, o.Err)
		}
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out
}

// wantCommittedAtEnd checks that the group has committed the end of every
// partition of topic.
func wantCommittedAtEnd(t *testing.T, n *testkit.Node, adm *kadm.Client, group, topic string, partitions int32) {
	t.Helper()
	end := endOffsets(t, n, topic, partitions)
	got := committedOffsets(t, adm, group, topic)
	for p := int32(0); p < partitions; p++ {
		if got[p] != end[p] {
			t.Fatalf("group %s partition %d: committed %d, log end %d (all committed: %v)", group, p, got[p], end[p], got)
		}
	}
}

// checkGroupConsumption checks what members of a group processed against
// what was acknowledged: every acknowledged record processed, with its
// value, nothing else processed; and a record processed twice only if its
// first processing was by the member that was killed, at or past the last
// offset that member is known to have committed on that partition — so
// nothing committed was ever consumed again. It returns the number of
// records processed twice.
func checkGroupConsumption(t *testing.T, ack []acked, got []consumedRec, killed string, killedCommits map[int32]int64) int {
	t.Helper()
	type key struct {
		p int32
		o int64
	}
	want := make(map[key]string, len(ack))
	for _, a := range ack {
		want[key{a.partition, a.offset}] = a.value
	}
	first := make(map[key]consumedRec, len(got))
	dups := 0
	for _, r := range got {
		k := key{r.partition, r.offset}
		v, ok := want[k]
		if !ok {
			t.Fatalf("%s processed partition %d offset %d (%q), which was never acknowledged", r.member, r.partition, r.offset, r.value)
		}
		if v != r.value {
			t.Fatalf("%s processed partition %d offset %d as %q, acknowledged %q", r.member, r.partition, r.offset, r.value, v)
		}
		prev, seen := first[k]
		if !seen {
			first[k] = r
			continue
		}
		dups++
		// A record may be processed twice only when one of the two is the
		// killed member, which processed it without committing it
		// (records arrive grouped by member, not in time order).
		c, known := killedCommits[r.partition]
		if (prev.member != killed && r.member != killed) || (known && r.offset < c) {
			t.Fatalf("partition %d offset %d processed twice, by %s and then %s, though it was committed (killed member %q committed up to %d, known %v)",
				r.partition, r.offset, prev.member, r.member, killed, c, known)
		}
	}
	if len(first) != len(want) {
		missing := 0
		var sample []key
		for k := range want {
			if _, ok := first[k]; !ok {
				missing++
				if len(sample) < 5 {
					sample = append(sample, k)
				}
			}
		}
		t.Fatalf("%d acknowledged records were never processed, e.g. %v", missing, sample)
	}
	return dups
}

// byMember counts processed records per member.
func byMember(got []consumedRec) string {
	m := map[string]int{}
	for _, r := range got {
		m[r.member]++
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + "=" + itoa(m[k]) + " ")
	}
	return strings.TrimSpace(b.String())
}

// runCLIFails runs a ringtail command that must fail and returns stderr.
func runCLIFails(t *testing.T, n *testkit.Node, args ...string) string {
	t.Helper()
	cmd := exec.Command(n.Bin, append(args, "--bootstrap", n.Addr())...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err == nil {
		t.Fatalf("ringtail %s succeeded, want a failure\nstdout: %s", strings.Join(args, " "), out.String())
	}
	return errb.String()
}
