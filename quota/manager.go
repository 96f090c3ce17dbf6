package quota

import (
	"sync"
	"sync/atomic"
	"time"
)

// Quota keys, as Kafka names them in client quota entities.
const (
	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	RequestPercentage      = "request_percentage"
	ControllerMutationRate = "controller_mutation_rate"
)

// Type is one kind of client quota.
type Type int

// The quota types, one sensor space each.
const (
	Produce Type = iota
	Fetch
	Request
	ControllerMutation
	numTypes
)

// Key is the quota key of t.
func (t Type) Key() string {
	return [...]string{ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate}[t]
}

// Name is t for metrics labels.
func (t Type) Name() string {
	return [...]string{"produce", "fetch", "request", "controller_mutation"}[t]
}

// Part is one half of an entity: absent, the default (<default>) or a
// name.
type Part struct {
	Set     bool   // the entity has this part
	Default bool   // <default>
	Name    string // when Set and not Default
}

// Entity is a client quota entity: /config/users/<user>/clients/<client>
// and its shorter forms.
type Entity struct {
	User, Client Part
}

// Named returns the part for name.
func Named(name string) Part { return Part{Set: true, Name: name} }

// Default is the <default> part.
var Default = Part{Set: true, Default: true}

// Table is every configured client quota: entity -> key -> value.
type Table map[Entity]map[string]float64

// resolve finds the quota of key for user and client in Kafka's order,
// and the sensor tags (user, client) that the clients sharing it share:
//
//	/users/<user>/clients/<client>     (user, client)
//	/users/<user>/clients/<default>    (user, client)
//	/users/<user>                      (user, "")
//	/users/<default>/clients/<client>  (user, client)
//	/users/<default>/clients/<default> (user, client)
//	/users/<default>                   (user, "")
//	/clients/<client>                  ("", client)
//	/clients/<default>                 ("", client)
func (t Table) resolve(key, user, client string) (bound float64, tags [2]string, ok bool) {
	u, c := Named(user), Named(client)
	order := [...]struct {
		e    Entity
		tags [2]string
	}{
		{Entity{u, c}, [2]string{user, client}},
		{Entity{u, Default}, [2]string{user, client}},
		{Entity{User: u}, [2]string{user, ""}},
		{Entity{Default, c}, [2]string{user, client}},
		{Entity{Default, Default}, [2]string{user, client}},
		{Entity{User: Default}, [2]string{user, ""}},
		{Entity{Client: c}, [2]string{"", client}},
		{Entity{Client: Default}, [2]string{"", client}},
	}
	for _, o := range order {
		if v, found := t[o.e][key]; found {
			return v, o.tags, true
		}
	}
	return 0, tags, false
}

// sensorKey names one sensor: a type and the tags of the clients sharing
// a quota.
type sensorKey struct {
	typ  Type
	tags [2]string
}

type sensor struct {
	rate   Rate
	bucket TokenBucket
	lastMs int64
}

// sensorExpiry drops a sensor unused this long (Kafka's inactive sensor
// expiry, one hour).
const sensorExpiry = time.Hour

// Manager holds the node's quota table and one sensor per (type, tags).
// Safe for concurrent use; the zero Manager is not: use NewManager.
type Manager struct {
	w Window
	// enabled[t]: some entity has a quota of type t (the fast path skips
	// all accounting otherwise).
	enabled [numTypes]atomic.Bool

	mu struct {
		sync.Mutex
		table       Table
		sensors     map[sensorKey]*sensor
		lastSweepMs int64
	}
}

// NewManager returns a manager with no quotas.
func NewManager(w Window) *Manager {
	m := &Manager{w: w}
	m.mu.sensors = map[sensorKey]*sensor{}
	return m
}

// Window is the manager's sampling.
func (m *Manager) Window() Window { return m.w }

// SetTable replaces the quota table (a metadata image change). Sensors
// keep their history.
func (m *Manager) SetTable(t Table) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.table = t
	for typ := Type(0); typ < numTypes; typ++ {
		on := false
		for _, vals := range t {
			if _, ok := vals[typ.Key()]; ok {
				on = true
				break
			}
		}
		m.enabled[typ].Store(on)
	}
}

// AnyEnabled reports whether any client has any quota.
func (m *Manager) AnyEnabled() bool {
	for t := Type(0); t < numTypes; t++ {
		if m.enabled[t].Load() {
			return true
		}
	}
	return false
}

// Enabled reports whether any client has a quota of type t.
func (m *Manager) Enabled(t Type) bool { return m.enabled[t].Load() }

func ms(now time.Time) int64 { return now.UnixMilli() }

// sensorLocked returns the sensor for typ of (user, client) and its bound;
// nil when no quota applies.
func (m *Manager) sensorLocked(typ Type, user, client string, nowMs int64) (*sensor, float64) {
	bound, tags, ok := m.mu.table.resolve(typ.Key(), user, client)
	if !ok {
		return nil, 0
	}
	k := sensorKey{typ, tags}
	s := m.mu.sensors[k]
	if s == nil {
		s = &sensor{}
		m.mu.sensors[k] = s
	}
	s.lastMs = nowMs
	if nowMs-m.mu.lastSweepMs > sensorExpiry.Milliseconds() {
		m.mu.lastSweepMs = nowMs
		for k, o := range m.mu.sensors {
			if nowMs-o.lastMs > sensorExpiry.Milliseconds() {
				delete(m.mu.sensors, k)
			}
		}
	}
	return s, bound
}

// Record adds v to the rate of typ for (user, client) and returns the
// throttle time Kafka's ClientQuotaManager.recordAndGetThrottleTimeMs
// gives: 0 within the quota, else (rate - quota) / quota * window. For
// Request, v is handler time in nanoseconds, measured as a percentage of
// one thread, and the throttle is capped at one quota window as Kafka's
// ClientRequestQuotaManager does.
func (m *Manager) Record(typ Type, user, client string, v float64, now time.Time) time.Duration {
	if !m.Enabled(typ) {
		return 0
	}
	nowMs := ms(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	s, bound := m.sensorLocked(typ, user, client, nowMs)
	if s == nil {
		return 0
	}
	if typ == Request {
		v = v * 100 / float64(time.Second) // nanoseconds -> percent of one thread
	}
	s.rate.Record(m.w, v, nowMs)
	observed := s.rate.Measure(m.w, nowMs)
	t := ThrottleMs(observed, bound, s.rate.WindowMs(m.w, nowMs))
	if typ == Request {
		t = min(t, m.w.Size.Milliseconds())
	}
	return time.Duration(t) * time.Millisecond
}

// Unrecord takes v back out of the rate (Kafka's unrecordQuotaSensor: a
// throttled fetch returns no records, so its bytes do not count).
func (m *Manager) Unrecord(typ Type, user, client string, v float64, now time.Time) {
	if !m.Enabled(typ) {
		return
	}
	nowMs := ms(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, _ := m.sensorLocked(typ, user, client, nowMs); s != nil {
		s.rate.Record(m.w, -v, nowMs)
	}
}

// MaxValueInWindow is the most a client may use of typ in one measuring
// window without being throttled, quota * (samples-1) * window (Kafka's
// getMaxValueInQuotaWindow, which caps a consumer's fetch max_bytes);
// ok is false without a quota.
func (m *Manager) MaxValueInWindow(typ Type, user, client string) (float64, bool) {
	if !m.Enabled(typ) {
		return 0, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	bound, _, ok := m.mu.table.resolve(typ.Key(), user, client)
	if !ok {
		return 0, false
	}
	return bound * float64(m.w.samples()-1) * m.w.Size.Seconds(), true
}

// RecordMutations accounts n partition mutations (CreateTopics,
// CreatePartitions, DeleteTopics) against controller_mutation_rate.
// strict (KIP-599, CreateTopics v6+, CreatePartitions v3+, DeleteTopics
// v5+): when the bucket is already below zero the mutations are refused
// (exceeded) and not recorded; otherwise they are recorded even if they
// take the bucket below zero. Permissive (older versions): always
// recorded. The throttle is the time to refill the bucket to zero.
func (m *Manager) RecordMutations(user, client string, n float64, strict bool, now time.Time) (throttle time.Duration, exceeded bool) {
	if !m.Enabled(ControllerMutation) {
		return 0, false
	}
	nowMs := ms(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	s, bound := m.sensorLocked(ControllerMutation, user, client, nowMs)
	if s == nil {
		return 0, false
	}
	if strict {
		if tok := s.bucket.Tokens(m.w, bound, nowMs); tok < 0 {
			return time.Duration(BucketThrottleMs(tok, bound)) * time.Millisecond, true
		}
	}
	s.bucket.Record(m.w, bound, n, nowMs)
	return time.Duration(BucketThrottleMs(s.bucket.Tokens(m.w, bound, nowMs), bound)) * time.Millisecond, false
}
