// Package share is the share-partition side of KIP-932 share groups as
// pure state machines, time passed in: one share-partition's acquisition
// locks and delivery counts (Partition), the share sessions of the brokers'
// ShareFetch (Sessions), and the durable state kept in __share_group_state
// with Kafka's ShareSnapshot/ShareUpdate records (records.go, Store).
//
// A share-partition is the records of one topic partition as one share
// group consumes them. Its window runs from the share-partition start
// offset (SPSO) to the end offset (SPEO, exclusive here); below the SPSO
// every record is done, at and above the SPEO none has been acquired yet:
//
//	      SPSO                                  SPEO
//	 done  |  Acked | Acquired(m1) | Available |  Archived | Acquired(m2) |  not yet read
//	-------+--------+--------------+-----------+-----------+--------------+--------------
//
// A record is Available (may be acquired), Acquired by one member until
// its lock deadline, Acknowledged (accepted) or Archived (rejected, a gap,
// or delivered share.delivery.count.limit times). The SPSO advances over
// the acknowledged and archived prefix.
package share
