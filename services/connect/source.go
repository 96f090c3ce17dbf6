package connect

// The source side of the runtime: poll the task, convert, and write the
// records and the offsets they reach in one transaction (doc.go).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// txnTimeout is transaction.timeout.ms of the source producers: how
	// long the broker leaves a dead worker's transaction open when no
	// restarted task fences it.
	txnTimeout   = 30 * time.Second
	fenceTimeout = 60 * time.Second
)

// TransactionalID is the transactional.id of a source task's producer.
func TransactionalID(id TaskID) string { return "connect-" + id.String() }

// storeReader reads a connector's committed offsets.
type storeReader struct {
	store     *offsetStore
	connector string
}

func (r storeReader) Offset(p map[string]any) map[string]any { return r.store.get(r.connector, p) }

func (w *Worker) runSource(ctx context.Context, tr *taskRunner) error {
	keyConv, valConv, err := w.converters(tr.connCfg)
	if err != nil {
		return failure(err)
	}
	tid := TransactionalID(tr.id)
	// Fence the previous producer of this id (a killed worker's): its open
	// transaction is aborted, so the offsets read next are final.
	if err := fence(ctx, w.offsets.cl, tid); err != nil {
		return err
	}
	if err := w.offsets.readToEnd(ctx); err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(w.cfg.Bootstrap...), kgo.TransactionalID(tid), kgo.TransactionTimeout(txnTimeout),
		kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0), kgo.ClientID("ringtail-connect")}, w.cfg.ClientOpts...)...)
	if err != nil {
		return failure(err)
	}
	defer cl.Close()
	task := tr.plugin.NewSource()
	if err := task.Start(tr.taskCfg, storeReader{w.offsets, tr.id.Connector}, tr.log); err != nil {
		return failure(fmt.Errorf("start: %w", err))
	}
	defer task.Stop()
	for w.waitRunning(ctx, tr) {
		recs, err := task.Poll(ctx)
		if err != nil {
			return failure(err)
		}
		if len(recs) == 0 {
			continue
		}
		if err := w.sourceTxn(cl, tr, recs, keyConv, valConv); err != nil {
			return err
		}
	}
	return nil
}

// sourceTxn writes one poll's records and their offsets in a transaction.
// It runs to its end even when the task is being stopped, so a stop never
// leaves a transaction open.
func (w *Worker) sourceTxn(cl *kgo.Client, tr *taskRunner, recs []SourceRecord, keyConv, valConv Converter) error {
	krecs := make([]*kgo.Record, 0, len(recs)+1)
	offsets := map[string][]byte{} // offsetKey -> value; the last of each partition wins
	var order []string
	for _, r := range recs {
		k, err := keyConv.FromConnect(r.Topic, r.Key)
		if err != nil {
			return failure(fmt.Errorf("key converter: %w", err))
		}
		v, err := valConv.FromConnect(r.Topic, r.Value)
		if err != nil {
			return failure(fmt.Errorf("value converter: %w", err))
		}
		krecs = append(krecs, &kgo.Record{Topic: r.Topic, Key: k, Value: v})
		if r.Partition != nil && r.Offset != nil {
			key := string(offsetKey(tr.id.Connector, r.Partition))
			val, err := marshalJSON(r.Offset)
			if err != nil {
				return failure(fmt.Errorf("source offset: %w", err))
			}
			if _, ok := offsets[key]; !ok {
				order = append(order, key)
			}
			offsets[key] = val
		}
	}
	var offsetRecs []*kgo.Record
	for _, k := range order {
		offsetRecs = append(offsetRecs, &kgo.Record{Topic: w.offsets.topic, Key: []byte(k), Value: offsets[k]})
	}
	krecs = append(krecs, offsetRecs...)
	ctx, cancel := context.WithTimeout(context.Background(), txnTimeout)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	err := cl.ProduceSync(ctx, krecs...).FirstErr()
	end := kgo.TryCommit
	if err != nil {
		end = kgo.TryAbort
	}
	if endErr := cl.EndTransaction(ctx, end); err == nil && endErr != nil {
		err = fmt.Errorf("commit transaction: %w", endErr)
	}
	if err != nil {
		w.metrics.txn(tr.id, "abort")
		if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			return failure(fmt.Errorf("transactional id %s: %w (another worker runs this task)", TransactionalID(tr.id), err))
		}
		// Whether the commit landed or not, the restarted task reads the
		// offsets topic again and resumes after what committed.
		return fmt.Errorf("transaction of %d records: %w", len(recs), err)
	}
	w.metrics.txn(tr.id, "commit")
	w.metrics.polled(tr.id, len(recs))
	w.offsets.committed(offsetRecs) // ProduceSync set their partitions and offsets
	return nil
}

// fence sends InitProducerId for tid, bumping its epoch: a producer still
// holding the old epoch is fenced and its open transaction aborted (the
// coordinator answers CONCURRENT_TRANSACTIONS until the abort is written).
func fence(ctx context.Context, cl *kgo.Client, tid string) error {
	ctx, cancel := context.WithTimeout(ctx, fenceTimeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &tid
		req.TransactionTimeoutMillis = int32(txnTimeout.Milliseconds())
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err == nil {
			return nil
		}
		if !kerr.IsRetriable(err) && !errors.Is(err, kerr.ConcurrentTransactions) {
			return fmt.Errorf("fence transactional id %s: %w", tid, err)
		}
		if sleepCtx(ctx, backoff) != nil {
			return fmt.Errorf("fence transactional id %s: %w", tid, err)
		}
		backoff = min(backoff*2, time.Second)
	}
}
