// These tests check the parts of the metrics that take apart Kafka
// messages and iocore histograms: error codes found anywhere in a response,
// record counts of v2 batches, exact log2 histogram buckets; and the
// transaction metrics read from a Source (open transactions, the oldest
// one's age, commits and aborts, the LSO lag of led partitions).
package admin

import (
	"encoding/binary"
	"reflect"
	"strings"
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
