package e2e

// This test proves AlterReplicaLogDirs (key 34) on the real binary with
// kadm: a node has one log dir, so a move to it is a no-op success and a
// move anywhere else is LOG_DIR_NOT_FOUND, and the replica stays where
// DescribeLogDirs says it is. It also pages a DescribeTopicPartitions
// (key 75) through the same node with franz-go.

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func TestAlterReplicaLogDirsOneDir(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	n.CreateTopic("dirs", 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := filepath.Abs(n.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	adm := n.Admin()
	req := kadm.AlterReplicaLogDirsReq{}
	req.Add(dir, kadm.TopicsSet{"dirs": {0: {}, 1: {}}})
	req.Add("/no/such/dir", kadm.TopicsSet{"dirs": {2: {}}})
	res, err := adm.AlterAllReplicaLogDirs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]error{0: nil, 1: nil, 2: kerr.LogDirNotFound}
	got := 0
	res.Each(func(r kadm.AlterReplicaLogDirsResponse) {
		got++
		if r.Topic != "dirs" || r.Err != want[r.Partition] {
			t.Errorf("%s-%d: %v, want %v", r.Topic, r.Partition, r.Err, want[r.Partition])
		}
	})
	if got != 3 {
		t.Fatalf("%d results, want 3", got)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := dirs[1][dir]
	if !ok || len(d.Topics["dirs"]) != 3 {
		t.Fatalf("DescribeLogDirs after the moves: %+v, want dirs' 3 partitions in %s", dirs, dir)
	}

	// DescribeTopicPartitions in pages of 2 partitions.
	cl := n.Client()
	var parts []int32
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for range 5 {
		r := kmsg.NewPtrDescribeTopicPartitionsRequest()
		r.Topics = []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: "dirs"}}
		r.ResponsePartitionLimit, r.Cursor = 2, cursor
		resp, err := r.RequestWith(ctx, cl)
		if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("DescribeTopicPartitions: %v %+v", err, resp)
		}
		for _, p := range resp.Topics[0].Partitions {
			parts = append(parts, p.Partition)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	if len(parts) != 3 || parts[0] != 0 || parts[1] != 1 || parts[2] != 2 {
		t.Fatalf("paged partitions %v, want [0 1 2]", parts)
	}
}
