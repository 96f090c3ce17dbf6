// Package sim is a deterministic simulation of Ringtail's controller
// quorum and partition replication: several nodes in one goroutine over a
// simulated network (delay, reordering, loss, partitions) and simulated
// disks (what was persisted survives a crash, the rest is lost), driven by
// a seeded scheduler and a fake clock. It runs the real state machines:
// go.etcd.io/raft/v3 RawNodes configured as controlplane configures them,
// controlplane's image, leadership and AlterPartition planning, and
// replication's Leader, ElectLeader and TruncationOffset. Safety
// properties are checked after every step (check.go); a seed replays
// exactly, so a failing seed is its own reproduction.
//
// Determinism needs every source of randomness seeded: the World's PCG
// for the scheduler and nemeses, and crypto/rand (which etcd raft draws
// its election timeouts from) through testing/cryptotest.SetGlobalRandom,
// which the tests call with the same seed.
package sim
