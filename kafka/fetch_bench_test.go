package kafka

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	benchParts     = 8
	benchPartBytes = 64 << 10
)

// benchFetchSetup starts a storage-backed server with fetch_sendfile set as
// given, fills benchParts partitions of topic "bench" with a little more
// than benchPartBytes each, and returns a Fetch v12 request for
// benchPartBytes of each from offset 0.
func benchFetchSetup(b *testing.B, sendfile bool) (*harness, *kmsg.FetchRequest) {
	h, _ := newStorageHarness(b, sendfile, 1<<30)
	h.createTopic("bench", benchParts, nil)
	prod := h.client(kgo.DefaultProduceTopic("bench"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10))
	ctx := testCtx(b)
	var recs []*kgo.Record
	for p := range int32(benchParts) {
		for i := range 2 * benchPartBytes / 1024 {
			recs = append(recs, &kgo.Record{Partition: p, Value: bytes.Repeat([]byte{byte(i)}, 1000)})
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 12, -1, 64<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "bench"
	for p := range int32(benchParts) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, benchPartBytes
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return h, req
}

// BenchmarkFetchBuild measures building one Fetch response of 8 partitions
// x 64 KiB, ready for the writer: file ranges and a header buffer
// (sendfile) against records read into memory and encoded by kmsg (copy).
func BenchmarkFetchBuild(b *testing.B) {
	for _, sendfile := range []bool{true, false} {
		b.Run(fmt.Sprintf("sendfile=%v", sendfile), func(b *testing.B) {
			h, req := benchFetchSetup(b, sendfile)
			cx := &reqCtx{key: 1, version: req.Version, correlationID: 1}
			var recBytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp := req.ResponseKind().(*kmsg.FetchResponse)
				if sendfile {
					fr := &fetchRanges{}
					h.srv.fillFetch(h.srv.newLookup(0), req, resp, fr)
					resp.SetVersion(req.Version)
					o := encodeFetch(1, resp, fr)
					recBytes = o.ranged
					o.release()
				} else {
					h.srv.fillFetch(h.srv.newLookup(0), req, resp, nil)
					out := encodeResponse(cx, resp)
					recBytes = int64(len(out))
				}
			}
			b.StopTimer()
			if recBytes < benchParts*benchPartBytes/2 {
				b.Fatalf("response carried only %d bytes", recBytes)
			}
		})
	}
}

// BenchmarkFetchServe measures whole fetches over a loopback TCP socket:
// the request, the server building and writing the response (sendfile or
// copy), and the client reading every byte of it. MB/s counts the record
// bytes.
//
// sendfile=true runs twice: with the header pieces before each range
// written with MSG_MORE (the default) and with plain writes (more=false).
func BenchmarkFetchServe(b *testing.B) {
	for _, mode := range []struct{ sendfile, more bool }{{true, true}, {true, false}, {false, false}} {
		sendfile := mode.sendfile
		name := fmt.Sprintf("sendfile=%v", sendfile)
		if sendfile {
			name += fmt.Sprintf("/more=%v", mode.more)
		}
		b.Run(name, func(b *testing.B) {
			fetchWriteMore = mode.more
			defer func() { fetchWriteMore = true }()
			h, req := benchFetchSetup(b, sendfile)
			c := h.dial()
			reqFrame := frame(req, 1)
			var recBytes int64
			{ // one fetch to learn the record bytes per response
				resp := c.roundTrip(req, 1).(*kmsg.FetchResponse)
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						recBytes += int64(len(p.RecordBatches))
					}
				}
			}
			if recBytes < benchParts*benchPartBytes/2 {
				b.Fatalf("response carried only %d bytes", recBytes)
			}
			before := h.srv.FetchStats()
			b.SetBytes(recBytes)
			b.ReportAllocs()
			b.ResetTimer()
			var size [4]byte
			for b.Loop() {
				c.write(reqFrame)
				c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.ReadFull(c.nc, size[:]); err != nil {
					b.Fatal(err)
				}
				n := int64(size[0])<<24 | int64(size[1])<<16 | int64(size[2])<<8 | int64(size[3])
				if _, err := io.CopyN(io.Discard, c.nc, n); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := h.srv.FetchStats()
			b.ReportMetric(float64(after.SendfileBytes-before.SendfileBytes)/float64(b.N), "sendfileB/op")
			b.ReportMetric(float64(after.CopiedBytes-before.CopiedBytes)/float64(b.N), "copiedB/op")
		})
	}
}
