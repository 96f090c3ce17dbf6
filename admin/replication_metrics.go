package admin

// Replication metrics: the follower replicas' fetch sessions on this node
// as a leader, and this node's replica fetchers as a follower.

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtail/ringtail/fetchsession"
)

// ReplicaFetchStats counts the Fetch requests this node's replica
// fetchers sent to leaders, and their bytes on the wire.
type ReplicaFetchStats struct {
	Requests, RequestBytes, ResponseBytes int64
}

var (
	descFetchReplicaSessions = prometheus.NewDesc("ringtail_fetch_replica_sessions",
		"Fetch sessions of follower replicas (one per follower node fetching from this leader), included in ringtail_fetch_sessions.", nil, nil)
	descFetchReplicaSessionPartitions = prometheus.NewDesc("ringtail_fetch_replica_session_partitions",
		"Partitions held by the follower replicas' fetch sessions.", nil, nil)
	descReplicaFetchRequests = prometheus.NewDesc("ringtail_replica_fetch_requests_total",
		"Fetch requests this node's replica fetchers sent to partition leaders.", nil, nil)
	descReplicaFetchRequestBytes = prometheus.NewDesc("ringtail_replica_fetch_request_bytes_total",
		"Bytes of the Fetch requests this node's replica fetchers sent.", nil, nil)
	descReplicaFetchResponseBytes = prometheus.NewDesc("ringtail_replica_fetch_response_bytes_total",
		"Bytes of the Fetch responses this node's replica fetchers received.", nil, nil)
)

func describeReplication(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFetchReplicaSessions, descFetchReplicaSessionPartitions,
		descReplicaFetchRequests, descReplicaFetchRequestBytes, descReplicaFetchResponseBytes} {
		ch <- d
	}
}

func collectReplication(ch chan<- prometheus.Metric, src Source) {
	if fs, ok := src.(interface{ FetchSessions() fetchsession.Stats }); ok {
		st := fs.FetchSessions()
		ch <- prometheus.MustNewConstMetric(descFetchReplicaSessions, prometheus.GaugeValue, float64(st.ReplicaSessions))
		ch <- prometheus.MustNewConstMetric(descFetchReplicaSessionPartitions, prometheus.GaugeValue, float64(st.ReplicaPartitions))
	}
	if rf, ok := src.(interface{ ReplicaFetches() ReplicaFetchStats }); ok {
		st := rf.ReplicaFetches()
		ch <- prometheus.MustNewConstMetric(descReplicaFetchRequests, prometheus.CounterValue, float64(st.Requests))
		ch <- prometheus.MustNewConstMetric(descReplicaFetchRequestBytes, prometheus.CounterValue, float64(st.RequestBytes))
		ch <- prometheus.MustNewConstMetric(descReplicaFetchResponseBytes, prometheus.CounterValue, float64(st.ResponseBytes))
	}
}
