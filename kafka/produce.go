package kafka

// Produce (key 0): versions 3-12.
//
// Behavior:
//   - acks 0, 1 and -1; any other value is INVALID_REQUIRED_ACKS for every
//     partition. acks=0 gets no response at all; if any partition fails,
//     the connection is closed instead (what Kafka does, so the client
//     notices and refreshes metadata).
//   - Each partition's records field goes to Log.Append exactly as it came:
//     compressed batches are stored as sent. The log validates (CRC,
//     framing, size against message.max.bytes, sequence numbers) and its
//     errors map through errors.go: CORRUPT_MESSAGE, MESSAGE_TOO_LARGE,
//     INVALID_RECORD, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
//     KAFKA_STORAGE_ERROR, ...
//   - Appends start on the connection's reader in request order and finish
//     asynchronously, so pipelined produce requests overlap while every
//     partition sees them in request order.
//   - acks=-1 waits at most timeout_ms; partitions not done by then answer
//     REQUEST_TIMED_OUT (their appends still complete). On a replicated
//     partition (ReplicatedLog) it is refused with NOT_ENOUGH_REPLICAS
//     before the append when the ISR is below min.insync.replicas, and
//     answered once the high watermark passes the batch
//     (NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below it).
//     acks=1 answers on the leader's local append.
//   - Unknown topics are UNKNOWN_TOPIC_OR_PARTITION (produce never creates
//     topics, as in Kafka; only Metadata does), names that break Kafka's
//     rules are INVALID_TOPIC_EXCEPTION, partitions led elsewhere are
//     NOT_LEADER_OR_FOLLOWER. Before answering either, a partition led
//     here whose log is still being created is waited for (within
//     timeout_ms, at least 1 s), and a topic or partition this node does
//     not know yet makes it catch up with the metadata quorum once, so the
//     first produce right after CreateTopics succeeds (partitions.go).
//
//   - With a transactional_id the batches must be transactional; where
//     this node is the id's transaction coordinator, a partition not
//     added to the ongoing transaction (AddPartitionsToTxn) is refused
//     with INVALID_TXN_STATE (KIP-890 part 1). The log refuses writes of a
//     fenced epoch (INVALID_PRODUCER_EPOCH).
//
//   - v10+ (KIP-951 leader discovery): a partition answered
//     NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH carries CurrentLeader
//     (the leader and epoch this node's metadata image has, when there is
//     one), and the response's NodeEndpoints list those leaders' endpoints
//     on this listener, so the client moves without a metadata refresh.
//   - v11 lets the broker answer TRANSACTION_ABORTABLE; Ringtail never
//     needs to (a failed verification stays the retriable
//     NOT_ENOUGH_REPLICAS, which v11 clients also retry).
//   - v12 (KIP-890 part 2): a transactional partition is added to the
//     ongoing transaction by the produce itself (what AddPartitionsToTxn
//     would do, locally or with AddPartitionsToTxn v4+ verify_only=false
//     to the coordinator's node) instead of being refused when it is not
//     in it. Clients send v12 transactionally when transaction.version
//     is 2 (features.go) and they opt in to it; they then never call
//     AddPartitionsToTxn.
//
//   - Authorization (authz.go): WRITE on each topic, else
//     TOPIC_AUTHORIZATION_FAILED before any other check; with a
//     transactional_id, WRITE on it, else every partition is
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED. Idempotent produce needs
//     nothing more (KIP-679: WRITE on a topic implies IDEMPOTENT_WRITE).
//
// Skipped on purpose: quotas (throttle is 0); per-record errors
// (ErrorRecords) — the whole batch fails with a message; KIP-890's
// verification when the coordinator is another node (the partition is
// taken on trust there, as before KIP-890).

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

func handleProduce(s *Server, cx *reqCtx, kreq kmsg.Request, finish func(kmsg.Response, error)) {
	req, ok := kreq.(*kmsg.ProduceRequest)
	if !ok {
		finish(nil, errCloseConn)
		return
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	lk := s.newLookup(readyWait(req.TimeoutMillis))
	lk.check = cx.topicCheck(acl.OpWrite)

	var mu sync.Mutex // guards the response partitions once appends run
	anyErr := false
	setErr := func(rp *kmsg.ProduceResponseTopicPartition, err error) {
		anyErr = true
		rp.ErrorCode = errorCode(s.log, err)
		s.log.Debug("produce refused", "partition", rp.Partition, "code", rp.ErrorCode, "err", err)
		if req.Version >= 8 {
			rp.ErrorMessage = errorMessage(err)
		}
	}

	todo := s.planProduce(cx, req, resp, lk, setErr)

	var (
		finished bool
		timer    *time.Timer
		// remaining counts appends not done yet, plus one for the loop
		// issuing them, so that nothing answers before every append has
		// been started.
		remaining = len(todo) + 1
	)
	// complete answers; callers hold mu.
	complete := func() {
		finished = true
		if timer != nil {
			timer.Stop()
		}
		if req.Version >= 10 {
			s.leaderHints(resp)
		}
		switch {
		case req.Acks != 0:
			finish(resp, nil)
		case anyErr:
			finish(nil, errors.New("acks=0 produce failed; closing the connection as Kafka does"))
		default:
			finish(nil, nil)
		}
	}
	mu.Lock()
	if req.Acks == -1 && req.TimeoutMillis > 0 && len(todo) > 0 {
		timer = time.AfterFunc(time.Duration(req.TimeoutMillis)*time.Millisecond, func() {
			mu.Lock()
			defer mu.Unlock()
			if finished {
				return
			}
			for _, p := range todo {
				if !p.done {
					p.done = true
					setErr(p.rp, kerr.RequestTimedOut)
				}
			}
			complete()
		})
	}
	mu.Unlock()
	deadline := time.Now().Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	// answer records one partition's outcome; callers hold mu.
	answer := func(p *producePending, r AppendResult, err error) {
		if finished || p.done {
			return
		}
		p.done = true
		p.rp.LogStartOffset = int64(r.LogStartOffset)
		if err != nil {
			setErr(p.rp, err)
		} else {
			p.rp.BaseOffset = int64(r.BaseOffset)
			p.rp.LogAppendTime = r.LogAppendTime
		}
		if remaining--; remaining == 0 {
			complete()
		}
	}
	// The records alias the request's pooled frame: it is held until
	// every append has completed (framepool.go), whenever the response
	// leaves.
	var appending atomic.Int32
	appending.Store(int32(len(todo)))
	if len(todo) > 0 {
		cx.holdFrame()
	}
	for _, p := range todo {
		p.log.Append(p.records, p.epoch, func(r AppendResult) {
			if appending.Add(-1) == 0 {
				cx.releaseFrame()
			}
			rl, replicated := p.log.(ReplicatedLog)
			if r.Err != nil || req.Acks != -1 || !replicated {
				mu.Lock()
				defer mu.Unlock()
				answer(p, r, r.Err)
				return
			}
			// acks=all: answered once the in-sync replicas have it.
			rl.AwaitCommit(r.LastOffset, deadline, func(err error) {
				mu.Lock()
				defer mu.Unlock()
				answer(p, r, err)
			})
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if remaining--; remaining == 0 && !finished {
		complete()
	}
}

// leaderHints fills KIP-951's CurrentLeader of each partition answered
// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH, from this node's image,
// and the endpoints of the leaders it names.
func (s *Server) leaderHints(resp *kmsg.ProduceResponse) {
	im := s.ctrl.Image()
	var leaders []int32
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		t := im.Topics[rt.Topic]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if rp.ErrorCode != kerr.NotLeaderForPartition.Code && rp.ErrorCode != kerr.FencedLeaderEpoch.Code {
				continue
			}
			if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				continue
			}
			p := t.Partitions[rp.Partition]
			if p.Leader < 0 || p.Leader == s.cfg.NodeID {
				continue // no better leader to name
			}
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = p.Leader, p.LeaderEpoch
			if !slices.Contains(leaders, p.Leader) {
				leaders = append(leaders, p.Leader)
			}
		}
	}
	slices.Sort(leaders)
	for _, id := range leaders {
		host, port, rack, ok := s.leaderEndpoint(im, id)
		if !ok {
			continue
		}
		nb := kmsg.NewProduceResponseBroker()
		nb.NodeID, nb.Host, nb.Port, nb.Rack = id, host, port, rack
		resp.Brokers = append(resp.Brokers, nb)
	}
}

// leaderEndpoint is broker id's endpoint on this listener and its rack
// (nil when unset), for KIP-951's node_endpoints in Produce and Fetch.
func (s *Server) leaderEndpoint(im *controlplane.Image, id int32) (host string, port int32, rack *string, ok bool) {
	b := im.Brokers[id]
	if b == nil {
		return "", 0, nil, false
	}
	ep, ok := b.Endpoint(s.cfg.ListenerName)
	if !ok {
		return "", 0, nil, false
	}
	if b.Rack != "" {
		r := b.Rack
		rack = &r
	}
	return ep.Host, ep.Port, rack, true
}

// producePending is one partition of a Produce whose records go to its log.
type producePending struct {
	rp      *kmsg.ProduceResponseTopicPartition
	log     Log
	epoch   model.Epoch
	records []byte
	done    bool
}

// planProduce fills resp with a partition per requested one and returns
// those whose records may be appended; the others get their error through
// setErr.
func (s *Server) planProduce(cx *reqCtx, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, lk *partLookup, setErr func(*kmsg.ProduceResponseTopicPartition, error)) []*producePending {
	txnDenied := req.TransactionID != nil && !cx.authorize(acl.ResourceTransactionalID, *req.TransactionID, acl.OpWrite)
	var todo []*producePending
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			rp := &rt.Partitions[i]
			*rp = kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.BaseOffset = -1
			switch {
			case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
				setErr(rp, kerr.InvalidRequiredAcks)
				continue
			case txnDenied:
				setErr(rp, kerr.TransactionalIDAuthorizationFailed)
				continue
			}
			part, l, err := lk.partition(topicRef{name: t.Topic}, p.Partition, -1)
			if err == nil && len(p.Records) == 0 {
				err = fmt.Errorf("%w: produce request without records for %s-%d", model.ErrInvalidRecord, t.Topic, p.Partition)
			}
			if err == nil && req.TransactionID != nil {
				err = s.verifyTxnProduce(*req.TransactionID, p.Records, model.TopicPartition{Topic: t.Topic, Partition: p.Partition}, req.Version >= 12)
			}
			if err != nil {
				setErr(rp, err)
				continue
			}
			if rl, ok := l.(ReplicatedLog); ok && req.Acks == -1 {
				if err := rl.CheckAppend(); err != nil {
					setErr(rp, err)
					continue
				}
			}
			todo = append(todo, &producePending{rp: rp, log: l, epoch: model.Epoch(part.LeaderEpoch), records: p.Records})
		}
		resp.Topics = append(resp.Topics, rt)
	}

	return todo
}
