package telemetry

// Unit tests of subscriptions, the KIP-714 request rules of Manager (with
// time passed in), and payload decoding with every codec.

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/ringtail/ringtail/model"
)

func TestParseSubscription(t *testing.T) {
	s, err := ParseSubscription("s", map[string]string{KeyMetrics: "org.apache.kafka.producer., x", KeyInterval: "1000", KeyMatch: "client_id=app-.*,client_software_name=apache-kafka-java"})
	if err != nil {
		t.Fatal(err)
	}
	if s.IntervalMs != 1000 || len(s.Metrics) != 2 || len(s.Match) != 2 {
		t.Fatalf("%+v", s)
	}
	if !s.Matches(ClientMeta{ClientID: "app-1", SoftwareName: "apache-kafka-java"}) || s.Matches(ClientMeta{ClientID: "xapp-1", SoftwareName: "apache-kafka-java"}) {
		t.Fatal("match is a whole-value regex")
	}
	for _, bad := range []struct {
		cfg  map[string]string
		want error
		msg  string
	}{
		{map[string]string{"nope": "1"}, model.ErrInvalidRequest, "unknown client metrics configuration"},
		{map[string]string{KeyInterval: "99"}, model.ErrInvalidConfig, "between 100 and 3600000"},
		{map[string]string{KeyInterval: "3600001"}, model.ErrInvalidConfig, "interval"},
		{map[string]string{KeyMatch: "rack=a"}, model.ErrInvalidConfig, "illegal client matching pattern"},
		{map[string]string{KeyMatch: "client_id=("}, model.ErrInvalidConfig, "invalid regular expression"},
	} {
		err := ValidateConfig("s", bad.cfg)
		if !errors.Is(err, bad.want) || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%v: got %v, want %v with %q", bad.cfg, err, bad.want, bad.msg)
		}
	}
	if err := ValidateConfig("", nil); !errors.Is(err, model.ErrInvalidRequest) {
		t.Errorf("empty name: %v", err)
	}
}

func TestResolve(t *testing.T) {
	a, _ := ParseSubscription("a", map[string]string{KeyMetrics: "p.", KeyInterval: "5000"})
	b, _ := ParseSubscription("b", map[string]string{KeyMetrics: "q.", KeyInterval: "2000", KeyMatch: "client_id=b"})
	all, _ := ParseSubscription("c", map[string]string{KeyMetrics: "*", KeyMatch: "client_id=all"})
	subs := []Subscription{a, b, all}
	if r := Resolve(subs, ClientMeta{ClientID: "x"}); r.IntervalMs != 5000 || len(r.Metrics) != 1 || r.Metrics[0] != "p." {
		t.Fatalf("x: %+v", r)
	}
	if r := Resolve(subs, ClientMeta{ClientID: "b"}); r.IntervalMs != 2000 || len(r.Metrics) != 2 {
		t.Fatalf("b: %+v", r)
	}
	if r := Resolve(subs, ClientMeta{ClientID: "all"}); len(r.Metrics) != 1 || r.Metrics[0] != "" || !r.Wants("anything") {
		t.Fatalf("all: %+v", r)
	}
	if r := Resolve(nil, ClientMeta{}); r.Metrics != nil || r.IntervalMs != DefaultIntervalMs {
		t.Fatalf("none: %+v", r)
	}
}

// payload encodes one gauge and one sum (with a resource attribute) as
// OTLP MetricsData.
func payload(t testing.TB, gauge float64) []byte {
	md := &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "group_id", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "g"}}}}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{
			{Name: "org.apache.kafka.producer.node.request.latency.avg", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{{
				Attributes: []*commonpb.KeyValue{{Key: "node_id", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 1}}}},
				Value:      &metricspb.NumberDataPoint_AsDouble{AsDouble: gauge}}}}}},
			{Name: "org.apache.kafka.producer.connection.creation.total", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{DataPoints: []*metricspb.NumberDataPoint{{
				Value: &metricspb.NumberDataPoint_AsInt{AsInt: 7}}}}}},
			{Name: "other.histogram", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{DataPoints: []*metricspb.HistogramDataPoint{{Count: 3, Sum: proto.Float64(1.5)}}}}},
		}}},
	}}}
	b, err := proto.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compress(t testing.TB, codec int8, b []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case CompressionNone:
		return b
	case CompressionGzip:
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
	case CompressionSnappy:
		return snappy.Encode(nil, b)
	case CompressionLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(b)
		w.Close()
	case CompressionZstd:
		w, _ := zstd.NewWriter(&buf)
		w.Write(b)
		w.Close()
	}
	return buf.Bytes()
}

func TestDecodeCodecs(t *testing.T) {
	for _, c := range []int8{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		pts, dropped, err := Decode(c, compress(t, c, payload(t, 2.5)), 1<<20)
		if err != nil || dropped != 0 || len(pts) != 4 {
			t.Fatalf("codec %d: %v %d %+v", c, err, dropped, pts)
		}
		if pts[0].Value != 2.5 || pts[0].Attrs != "group_id=g,node_id=1" || pts[1].Value != 7 || pts[2].Name != "other.histogram.count" || pts[3].Value != 1.5 {
			t.Fatalf("codec %d: %+v", c, pts)
		}
	}
	if _, _, err := Decode(CompressionZstd, []byte("not zstd"), 1<<20); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("bad zstd: %v", err)
	}
	if _, _, err := Decode(CompressionNone, []byte{0xff, 0xff}, 1<<20); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("bad proto: %v", err)
	}
	big := compress(t, CompressionGzip, make([]byte, 1<<16))
	if _, _, err := Decode(CompressionGzip, big, 1<<10); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("bomb: %v", err)
	}
}

func TestGetPushRules(t *testing.T) {
	m := NewManager(Config{MaxBytes: 4096})
	m.SetSubscriptions(map[string]map[string]string{"s": {KeyMetrics: "org.apache.kafka.producer.", KeyInterval: "1000"}})
	t0 := time.Unix(1000, 0)
	meta := ClientMeta{ClientID: "c"}
	r, err := m.Get(t0, InstanceID{}, meta)
	if err != nil || r.InstanceID == (InstanceID{}) || r.IntervalMs != 1000 || r.MaxBytes != 4096 || len(r.Metrics) != 1 || r.DeltaTemporality {
		t.Fatalf("get: %v %+v", err, r)
	}
	id := r.InstanceID
	if _, err := m.Get(t0.Add(500*time.Millisecond), id, meta); !errors.Is(err, ErrThrottled) {
		t.Fatalf("early get: %v", err)
	}
	p := Push{InstanceID: id, SubscriptionID: r.SubscriptionID, Compression: CompressionZstd, Metrics: compress(t, CompressionZstd, payload(t, 1))}
	if err := m.Push(t0.Add(600*time.Millisecond), meta, Push{SubscriptionID: r.SubscriptionID}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("zero id: %v", err)
	}
	bad := p
	bad.SubscriptionID++
	if err := m.Push(t0.Add(600*time.Millisecond), meta, bad); !errors.Is(err, ErrUnknownSubscription) {
		t.Fatalf("wrong subscription: %v", err)
	}
	if err := m.Push(t0.Add(600*time.Millisecond), meta, p); err != nil { // early, but the first after a get
		t.Fatalf("first push: %v", err)
	}
	if err := m.Push(t0.Add(900*time.Millisecond), meta, p); !errors.Is(err, ErrThrottled) {
		t.Fatalf("second push too soon: %v", err)
	}
	series, st := m.Snapshot(t0.Add(time.Second))
	if st.Clients != 1 || st.Series != 2 || len(series) != 2 { // other.histogram was not requested
		t.Fatalf("snapshot: %+v %+v", st, series)
	}
	big := p
	big.Metrics = make([]byte, 4097)
	if err := m.Push(t0.Add(2*time.Second), meta, big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	codec := p
	codec.Compression = 9
	if err := m.Push(t0.Add(4*time.Second), meta, codec); !errors.Is(err, ErrUnsupportedCompression) {
		t.Fatalf("codec: %v", err)
	}
	junk := p
	junk.Compression, junk.Metrics = CompressionNone, []byte{0xff}
	if err := m.Push(t0.Add(6*time.Second), meta, junk); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("junk: %v", err)
	}
	// A new subscription changes the id: the old one is refused, and the
	// client may ask again at once.
	m.SetSubscriptions(map[string]map[string]string{"s": {KeyMetrics: "*", KeyInterval: "2000"}})
	if err := m.Push(t0.Add(8*time.Second), meta, p); !errors.Is(err, ErrUnknownSubscription) {
		t.Fatalf("stale subscription: %v", err)
	}
	r2, err := m.Get(t0.Add(8*time.Second), id, meta)
	if err != nil || r2.SubscriptionID == r.SubscriptionID || r2.InstanceID != id || r2.Metrics[0] != "" {
		t.Fatalf("re-get: %v %+v", err, r2)
	}
	term := p
	term.SubscriptionID, term.Terminating = r2.SubscriptionID, true
	if err := m.Push(t0.Add(8*time.Second+time.Millisecond), meta, term); err != nil {
		t.Fatalf("terminating push: %v", err)
	}
	if err := m.Push(t0.Add(9*time.Second), meta, term); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("push after terminating: %v", err)
	}
	if _, st := m.Snapshot(t0.Add(9 * time.Second)); st.Series != 4 {
		t.Fatalf("after all-metrics push: %+v", st)
	}
	// Silent for three intervals: expired with its series.
	if _, st := m.Snapshot(t0.Add(40 * time.Second)); st.Clients != 0 || st.Series != 0 {
		t.Fatalf("expiry: %+v", st)
	}
}

func TestBounds(t *testing.T) {
	m := NewManager(Config{MaxClients: 2, MaxSeries: 3})
	m.SetSubscriptions(map[string]map[string]string{"all": {KeyMetrics: "*", KeyInterval: "100"}})
	t0 := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		r, err := m.Get(now, InstanceID{}, ClientMeta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Push(now, ClientMeta{}, Push{InstanceID: r.InstanceID, SubscriptionID: r.SubscriptionID, Metrics: payload(t, float64(i+1))}); err != nil {
			t.Fatal(err)
		}
	}
	_, st := m.Snapshot(t0.Add(10 * time.Millisecond))
	if st.Clients != 2 || st.Series > 3 || st.DroppedPoints == 0 {
		t.Fatalf("bounds: %+v", st)
	}
}
