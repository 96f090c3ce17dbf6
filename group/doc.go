// Package group is the consumer group coordinator (Kafka's classic group
// protocol and KIP-848 consumer groups) and the store of committed offsets.
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
//     expiry are decided there, and only there.
//  4. Log: a Log's Append done callback may run inside Append or on any
//     goroutine; the coordinator never waits for its own lock in it.
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
// appended through the partition's log like client data. A
// TxnOffsetCommit's is a transactional batch of its producer (id and
// epoch, no sequence); the transaction's marker (a control batch the
// broker writes) commits or aborts it. Load replays a partition from its
// log start: the last record of a key wins, a tombstone deletes, and a
// transaction's offsets wait for its marker (txnoffsets.go):
//
//	+-----------------+   +----------------+   +-------------------+
//	| txn batch, P    |   | offset commit  |   | control batch, P  |
//	| attr 0x10       |-->| (non-txn)      |-->| attr 0x30, COMMIT |
//	| t-0=5 (pending) |   | t-0=7          |   | t-0 stays 7       |
//	+-----------------+   +----------------+   +-------------------+
//
// __consumer_offsets is compacted (cleanup.policy=compact; storage's log
// cleaner): a key's older records and, after delete.retention.ms, its
// tombstones go, so a replay reads about one record per live key. Replay
// follows each batch's offsets, so the gaps compaction leaves are skipped.
//
// # Memory follows the log
//
// What a request writes reaches memory only once its append is durable,
// so OffsetFetch, DescribeGroups and ListGroups never show what a restart
// would lose:
//
//   - A commit's offsets are applied when its append succeeds (Kafka keeps
//     them as "pending" until then). Appends reach a log in the order they
//     were decided, and their outcomes are applied in that order too, even
//     if the log reports them out of order; so of two commits of a
//     partition in flight the later wins, as on disk.
//   - A SyncGroup leaves the group CompletingRebalance while the leader's
//     assignment is written; once durable the assignments are set, the
//     group becomes Stable and the waiting members are answered.
//   - OffsetDelete, DeleteGroups and offset expiry drop offsets or groups
//     once their tombstones are durable (Kafka drops them first and writes
//     without waiting; a restart could bring them back there). A group
//     being deleted refuses changes with COORDINATOR_NOT_AVAILABLE.
//
// If an append fails, memory stays as it was and the client gets the
// error Kafka's GroupMetadataManager sends for it: a storage error
// (KAFKA_STORAGE_ERROR, e.g. a full disk) or a lost leadership is
// NOT_COORDINATOR, so the client rediscovers the coordinator and retries;
// anything else is COORDINATOR_NOT_AVAILABLE. A failed SyncGroup write is
// Kafka's resetAndPropagateAssignmentError: every waiting member gets the
// error and the group prepares a new rebalance. Two writes keep Kafka's
// memory-first order, because they fence: a static member's new member id
// (reverted to the old id if the write fails, as Kafka does) and the new
// generation of a group that became Empty (a failed write is logged).
//
// The caller's contract has one more step for transactions: after it
// appends a transaction marker for a producer to a __consumer_offsets
// partition this node owns, call CompleteTxn.
//
// # KIP-848 consumer groups
//
// ConsumerGroupHeartbeat drives consumer groups (consumer.go): the broker
// assigns (assign.go: uniform, range) and reconciles each member on its
// own heartbeats, revoking before assigning (rack-aware when members
// send racks and brokers have them); Tick fences members whose
// session or revocation time ran out and re-evaluates subscriptions (names
// and RE2 regexes) against Config.Topics. Their state is written to
// __consumer_offsets with Kafka's record types 3 and 5-8
// (consumerrecords.go) and replayed by Load. An empty group changes type
// on the other protocol's first join; groups with members convert online
// as Kafka 4.0 does (convert.go, group.consumer.migration.policy): a
// classic group upgrades on a ConsumerGroupHeartbeat, its members staying
// classic members of the consumer group, and a consumer group whose last
// consumer-protocol member leaves downgrades back to classic.
//
// # Share groups
//
// ShareGroupHeartbeat drives share groups (KIP-932; share.go): members
// subscribe by topic names and the broker assigns with Kafka's simple
// assignor (shareassign.go: every partition assigned, spread evenly, a
// partition shared when members outnumber partitions); a member takes its
// target on its next heartbeat, with no revocation step. Tick fences
// members whose session (group.share.session.timeout.ms, or the group's
// share.session.timeout.ms) ran out. Their state is written with Kafka's
// record types 10-14 (sharerecords.go). A share group's id is not usable
// by the other protocols (JoinGroup: INCONSISTENT_GROUP_PROTOCOL;
// OffsetCommit: GROUP_ID_NOT_FOUND), nor the other way round; an empty
// share group does not expire with the offsets rule (its share-partition
// state lives elsewhere): DeleteGroups removes it.
//
// Skipped: reverting memory when a consumer group's write fails, KIP-890's
// verification of a TxnOffsetCommit with the transaction coordinator
// (v4+), expiry of the offsets of topics a Stable consumer group no longer
// subscribes to (only the Empty-group rule and explicit expire timestamps
// apply).
package group
