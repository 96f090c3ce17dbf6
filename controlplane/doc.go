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
//     host:port, the same on every voter (the handshake refuses a voter whose
//     list differs). NodeID must be one of them; a broker-only node (a raft
//     learner) is not supported yet.
//  2. Listen on this node's controller listener (controller.listener.names)
//     before Open and pass the net.Listener as Listener; a taken port is the
//     daemon's startup error to report. The Controller owns and closes it.
//  3. Pass ClusterID from meta.properties: a voter with another cluster id
//     is refused by the transport handshake.
//  4. Expect Open to return before a leader exists: it replays the local log
//     only, and this node registers as a broker in the background once a
//     leader is known. Do not wait for the Image to hold this broker before
//     serving (a single voter still registers before Open returns).
//  5. Treat errors.Is(err, ErrNotController) from a command as Kafka's
//     NOT_CONTROLLER (the *NotControllerError says which node leads, from
//     which the kafka package can answer with the controller id), and
//     ErrTimeout as REQUEST_TIMED_OUT: the command may still take effect.
//     Image().ControllerID is the current leader, -1 during an election.
//     Topic and config commands run only on the active controller (clients
//     retry against Metadata's controller_id); AllocateProducerID and
//     broker registration work on any voter, their entries forwarded to
//     the leader by raft (brokers.go).
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
// # Next steps (issue 4)
//
// Brokers that are not voters follow the log as raft learners (ConfState
// Learners, a learner transport role); liveness then comes from the
// learners' raft contact as it does for voters (brokers.go); membership
// changes of the voters are not supported (a snapshot whose voters differ
// from the config is refused at Open); preferred-leader election and
// reassignment are not done; AlterPartition is not a Kafka API yet
// (brokers call it in-process, which works while every broker is a voter).
// ControlledShutdown (Stop calls it) fences this node and moves its
// leadership away in one entry before the process exits.
package controlplane
