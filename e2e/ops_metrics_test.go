// This file proves that the admin server's /metrics follows a produce and
// consume load (requests, latency, bytes and records per topic, log size,
// io engine submissions and fsync batches all move), and that the probes and
// pprof answer.
package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestMetricsMoveUnderLoad(t *testing.T) {
	t.Parallel()
	o, adminAddr := withAdmin(t, testkit.Options{})
	n := startNode(t, o)
	const topic, records = "metrics-load", 3000
	n.CreateTopic(topic, 3, nil)

	for _, path := range []string{"/v1/status/ready", "/v1/status/live", "/debug/pprof/"} {
		if code, body := httpDo(t, http.MethodGet, "http://"+adminAddr+path); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
	}
	before := scrape(t, adminAddr)

	cl := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	acks := produceN(t, cl, topic, "load", records)
	cl.Close()
	consumed := consumeAll(t, n.Addr(), topic, records, 60*time.Second)
	verifyAckedPresent(t, acks, consumed)
	var valueBytes int
	for _, r := range consumed {
		valueBytes += len(r.Value)
	}

	after := scrape(t, adminAddr)
	delta := func(name string, labels map[string]string) float64 {
		return metricSum(after, name, labels) - metricSum(before, name, labels)
	}
	topicLabel := map[string]string{"topic": topic}
	checks := []struct {
		what string
		got  float64
		min  float64
	}{
		{"Produce requests", delta("ringtail_kafka_requests_total", map[string]string{"api": "Produce"}), 1},
		{"Produce latency observations", delta("ringtail_kafka_request_duration_seconds", map[string]string{"api": "Produce"}), 1},
		{"Fetch requests", delta("ringtail_kafka_requests_total", map[string]string{"api": "Fetch"}), 1},
		{"records in", delta("ringtail_topic_records_in_total", topicLabel), records},
		{"bytes in", delta("ringtail_topic_bytes_in_total", topicLabel), float64(valueBytes)},
		{"bytes out", delta("ringtail_topic_bytes_out_total", topicLabel), float64(valueBytes)},
		{"io submissions", delta("ringtail_io_submissions_total", nil), 1},
		{"io writes", delta("ringtail_io_writes_total", nil), 1},
		{"fsyncs", delta("ringtail_io_fsyncs_total", nil), 1},
		{"batch size observations", delta("ringtail_io_batch_ops", nil), 1},
		{"fsync batch latency observations", delta("ringtail_io_fsync_batch_duration_seconds", nil), 1},
		{"log size of the topic", metricSum(after, "ringtail_log_size_bytes", topicLabel), float64(valueBytes)},
		{"log segments of the topic", metricSum(after, "ringtail_log_segments", topicLabel), 3},
		{"partitions led", metricSum(after, "ringtail_partitions", map[string]string{"role": "leader"}), 3},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("%s: moved by %v, want at least %v", c.what, c.got, c.min)
		}
	}
	if urp := metricSum(after, "ringtail_under_replicated_partitions", nil); urp != 0 {
		t.Errorf("under-replicated partitions on a single node: %v", urp)
	}
}
