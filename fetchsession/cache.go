// Package fetchsession is the broker's cache of incremental fetch sessions
// (KIP-227): session ids and epochs, the partitions each session holds, which
// partitions an incremental response must carry, and Kafka's eviction policy
// (FetchSessionCache). It is pure logic: time is passed in, no I/O.
//
// A fetcher sends session_epoch -1 (no session, full request), 0 (a full
// request that asks for a new session) or > 0 (an incremental request on the
// session it names). An incremental request names only the partitions whose
// fetch state changed, plus the ones to forget; the broker reads every
// partition of the session and answers only those with records, a changed
// high watermark or log start offset, or an error.
package fetchsession

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Kafka's epochs and error codes.
const (
	FinalEpoch   = -1 // session_epoch of a full request that keeps no session
	InitialEpoch = 0  // session_epoch of a full request that asks for one

	ErrSessionIDNotFound    int16 = 70  // FETCH_SESSION_ID_NOT_FOUND
	ErrInvalidSessionEpoch  int16 = 71  // INVALID_FETCH_SESSION_EPOCH
	ErrSessionTopicIDError  int16 = 106 // FETCH_SESSION_TOPIC_ID_ERROR
	DefaultSlots                  = 1000
	DefaultEvictionInterval       = 120 * time.Second // Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS
)

// NextEpoch is the epoch that follows e: 0 and MaxInt32 go to 1 (Kafka's
// FetchMetadata.nextEpoch wraps past 0), -1 stays -1.
func NextEpoch(e int32) int32 {
	switch {
	case e < 0:
		return FinalEpoch
	case e == math.MaxInt32:
		return 1
	}
	return e + 1
}

// Key names a partition of a session: by topic name (requests before
// Fetch v13) or by topic id (v13+, Topic empty).
type Key struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
}

// Partition is a partition's fetch state as the fetcher last sent it.
type Partition struct {
	Key
	FetchOffset        int64
	MaxBytes           int32
	CurrentLeaderEpoch int32
	LastFetchedEpoch   int32
	LogStartOffset     int64 // the fetcher's own (followers), -1 for consumers
}

// Result is what a read of one partition found; Respond uses it to decide
// whether an incremental response carries the partition.
type Result struct {
	Records        bool // the response has record bytes for it
	HighWatermark  int64
	LogStartOffset int64
	Error          bool // a non-zero error code
	Diverging      bool // diverging_epoch is set
	Preferred      bool // preferred_read_replica is set (>= 0)
}

// cached is a session's partition: the fetcher's state and what the last
// response told it.
type cached struct {
	Partition
	hw, logStart int64
	gone         bool // forgotten
	prev, next   *cached
}

// Session is one fetcher's session.
type Session struct {
	ID         int32
	Privileged bool // a follower (replica_id >= 0)
	ByID       bool // partitions keyed by topic id (Fetch v13+)
	epoch      int32
	created    time.Time
	lastUsed   time.Time
	parts      map[Key]*cached
	head, tail *cached // request order; partitions that returned records move to the tail
}

func (s *Session) size() int { return len(s.parts) }

func (s *Session) push(c *cached) {
	c.prev, c.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = c
	} else {
		s.head = c
	}
	s.tail = c
}

func (s *Session) unlink(c *cached) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		s.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		s.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// Stats counts what the cache did.
type Stats struct {
	Sessions    int   // sessions in the cache
	Partitions  int   // partitions over all of them
	Full        int64 // full fetch requests (epoch 0 or -1)
	Incremental int64 // incremental fetch requests served
	Created     int64
	Evicted     int64
	NotFound    int64 // FETCH_SESSION_ID_NOT_FOUND answers
	BadEpoch    int64 // INVALID_FETCH_SESSION_EPOCH answers

	// ReplicaSessions and ReplicaPartitions count the privileged
	// (follower) sessions among Sessions, and their partitions.
	ReplicaSessions, ReplicaPartitions int
}

// Cache holds at most Slots sessions
// (max.incremental.fetch.session.cache.slots). Safe for concurrent use.
type Cache struct {
	slots      int
	evictAfter time.Duration
	rand       func() int32

	mu       sync.Mutex
	sessions map[int32]*Session
	st       Stats
}

// New returns a cache of slots sessions (0 turns sessions off: every full
// request is answered with session_id 0). evictAfter is how long a session
// is safe from eviction by a newcomer after its creation and how long an
// unused one lives at most when the cache is full; <= 0 is Kafka's 120 s.
func New(slots int, evictAfter time.Duration) *Cache {
	if evictAfter <= 0 {
		evictAfter = DefaultEvictionInterval
	}
	return &Cache{slots: max(slots, 0), evictAfter: evictAfter, sessions: map[int32]*Session{},
		rand: func() int32 { return rand.Int32() }}
}

// Stats returns the cache's counts.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	st.Sessions = len(c.sessions)
	for _, s := range c.sessions {
		st.Partitions += s.size()
		if s.Privileged {
			st.ReplicaSessions++
			st.ReplicaPartitions += s.size()
		}
	}
	return st
}

// Request is the session part of a Fetch request.
type Request struct {
	SessionID    int32
	SessionEpoch int32
	Privileged   bool // replica_id >= 0
	ByID         bool // Fetch v13+: topics by id
	Partitions   []Partition
	Forgotten    []Key
}

// Kind is how a Context serves its request.
type Kind int

// The kinds of fetch context, as Kafka's.
const (
	Sessionless Kind = iota // epoch -1: no session
	Full                    // epoch 0: full request, a session is created on the answer
	Incremental             // epoch > 0 on a cached session
)

// Context is one request's view of its session.
type Context struct {
	Kind Kind
	c    *Cache
	req  Request
	sess *Session
	// order is the session's partitions as Partitions returned them, so
	// that Respond finds each without a map lookup.
	order []*cached
}

// Begin validates r against the cache: it returns the Context to serve it
// with, or a Kafka error code (FETCH_SESSION_ID_NOT_FOUND,
// INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR) for the whole
// response. A full request closes the session it names. An incremental one
// applies its partitions and forgotten topics to the session and moves its
// epoch on, so a second request with the same epoch is refused.
func (c *Cache) Begin(now time.Time, r Request) (*Context, int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.SessionEpoch == FinalEpoch || r.SessionEpoch == InitialEpoch {
		c.st.Full++
		if r.SessionID != 0 {
			if s, ok := c.sessions[r.SessionID]; ok {
				delete(c.sessions, s.ID)
			}
		}
		k := Sessionless
		if r.SessionEpoch == InitialEpoch {
			k = Full
		}
		return &Context{Kind: k, c: c, req: r}, 0
	}
	s, ok := c.sessions[r.SessionID]
	if !ok || r.SessionEpoch < 0 {
		c.st.NotFound++
		return nil, ErrSessionIDNotFound
	}
	if s.epoch != r.SessionEpoch {
		c.st.BadEpoch++
		return nil, ErrInvalidSessionEpoch
	}
	if s.ByID != r.ByID {
		return nil, ErrSessionTopicIDError
	}
	// As Kafka's FetchSession.update: partitions first, then forgotten
	// ones, so a partition both named and forgotten leaves.
	for _, p := range r.Partitions {
		if cp, ok := s.parts[p.Key]; ok {
			cp.Partition = p
			continue
		}
		cp := &cached{Partition: p, hw: -1, logStart: -1}
		s.parts[p.Key] = cp
		s.push(cp)
	}
	for _, k := range r.Forgotten {
		if p, ok := s.parts[k]; ok {
			s.unlink(p)
			p.gone = true
			delete(s.parts, k)
		}
	}
	s.epoch = NextEpoch(s.epoch)
	s.lastUsed = now
	c.st.Incremental++
	return &Context{Kind: Incremental, c: c, req: r, sess: s}, 0
}

// Partitions is what the request reads: the request's own partitions for a
// full request, every partition of the session, in session order, for an
// incremental one.
func (x *Context) Partitions() []Partition {
	if x.Kind != Incremental {
		return x.req.Partitions
	}
	x.c.mu.Lock()
	defer x.c.mu.Unlock()
	out := make([]Partition, 0, x.sess.size())
	x.order = make([]*cached, 0, x.sess.size())
	for p := x.sess.head; p != nil; p = p.next {
		out = append(out, p.Partition)
		x.order = append(x.order, p)
	}
	return out
}

// Respond takes the results of reading Partitions() (same order) and
// returns which of them the response carries and the response's
// session_id. A full request (epoch 0) gets a new session when the cache
// has a slot or can evict one (0 otherwise) and carries every partition; an
// incremental one carries the partitions with records, a changed high
// watermark or log start offset, an error, a diverging epoch or a preferred
// replica, and moves those with records to the end of the session.
func (x *Context) Respond(now time.Time, parts []Partition, res []Result) (keep []bool, sessionID int32) {
	keep = make([]bool, len(res))
	switch x.Kind {
	case Sessionless:
		for i := range keep {
			keep[i] = true
		}
		return keep, 0
	case Full:
		for i := range keep {
			keep[i] = true
		}
		return keep, x.c.create(now, x.req, parts, res)
	}
	x.c.mu.Lock()
	defer x.c.mu.Unlock()
	s := x.sess
	var moved []*cached
	for i, r := range res {
		var cp *cached
		ok := false
		if i < len(x.order) && x.order[i].Key == parts[i].Key {
			cp, ok = x.order[i], !x.order[i].gone
		} else {
			cp, ok = s.parts[parts[i].Key]
		}
		if !ok {
			keep[i] = true // forgotten meanwhile by a racing request: say it anyway
			continue
		}
		must := r.Records || r.Diverging || r.Preferred
		if r.HighWatermark != cp.hw {
			must, cp.hw = true, r.HighWatermark
		}
		if r.LogStartOffset != cp.logStart {
			must, cp.logStart = true, r.LogStartOffset
		}
		if r.Error {
			// Resent once the error goes away.
			must, cp.hw = true, -1
		}
		keep[i] = must
		if r.Records {
			moved = append(moved, cp)
		}
	}
	for _, cp := range moved {
		s.unlink(cp)
		s.push(cp)
	}
	return keep, s.ID
}

// Epoch is the epoch the session's next incremental request must carry.
func (x *Context) Epoch() int32 {
	if x.sess == nil {
		return 0
	}
	x.c.mu.Lock()
	defer x.c.mu.Unlock()
	return x.sess.epoch
}

// create makes a session of parts with their first results, evicting one
// if the cache is full and Kafka's policy allows; 0 when it may not.
func (c *Cache) create(now time.Time, r Request, parts []Partition, res []Result) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == 0 {
		return 0
	}
	if len(c.sessions) >= c.slots && !c.evict(now, r.Privileged, len(parts)) {
		return 0
	}
	id := c.rand()
	for id <= 0 || c.sessions[id] != nil {
		id = c.rand()
	}
	s := &Session{ID: id, Privileged: r.Privileged, ByID: r.ByID, epoch: NextEpoch(InitialEpoch),
		created: now, lastUsed: now, parts: make(map[Key]*cached, len(parts))}
	for i, p := range parts {
		if _, dup := s.parts[p.Key]; dup {
			continue
		}
		cp := &cached{Partition: p, hw: -1, logStart: -1}
		if i < len(res) {
			cp.hw, cp.logStart = res[i].HighWatermark, res[i].LogStartOffset
			if res[i].Error {
				cp.hw = -1
			}
		}
		s.parts[p.Key] = cp
		s.push(cp)
	}
	c.sessions[id] = s
	c.st.Created++
	return id
}

// evict frees a slot for a new session of size partitions, as Kafka's
// FetchSessionCache.tryEvict: first the least recently used session if it
// went unused for evictAfter; else the least valuable evictable session
// (non-privileged before privileged, then fewer partitions, then lower id)
// if the newcomer is worth at least as much. A session younger than
// evictAfter is evictable only by a privileged newcomer, and only when it
// is not privileged itself. (Kafka judges a session's age when it was last
// used; this judges it now.)
func (c *Cache) evict(now time.Time, privileged bool, size int) bool {
	var lru, victim *Session
	for _, s := range c.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) || (s.lastUsed.Equal(lru.lastUsed) && s.ID < lru.ID) {
			lru = s
		}
		old := now.Sub(s.created) > c.evictAfter
		if !old && !(privileged && !s.Privileged) {
			continue
		}
		if victim == nil || less(s, victim) {
			victim = s
		}
	}
	if lru == nil {
		return false
	}
	if now.Sub(lru.lastUsed) > c.evictAfter {
		victim = lru
	} else if victim == nil || lessKey(privileged, size, 0, victim.Privileged, victim.size(), victim.ID) {
		return false
	}
	delete(c.sessions, victim.ID)
	c.st.Evicted++
	return true
}

func less(a, b *Session) bool {
	return lessKey(a.Privileged, a.size(), a.ID, b.Privileged, b.size(), b.ID)
}

// lessKey orders Kafka's EvictableKey: privileged, then size, then id.
func lessKey(ap bool, as int, aid int32, bp bool, bs int, bid int32) bool {
	if ap != bp {
		return !ap
	}
	if as != bs {
		return as < bs
	}
	return aid < bid
}
