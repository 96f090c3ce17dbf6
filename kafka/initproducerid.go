package kafka

// InitProducerId (key 22): versions 0-5.
//
// Behavior:
//   - A null transactional_id gets a fresh producer id from
//     Controller.AllocateProducerID and epoch 0, also when the client sends
//     its current id and epoch (v3+, KIP-360): as in Kafka, an idempotent
//     producer that re-initializes simply starts a new session.
//   - A transactional_id goes to the transaction coordinator (txn.go).
//   - Authorization: with a transactional id, WRITE on it, else
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED; without, IDEMPOTENT_WRITE on the
//     cluster or WRITE on any topic (KIP-679), else CLUSTER_AUTHORIZATION_FAILED.
//
//   - v5 only says the client handles TRANSACTION_ABORTABLE (KIP-890); no
//     answer here needs it.
//
// Skipped on purpose: v6 (KIP-939 two-phase commit).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const producerIDTimeout = 30 * time.Second

func handleInitProducerID(s *Server, cx *reqCtx, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	authErr := cx.idempotentCheck
	if req.TransactionalID != nil {
		authErr = func() error { return cx.txnIDCheck(*req.TransactionalID) }
	}
	if err := authErr(); err != nil {
		resp.ErrorCode = errorCode(s.log, err)
		return resp, nil
	}
	if req.TransactionalID != nil {
		s.initTransactionalProducer(req, resp)
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), producerIDTimeout)
	defer cancel()
	id, err := s.ctrl.AllocateProducerID(ctx)
	if err != nil {
		resp.ErrorCode = errorCode(s.log, err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = int64(id), 0
	return resp, nil
}
