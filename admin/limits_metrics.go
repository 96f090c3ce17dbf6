package admin

// Request-memory metrics: queued.max.request.bytes in use and its limit
// (kafka/limits.go).

import "github.com/prometheus/client_golang/prometheus"

var (
	descQueuedRequestBytes = prometheus.NewDesc("ringtail_queued_request_bytes",
		"Bytes of requests read and not yet answered, all client connections (bounded by queued.max.request.bytes).", nil, nil)
	descQueuedRequestBytesLimit = prometheus.NewDesc("ringtail_queued_request_bytes_limit",
		"queued.max.request.bytes; 0 when unbounded (-1).", nil, nil)
)

func describeLimits(ch chan<- *prometheus.Desc) {
	ch <- descQueuedRequestBytes
	ch <- descQueuedRequestBytesLimit
}

func collectLimits(ch chan<- prometheus.Metric, src Source) {
	if q, ok := src.(interface{ QueuedRequestBytes() (inUse, limit int64) }); ok {
		inUse, limit := q.QueuedRequestBytes()
		ch <- prometheus.MustNewConstMetric(descQueuedRequestBytes, prometheus.GaugeValue, float64(inUse))
		ch <- prometheus.MustNewConstMetric(descQueuedRequestBytesLimit, prometheus.GaugeValue, float64(limit))
	}
}
