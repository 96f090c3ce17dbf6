package model

import "errors"

// Sentinel errors of the replication layer (acks=all with
// min.insync.replicas). The kafka package maps them to NOT_ENOUGH_REPLICAS
// and NOT_ENOUGH_REPLICAS_AFTER_APPEND.
var (
	// ErrNotEnoughReplicas: the in-sync replica set is smaller than
	// min.insync.replicas, so an acks=all produce is refused before append.
	ErrNotEnoughReplicas = errors.New("not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend: the records were appended on the
	// leader but the in-sync replica set shrank below min.insync.replicas
	// before they were replicated; the producer should retry.
	ErrNotEnoughReplicasAfterAppend = errors.New("not enough in-sync replicas after append")
)
