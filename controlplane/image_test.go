package controlplane

import (
	"errors"
	"testing"

	"github.com/ringtail/ringtail/model"
)

// An entry is applied to one working copy, but earlier images must never
// change: not when a later entry adds or changes partitions and configs of
// a topic they hold, and not when an entry is rejected halfway.
func TestApplyEntryLeavesEarlierImagesAlone(t *testing.T) {
	id := NewUUID()
	v := "1000"
	create := []Record{{Type: RecTopic, Topic: &TopicRecord{Name: "t", ID: id}}}
	for p := int32(0); p < 1000; p++ {
		create = append(create, Record{Type: RecPartition, Partition: &PartitionRecord{TopicID: id, Partition: p, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}})
	}
	create = append(create, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "t", Name: "retention.ms", Value: &v}})
	create = append(create, Record{Type: RecPartition, Partition: &PartitionRecord{TopicID: id, Partition: 1000, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}})
	base := emptyImage("c", 1)
	im1, err := base.applyEntry(1, create)
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Topics) != 0 {
		t.Fatal("applying an entry changed the image it started from")
	}
	t1 := im1.Topics["t"]
	if len(t1.Partitions) != 1001 || t1.Configs["retention.ms"] != "1000" || im1.TopicsByID[id] != t1 {
		t.Fatalf("topic after create: %d partitions, configs %v", len(t1.Partitions), t1.Configs)
	}

	w := "5"
	change := []Record{
		{Type: RecPartition, Partition: &PartitionRecord{TopicID: id, Partition: 3, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1}},
		{Type: RecPartition, Partition: &PartitionRecord{TopicID: id, Partition: 1001, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}},
		{Type: RecConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "t", Name: "retention.ms", Value: &w}},
		{Type: RecPartition, Partition: &PartitionRecord{TopicID: id, Partition: 4, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1}},
	}
	im2, err := im1.applyEntry(2, change)
	if err != nil {
		t.Fatal(err)
	}
	t2 := im2.Topics["t"]
	if len(t2.Partitions) != 1002 || t2.Partitions[3].LeaderEpoch != 1 || t2.Partitions[4].LeaderEpoch != 1 || t2.Configs["retention.ms"] != "5" || im2.TopicsByID[id] != t2 {
		t.Fatalf("topic after change: %d partitions, p3 epoch %d, p4 epoch %d, configs %v", len(t2.Partitions), t2.Partitions[3].LeaderEpoch, t2.Partitions[4].LeaderEpoch, t2.Configs)
	}
	if t1 := im1.Topics["t"]; len(t1.Partitions) != 1001 || t1.Partitions[3].LeaderEpoch != 0 || t1.Partitions[4].LeaderEpoch != 0 || t1.Configs["retention.ms"] != "1000" {
		t.Fatal("a later entry changed an earlier image")
	}

	// A stale change after a good one rejects the whole entry.
	bad := []Record{
		{Type: RecPartition, Partition: &PartitionRecord{TopicID: id, Partition: 5, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 1}},
		{Type: RecPartition, Partition: &PartitionRecord{TopicID: id, Partition: 3, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 1}},
	}
	if _, err := im2.applyEntry(3, bad); !errors.Is(err, ErrStalePartitionEpoch) && !errors.Is(err, model.ErrInvalidRequest) {
		t.Fatalf("stale entry: %v, want ErrStalePartitionEpoch", err)
	}
	if p := im2.Topics["t"].Partitions[5]; p.LeaderEpoch != 0 || im2.Offset != 2 {
		t.Fatal("a rejected entry changed the image it started from")
	}
}
