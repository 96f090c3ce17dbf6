// These tests prove that the handlers drive a ReplicatedLog as the
// replication layer expects: acks=all asks CheckAppend before and
// AwaitCommit after the append and maps their sentinels to
// NOT_ENOUGH_REPLICAS and NOT_ENOUGH_REPLICAS_AFTER_APPEND, acks=1 skips
// both, a fetch with replica_id >= 0 goes to FollowerRead, and
// OffsetForLeaderEpoch answers from EndOffsetForEpoch.
package kafka

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

type fakeReplicated struct {
	*fakeLog
	mu          sync.Mutex
	checkErr    error
	commitErr   error
	checks      int
	awaited     []model.Offset
	followerAt  map[int32]model.Offset
	epochAnswer [2]int64 // epoch, end offset
}

func (f *fakeReplicated) CheckAppend() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	return f.checkErr
}

func (f *fakeReplicated) AwaitCommit(last model.Offset, _ time.Time, done func(error)) {
	f.mu.Lock()
	f.awaited = append(f.awaited, last)
	err := f.commitErr
	f.mu.Unlock()
	go done(err)
}

func (f *fakeReplicated) FollowerRead(replica int32, offset model.Offset, maxBytes int32, minOne bool) (ReadResult, error) {
	f.mu.Lock()
	f.followerAt[replica] = offset
	f.mu.Unlock()
	return f.Read(offset, maxBytes, minOne)
}

func (f *fakeReplicated) EndOffsetForEpoch(epoch model.Epoch) (model.Epoch, model.Offset, error) {
	return model.Epoch(f.epochAnswer[0]), model.Offset(f.epochAnswer[1]), nil
}

func replicatedHarness(t *testing.T) (*harness, *fakeReplicated) {
	h := newHarness(t)
	var once sync.Once
	var r *fakeReplicated
	h.logs.wrap = func(tp model.TopicPartition, l *fakeLog) Log {
		once.Do(func() {
			r = &fakeReplicated{fakeLog: l, followerAt: map[int32]model.Offset{}, epochAnswer: [2]int64{3, 7}}
		})
		return r
	}
	h.createTopic("r", 1, nil)
	h.logs.Log(model.TopicPartition{Topic: "r"})
	return h, r
}

func produceReq(acks int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "r"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestProduceDrivesReplicatedLog(t *testing.T) {
	h, r := replicatedHarness(t)
	c := h.dial()
	code := func(acks int16, id int32) int16 {
		resp := c.roundTrip(produceReq(acks, validBatch(t)), id).(*kmsg.ProduceResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	r.checkErr = fmt.Errorf("isr [1]: %w", model.ErrNotEnoughReplicas)
	if got := code(-1, 1); got != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all below min.insync.replicas: code %d", got)
	}
	if _, _, end := r.Offsets(); end != 0 || len(r.awaited) != 0 {
		t.Fatalf("refused produce appended (log end %d) or awaited %v", end, r.awaited)
	}
	if got := code(1, 2); got != 0 {
		t.Fatalf("acks=1: code %d", got)
	}
	r.checkErr = nil
	r.commitErr = fmt.Errorf("isr shrank: %w", model.ErrNotEnoughReplicasAfterAppend)
	if got := code(-1, 3); got != kerr.NotEnoughReplicasAfterAppend.Code {
		t.Fatalf("acks=all, ISR shrank while waiting: code %d", got)
	}
	r.commitErr = nil
	if got := code(-1, 4); got != 0 {
		t.Fatalf("acks=all committed: code %d", got)
	}
	if r.checks != 3 || len(r.awaited) != 2 || r.awaited[0] != 1 || r.awaited[1] != 2 {
		t.Fatalf("checks %d (want 3, acks=1 skips it), awaited %v (want [1 2])", r.checks, r.awaited)
	}
}

func TestFollowerFetchAndOffsetForLeaderEpoch(t *testing.T) {
	h, r := replicatedHarness(t)
	c := h.dial()
	fetch := func(replica int32, id int32) {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.ReplicaID = replica
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "r"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = -1, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req, id).(*kmsg.FetchResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("fetch by replica %d: code %d", replica, code)
		}
	}
	fetch(-1, 1)
	if len(r.followerAt) != 0 {
		t.Fatalf("consumer fetch went to FollowerRead: %v", r.followerAt)
	}
	fetch(2, 2)
	if at, ok := r.followerAt[2]; !ok || at != 0 {
		t.Fatalf("follower fetch: %v", r.followerAt)
	}

	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = v
		req.ReplicaID = 2
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "r"
		for _, part := range []int32{0, 5} {
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = part, -1, 4
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req, int32(10+v)).(*kmsg.OffsetForLeaderEpochResponse)
		ps := resp.Topics[0].Partitions
		if ps[0].ErrorCode != 0 || ps[0].EndOffset != 7 || (v >= 1 && ps[0].LeaderEpoch != 3) {
			t.Fatalf("v%d: %+v", v, ps[0])
		}
		if ps[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("v%d unknown partition: code %d", v, ps[1].ErrorCode)
		}
	}
}
