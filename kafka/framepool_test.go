// These tests check the pooled Produce frames (framepool.go): a frame goes
// back to the pool only when nothing aliases it, so an append still running
// after its acks=all request was answered by the timeout never sees its
// records overwritten by the next request read into the same buffer.
package kafka

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

// gatedLog holds every append until gate is closed, then reports whether
// the records it was given still hold the bytes they had at Append.
type gatedLog struct {
	*fakeLog
	gate   chan struct{}
	intact chan bool
}

func (l gatedLog) Append(records []byte, e model.Epoch, done func(AppendResult)) {
	was := bytes.Clone(records)
	go func() {
		<-l.gate
		l.intact <- bytes.Equal(was, records)
		l.fakeLog.Append(records, e, done)
	}()
}

func TestProduceFrameHeldUntilAppendCompletes(t *testing.T) {
	gate, intact := make(chan struct{}), make(chan bool, 1)
	h := newHarness(t, func(*Config) {})
	h.logs.wrap = func(tp model.TopicPartition, l *fakeLog) Log {
		if tp.Topic == "gated" {
			return gatedLog{fakeLog: l, gate: gate, intact: intact}
		}
		return l
	}
	h.createTopic("gated", 1, nil)
	h.createTopic("open", 1, nil)
	c := h.dial()
	produce := func(topic string, acks int16, timeoutMs int32, fill byte) *kmsg.ProduceResponse {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, acks, timeoutMs
		p := kmsg.NewProduceRequestTopicPartition()
		p.Records = recordBatch(4, 1000)
		for i := 61; i < len(p.Records); i++ {
			p.Records[i] = fill // the same size, other bytes (CRC aside)
		}
		t := kmsg.NewProduceRequestTopic()
		t.Topic, t.Partitions = topic, []kmsg.ProduceRequestTopicPartition{p}
		req.Topics = []kmsg.ProduceRequestTopic{t}
		return c.roundTrip(req, 1).(*kmsg.ProduceResponse)
	}
	// Answered REQUEST_TIMED_OUT while its append waits at the gate.
	if code := produce("gated", -1, 50, 0xaa).Topics[0].Partitions[0].ErrorCode; code != kerr.RequestTimedOut.Code {
		t.Fatalf("gated produce answered %d, want REQUEST_TIMED_OUT", code)
	}
	// Read into the pool's buffer of that size, were the first one back.
	// Its records fail the CRC check: that is fine, it only has to be read.
	produce("open", 1, 1000, 0x55)
	close(gate)
	select {
	case ok := <-intact:
		if !ok {
			t.Fatal("the pending append's records changed after its response: its frame went back to the pool too early")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the gated append never ran")
	}
}

func TestFrameClasses(t *testing.T) {
	for _, tc := range []struct{ n, class int }{{1, 0}, {1024, 0}, {1025, 1}, {4096, 2}, {maxPooledFrameBytes, len(framePool) - 1}} {
		if got := frameClass(tc.n); got != tc.class {
			t.Errorf("frameClass(%d) = %d, want %d", tc.n, got, tc.class)
		}
		b := getFrame(tc.n)
		if len(*b) < tc.n || frameClass(cap(*b)) != tc.class {
			t.Errorf("getFrame(%d): %d bytes", tc.n, len(*b))
		}
		putFrame(b)
	}
}
