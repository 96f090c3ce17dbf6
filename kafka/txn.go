package kafka

// The transaction requests a client sends to its transaction coordinator
// (txn.Manager, the leader of the transactional id's __transaction_state
// partition; FindCoordinator with key type 1 names it):
//
// InitProducerId (key 22) with a transactional id, versions 0-5:
//   - the id's producer id and a new epoch, fencing any older producer of
//     the id (its next request answers PRODUCER_FENCED); an open
//     transaction of the older producer is aborted first: the answer is
//     CONCURRENT_TRANSACTIONS (retriable) until its markers are written.
//     v3+ producer_id/epoch (KIP-360): a producer that knows its id may
//     only bump its own epoch.
//   - transaction_timeout_ms above transaction.max.timeout.ms (or <= 0):
//     INVALID_TRANSACTION_TIMEOUT; an empty id or one over
//     txn.MaxTransactionalIDBytes: INVALID_REQUEST.
//
// AddPartitionsToTxn (key 24), versions 0-5: v0-3 add the partitions to
// the client's transaction (starting it); every partition answers the
// same code, except that unknown topics or partitions answer
// UNKNOWN_TOPIC_OR_PARTITION and the rest OPERATION_NOT_ATTEMPTED, as in
// Kafka. v4+ (KIP-890, broker to coordinator) batch several
// transactions; verify_only checks, without adding, that the partitions
// are in the ongoing transaction (INVALID_TXN_STATE otherwise).
//
// AddOffsetsToTxn (key 25), versions 0-4: adds the group's
// __consumer_offsets partition, so that TxnOffsetCommit's offsets commit
// or abort with the transaction. (InitProducerId v5, AddPartitionsToTxn
// v5, AddOffsetsToTxn v4 and TxnOffsetCommit v4 only add the client's
// support for TRANSACTION_ABORTABLE, which Ringtail never needs to send.)
//
// EndTxn (key 26), versions 0-5: commit or abort; answered once the
// markers are written (or once the decision is durable, if writing them
// outlasts the request), see txn.Manager.EndTxn. v5 (KIP-890 part 2,
// transaction version 2, txn/tv2.go): the coordinator bumps the producer
// epoch with every transaction's end, writes the markers at the bumped
// epoch, and answers the producer id and epoch the client goes on with
// (a new producer id at epoch 0 once the epochs run out); a retry of
// that EndTxn is recognised; an abort with no transaction open is
// allowed (a TV2 client cannot know whether its produce added a
// partition).
//
// WriteTxnMarkers (key 27), versions 0-1: the coordinator's markers for
// the partitions this node leads, appended as control batches (through
// replication, answered at acks=all); a marker on __consumer_offsets also
// completes the group's transactional offsets. Partitions led elsewhere:
// NOT_LEADER_OR_FOLLOWER, and the coordinator retries at the new leader.
//   - Authorization: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn
//     and EndTxn need WRITE on the transactional id
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); AddPartitionsToTxn also WRITE
//     on each topic (TOPIC_AUTHORIZATION_FAILED, the others
//     OPERATION_NOT_ATTEMPTED); AddOffsetsToTxn READ on the group
//     (GROUP_AUTHORIZATION_FAILED); WriteTxnMarkers CLUSTER_ACTION on the
//     cluster (CLUSTER_AUTHORIZATION_FAILED).
//
// Transaction version 2 (KIP-890 part 2) is finalized (features.go):
// EndTxn v5 above, Produce v12's implicit add (produce.go) and
// TxnOffsetCommit v5's implicit AddOffsetsToTxn (txnoffsetcommit.go).
// Clients that do not opt in keep the version 0 behavior.
//
// Skipped on purpose: InitProducerId v6 (KIP-939).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
	"github.com/ringtail/ringtail/txn"
)

// txnRequestTimeout bounds a coordinator call (InitProducerId, AddPartitions,
// EndTxn): Kafka's clients wait request.timeout.ms (30 s by default).
const txnRequestTimeout = 25 * time.Second

var errNoTxns = fmt.Errorf("no transaction coordinator on this node: %w", kerr.CoordinatorNotAvailable)

// txns is the transaction coordinator, or an error when this node has none.
func (s *Server) txns() (*txn.Manager, error) {
	if s.cfg.Txns == nil {
		return nil, errNoTxns
	}
	return s.cfg.Txns, nil
}

// txnErr turns the coordinator's NOT_COORDINATOR into
// COORDINATOR_LOAD_IN_PROGRESS when the image says this node leads the
// id's __transaction_state partition: it is about to load it (the daemon
// follows leadership), and the client should retry here rather than look
// for the coordinator again, as Kafka answers while it loads.
func (s *Server) txnErr(id string, err error) error {
	if err == nil || !errors.Is(err, kerr.NotCoordinator) || s.cfg.Txns == nil {
		return err
	}
	n := s.cfg.Txns.NumPartitions()
	t := s.ctrl.Image().Topics[txn.StateTopic]
	if t != nil && int32(len(t.Partitions)) == n && t.Partitions[txn.PartitionFor(id, n)].Leader == s.cfg.NodeID {
		return fmt.Errorf("%s is being loaded here: %w", txn.StateTopic, kerr.CoordinatorLoadInProgress)
	}
	return err
}

func txnCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), txnRequestTimeout)
}

func (s *Server) initTransactionalProducer(req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) {
	m, err := s.txns()
	if err == nil {
		ctx, cancel := txnCtx()
		defer cancel()
		pid, epoch := int64(-1), int16(-1)
		if req.Version >= 3 {
			pid, epoch = req.ProducerID, req.ProducerEpoch
		}
		var id int64
		var e int16
		id, e, err = m.InitProducerID(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, pid, epoch)
		if err == nil {
			resp.ProducerID, resp.ProducerEpoch = id, e
			return
		}
	}
	err = s.txnErr(*req.TransactionalID, err)
	resp.ErrorCode = errorCode(s.log, err)
	s.log.Debug("InitProducerId refused", "transactional_id", *req.TransactionalID, "err", err)
}

func handleAddPartitionsToTxn(s *Server, cx *reqCtx, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version <= 3 {
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch = req.TransactionalID, req.ProducerID, req.ProducerEpoch
		for _, t := range req.Topics {
			tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			tt.Topic, tt.Partitions = t.Topic, t.Partitions
			tx.Topics = append(tx.Topics, tt)
		}
		res := s.addPartitionsToTxn(cx, &tx)
		for _, rt := range res.Topics {
			t := kmsg.NewAddPartitionsToTxnResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				p.Partition, p.ErrorCode = rp.Partition, rp.ErrorCode
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil
	}
	for i := range req.Transactions {
		resp.Transactions = append(resp.Transactions, s.addPartitionsToTxn(cx, &req.Transactions[i]))
	}
	return resp, nil
}

// addPartitionsToTxn serves one transaction of AddPartitionsToTxn.
func (s *Server) addPartitionsToTxn(cx *reqCtx, tx *kmsg.AddPartitionsToTxnRequestTransaction) kmsg.AddPartitionsToTxnResponseTransaction {
	out := kmsg.NewAddPartitionsToTxnResponseTransaction()
	out.TransactionalID = tx.TransactionalID
	im := s.ctrl.Image()
	var tps []model.TopicPartition
	unknown := map[model.TopicPartition]bool{}
	denied := map[model.TopicPartition]bool{}
	txnDenied := cx.txnIDCheck(tx.TransactionalID)
	for _, t := range tx.Topics {
		topic := im.Topics[t.Topic]
		topicDenied := txnDenied == nil && !cx.authorize(acl.ResourceTopic, t.Topic, acl.OpWrite)
		for _, p := range t.Partitions {
			tp := model.TopicPartition{Topic: t.Topic, Partition: p}
			if topicDenied {
				denied[tp] = true
				continue
			}
			if topic == nil || p < 0 || int(p) >= len(topic.Partitions) {
				unknown[tp] = true
				continue
			}
			tps = append(tps, tp)
		}
	}
	var errs map[model.TopicPartition]error
	var all error
	m, err := s.txns()
	switch {
	case txnDenied != nil:
		all = txnDenied
	case err != nil:
		all = err
	case len(unknown) > 0 || len(denied) > 0:
		all = kerr.OperationNotAttempted
	case tx.VerifyOnly:
		errs = m.Verify(tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tps)
	default:
		ctx, cancel := txnCtx()
		all = s.txnErr(tx.TransactionalID, m.AddPartitions(ctx, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tps))
		cancel()
	}
	for _, t := range tx.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			rp.Partition = p
			tp := model.TopicPartition{Topic: t.Topic, Partition: p}
			switch {
			case txnDenied != nil:
				rp.ErrorCode = errorCode(s.log, txnDenied)
			case denied[tp]:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case unknown[tp]:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case all != nil:
				rp.ErrorCode = errorCode(s.log, all)
			case errs != nil:
				rp.ErrorCode = errorCode(s.log, errs[tp])
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		out.Topics = append(out.Topics, rt)
	}
	return out
}

func handleAddOffsetsToTxn(s *Server, cx *reqCtx, req *kmsg.AddOffsetsToTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	err := func() error {
		if err := cx.txnIDCheck(req.TransactionalID); err != nil {
			return err
		}
		if req.Group == "" || len(req.Group) > group.MaxGroupIDBytes {
			return fmt.Errorf("%w: %d bytes; valid is 1 to %d", group.ErrInvalidGroupID, len(req.Group), group.MaxGroupIDBytes)
		}
		gc, err := s.groupsAs(cx, req.Group, acl.OpRead)
		if err != nil {
			return err
		}
		m, err := s.txns()
		if err != nil {
			return err
		}
		tp := model.TopicPartition{Topic: group.OffsetsTopic, Partition: group.PartitionFor(req.Group, gc.NumPartitions())}
		ctx, cancel := txnCtx()
		defer cancel()
		return s.txnErr(req.TransactionalID, m.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []model.TopicPartition{tp}))
	}()
	resp.ErrorCode = errorCode(s.log, err)
	return resp, nil
}

func handleEndTxn(s *Server, cx *reqCtx, req *kmsg.EndTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if err := cx.txnIDCheck(req.TransactionalID); err != nil {
		resp.ErrorCode = errorCode(s.log, err)
		return resp, nil
	}
	m, err := s.txns()
	if err == nil {
		ctx, cancel := txnCtx()
		if req.Version >= 5 {
			// KIP-890 part 2: the coordinator bumps the epoch; the
			// client goes on with the id and epoch answered.
			var pid int64
			var epoch int16
			pid, epoch, err = m.EndTxnTV2(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
			err = s.txnErr(req.TransactionalID, err)
			if err == nil {
				resp.ProducerID, resp.ProducerEpoch = pid, epoch
			}
		} else {
			err = s.txnErr(req.TransactionalID, m.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit))
		}
		cancel()
	}
	if err != nil {
		s.log.Debug("EndTxn refused", "transactional_id", req.TransactionalID, "commit", req.Commit, "err", err)
	}
	resp.ErrorCode = errorCode(s.log, err)
	return resp, nil
}

func handleWriteTxnMarkers(s *Server, cx *reqCtx, req *kmsg.WriteTxnMarkersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	clusterAction := cx.authorizeCluster(acl.OpClusterAction)
	for _, mk := range req.Markers {
		m := storage.Marker{ProducerID: mk.ProducerID, Epoch: mk.ProducerEpoch, Commit: mk.Committed, CoordinatorEpoch: mk.CoordinatorEpoch}
		var tps []model.TopicPartition
		for _, t := range mk.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, model.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		errs := map[model.TopicPartition]error{}
		if !clusterAction {
			for _, tp := range tps {
				errs[tp] = kerr.ClusterAuthorizationFailed
			}
		} else {
			errs = s.writeMarkersLocal(m, tps, time.Now().Add(txnRequestTimeout))
		}
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = mk.ProducerID
		for _, t := range mk.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				rp.ErrorCode = errorCode(s.log, errs[model.TopicPartition{Topic: t.Topic, Partition: p}])
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

// writeMarkersLocal appends m to each of tps that this node leads and
// waits (until deadline) for the in-sync replicas; a marker on
// __consumer_offsets then completes the group coordinator's
// transactional offsets. It returns the failed partitions.
func (s *Server) writeMarkersLocal(m storage.Marker, tps []model.TopicPartition, deadline time.Time) map[model.TopicPartition]error {
	errs := map[model.TopicPartition]error{}
	type result struct {
		tp  model.TopicPartition
		err error
	}
	ch := make(chan result, len(tps))
	lk := s.newLookup(min(time.Until(deadline), readyWaitMax))
	for _, tp := range tps {
		part, l, err := lk.partition(topicRef{name: tp.Topic}, tp.Partition, -1)
		if err != nil {
			ch <- result{tp, err}
			continue
		}
		tl, ok := l.(TxnLog)
		if !ok {
			ch <- result{tp, fmt.Errorf("%s: the log cannot hold transaction markers: %w", tp, kerr.UnknownServerError)}
			continue
		}
		tl.AppendMarker(m, model.Epoch(part.LeaderEpoch), func(r AppendResult) {
			rl, replicated := l.(ReplicatedLog)
			if r.Err != nil || !replicated {
				ch <- result{tp, r.Err}
				return
			}
			rl.AwaitCommit(r.LastOffset, deadline, func(err error) { ch <- result{tp, err} })
		})
	}
	for range tps {
		r := <-ch
		s.forgetVerified(r.tp, m.ProducerID)
		if r.err != nil {
			errs[r.tp] = r.err
			continue
		}
		if r.tp.Topic == group.OffsetsTopic && s.cfg.Groups != nil {
			s.cfg.Groups.CompleteTxn(r.tp.Partition, m.ProducerID, m.Commit, s.cfg.Now())
		}
	}
	return errs
}

// VerifyCache holds the partitions verified to be in their producer's
// ongoing transaction (KIP-890), until the producer's next marker there:
// verifyKey -> the producer epoch verified.
type VerifyCache struct{ m sync.Map }

// verifyKey names a producer on a partition.
type verifyKey struct {
	tp  model.TopicPartition
	pid int64
}

// verifyTxnProduce is KIP-890 part 1 for a transactional produce: the
// partition must be in the producer's ongoing transaction, as the
// transaction coordinator says (locally, or with an AddPartitionsToTxn
// verify_only request to the coordinator's node). A positive answer is
// cached until the producer's next marker on the partition
// (writeMarkersLocal forgets it), so that only a transaction's first
// produce to a partition pays the check, as Kafka's verification guard.
// With add (Produce v12+, KIP-890 part 2) the partition is added to the
// transaction rather than checked.
func (s *Server) verifyTxnProduce(txnID string, records []byte, tp model.TopicPartition, add bool) error {
	h, err := storage.ParseBatchHeader(records)
	if err != nil {
		return nil // the log's validation answers it
	}
	if !h.Transactional() {
		return fmt.Errorf("%w: a produce with transactional id %q sent a non-transactional batch", model.ErrInvalidRecord, txnID)
	}
	key := verifyKey{tp: tp, pid: h.ProducerID}
	if e, ok := s.txnVerified.m.Load(key); ok && e.(int16) == h.ProducerEpoch {
		return nil
	}
	if m := s.cfg.Txns; m != nil {
		var err error
		if add {
			ctx, cancel := txnCtx()
			err = s.txnErr(txnID, m.AddPartitions(ctx, txnID, h.ProducerID, h.ProducerEpoch, []model.TopicPartition{tp}))
			cancel()
		} else {
			err = m.Verify(txnID, h.ProducerID, h.ProducerEpoch, []model.TopicPartition{tp})[tp]
		}
		switch {
		case err == nil:
			s.txnVerified.m.Store(key, h.ProducerEpoch)
			return nil
		case errors.Is(err, kerr.ConcurrentTransactions), errors.Is(err, kerr.CoordinatorLoadInProgress):
			// Codes a producer does not expect from Produce: the
			// retriable one Kafka uses for a verification that could
			// not finish.
			return fmt.Errorf("verifying the transaction: %w: %w", kerr.NotEnoughReplicas, err)
		case !errors.Is(err, kerr.NotCoordinator):
			return err
		}
	}
	if err := s.verifyRemote(txnID, h.ProducerID, h.ProducerEpoch, tp, add); err != nil {
		return err
	}
	s.txnVerified.m.Store(key, h.ProducerEpoch)
	return nil
}

// verifyRemote asks the transaction coordinator's node (the leader of the
// id's __transaction_state partition) with AddPartitionsToTxn v4
// verify_only, or, with add, has it add the partition (verify_only false).
func (s *Server) verifyRemote(txnID string, pid int64, epoch int16, tp model.TopicPartition, add bool) error {
	n := int32(txn.DefaultNumPartitions)
	if s.cfg.Broker != nil {
		n = s.cfg.Broker.TransactionStateLogNumPartitions
	}
	t := s.ctrl.Image().Topics[txn.StateTopic]
	if t == nil || int32(len(t.Partitions)) != n {
		return fmt.Errorf("%s is not there: %w", txn.StateTopic, kerr.InvalidTxnState)
	}
	leader := t.Partitions[txn.PartitionFor(txnID, n)].Leader
	if leader == s.cfg.NodeID {
		// Led here but not loaded yet: the client retries.
		return fmt.Errorf("the transaction coordinator is loading: %w", kerr.NotEnoughReplicas)
	}
	cl, err := s.peer(leader)
	if err != nil {
		return fmt.Errorf("transaction coordinator %d: %w: %w", leader, kerr.NotEnoughReplicas, err)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, pid, epoch, !add
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = tp.Topic, []int32{tp.Partition}
	tx.Topics = append(tx.Topics, tt)
	req.Transactions = append(req.Transactions, tx)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		// Retriable for the producer, as Kafka answers a failed
		// verification round trip.
		return fmt.Errorf("verifying with transaction coordinator %d: %w: %w", leader, kerr.NotEnoughReplicas, err)
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("transaction coordinator %d: %w", leader, kerr.ErrorForCode(resp.ErrorCode))
	}
	for _, rt := range resp.Transactions {
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					if errors.Is(err, kerr.NotCoordinator) || errors.Is(err, kerr.CoordinatorLoadInProgress) || errors.Is(err, kerr.ConcurrentTransactions) {
						return fmt.Errorf("transaction coordinator %d: %w: %w", leader, kerr.NotEnoughReplicas, err)
					}
					return err
				}
			}
		}
	}
	return nil
}

// addTxnPartition adds tp to txnID's transaction at pid and epoch through
// the transaction coordinator, here or at the coordinator's node (a TV2
// client's implicit AddOffsetsToTxn in TxnOffsetCommit v5+). A retriable
// failure is COORDINATOR_NOT_AVAILABLE, which TxnOffsetCommit clients
// retry.
func (s *Server) addTxnPartition(txnID string, pid int64, epoch int16, tp model.TopicPartition) error {
	if m := s.cfg.Txns; m != nil {
		ctx, cancel := txnCtx()
		err := s.txnErr(txnID, m.AddPartitions(ctx, txnID, pid, epoch, []model.TopicPartition{tp}))
		cancel()
		switch {
		case errors.Is(err, kerr.ConcurrentTransactions), errors.Is(err, kerr.CoordinatorLoadInProgress):
			return fmt.Errorf("adding the offsets to the transaction: %w: %w", kerr.CoordinatorNotAvailable, err)
		case !errors.Is(err, kerr.NotCoordinator):
			return err
		}
	}
	err := s.verifyRemote(txnID, pid, epoch, tp, true)
	if errors.Is(err, kerr.NotEnoughReplicas) {
		return fmt.Errorf("adding the offsets to the transaction: %w: %w", kerr.CoordinatorNotAvailable, err)
	}
	return err
}

// forgetVerified drops the cached verifications of pid on tp (a marker
// ended its transaction there).
func (s *Server) forgetVerified(tp model.TopicPartition, pid int64) {
	s.txnVerified.m.Delete(verifyKey{tp: tp, pid: pid})
}
