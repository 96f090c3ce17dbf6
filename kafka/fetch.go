package kafka

// Fetch (key 1): versions 4-17. v7 adds fetch sessions, v12 is flexible
// (tagged current_leader), v13 names topics by id, v15 moves replica_id into
// replica_state (KIP-903), v16 adds node_endpoints (KIP-951), v17 the
// replica directory id of KIP-853 (accepted and ignored: one directory per
// partition here).
//
// Behavior:
//   - A partition this node does not lead is NOT_LEADER_OR_FOLLOWER, with
//     the image's leader and leader epoch in current_leader (v12+). One it
//     leads whose log is still being created is waited for within
//     max(max_wait_ms, 1 s) first, and a topic, partition or epoch this
//     node does not know yet makes it catch up with the metadata quorum
//     once (partitions.go).
//   - Long poll: answers once min_bytes are available across the requested
//     partitions, any partition has an error, max_wait_ms passes, or the
//     server shuts down; it waits on every partition's Log.Changed(), never
//     by polling.
//   - KIP-74 limits: partitions are filled in request order, each up to
//     min(partition_max_bytes, what is left of max_bytes); the first
//     partition that returns data always gets its first whole batch, even
//     when that batch is larger than both limits.
//   - read_committed returns only batches below the last stable offset,
//     with the aborted transactions (producer id, first offset) that the
//     returned range may hold, from the segments' .txnindex; the client
//     drops their batches and every control batch (markers).
//   - OFFSET_OUT_OF_RANGE comes with the high watermark and log start
//     offset; FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH for a stale or
//     future current_leader_epoch (v9+); UNKNOWN_TOPIC_ID for unknown ids.
//     NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH carry the leader in
//     current_leader (v12+) and its endpoint in node_endpoints (v16+).
//   - Fetch sessions (KIP-227, fetch_session.go and package fetchsession):
//     epoch 0 asks for a session (session_id in the answer, 0 when the
//     cache is full or max.incremental.fetch.session.cache.slots is 0),
//     -1 keeps none, > 0 is incremental: the request names only changed
//     partitions and forgotten_topics, every session partition is read, and
//     the answer carries only those with records, a new high watermark or
//     log start offset, or an error. An unknown session is
//     FETCH_SESSION_ID_NOT_FOUND, a wrong epoch INVALID_FETCH_SESSION_EPOCH,
//     a by-name session continued by id (or back) FETCH_SESSION_TOPIC_ID_ERROR;
//     the client then starts over with a full fetch.
//
//   - Follower fetches (replica_id >= 0) go to ReplicatedLog.FollowerRead:
//     the fetch offset is the follower's log end for the leader's ISR and
//     high-watermark logic, and the read goes up to the log end. Its long
//     poll wakes on log-end advances (FollowerWaker, replica_wake.go), so
//     followers wait replica.fetch.wait.max.ms and still see appends at once.
//     Followers fetch in sessions too (replication.ReplicaFetcher, one per
//     leader node): an incremental replica fetch reads every partition of
//     the session, the ones it leaves out at their cached fetch offsets, so
//     FollowerRead (ISR, high watermark) sees every followed partition on
//     every fetch. Replica sessions are privileged in eviction.
//   - Authorization (authz.go): READ on each topic, else
//     TOPIC_AUTHORIZATION_FAILED; a follower fetch (replica_id >= 0) needs
//     CLUSTER_ACTION on the cluster, else every partition is
//     TOPIC_AUTHORIZATION_FAILED.
//
// Skipped on purpose: replica_state's epoch (v15+), rack-aware preferred read replicas
// (always -1), diverging-epoch detection (LastFetchedEpoch), quotas.
//
// Zero copy (ringtail.fetch_sendfile, default true): when the partition's
// Log is a RangedLog, the read returns segment-file ranges instead of bytes
// (storage.Ranges, holding a reference on each segment so that retention,
// DeleteRecords, a roll or a close cannot pull the file away), the response
// is encoded by hand (fetch_encode.go) into a header buffer with a hole per
// range, and the connection's writer fills the holes with sendfile(2) from
// the segment files (CopyRange where the kernel refuses), then releases the
// ranges. Record bytes never pass through user space; read_committed
// trimming reads batch headers with pread. Follower fetches take the same
// path (FollowerReadRanges). With fetch_sendfile=false, or no broker
// config, records are read into memory and the response goes through kmsg.
// Server.FetchStats counts the record bytes sent each way.

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

const isolationReadCommitted = 1

func handleFetch(s *Server, cx *reqCtx, req *kmsg.FetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 15 {
		// KIP-903: a replica names itself in replica_state.
		req.ReplicaID = req.ReplicaState.ID
	}
	sx, eff, code := s.fetchSessionBegin(req)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	var deadline time.Time
	if req.MaxWaitMillis > 0 {
		deadline = time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	}
	var fr *fetchRanges
	if s.sendfile {
		// The ranges go to the connection with the response (finish), which
		// releases them once written or dropped.
		fr = &fetchRanges{}
		cx.fetch = fr
	}
	// A partition about to be served here is waited for (partitions.go)
	// within the fetch's max wait, once: later fills find it ready.
	lk := s.newLookup(readyWait(req.MaxWaitMillis))
	lk.check = cx.topicCheck(acl.OpRead)
	if req.ReplicaID >= 0 && s.AuthorizationEnabled() {
		// A replica needs CLUSTER_ACTION, and no topic ACLs.
		lk.check = nil
		if !cx.authorizeCluster(acl.OpClusterAction) {
			lk.check = denyAll
		}
	}
	defer func() {
		s.fetchSessionFinish(sx, eff, resp, fr)
		s.fetchLeaderEndpoints(resp)
	}()
	for {
		wake, bytes, stop := s.fillFetch(lk, eff, resp, fr)
		if stop || int64(bytes) >= int64(req.MinBytes) || deadline.IsZero() || len(wake) == 0 {
			return resp, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return resp, nil
		}
		if !s.waitAny(wake, left) {
			// Timed out or shutting down: one last read, then answer.
			s.fillFetch(lk, eff, resp, fr)
			return resp, nil
		}
	}
}

// fetchLeaderEndpoints adds KIP-951's node_endpoints (v16+): the listener
// endpoints of the leaders named in current_leader, so that the client can
// go to them before its next metadata refresh.
func (s *Server) fetchLeaderEndpoints(resp *kmsg.FetchResponse) {
	if resp.Version < 16 {
		return
	}
	var im *controlplane.Image
	seen := map[int32]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			id := p.CurrentLeader.LeaderID
			if id < 0 || seen[id] {
				continue
			}
			seen[id] = true
			if im == nil {
				im = s.ctrl.Image()
			}
			host, port, rack, ok := s.leaderEndpoint(im, id)
			if !ok {
				continue
			}
			rb := kmsg.NewFetchResponseBroker()
			rb.NodeID, rb.Host, rb.Port, rb.Rack = id, host, port, rack
			resp.Brokers = append(resp.Brokers, rb)
		}
	}
}

// fillFetch (re)builds resp.Topics from the logs. It returns the Changed
// channels taken before each read (so that no advance between the read and
// the wait is missed), the bytes gathered, and whether to answer now
// because of an error. With fr (the sendfile path), partitions whose Log
// is a RangedLog get file ranges in fr instead of RecordBatches; the ranges
// of an earlier fill are released first.
func (s *Server) fillFetch(lk *partLookup, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, fr *fetchRanges) (wake []<-chan struct{}, total int, stop bool) {
	fr.release()
	maxBytes := int64(math.MaxInt32)
	if req.Version >= 3 && req.MaxBytes >= 0 {
		maxBytes = int64(req.MaxBytes)
	}
	resp.Topics = resp.Topics[:0]
	for _, t := range req.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		ref := topicRef{name: t.Topic}
		if req.Version >= 13 {
			ref = topicRef{id: controlplane.UUID(t.TopicID), byID: true}
		}
		rt.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(t.Partitions))
		var ranges []storage.Ranges
		if fr != nil {
			ranges = make([]storage.Ranges, len(t.Partitions))
			fr.parts = append(fr.parts, ranges)
		}
		for pi, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			// Records is nullable on the wire, but librdkafka rejects a null
			// MessageSet ("invalid MessageSetSize -1"); Kafka always sends
			// an empty one.
			rp.RecordBatches = []byte{}
			epoch := int32(-1)
			if req.Version >= 9 {
				epoch = p.CurrentLeaderEpoch
			}
			part, l, err := lk.partition(ref, p.Partition, epoch)
			if err == nil {
				wake = append(wake, fetchWake(l, req.ReplicaID))
				var n int
				var rg *storage.Ranges
				if ranges != nil {
					rg = &ranges[pi]
				}
				n, err = s.readPartition(req, &rp, l, p, maxBytes-int64(total), total == 0, rg)
				total += n
			}
			if err != nil {
				rp.ErrorCode = errorCode(s.log, err)
				if (errors.Is(err, model.ErrNotLeader) || errors.Is(err, kerr.FencedLeaderEpoch)) && req.Version >= 12 && part.Leader >= 0 {
					// KIP-951's hint (a tagged field since v12): the client
					// can go to the leader before its metadata refresh.
					rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = part.Leader, part.LeaderEpoch
				}
				stop = true
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return wake, total, stop
}

// readPartition fills rp from l, reading at most budget bytes (at least
// one batch when first). With rg (the sendfile path) and a RangedLog, the
// records go into *rg as file ranges and rp.RecordBatches stays empty.
func (s *Server) readPartition(req *kmsg.FetchRequest, rp *kmsg.FetchResponseTopicPartition, l Log, p kmsg.FetchRequestTopicPartition, budget int64, first bool, rg *storage.Ranges) (int, error) {
	limit := min(int64(p.PartitionMaxBytes), budget)
	if limit <= 0 && !first {
		logStart, hw, _ := l.Offsets()
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = int64(hw), int64(hw), int64(logStart)
		return 0, nil
	}
	limit = max(limit, 0)
	if rg != nil {
		if n, ok, err := s.readPartitionRanges(req, rp, l, p, int32(limit), first, rg); ok {
			return n, err
		}
	}
	var rr ReadResult
	var err error
	if rl, ok := l.(ReplicatedLog); ok && req.ReplicaID >= 0 {
		// A follower: its fetch offset is its log end, which the leader
		// tracks for the ISR and high watermark; it reads past the high
		// watermark.
		rr, err = rl.FollowerRead(req.ReplicaID, model.Offset(p.FetchOffset), int32(limit), first)
	} else if tl, ok := l.(TxnLog); ok && req.IsolationLevel == isolationReadCommitted {
		rr, err = tl.ReadCommitted(model.Offset(p.FetchOffset), int32(limit), first)
	} else {
		rr, err = l.Read(model.Offset(p.FetchOffset), int32(limit), first)
	}
	if err != nil {
		logStart, hw, _ := l.Offsets()
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = int64(hw), int64(hw), int64(logStart)
		return 0, err
	}
	rp.HighWatermark = int64(rr.HighWatermark)
	rp.LastStableOffset = int64(rr.LastStableOffset)
	rp.LogStartOffset = int64(rr.LogStartOffset)
	records := rr.Records
	if req.IsolationLevel == isolationReadCommitted && req.ReplicaID < 0 {
		records = batchesBelow(records, rr.LastStableOffset)
		rp.AbortedTransactions = abortedList(rr.Aborted)
	}
	if records != nil {
		rp.RecordBatches = records
	}
	return len(records), nil
}

// readPartitionRanges is readPartition's sendfile path; ok is false when l
// cannot answer with ranges (the caller reads bytes instead).
func (s *Server) readPartitionRanges(req *kmsg.FetchRequest, rp *kmsg.FetchResponseTopicPartition, l Log, p kmsg.FetchRequestTopicPartition, limit int32, first bool, rg *storage.Ranges) (n int, ok bool, err error) {
	var r storage.Ranges
	if _, repl := l.(ReplicatedLog); repl && req.ReplicaID >= 0 {
		rl, ok := l.(RangedReplicatedLog)
		if !ok {
			return 0, false, nil
		}
		r, err = rl.FollowerReadRanges(req.ReplicaID, model.Offset(p.FetchOffset), limit, first)
	} else if tl, ok := l.(RangedTxnLog); ok && req.IsolationLevel == isolationReadCommitted {
		r, err = tl.ReadCommittedRanges(model.Offset(p.FetchOffset), limit, first)
	} else {
		rl, ok := l.(RangedLog)
		if !ok {
			return 0, false, nil
		}
		r, err = rl.ReadRanges(model.Offset(p.FetchOffset), limit, first)
	}
	if err != nil {
		r.Release()
		logStart, hw, _ := l.Offsets()
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = int64(hw), int64(hw), int64(logStart)
		return 0, true, err
	}
	rp.HighWatermark = int64(r.HighWatermark)
	rp.LastStableOffset = int64(r.LastStableOffset)
	rp.LogStartOffset = int64(r.LogStartOffset)
	if req.IsolationLevel == isolationReadCommitted && req.ReplicaID < 0 {
		if err := r.TrimBelow(r.LastStableOffset); err != nil {
			r.Release()
			return 0, true, err
		}
		rp.AbortedTransactions = abortedList(r.Aborted)
	}
	*rg = r
	return int(r.Bytes), true, nil
}

// abortedList is the response's aborted_transactions: never null for
// read_committed (an empty array when none).
func abortedList(as []storage.AbortedTxn) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(as))
	for _, a := range as {
		x := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		x.ProducerID, x.FirstOffset = a.ProducerID, int64(a.FirstOffset)
		out = append(out, x)
	}
	return out
}

// batchesBelow cuts records after the last whole batch that ends below
// end. A record batch starts:
//
//	+------------+-------------+-------------+-------+-------+------------------+
//	| baseOffset | batchLength | leaderEpoch | magic | crc   | attributes | lastOffsetDelta ...
//	| int64      | int32       | int32       | int8  | int32 | int16      | int32
//	+------------+-------------+-------------+-------+-------+------------------+
//	  0            8             12            16      17      21           23
func batchesBelow(records []byte, end model.Offset) []byte {
	pos := 0
	for pos+27 <= len(records) {
		base := int64(binary.BigEndian.Uint64(records[pos:]))
		n := int(int32(binary.BigEndian.Uint32(records[pos+8:])))
		last := base + int64(int32(binary.BigEndian.Uint32(records[pos+23:])))
		if n < 0 || pos+12+n > len(records) || last >= int64(end) {
			break
		}
		pos += 12 + n
	}
	return records[:pos]
}

// waitAny waits until one of chans is closed (true), or d passes or the
// server stops (false).
func (s *Server) waitAny(chans []<-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	if len(chans) == 1 {
		select {
		case <-chans[0]:
			return true
		case <-timer.C:
		case <-s.stopping:
		}
		return false
	}
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.stopping)})
	seen := make(map[<-chan struct{}]bool, len(chans))
	for _, ch := range chans {
		if !seen[ch] {
			seen[ch] = true
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}
