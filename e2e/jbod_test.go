package e2e

// These tests prove several log.dirs (JBOD) on the real binary with
// franz-go: new partitions spread over the dirs and come back from each
// after a restart; an I/O error (EIO, injected by the
// RINGTAIL_TEST_EIO_FILE hook) takes its log dir offline: the dir's
// partitions answer KAFKA_STORAGE_ERROR to produce and fetch while the
// other dir's keep serving, DescribeLogDirs, Metadata and the metrics say
// so; a dir failing at start leaves the broker up with that dir offline
// and its partitions not re-created empty; with the disk back, a restart
// brings every acknowledged record back, in order.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// jbodOptions are options for a node with two log dirs; the data dir is
// the first.
func jbodOptions() testkit.Options { return testkit.Options{ExtraLogDirs: 1} }

// logDirs is the node's two log dirs.
func logDirs(t *testing.T, n *testkit.Node) [2]string {
	t.Helper()
	if len(n.LogDirs) != 2 {
		t.Fatalf("node has log dirs %v, want two", n.LogDirs)
	}
	return [2]string{n.LogDirs[0], n.LogDirs[1]}
}

// partitionsIn lists the partitions of topic whose logs are in dir.
func partitionsIn(t *testing.T, dir, topic string) []int32 {
	t.Helper()
	ms, err := filepath.Glob(filepath.Join(dir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	for _, m := range ms {
		var p int32
		if _, err := fmt.Sscanf(strings.TrimPrefix(filepath.Base(m), topic+"-"), "%d", &p); err == nil && !strings.Contains(filepath.Base(m), ".") {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// produceToPart sends count records valued "<prefix>-<i>", i from from,
// to partition p, one at a time, and returns them as acknowledged.
func produceToPart(t *testing.T, cl *kgo.Client, topic string, p int32, prefix string, from, count int) []acked {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []acked
	for i := from; i < from+count; i++ {
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s/%d #%d: %v", topic, p, i, err)
		}
		out = append(out, acked{r.Partition, r.Offset, string(r.Value)})
	}
	return out
}

// rawProduceCode sends one record to topic/p with a raw Produce and
// returns the partition's error code.
func rawProduceCode(t *testing.T, cl *kgo.Client, topic string, p int32) int16 {
	t.Helper()
	return rawProduce(t, cl, topic, p, recordBatch([]string{"refused-0"}))
}

func TestJBODSpreadAndRestart(t *testing.T) {
	t.Parallel()
	n := startNode(t, jbodOptions())
	dirs := logDirs(t, n)
	n.CreateTopic("spread", 6, nil)
	in0, in1 := partitionsIn(t, dirs[0], "spread"), partitionsIn(t, dirs[1], "spread")
	if len(in0) == 0 || len(in1) == 0 || len(in0)+len(in1) != 6 {
		t.Fatalf("partitions of spread: %v in %s, %v in %s; want all 6, spread over both", in0, dirs[0], in1, dirs[1])
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "meta.properties")); err != nil {
			t.Errorf("no meta.properties in log dir %s: %v", d, err)
		}
	}
	cl := producer(t, n.Addr())
	var ack []acked
	for p := int32(0); p < 6; p++ {
		ack = append(ack, produceToPart(t, cl, "spread", p, fmt.Sprintf("p%d", p), 0, 10)...)
	}

	n.Restart()
	if got0, got1 := partitionsIn(t, dirs[0], "spread"), partitionsIn(t, dirs[1], "spread"); fmt.Sprint(got0, got1) != fmt.Sprint(in0, in1) {
		t.Fatalf("after restart: %v and %v, before %v and %v", got0, got1, in0, in1)
	}
	verifyExactlyOnce(t, ack, consumeAll(t, n.Addr(), "spread", len(ack), 30*time.Second))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, err := n.Admin().DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs {
		ld, ok := all[1][d]
		if !ok || ld.Err != nil {
			t.Fatalf("DescribeLogDirs: dir %s: listed %v, err %v (%+v)", d, ok, ld.Err, all)
		}
		want := []int32{}
		if i == 0 {
			want = append(want, in0...)
		} else {
			want = append(want, in1...)
		}
		var got []int32
		for p := range ld.Topics["spread"] {
			got = append(got, p)
		}
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("DescribeLogDirs: %s lists spread partitions %v, want %v", d, got, want)
		}
	}
}

func TestJBODDiskErrorTakesDirOffline(t *testing.T) {
	t.Parallel()
	o := jbodOptions()
	ctl := filepath.Join(t.TempDir(), "eio-dirs")
	if err := os.WriteFile(ctl, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o.Env = []string{"RINGTAIL_TEST_EIO_FILE=" + ctl}
	o, adminAddr := withAdmin(t, o)
	n := startNode(t, o)
	dirs := logDirs(t, n)
	n.CreateTopic("eio", 4, nil)
	on, off := partitionsIn(t, dirs[0], "eio"), partitionsIn(t, dirs[1], "eio")
	if len(on) == 0 || len(off) == 0 {
		t.Fatalf("partitions of eio: %v in %s, %v in %s; want some in each", on, dirs[0], off, dirs[1])
	}
	cl := producer(t, n.Addr())
	var ack []acked
	for p := int32(0); p < 4; p++ {
		ack = append(ack, produceToPart(t, cl, "eio", p, fmt.Sprintf("p%d", p), 0, 10)...)
	}

	// The second dir's disk fails: the next produce there finds it.
	if err := os.WriteFile(ctl, []byte(dirs[1]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, n.Addr())
	if code := rawProduceCode(t, raw, "eio", off[0]); code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to eio/%d on the failed dir: %v, want KAFKA_STORAGE_ERROR", off[0], kerr.ErrorForCode(code))
	}
	for _, p := range off {
		if code := rawProduceCode(t, raw, "eio", p); code != kerr.KafkaStorageError.Code {
			t.Errorf("produce to eio/%d on the offline dir: %v, want KAFKA_STORAGE_ERROR", p, kerr.ErrorForCode(code))
		}
		if f := rawFetch(t, raw, "eio", p, 0, 1<<20); f.ErrorCode != kerr.KafkaStorageError.Code {
			t.Errorf("fetch eio/%d on the offline dir: %v, want KAFKA_STORAGE_ERROR", p, kerr.ErrorForCode(f.ErrorCode))
		}
	}
	// The first dir keeps serving.
	for _, p := range on {
		ack = append(ack, produceToPart(t, cl, "eio", p, fmt.Sprintf("p%d", p), 10, 5)...)
		if f := rawFetch(t, raw, "eio", p, 0, 1<<20); f.ErrorCode != 0 || len(f.RecordBatches) == 0 {
			t.Errorf("fetch eio/%d on the online dir: %v, %d bytes", p, kerr.ErrorForCode(f.ErrorCode), len(f.RecordBatches))
		}
	}
	checkOffline(t, n, adminAddr, dirs, off, 1)
	if log := n.Log(); !strings.Contains(log, "log dir offline after an I/O error") || !strings.Contains(log, dirs[1]) {
		t.Errorf("no ERROR line naming the offline dir %s in the log", dirs[1])
	}

	// Restarted with the disk still failing: the broker starts with the
	// dir offline and does not create its partitions empty elsewhere.
	n.Restart()
	if got := partitionsIn(t, dirs[0], "eio"); fmt.Sprint(got) != fmt.Sprint(on) {
		t.Fatalf("restarted with %s failing: %s holds eio partitions %v, want only %v (none re-created)", dirs[1], dirs[0], got, on)
	}
	if code := rawProduceCode(t, rawClient(t, n.Addr()), "eio", off[0]); code != kerr.KafkaStorageError.Code {
		t.Errorf("produce to eio/%d after a start with its dir failing: %v, want KAFKA_STORAGE_ERROR", off[0], kerr.ErrorForCode(code))
	}
	checkOffline(t, n, adminAddr, dirs, off, 1)

	// The disk back: every acknowledged record is there, in order.
	if err := os.WriteFile(ctl, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n.Restart()
	checkOffline(t, n, adminAddr, dirs, nil, 0)
	verifyExactlyOnce(t, ack, consumeAll(t, n.Addr(), "eio", len(ack), 30*time.Second))
}

// checkOffline checks DescribeLogDirs, the metrics and Metadata with
// offline dirs (0: none; 1: dirs[1], holding the eio partitions off).
func checkOffline(t *testing.T, n *testkit.Node, adminAddr string, dirs [2]string, off []int32, offline int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, err := n.Admin().DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	d0, d1 := all[1][dirs[0]], all[1][dirs[1]]
	if d0.Err != nil || len(d0.Topics["eio"]) == 0 {
		t.Errorf("DescribeLogDirs: online dir %s: err %v, eio partitions %v", dirs[0], d0.Err, d0.Topics["eio"])
	}
	if offline == 1 && d1.Err != kerr.KafkaStorageError {
		t.Errorf("DescribeLogDirs: offline dir %s: err %v, want KAFKA_STORAGE_ERROR", dirs[1], d1.Err)
	}
	if offline == 0 && (d1.Err != nil || len(d1.Topics["eio"]) == 0) {
		t.Errorf("DescribeLogDirs: dir %s back: err %v, eio partitions %v", dirs[1], d1.Err, d1.Topics["eio"])
	}
	fams := scrape(t, adminAddr)
	if got := metricSum(fams, "ringtail_log_dirs_offline", nil); got != float64(offline) {
		t.Errorf("ringtail_log_dirs_offline = %v, want %d", got, offline)
	}
	if got := metricSum(fams, "ringtail_log_dir_offline", map[string]string{"dir": dirs[1]}); got != float64(offline) {
		t.Errorf("ringtail_log_dir_offline{dir=%s} = %v, want %d", dirs[1], got, offline)
	}
	md, err := n.Admin().Metadata(ctx, "eio")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range off {
		if pd := md.Topics["eio"].Partitions[p]; fmt.Sprint(pd.OfflineReplicas) != "[1]" {
			t.Errorf("Metadata: eio/%d offline replicas %v, want [1]", p, pd.OfflineReplicas)
		}
	}
}
