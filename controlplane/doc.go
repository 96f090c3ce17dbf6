// Package controlplane keeps the cluster metadata: brokers, topics,
// partitions (replicas, ISR, leader, epochs), topic configs and producer-id
// blocks. Changes are records; each command's records are one entry of a
// go.etcd.io/raft/v3 log under <data_dir>/__cluster_metadata-0/, applied in
// log order to an immutable Image that request handlers read atomically. A
// single node is a quorum of one and runs the same code.
//
// Split as in Redpanda's cluster/: the Controller accepts commands and turns
// them into records (frontend, controller.go), Image.applyEntry folds them
// into a new Image (state machine, image.go), and subscribers reconcile the
// node toward the Image (backend). raft.go is the controller loop, the one
// goroutine that drives the RawNode; metalog.go is the durable raft storage
// (entry log, hardstate, snapshot) that fills a raft.MemoryStorage at start;
// transport.go carries raft messages over TCP.
//
// # What the daemon must do to run several voters
//
//  1. Pass Voters: every entry of controller.quorum.voters, node id to
//     host:port, the same on every node (the handshake refuses a node whose
//     list differs). A node not among them is a broker-only node that
//     follows the log as a raft learner: it dials every voter, has no
//     controller listener, and the active controller adds it to the raft
//     configuration (ConfChangeAddLearnerNode) when it connects. Set
//     ControllerOnly on a voter that must not register as a broker.
//  2. Listen on this node's controller listener (controller.listener.names)
//     before Open and pass the net.Listener as Listener; a taken port is the
//     daemon's startup error to report. The Controller owns and closes it.
//  3. Pass ClusterID from meta.properties: a voter with another cluster id
//     is refused by the transport handshake.
//  4. Expect Open to return before a leader exists: it replays the local log
//     only, and this node registers as a broker in the background once a
//     leader is known. Do not wait for the Image to hold this broker before
//     serving (a single voter still registers before Open returns).
//  5. Treat ErrTimeout from a command as REQUEST_TIMED_OUT: the command
//     may still take effect (a command whose leader changes before its
//     entry applies fails at once with it). Every command works on every
//     node, voter or learner: it is planned from the local image and its
//     entry forwarded to the leader by raft (commitAnywhere), and the image
//     rejects at apply an entry planned from a stale image (a topic that
//     exists, a partition epoch that moved). Image().ControllerID is the
//     current leader, -1 during an election. Stop the node when Refused
//     yields: a majority of the voters refuse its handshake.
//  6. Subscribers run on the controller loop, in log order, after the entry
//     is durable on a quorum; they must not call the Controller's commands.
//  7. Close the Controller on shutdown; in-flight commands fail with
//     model.ErrClosed.
//
// Leave Tick (100ms), ElectionTicks (10) and HeartbeatTicks (1) at their
// defaults unless there is a reason; Ticks and NewTransport are for tests.
//
// # Partition leadership (partitions.go)
//
// The active controller's fenceLoop moves leadership off brokers it fences,
// in the same entry: fenced brokers leave the ISR (unless they are its last
// members), and a partition whose leader is gone gets Config.ElectLeader's
// choice (replication.ElectLeader: the first live ISR member; with
// unclean.leader.election.enable the first live replica) or no leader (-1),
// with a leader-epoch and partition-epoch bump. A leaderless partition is
// elected again when its last ISR member comes back. Partition leaders
// change their ISR with AlterPartition (from any voter; the entry is
// forwarded by raft), a compare-and-set on the partition epoch: a change to
// an existing partition whose partition epoch is not the image's plus one
// is rejected at apply. With several voters every process start registers
// a new incarnation, and Registered says when this node's image holds it:
// until then the node must not act on its (possibly stale) leadership.
//
// # Offline replicas (offline.go)
//
// A broker whose log dir fails calls ReportOfflineReplicas with the
// partitions it held there. One entry records them in its registration's
// offline set (OfflineReplicasRecord) and moves leadership and ISR off
// those replicas as if the broker were fenced for those partitions only;
// elections, AlterPartition and reassignment completion pass them over
// until the broker restarts (a registration of a new incarnation clears
// the set). Image.ReplicaOffline and Image.OfflineReplicas answer for
// Metadata and the daemon.
//
// # Reassignment and elections (reassign.go, partitions.go)
//
// AlterPartitionReassignments adds the target replicas, fenceLoop
// completes the move once they are in the ISR; ElectLeaders runs
// preferred and unclean elections. Placement alternates racks when
// brokers set broker.rack.
//
// # Not done
//
// Changing the voters (a snapshot whose voters differ from the config is
// refused at Open); learners are never removed from the raft
// configuration (a broker that is gone only costs the leader a probe).
// ControlledShutdown (Stop calls it) fences this node and moves its
// leadership away in one entry before the process exits.
package controlplane
