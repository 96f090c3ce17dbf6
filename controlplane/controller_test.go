// These tests prove that metadata commands validate like Kafka, that every
// change is durable in the metadata log and replays into the same image, and
// that a torn tail of the log is cut off on open.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ringtail/ringtail/model"
)

func openTest(t *testing.T, dir string) *Controller {
	t.Helper()
	c, err := Open(Config{
		Dir: dir, NodeID: 1, ClusterID: "test-cluster",
		Endpoints:         []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}},
		DefaultPartitions: 3, DefaultReplicationFactor: 1,
		ValidateTopicConfig: func(k, v string) error {
			if k != "retention.ms" {
				return model.ErrInvalidConfig
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCreateTopicsValidation(t *testing.T) {
	c := openTest(t, t.TempDir())
	ctx := context.Background()
	cases := []struct {
		in   CreateTopic
		want error
	}{
		{CreateTopic{Name: "ok", NumPartitions: -1, ReplicationFactor: -1}, nil},
		{CreateTopic{Name: "ok", NumPartitions: 1, ReplicationFactor: 1}, model.ErrTopicAlreadyExists},
		{CreateTopic{Name: "bad name", NumPartitions: 1, ReplicationFactor: 1}, model.ErrInvalidTopic},
		{CreateTopic{Name: "", NumPartitions: 1, ReplicationFactor: 1}, model.ErrInvalidTopic},
		{CreateTopic{Name: "..", NumPartitions: 1, ReplicationFactor: 1}, model.ErrInvalidTopic},
		{CreateTopic{Name: "zero", NumPartitions: 0, ReplicationFactor: 1}, model.ErrInvalidPartitions},
		{CreateTopic{Name: "rf", NumPartitions: 1, ReplicationFactor: 2}, model.ErrInvalidReplicationFactor},
		{CreateTopic{Name: "cfg", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"nope": "1"}}, model.ErrInvalidConfig},
		{CreateTopic{Name: "a.b", NumPartitions: 1, ReplicationFactor: 1}, nil},
		{CreateTopic{Name: "a_b", NumPartitions: 1, ReplicationFactor: 1}, model.ErrInvalidTopic},
		{CreateTopic{Name: "asg", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{7}}}, model.ErrInvalidReplicaAssignment},
	}
	for _, tc := range cases {
		res := c.CreateTopics(ctx, []CreateTopic{tc.in}, false)
		if !errors.Is(res[0].Err, tc.want) && !(tc.want == nil && res[0].Err == nil) {
			t.Errorf("create %q: got %v, want %v", tc.in.Name, res[0].Err, tc.want)
		}
	}
	if got := len(c.Image().Topics["ok"].Partitions); got != 3 {
		t.Fatalf("default partitions: got %d, want 3", got)
	}
	res := c.CreateTopics(ctx, []CreateTopic{{Name: "dry", NumPartitions: 2, ReplicationFactor: 1}}, true)
	if res[0].Err != nil || res[0].NumPartitions != 2 {
		t.Fatalf("validate only: %+v", res[0])
	}
	if _, ok := c.Image().Topics["dry"]; ok {
		t.Fatal("validate_only created the topic")
	}
}

func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := openTest(t, dir)
	if r := c.CreateTopics(ctx, []CreateTopic{{Name: "t1", NumPartitions: 2, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "1000"}}}, false); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if err := c.CreatePartitions(ctx, "t1", 5, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePartitions(ctx, "t1", 4, nil, false); !errors.Is(err, model.ErrInvalidPartitions) {
		t.Fatalf("shrinking partitions: %v", err)
	}
	v := "2000"
	if err := c.AlterTopicConfigs(ctx, "t1", []ConfigOp{{Key: "retention.ms", Value: &v}}, true, false); err != nil {
		t.Fatal(err)
	}
	c.CreateTopics(ctx, []CreateTopic{{Name: "gone", NumPartitions: 1, ReplicationFactor: 1}}, false)
	if errs := c.DeleteTopics(ctx, []string{"gone", "never"}); errs[0] != nil || !errors.Is(errs[1], model.ErrUnknownTopicOrPartition) {
		t.Fatalf("delete: %v", errs)
	}
	pid1, err := c.AllocateProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Image()
	c.Close()

	c2 := openTest(t, dir)
	im := c2.Image()
	if im.Offset != before.Offset {
		t.Fatalf("replayed to %d, want %d", im.Offset, before.Offset)
	}
	top := im.Topics["t1"]
	if top == nil || len(top.Partitions) != 5 || top.Configs["retention.ms"] != "2000" || top.ID != before.Topics["t1"].ID {
		t.Fatalf("replayed topic: %+v", top)
	}
	if _, ok := im.Topics["gone"]; ok {
		t.Fatal("deleted topic came back")
	}
	pid2, err := c2.AllocateProducerID(ctx)
	if err != nil || pid2 <= pid1 {
		t.Fatalf("producer id after restart %d (first was %d): %v", pid2, pid1, err)
	}
}

func TestTornTailTruncated(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, dir)
	c.CreateTopics(context.Background(), []CreateTopic{{Name: "keep", NumPartitions: 1, ReplicationFactor: 1}}, false)
	want := c.Image().Offset
	c.Close()
	path := filepath.Join(dir, metadataDirName, metadataLogName)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 0, 40, 1, 2, 3, 4, '{', '"'}) // half a frame
	f.Close()
	c2 := openTest(t, dir)
	if c2.Image().Offset != want || c2.Image().Topics["keep"] == nil {
		t.Fatalf("after torn tail: offset %d want %d", c2.Image().Offset, want)
	}
	// The log keeps working after the truncation.
	if r := c2.CreateTopics(context.Background(), []CreateTopic{{Name: "more", NumPartitions: 1, ReplicationFactor: 1}}, false); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
}

func TestSubscribersSeeEveryChange(t *testing.T) {
	c := openTest(t, t.TempDir())
	var seen []int64
	c.Subscribe(func(old, n *Image) { seen = append(seen, n.Offset) })
	c.CreateTopics(context.Background(), []CreateTopic{{Name: "x", NumPartitions: 2, ReplicationFactor: 1}}, false)
	if len(seen) != 1 || seen[0] != c.Image().Offset {
		t.Fatalf("subscriber saw %v, image at %d", seen, c.Image().Offset)
	}
}

func TestCheckLocalReplicasRefusesBeforeCommit(t *testing.T) {
	var asked []int
	c, err := Open(Config{
		Dir: t.TempDir(), NodeID: 1, ClusterID: "test-cluster",
		Endpoints:         []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}},
		DefaultPartitions: 3, DefaultReplicationFactor: 1,
		ValidateTopicConfig: func(k, v string) error { return nil },
		CheckLocalReplicas: func(added int) error {
			asked = append(asked, added)
			if added > 100 {
				return fmt.Errorf("%w: %d is too many", model.ErrPolicyViolation, added)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	res := c.CreateTopics(ctx, []CreateTopic{{Name: "big", NumPartitions: 101, ReplicationFactor: 1}}, false)
	if !errors.Is(res[0].Err, model.ErrPolicyViolation) {
		t.Fatalf("CreateTopics over the local limit: %v, want ErrPolicyViolation", res[0].Err)
	}
	if _, ok := c.Image().Topics["big"]; ok {
		t.Fatal("a refused topic is in the image")
	}
	if res := c.CreateTopics(ctx, []CreateTopic{{Name: "small", NumPartitions: 60, ReplicationFactor: 1}}, false); res[0].Err != nil {
		t.Fatalf("CreateTopics within the limit: %v", res[0].Err)
	}
	if err := c.CreatePartitions(ctx, "small", 170, nil, false); !errors.Is(err, model.ErrPolicyViolation) {
		t.Fatalf("CreatePartitions adding 110: %v, want ErrPolicyViolation", err)
	}
	if got := len(c.Image().Topics["small"].Partitions); got != 60 {
		t.Fatalf("small has %d partitions after a refused CreatePartitions", got)
	}
	if want := []int{101, 60, 110}; fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Fatalf("CheckLocalReplicas asked %v, want %v", asked, want)
	}
}

// ValidateTopicConfigs sees a topic's whole set of overrides, at create and
// at alter (after the ops apply), and refuses what it refuses.
func TestValidateTopicConfigsAcrossKeys(t *testing.T) {
	var seen []map[string]string
	c, err := Open(Config{
		Dir: t.TempDir(), NodeID: 1, ClusterID: "test-cluster",
		Endpoints:         []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}},
		DefaultPartitions: 1, DefaultReplicationFactor: 1,
		ValidateTopicConfigs: func(m map[string]string) error {
			seen = append(seen, m)
			if m["min"] != "" && m["max"] != "" && m["min"] > m["max"] {
				return fmt.Errorf("%w: min above max", model.ErrInvalidConfig)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	res := c.CreateTopics(ctx, []CreateTopic{{Name: "bad", NumPartitions: -1, ReplicationFactor: -1, Configs: map[string]string{"min": "5", "max": "3"}}}, false)
	if !errors.Is(res[0].Err, model.ErrInvalidConfig) {
		t.Fatalf("create with min above max: %v", res[0].Err)
	}
	res = c.CreateTopics(ctx, []CreateTopic{{Name: "ok", NumPartitions: -1, ReplicationFactor: -1, Configs: map[string]string{"min": "1", "max": "3"}}}, false)
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	v := "4"
	if err := c.AlterTopicConfigs(ctx, "ok", []ConfigOp{{Key: "min", Value: &v, Op: OpSet}}, true, false); !errors.Is(err, model.ErrInvalidConfig) {
		t.Fatalf("alter to min above max: %v", err)
	}
	if got := c.Image().Topics["ok"].Configs["min"]; got != "1" {
		t.Fatalf("refused alter changed min to %q", got)
	}
	if last := seen[len(seen)-1]; last["min"] != "4" || last["max"] != "3" {
		t.Fatalf("the check saw %v, want the configs after the alter", last)
	}
}
