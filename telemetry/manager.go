package telemetry

// The client instances of KIP-714 on one broker: what each is subscribed
// to, when it last asked and pushed, and the latest value of each series
// it pushed, all bounded (instances, series) and expired when a client
// stops pushing for three intervals.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Errors of Get and Push; the kafka package maps them to error codes.
var (
	ErrInvalidRequest         = errors.New("telemetry: invalid request")         // INVALID_REQUEST
	ErrUnknownSubscription    = errors.New("telemetry: unknown subscription id") // UNKNOWN_SUBSCRIPTION_ID
	ErrThrottled              = errors.New("telemetry: request before interval") // THROTTLING_QUOTA_EXCEEDED
	ErrUnsupportedCompression = errors.New("telemetry: unsupported compression") // UNSUPPORTED_COMPRESSION_TYPE
	ErrTooLarge               = errors.New("telemetry: payload over max bytes")  // TELEMETRY_TOO_LARGE
)

// Defaults of Config.
const (
	DefaultMaxBytes   = 1 << 20 // Kafka's telemetry.max.bytes
	DefaultMaxClients = 16384   // Kafka's client instance cache size
	DefaultMaxSeries  = 50000
	// expiryIntervals: an instance that neither asks nor pushes for this
	// many push intervals is dropped with its series.
	expiryIntervals = 3
	// decodeFactor bounds a payload's decompressed size to this many times
	// MaxBytes: clients push kilobytes, and a decoded protobuf takes several
	// times its size in memory, so a compression bomb must stop early.
	decodeFactor = 4
)

// Config bounds a Manager; zero values take the defaults.
type Config struct {
	MaxBytes   int32 // largest accepted payload (telemetry.max.bytes)
	MaxClients int   // client instances kept
	MaxSeries  int   // series kept over all instances
}

// Manager is the broker's client telemetry state; its methods are safe for
// concurrent use.
type Manager struct {
	cfg Config
	mu  struct {
		sync.Mutex
		clients   map[InstanceID]*instance
		series    int
		subsPrint string
		subs      []Subscription
		subsGen   int64
		lastSweep time.Time
		dropped   uint64
		pushes    uint64
	}
}

type instance struct {
	id         InstanceID
	meta       ClientMeta
	gen        int64
	res        Resolved
	subID      int32
	lastGet    time.Time
	lastPush   time.Time
	lastSeen   time.Time
	lastErr    error
	terminated bool
	series     map[seriesKey]float64
}

type seriesKey struct{ name, attrs string }

// NewManager returns an empty Manager.
func NewManager(cfg Config) *Manager {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	m := &Manager{cfg: cfg}
	m.mu.clients = map[InstanceID]*instance{}
	return m
}

// SetSubscriptions replaces the subscriptions (CLIENT_METRICS resources by
// name, with their configs) when they differ from the current ones; a
// resource whose configs do not parse is skipped. Instances resolve their
// subscription again on their next request.
func (m *Manager) SetSubscriptions(raw map[string]map[string]string) {
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		sb.WriteString(n)
		sb.WriteByte(0)
		for _, k := range ConfigKeys() {
			sb.WriteString(raw[n][k])
			sb.WriteByte(0)
		}
	}
	print := sb.String()
	m.mu.Lock()
	defer m.mu.Unlock()
	if print == m.mu.subsPrint {
		return
	}
	var subs []Subscription
	for _, n := range names {
		if s, err := ParseSubscription(n, raw[n]); err == nil {
			subs = append(subs, s)
		}
	}
	m.mu.subsPrint, m.mu.subs = print, subs
	m.mu.subsGen++
}

// SubscriptionResult is GetTelemetrySubscriptions' answer.
type SubscriptionResult struct {
	InstanceID       InstanceID
	SubscriptionID   int32
	Accepted         []int8
	IntervalMs       int32
	MaxBytes         int32
	DeltaTemporality bool
	Metrics          []string
}

// Get answers GetTelemetrySubscriptions: a zero id gets a new one.
// ErrThrottled when the client asks again within its push interval without
// having pushed (unless its last push failed on its subscription).
func (m *Manager) Get(now time.Time, id InstanceID, meta ClientMeta) (SubscriptionResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	if id == (InstanceID{}) {
		id = m.newIDLocked()
	}
	in := m.instanceLocked(now, id, meta)
	r := SubscriptionResult{InstanceID: id, SubscriptionID: in.subID, Accepted: AcceptedCompression,
		IntervalMs: in.res.IntervalMs, MaxBytes: m.cfg.MaxBytes, Metrics: in.res.Metrics}
	since := in.lastGet
	if in.lastPush.After(since) {
		since = in.lastPush
	}
	retry := errors.Is(in.lastErr, ErrUnknownSubscription) || errors.Is(in.lastErr, ErrUnsupportedCompression)
	if !since.IsZero() && now.Sub(since) < interval(in) && !retry {
		return r, ErrThrottled
	}
	in.lastGet, in.lastErr = now, nil
	return r, nil
}

// Push is what a PushTelemetry carries.
type Push struct {
	InstanceID     InstanceID
	SubscriptionID int32
	Terminating    bool
	Compression    int8
	Metrics        []byte
}

// Push answers PushTelemetry: checks in Kafka's order (a valid, live
// instance; its current subscription; not before its interval unless
// terminating; an accepted codec; the size), then stores the latest value
// of each requested metric of the payload (ErrBadPayload if it does not
// decode).
func (m *Manager) Push(now time.Time, meta ClientMeta, p Push) error {
	if p.InstanceID == (InstanceID{}) {
		return ErrInvalidRequest
	}
	m.mu.Lock()
	m.sweepLocked(now)
	in := m.instanceLocked(now, p.InstanceID, meta)
	err := m.checkPushLocked(now, in, p)
	in.lastErr = err
	res := in.res
	m.mu.Unlock()
	if err != nil || len(p.Metrics) == 0 {
		return err
	}
	points, dropped, err := Decode(p.Compression, p.Metrics, int(m.cfg.MaxBytes)*decodeFactor)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.pushes++
	if err != nil {
		in.lastErr = err
		return err
	}
	m.mu.dropped += uint64(dropped)
	if m.mu.clients[in.id] != in {
		return nil // evicted meanwhile
	}
	for _, pt := range points {
		if !res.Wants(pt.Name) {
			continue
		}
		k := seriesKey{pt.Name, pt.Attrs}
		if _, ok := in.series[k]; !ok {
			if m.mu.series >= m.cfg.MaxSeries {
				m.mu.dropped++
				continue
			}
			if in.series == nil {
				in.series = map[seriesKey]float64{}
			}
			m.mu.series++
		}
		in.series[k] = pt.Value
	}
	return nil
}

func (m *Manager) checkPushLocked(now time.Time, in *instance, p Push) error {
	if in.terminated {
		return ErrInvalidRequest
	}
	if p.SubscriptionID != in.subID {
		return ErrUnknownSubscription
	}
	// The first push after a Get may come early: clients jitter it.
	early := !in.lastGet.After(in.lastPush) && now.Sub(maxTime(in.lastGet, in.lastPush)) < interval(in)
	if early && !p.Terminating {
		return ErrThrottled
	}
	in.lastPush = now
	if p.Compression != CompressionNone && !slices.Contains(AcceptedCompression, p.Compression) {
		return ErrUnsupportedCompression
	}
	if len(p.Metrics) > int(m.cfg.MaxBytes) {
		return ErrTooLarge
	}
	if p.Terminating {
		in.terminated = true
	}
	return nil
}

func interval(in *instance) time.Duration {
	return time.Duration(in.res.IntervalMs) * time.Millisecond
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// instanceLocked returns id's instance, made (or resolved again when the
// subscriptions changed) for meta.
func (m *Manager) instanceLocked(now time.Time, id InstanceID, meta ClientMeta) *instance {
	meta.InstanceID = id
	in := m.mu.clients[id]
	if in == nil {
		if len(m.mu.clients) >= m.cfg.MaxClients {
			m.evictOldestLocked()
		}
		in = &instance{id: id, gen: -1}
		m.mu.clients[id] = in
	}
	in.lastSeen = now
	if in.gen != m.mu.subsGen {
		in.meta, in.gen = meta, m.mu.subsGen
		in.res = Resolve(m.mu.subs, meta)
		in.subID = subscriptionID(in.res, id)
	}
	return in
}

// subscriptionID hashes what the client is asked for, so that it changes
// when the subscription does (Kafka: CRC32C of metrics and interval, plus
// the instance id's hash).
func subscriptionID(r Resolved, id InstanceID) int32 {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write([]byte(strings.Join(r.Metrics, ",")))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(r.IntervalMs))
	h.Write(b[:])
	h.Write(id[:])
	return int32(h.Sum32())
}

func (m *Manager) newIDLocked() InstanceID {
	for {
		var id InstanceID
		if _, err := rand.Read(id[:]); err != nil {
			panic("telemetry: crypto/rand: " + err.Error())
		}
		id[6] = (id[6] & 0x0f) | 0x40
		id[8] = (id[8] & 0x3f) | 0x80
		if _, taken := m.mu.clients[id]; !taken {
			return id
		}
	}
}

func (m *Manager) evictOldestLocked() {
	var oldest *instance
	for _, in := range m.mu.clients {
		if oldest == nil || in.lastSeen.Before(oldest.lastSeen) {
			oldest = in
		}
	}
	if oldest != nil {
		m.dropLocked(oldest)
	}
}

func (m *Manager) dropLocked(in *instance) {
	m.mu.series -= len(in.series)
	delete(m.mu.clients, in.id)
}

// sweepLocked drops instances silent for expiryIntervals push intervals,
// at most once a second.
func (m *Manager) sweepLocked(now time.Time) {
	if now.Sub(m.mu.lastSweep) < time.Second {
		return
	}
	m.mu.lastSweep = now
	for _, in := range m.mu.clients {
		if now.Sub(in.lastSeen) > expiryIntervals*interval(in) {
			m.dropLocked(in)
		}
	}
}

// Series is one exported value.
type Series struct {
	Meta  ClientMeta
	Name  string
	Attrs string
	Value float64
}

// Stats are the Manager's counters.
type Stats struct {
	Clients, Series int
	Pushes          uint64 // pushes with a payload that were decoded (or failed to)
	DroppedPoints   uint64 // points over the bounds
}

// Snapshot returns every live series (after expiring silent clients) and
// the counters.
func (m *Manager) Snapshot(now time.Time) ([]Series, Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	out := make([]Series, 0, m.mu.series)
	for _, in := range m.mu.clients {
		for k, v := range in.series {
			out = append(out, Series{Meta: in.meta, Name: k.name, Attrs: k.attrs, Value: v})
		}
	}
	return out, Stats{Clients: len(m.mu.clients), Series: m.mu.series, Pushes: m.mu.pushes, DroppedPoints: m.mu.dropped}
}
