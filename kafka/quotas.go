package kafka

// Client quotas and connection limits, as Kafka enforces them (KIP-13,
// KIP-55, KIP-124, KIP-219, KIP-599).
//
// DescribeClientQuotas (key 48): versions 0-1. AlterClientQuotas (key 49):
// versions 0-1.
//
// Behavior:
//   - Quotas are metadata (controlplane/quotas.go); any node alters them
//     through the quorum, and every node's quota.Manager follows its
//     image. Entities are user, client-id (and their <default>s) and ip;
//     the user of a connection is its principal without "User:", and
//     ANONYMOUS for a PLAINTEXT one.
//   - Describe filters as Kafka's ClientQuotasImage: exact, default and
//     "specified" (any name) components, strict; a duplicated or unknown
//     entity type, or ip mixed with user/client-id, is INVALID_REQUEST
//     with a message.
//   - Enforcement never drops data. Produce: the request's size is
//     recorded when the append completes, the produce is answered at once
//     with throttle_time_ms, and the connection reads nothing more for
//     that long (KIP-219 muting). Fetch (consumers, not followers): the
//     response's size is recorded; if the client is over its quota (or its
//     request quota) the bytes are taken back out and it gets an empty
//     response with throttle_time_ms, as Kafka answers; max_bytes is capped
//     at what one quota window allows. request_percentage: each request's
//     handler time (the synchronous part) counts as a share of one thread;
//     every response that has a throttle field carries it. Fetch handler
//     time is not counted (its handler waits out the long poll).
//     controller_mutation_rate: CreateTopics v6+, CreatePartitions v3+ and
//     DeleteTopics v5+ are strict (a topic asked for while the client's
//     token bucket is below zero gets THROTTLING_QUOTA_EXCEEDED); older
//     versions are recorded and throttled.
//   - Connection limits (max.connections, max.connections.per.ip and
//     connection_creation_rate of ip entities) are in connlimit.go.
//
// Skipped on purpose: max.connections closes new connections
// rather than holding back accepts as Kafka's acceptor does; the response
// size a fetch records is its record bytes plus a small per-partition
// estimate, not the exact encoded size.

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/quota"
)

// QuotaObserver is an optional extension of RequestObserver that is told
// about throttles and refused connections (metrics).
type QuotaObserver interface {
	// ObserveThrottle is one response throttled for d by a quota of type
	// kind (produce, fetch, request, controller_mutation).
	ObserveThrottle(kind string, d time.Duration)
	// ObserveConnectionRefused is one connection closed at accept by a
	// limit (max_connections, max_connections_per_ip).
	ObserveConnectionRefused(reason string)
}

// quotaUser is the quota user of a principal: the name without "User:",
// ANONYMOUS for an unauthenticated connection.
func quotaUser(principal string) string {
	if principal == "" {
		return "ANONYMOUS"
	}
	if name, ok := strings.CutPrefix(principal, "User:"); ok {
		return name
	}
	return principal
}

// QuotaTable converts the image's client quotas to the quota package's
// table (user and client-id entities; ip entities are not enforced).
func QuotaTable(im *controlplane.Image) quota.Table {
	t := quota.Table{}
	for _, q := range im.ClientQuotas {
		var e quota.Entity
		ok := true
		for _, p := range q.Entity {
			part := quota.Default
			if p.Name != nil {
				part = quota.Named(*p.Name)
			}
			switch p.Type {
			case controlplane.QuotaEntityUser:
				e.User = part
			case controlplane.QuotaEntityClientID:
				e.Client = part
			default:
				ok = false
			}
		}
		if ok {
			t[e] = q.Values
		}
	}
	return t
}

// quotaSync keeps a manager's table in step with the image: it rebuilds
// the table when the image's ClientQuotas map is another one.
type quotaSync struct {
	mu   sync.Mutex
	last atomic.Pointer[byte] // identity of the last ClientQuotas map
	none atomic.Bool          // the last image had no quotas
}

func mapID(m map[string]*controlplane.ClientQuota) *byte {
	if m == nil {
		return nil
	}
	return (*byte)(reflect.ValueOf(m).UnsafePointer())
}

// syncQuotas brings s.cfg.Quotas up to the current image; cheap when
// nothing changed (one pointer compare).
func (s *Server) syncQuotas() *quota.Manager {
	m := s.cfg.Quotas
	if m == nil {
		return nil
	}
	qs := s.ctrl.Image().ClientQuotas
	id := mapID(qs)
	if s.quotaSync.last.Load() == id && (id != nil || s.quotaSync.none.Load()) {
		return m
	}
	s.quotaSync.mu.Lock()
	defer s.quotaSync.mu.Unlock()
	im := s.ctrl.Image()
	m.SetTable(QuotaTable(im))
	s.quotaSync.last.Store(mapID(im.ClientQuotas))
	s.quotaSync.none.Store(im.ClientQuotas == nil)
	return m
}

// quotaExempt: requests Kafka never throttles (cluster actions, the
// handshakes) and follower fetches.
func quotaExempt(cx *reqCtx) bool {
	switch cx.key {
	case apiVersionsKey, 17, 27, 36: // ApiVersions, SaslHandshake, WriteTxnMarkers, SaslAuthenticate
		return true
	case 1:
		if f, ok := cx.req.(*kmsg.FetchRequest); ok && (f.ReplicaID >= 0 || (f.Version >= 15 && f.ReplicaState.ID >= 0)) {
			return true
		}
	}
	return false
}

// quotaBefore runs before a request's handler: it caps a consumer fetch's
// max_bytes at what one quota window allows (Kafka's
// getMaxValueInQuotaWindow) and refuses, in strict versions, the topics of
// CreateTopics/CreatePartitions/DeleteTopics asked for while the client's
// controller mutation bucket is below zero; they are taken out of the
// request and answered by quotaAfter.
func (c *conn) quotaBefore(cx *reqCtx, req kmsg.Request) {
	m := c.s.syncQuotas()
	if m == nil || !m.AnyEnabled() || quotaExempt(cx) {
		return
	}
	cx.quotaStart = time.Now()
	user := quotaUser(c.principal)
	switch r := req.(type) {
	case *kmsg.FetchRequest:
		if max, ok := m.MaxValueInWindow(quota.Fetch, user, cx.clientID); ok && float64(r.MaxBytes) > max {
			r.MaxBytes = int32(max)
		}
	case *kmsg.CreateTopicsRequest, *kmsg.CreatePartitionsRequest, *kmsg.DeleteTopicsRequest:
		if m.Enabled(quota.ControllerMutation) {
			c.mutationQuota(cx, m, user, req)
		}
	}
}

// mutationQuota accounts each topic's partition mutations, in request
// order, and takes the refused ones out of the request.
func (c *conn) mutationQuota(cx *reqCtx, m *quota.Manager, user string, req kmsg.Request) {
	now := c.s.cfg.Now()
	im := c.s.ctrl.Image()
	record := func(name string, n int32, strict bool) bool {
		d, exceeded := m.RecordMutations(user, cx.clientID, float64(max(n, 0)), strict, now)
		cx.throttle = max(cx.throttle, d)
		if exceeded {
			cx.mutationRefused = append(cx.mutationRefused, name)
		}
		return !exceeded
	}
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		keep := r.Topics[:0]
		for _, t := range r.Topics {
			n := t.NumPartitions
			if len(t.ReplicaAssignment) > 0 {
				n = int32(len(t.ReplicaAssignment))
			} else if n < 0 {
				n = c.s.cfg.Broker.NumPartitions
			}
			if record(t.Topic, n, r.Version >= 6) {
				keep = append(keep, t)
			}
		}
		r.Topics = keep
	case *kmsg.CreatePartitionsRequest:
		keep := r.Topics[:0]
		for _, t := range r.Topics {
			n := t.Count
			if cur := im.Topics[t.Topic]; cur != nil {
				n -= int32(len(cur.Partitions))
			}
			if record(t.Topic, n, r.Version >= 3) {
				keep = append(keep, t)
			}
		}
		r.Topics = keep
	case *kmsg.DeleteTopicsRequest:
		strict := r.Version >= 5
		keepNames := r.TopicNames[:0]
		for _, name := range r.TopicNames {
			if record(name, partitionsOf(im, name, nil), strict) {
				keepNames = append(keepNames, name)
			}
		}
		r.TopicNames = keepNames
		keep := r.Topics[:0]
		for _, t := range r.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			if record(name, partitionsOf(im, name, &t.TopicID), strict) {
				keep = append(keep, t)
			}
		}
		r.Topics = keep
	}
}

func partitionsOf(im *controlplane.Image, name string, id *[16]byte) int32 {
	if t := im.Topics[name]; t != nil {
		return int32(len(t.Partitions))
	}
	if id != nil {
		if t := im.TopicsByID[controlplane.UUID(*id)]; t != nil {
			return int32(len(t.Partitions))
		}
	}
	return 0
}

// throttleMsg is the message of THROTTLING_QUOTA_EXCEEDED.
var throttleMsg = "The throttling quota has been exceeded."

// quotaAfter runs when a request is answered, before its response is
// encoded: it records the produce and request quotas, answers a throttled
// consumer fetch with an empty response, puts the refused mutation topics
// back into the response, sets throttle_time_ms and mutes the connection
// for it. It returns the response to send.
func (c *conn) quotaAfter(cx *reqCtx, resp kmsg.Response) kmsg.Response {
	m := c.s.cfg.Quotas
	if m == nil || cx.quotaStart.IsZero() {
		return resp
	}
	now := c.s.cfg.Now()
	user := quotaUser(c.principal)
	throttle, kind := cx.throttle, quota.ControllerMutation
	take := func(d time.Duration, k quota.Type) {
		if d > throttle {
			throttle, kind = d, k
		}
	}
	// A Fetch's handler waits out its long poll on the reader, which is
	// not handler work: Kafka parks it in purgatory. It is not counted.
	if m.Enabled(quota.Request) && cx.key != 1 {
		handler := time.Duration(cx.handlerNanos.Load())
		if handler == 0 {
			handler = time.Since(cx.quotaStart) // answered within the handler
		}
		take(m.Record(quota.Request, user, cx.clientID, float64(handler), now), quota.Request)
	}
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		take(m.Record(quota.Produce, user, cx.clientID, float64(cx.size), now), quota.Produce)
	case nil:
		if cx.key == 0 { // acks=0: recorded all the same
			take(m.Record(quota.Produce, user, cx.clientID, float64(cx.size), now), quota.Produce)
		}
	case *kmsg.FetchResponse:
		size := c.fetchSize(cx, r)
		d := m.Record(quota.Fetch, user, cx.clientID, float64(size), now)
		take(d, quota.Fetch)
		if throttle > 0 {
			m.Unrecord(quota.Fetch, user, cx.clientID, float64(size), now)
			cx.fetch.release()
			cx.fetch = nil
			empty := kmsg.NewPtrFetchResponse()
			empty.Version = r.Version
			resp = empty
		}
	case *kmsg.CreateTopicsResponse:
		for _, name := range cx.mutationRefused {
			t := kmsg.NewCreateTopicsResponseTopic()
			t.Topic, t.ErrorCode, t.ErrorMessage = name, kerr.ThrottlingQuotaExceeded.Code, &throttleMsg
			t.NumPartitions, t.ReplicationFactor = -1, -1
			r.Topics = append(r.Topics, t)
		}
	case *kmsg.CreatePartitionsResponse:
		for _, name := range cx.mutationRefused {
			t := kmsg.NewCreatePartitionsResponseTopic()
			t.Topic, t.ErrorCode, t.ErrorMessage = name, kerr.ThrottlingQuotaExceeded.Code, &throttleMsg
			r.Topics = append(r.Topics, t)
		}
	case *kmsg.DeleteTopicsResponse:
		for _, name := range cx.mutationRefused {
			t := kmsg.NewDeleteTopicsResponseTopic()
			t.Topic, t.ErrorCode, t.ErrorMessage = &name, kerr.ThrottlingQuotaExceeded.Code, &throttleMsg
			r.Topics = append(r.Topics, t)
		}
	}
	if throttle <= 0 {
		return resp
	}
	ms := int32(min(throttle.Milliseconds(), math.MaxInt32))
	if st, ok := resp.(kmsg.SetThrottleResponse); ok {
		st.SetThrottle(ms)
	}
	c.mute(time.Now().Add(throttle)) // the reader waits on the real clock
	if o, ok := c.s.cfg.Observer.(QuotaObserver); ok {
		o.ObserveThrottle(kind.Name(), throttle)
	}
	return resp
}

// fetchSize estimates a fetch response's size: its record bytes, inline
// or as file ranges, and a few bytes per partition for the rest.
func (c *conn) fetchSize(cx *reqCtx, r *kmsg.FetchResponse) int64 {
	const perPartition = 64
	var n int64
	for ti, t := range r.Topics {
		for pi, p := range t.Partitions {
			n += perPartition + int64(len(p.RecordBatches)) + int64(cx.fetch.recordBytes(ti, pi))
		}
	}
	return n
}

// mute stops the reader until t (KIP-219: the broker answers at once and
// reads nothing more from the client until its throttle time is over).
func (c *conn) mute(t time.Time) {
	n := t.UnixNano()
	for {
		cur := c.mutedUntil.Load()
		if cur >= n || c.mutedUntil.CompareAndSwap(cur, n) {
			return
		}
	}
}

// waitMuted blocks the reader while the connection is muted; false when
// the connection died meanwhile. Shutdown ends the wait early.
func (c *conn) waitMuted() bool {
	for {
		d := time.Until(time.Unix(0, c.mutedUntil.Load()))
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.dead:
			t.Stop()
			return false
		case <-c.s.stopping:
			t.Stop()
			return true
		}
	}
}

// handleDescribeClientQuotas answers from the image.
func handleDescribeClientQuotas(s *Server, cx *reqCtx, req *kmsg.DescribeClientQuotasRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	exact := map[string]*string{}
	specified := map[string]bool{}
	fail := func(msg string) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, &msg
		return resp, nil
	}
	for _, comp := range req.Components {
		typ := comp.EntityType
		if typ == "" {
			return fail("Invalid empty entity type.")
		}
		if _, dup := exact[typ]; dup || specified[typ] {
			return fail("Entity type " + typ + " cannot appear more than once in the filter.")
		}
		switch typ {
		case controlplane.QuotaEntityUser, controlplane.QuotaEntityClientID, controlplane.QuotaEntityIP:
		default:
			return fail("Unsupported entity type " + typ + " (valid: user, client-id, ip)")
		}
		switch comp.MatchType {
		case 0:
			if comp.Match == nil {
				return fail("Request specified MATCH_TYPE_EXACT, but set match string to null.")
			}
			exact[typ] = comp.Match
		case 1:
			if comp.Match != nil {
				return fail("Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
			}
			exact[typ] = nil
		case 2:
			if comp.Match != nil {
				return fail("Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
			}
			specified[typ] = true
		default:
			return fail(fmt.Sprintf("Unknown match type %d (valid: 0 exact, 1 default, 2 specified)", comp.MatchType))
		}
	}
	_, ipE := exact[controlplane.QuotaEntityIP]
	if ipE || specified[controlplane.QuotaEntityIP] {
		if len(exact)+len(specified) > 1 {
			return fail("Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
		}
	}
	im := s.ctrl.Image()
	for _, q := range im.SortedClientQuotas() {
		if !quotaMatches(q.Entity, exact, specified, req.Strict) {
			continue
		}
		var e kmsg.DescribeClientQuotasResponseEntry
		for _, p := range q.Entity {
			e.Entity = append(e.Entity, kmsg.DescribeClientQuotasResponseEntryEntity{Type: p.Type, Name: p.Name})
		}
		for _, k := range sortedKeys(q.Values) {
			e.Values = append(e.Values, kmsg.DescribeClientQuotasResponseEntryValue{Key: k, Value: q.Values[k]})
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

func quotaMatches(entity []controlplane.QuotaEntityPart, exact map[string]*string, specified map[string]bool, strict bool) bool {
	if strict && len(entity) != len(exact)+len(specified) {
		return false
	}
	find := func(typ string) (controlplane.QuotaEntityPart, bool) {
		for _, p := range entity {
			if p.Type == typ {
				return p, true
			}
		}
		return controlplane.QuotaEntityPart{}, false
	}
	for typ, name := range exact {
		p, ok := find(typ)
		if !ok || (p.Name == nil) != (name == nil) || (name != nil && *p.Name != *name) {
			return false
		}
	}
	for typ := range specified {
		if _, ok := find(typ); !ok {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// quotaAlterTimeout bounds an AlterClientQuotas' wait for the quorum.
const quotaAlterTimeout = 30 * time.Second

// handleAlterClientQuotas validates and commits through the controller;
// each entry gets its own error code and message.
func handleAlterClientQuotas(s *Server, cx *reqCtx, req *kmsg.AlterClientQuotasRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	alts := make([]controlplane.QuotaAlteration, len(req.Entries))
	for i, e := range req.Entries {
		for _, p := range e.Entity {
			alts[i].Entity = append(alts[i].Entity, controlplane.QuotaEntityPart{Type: p.Type, Name: p.Name})
		}
		for _, op := range e.Ops {
			alts[i].Ops = append(alts[i].Ops, controlplane.QuotaOp{Key: op.Key, Value: op.Value, Remove: op.Remove})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), quotaAlterTimeout)
	defer cancel()
	errs := s.ctrl.AlterClientQuotas(ctx, alts, req.ValidateOnly)
	for i, e := range req.Entries {
		var r kmsg.AlterClientQuotasResponseEntry
		for _, p := range e.Entity {
			r.Entity = append(r.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: p.Type, Name: p.Name})
		}
		r.ErrorCode = errorCode(s.log, errs[i])
		r.ErrorMessage = errorMessage(errs[i])
		resp.Entries = append(resp.Entries, r)
	}
	return resp, nil
}
