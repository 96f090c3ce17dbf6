package kafka

import (
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

// replicaLogs is the harness's Logs plus the replicas a daemon would list:
// the fakes only hold logs this node leads, so the test names the
// followers (and stale logs) itself.
type replicaLogs struct {
	Logs
	replicas []LocalReplica
}

func (r replicaLogs) LocalReplicas() []LocalReplica { return r.replicas }

// logDirsHarness is a harness whose data dir is a temp dir and whose
// DescribeLogDirs requests are answered (through the real connection code,
// after its version checks) by a server over replicaLogs with the
// replicas that set returns.
func logDirsHarness(t *testing.T) (h *harness, dataDir string, set func([]LocalReplica)) {
	dataDir = t.TempDir()
	var srv atomic.Pointer[Server]
	h = newHarness(t, func(c *Config) {
		c.Broker.LogDirs = []string{dataDir}
		c.Hooks = func(key int16, req kmsg.Request) (kmsg.Response, error, bool) {
			if key != 35 {
				return nil, nil, false
			}
			s := srv.Load()
			if s == nil {
				return nil, errors.New("no replicas set"), true
			}
			resp, err := handleDescribeLogDirs(s, nil, req.(*kmsg.DescribeLogDirsRequest))
			return resp, err, true
		}
	})
	set = func(rs []LocalReplica) {
		srv.Store(NewServer(Config{NodeID: 1, Broker: h.broker, Logger: h.srv.log}, h.ctrl, replicaLogs{Logs: h.logs, replicas: rs}))
	}
	set(nil)
	return h, dataDir, set
}

func topicID(t *testing.T, h *harness, name string) controlplane.UUID {
	t.Helper()
	tp := h.ctrl.Image().Topics[name]
	if tp == nil {
		t.Fatalf("topic %s not in the image", name)
	}
	return tp.ID
}

func TestDescribeLogDirsAllReplicas(t *testing.T) {
	h, dataDir, set := logDirsHarness(t)
	h.createTopic("a", 2, nil)
	h.createTopic("b", 1, nil)
	a, b := topicID(t, h, "a"), topicID(t, h, "b")
	set([]LocalReplica{
		{Topic: "b", TopicID: b, Partition: 0, Size: 7},
		{Topic: "a", TopicID: a, Partition: 1, Size: 2048}, // a follower: no leader log here
		{Topic: "a", TopicID: a, Partition: 0, Size: 1 << 40},
		{Topic: "gone", TopicID: controlplane.UUID{1}, Partition: 0, Size: 5}, // deleted topic's log
		{Topic: "b", TopicID: controlplane.UUID{2}, Partition: 1, Size: 5},    // an earlier "b"
	})
	all, err := h.admin().DescribeAllLogDirs(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs, ok := all[1]
	if !ok || len(all) != 1 || len(dirs) != 1 {
		t.Fatalf("want one broker with one dir, got %+v", all)
	}
	d, ok := dirs[dataDir]
	if !ok {
		t.Fatalf("dir %q not described: %+v", dataDir, dirs)
	}
	if d.Err != nil || d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
		t.Fatalf("dir: err %v, total %d, usable %d", d.Err, d.TotalBytes, d.UsableBytes)
	}
	want := map[string]map[int32]int64{"a": {0: 1 << 40, 1: 2048}, "b": {0: 7}}
	if len(d.Topics) != len(want) {
		t.Fatalf("topics %+v, want %v", d.Topics, want)
	}
	for topic, ps := range want {
		if len(d.Topics[topic]) != len(ps) {
			t.Fatalf("topic %s: %+v, want %v", topic, d.Topics[topic], ps)
		}
		for p, size := range ps {
			got, ok := d.Topics.Lookup(topic, p)
			if !ok || got.Size != size || got.OffsetLag != 0 || got.IsFuture {
				t.Errorf("%s/%d: %+v (found %v), want size %d", topic, p, got, ok, size)
			}
		}
	}
}

func TestDescribeLogDirsOnlyAskedPartitions(t *testing.T) {
	h, dataDir, set := logDirsHarness(t)
	h.createTopic("a", 3, nil)
	h.createTopic("b", 1, nil)
	a, b := topicID(t, h, "a"), topicID(t, h, "b")
	set([]LocalReplica{
		{Topic: "a", TopicID: a, Partition: 0, Size: 10},
		{Topic: "a", TopicID: a, Partition: 2, Size: 30},
		{Topic: "b", TopicID: b, Partition: 0, Size: 40},
	})
	// a/1 is not stored here, b is not asked for, "nope" does not exist.
	asked := kadm.TopicsSet{"a": {0: {}, 1: {}, 2: {}}, "nope": {0: {}}}
	dirs, err := h.admin().DescribeBrokerLogDirs(testCtx(t), 1, asked)
	if err != nil {
		t.Fatal(err)
	}
	d := dirs[dataDir]
	if d.Err != nil || len(d.Topics) != 1 || len(d.Topics["a"]) != 2 {
		t.Fatalf("want a/0 and a/2 only, got %+v", dirs)
	}
	if p, _ := d.Topics.Lookup("a", 2); p.Size != 30 {
		t.Errorf("a/2 size %d, want 30", p.Size)
	}

	// An empty (not null) list asks for nothing: the dir, no topics.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Version = 4
	req.Topics = []kmsg.DescribeLogDirsRequestTopic{}
	resp := h.dial().roundTrip(req, 1).(*kmsg.DescribeLogDirsResponse)
	if len(resp.Dirs) != 1 || resp.Dirs[0].Dir != dataDir || len(resp.Dirs[0].Topics) != 0 {
		t.Fatalf("empty topic list: %+v", resp.Dirs)
	}
}

// Every version 0-4 decodes; v4 carries the volume's sizes, older ones
// leave them at kmsg's default -1; v5 is not served.
func TestDescribeLogDirsVersions(t *testing.T) {
	h, dataDir, set := logDirsHarness(t)
	h.createTopic("v", 1, nil)
	set([]LocalReplica{{Topic: "v", TopicID: topicID(t, h, "v"), Partition: 0, Size: 99}})
	c := h.dial()
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		req.Version = v
		resp := c.roundTrip(req, int32(v)).(*kmsg.DescribeLogDirsResponse)
		if resp.ErrorCode != 0 || len(resp.Dirs) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		d := resp.Dirs[0]
		if d.ErrorCode != 0 || d.Dir != dataDir || len(d.Topics) != 1 || d.Topics[0].Topic != "v" ||
			len(d.Topics[0].Partitions) != 1 || d.Topics[0].Partitions[0].Size != 99 {
			t.Fatalf("v%d: dir %+v", v, d)
		}
		if v >= 4 && (d.TotalBytes <= 0 || d.UsableBytes < 0) || v < 4 && (d.TotalBytes != -1 || d.UsableBytes != -1) {
			t.Errorf("v%d: total %d usable %d", v, d.TotalBytes, d.UsableBytes)
		}
	}
	api, ok := apis[35]
	if !ok || api.min != 0 || api.max != 4 {
		t.Errorf("apis[35] = %+v, want versions 0-4", api)
	}
}

// Logs without LogDirs (the plain fakes) list no partitions; a data dir
// that cannot be statted is KAFKA_STORAGE_ERROR, as Kafka's offline dir;
// a relative data dir is reported absolute.
func TestDescribeLogDirsEdges(t *testing.T) {
	h := newHarness(t)
	h.createTopic("x", 1, nil)
	if _, ok := h.logs.get(model.TopicPartition{Topic: "x", Partition: 0}); !ok {
		t.Fatal("no fake log for x/0")
	}
	dir := t.TempDir()
	bc := config.Default()
	bc.LogDirs = []string{dir}
	plain := NewServer(Config{NodeID: 1, Broker: bc, Logger: slog.New(slog.DiscardHandler)}, h.ctrl, h.logs)
	resp, _ := handleDescribeLogDirs(plain, nil, kmsg.NewPtrDescribeLogDirsRequest())
	r := resp.(*kmsg.DescribeLogDirsResponse)
	if len(r.Dirs) != 1 || r.Dirs[0].Dir != dir || r.Dirs[0].ErrorCode != 0 || len(r.Dirs[0].Topics) != 0 {
		t.Fatalf("logs without LogDirs: %+v", r.Dirs)
	}

	bc.LogDirs = []string{filepath.Join(dir, "missing")}
	resp, _ = handleDescribeLogDirs(plain, nil, kmsg.NewPtrDescribeLogDirsRequest())
	r = resp.(*kmsg.DescribeLogDirsResponse)
	if len(r.Dirs) != 1 || r.Dirs[0].ErrorCode != kerr.KafkaStorageError.Code || len(r.Dirs[0].Topics) != 0 {
		t.Fatalf("missing dir: %+v", r.Dirs)
	}

	bc.LogDirs = []string{"."}
	resp, _ = handleDescribeLogDirs(plain, nil, kmsg.NewPtrDescribeLogDirsRequest())
	r = resp.(*kmsg.DescribeLogDirsResponse)
	if wd, _ := filepath.Abs("."); len(r.Dirs) != 1 || r.Dirs[0].Dir != wd {
		t.Fatalf("relative dir: %+v, want %s", r.Dirs, wd)
	}
}
