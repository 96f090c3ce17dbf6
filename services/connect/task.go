package connect

// The contract between the runtime and a connector's tasks, Kafka's
// SourceTask and SinkTask cut down to what the runtime needs.

import (
	"context"
	"log/slog"
)

// SourceRecord is one record a source task produces. Partition and Offset
// are the task's source position after this record (Kafka's
// sourcePartition and sourceOffset); nil when the source has none.
type SourceRecord struct {
	Partition map[string]any
	Offset    map[string]any
	Topic     string
	Key       Data
	Value     Data
}

// OffsetReader gives a starting source task the last committed offset of a
// source partition (nil when none).
type OffsetReader interface {
	Offset(partition map[string]any) map[string]any
}

// SourceTask reads records from outside Kafka.
type SourceTask interface {
	// Start opens the source at the committed offsets.
	Start(cfg map[string]string, offsets OffsetReader, log *slog.Logger) error
	// Poll returns the next records, or none after a short wait; it
	// returns early when ctx ends.
	Poll(ctx context.Context) ([]SourceRecord, error)
	// Stop releases the source.
	Stop() error
}

// TopicPartition names a partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// SinkRecord is one consumed record, converted.
type SinkRecord struct {
	TopicPartition
	Offset int64
	Key    Data
	Value  Data
}

// SinkTask writes records outside Kafka. The runtime calls Put with each
// poll's records and then Flush; it commits what Flush returns.
type SinkTask interface {
	Start(cfg map[string]string, log *slog.Logger) error
	// Open is told the group's committed offsets (-1: none) of newly
	// assigned partitions and returns the offsets to start from where
	// they differ (the task knows better, as the file sink's sidecar does).
	Open(committed map[TopicPartition]int64) map[TopicPartition]int64
	Put(records []SinkRecord) error
	// Flush makes everything Put durable and returns, per partition, the
	// next offset safe to commit.
	Flush() (map[TopicPartition]int64, error)
	Stop() error
}
