// Package iocore is Ringtail's I/O layer: the io_uring ring (over
// golang.org/x/sys/unix), the plain pwritev/fdatasync engine used where
// io_uring cannot be set up, and the shard runtime that owns partitions —
// goroutines locked to OS threads, each draining a queue of tasks and
// submitting all of one drain's I/O at once (group commit).
//
// The contract between a shard and its tasks:
//
//  1. The shard takes every queued task (up to maxBatchTasks) in one drain.
//  2. It calls Prepare on each, in queue order, on the shard goroutine. A
//     task may change the state its shard owns and adds the writes and syncs
//     it needs to the Batch.
//  3. It submits the whole batch to the engine in one call: writes first, in
//     order, then one sync per distinct file (deduplicated across tasks).
//  4. It calls Complete on each task with the first error among the ops that
//     task added (including a shared sync), or nil.
//
// Engines: NewRingEngine (uring.go) drives an io_uring set up by hand over
// x/sys/unix, in two phases per batch (writes, then syncs); SyncEngine does
// the same with pwritev and fdatasync where io_uring cannot be set up.
//
// Reads do not go through the shards: fetch streams segment ranges to the
// socket with SendFile (sendfile(2)) and falls back to CopyRange (pread into
// a pooled buffer, then write) where sendfile cannot be used, such as TLS.
//
// Everything here is Linux-only.
package iocore
