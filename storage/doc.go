// Package storage is Ringtail's partition log, in Apache Kafka's on-disk
// layout, so that an operator's tools and habits carry over.
//
// # Layout
//
//	<dir>/recovery-point-offset-checkpoint   "0\n<count>\n<topic> <partition> <offset>\n..."
//	<dir>/log-start-offset-checkpoint        same format
//	<dir>/.kafka_cleanshutdown               present only between a clean Close and the next open
//	<dir>/cleaner-offset-checkpoint          same format: each compacted partition's first dirty offset
//	<dir>/<topic>-<partition>.<hex>-delete/  a deleted partition's files, removed in the background
//	<dir>/<topic>-<partition>.<hex>-quarantine/  a partition that could not be opened, kept for the operator
//	<dir>/<topic>-<partition>/
//	    partition.metadata                   "version: 0\ntopic_id: <base64url id>" (KIP-516)
//	    00000000000000000000.log             record batches, byte-for-byte as on the wire
//	    00000000000000000000.index           relative offset -> file position (sparse)
//	    00000000000000000000.timeindex       timestamp -> relative offset (sparse)
//	    leader-epoch-checkpoint              "0\n<count>\n<epoch> <start offset>\n..."
//	    00000000000000000000.snapshot        producer state at that offset
//	    cleaner.swap                         a committed cleaning pass not finished yet (clean.go)
//	    *.cleaned, *.deleted                 a cleaning pass's new and replaced segment files
//
// A segment is named by the 20-digit base offset of its first batch.
//
// # Record batch (magic v2), as received and as stored
//
// Only baseOffset and partitionLeaderEpoch are rewritten on append (the CRC
// does not cover them); with message.timestamp.type=LogAppendTime the
// broker also sets maxTimestamp and the timestamp-type attribute bit and
// recomputes the CRC, as Kafka does.
//
//	 0        8          12            16     17    21         23              27
//	+--------+----------+-------------+------+-----+----------+---------------+
//	|baseOff |batchLen  |partLeaderEp |magic |crc  |attributes|lastOffsetDelta|
//	|int64   |int32     |int32        |int8=2|u32  |int16     |int32          |
//	+--------+----------+-------------+------+-----+----------+---------------+
//	 27            35           43          51          53           57        61
//	+-------------+------------+-----------+-----------+------------+---------+-------
//	|firstTimest. |maxTimest.  |producerId |producerEp |baseSequence|records  |records
//	|int64        |int64       |int64      |int16      |int32       |count i32| ...
//	+-------------+------------+-----------+-----------+------------+---------+-------
//	               CRC-32C (Castagnoli) covers bytes 21 .. end
//
// # .index entry (8 bytes, big-endian)
//
//	+-----------------------------+-----------------------------+
//	| relative offset (uint32)    | file position (uint32)      |
//	+-----------------------------+-----------------------------+
//
// One entry for the first batch after more than index.interval.bytes were
// appended since the previous entry: the batch's last offset minus the
// segment base, and the position where the batch starts. The file holds
// exactly the entries (no preallocation).
//
// # .timeindex entry (12 bytes, big-endian)
//
//	+-------------------------------+-----------------------------+
//	| timestamp (int64, ms)         | relative offset (uint32)    |
//	+-------------------------------+-----------------------------+
//
// Added with an offset-index entry when the segment's max timestamp grew
// since the last time-index entry (relative offset of the batch holding
// it), and once more when the segment becomes inactive (roll, clean close)
// so that the last entry always holds the segment's max timestamp.
//
// # <offset>.snapshot (producer state at offset, Ringtail's own format)
//
//	+--------+---------+-----------+-----------+---------------------+--------+
//	| "RTPS" | version | offset    | producers | producer entries... | crc32c |
//	| 4 B    | u16 = 2 | int64     | u32       |                     | u32    |
//	+--------+---------+-----------+-----------+---------------------+--------+
//	producer entry (version 1 has no lastOffset..coordEpoch fields):
//	+------------+-------+------------+-------------+---------------+------------+
//	| producerId | epoch | lastOffset | lastTimestamp | txnFirstOffset | coordEpoch |
//	| int64      | int16 | int64      | int64       | int64 (-1)    | int32      |
//	+------------+-------+------------+-------------+---------------+------------+
//	then batches u8 <= 5, and batches x (firstSeq i32, lastSeq i32,
//	firstOffset i64, lastOffset i64).
//
// txnFirstOffset is the first offset of the producer's open transaction
// (-1: none): open transactions survive restarts and hold the last stable
// offset. Transactions on disk (the .txnindex of aborted transactions and
// the marker control batches) are described in txnindex.go.
//
// Big-endian; the CRC-32C covers everything before it. Snapshots are written
// at every roll (not fsynced: a torn one fails its CRC and an older one, or
// the log itself, is used) and at a clean close.
//
// # Clean close
//
// Close writes each partition's last time-index entry, producer snapshot
// and leader-epoch-checkpoint without an fsync each, then makes all of them
// durable with one syncfs(2) of the data dir's file system, and only then
// writes the checkpoints and the clean-shutdown marker: a power loss before
// the marker takes the unclean path, which trusts none of them.
//
// # Power loss
//
// Every file whose durability matters is created, renamed, removed and
// synced through the vfs seam (ManagerConfig.FS; the OS by default), and
// iocore reports each fd its group commit fdatasynced
// (RuntimeConfig.OnSynced). The tests run the log over vfs.Crash, which at
// random operations writes what a power loss would leave, and recover each
// image (powerloss_test.go, `make powerloss`).
//
// # Write path
//
// All writes to a partition happen on its shard (iocore): Append validates
// the batches on the caller's goroutine and queues a task; the task's
// Prepare assigns offsets, checks producer state, rolls the segment when
// needed and adds the log write, index entries and (Durable) an fdatasync
// to the shard's batch; Complete publishes the new end, the index entries
// and the high watermark, or, after a failed write, cuts the files back to
// the last completed position and fails every task prepared since. Because
// the shard drains many tasks at once, many appends share one fdatasync.
//
// The shard keeps two copies of the active segment's state: pend (advanced
// by Prepare) and comm (advanced by a successful Complete). Readers never
// see pend.
//
// # Read path
//
// Readers do not go through the shard. They load the published view
// (segment list, log start, high watermark, log end) with one atomic load,
// take a reference on the segment they read (so that retention can unlink
// it without closing the file under them), and search the sparse indexes,
// which publish an entry count atomically after the entry is written.
//
// # Descriptors
//
// Segment files are opened on demand and closed, least recently used
// first, past ringtail.max_open_files (fdcache.go; by default the open file
// limit less room for connections), so an idle partition holds no
// descriptor and the partition count is not bounded by RLIMIT_NOFILE. A
// file whose descriptor is in use is pinned: an append's files until its
// Complete, a read's .log until the read (or, for sendfile ranges, the
// send) is done. A reader whose segment was deleted under it finds the file
// gone when it reopens it and retries with the new view.
//
// # Recovery
//
// After a clean shutdown (marker present) indexes and the latest producer
// snapshot are loaded and no log is scanned, except for rebuilding an index
// that is missing or fails its sanity checks. Otherwise every segment from
// the one holding the recovery point is scanned, each batch's framing, CRC
// and offset continuity checked, the file truncated at the first bad batch
// (later segments are deleted), and its indexes rebuilt. The recovery point
// is the base of the oldest segment whose log and indexes were not synced
// at roll. Offsets must increase, not be contiguous: a compacted log has
// gaps, and reads that fall in one continue with the next batch.
//
// Bad files never stop the broker (with systemd's Restart= that would be a
// crash loop); each case logs one line naming the partition. A truncation
// says the segment, the offset cut at, the bytes and segments dropped. A
// bad batch that the producer-state replay meets in a segment below the
// recovery point (trusted, as Kafka trusts it) makes recovery rescan from
// that segment. Corrupt indexes and .txnindex files are rebuilt, corrupt
// producer snapshots removed (the state comes from an older one or the
// log), an unreadable leader-epoch-checkpoint rebuilt from the batch
// headers, an unreadable partition.metadata ignored (the topic of that
// name adopts the log). A partition that still cannot be opened (a
// directory where a file belongs, a read error) is quarantined: its dir
// is renamed "<topic>-<partition>.<hex>-quarantine", which OpenManager
// neither opens nor removes, and the broker starts without it
// (RecoveryStats.Quarantined). The daemon holds it offline and has the
// controller move leadership and the ISR to another replica before it
// re-creates the log empty to refetch from the leader; one with no other
// in-sync copy stays offline unless unclean election is allowed
// (daemon/quarantine.go). Only a data dir where that rename fails fails
// the open.
// Kafka has no quarantine: an I/O error while loading a log takes its
// whole log dir offline, and other errors stop the broker.
//
// # Compaction
//
// Topics whose cleanup.policy includes compact are cleaned by the log
// cleaner (cleaner.go, clean.go): the latest record of each key stays,
// tombstones stay for delete.retention.ms after their segment was cleaned,
// batches keep their offsets, and segments are swapped in with a scheme
// recovery completes at any step. The leader-epoch-checkpoint is written
// without fsync on the append path and made durable before the recovery
// point passes it; recovery rebuilds the entries above the recovery point
// from the batches.
//
// # Several log dirs
//
// A Manager owns one dir; LogDirs (logdirs.go) opens one per entry of
// log.dirs and routes each partition to the dir that holds it. A new
// partition goes to the online dir holding the fewest partitions, the
// first on a tie, as Kafka places them; a partition found in two dirs
// stops the start. Each dir has its own checkpoints and clean-shutdown
// marker; the segment file cache is shared. When an operation on a dir's
// files fails with a disk error (EIO and kin, not a full disk) the whole
// dir goes offline (offline.go): its partitions answer model.ErrStorage,
// nothing is written to it again, and the next start recovers it from
// its disk. A dir that cannot be opened for a disk error starts offline;
// the others serve. vfs.Faulty, driven by RINGTAIL_TEST_EIO_FILE in the
// daemon, injects such errors.
package storage
