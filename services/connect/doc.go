// Package connect is Ringtail's built-in Kafka Connect worker: the
// FileStream source and sink connectors, Kafka's converters (String, JSON,
// ByteArray, Confluent Avro), and the worker REST API on port 8083. It runs
// standalone (`ringtail connect standalone worker.properties
// connector.properties...`) or distributed inside the daemon
// (ringtail.connect_enable), the nodes' workers sharing the connectors.
// The Avro converter takes Confluent's schema.registry.url and its HTTP
// basic credentials (basic.auth.credentials.source URL or USER_INFO,
// basic.auth.user.info), as the daemon's registry wants them under
// ringtail.services_auth = http_basic.
//
// # Shape
//
// The runtime (worker.go, source.go, sink.go) runs tasks: it converts
// records and moves them between a task and Kafka, and reports task state
// to a StatusListener. A herder (herder.go) owns what a cluster of workers
// shares: connector configs, target states (running or paused), statuses,
// and source offsets. The REST API (rest.go) talks only to the Herder
// interface. standalone.go keeps them in memory; distributed.go keeps
// configs and statuses in Kafka topics (configlog.go, statuslog.go) and
// spreads the tasks with Kafka's Connect group protocol (protocol.go,
// groupmember.go), forwarding writes to the group's leader (distherder.go).
//
// # Exactly once, and how it departs from Kafka's standalone worker
//
// Kafka's standalone worker keeps source offsets only in
// offset.storage.file.filename, flushed every offset.flush.interval.ms, and
// is at-least-once: a kill between a produce and a flush replays lines. This
// worker is exactly-once end to end for the file connectors:
//
//   - Source: each task has a transactional producer (transactional.id
//     "connect-<connector>-<task>"). A poll's records and the source offset
//     they reach are written in one transaction, the offset to the
//     offset.storage.topic (default connect-offsets, compacted; key
//     ["<connector>",{"filename":"<file>"}], value {"position":<byte
//     offset>}, Kafka's own layout). A task starts by fencing its previous
//     incarnation (InitProducerId, which aborts a transaction left open by
//     a killed worker) and then reads the offsets topic to its end with
//     read_committed, so it resumes exactly after the last committed line.
//     offset.storage.file.filename is still written (JSON, at most every
//     offset.flush.interval.ms and at a clean stop), for information only:
//     the topic is what the worker reads back.
//
//   - Sink: the consumer group is connect-<connector>, read_committed, so
//     lines of aborted source transactions never arrive. After each batch
//     the sink fsyncs the file and then atomically replaces the sidecar
//     <file>.offsets ({"size": bytes, "offsets": next offset per
//     partition}, written to a temporary file, fsynced, renamed), and only
//     then commits the group offsets. At start the sink truncates the file
//     to the recorded size (dropping lines written after the last recorded
//     flush) and starts each partition at the recorded offset when it is
//     ahead of the group's commit. The file and the sidecar together are the
//     truth; the group commit only lags them.
//
// A sink writing to standard output (no file) and a source reading standard
// input keep Kafka's at-least-once behaviour.
package connect
