package httpauth

// The bounded caches: verdicts on credentials and authorization decisions
// with a lifetime each, and the per-user Kafka clients with an idle
// expiry. Time is passed in, so tests drive it.

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ttlCache maps keys to values that expire; it holds at most max entries,
// dropping expired ones first and then the one closest to expiring.
type ttlCache[K comparable, V any] struct {
	max int
	mu  struct {
		sync.Mutex
		m map[K]ttlEntry[V]
	}
}

type ttlEntry[V any] struct {
	v     V
	until time.Time
}

func newTTLCache[K comparable, V any](max int) *ttlCache[K, V] {
	c := &ttlCache[K, V]{max: max}
	c.mu.m = map[K]ttlEntry[V]{}
	return c
}

func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.mu.m[k]
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v for k until now+ttl.
func (c *ttlCache[K, V]) put(k K, v V, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.m[k]; !ok && len(c.mu.m) >= c.max {
		c.makeRoomLocked(now)
	}
	c.mu.m[k] = ttlEntry[V]{v: v, until: now.Add(ttl)}
}

// makeRoomLocked drops the expired entries, or else the eighth of them
// soonest to expire (at least one): a full cache that a long list fills
// (the console filters 10,000 topics a page under mtls) then sorts once
// per max/8 puts, not scans every entry on each.
func (c *ttlCache[K, V]) makeRoomLocked(now time.Time) {
	type keyed struct {
		k     K
		until time.Time
	}
	live := make([]keyed, 0, len(c.mu.m))
	for k, e := range c.mu.m {
		if !now.Before(e.until) {
			delete(c.mu.m, k)
			continue
		}
		live = append(live, keyed{k, e.until})
	}
	if len(c.mu.m) < c.max {
		return
	}
	sort.Slice(live, func(i, j int) bool { return live[i].until.Before(live[j].until) })
	for _, e := range live[:max(1, c.max/8)] {
		delete(c.mu.m, e.k)
	}
}

func (c *ttlCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.m)
}

// clientCache holds the per-user Kafka clients, closing one unused for
// idle (sweep) or the least recently used when full.
type clientCache struct {
	max  int
	idle time.Duration
	mu   struct {
		sync.Mutex
		m map[credKey]*userClient
	}
}

type userClient struct {
	cl   *kgo.Client
	used time.Time
}

func newClientCache(max int, idle time.Duration) *clientCache {
	c := &clientCache{max: max, idle: idle}
	c.mu.m = map[credKey]*userClient{}
	return c
}

func (c *clientCache) get(k credKey, now time.Time) *kgo.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.mu.m[k]; ok {
		u.used = now
		return u.cl
	}
	return nil
}

// put keeps cl for k and returns the client to use: one another request
// put meanwhile wins, and cl is closed.
func (c *clientCache) put(k credKey, cl *kgo.Client, now time.Time) *kgo.Client {
	var closing []*kgo.Client
	c.mu.Lock()
	if u, ok := c.mu.m[k]; ok {
		u.used = now
		c.mu.Unlock()
		cl.Close()
		return u.cl
	}
	if len(c.mu.m) >= c.max {
		var lru credKey
		var at time.Time
		first := true
		for k, u := range c.mu.m {
			if first || u.used.Before(at) {
				lru, at, first = k, u.used, false
			}
		}
		closing = append(closing, c.mu.m[lru].cl)
		delete(c.mu.m, lru)
	}
	c.mu.m[k] = &userClient{cl: cl, used: now}
	c.mu.Unlock()
	for _, o := range closing {
		o.Close()
	}
	return cl
}

// sweep closes the clients unused since now-idle.
func (c *clientCache) sweep(now time.Time) {
	var closing []*kgo.Client
	c.mu.Lock()
	for k, u := range c.mu.m {
		if now.Sub(u.used) >= c.idle {
			closing = append(closing, u.cl)
			delete(c.mu.m, k)
		}
	}
	c.mu.Unlock()
	for _, cl := range closing {
		cl.Close()
	}
}

func (c *clientCache) closeAll() {
	c.mu.Lock()
	m := c.mu.m
	c.mu.m = map[credKey]*userClient{}
	c.mu.Unlock()
	for _, u := range m {
		u.cl.Close()
	}
}

// metrics count authentications and denied authorizations. Every service
// shares the two vectors (labelled by service) on one registry.
type metrics struct {
	auth   *prometheus.CounterVec
	denied *prometheus.CounterVec
	svc    string
	mode   string
}

func newMetrics(reg prometheus.Registerer, service, mode string) *metrics {
	m := &metrics{svc: service, mode: mode,
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringtail_services_auth_total",
			Help: "HTTP service authentications by service, mode and result (success, failure, missing credentials, error: the broker could not be asked)."},
			[]string{"service", "mode", "result"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringtail_services_authorization_denied_total",
			Help: "HTTP service operations the broker's ACLs refused, by service, operation and resource type."},
			[]string{"service", "operation", "resource_type"}),
	}
	if reg != nil {
		m.auth = registerOrReuse(reg, m.auth)
		m.denied = registerOrReuse(reg, m.denied)
	}
	return m
}

// registerOrReuse registers v, or takes the vector another service
// registered under the same name.
func registerOrReuse(reg prometheus.Registerer, v *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(v); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if ex, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return ex
			}
		}
	}
	return v
}

func (m *metrics) result(r string) { m.auth.WithLabelValues(m.svc, m.mode, r).Inc() }
