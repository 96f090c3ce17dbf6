// This file proves the `ringtail txn` commands against a running node: a
// franz-go producer leaves a transaction open between two committed ones;
// list shows it Ongoing (and filters by state), describe shows its
// partition, find-hanging reports it once it is older than --max-age (and
// not before: the coordinator knows it), and abort by start offset writes
// the ABORT marker, after which the LSO reaches the high watermark and a
// read_committed consumer reads the committed records but never the
// aborted one. The producer can still end its transaction afterwards.
package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// rowWith is the first line of out whose fields start with prefix.
func rowWith(out string, prefix ...string) []string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(prefix) && strings.Join(f[:len(prefix)], " ") == strings.Join(prefix, " ") {
			return f
		}
	}
	return nil
}

func TestTxnCLIFindHangingAndAbort(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	const (
		topic = "txn-cli"
		hung  = "cli-hanging"
		other = "cli-committer"
	)
	n.CreateTopic(topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	committer := txnProducer(t, n, other)
	defer committer.Close()
	if err := txnWrite(ctx, committer, true, &kgo.Record{Topic: topic, Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	// The hanging transaction: begun, one record written, never ended (a
	// timeout far beyond the test).
	hanging := txnProducer(t, n, hung, kgo.TransactionTimeout(10*time.Minute))
	defer hanging.Close()
	if err := hanging.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	res, err := hanging.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("hung")}).First()
	if err != nil {
		t.Fatal(err)
	}
	start := strconv.FormatInt(res.Offset, 10)
	if err := txnWrite(ctx, committer, true, &kgo.Record{Topic: topic, Value: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	adm := n.Admin()
	defer adm.Close()
	if _, hw, lso := offsetsOf(t, adm, topic); lso != res.Offset || hw != res.Offset+3 {
		t.Fatalf("LSO %d, high watermark %d; want the LSO held at the open transaction's %d (then a record and its marker)", lso, hw, res.Offset)
	}

	list := runCLI(t, n, "", "txn", "list")
	row := rowWith(list, hung)
	if row == nil || row[len(row)-1] != "Ongoing" {
		t.Fatalf("txn list has no Ongoing %s:\n%s", hung, list)
	}
	pid := row[2]
	if out := runCLI(t, n, "", "txn", "list", "--state", "ongoing"); rowWith(out, hung) == nil || rowWith(out, other) != nil {
		t.Fatalf("txn list --state ongoing:\n%s", out)
	}
	if out := runCLI(t, n, "", "txn", "list", "--state", "CompleteCommit"); rowWith(out, other) == nil || rowWith(out, hung) != nil {
		t.Fatalf("txn list --state CompleteCommit:\n%s", out)
	}
	if out := runCLI(t, n, "", "txn", "list", "--producer-id", pid); rowWith(out, hung) == nil || rowWith(out, other) != nil {
		t.Fatalf("txn list --producer-id %s:\n%s", pid, out)
	}

	desc := runCLI(t, n, "", "txn", "describe", hung)
	if row := rowWith(desc, hung); row == nil || row[2] != pid || row[4] != "Ongoing" || row[len(row)-1] != topic+"[0]" {
		t.Fatalf("txn describe %s: want producer %s, Ongoing, partition %s[0]:\n%s", hung, pid, topic, desc)
	}
	if msg := runCLIFails(t, n, "txn", "describe", "cli-nobody"); !strings.Contains(msg, "TRANSACTIONAL_ID_NOT_FOUND") {
		t.Fatalf("describe of an unknown id: %s", msg)
	}

	// The coordinator knows the transaction: under the default --max-age
	// it is not hanging.
	if out := runCLI(t, n, "", "txn", "find-hanging", "--topic", topic); rowWith(out, topic) != nil {
		t.Fatalf("find-hanging under the default max age reports a transaction the coordinator tracks:\n%s", out)
	}
	var found []string
	testkit.WaitFor(t, time.Minute, "find-hanging --max-age 1s to report the open transaction", func() bool {
		out := runCLI(t, n, "", "txn", "find-hanging", "--topic", topic, "--max-age", "1s")
		found = rowWith(out, topic, "0", pid)
		return found != nil
	})
	// TOPIC PARTITION PRODUCER-ID PRODUCER-EPOCH COORDINATOR-EPOCH START-OFFSET AGE REASON
	if len(found) != 8 || found[5] != start || found[7] != "older-than-max-age" {
		t.Fatalf("find-hanging row %q: want start offset %s, reason older-than-max-age", found, start)
	}
	t.Logf("find-hanging: %s", strings.Join(found, " "))

	out := runCLI(t, n, "", "txn", "abort", "--topic", topic, "--partition", "0", "--start-offset", start)
	if !strings.Contains(out, "aborted the transaction of producer "+pid) {
		t.Fatalf("txn abort: %s", out)
	}
	testkit.WaitFor(t, time.Minute, "the LSO to reach the high watermark", func() bool {
		_, hw, lso := offsetsOf(t, adm, topic)
		return lso == hw
	})
	if got := readValues(t, n, topic, true, 2); strings.Join(got, ",") != "before,after" {
		t.Fatalf("read_committed after the abort: %v, want [before after]", got)
	}
	if out := runCLI(t, n, "", "txn", "find-hanging", "--topic", topic, "--max-age", "1s"); rowWith(out, topic) != nil {
		t.Fatalf("find-hanging after the abort:\n%s", out)
	}
	if msg := runCLIFails(t, n, "txn", "abort", "--topic", topic, "--partition", "0", "--start-offset", start); !strings.Contains(msg, "no open transaction starts at offset "+start) {
		t.Fatalf("a second abort: %s", msg)
	}

	// The coordinator was not told: the transaction is still Ongoing there
	// until its producer ends it, which still works.
	if out := runCLI(t, n, "", "txn", "list", "--state", "Ongoing"); rowWith(out, hung) == nil {
		t.Fatalf("the coordinator no longer lists the aborted transaction Ongoing:\n%s", out)
	}
	if err := hanging.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("ending the transaction after the manual abort: %v", err)
	}
	if out := runCLI(t, n, "", "txn", "list", "--state", "CompleteAbort"); rowWith(out, hung) == nil {
		t.Fatalf("txn list --state CompleteAbort after the producer's abort:\n%s", out)
	}
	if got := readValues(t, n, topic, true, 2); strings.Join(got, ",") != "before,after" {
		t.Fatalf("read_committed at the end: %v, want [before after]", got)
	}
}
