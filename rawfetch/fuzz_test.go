package rawfetch

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzWalkBatches: any bytes give an error or a walk within them, never a
// panic, and the counted bytes never exceed the input.
func FuzzWalkBatches(f *testing.F) {
	f.Add(append(v2Batch(0, 3, 10), v2Batch(3, 1, 0)...), int64(0), int64(-1))
	f.Add(v2Batch(5, 2, 4)[:30], int64(5), int64(7))
	f.Add([]byte{}, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, from, until int64) {
		w, err := WalkBatches(b, from, until)
		if err != nil {
			return
		}
		if w.Bytes < 0 || w.Bytes > int64(len(b)) || w.Records < 0 || w.Batches < 0 {
			t.Fatalf("walk %+v of %d bytes", w, len(b))
		}
	})
}

// FuzzParseResponse: any response body decodes or fails, never panics.
func FuzzParseResponse(f *testing.F) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = FetchVersion
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.RecordBatches = v2Batch(0, 1, 3)
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	f.Add(resp.AppendTo(binary.BigEndian.AppendUint32(nil, 1)))
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseResponse(body, 1, FetchVersion)
		if err != nil {
			return
		}
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				_, _ = WalkBatches(rp.RecordBatches, 0, -1)
			}
		}
	})
}
