package model

import "errors"

// Sentinel errors shared by storage, the control plane and the kafka package.
// Producers wrap them with context (fmt.Errorf("...: %w", model.ErrX)); the
// kafka package maps them, with errors.Is, to the Kafka error code a Kafka
// broker would send. Kafka codes themselves appear only in package kafka.
var (
	ErrUnknownTopicOrPartition  = errors.New("unknown topic or partition")
	ErrTopicAlreadyExists       = errors.New("topic already exists")
	ErrInvalidTopic             = errors.New("invalid topic name")
	ErrInvalidPartitions        = errors.New("invalid number of partitions")
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
	ErrInvalidConfig            = errors.New("invalid config")
	ErrInvalidRequest           = errors.New("invalid request")
	ErrPolicyViolation          = errors.New("policy violation")

	// ErrCorruptRecord: a record batch failed its CRC-32C or framing checks.
	ErrCorruptRecord = errors.New("corrupt record batch")
	// ErrRecordTooLarge: a batch is larger than max.message.bytes.
	ErrRecordTooLarge = errors.New("record batch too large")
	// ErrInvalidRecord: a well-framed batch that breaks a rule (magic != 2, bad
	// record count, a control batch from a client, ...).
	ErrInvalidRecord    = errors.New("invalid record batch")
	ErrInvalidTimestamp = errors.New("invalid timestamp")
	ErrOffsetOutOfRange = errors.New("offset out of range")

	ErrOutOfOrderSequence   = errors.New("out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	ErrUnknownProducerID    = errors.New("unknown producer id")
	// ErrInvalidTxnState: a batch or marker that does not fit the
	// producer's transaction (a plain batch inside a transaction).
	ErrInvalidTxnState = errors.New("invalid transaction state")
	// ErrTxnCoordinatorFenced: a marker from an older coordinator epoch.
	ErrTxnCoordinatorFenced = errors.New("transaction coordinator fenced")

	// ErrStorage: the disk failed an operation (ENOSPC, EIO, ...). Nothing
	// acknowledged before it is lost.
	ErrStorage = errors.New("storage error")
	// ErrClosed: the component is shutting down.
	ErrClosed    = errors.New("closed")
	ErrNotLeader = errors.New("not leader or follower")
)
