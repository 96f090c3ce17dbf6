// This file proves that kafkajs's transactional producer (npm kafkajs, run
// by node from testdata/kafkajs/txn.js) commits and aborts against
// Ringtail: transactions over three partitions with the group's offsets
// in them (txn.sendOffsets), read back with franz-go at read_committed and
// with kafkajs's own consumer (readUncommitted: false), and the group's
// committed offsets being those of the last committed transaction.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

const kafkajsVersion = "2.2.4" // as pinned in testdata/kafkajs/package-lock.json

var kafkajsInstall sync.Mutex

// kafkajsDir returns testdata/kafkajs with its node_modules installed from
// the committed lock file (npm ci) if they are missing or stale. Node and
// npm must be installed; their absence fails the test.
func kafkajsDir(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the kafkajs end-to-end test needs Node.js 14+ and npm (CI machines have Node 20)")
	}
	dir, err = filepath.Abs(filepath.Join("testdata", "kafkajs"))
	if err != nil {
		t.Fatal(err)
	}
	kafkajsInstall.Lock()
	defer kafkajsInstall.Unlock()
	if installedKafkajs(dir) == kafkajsVersion {
		return node, dir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is not installed and %s/node_modules lacks kafkajs %s: install Node.js with npm", dir, kafkajsVersion)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s (installing kafkajs from the npm registry): %v\n%s", dir, err, out)
	}
	if v := installedKafkajs(dir); v != kafkajsVersion {
		t.Fatalf("npm ci in %s installed kafkajs %q, want %s", dir, v, kafkajsVersion)
	}
	return node, dir
}

// installedKafkajs is the version in dir's node_modules, or "".
func installedKafkajs(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "kafkajs", "package.json"))
	if err != nil {
		return ""
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &pkg) != nil {
		return ""
	}
	return pkg.Version
}

// kafkajsPlan: 'c' commits with the group's offsets, 'a' aborts with them,
// 'C' commits without offsets. The aborts after the last 'c' must leave
// the group's offsets as that 'c' set them; the final commit lets readers
// know when they are done.
const kafkajsPlan = "cacCcaaC"

func TestTxnKafkajs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	node, dir := kafkajsDir(t)
	n := testkit.StartNode(t, testkit.Options{})
	const (
		topic = "kafkajs-txn"
		in    = "kafkajs-txn-in"
		group = "kafkajs-txn-group"
	)
	n.CreateTopic(topic, 3, nil)
	n.CreateTopic(in, 3, nil)
	// The input topic the offsets refer to holds records past them.
	src := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for p := int32(0); p < 3; p++ {
		for i := 0; i < 2*len(kafkajsPlan)+3; i++ {
			if err := src.ProduceSync(ctx, &kgo.Record{Topic: in, Partition: p, Value: []byte("in-" + strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// What the script should leave behind.
	committed := map[int32][]string{}
	all := map[int32][]string{}
	want := 0
	wantOffsets := map[string]map[int32]int64{}
	for i, c := range kafkajsPlan {
		for p := int32(0); p < 3; p++ {
			for k := 0; k < 2; k++ {
				v := fmt.Sprintf("kjs-t%02d-p%d-%d-%c", i, p, k, c)
				all[p] = append(all[p], v)
				if c != 'a' {
					committed[p] = append(committed[p], v)
					want++
				}
			}
		}
		if c == 'c' {
			wantOffsets[in] = map[int32]int64{}
			for p := int32(0); p < 3; p++ {
				wantOffsets[in][p] = int64(2*(i+1)) + int64(p)
			}
		}
	}

	runCtx, runCancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer runCancel()
	cmd := exec.CommandContext(runCtx, node, filepath.Join(dir, "txn.js"), n.Addr(), topic, in, group, "kafkajs-txn-1", kafkajsPlan)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node txn.js: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("txn.js stderr (kafkajs's log of retried errors):\n%s", s)
	}

	// The script's report: each transaction's end, then what its consumer read.
	var ends []string
	var consumed map[string][]string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Txn      *int                `json:"txn"`
			End      string              `json:"end"`
			Consumed map[string][]string `json:"consumed"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("txn.js wrote %q: %v", sc.Text(), err)
		}
		switch {
		case line.Txn != nil:
			if *line.Txn != len(ends) {
				t.Fatalf("txn.js reported transaction %d after %d", *line.Txn, len(ends))
			}
			ends = append(ends, line.End)
		case line.Consumed != nil:
			consumed = line.Consumed
		}
	}
	if len(ends) != len(kafkajsPlan) {
		t.Fatalf("txn.js ended %d transactions, want %d:\n%s", len(ends), len(kafkajsPlan), stdout.String())
	}
	for i, c := range kafkajsPlan {
		if wantEnd := map[bool]string{true: "abort", false: "commit"}[c == 'a']; ends[i] != wantEnd {
			t.Fatalf("transaction %d ended with %s, want %s", i, ends[i], wantEnd)
		}
	}
	if consumed == nil {
		t.Fatalf("txn.js reported no consumed records:\n%s", stdout.String())
	}

	// kafkajs's read_committed consumer read exactly the committed records.
	for p := int32(0); p < 3; p++ {
		if got := consumed[strconv.Itoa(int(p))]; !reflect.DeepEqual(got, committed[p]) {
			t.Errorf("partition %d, kafkajs readUncommitted=false:\n got %q\nwant %q", p, got, committed[p])
		}
	}
	// franz-go read_committed agrees; read_uncommitted sees every record.
	got := readCommittedPerPartition(t, n, topic, want)
	for p := int32(0); p < 3; p++ {
		if !reflect.DeepEqual(got[p], committed[p]) {
			t.Errorf("partition %d, franz-go read_committed:\n got %q\nwant %q", p, got[p], committed[p])
		}
	}
	gotAll := readValues(t, n, topic, false, 6*len(kafkajsPlan))
	var wantAll []string
	for p := int32(0); p < 3; p++ {
		wantAll = append(wantAll, all[p]...)
	}
	if !sameSet(gotAll, wantAll) {
		t.Errorf("read_uncommitted:\n got %q\nwant %q", gotAll, wantAll)
	}

	// The group's offsets are the last committed transaction's; the
	// aborted ones after it changed nothing.
	adm := n.Admin()
	defer adm.Close()
	if gotOffsets := stableGroupOffsets(t, adm, group); !reflect.DeepEqual(gotOffsets, wantOffsets) {
		t.Errorf("group %s offsets %v, want %v", group, gotOffsets, wantOffsets)
	}
}

// sameSet reports whether a and b hold the same values, each once.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int, len(a))
	for _, v := range a {
		seen[v]++
	}
	for _, v := range b {
		if seen[v] != 1 {
			return false
		}
		seen[v]--
	}
	return true
}
