// This file proves that consumer groups of clients with their own protocol
// code work against Ringtail: sarama's ConsumerGroup (two members split a
// topic, process every record once, commit, and a later member of the same
// group reads only what is new) and kcat's -G balanced consumer (librdkafka:
// reads what was produced and commits it, so a second run of the same group
// reads nothing old).
package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/ringtail/ringtail/testkit"
)

// saramaMember is one sarama ConsumerGroup consuming in the background.
type saramaMember struct {
	name   string
	cg     sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
	mu     struct {
		sync.Mutex
		got  []consumedRec
		errs []error
	}
}

func (m *saramaMember) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (m *saramaMember) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (m *saramaMember) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		m.mu.Lock()
		m.mu.got = append(m.mu.got, consumedRec{m.name, msg.Partition, msg.Offset, string(msg.Value)})
		m.mu.Unlock()
		sess.MarkMessage(msg, "")
	}
	return nil
}

func (m *saramaMember) records() []consumedRec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]consumedRec(nil), m.mu.got...)
}

func (m *saramaMember) errors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]error(nil), m.mu.errs...)
}

func startSaramaMember(t *testing.T, addr, group, topic, name string) *saramaMember {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = name
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = true
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = groupSessionTimeout
	cfg.Consumer.Group.Heartbeat.Interval = groupHeartbeat
	cfg.Consumer.Group.Rebalance.Timeout = groupRebalanceTimeout
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{name: name, cg: cg, cancel: cancel, done: make(chan struct{})}
	go func() {
		for err := range cg.Errors() {
			m.mu.Lock()
			m.mu.errs = append(m.mu.errs, err)
			m.mu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		// Consume returns at each rebalance; the loop is bounded by the
		// context, which stop cancels.
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				m.mu.Lock()
				m.mu.errs = append(m.mu.errs, err)
				m.mu.Unlock()
				time.Sleep(100 * time.Millisecond) // back off before rejoining, not a synchronisation
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop ends the session (committing what was marked) and closes the group.
func (m *saramaMember) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	m.cancel()
	<-m.done
	m.cg.Close()
}

func TestGroupSaramaConsumerGroup(t *testing.T) {
	t.Parallel()
	n := startGroupNode(t)
	const (
		topic      = "sarama-group"
		group      = "sarama-workers"
		partitions = 4
		count      = 4000
	)
	n.CreateTopic(topic, partitions, nil)
	adm := n.Admin()
	prod := spreadProducer(n)

	m1 := startSaramaMember(t, n.Addr(), group, topic, "sarama-1")
	m2 := startSaramaMember(t, n.Addr(), group, topic, "sarama-2")
	d := waitGroupStable(t, adm, group, 2, partitions)
	if d.Protocol != "range" {
		t.Fatalf("group protocol %q, want range", d.Protocol)
	}
	ack := produceN(t, prod, topic, "s1", count)
	testkit.WaitFor(t, 2*time.Minute, "the sarama members to consume the first batch", func() bool {
		return len(m1.records())+len(m2.records()) >= count
	})
	all := append(m1.records(), m2.records()...)
	if dups := checkGroupConsumption(t, ack, all, "", nil); dups != 0 {
		t.Fatalf("%d records consumed twice", dups)
	}
	m1.stop()
	m2.stop()
	for _, m := range []*saramaMember{m1, m2} {
		if errs := m.errors(); len(errs) > 0 {
			t.Fatalf("%s: %d errors, first: %v", m.name, len(errs), errs[0])
		}
	}
	wantCommittedAtEnd(t, n, adm, group, topic, partitions)
	t.Logf("sarama: %d records consumed once (%s)", count, byMember(all))

	// A new member of the same group starts from the committed offsets.
	ack2 := produceN(t, prod, topic, "s2", 500)
	m3 := startSaramaMember(t, n.Addr(), group, topic, "sarama-3")
	testkit.WaitFor(t, 2*time.Minute, "the new member to consume the second batch", func() bool { return len(m3.records()) >= len(ack2) })
	got := m3.records()
	for _, r := range got {
		if strings.HasPrefix(r.value, "s1-") {
			t.Fatalf("the restarted group re-read committed record %q at partition %d offset %d", r.value, r.partition, r.offset)
		}
	}
	if dups := checkGroupConsumption(t, ack2, got, "", nil); dups != 0 {
		t.Fatalf("%d records consumed twice after the restart", dups)
	}
	m3.stop()
	wantCommittedAtEnd(t, n, adm, group, topic, partitions)
}

func TestGroupKcatBalancedConsumer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kcat := needKcat(t)
	n := startGroupNode(t)
	const (
		topic      = "kcat-group"
		group      = "kcat-workers"
		partitions = 3
	)
	n.CreateTopic(topic, partitions, nil)
	adm := n.Admin()
	prod := spreadProducer(n)

	// run is one kcat -G run to the end of every assigned partition (-e).
	run := func() []consumedRec {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, "-b", n.Addr(), "-G", group, "-e", "-q",
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
			"-f", "%p %o %s\n", topic)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err() // killed at the deadline: it never reached the end of its partitions
			}
			t.Fatalf("kcat -G: %v\nstdout: %d bytes\nstderr: %s", err, out.Len(), errb.String())
		}
		var recs []consumedRec
		for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
			if line == "" {
				continue
			}
			f := strings.SplitN(line, " ", 3)
			if len(f) != 3 {
				t.Fatalf("kcat printed %q", line)
			}
			p, err1 := strconv.ParseInt(f[0], 10, 32)
			o, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("kcat printed %q", line)
			}
			recs = append(recs, consumedRec{"kcat", int32(p), o, f[2]})
		}
		return recs
	}

	ack := produceN(t, prod, topic, "k1", 3000)
	got := run()
	if dups := checkGroupConsumption(t, ack, got, "", nil); dups != 0 {
		t.Fatalf("kcat consumed %d records twice", dups)
	}
	wantCommittedAtEnd(t, n, adm, group, topic, partitions)

	if again := run(); len(again) != 0 {
		t.Fatalf("a second kcat -G run read %d records that the group had committed, first %+v", len(again), again[0])
	}

	ack2 := produceN(t, prod, topic, "k2", 300)
	got = run()
	if dups := checkGroupConsumption(t, ack2, got, "", nil); dups != 0 {
		t.Fatalf("kcat consumed %d records twice", dups)
	}
	wantCommittedAtEnd(t, n, adm, group, topic, partitions)
}
