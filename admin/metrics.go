package admin

import (
	"encoding/binary"
	"math"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/fetchsession"
	"github.com/ringtail/ringtail/iocore"
)

// PartitionStats is one local partition replica at scrape time.
type PartitionStats struct {
	Topic           string
	Partition       int32
	SizeBytes       int64
	Segments        int
	Leader          bool // this node leads it
	UnderReplicated bool // this node leads it and its ISR is smaller than its replica set
	// Compacted partitions (cleanup.policy includes compact) also report
	// the log cleaner's view of them.
	Compacted   bool
	DirtyRatio  float64 // dirty bytes / bytes below the active segment
	LastCleanMs int64   // unix ms of the last cleaning pass; 0: none yet
	// LSOLag is the high watermark minus the last stable offset of a
	// partition this node leads: the offsets open transactions hold back
	// from read_committed consumers (0: none).
	LSOLag int64
}

// SegmentFileStats is the segment file descriptor cache's figures, from
// an optional Source method SegmentFiles() SegmentFileStats.
type SegmentFileStats struct {
	Open, Max        int // descriptors open now; ringtail.max_open_files (0: unbounded)
	Opens, Evictions uint64
}

var (
	descSegFilesOpen = prometheus.NewDesc("ringtail_segment_files_open",
		"Segment file descriptors open now (opened on demand, closed past ringtail.max_open_files).", nil, nil)
	descSegFilesMax = prometheus.NewDesc("ringtail_segment_files_max",
		"ringtail.max_open_files in effect (0: unbounded).", nil, nil)
	descSegFileOpens = prometheus.NewDesc("ringtail_segment_file_opens_total",
		"Segment files opened, first opens and reopens after the bound closed them.", nil, nil)
	descSegFileEvictions = prometheus.NewDesc("ringtail_segment_file_evictions_total",
		"Segment file descriptors closed because more than ringtail.max_open_files were open.", nil, nil)
)

// collectSegmentFiles emits the SegmentFileStats metrics when src has them.
func collectSegmentFiles(ch chan<- prometheus.Metric, src any) {
	sf, ok := src.(interface{ SegmentFiles() SegmentFileStats })
	if !ok {
		return
	}
	st := sf.SegmentFiles()
	ch <- prometheus.MustNewConstMetric(descSegFilesOpen, prometheus.GaugeValue, float64(st.Open))
	ch <- prometheus.MustNewConstMetric(descSegFilesMax, prometheus.GaugeValue, float64(st.Max))
	ch <- prometheus.MustNewConstMetric(descSegFileOpens, prometheus.CounterValue, float64(st.Opens))
	ch <- prometheus.MustNewConstMetric(descSegFileEvictions, prometheus.CounterValue, float64(st.Evictions))
}

// CleanerStats is the log cleaner's counters, from an optional Source
// method Cleaner() CleanerStats.
type CleanerStats struct {
	Passes, BytesRead, BytesWritten int64
	Uncleanable                     int
}

// TxnStats is the transaction coordinator's view of the
// __transaction_state partitions this node leads, from an optional Source
// method Txns() TxnStats.
type TxnStats struct {
	// Open counts the transactions not finished (Ongoing, PrepareCommit,
	// PrepareAbort); OldestOpenMs is the age of the oldest (0: none).
	Open         int
	OldestOpenMs int64
	// Commits and Aborts count the transactions completed here.
	Commits, Aborts uint64
}

// Source is what the node shows at scrape time. Its methods are called
// from scrapes, concurrently with everything else.
type Source interface {
	// Partitions lists the partitions stored on this node; none while the
	// node is starting or stopping.
	Partitions() []PartitionStats
	// Shards returns each shard's live counters, in shard order.
	Shards() []*iocore.Stats
	// EngineName is the io engine the shards use.
	EngineName() string
	// TopicName resolves a topic id (Fetch v13 names topics by id); "" if
	// unknown.
	TopicName(id [16]byte) string
}

// Metrics is the node's Prometheus registry. It implements
// kafka.RequestObserver for the per-request metrics; the rest is read from
// a Source at scrape time.
type Metrics struct {
	reg *prometheus.Registry
	src Source

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	closed        *prometheus.CounterVec
	bytesIn       *prometheus.CounterVec
	recordsIn     *prometheus.CounterVec
	bytesOut      *prometheus.CounterVec
	replBytesOut  *prometheus.CounterVec
	quota         quotaMetrics // quota_metrics.go
	apiNames      apiNamesT
	errorNames    sync.Map // int16 -> string
	responsePlans sync.Map // reflect.Type -> *plan
	// reflectAll walks every response by reflection, Produce and Fetch
	// included, as the observer did before responseErrors: set only by
	// BenchmarkObserveProduce, to measure the two in the same run.
	reflectAll bool
	// series caches each API's request counter and latency histogram,
	// and topicsIn each topic's produce counters, so that the observer
	// of every request does not hash label values (WithLabelValues).
	series   [len(apiNamesT{})]atomic.Pointer[apiSeries]
	topicsIn sync.Map // topic -> *topicSeries
	sasl     *saslMetrics
}

type apiNamesT [128]string

// apiSeries are one API's request series.
type apiSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// topicSeries are one topic's produce series.
type topicSeries struct{ bytes, records prometheus.Counter }

// apiSeriesFor is key's cached series, nil for a key out of range.
func (m *Metrics) apiSeriesFor(key int16) *apiSeries {
	if key < 0 || int(key) >= len(m.series) {
		return nil
	}
	if s := m.series[key].Load(); s != nil {
		return s
	}
	api := m.apiNames[key]
	s := &apiSeries{requests: m.requests.WithLabelValues(api), latency: m.latency.WithLabelValues(api)}
	m.series[key].Store(s)
	return s
}

// topicIn is topic's cached produce series.
func (m *Metrics) topicIn(topic string) *topicSeries {
	if v, ok := m.topicsIn.Load(topic); ok {
		return v.(*topicSeries)
	}
	v, _ := m.topicsIn.LoadOrStore(topic, &topicSeries{bytes: m.bytesIn.WithLabelValues(topic), records: m.recordsIn.WithLabelValues(topic)})
	return v.(*topicSeries)
}

// NewMetrics makes the registry: request metrics, Go runtime and process
// collectors, and the node's state read from src at each scrape.
func NewMetrics(src Source) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), src: src}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_kafka_requests_total",
		Help: "Kafka requests answered, by API.",
	}, []string{"api"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ringtail_kafka_request_duration_seconds",
		Help:    "Time from reading a Kafka request to its response being ready, by API (long-polling fetches included).",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 17), // 50us .. 3.3s
	}, []string{"api"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_kafka_request_errors_total",
		Help: "Non-zero error codes in Kafka responses (one per topic, partition or group that carries one), by API and error.",
	}, []string{"api", "error"})
	m.closed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_kafka_requests_closed_total",
		Help: "Decoded Kafka requests answered by closing the connection, by API.",
	}, []string{"api"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_topic_bytes_in_total",
		Help: "Record batch bytes appended by producers, by topic.",
	}, []string{"topic"})
	m.recordsIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_topic_records_in_total",
		Help: "Records appended by producers, by topic.",
	}, []string{"topic"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_topic_bytes_out_total",
		Help: "Record batch bytes sent to consumers, by topic.",
	}, []string{"topic"})
	m.replBytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_topic_replication_bytes_out_total",
		Help: "Record batch bytes sent to follower replicas, by topic.",
	}, []string{"topic"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ringtail_build_info",
		Help: "Always 1; the version label is the build's.",
	}, []string{"version"})
	buildInfo.WithLabelValues(Version).Set(1)
	for i := range m.apiNames {
		if name := kmsg.NameForKey(int16(i)); name != "" {
			m.apiNames[i] = name
		} else {
			m.apiNames[i] = strconv.Itoa(i)
		}
	}
	m.sasl = newSASLMetrics(m.reg)
	m.reg.MustRegister(m.requests, m.latency, m.errors, m.closed, m.bytesIn, m.recordsIn, m.bytesOut, m.replBytesOut, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{src: src}, &authzCollector{src: src})
	m.registerQuotaMetrics()
	m.reg.MustRegister(&shareCollector{src: src}) // sharemetrics.go
	return m
}

// Registry is the Prometheus registry (tests gather from it directly).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) apiName(key int16) string {
	if key >= 0 && int(key) < len(m.apiNames) {
		return m.apiNames[key]
	}
	return strconv.Itoa(int(key))
}

func (m *Metrics) errorName(code int16) string {
	if v, ok := m.errorNames.Load(code); ok {
		return v.(string)
	}
	name := strconv.Itoa(int(code))
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			name = ke.Message
		}
	}
	m.errorNames.Store(code, name)
	return name
}

// ObserveRequest implements kafka.RequestObserver.
func (m *Metrics) ObserveRequest(key int16, req kmsg.Request, resp kmsg.Response, elapsed time.Duration, closed bool) {
	api := m.apiName(key)
	if s := m.apiSeriesFor(key); s != nil {
		s.requests.Inc()
		s.latency.Observe(elapsed.Seconds())
	} else {
		m.requests.WithLabelValues(api).Inc()
		m.latency.WithLabelValues(api).Observe(elapsed.Seconds())
	}
	if closed {
		m.closed.WithLabelValues(api).Inc()
		return
	}
	if resp != nil {
		m.responseErrors(resp, func(code int16) {
			m.errors.WithLabelValues(api, m.errorName(code)).Inc()
		})
	}
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		m.observeProduce(r, resp)
	case *kmsg.FetchRequest:
		if f, ok := resp.(*kmsg.FetchResponse); ok {
			m.observeFetch(r, f, nil)
		}
	}
}

// observeProduce counts the bytes and records of every partition that
// was appended (every partition, for acks=0, which has no response).
func (m *Metrics) observeProduce(req *kmsg.ProduceRequest, resp kmsg.Response) {
	var failed map[string]map[int32]bool
	if pr, ok := resp.(*kmsg.ProduceResponse); ok {
		for _, t := range pr.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					if failed == nil {
						failed = map[string]map[int32]bool{}
					}
					if failed[t.Topic] == nil {
						failed[t.Topic] = map[int32]bool{}
					}
					failed[t.Topic][p.Partition] = true
				}
			}
		}
	}
	for _, t := range req.Topics {
		var bytes, records int
		for _, p := range t.Partitions {
			if failed[t.Topic][p.Partition] {
				continue
			}
			bytes += len(p.Records)
			records += countRecords(p.Records)
		}
		if bytes > 0 {
			ts := m.topicIn(t.Topic)
			ts.bytes.Add(float64(bytes))
			ts.records.Add(float64(records))
		}
	}
}

// countRecords sums the record counts of the v2 batches in b: each batch
// header has its length at bytes 8-11 and its record count at 57-60.
func countRecords(b []byte) int {
	n := 0
	for len(b) >= 61 {
		batchLen := int(int32(binary.BigEndian.Uint32(b[8:])))
		n += int(int32(binary.BigEndian.Uint32(b[57:])))
		if batchLen <= 0 || 12+batchLen > len(b) {
			break
		}
		b = b[12+batchLen:]
	}
	return n
}

// ObserveFetchRanges implements kafka.FetchObserver: the bytes out of the
// partitions whose records a fetch sends from files (ObserveRequest sees
// them with empty RecordBatches).
func (m *Metrics) ObserveFetchRanges(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, recordBytes func(topic, partition int) int) {
	m.observeFetch(req, resp, recordBytes)
}

// observeFetch counts resp's record bytes by topic: size(t, p) of each
// partition, or with size nil the length of its RecordBatches.
func (m *Metrics) observeFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, size func(t, p int) int) {
	replicaID := req.ReplicaID
	if req.Version >= 15 {
		replicaID = req.ReplicaState.ID
	}
	vec := m.bytesOut
	if replicaID >= 0 {
		vec = m.replBytesOut
	}
	for ti, t := range resp.Topics {
		bytes := 0
		for pi, p := range t.Partitions {
			if size != nil {
				bytes += size(ti, pi)
			} else {
				bytes += len(p.RecordBatches)
			}
		}
		if bytes == 0 {
			continue
		}
		name := t.Topic
		if name == "" && m.src != nil {
			name = m.src.TopicName(t.TopicID)
		}
		vec.WithLabelValues(name).Add(float64(bytes))
	}
}

// responseErrors calls f with every non-zero ErrorCode in resp. Produce and
// Fetch, the responses of the data path, are walked by direct loops over
// their kmsg types; every other API by walkErrors' reflection, which costs
// a type-plan lookup and reflect.Value calls per field (see
// BenchmarkObserveProduce).
func (m *Metrics) responseErrors(resp kmsg.Response, f func(int16)) {
	if m.reflectAll {
		m.walkErrors(reflect.ValueOf(resp), f)
		return
	}
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			ps := r.Topics[i].Partitions
			for j := range ps {
				if c := ps[j].ErrorCode; c != 0 {
					f(c)
				}
			}
		}
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			f(r.ErrorCode)
		}
		for i := range r.Topics {
			ps := r.Topics[i].Partitions
			for j := range ps {
				if c := ps[j].ErrorCode; c != 0 {
					f(c)
				}
			}
		}
	default:
		m.walkErrors(reflect.ValueOf(resp), f)
	}
}

// plan says where in a response type the ErrorCode fields are: the struct's
// own (errField >= 0) and those of the nested structs and slices of structs
// that have any. Computed once per type.
type plan struct {
	errField int
	nested   []int
}

const maxResponseDepth = 6

func (m *Metrics) planFor(t reflect.Type, depth int) *plan {
	if v, ok := m.responsePlans.Load(t); ok {
		return v.(*plan)
	}
	p := &plan{errField: -1}
	if depth < maxResponseDepth {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			switch {
			case f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16:
				p.errField = i
			case f.Type.Kind() == reflect.Struct:
				if sub := m.planFor(f.Type, depth+1); sub.errField >= 0 || len(sub.nested) > 0 {
					p.nested = append(p.nested, i)
				}
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				if sub := m.planFor(f.Type.Elem(), depth+1); sub.errField >= 0 || len(sub.nested) > 0 {
					p.nested = append(p.nested, i)
				}
			}
		}
	}
	m.responsePlans.Store(t, p)
	return p
}

// walkErrors calls f with every non-zero ErrorCode in v.
func (m *Metrics) walkErrors(v reflect.Value, f func(int16)) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	p := m.planFor(v.Type(), 0)
	if p.errField >= 0 {
		if code := int16(v.Field(p.errField).Int()); code != 0 {
			f(code)
		}
	}
	for _, i := range p.nested {
		fv := v.Field(i)
		if fv.Kind() == reflect.Slice {
			for j := 0; j < fv.Len(); j++ {
				m.walkErrors(fv.Index(j), f)
			}
			continue
		}
		m.walkErrors(fv, f)
	}
}

// stateCollector reads the node's state at scrape time.
type stateCollector struct{ src Source }

var (
	descPartitions = prometheus.NewDesc("ringtail_partitions",
		"Partition replicas stored on this node, by role (leader or follower).", []string{"role"}, nil)
	descURP = prometheus.NewDesc("ringtail_under_replicated_partitions",
		"Partitions this node leads whose in-sync replica set is smaller than their replica set.", nil, nil)
	descLogSize = prometheus.NewDesc("ringtail_log_size_bytes",
		"Bytes in the log segments of a topic's partitions on this node.", []string{"topic"}, nil)
	descLogSegments = prometheus.NewDesc("ringtail_log_segments",
		"Log segments of a topic's partitions on this node.", []string{"topic"}, nil)
	descBatches = prometheus.NewDesc("ringtail_io_submissions_total",
		"Batches a shard handed to its io engine (one group commit each), by shard.", []string{"shard", "engine"}, nil)
	descWrites = prometheus.NewDesc("ringtail_io_writes_total",
		"Write ops submitted, by shard.", []string{"shard"}, nil)
	descSyncs = prometheus.NewDesc("ringtail_io_fsyncs_total",
		"fdatasync ops submitted, by shard.", []string{"shard"}, nil)
	descTasks = prometheus.NewDesc("ringtail_io_tasks_total",
		"Shard tasks completed (appends, flushes, other shard work), by shard.", []string{"shard"}, nil)
	descBatchOps = prometheus.NewDesc("ringtail_io_batch_ops",
		"Ops (writes and fsyncs) per submitted batch, all shards.", nil, nil)
	descFetchSendfile = prometheus.NewDesc("ringtail_fetch_sendfile_bytes_total",
		"Record bytes fetch responses sent from segment files with sendfile(2), never entering user space.", nil, nil)
	descFetchCopied = prometheus.NewDesc("ringtail_fetch_copied_bytes_total",
		"Record bytes fetch responses copied through user space (ringtail.fetch_sendfile=false, or sendfile refused).", nil, nil)
	descFetchSessions = prometheus.NewDesc("ringtail_fetch_sessions",
		"Incremental fetch sessions (KIP-227) in the cache (max.incremental.fetch.session.cache.slots).", nil, nil)
	descFetchSessionPartitions = prometheus.NewDesc("ringtail_fetch_session_partitions",
		"Partitions held by all the incremental fetch sessions in the cache.", nil, nil)
	descFetchSessionRequests = prometheus.NewDesc("ringtail_fetch_session_requests_total",
		"Fetch requests v7+ by session kind: full (epoch 0 or -1, the whole partition list) or incremental (epoch > 0, changes only).", []string{"kind"}, nil)
	descFetchSessionEvents = prometheus.NewDesc("ringtail_fetch_session_events_total",
		"Fetch session events: created, evicted, not_found (FETCH_SESSION_ID_NOT_FOUND), invalid_epoch (INVALID_FETCH_SESSION_EPOCH).", []string{"event"}, nil)
	descCleanerPasses = prometheus.NewDesc("ringtail_cleaner_passes_total",
		"Log cleaner passes that compacted a partition.", nil, nil)
	descCleanerRead = prometheus.NewDesc("ringtail_cleaner_read_bytes_total",
		"Bytes the log cleaner read.", nil, nil)
	descCleanerWritten = prometheus.NewDesc("ringtail_cleaner_written_bytes_total",
		"Bytes the log cleaner wrote.", nil, nil)
	descUncleanable = prometheus.NewDesc("ringtail_cleaner_uncleanable_partitions",
		"Compacted partitions the log cleaner gave up on (the reason is in the log); they are served but no longer compacted.", nil, nil)
	descDirtyRatio = prometheus.NewDesc("ringtail_cleaner_dirty_ratio",
		"Share of a compacted partition's bytes below its active segment that are not cleaned yet.", []string{"topic", "partition"}, nil)
	descSinceClean = prometheus.NewDesc("ringtail_cleaner_seconds_since_last_clean",
		"Seconds since the log cleaner last compacted a partition (absent before its first pass).", []string{"topic", "partition"}, nil)
	descTxnOpen = prometheus.NewDesc("ringtail_txn_open_transactions",
		"Transactions this node coordinates that are not finished (Ongoing, PrepareCommit, PrepareAbort).", nil, nil)
	descTxnOldest = prometheus.NewDesc("ringtail_txn_oldest_open_transaction_seconds",
		"Age of the oldest transaction this node coordinates that is not finished (0 when none).", nil, nil)
	descTxnCommits = prometheus.NewDesc("ringtail_txn_commits_total",
		"Transactions this node coordinated to CompleteCommit (all their markers written).", nil, nil)
	descTxnAborts = prometheus.NewDesc("ringtail_txn_aborts_total",
		"Transactions this node coordinated to CompleteAbort (all their markers written), timed-out and fenced ones included.", nil, nil)
	descLSOLag = prometheus.NewDesc("ringtail_log_last_stable_offset_lag",
		"High watermark minus last stable offset of a partition this node leads: offsets that open transactions hold back from read_committed consumers (absent when 0).", []string{"topic", "partition"}, nil)
	descSyncBatch = prometheus.NewDesc("ringtail_io_fsync_batch_duration_seconds",
		"Wall time of each submitted batch that carries fsyncs (its writes, then its fsyncs): the group-commit latency a durable append waits for.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPartitions, descURP, descLogSize, descLogSegments,
		descBatches, descWrites, descSyncs, descTasks, descBatchOps, descSyncBatch, descFetchSendfile, descFetchCopied,
		descCleanerPasses, descCleanerRead, descCleanerWritten, descUncleanable, descDirtyRatio, descSinceClean,
		descTxnOpen, descTxnOldest, descTxnCommits, descTxnAborts, descLSOLag,
		descFetchSessions, descFetchSessionPartitions, descFetchSessionRequests, descFetchSessionEvents} {
		ch <- d
	}
	describeReplication(ch)
	describeLimits(ch)
	describeLogDirs(ch)
	for _, d := range []*prometheus.Desc{descSegFilesOpen, descSegFilesMax, descSegFileOpens, descSegFileEvictions} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src == nil {
		return
	}
	// A Source may also count fetched record bytes by path.
	if fs, ok := c.src.(interface {
		FetchBytes() (sendfile, copied int64)
	}); ok {
		sf, cp := fs.FetchBytes()
		ch <- prometheus.MustNewConstMetric(descFetchSendfile, prometheus.CounterValue, float64(sf))
		ch <- prometheus.MustNewConstMetric(descFetchCopied, prometheus.CounterValue, float64(cp))
	}
	if fs, ok := c.src.(interface{ FetchSessions() fetchsession.Stats }); ok {
		collectFetchSessions(ch, fs.FetchSessions())
	}
	collectReplication(ch, c.src)
	collectLimits(ch, c.src)
	collectSegmentFiles(ch, c.src)
	collectLogDirs(ch, c.src)
	if cs, ok := c.src.(interface{ Cleaner() CleanerStats }); ok {
		st := cs.Cleaner()
		ch <- prometheus.MustNewConstMetric(descCleanerPasses, prometheus.CounterValue, float64(st.Passes))
		ch <- prometheus.MustNewConstMetric(descCleanerRead, prometheus.CounterValue, float64(st.BytesRead))
		ch <- prometheus.MustNewConstMetric(descCleanerWritten, prometheus.CounterValue, float64(st.BytesWritten))
		ch <- prometheus.MustNewConstMetric(descUncleanable, prometheus.GaugeValue, float64(st.Uncleanable))
	}
	if ts, ok := c.src.(interface{ Txns() TxnStats }); ok {
		st := ts.Txns()
		ch <- prometheus.MustNewConstMetric(descTxnOpen, prometheus.GaugeValue, float64(st.Open))
		ch <- prometheus.MustNewConstMetric(descTxnOldest, prometheus.GaugeValue, float64(st.OldestOpenMs)/1000)
		ch <- prometheus.MustNewConstMetric(descTxnCommits, prometheus.CounterValue, float64(st.Commits))
		ch <- prometheus.MustNewConstMetric(descTxnAborts, prometheus.CounterValue, float64(st.Aborts))
	}
	parts := c.src.Partitions()
	for _, p := range parts {
		if p.Leader && p.LSOLag > 0 {
			ch <- prometheus.MustNewConstMetric(descLSOLag, prometheus.GaugeValue, float64(p.LSOLag), p.Topic, strconv.Itoa(int(p.Partition)))
		}
	}
	nowMs := time.Now().UnixMilli()
	for _, p := range parts {
		if !p.Compacted {
			continue
		}
		part := strconv.Itoa(int(p.Partition))
		ch <- prometheus.MustNewConstMetric(descDirtyRatio, prometheus.GaugeValue, p.DirtyRatio, p.Topic, part)
		if p.LastCleanMs > 0 {
			ch <- prometheus.MustNewConstMetric(descSinceClean, prometheus.GaugeValue, float64(nowMs-p.LastCleanMs)/1000, p.Topic, part)
		}
	}
	var leaders, followers, urp int
	size := map[string]int64{}
	segs := map[string]int{}
	for _, p := range parts {
		if p.Leader {
			leaders++
		} else {
			followers++
		}
		if p.UnderReplicated {
			urp++
		}
		size[p.Topic] += p.SizeBytes
		segs[p.Topic] += p.Segments
	}
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(leaders), "leader")
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(followers), "follower")
	ch <- prometheus.MustNewConstMetric(descURP, prometheus.GaugeValue, float64(urp))
	topics := make([]string, 0, len(size))
	for t := range size {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(size[t]), t)
		ch <- prometheus.MustNewConstMetric(descLogSegments, prometheus.GaugeValue, float64(segs[t]), t)
	}

	engine := c.src.EngineName()
	var ops, syncNs [65]uint64
	var opsSum, syncSum uint64
	for i, st := range c.src.Shards() {
		shard := strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(st.Drains.Load()), shard, engine)
		ch <- prometheus.MustNewConstMetric(descWrites, prometheus.CounterValue, float64(st.Writes.Load()), shard)
		ch <- prometheus.MustNewConstMetric(descSyncs, prometheus.CounterValue, float64(st.Syncs.Load()), shard)
		ch <- prometheus.MustNewConstMetric(descTasks, prometheus.CounterValue, float64(st.Tasks.Load()), shard)
		counts, sum := st.BatchOps.Snapshot()
		addCounts(&ops, &counts)
		opsSum += sum
		counts, sum = st.SyncBatchNanos.Snapshot()
		addCounts(&syncNs, &counts)
		syncSum += sum
	}
	ch <- log2Histogram(descBatchOps, &ops, float64(opsSum), 0, 12, 1)
	// 2^14 ns is 16us; 2^35 ns is 34 s.
	ch <- log2Histogram(descSyncBatch, &syncNs, float64(syncSum)/1e9, 14, 35, 1e-9)
}

func addCounts(dst, src *[65]uint64) {
	for i := range dst {
		dst[i] += src[i]
	}
}

// log2Histogram turns iocore.Log2Histogram counts into a Prometheus
// histogram with buckets le = (2^i - 1) * scale for i in [lo, hi]; bucket i
// of the counts holds exactly the values up to 2^i - 1, so the buckets
// are exact.
func log2Histogram(d *prometheus.Desc, counts *[65]uint64, sum float64, lo, hi int, scale float64) prometheus.Metric {
	var total uint64
	buckets := map[float64]uint64{}
	for i := range counts {
		total += counts[i]
		if i >= lo && i <= hi {
			buckets[(math.Exp2(float64(i))-1)*scale] = total
		}
	}
	return prometheus.MustNewConstHistogram(d, total, sum, buckets)
}

// collectFetchSessions sends the fetch session cache's metrics.
func collectFetchSessions(ch chan<- prometheus.Metric, st fetchsession.Stats) {
	ch <- prometheus.MustNewConstMetric(descFetchSessions, prometheus.GaugeValue, float64(st.Sessions))
	ch <- prometheus.MustNewConstMetric(descFetchSessionPartitions, prometheus.GaugeValue, float64(st.Partitions))
	ch <- prometheus.MustNewConstMetric(descFetchSessionRequests, prometheus.CounterValue, float64(st.Full), "full")
	ch <- prometheus.MustNewConstMetric(descFetchSessionRequests, prometheus.CounterValue, float64(st.Incremental), "incremental")
	for _, e := range []struct {
		name string
		n    int64
	}{{"created", st.Created}, {"evicted", st.Evicted}, {"not_found", st.NotFound}, {"invalid_epoch", st.BadEpoch}} {
		ch <- prometheus.MustNewConstMetric(descFetchSessionEvents, prometheus.CounterValue, float64(e.n), e.name)
	}
}
