package telemetry

// Decoding of a PushTelemetry payload: a MetricsData message of
// OpenTelemetry's OTLP protobuf (metrics/v1), compressed with one of
// Kafka's record codecs, turned into flat points (name, attributes, value)
// with bounded sizes.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// Compression types of PushTelemetry (Kafka's record codecs).
const (
	CompressionNone   int8 = 0
	CompressionGzip   int8 = 1
	CompressionSnappy int8 = 2
	CompressionLZ4    int8 = 3
	CompressionZstd   int8 = 4
)

// AcceptedCompression is what GetTelemetrySubscriptions offers, in Kafka's
// order of preference.
var AcceptedCompression = []int8{CompressionZstd, CompressionLZ4, CompressionGzip, CompressionSnappy}

// Bounds on what one payload may turn into.
const (
	maxPointsPerPush = 2000
	maxAttrsPerPoint = 16
	maxNameBytes     = 256
	maxValueBytes    = 256
)

// ErrBadPayload is a payload that does not decompress or does not parse as
// OTLP MetricsData (Kafka answers INVALID_RECORD).
var ErrBadPayload = errors.New("telemetry: bad metrics payload")

// Point is one pushed data point: the metric's name, its attributes
// (resource attributes, overridden by the data point's own) as sorted
// key=value pairs, and its latest value.
type Point struct {
	Name  string
	Attrs string
	Value float64
}

// Decode decompresses and parses a payload into points. maxDecoded bounds
// the decompressed size. At most maxPointsPerPush points come back; the
// rest are dropped (and counted in dropped).
func Decode(compression int8, b []byte, maxDecoded int) (points []Point, dropped int, err error) {
	plain, err := decompress(compression, b, maxDecoded)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	var md metricspb.MetricsData
	if err := proto.Unmarshal(plain, &md); err != nil {
		return nil, 0, fmt.Errorf("%w: OTLP MetricsData: %v", ErrBadPayload, err)
	}
	add := func(name string, attrs map[string]string, v float64) {
		if len(points) >= maxPointsPerPush || name == "" {
			dropped++
			return
		}
		points = append(points, Point{Name: clip(name, maxNameBytes), Attrs: joinAttrs(attrs), Value: v})
	}
	for _, rm := range md.GetResourceMetrics() {
		res := attrMap(nil, rm.GetResource().GetAttributes())
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				convertMetric(m, res, add)
			}
		}
	}
	return points, dropped, nil
}

// convertMetric flattens one metric: gauges and sums give their values,
// histograms and summaries their count and sum as name.count, name.sum.
func convertMetric(m *metricspb.Metric, res map[string]string, add func(string, map[string]string, float64)) {
	name := m.GetName()
	num := func(dps []*metricspb.NumberDataPoint) {
		for _, dp := range dps {
			v := dp.GetAsDouble()
			if _, ok := dp.GetValue().(*metricspb.NumberDataPoint_AsInt); ok {
				v = float64(dp.GetAsInt())
			}
			add(name, attrMap(res, dp.GetAttributes()), v)
		}
	}
	countSum := func(attrs []*commonpb.KeyValue, count uint64, sum float64) {
		a := attrMap(res, attrs)
		add(name+".count", a, float64(count))
		add(name+".sum", a, sum)
	}
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		num(d.Gauge.GetDataPoints())
	case *metricspb.Metric_Sum:
		num(d.Sum.GetDataPoints())
	case *metricspb.Metric_Histogram:
		for _, dp := range d.Histogram.GetDataPoints() {
			countSum(dp.GetAttributes(), dp.GetCount(), dp.GetSum())
		}
	case *metricspb.Metric_ExponentialHistogram:
		for _, dp := range d.ExponentialHistogram.GetDataPoints() {
			countSum(dp.GetAttributes(), dp.GetCount(), dp.GetSum())
		}
	case *metricspb.Metric_Summary:
		for _, dp := range d.Summary.GetDataPoints() {
			countSum(dp.GetAttributes(), dp.GetCount(), dp.GetSum())
		}
	}
}

// attrMap copies base and adds kvs (at most maxAttrsPerPoint in all).
func attrMap(base map[string]string, kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(base)+len(kvs))
	for k, v := range base {
		m[k] = v
	}
	for _, kv := range kvs {
		if _, ok := m[kv.GetKey()]; !ok && len(m) >= maxAttrsPerPoint {
			continue
		}
		if kv.GetKey() != "" {
			m[clip(kv.GetKey(), maxNameBytes)] = clip(anyString(kv.GetValue()), maxValueBytes)
		}
	}
	return m
}

func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	}
	return "" // arrays and key-value lists are not flattened
}

func joinAttrs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(m[k])
	}
	return sb.String()
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// xerialHeader starts snappy data framed as the Java client writes it.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func decompress(codec int8, b []byte, limit int) ([]byte, error) {
	switch codec {
	case CompressionNone:
		if len(b) > limit {
			return nil, fmt.Errorf("%d bytes, more than %d", len(b), limit)
		}
		return b, nil
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("gzip: %v", err)
		}
		return readLimited(zr, limit)
	case CompressionSnappy:
		return unsnappy(b, limit)
	case CompressionLZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(b)), limit)
	case CompressionZstd:
		d, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %v", err)
		}
		defer d.Close()
		return readLimited(d, limit)
	}
	return nil, fmt.Errorf("unknown compression type %d", codec)
}

func readLimited(r io.Reader, limit int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err == nil && len(out) > limit {
		err = fmt.Errorf("more than %d bytes decompressed", limit)
	}
	return out, err
}

// unsnappy decodes raw snappy or xerial-framed snappy.
func unsnappy(b []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(b, xerialHeader) {
		if n, err := snappy.DecodedLen(b); err != nil || n > limit {
			return nil, fmt.Errorf("snappy block decoding to %d bytes (limit %d): %v", n, limit, err)
		}
		return snappy.Decode(nil, b)
	}
	if len(b) < 16 {
		return nil, fmt.Errorf("short xerial header")
	}
	var out []byte
	for b = b[16:]; len(b) > 0; {
		if len(b) < 4 {
			return nil, fmt.Errorf("torn xerial chunk length")
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, fmt.Errorf("xerial chunk of %d bytes past the end", n)
		}
		chunk := b[4 : 4+n]
		dl, err := snappy.DecodedLen(chunk)
		if err != nil || len(out)+dl > limit {
			return nil, fmt.Errorf("xerial chunk decoding past %d bytes: %v", limit, err)
		}
		d, err := snappy.Decode(nil, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
		b = b[4+n:]
	}
	return out, nil
}
