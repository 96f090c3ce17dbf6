// These tests check the parts of the metrics that take apart Kafka
// messages and iocore histograms: error codes found anywhere in a response,
// record counts of v2 batches, exact log2 histogram buckets; and the
// transaction metrics read from a Source (open transactions, the oldest
// one's age, commits and aborts, the LSO lag of led partitions).
package admin

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

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

// txnSource is a Source with a transaction coordinator and two led
// partitions, one held back by an open transaction, and a followed one.
type txnSource struct{}

func (txnSource) Partitions() []PartitionStats {
	return []PartitionStats{
		{Topic: "orders", Partition: 0, Leader: true, LSOLag: 12},
		{Topic: "orders", Partition: 1, Leader: true},
		{Topic: "orders", Partition: 2, LSOLag: 3}, // a follower's LSO is not reported
	}
}
func (txnSource) Shards() []*iocore.Stats   { return nil }
func (txnSource) EngineName() string        { return "test" }
func (txnSource) TopicName([16]byte) string { return "" }
func (txnSource) Txns() TxnStats {
	return TxnStats{Open: 2, OldestOpenMs: 4500, Commits: 7, Aborts: 3}
}

func TestTxnMetrics(t *testing.T) {
	fams, err := NewMetrics(txnSource{}).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	value := func(name string) float64 {
		t.Helper()
		f := byName[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v", name, f)
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	for name, want := range map[string]float64{
		"ringtail_txn_open_transactions":               2,
		"ringtail_txn_oldest_open_transaction_seconds": 4.5,
		"ringtail_txn_commits_total":                   7,
		"ringtail_txn_aborts_total":                    3,
		"ringtail_log_last_stable_offset_lag":          12,
	} {
		if got := value(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	lag := byName["ringtail_log_last_stable_offset_lag"].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range lag.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["topic"] != "orders" || labels["partition"] != "0" {
		t.Errorf("lag labels %v, want orders/0", labels)
	}

	// A Source without a coordinator shows no transaction metrics.
	fams, err = NewMetrics(nil).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "ringtail_txn_") {
			t.Errorf("%s without a coordinator", f.GetName())
		}
	}
}

// errorResponses are Produce and Fetch responses with error codes at every
// level that has one, for the direct loops of responseErrors.
func errorResponses() []kmsg.Response {
	pr := kmsg.NewPtrProduceResponse()
	for ti, codes := range [][]int16{{0, 6, 0}, {3}, {}} {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = string(rune('a' + ti))
		for i, c := range codes {
			p := kmsg.NewProduceResponseTopicPartition()
			p.Partition, p.ErrorCode = int32(i), c
			rt.Partitions = append(rt.Partitions, p)
		}
		pr.Topics = append(pr.Topics, rt)
	}
	fr := kmsg.NewPtrFetchResponse()
	fr.ErrorCode = 70
	for _, codes := range [][]int16{{1, 0}, {0, 74}} {
		rt := kmsg.NewFetchResponseTopic()
		for i, c := range codes {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.ErrorCode = int32(i), c
			rt.Partitions = append(rt.Partitions, p)
		}
		fr.Topics = append(fr.Topics, rt)
	}
	return []kmsg.Response{pr, fr, kmsg.NewPtrProduceResponse(), kmsg.NewPtrFetchResponse()}
}

// TestResponseErrorsMatchesReflection: the direct loops for Produce and
// Fetch find exactly the codes the reflection walk finds, in its order.
func TestResponseErrorsMatchesReflection(t *testing.T) {
	m := NewMetrics(nil)
	for _, resp := range errorResponses() {
		var direct, walked []int16
		m.responseErrors(resp, func(c int16) { direct = append(direct, c) })
		m.walkErrors(reflect.ValueOf(resp), func(c int16) { walked = append(walked, c) })
		if !reflect.DeepEqual(direct, walked) {
			t.Errorf("%T: direct loops found %v, reflection %v", resp, direct, walked)
		}
	}
}

// benchProduce is a Produce request of 16 partitions of one topic and its
// all-success response, the shape of `ringtail bench produce --partitions 16`.
func benchProduce() (*kmsg.ProduceRequest, *kmsg.ProduceResponse) {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 9
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bench"
	st := kmsg.NewProduceResponseTopic()
	st.Topic = "bench"
	batch := make([]byte, 61+100)
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-12))
	binary.BigEndian.PutUint32(batch[57:], 1)
	for i := int32(0); i < 16; i++ {
		p := kmsg.NewProduceRequestTopicPartition()
		p.Partition, p.Records = i, batch
		rt.Partitions = append(rt.Partitions, p)
		sp := kmsg.NewProduceResponseTopicPartition()
		sp.Partition = i
		st.Partitions = append(st.Partitions, sp)
	}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	resp.Topics = []kmsg.ProduceResponseTopic{st}
	return req, resp
}

// BenchmarkObserveProduce measures the observer's whole cost per Produce
// response of 16 partitions (ObserveRequest: counters, histogram, error
// codes, bytes and records in), and the error-code part alone by the direct
// loops (responseErrors) and by the reflection walk they replace.
func BenchmarkObserveProduce(b *testing.B) {
	m := NewMetrics(nil)
	req, resp := benchProduce()
	for _, reflectAll := range []bool{false, true} {
		b.Run(fmt.Sprintf("ObserveRequest/reflection=%v", reflectAll), func(b *testing.B) {
			m.reflectAll = reflectAll
			defer func() { m.reflectAll = false }()
			b.ReportAllocs()
			for b.Loop() {
				m.ObserveRequest(0, req, resp, time.Millisecond, false)
			}
		})
	}
	n := 0
	count := func(int16) { n++ }
	b.Run("errors=direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.responseErrors(resp, count)
		}
	})
	b.Run("errors=reflection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.walkErrors(reflect.ValueOf(resp), count)
		}
	})
}
