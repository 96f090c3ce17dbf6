// These tests prove the transaction commands without a broker: parsing of
// --state and of abort's two forms, which open transactions find-hanging
// reports and why (age, a coordinator that does not know them, another
// epoch, a partition outside the coordinator's transaction) and that a
// transaction finished meanwhile is dropped, the tables, the producer
// looked up by start offset, and that bad command lines fail with one
// line before any request is sent.
package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestParseTxnStates(t *testing.T) {
	got, err := parseTxnStates([]string{"ongoing,PrepareAbort", " completecommit ", "Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "Ongoing PrepareAbort CompleteCommit" {
		t.Fatalf("got %v", got)
	}
	if _, err := parseTxnStates([]string{"Ongoing,Running"}); err == nil || !strings.Contains(err.Error(), `--state "Running"`) {
		t.Fatalf("unknown state: %v", err)
	}
}

func TestParseAbort(t *testing.T) {
	full := abortFlags{topic: "t", partition: 2, producerID: 7, producerEpoch: 1, coordinatorEpoch: 0,
		hasPartition: true, hasPID: true, hasEpoch: true, hasCoordEpoch: true}
	s, err := parseAbort(full)
	if err != nil {
		t.Fatal(err)
	}
	if s != (abortSpec{topic: "t", partition: 2, startOffset: -1, producerID: 7, producerEpoch: 1, coordinatorEpoch: 0}) {
		t.Fatalf("producer form: %+v", s)
	}
	byStart := abortFlags{topic: "t", partition: 0, startOffset: 42, hasPartition: true, hasStart: true}
	if s, err := parseAbort(byStart); err != nil || s.startOffset != 42 || s.topic != "t" || s.partition != 0 {
		t.Fatalf("start-offset form: %+v, %v", s, err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*abortFlags)
		want string
	}{
		{"no topic", func(f *abortFlags) { f.topic = "" }, "give --topic and --partition"},
		{"no partition", func(f *abortFlags) { f.hasPartition = false }, "give --topic and --partition"},
		{"negative partition", func(f *abortFlags) { f.partition = -1 }, "--partition -1"},
		{"both forms", func(f *abortFlags) { f.hasStart, f.startOffset = true, 5 }, "not both"},
		{"no epoch", func(f *abortFlags) { f.hasEpoch = false }, "all of --producer-id"},
		{"no coordinator epoch", func(f *abortFlags) { f.hasCoordEpoch = false }, "all of --producer-id"},
		{"negative producer id", func(f *abortFlags) { f.producerID = -1 }, "must be >= 0"},
		{"neither form", func(f *abortFlags) { f.hasPID, f.hasEpoch, f.hasCoordEpoch = false, false, false }, "give --start-offset"},
	} {
		f := full
		tc.mod(&f)
		if _, err := parseAbort(f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	neg := byStart
	neg.startOffset = -3
	if _, err := parseAbort(neg); err == nil || !strings.Contains(err.Error(), "--start-offset -3") {
		t.Errorf("negative start offset: %v", err)
	}
}

func TestJudgeHanging(t *testing.T) {
	now := time.UnixMilli(1700000600000)
	ago := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	prod := func(topic string, p int32, pid int64, epoch int16, start, last int64) kadm.DescribedProducer {
		return kadm.DescribedProducer{Topic: topic, Partition: p, ProducerID: pid, ProducerEpoch: epoch,
			CoordinatorEpoch: -1, LastSequence: 3, CurrentTxnStartOffset: start, LastTimestamp: last}
	}
	producers := []kadm.DescribedProducer{
		prod("b", 0, 1, 0, 10, ago(10*time.Second)), // young, coordinator agrees: fine
		prod("b", 0, 2, 0, -1, ago(time.Hour)),      // no open transaction: never reported
		prod("a", 1, 3, 2, 40, ago(20*time.Minute)), // old, coordinator agrees: old
		prod("a", 0, 4, 0, 7, ago(time.Second)),     // coordinator does not know it
		prod("a", 0, 5, 1, 9, ago(time.Second)),     // coordinator is at another epoch
		prod("b", 1, 6, 0, 12, ago(time.Second)),    // partition not in the coordinator's transaction
		prod("c", 0, 7, 0, 3, -1),                   // no timestamp, coordinator agrees: fine
		prod("c", 1, 8, 0, 3, ago(30*time.Minute)),  // old and unknown
	}
	byPID := map[int64]openTxn{
		1: {txnID: "t1", epoch: 0, partitions: kadm.TopicsSet{"b": {0: {}}}},
		3: {txnID: "t3", epoch: 2, partitions: kadm.TopicsSet{"a": {1: {}}}},
		5: {txnID: "t5", epoch: 2, partitions: kadm.TopicsSet{"a": {0: {}}}},
		6: {txnID: "t6", epoch: 0, partitions: kadm.TopicsSet{"b": {0: {}}}},
		7: {txnID: "t7", epoch: 0, partitions: kadm.TopicsSet{"c": {0: {}}}},
	}
	got := judgeHanging(producers, byPID, now, 15*time.Minute)
	want := []struct {
		topic  string
		p      int32
		pid    int64
		reason string
		age    time.Duration
	}{
		{"a", 0, 4, "no-open-transaction-at-coordinator", time.Second},
		{"a", 0, 5, "coordinator-at-epoch-2", time.Second},
		{"a", 1, 3, "older-than-max-age", 20 * time.Minute},
		{"b", 1, 6, "partition-not-in-coordinator-transaction", time.Second},
		{"c", 1, 8, "older-than-max-age,no-open-transaction-at-coordinator", 30 * time.Minute},
	}
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.p.Topic != w.topic || g.p.Partition != w.p || g.p.ProducerID != w.pid || strings.Join(g.reasons, ",") != w.reason || g.age != w.age {
			t.Errorf("finding %d: %s-%d producer %d %v age %v, want %s-%d producer %d %s age %v", i,
				g.p.Topic, g.p.Partition, g.p.ProducerID, g.reasons, g.age, w.topic, w.p, w.pid, w.reason, w.age)
		}
	}

	// Described again: producer 4's transaction ended, producer 5 began
	// another one (new start offset), the rest are still open.
	again := []kadm.DescribedProducer{
		prod("a", 0, 5, 1, 30, ago(0)),
		prod("a", 1, 3, 2, 40, ago(20*time.Minute)),
		prod("b", 1, 6, 0, 12, ago(time.Second)),
		prod("c", 1, 8, 0, 3, ago(30*time.Minute)),
	}
	kept := stillOpen(got, again)
	var pids []int64
	for _, h := range kept {
		pids = append(pids, h.p.ProducerID)
	}
	if len(pids) != 3 || pids[0] != 3 || pids[1] != 6 || pids[2] != 8 {
		t.Fatalf("still open: producers %v, want [3 6 8]", pids)
	}

	var b bytes.Buffer
	if err := writeHanging(&b, kept); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "TOPIC PARTITION PRODUCER-ID PRODUCER-EPOCH COORDINATOR-EPOCH START-OFFSET AGE REASON" {
		t.Fatalf("table:\n%s", b.String())
	}
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "a 1 3 2 -1 40 20m0s older-than-max-age" {
		t.Fatalf("row %q", lines[1])
	}
}

func TestProducerAt(t *testing.T) {
	ps := []kadm.DescribedProducer{
		{ProducerID: 1, ProducerEpoch: 0, CoordinatorEpoch: 3, CurrentTxnStartOffset: -1},
		{ProducerID: 2, ProducerEpoch: 4, CoordinatorEpoch: 3, CurrentTxnStartOffset: 17},
		{ProducerID: 3, ProducerEpoch: 1, CoordinatorEpoch: -1, CurrentTxnStartOffset: 20},
	}
	if p, ce, ok := producerAt(ps, 17); !ok || p.ProducerID != 2 || ce != 3 {
		t.Fatalf("at 17: %+v %d %v", p, ce, ok)
	}
	// No marker yet: coordinator epoch 0, as kafka-transactions.sh.
	if p, ce, ok := producerAt(ps, 20); !ok || p.ProducerID != 3 || ce != 0 {
		t.Fatalf("at 20: %+v %d %v", p, ce, ok)
	}
	if _, _, ok := producerAt(ps, 18); ok {
		t.Fatal("found a producer at 18")
	}
}

func TestTxnTables(t *testing.T) {
	var b bytes.Buffer
	listed := kadm.ListedTransactions{
		"zeta":  {Coordinator: 2, TxnID: "zeta", ProducerID: 9, State: "Empty"},
		"alpha": {Coordinator: 1, TxnID: "alpha", ProducerID: 4, State: "Ongoing"},
	}
	if err := writeTxnList(&b, listed); err != nil {
		t.Fatal(err)
	}
	if got := fieldLines(b.String()); got != "TRANSACTIONAL-ID COORDINATOR PRODUCER-ID STATE|alpha 1 4 Ongoing|zeta 2 9 Empty" {
		t.Fatalf("list:\n%s", b.String())
	}

	b.Reset()
	now := time.UnixMilli(1700000090500)
	ds := []kadm.DescribedTransaction{
		{Coordinator: 1, TxnID: "alpha", State: "Ongoing", TimeoutMillis: 60000, StartTimestamp: 1700000000000, ProducerID: 4, ProducerEpoch: 2,
			Topics: kadm.TopicsSet{"orders": {3: {}, 0: {}}, "audit": {1: {}}}},
		{Coordinator: 1, TxnID: "beta", State: "CompleteCommit", TimeoutMillis: 60000, StartTimestamp: 1700000000000, ProducerID: 5},
		{Coordinator: 2, TxnID: "gamma", State: "Empty", TimeoutMillis: 1000, StartTimestamp: -1, ProducerID: 6},
	}
	if err := writeTxnDescribe(&b, ds, now); err != nil {
		t.Fatal(err)
	}
	want := "TRANSACTIONAL-ID COORDINATOR PRODUCER-ID PRODUCER-EPOCH STATE TIMEOUT-MS START-TIME DURATION PARTITIONS|" +
		"alpha 1 4 2 Ongoing 60000 2023-11-14T22:13:20.000Z 1m30s audit[1],orders[0,3]|" +
		"beta 1 5 0 CompleteCommit 60000 2023-11-14T22:13:20.000Z - -|" +
		"gamma 2 6 0 Empty 1000 - - -"
	if got := fieldLines(b.String()); got != want {
		t.Fatalf("describe:\n%s\nwant (fields) %s", b.String(), want)
	}
}

// fieldLines is out's lines, fields joined by one space, lines by |.
func fieldLines(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "|")
}

func TestTxnUsageErrors(t *testing.T) {
	addr := closedPort(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"txn", "describe"}, "wants at least one TRANSACTIONAL-ID"},
		{[]string{"txn", "list", "extra"}, "wants no arguments"},
		{[]string{"txn", "list", "--state", "Running"}, `--state "Running"`},
		{[]string{"txn", "list", "--producer-id", "x"}, "--producer-id"},
		{[]string{"txn", "find-hanging", "--partition", "1"}, "--partition needs --topic"},
		{[]string{"txn", "find-hanging", "--topic", "t", "--partition", "-2"}, "--partition -2"},
		{[]string{"txn", "find-hanging", "--max-age", "0s"}, "--max-age 0s"},
		{[]string{"txn", "find-hanging", "--max-age", "soon"}, "--max-age"},
		{[]string{"txn", "abort", "--topic", "t"}, "give --topic and --partition"},
		{[]string{"txn", "abort", "--topic", "t", "--partition", "0"}, "give --start-offset"},
		{[]string{"txn", "abort", "--topic", "t", "--partition", "0", "--start-offset", "3", "--producer-id", "1"}, "not both"},
		{[]string{"txn", "abort", "--topic", "t", "--partition", "0", "--producer-id", "1", "--producer-epoch", "0"}, "all of --producer-id"},
		{[]string{"txn", "frobnicate"}, `unknown command "frobnicate"`},
		// Valid command lines reach the broker, which is not there.
		{[]string{"txn", "list"}, "list transactions"},
		{[]string{"txn", "describe", "t"}, `describe transaction "t"`},
		{[]string{"txn", "find-hanging", "--topic", "t"}, "find hanging transactions"},
		{[]string{"txn", "abort", "--topic", "t", "--partition", "0", "--start-offset", "3"}, "abort transaction on t partition 0"},
		{[]string{"txn", "abort", "--topic", "t", "--partition", "0", "--producer-id", "1", "--producer-epoch", "0", "--coordinator-epoch", "0"}, "abort transaction on t partition 0"},
	} {
		r := run(t, "", nil, append(tc.args, "--bootstrap", addr)...)
		wantOneLineError(t, r, tc.want)
	}
}
