// This file holds the produce path's per-batch allocation guarantee, on the
// real path: a Produce request written to a server's socket is read
// (conn.readFrame, pooled frame), decoded (handleFrame), handled
// (handleProduce), appended by storage (storage.Partition.Append on a shard
// of the sync engine, into real segment files) and answered (the writer's
// render and write), and the client reads the response. It allocates per
// request and per batch, never per record, so a batch of 1000 records costs
// no more allocations than a batch of one.
package kafka

import (
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// perRecordAllocSlack is how many more allocations a 1000-record batch may
// cost than a 1-record one. Any per-record allocation adds at least 999;
// the slack covers the server's background goroutines, whose allocations
// testing.AllocsPerRun counts too (it reads the process's malloc count).
const perRecordAllocSlack = 20

// produceServer is a storage-backed server with topic "orders" (one
// partition) and a raw connection to it.
func produceServer(t testing.TB) *rawConn {
	h, _ := newStorageHarness(t, true, 1<<30)
	h.createTopic("orders", 1, nil)
	return h.dial()
}

// produceRoundTrip writes fr (a whole frame, size prefix included) and reads
// the response into buf, checking that its one partition succeeded.
func produceRoundTrip(c *rawConn, fr, buf []byte) error {
	if _, err := c.nc.Write(fr); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c.nc, buf[:4]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(buf))
	if n > len(buf) {
		return fmt.Errorf("response of %d bytes", n)
	}
	if _, err := io.ReadFull(c.nc, buf[:n]); err != nil {
		return err
	}
	// v9 (flexible): correlation id, header tags, topics (compact array of
	// one), topic name, partitions (one), partition index, error code.
	body := buf[5:n]
	pos := 1 + 1 + len("orders") + 1 + 4
	if len(body) < pos+2 {
		return fmt.Errorf("short response")
	}
	if code := int16(binary.BigEndian.Uint16(body[pos:])); code != 0 {
		return fmt.Errorf("partition error code %d", code)
	}
	return nil
}

// produceFrameAcks1 is produceFrame with acks=1, size prefix included.
func produceFrameAcks1(version int16, n int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = 1
	req.TimeoutMillis = 30000
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = recordBatch(n, produceValueBytes)
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "orders"
	t.Partitions = []kmsg.ProduceRequestTopicPartition{p}
	req.Topics = []kmsg.ProduceRequestTopic{t}
	return frame(req, 7)
}

func TestProduceAllocsPerBatch(t *testing.T) {
	c := produceServer(t)
	buf := make([]byte, 4096)
	allocs := func(n int) float64 {
		t.Helper()
		fr := produceFrameAcks1(9, n)
		if err := produceRoundTrip(c, fr, buf); err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		var err error
		a := testing.AllocsPerRun(50, func() {
			if e := produceRoundTrip(c, fr, buf); e != nil && err == nil {
				err = e
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	one, many := allocs(1), allocs(1000)
	t.Logf("%.0f allocations per request for 1 record per batch, %.0f for 1000", one, many)
	if many > one+perRecordAllocSlack {
		t.Errorf("a batch of 1000 records costs %.0f allocations, one record %.0f: more than %d apart, so something allocates per record",
			many, one, perRecordAllocSlack)
	}
}

// BenchmarkProduceServe measures whole acks=1 Produce round trips of one
// batch of 1 to 1000 1 KiB records over a loopback socket into storage (the
// path TestProduceAllocsPerBatch guards): allocs/op are the server's and
// the client's per request.
func BenchmarkProduceServe(b *testing.B) {
	c := produceServer(b)
	buf := make([]byte, 4096)
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			fr := produceFrameAcks1(9, n)
			b.SetBytes(int64(len(fr)))
			b.ReportAllocs()
			for b.Loop() {
				if err := produceRoundTrip(c, fr, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
