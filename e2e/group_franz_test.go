// This file proves that franz-go consumer groups work against Ringtail with
// both the cooperative-sticky and the range balancer: three members, each on
// its own client and one of them in a child process, split a 6-partition
// topic and process 60,000 records exactly once, committing after
// processing; then one member leaves and the child is SIGKILLed mid-stream,
// the group rebalances within the session timeout (not the much longer
// rebalance timeout), the remaining member consumes the rest, and no record
// that was committed is consumed twice.
package e2e

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

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// childMemberEnv carries a childMemberConfig (JSON) to the test binary run
// as a group member in its own process.
const childMemberEnv = "RINGTAIL_E2E_GROUP_CHILD"

type childMemberConfig struct {
	Addr, Group, Topic, Balancer, Name string
}

// TestGroupChildMember is not a test of its own: it is the body of the
// group member that TestGroupFranzMembersLeaveAndDie runs in a child
// process so that it can SIGKILL it. It prints "R partition offset value"
// for every record it processed, then commits them and prints "C partition
// next-offset" once the commit is acknowledged, and runs until killed.
func TestGroupChildMember(t *testing.T) {
	t.Parallel()
	spec := os.Getenv(childMemberEnv)
	if spec == "" {
		t.Skip("runs only as the child process of TestGroupFranzMembersLeaveAndDie")
	}
	var cfg childMemberConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(memberOpts(cfg.Addr, cfg.Group, cfg.Topic, cfg.Balancer, cfg.Name, t)...)
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	ctx := context.Background()
	for {
		fs := cl.PollRecords(ctx, 1000)
		fs.EachError(func(topic string, p int32, err error) {
			fmt.Fprintf(out, "E %s/%d: %s\n", topic, p, strings.ReplaceAll(err.Error(), "\n", " "))
		})
		recs := fs.Records()
		next := map[int32]int64{}
		for _, r := range recs {
			fmt.Fprintf(out, "R %d %d %s\n", r.Partition, r.Offset, r.Value)
			next[r.Partition] = r.Offset + 1
		}
		out.Flush()
		if len(recs) > 0 {
			if err := cl.CommitRecords(ctx, recs...); err != nil {
				fmt.Fprintf(out, "E commit: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				for p, o := range next {
					fmt.Fprintf(out, "C %d %d\n", p, o)
				}
			}
			out.Flush()
		}
		cl.AllowRebalance()
	}
}

// childMember is the parent's view of a member running in a child process.
type childMember struct {
	name string
	cmd  *exec.Cmd
	mu   struct {
		sync.Mutex
		got     []consumedRec
		commits map[int32]int64
		errs    []string
	}
	eof chan struct{}
}

func startChildMember(t *testing.T, cfg childMemberConfig) *childMember {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(cfg)
	cmd := exec.Command(exe, "-test.run=^TestGroupChildMember$", "-test.count=1")
	cmd.Env = append(os.Environ(), childMemberEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childMember{name: cfg.Name, cmd: cmd, eof: make(chan struct{})}
	c.mu.commits = map[int32]int64{}
	go c.read(stdout)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.eof
		_ = cmd.Wait()
	})
	return c
}

// read parses the child's lines until its stdout closes. A line cut short
// by SIGKILL has no newline and is dropped.
func (c *childMember) read(r io.Reader) {
	defer close(c.eof)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		kind, rest, _ := strings.Cut(line, " ")
		c.mu.Lock()
		switch kind {
		case "R":
			f := strings.SplitN(rest, " ", 3)
			if len(f) == 3 {
				p, _ := strconv.ParseInt(f[0], 10, 32)
				o, _ := strconv.ParseInt(f[1], 10, 64)
				c.mu.got = append(c.mu.got, consumedRec{c.name, int32(p), o, f[2]})
			}
		case "C":
			var p int32
			var o int64
			if _, err := fmt.Sscan(rest, &p, &o); err == nil && o > c.mu.commits[p] {
				c.mu.commits[p] = o
			}
		case "E":
			c.mu.errs = append(c.mu.errs, rest)
		}
		c.mu.Unlock()
	}
}

func (c *childMember) records() []consumedRec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]consumedRec(nil), c.mu.got...)
}

func (c *childMember) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.got)
}

func (c *childMember) countPrefix(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for _, r := range c.mu.got {
		if strings.HasPrefix(r.value, prefix) {
			k++
		}
	}
	return k
}

func (c *childMember) commits() map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int32]int64, len(c.mu.commits))
	for p, o := range c.mu.commits {
		out[p] = o
	}
	return out
}

func (c *childMember) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.mu.errs...)
}

// kill SIGKILLs the child (no LeaveGroup) and waits until its output is read.
func (c *childMember) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.eof:
	case <-time.After(30 * time.Second):
		t.Fatal("child member's output did not close after SIGKILL")
	}
}

func TestGroupFranzMembersLeaveAndDie(t *testing.T) {
	t.Parallel()
	for _, balancer := range []string{"cooperative-sticky", "range"} {
		t.Run(balancer, func(t *testing.T) { testMembersLeaveAndDie(t, balancer) })
	}
}

func testMembersLeaveAndDie(t *testing.T, balancer string) {
	n := startGroupNode(t)
	const (
		topic      = "group-work"
		group      = "workers"
		partitions = 6
		batch1     = 60_000
		batch2     = 30_000
	)
	n.CreateTopic(topic, partitions, nil)
	adm := n.Admin()

	a := startMember(t, n, group, topic, balancer, "member-a")
	b := startMember(t, n, group, topic, balancer, "member-b")
	c := startChildMember(t, childMemberConfig{Addr: n.Addr(), Group: group, Topic: topic, Balancer: balancer, Name: "member-c"})
	d := waitGroupStable(t, adm, group, 3, partitions)
	t.Logf("group %s stable: protocol %s, %d members", group, d.Protocol, len(d.Members))
	if d.Protocol != balancer {
		t.Fatalf("group protocol %q, want %q", d.Protocol, balancer)
	}

	prod := spreadProducer(n)
	ack := produceN(t, prod, topic, "b1", batch1)
	total := func() int { return a.count() + b.count() + c.count() }
	testkit.WaitFor(t, 3*time.Minute, "the group to process the first batch", func() bool { return total() >= batch1 })
	all := append(append(a.records(), b.records()...), c.records()...)
	if dups := checkGroupConsumption(t, ack, all, "", nil); dups != 0 {
		t.Fatalf("%d records processed twice with no member failing", dups)
	}
	for _, m := range []*groupMember{a, b} {
		if errs := m.errors(); len(errs) > 0 {
			t.Fatalf("%s: %d errors, first: %v", m.name, len(errs), errs[0])
		}
	}
	if errs := c.errors(); len(errs) > 0 {
		t.Fatalf("member-c: %d errors, first: %s", len(errs), errs[0])
	}
	testkit.WaitFor(t, groupWait, "commits of the first batch", func() bool {
		end := endOffsets(t, n, topic, partitions)
		got := committedOffsets(t, adm, group, topic)
		for p := range end {
			if got[int32(p)] != end[p] {
				return false
			}
		}
		return true
	})
	t.Logf("first batch: %d records processed exactly once (%s)", batch1, byMember(all))

	// Second batch: once the child is processing it, b leaves and the
	// child dies without leaving.
	var (
		ack2    []acked
		prodErr = make(chan error, 1)
	)
	go func() {
		defer close(prodErr)
		ack2 = produceBatch(prod, topic, "b2", batch2)
		if len(ack2) != batch2 {
			prodErr <- fmt.Errorf("second batch: %d of %d acknowledged", len(ack2), batch2)
		}
	}()
	testkit.WaitFor(t, 2*time.Minute, "the child to process part of the second batch", func() bool { return c.countPrefix("b2-") > 0 })
	b.leave()
	c.kill(t)
	killedAt := time.Now()
	killedCommits := c.commits()

	testkit.WaitFor(t, groupSessionTimeout+10*time.Second, "the remaining member to own every partition", func() bool {
		return a.assignedCount() == partitions
	})
	rebalance := time.Since(killedAt)
	if err := <-prodErr; err != nil {
		t.Fatal(err)
	}
	ack = append(ack, ack2...)
	testkit.WaitFor(t, 3*time.Minute, "the remaining member to process the rest", func() bool {
		return distinct(a.records(), b.records(), c.records()) >= len(ack)
	})
	all = append(append(a.records(), b.records()...), c.records()...)
	dups := checkGroupConsumption(t, ack, all, "member-c", killedCommits)
	if errs := a.errors(); len(errs) > 0 {
		t.Fatalf("member-a: %d errors, first: %v", len(errs), errs[0])
	}
	d = waitGroupStable(t, adm, group, 1, partitions)
	testkit.WaitFor(t, groupWait, "commits of the second batch", func() bool {
		end := endOffsets(t, n, topic, partitions)
		got := committedOffsets(t, adm, group, topic)
		for p := range end {
			if got[int32(p)] != end[p] {
				return false
			}
		}
		return true
	})
	t.Logf("balancer %s: rebalanced %v after the kill; %d records processed (%s); %d processed again after the kill, all past the killed member's last commit",
		balancer, rebalance.Round(time.Millisecond), len(all), byMember(all), dups)
}

// produceBatch is produceN without the testing.T, for a goroutine: it
// returns what was acknowledged.
func produceBatch(cl *kgo.Client, topic, prefix string, count int) []acked {
	var (
		mu  sync.Mutex
		out = make([]acked, 0, count)
		wg  sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := 0; i < count; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(prefix + "-" + strconv.Itoa(i))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				return
			}
			mu.Lock()
			out = append(out, acked{r.Partition, r.Offset, string(r.Value)})
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// distinct counts the distinct partition offsets among the records.
func distinct(lists ...[]consumedRec) int {
	type key struct {
		p int32
		o int64
	}
	seen := map[key]bool{}
	for _, l := range lists {
		for _, r := range l {
			seen[key{r.partition, r.offset}] = true
		}
	}
	return len(seen)
}
