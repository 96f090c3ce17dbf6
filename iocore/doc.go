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
package iocore
