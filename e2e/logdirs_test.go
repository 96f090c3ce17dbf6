package e2e

// These tests prove DescribeLogDirs (API key 35) on the real binary with
// franz-go's kadm: each partition's size on disk is at least what was
// produced into it, the log dir is the node's data dir with its volume's
// sizes, followers list their replicas too, and `ringtail topic describe`
// shows the sizes.

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// produceBytes sends count random (incompressible) values of size bytes
// to partition p of topic, uncompressed, acks=all, and returns the value
// bytes acknowledged.
func produceBytes(t *testing.T, cl *kgo.Client, topic string, p int32, count, size int) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var total int64
	for i := 0; i < count; i++ {
		v := make([]byte, size)
		rand.Read(v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: v}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		total += int64(size)
	}
	return total
}

func producer(t *testing.T, seeds ...string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// describedSize parses the Size column of partition p in topic describe's
// output ("Size: 65.3 KiB") into bytes, rounded as printed.
func describedSize(t *testing.T, desc string, p int32) float64 {
	t.Helper()
	re := regexp.MustCompile(`\tPartition: ` + strconv.Itoa(int(p)) + `\t.*\tSize: ([0-9.]+) (B|KiB|MiB|GiB)\n`)
	m := re.FindStringSubmatch(desc)
	if m == nil {
		t.Fatalf("topic describe shows no size for partition %d:\n%s", p, desc)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return f * map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[2]]
}

func TestLogDirsPartitionSizes(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	n.CreateTopic("sized", 2, nil)
	produced := produceBytes(t, producer(t, n.Addr()), "sized", 0, 64, 1024)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := n.Admin()
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dataDir, err := filepath.Abs(n.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[1]
	d, ok := dirs[dataDir]
	if len(all) != 1 || len(dirs) != 1 || !ok {
		t.Fatalf("want broker 1 with one dir %s, got %+v", dataDir, all)
	}
	if d.Err != nil || d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Fatalf("dir %s: err %v, total %d, usable %d", d.Dir, d.Err, d.TotalBytes, d.UsableBytes)
	}
	p0, ok0 := d.Topics.Lookup("sized", 0)
	p1, ok1 := d.Topics.Lookup("sized", 1)
	if !ok0 || !ok1 {
		t.Fatalf("sized/0 or sized/1 not listed: %+v", d.Topics)
	}
	if p0.Size < produced || p0.Size > 2*produced {
		t.Fatalf("sized/0 is %d bytes on disk; %d value bytes were produced", p0.Size, produced)
	}
	if p1.Size != 0 || p0.OffsetLag != 0 || p0.IsFuture {
		t.Fatalf("sized/1 %+v (nothing produced), sized/0 %+v", p1, p0)
	}
	if _, ok := d.Topics["__consumer_offsets"]; !ok {
		t.Errorf("null topics should list every partition, __consumer_offsets missing: %v", d.Topics)
	}
	t.Logf("sized/0: %d bytes on disk for %d produced; volume %d bytes, %d usable", p0.Size, produced, d.TotalBytes, d.UsableBytes)

	// Asking for partitions: only those stored here come back.
	some, err := adm.DescribeBrokerLogDirs(ctx, 1, kadm.TopicsSet{"sized": {0: {}, 7: {}}, "no-such-topic": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if sd := some[dataDir]; len(sd.Topics) != 1 || len(sd.Topics["sized"]) != 1 || sd.Topics["sized"][0].Size != p0.Size {
		t.Fatalf("asked for sized/0, sized/7, no-such-topic/0: %+v", some)
	}

	desc := runCLI(t, n, "", "topic", "describe", "sized")
	if got := describedSize(t, desc, 0); got < float64(p0.Size)*0.99 || got > float64(p0.Size)*1.01 {
		t.Fatalf("topic describe shows %.0f bytes for sized/0, DescribeLogDirs %d:\n%s", got, p0.Size, desc)
	}
	if !strings.Contains(desc, "\tPartition: 1\t") || describedSize(t, desc, 1) != 0 {
		t.Fatalf("topic describe: sized/1 should be 0 B:\n%s", desc)
	}
	t.Log(desc)
}

// Every broker lists the replicas it stores, followers included.
func TestLogDirsListFollowers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := testkit.StartCluster(t, 3, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := c.Admin()
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "mirrored"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	testkit.WaitFor(t, 20*time.Second, "the partition to take writes", func() bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(3))
		if err != nil {
			return false
		}
		defer cl.Close()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "mirrored", Value: []byte("first")}).FirstErr() == nil
	})
	produced := produceBytes(t, producer(t, c.Addrs()...), "mirrored", 0, 32, 1024)

	set := kadm.TopicsSet{"mirrored": {0: {}}}
	var all kadm.DescribedAllLogDirs
	testkit.WaitFor(t, 20*time.Second, "every replica to hold what was produced", func() bool {
		var err error
		all, err = adm.DescribeAllLogDirs(ctx, set)
		if err != nil || len(all) != 3 {
			return false
		}
		for _, dirs := range all {
			p, ok := dirs.LookupPartition("mirrored", 0)
			if !ok || p.Size < produced {
				return false
			}
		}
		return true
	})
	for id, dirs := range all {
		n := c.Node(id)
		dataDir, _ := filepath.Abs(n.DataDir)
		p, _ := dirs.LookupPartition("mirrored", 0)
		if p.Dir != dataDir {
			t.Errorf("broker %d lists its replica in %s, want its data dir %s", id, p.Dir, dataDir)
		}
		t.Logf("broker %d: mirrored/0 %d bytes", id, p.Size)
	}
	desc := runCLI(t, c.Node(1), "", "topic", "describe", "mirrored")
	if got := describedSize(t, desc, 0); got < float64(produced)*0.99 {
		t.Fatalf("topic describe shows %.0f bytes, %d produced:\n%s", got, produced, desc)
	}
}
