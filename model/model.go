// Package model holds the small value types that cross package lines in
// Ringtail (offsets, epochs, node ids, topic-partitions) and the sentinel
// errors that storage and the control plane return and the kafka package maps
// to Kafka error codes. It imports nothing of the project.
package model

import "fmt"

// Offset is a position in a partition's log (a Kafka offset).
type Offset int64

// Epoch is a leader epoch (or a producer epoch where named so).
type Epoch int32

// NodeID identifies a Ringtail node (Kafka's node.id / broker id).
type NodeID int32

// ProducerID identifies an idempotent producer session.
type ProducerID int64

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// NodeIDs converts the int32 broker ids of the protocol and the metadata
// image to NodeIDs.
func NodeIDs(ids []int32) []NodeID {
	out := make([]NodeID, len(ids))
	for i, id := range ids {
		out[i] = NodeID(id)
	}
	return out
}

// Int32s converts NodeIDs back to the protocol's int32 ids.
func Int32s(ids []NodeID) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}
