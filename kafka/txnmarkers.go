package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
	"github.com/ringtail/ringtail/txn"
)

// MarkerWriter writes the transaction coordinator's markers
// (txn.MarkerWriter): to the partitions this node leads directly, to the
// others with WriteTxnMarkers sent to their leader's inter-broker
// listener, as Kafka's coordinator does. Each call looks the leaders up
// in the current image, so a retry after a leader change goes to the new
// leader.
type MarkerWriter struct {
	s *Server
}

// NewMarkerWriter returns a writer that appends local markers through s.
func NewMarkerWriter(s *Server) *MarkerWriter {
	return &MarkerWriter{s: s}
}

var _ txn.MarkerWriter = (*MarkerWriter)(nil)

// WriteMarkers implements txn.MarkerWriter.
func (w *MarkerWriter) WriteMarkers(ctx context.Context, m *txn.Markers, coordinatorEpoch int32) map[model.TopicPartition]error {
	errs := map[model.TopicPartition]error{}
	im := w.s.ctrl.Image()
	byLeader := map[int32][]model.TopicPartition{}
	for _, tp := range m.Partitions {
		t := im.Topics[tp.Topic]
		if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			errs[tp] = fmt.Errorf("%s: %w", tp, kerr.UnknownTopicOrPartition)
			continue
		}
		leader := t.Partitions[tp.Partition].Leader
		byLeader[leader] = append(byLeader[leader], tp)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(txnRequestTimeout)
	}
	marker := storage.Marker{ProducerID: m.ProducerID, Epoch: m.Epoch, Commit: m.Commit, CoordinatorEpoch: coordinatorEpoch}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, tps := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res map[model.TopicPartition]error
			if leader == w.s.cfg.NodeID {
				res = w.s.writeMarkersLocal(marker, tps, deadline)
			} else {
				res = w.writeRemote(ctx, leader, marker, tps)
			}
			mu.Lock()
			for tp, err := range res {
				errs[tp] = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}

// writeRemote sends one WriteTxnMarkers to the leader.
func (w *MarkerWriter) writeRemote(ctx context.Context, leader int32, m storage.Marker, tps []model.TopicPartition) map[model.TopicPartition]error {
	fail := func(err error) map[model.TopicPartition]error {
		out := map[model.TopicPartition]error{}
		for _, tp := range tps {
			out[tp] = err
		}
		return out
	}
	cl, err := w.s.peer(leader)
	if err != nil {
		return fail(err)
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.Epoch, m.Commit, m.CoordinatorEpoch
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(mk.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			mk.Topics = append(mk.Topics, t)
		}
		mk.Topics[i].Partitions = append(mk.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, mk)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fail(fmt.Errorf("WriteTxnMarkers to broker %d: %w: %w", leader, kerr.NotLeaderForPartition, err))
	}
	out := map[model.TopicPartition]error{}
	for _, rm := range resp.Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					out[model.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = err
				}
			}
		}
	}
	return out
}
