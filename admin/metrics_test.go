// These tests check the parts of the metrics that take apart Kafka
// messages and iocore histograms: error codes found anywhere in a response,
// record counts of v2 batches, exact log2 histogram buckets.
package admin

import (
	"encoding/binary"
	"reflect"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/iocore"
)

func TestWalkErrorsFindsNestedCodes(t *testing.T) {
	m := NewMetrics(nil)
	resp := kmsg.NewPtrProduceResponse()
	for _, codes := range [][]int16{{0, 6}, {3}} {
		rt := kmsg.NewProduceResponseTopic()
		for i, c := range codes {
			p := kmsg.NewProduceResponseTopicPartition()
			p.Partition, p.ErrorCode = int32(i), c
			rt.Partitions = append(rt.Partitions, p)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	var got []int16
	m.walkErrors(reflect.ValueOf(resp), func(c int16) { got = append(got, c) })
	if !reflect.DeepEqual(got, []int16{6, 3}) {
		t.Fatalf("codes %v, want [6 3]", got)
	}
	meta := kmsg.NewPtrMetadataResponse()
	got = nil
	m.walkErrors(reflect.ValueOf(meta), func(c int16) { got = append(got, c) })
	if len(got) != 0 {
		t.Fatalf("codes in an empty response: %v", got)
	}
}

func TestCountRecords(t *testing.T) {
	batch := func(records int32, bodyBytes int) []byte {
		b := make([]byte, 61+bodyBytes)
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		binary.BigEndian.PutUint32(b[57:], uint32(records))
		return b
	}
	two := append(batch(3, 10), batch(5, 0)...)
	if n := countRecords(two); n != 8 {
		t.Fatalf("countRecords = %d, want 8", n)
	}
	if n := countRecords(two[:70]); n != 3 {
		t.Fatalf("countRecords of a torn second batch = %d, want 3", n)
	}
	if n := countRecords(nil); n != 0 {
		t.Fatalf("countRecords(nil) = %d", n)
	}
}

func TestLog2HistogramBucketsAreExact(t *testing.T) {
	var h iocore.Log2Histogram
	for _, v := range []uint64{0, 1, 2, 3, 4, 7, 8, 1000} {
		h.Observe(v)
	}
	counts, sum := h.Snapshot()
	d := descBatchOps
	var out dto.Metric
	if err := log2Histogram(d, &counts, float64(sum), 0, 4, 1).Write(&out); err != nil {
		t.Fatal(err)
	}
	hist := out.GetHistogram()
	if hist.GetSampleCount() != 8 || hist.GetSampleSum() != 1025 {
		t.Fatalf("count %d sum %v", hist.GetSampleCount(), hist.GetSampleSum())
	}
	want := map[float64]uint64{0: 1, 1: 2, 3: 4, 7: 6, 15: 7}
	for _, b := range hist.GetBucket() {
		if want[b.GetUpperBound()] != b.GetCumulativeCount() {
			t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want[b.GetUpperBound()])
		}
	}
}
