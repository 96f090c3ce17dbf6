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
//
// Running it: `go test ./sim` (CI: a few seeds, the broken variants, the
// determinism check); `make simulate SEEDS=10000 SEED=0` for many seeds. A
// failing seed prints its reproduction, `make simulate SEED=<n> SEEDS=1`;
// add -simtrace (go test ./sim -run 'TestSimulate$' -seed=<n> -seeds=1
// -simtrace -v) for the trace. Results of long runs: results.md.
//
// Modelled on purpose, not run: the controller's goroutines (the fence
// loop, registration and AlterPartition requests are single steps here),
// the storage engine (a partition log is a slice whose appends are durable
// on completion, storage's default) and the Kafka wire protocol (fetches
// and OffsetForLeaderEpoch are direct messages with the same checks).
package sim
