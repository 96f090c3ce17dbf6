package kafka

// InitProducerId (key 22): versions 0-4, idempotent producers only.
//
// Behavior:
//   - A null transactional_id gets a fresh producer id from
//     Controller.AllocateProducerID and epoch 0, also when the client sends
//     its current id and epoch (v3+, KIP-360): as in Kafka, an idempotent
//     producer that re-initializes simply starts a new session.
//   - A transactional_id is answered with INVALID_REQUEST and logged:
//     transactions are not supported yet. INVALID_REQUEST is non-retriable
//     in franz-go, librdkafka, sarama and the Java client, so a
//     transactional producer fails at once instead of retrying a retriable
//     code such as COORDINATOR_NOT_AVAILABLE until its timeout, and the
//     code does not suggest an ACL problem as
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED would.
//
// Skipped on purpose: transaction timeouts (nothing to time out).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const producerIDTimeout = 30 * time.Second

func handleInitProducerID(s *Server, cx *reqCtx, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		s.log.Warn("refused InitProducerId with a transactional id: transactions are not supported yet",
			"transactional_id", *req.TransactionalID, "client_id", cx.clientID, "remote", cx.conn.remote)
		resp.ErrorCode = errorCode(s.log, errTransactionsUnsupported)
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
