// Package torture is Ringtail's nemesis suite: a Jepsen-like workload
// (idempotent and transactional franz-go producers writing self-describing
// records, every send, acknowledgement, error and read kept in a History),
// a checker that finds lost, duplicated, reordered, corrupt and unexpected
// records and read_committed anomalies in a History, a fault-injecting TCP
// proxy (drop, delay, one-way blackhole between chosen nodes) and seeded
// nemesis schedules. The runs themselves (single node, 3 nodes) are tests
// in this package that start the real binary through testkit; `make torture`
// runs them long, `make test` runs a few rounds.
//
// A record's value (big-endian):
//
//	+-------+----------+---------+---------+--------+---------+--------+
//	| magic | producer | seq     | txn     | padLen | pad     | crc32c |
//	| "RTT1"| uint32   | uint64  | uint64  | uint16 | padLen  | uint32 |
//	+-------+----------+---------+---------+--------+---------+--------+
//
// The CRC covers everything before it. txn is 0 outside transactions.
package torture
