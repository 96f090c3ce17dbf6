package kafka

// Limits against hostile and careless clients (issue 17). What one
// connection, and all of them together, may make the broker hold:
//
//   - a request frame's size is checked against its API's cap as soon as
//     the size prefix and the API key are read, before a byte of the body
//     is: Produce may use all of socket.request.max.bytes, requests that
//     list topics, partitions, groups or configs up to 32 MiB, and the
//     fixed-shape ones (ApiVersions, Heartbeat, FindCoordinator, ...) 1 MiB;
//     before SASL authentication every frame is capped at
//     sasl.server.max.receive.size. Each cap is at most
//     socket.request.max.bytes. A frame over its cap closes the connection
//     without an answer, as Kafka's SocketServer does for a frame over
//     socket.request.max.bytes (InvalidReceiveException).
//   - queued.max.request.bytes (RequestBudget) bounds the bytes of requests
//     read and not yet answered, all connections of the node together: a
//     request's size is reserved before its body is read and released once
//     its response is written (or the connection dies). A reader that
//     cannot reserve waits, so the client is pushed back through TCP;
//     nothing read is ever dropped.
//   - one connection has at most ringtail.connection_max_inflight_requests
//     requests read and not answered, together at most
//     socket.request.max.bytes (or one request, if larger: Kafka holds one);
//   - and at most one Fetch or ShareFetch: the next one is not read before
//     the previous response is written, so a client that never reads its
//     fetch responses pins one response, not one per pipelined fetch.
//   - a response that the client does not take off the socket within
//     connections.max.idle.ms closes the connection (the write deadline), as
//     does a connection that sends nothing for that long.

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Per-API request caps, before the min with socket.request.max.bytes.
const (
	// smallRequestMaxBytes caps requests of a fixed shape or short lists.
	smallRequestMaxBytes = 1 << 20
	// listRequestMaxBytes caps requests that list topics, partitions,
	// groups, configs or ACLs: 32 MiB holds a Fetch or Metadata request
	// naming several hundred thousand partitions or topics.
	listRequestMaxBytes = 32 << 20
)

// smallRequestKeys are the APIs capped at smallRequestMaxBytes.
var smallRequestKeys = map[int16]bool{
	10: true, // FindCoordinator (v4 batches keys: 1 MiB is >10,000 of them)
	12: true, // Heartbeat
	13: true, // LeaveGroup
	16: true, // ListGroups
	17: true, // SaslHandshake
	18: true, // ApiVersions
	22: true, // InitProducerId
	25: true, // AddOffsetsToTxn
	26: true, // EndTxn
	36: true, // SaslAuthenticate
	38: true, // CreateDelegationToken
	39: true, // RenewDelegationToken
	40: true, // ExpireDelegationToken
	41: true, // DescribeDelegationToken
	55: true, // DescribeQuorum
	57: true, // UpdateFeatures
	60: true, // DescribeCluster
	64: true, // UnregisterBroker
	66: true, // ListTransactions
	67: true, // AllocateProducerIds
	71: true, // GetTelemetrySubscriptions
	74: true, // ListClientMetricsResources
}

// requestCap is the largest frame (size prefix excluded) served for key
// under socket.request.max.bytes max. Produce (key 0) gets all of max; an
// unknown key gets the list cap (it closes the connection anyway).
func requestCap(key int16, max int32) int32 {
	switch {
	case key == produceKey:
		return max
	case smallRequestKeys[key]:
		return min(max, smallRequestMaxBytes)
	default:
		return min(max, listRequestMaxBytes)
	}
}

// isFetchKey: Fetch or ShareFetch, of which a connection has one at a time.
func isFetchKey(key int16) bool { return key == 1 || key == shareFetchKey }

// RequestBudget is queued.max.request.bytes: the bytes of requests read
// and not yet answered, over every connection of the servers sharing it.
// A nil *RequestBudget is unbounded (but still counts nothing).
type RequestBudget struct {
	sem   *semaphore.Weighted // FIFO: a large request is not starved by small ones
	limit int64
	inUse atomic.Int64
}

// NewRequestBudget returns a budget of limit bytes; limit <= 0: nil
// (unbounded).
func NewRequestBudget(limit int64) *RequestBudget {
	if limit <= 0 {
		return nil
	}
	return &RequestBudget{sem: semaphore.NewWeighted(limit), limit: limit}
}

// acquire reserves n bytes, waiting (FIFO) until they are free or ctx is
// done. n above the limit is granted once nothing else is reserved (the
// config check keeps the limit >= socket.request.max.bytes, so this is
// for budgets built in tests).
func (b *RequestBudget) acquire(ctx context.Context, n int64) (int64, error) {
	if b == nil || n <= 0 {
		return 0, nil
	}
	n = min(n, b.limit)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	b.inUse.Add(n)
	return n, nil
}

// tryAcquire reserves n bytes if they are free now and nobody waits; ok
// false: acquire must wait.
func (b *RequestBudget) tryAcquire(n int64) (got int64, ok bool) {
	if b == nil || n <= 0 {
		return 0, true
	}
	n = min(n, b.limit)
	if !b.sem.TryAcquire(n) {
		return 0, false
	}
	b.inUse.Add(n)
	return n, true
}

// release gives back n bytes that acquire returned.
func (b *RequestBudget) release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.inUse.Add(-n)
	b.sem.Release(n)
}

// InUse is the bytes reserved now; Limit the budget (0: unbounded).
func (b *RequestBudget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.inUse.Load()
}

// Limit is queued.max.request.bytes; 0 for an unbounded budget.
func (b *RequestBudget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// frameCap is the largest frame this connection reads next for key (-1:
// a raw SASL token): the API's cap, and sasl.server.max.receive.size until
// the client has authenticated on a SASL listener.
func (c *conn) frameCap(key int16) int32 {
	lim := requestCap(key, c.s.requestMaxBytes)
	if c.sasl != nil && !c.sasl.authenticated {
		lim = min(lim, c.s.saslMaxReceive)
	}
	return lim
}

// waitRoom blocks the reader until the connection may read another
// request: fewer than max in-flight requests read and not answered. It
// returns false when the connection died, true at once on Shutdown (the
// read that follows sees it).
func (c *conn) waitRoom() bool {
	if unlimited {
		return true
	}
	select {
	case c.tokens <- struct{}{}:
		return true
	case <-c.dead:
		return false
	case <-c.s.stopping:
		return true
	}
}

// waitFrameRoom blocks the reader, once it knows the next frame's key and
// size n, until the connection and the node may hold it: no Fetch of this
// connection unanswered if it is one, the connection's unanswered requests
// plus n within socket.request.max.bytes (one request always fits), then n
// bytes of queued.max.request.bytes. ok is false when the connection died
// or the server is stopping; waited says whether it had to block (the
// caller then renews the read deadline).
func (c *conn) waitFrameRoom(key int16, n int32) (ok, waited bool) {
	if unlimited {
		return true, false
	}
	for {
		in := c.inflightBytes.Load()
		if !(isFetchKey(key) && c.fetchesOut.Load() > 0) && !(in > 0 && in+int64(n) > int64(c.s.requestMaxBytes)) {
			break
		}
		waited = true
		select {
		case <-c.drained:
		case <-c.dead:
			return false, true
		case <-c.s.stopping:
			return false, true
		}
	}
	if got, free := c.s.budget.tryAcquire(int64(n)); free {
		c.reserved = got
		return true, waited
	}
	got, err := c.s.budget.acquire(c.ctx, int64(n))
	if err != nil {
		return false, true
	}
	c.reserved = got
	return true, true
}

// settle is the writer's last word on a slot, written or dropped: its
// bytes go back to the connection and to queued.max.request.bytes, its
// in-flight place and, for a Fetch, the connection's fetch place; the
// reader, if waiting for any of them, is woken.
func (c *conn) settle(sl *slot) {
	if sl.settled {
		return
	}
	sl.settled = true
	c.s.budget.release(sl.reserved)
	c.inflightBytes.Add(-sl.size)
	if sl.fetchKey {
		c.fetchesOut.Add(-1)
	}
	select {
	case <-c.tokens:
	default:
	}
	select {
	case c.drained <- struct{}{}:
	default:
	}
}

// initLimits sets the server's limits from its config.
func (s *Server) initLimits() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	l := s.cfg.Broker.Limits
	s.saslMaxReceive = l.SASLMaxReceiveSize
	if s.saslMaxReceive <= 0 {
		s.saslMaxReceive = s.requestMaxBytes
	}
	s.maxInflight = int(l.MaxInflightRequests)
	if s.maxInflight <= 0 {
		s.maxInflight = defaultMaxInflight
	}
	if unlimited {
		s.maxInflight = 1 << 16 // the queue of slots bounds nothing either
	}
	s.budget = s.cfg.RequestBudget
	if s.budget == nil {
		s.budget = NewRequestBudget(l.QueuedMaxRequestBytes)
	}
}

// RequestBudget is the server's queued.max.request.bytes budget (nil:
// unbounded).
func (s *Server) RequestBudget() *RequestBudget { return s.budget }
