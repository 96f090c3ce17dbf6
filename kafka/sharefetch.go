package kafka

// ShareFetch (key 78): versions 1-2.
//
// Behavior:
//   - A share group member fetches records it acquires for
//     AcquisitionLockTimeoutMillis (the group's share.record.lock.duration.ms),
//     each with its delivery count (package share: one state machine per
//     share-partition; share_partitions.go: loading and durable state).
//   - Share sessions (share.Sessions, keyed by group and member):
//     ShareSessionEpoch 0 opens one with the request's partitions (a
//     member's earlier session is replaced and its records released;
//     acknowledgements with epoch 0 are INVALID_REQUEST), a positive epoch
//     must be the session's next (else INVALID_SHARE_SESSION_EPOCH; no
//     session: SHARE_SESSION_NOT_FOUND) and adds the request's partitions
//     and drops ForgottenTopicsData, -1 applies the acknowledgements, then
//     closes the session and releases every record the member holds on
//     its partitions, fetching nothing. A closed connection closes the
//     sessions it opened the same way. group.share.max.share.sessions
//     bounds the cache (SHARE_SESSION_LIMIT_REACHED).
//   - Piggy-backed acknowledgements (0 gap, 1 accept, 2 release, 3 reject;
//     4 renew with v2's IsRenewAck) are applied per partition first, all or
//     nothing per partition: records the member does not hold are
//     INVALID_RECORD_STATE in AcknowledgeErrorCode without touching the
//     other partitions; the state they change is written to the share
//     coordinator before the answer.
//   - Fetching reads each session partition from its first Available
//     record (the way Fetch reads, whole batches, copied), acquires up to
//     MaxRecords records over the request (at most
//     group.share.partition.max.record.locks in flight per partition), and
//     returns the batches that hold them with their AcquiredRecords ranges.
//     Long poll: with nothing acquired it waits, up to MaxWaitMillis, for a
//     high-watermark advance or a record becoming Available again (release,
//     lock expiry). MaxBytes bounds the response (at least one batch).
//   - v2 IsRenewAck: the request carries only acknowledgements (every fetch
//     limit 0, else INVALID_REQUEST) and nothing is fetched; RENEW extends
//     the locks of records still held.
//   - A partition this node does not lead is NOT_LEADER_OR_FOLLOWER with
//     CurrentLeader and its endpoint in NodeEndpoints (KIP-951); an
//     unknown topic id is UNKNOWN_TOPIC_ID.
//   - Authorization: READ on the group (top-level
//     GROUP_AUTHORIZATION_FAILED), READ on each topic (the partition's
//     TOPIC_AUTHORIZATION_FAILED).
//   - share.isolation.level read_committed stops acquisition at the last
//     stable offset and archives the records of aborted transactions
//     without delivering them; control records (markers) are acquired,
//     and the client acknowledges them as gaps.
//
// Skipped on purpose: v0 (Kafka 4.0's early access, not served by Kafka
// 4.1+); ShareAcquireMode record_limit (v2) is treated as batch-optimized
// except that MaxRecords is never exceeded in either mode; BatchSize does
// not split AcquiredRecords; the member id is checked for form only, not
// against the group (as Kafka).

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/share"
	"github.com/ringtail/ringtail/storage"
)

// maxShareMemberIDBytes is Kafka's bound on a share member id (a UUID
// string is 22 or 36 characters).
const maxShareMemberIDBytes = 36

// defaultShareMaxRecords is what a fetch with MaxRecords <= 0 acquires
// (the Java client's max.poll.records default).
const defaultShareMaxRecords = 500

// shareIdentity checks a share request's group and member: READ on the
// group, then their form.
func shareIdentity(cx *reqCtx, group, member *string) (string, string, int16) {
	g, m := "", ""
	if group != nil {
		g = *group
	}
	if member != nil {
		m = *member
	}
	if !cx.authorize(acl.ResourceGroup, g, acl.OpRead) {
		return g, m, kerr.GroupAuthorizationFailed.Code
	}
	if g == "" || m == "" || len(m) > maxShareMemberIDBytes {
		return g, m, kerr.InvalidRequest.Code
	}
	return g, m, 0
}

// shareAckTypes converts a request's acknowledgement batches.
func shareAckTypes(first, last int64, types []int8) share.AckBatch {
	b := share.AckBatch{First: first, Last: last, Types: make([]share.AckType, len(types))}
	for i, t := range types {
		b.Types[i] = share.AckType(t)
	}
	return b
}

// shareAckOutcome is one partition's acknowledgement result.
type shareAckOutcome struct {
	code   int16
	leader controlplane.Partition
	err    error
}

// shareAcknowledge applies member's acknowledgements of one partition and
// writes the state they changed.
func (s *Server) shareAcknowledge(ctx context.Context, lk *partLookup, group, member string, tid [16]byte, partition int32, batches []share.AckBatch, allowRenew bool) shareAckOutcome {
	part, _, err := lk.partition(topicRef{id: controlplane.UUID(tid), byID: true}, partition, -1)
	if err != nil {
		return shareAckOutcome{code: s.shareErrorCode(err), leader: part, err: err}
	}
	sp := s.shares.existing(share.Key{Group: group, TopicID: tid, Partition: partition})
	if sp == nil {
		err := share.ErrInvalidRecordState
		return shareAckOutcome{code: s.shareErrorCode(err), err: err}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.p == nil || sp.leaderEpoch != part.LeaderEpoch {
		// Never loaded, or loaded under an earlier leadership: the
		// member cannot hold records here.
		err := share.ErrInvalidRecordState
		return shareAckOutcome{code: s.shareErrorCode(err), err: err}
	}
	now := s.cfg.Now()
	if sp.p.Tick(now) > 0 {
		sp.wakeLocked()
	}
	before := sp.p.AcquiredCount()
	if err := sp.p.Acknowledge(member, batches, allowRenew, now); err != nil {
		return shareAckOutcome{code: s.shareErrorCode(err), err: err}
	}
	if sp.p.AcquiredCount() < before {
		sp.wakeLocked() // released records may go to a waiting fetch
	}
	if err := s.sharePersistLocked(ctx, sp); err != nil {
		return shareAckOutcome{code: s.shareErrorCode(err), err: err}
	}
	return shareAckOutcome{}
}

func handleShareFetch(s *Server, cx *reqCtx, req *kmsg.ShareFetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	group, member, code := shareIdentity(cx, req.GroupID, req.MemberID)
	gc := s.shareGroupConfig(group)
	resp.AcquisitionLockTimeoutMillis = int32(gc.RecordLockDuration / time.Millisecond)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	renew := req.Version >= 2 && req.IsRenewAck
	hasAcks := false
	var parts []share.TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, share.TopicPartition{TopicID: t.TopicID, Partition: p.Partition})
			if len(p.AcknowledgementBatches) > 0 {
				hasAcks = true
			} else if renew {
				resp.ErrorCode = kerr.InvalidRequest.Code
				return resp, nil
			}
		}
	}
	if renew && (req.MaxBytes != 0 || req.MinBytes != 0 || req.MaxRecords != 0 || req.MaxWaitMillis != 0) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	key := share.SessionKey{Group: group, Member: member}
	var sessionParts []share.TopicPartition
	switch epoch := req.ShareSessionEpoch; {
	case epoch == 0:
		if hasAcks {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		}
		old, err := s.shares.sessions.Open(key, cx.conn, parts)
		if err != nil {
			resp.ErrorCode = s.shareErrorCode(err)
			return resp, nil
		}
		s.shareReleaseMember(group, member, old)
		sessionParts = parts
	case epoch == -1:
		// Acknowledge, then close below.
		if err := s.shares.sessions.Check(key); err != nil {
			resp.ErrorCode = s.shareErrorCode(err)
			return resp, nil
		}
	default:
		var forget []share.TopicPartition
		for _, f := range req.ForgottenTopicsData {
			for _, p := range f.Partitions {
				forget = append(forget, share.TopicPartition{TopicID: f.TopicID, Partition: p})
			}
		}
		var err error
		if sessionParts, err = s.shares.sessions.Next(key, epoch, parts, forget); err != nil {
			resp.ErrorCode = s.shareErrorCode(err)
			return resp, nil
		}
	}

	rb := newShareFetchResp(resp)
	lk := s.newLookup(readyWait(req.MaxWaitMillis))
	lk.check = cx.topicCheck(acl.OpRead)
	ctx, cancel := context.WithTimeout(context.Background(), shareStateWait+5*time.Second)
	defer cancel()
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if len(p.AcknowledgementBatches) == 0 {
				continue
			}
			batches := make([]share.AckBatch, 0, len(p.AcknowledgementBatches))
			for _, b := range p.AcknowledgementBatches {
				batches = append(batches, shareAckTypes(b.FirstOffset, b.LastOffset, b.AcknowledgeTypes))
			}
			out := s.shareAcknowledge(ctx, lk, group, member, t.TopicID, p.Partition, batches, renew)
			rp := rb.part(t.TopicID, p.Partition)
			rp.AcknowledgeErrorCode, rp.AcknowledgeErrorMessage = out.code, errorMessage(out.err)
		}
	}
	if req.ShareSessionEpoch == -1 {
		closed, err := s.shares.sessions.Close(key)
		if err != nil {
			resp.ErrorCode = s.shareErrorCode(err)
			resp.Topics = nil
			return resp, nil
		}
		s.shareReleaseMember(group, member, closed)
		return resp, nil
	}
	if renew {
		return resp, nil
	}
	sortedParts(sessionParts)
	s.shareFetchLoop(ctx, lk, req, rb, group, member, gc, sessionParts)
	s.shareFetchEndpoints(resp)
	return resp, nil
}

// shareFetchLoop fills the response from parts, long-polling while it
// acquires nothing.
func (s *Server) shareFetchLoop(ctx context.Context, lk *partLookup, req *kmsg.ShareFetchRequest, rb *shareFetchResp, group, member string, gc ShareGroupConfig, parts []share.TopicPartition) {
	var deadline time.Time
	if req.MaxWaitMillis > 0 {
		deadline = time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	}
	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = defaultShareMaxRecords
	}
	maxBytes := int64(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 1 << 31
	}
	for {
		var wake []<-chan struct{}
		records, bytes, stop := 0, int64(0), false
		for _, tp := range parts {
			if records >= maxRecords {
				break
			}
			part, l, err := lk.partition(topicRef{id: controlplane.UUID(tp.TopicID), byID: true}, tp.Partition, -1)
			if err == nil {
				var n int
				var b int64
				var ch []<-chan struct{}
				n, b, ch, err = s.shareFetchPartition(ctx, rb, tp, l, part.LeaderEpoch, group, member, gc, maxRecords-records, maxBytes-bytes, bytes == 0)
				records, bytes, wake = records+n, bytes+b, append(wake, ch...)
			}
			if err != nil {
				rp := rb.part(tp.TopicID, tp.Partition)
				rp.ErrorCode, rp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
				if errors.Is(err, model.ErrNotLeader) || errors.Is(err, kerr.NotLeaderForPartition) {
					rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = part.Leader, part.LeaderEpoch
				}
				stop = true
			}
		}
		if stop || records > 0 || deadline.IsZero() || len(wake) == 0 {
			return
		}
		left := time.Until(deadline)
		if left <= 0 || !s.waitAny(wake, left) {
			return
		}
	}
}

// shareFetchPartition acquires records of one partition for member into
// the response. It returns the records acquired, the bytes added, and the
// channels to wait on when nothing was.
func (s *Server) shareFetchPartition(ctx context.Context, rb *shareFetchResp, tp share.TopicPartition, l Log, leaderEpoch int32, group, member string, gc ShareGroupConfig, maxRecords int, budget int64, first bool) (int, int64, []<-chan struct{}, error) {
	im := s.ctrl.Image()
	sp := s.shares.partFor(share.Key{Group: group, TopicID: tp.TopicID, Partition: tp.Partition}, shareTopicName(im, tp.TopicID))
	wake := []<-chan struct{}{l.Changed()}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	wake = append(wake, sp.avail)
	if err := s.shareLoadLocked(ctx, sp, l, gc, leaderEpoch); err != nil {
		return 0, 0, nil, err
	}
	now := s.cfg.Now()
	if sp.p.Tick(now) > 0 {
		sp.wakeLocked()
		wake[1] = sp.avail
	}
	if !sp.p.CanAcquire() || (budget <= 0 && !first) {
		return 0, 0, wake, nil
	}
	records, ranges, err := s.shareReadLog(sp, l, member, maxRecords, int32(min(budget, 1<<31-1)), gc.IsolationLevel == isolationReadCommitted, now)
	if err != nil {
		return 0, 0, nil, err
	}
	if sp.p.Version() != sp.written {
		// The SPSO moved with the log start: written now, so that a
		// restart does not go back.
		if err := s.sharePersistLocked(ctx, sp); err != nil {
			s.log.Debug("writing share state failed; the next change retries", "share_partition", sp.key.String(), "err", err)
		}
	}
	if len(ranges) == 0 {
		return 0, 0, wake, nil
	}
	rp := rb.part(tp.TopicID, tp.Partition)
	rp.Records = append(rp.Records, records...)
	n := 0
	for _, r := range ranges {
		ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
		ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = r.First, r.Last, r.DeliveryCount
		rp.AcquiredRecords = append(rp.AcquiredRecords, ar)
		n += int(r.Last - r.First + 1)
	}
	return n, int64(len(records)), nil, nil
}

// shareReadLog reads l from sp's next fetch offset and acquires what it
// read for member; it returns the batches holding the acquired records.
func (s *Server) shareReadLog(sp *sharePart, l Log, member string, maxRecords int, maxBytes int32, readCommitted bool, now time.Time) ([]byte, []share.AcquiredRange, error) {
	for attempt := 0; ; attempt++ {
		logStart, _, _ := l.Offsets()
		if int64(logStart) > sp.p.StartOffset() {
			sp.p.MoveStart(int64(logStart))
		}
		off := sp.p.NextFetchOffset()
		var rr ReadResult
		var err error
		if tl, ok := l.(TxnLog); ok && readCommitted {
			rr, err = tl.ReadCommitted(model.Offset(off), maxBytes, true)
		} else {
			rr, err = l.Read(model.Offset(off), maxBytes, true)
		}
		if errors.Is(err, model.ErrOffsetOutOfRange) && attempt == 0 {
			continue // the log start moved under us: once more
		}
		if errors.Is(err, model.ErrOffsetOutOfRange) {
			return nil, nil, nil // past the high watermark: nothing yet
		}
		if err != nil {
			return nil, nil, err
		}
		records := rr.Records
		if readCommitted {
			records = batchesBelow(records, rr.LastStableOffset)
		}
		_, last, ok := batchSpan(records)
		if !ok {
			return nil, nil, nil
		}
		if readCommitted {
			// Records of aborted transactions are archived, never
			// delivered (share fetches carry no aborted list).
			for _, r := range abortedBatches(records, rr.Aborted) {
				sp.p.Skip(r[0], r[1])
			}
		}
		ranges := sp.p.Acquire(member, off, last, maxRecords, now)
		if len(ranges) == 0 {
			return nil, nil, nil
		}
		return batchesOverlapping(records, ranges[0].First, ranges[len(ranges)-1].Last), ranges, nil
	}
}

// abortedBatches is the offset ranges of the transactional data batches
// in records that belong to aborted, the aborted transactions of the read
// (a batch of producer p starting within [FirstOffset, LastOffset]).
// Batch header fields: attributes at 21 (0x10 transactional, 0x20
// control), producer id at 43.
func abortedBatches(records []byte, aborted []storage.AbortedTxn) [][2]int64 {
	if len(aborted) == 0 {
		return nil
	}
	var out [][2]int64
	pos := 0
	for pos+batchHeaderLen <= len(records) {
		base := int64(binary.BigEndian.Uint64(records[pos:]))
		n := int(int32(binary.BigEndian.Uint32(records[pos+8:])))
		if n < batchHeaderLen-12 || pos+12+n > len(records) {
			break
		}
		attrs := binary.BigEndian.Uint16(records[pos+21:])
		if attrs&0x10 != 0 && attrs&0x20 == 0 {
			pid := int64(binary.BigEndian.Uint64(records[pos+43:]))
			for _, a := range aborted {
				if a.ProducerID == pid && base >= int64(a.FirstOffset) && base <= int64(a.LastOffset) {
					out = append(out, [2]int64{base, base + int64(int32(binary.BigEndian.Uint32(records[pos+23:])))})
					break
				}
			}
		}
		pos += 12 + n
	}
	return out
}

// batchHeaderLen is a magic-v2 batch header through its record count.
const batchHeaderLen = 61

// batchSpan is the first and last offsets of the whole batches in records.
func batchSpan(records []byte) (first, last int64, ok bool) {
	pos := 0
	for pos+27 <= len(records) {
		base := int64(binary.BigEndian.Uint64(records[pos:]))
		n := int(int32(binary.BigEndian.Uint32(records[pos+8:])))
		if n < 15 || pos+12+n > len(records) {
			break
		}
		if !ok {
			first, ok = base, true
		}
		last = base + int64(int32(binary.BigEndian.Uint32(records[pos+23:])))
		pos += 12 + n
	}
	return first, last, ok
}

// batchesOverlapping keeps the whole batches of records that hold an
// offset in [from, to].
func batchesOverlapping(records []byte, from, to int64) []byte {
	pos, start, end := 0, -1, 0
	for pos+27 <= len(records) {
		base := int64(binary.BigEndian.Uint64(records[pos:]))
		n := int(int32(binary.BigEndian.Uint32(records[pos+8:])))
		if n < 15 || pos+12+n > len(records) {
			break
		}
		last := base + int64(int32(binary.BigEndian.Uint32(records[pos+23:])))
		if last >= from && base <= to {
			if start < 0 {
				start = pos
			}
			end = pos + 12 + n
		}
		pos += 12 + n
	}
	if start < 0 {
		return nil
	}
	return records[start:end]
}

// shareFetchResp builds a response's topics and partitions in order of
// first mention.
type shareFetchResp struct {
	resp   *kmsg.ShareFetchResponse
	topics map[[16]byte]int
	parts  map[share.TopicPartition][2]int
}

func newShareFetchResp(resp *kmsg.ShareFetchResponse) *shareFetchResp {
	return &shareFetchResp{resp: resp, topics: map[[16]byte]int{}, parts: map[share.TopicPartition][2]int{}}
}

func (b *shareFetchResp) part(tid [16]byte, partition int32) *kmsg.ShareFetchResponseTopicPartition {
	tp := share.TopicPartition{TopicID: tid, Partition: partition}
	if ix, ok := b.parts[tp]; ok {
		return &b.resp.Topics[ix[0]].Partitions[ix[1]]
	}
	ti, ok := b.topics[tid]
	if !ok {
		ti = len(b.resp.Topics)
		b.topics[tid] = ti
		rt := kmsg.NewShareFetchResponseTopic()
		rt.TopicID = tid
		b.resp.Topics = append(b.resp.Topics, rt)
	}
	rp := kmsg.NewShareFetchResponseTopicPartition()
	rp.Partition = partition
	rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
	rp.Records = []byte{}
	t := &b.resp.Topics[ti]
	t.Partitions = append(t.Partitions, rp)
	b.parts[tp] = [2]int{ti, len(t.Partitions) - 1}
	return &t.Partitions[len(t.Partitions)-1]
}

// shareFetchEndpoints adds KIP-951's NodeEndpoints of the leaders named
// in CurrentLeader.
func (s *Server) shareFetchEndpoints(resp *kmsg.ShareFetchResponse) {
	im := s.ctrl.Image()
	seen := map[int32]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			id := p.CurrentLeader.LeaderID
			if id < 0 || seen[id] {
				continue
			}
			seen[id] = true
			if host, port, rack, ok := s.leaderEndpoint(im, id); ok {
				ne := kmsg.NewShareFetchResponseNodeEndpoint()
				ne.NodeID, ne.Host, ne.Port, ne.Rack = id, host, port, rack
				resp.NodeEndpoints = append(resp.NodeEndpoints, ne)
			}
		}
	}
}
