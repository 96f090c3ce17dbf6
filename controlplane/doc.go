// Package controlplane keeps the cluster metadata: brokers, topics,
// partitions (replicas, ISR, leader, epochs), topic configs and producer-id
// blocks. Changes are records appended to the metadata log under
// <data_dir>/__cluster_metadata-0/ and applied to an immutable Image that
// request handlers read atomically.
//
// Split as in Redpanda's cluster/: the Controller accepts commands and turns
// them into records (frontend), apply folds records into a new Image (state
// machine), and subscribers reconcile the node toward the Image (backend).
// Today the log is local to the node, a quorum of one; the cluster issue puts
// the same records on a go.etcd.io/raft/v3 quorum.
package controlplane
