package kafka

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// dirLogs is replicaLogs with several log dirs, some offline, and the
// partitions on the offline ones.
type dirLogs struct {
	replicaLogs
	dirs []LocalDir
	off  map[model.TopicPartition]bool
}

func (d dirLogs) LocalDirs() []LocalDir                { return d.dirs }
func (d dirLogs) Offline(tp model.TopicPartition) bool { return d.off[tp] }

// TestDescribeLogDirsSeveralDirs proves that each log dir is described
// with its own replicas, and an offline one with KAFKA_STORAGE_ERROR.
func TestDescribeLogDirsSeveralDirs(t *testing.T) {
	d0, d1, d2 := t.TempDir(), t.TempDir(), t.TempDir()
	var srv atomic.Pointer[Server]
	h := newHarness(t, func(c *Config) {
		c.Broker.LogDirs = []string{d0, d1, d2}
		c.Hooks = func(key int16, req kmsg.Request) (kmsg.Response, error, bool) {
			if key != 35 {
				return nil, nil, false
			}
			resp, err := handleDescribeLogDirs(srv.Load(), nil, req.(*kmsg.DescribeLogDirsRequest))
			return resp, err, true
		}
	})
	h.createTopic("a", 3, nil)
	id := topicID(t, h, "a")
	logs := dirLogs{
		replicaLogs: replicaLogs{Logs: h.logs, replicas: []LocalReplica{
			{Dir: d0, Topic: "a", TopicID: id, Partition: 0, Size: 10},
			{Dir: d1, Topic: "a", TopicID: id, Partition: 1, Size: 11},
		}},
		dirs: []LocalDir{{Path: d0}, {Path: d1}, {Path: d2, Offline: true}},
		off:  map[model.TopicPartition]bool{{Topic: "a", Partition: 2}: true},
	}
	s := NewServer(Config{NodeID: 1, Broker: h.broker, Logger: h.srv.log}, h.ctrl, logs)
	srv.Store(s)
	all, err := h.admin().DescribeAllLogDirs(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[1]
	if len(dirs) != 3 {
		t.Fatalf("want three dirs, got %+v", dirs)
	}
	for i, d := range []string{d0, d1} {
		got := dirs[d]
		if got.Err != nil || len(got.Topics["a"]) != 1 {
			t.Fatalf("dir %s: err %v, topics %+v", d, got.Err, got.Topics)
		}
		if p, ok := got.Topics.Lookup("a", int32(i)); !ok || p.Size != int64(10+i) {
			t.Errorf("dir %s: a/%d %+v (found %v)", d, i, p, ok)
		}
	}
	if got := dirs[d2]; got.Err != kerr.KafkaStorageError || len(got.Topics) != 0 {
		t.Errorf("offline dir %s: err %v, topics %+v; want KAFKA_STORAGE_ERROR and none", d2, got.Err, got.Topics)
	}

	// A data request for the partition on the offline dir is answered
	// KAFKA_STORAGE_ERROR at once; the others are served.
	im := h.ctrl.Image()
	_, _, err = s.localPartition(im, topicRef{name: "a"}, 2)
	if !errors.Is(err, model.ErrStorage) || errorCode(h.srv.log, err) != kerr.KafkaStorageError.Code {
		t.Errorf("lookup of a/2 on the offline dir: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if _, _, err := s.localPartition(im, topicRef{name: "a"}, 0); errors.Is(err, model.ErrStorage) {
		t.Errorf("lookup of a/0 on an online dir: %v", err)
	}
	if !s.awaitLeading(testCtx(t), []string{"a"}) {
		t.Error("awaitLeading waits for a partition on an offline dir")
	}
}
