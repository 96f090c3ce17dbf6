package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// awaitHeldAsk waits until a request has found tp not ready.
func awaitHeldAsk(t *testing.T, h *harness, tp model.TopicPartition) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case got := <-h.logs.heldAsked:
			if got == tp {
				return
			}
		case <-deadline:
			t.Fatalf("no request asked for %s while it was not ready", tp)
		}
	}
}

// A Produce, Fetch or ListOffsets for a partition this node leads but whose
// log is not ready yet waits for it and then succeeds: a client that never
// retries gets no NOT_LEADER_OR_FOLLOWER right after CreateTopics.
func TestDataRequestsWaitForALogBeingCreated(t *testing.T) {
	h := newHarness(t)
	h.createTopic("r", 1, nil)
	tp := model.TopicPartition{Topic: "r", Partition: 0}
	c := h.dial()

	h.logs.hold(tp)
	got := make(chan kmsg.Response, 1)
	go func() { got <- c.roundTrip(produceReq(-1, validBatch(t)), 1) }()
	awaitHeldAsk(t, h, tp)
	select {
	case <-got:
		t.Fatal("produce answered while the log was not ready")
	default:
	}
	h.logs.release(tp)
	if p := (<-got).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("produce after the log became ready: %v at %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}

	h.logs.hold(tp)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.ReplicaID, fetch.MaxWaitMillis, fetch.MaxBytes = 12, -1, 0, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "r"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	go func() { got <- c.roundTrip(fetch, 2) }()
	awaitHeldAsk(t, h, tp)
	h.logs.release(tp)
	if p := (<-got).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 1 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch after the log became ready: %v, high watermark %d, %d bytes", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, len(p.RecordBatches))
	}

	h.logs.hold(tp)
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 7
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "r"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp, lp.CurrentLeaderEpoch = -1, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	go func() { got <- c.roundTrip(lo, 3) }()
	awaitHeldAsk(t, h, tp)
	h.logs.release(tp)
	if p := (<-got).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 1 {
		t.Fatalf("list offsets after the log became ready: %v, offset %d", kerr.ErrorForCode(p.ErrorCode), p.Offset)
	}
}

// A log that never becomes ready is NOT_LEADER_OR_FOLLOWER once the
// request's own timeout has passed, so the client refreshes and retries.
func TestDataRequestGivesUpAtItsTimeout(t *testing.T) {
	h := newHarness(t)
	h.createTopic("r", 1, nil)
	h.logs.hold(model.TopicPartition{Topic: "r", Partition: 0})
	req := produceReq(-1, validBatch(t))
	req.TimeoutMillis = 200 // waits readyWaitMin
	p := h.dial().roundTrip(req, 1).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to a partition never ready: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(p.ErrorCode))
	}
}

// CreateTopics and CreatePartitions answer once the partitions this node
// leads are ready.
func TestCreateAnswersWhenUsable(t *testing.T) {
	h := newHarness(t)
	tp := model.TopicPartition{Topic: "c", Partition: 1}
	h.logs.hold(tp)
	done := make(chan error, 1)
	adm := h.admin()
	go func() {
		resp, err := adm.CreateTopic(context.Background(), 2, 1, nil, "c")
		if err == nil {
			err = resp.Err
		}
		done <- err
	}()
	awaitHeldAsk(t, h, tp)
	select {
	case err := <-done:
		t.Fatalf("CreateTopics answered (%v) before its partition was ready", err)
	default:
	}
	h.logs.release(tp)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	grown := model.TopicPartition{Topic: "c", Partition: 2}
	h.logs.hold(grown)
	go func() {
		resp, err := adm.CreatePartitions(context.Background(), 3, "c")
		if err == nil {
			err = resp.Error()
		}
		done <- err
	}()
	awaitHeldAsk(t, h, grown)
	h.logs.release(grown)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
