// Package group is the consumer group coordinator (Kafka's classic group
// protocol) and the store of committed offsets.
//
// The Coordinator is a state machine. The kafka handlers drive it with one
// call per request, and the daemon drives time with Tick; no method reads
// the clock, so a test replays any schedule exactly with a fake one. The
// caller's contract:
//
//  1. Own: for every __consumer_offsets partition this node leads, call
//     Load with the partition's log. Until Load returns, requests for
//     groups of that partition answer ErrLoadInProgress; groups of
//     partitions not owned answer ErrNotCoordinator.
//  2. Drive: call the request methods (Join, Sync, Heartbeat, Leave,
//     CommitOffsets, ...) with the request's arrival time. Methods that
//     answer later (Join waits for the rebalance, Sync for the leader,
//     commits for the durable append) take a done callback; it runs exactly
//     once, possibly on another goroutine or inside the call, and must not
//     block nor call back into the Coordinator.
//  3. Tick: call Tick(now) often (every 100 ms is plenty). Session
//     timeouts, rebalance timeouts, the initial rebalance delay and offset
//     expiry all happen there, and only there.
//
// # Persistence
//
// Group metadata and committed offsets are records in the group's
// __consumer_offsets partition (abs(javaStringHashCode(groupID)) %
// partitions, as in Kafka), with Kafka's own key/value schemas, so Kafka's
// tools can read the log:
//
//	offset commit:  key   OffsetCommitKey   v1 (group, topic, partition)
//	                value OffsetCommitValue v3 (offset, leader epoch, metadata,
//	                      commit timestamp); v1 when an expire timestamp
//	                      was asked for (OffsetCommit v2-v4 retention_time)
//	group metadata: key   GroupMetadataKey   v2 (group)
//	                value GroupMetadataValue v3 (protocol type, generation,
//	                      protocol, leader, state timestamp, members with
//	                      subscription and assignment)
//	tombstone:      the key with a null value (deleted offset or group)
//
// Each write is one uncompressed magic-v2 record batch (producer id -1)
// appended through the partition's log like client data; the request is
// answered once the append is durable. Load replays a partition from its
// log start: the last record of a key wins, a tombstone deletes.
//
// Storage has no compaction yet, so __consumer_offsets grows until it
// does (retention does not apply to it: cleanup.policy=compact). Replay is
// correct either way, only slower.
//
// In-memory state is updated when a write is decided, before it is
// durable; the request is answered after. If the append fails (a storage
// error), the answer carries the error while memory already holds the
// change until the next restart; clients retry a failed commit anyway.
//
// Skipped: KIP-848 (the new consumer protocol), transactional offset
// commits, expiry of the offsets of topics a Stable consumer group no
// longer subscribes to (only the Empty-group rule and explicit expire
// timestamps apply).
package group
