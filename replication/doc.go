// Package replication holds Ringtail's partition replication: pure state
// machines in the etcd-raft style (Leader, FetchSession, TruncationOffset,
// ElectLeader: inputs are method calls with the time passed in, outputs
// are Effects values the caller performs; no I/O, goroutines or clocks, so
// a test replays them exactly), and the replica runtime around them, whose
// I/O goes through small interfaces (HWStore, SessionLeader, Clock) that
// tests fake: LeaderReplica (replica.go) performs a Leader's effects for
// one led partition (its high watermark published by a Publisher shared
// by all of them, so no goroutine per partition), ReplicaFetcher (fetcher.go, runner.go) replicates
// from one leader node. The daemon only wires them to storage, the
// controller and Kafka requests.
//
// # Leader (one per led partition)
//
// The caller (the kafka Fetch and Produce handlers, through the daemon)
// drives a Leader:
//
//  1. On becoming leader: NewLeader with the replicas, the ISR and the
//     partition epoch from the metadata image, the local log end and high
//     watermark, and now. Put the storage partition in external-HW mode.
//  2. Produce with acks=all: CheckAppend before appending (refuses with
//     model.ErrNotEnoughReplicas when the ISR is smaller than
//     min.insync.replicas); after the append, LeaderAppended(logEnd) and
//     AddWaiter(id, lastOffset, deadline).
//  3. Fetch from a follower (replica_id >= 0): FollowerFetch(id,
//     fetchOffset, now) before reading, with the offset the follower asks
//     for, which is its log end.
//  4. Periodically (every replica.lag.time.max.ms / 2 as Kafka does, or
//     more often): Tick(now).
//  5. When metadata commits a new ISR for the partition: ISRCommitted.
//
// After every call, perform the Effects, in order: set the storage high
// watermark (Partition.SetHighWatermark) when HighWatermark moved, send
// ProposeISR to the controller (AlterPartition) when set, then answer the
// Completions (acks=all produce responses). Only one ISR proposal is in
// flight at a time; the next is made after ISRCommitted (or after
// ProposalFailed).
//
// Rules (Kafka's): a follower is caught up when its log end equals the
// leader's, or it was caught up within replica.lag.time.max.ms (its fetch
// reached the leader end of its previous fetch). An ISR member that is not
// caught up is proposed out; a non-member whose log end reached both the
// high watermark and the start of the leader's epoch is proposed in. The
// high watermark is the minimum log end over the maximal ISR (the
// committed ISR plus a pending addition; a pending removal still counts),
// never moving backwards; so a leader cut off from its followers and from
// the controller cannot advance it. An acks=all waiter completes once the
// high watermark passes its last offset, failing with
// model.ErrNotEnoughReplicasAfterAppend when the committed ISR is below
// min.insync.replicas then or shrinks below it while waiting.
//
// # Follower
//
// TruncationOffset implements the OffsetForLeaderEpoch exchange: ask the
// leader for the end of the follower's latest epoch, truncate to the
// smaller of that and the local log end, then fetch from there.
// ReplicaFetcher (fetcher.go) is Kafka's ReplicaFetcherThread: a follower
// runs num.replica.fetchers of them per leader node (FetcherID splits the
// leader's partitions as Kafka does), each fetching its partitions with
// one Fetch per round over a SessionLeader interface (Kafka requests in
// the daemon, a fake in tests), truncating the partitions that need it
// with one OffsetForLeaderEpoch first. Run (runner.go) loops it: the
// Fetch long-polls at the leader (replica.fetch.wait.max.ms and
// min.bytes), and the leader answers as soon as its log end passes a
// fetched offset (LeaderReplica.FollowerChanged, a Notifier), so a
// follower learns of an append at once and polls on no timer. Its Fetches run in an incremental
// fetch session (KIP-227): FetchSession (session.go) is the follower's
// bookkeeping, Kafka's FetchSessionHandler. The leader reads every
// partition of the session, the ones a request leaves out at the fetch
// offset it cached for them, and feeds each to FollowerFetch, so idle
// partitions keep their followers in sync without being named.
//
// # Election
//
// ElectLeader picks the first live ISR member in replica order, or with
// unclean.leader.election.enable the first live replica when no ISR member
// is live.
package replication
