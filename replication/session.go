package replication

// The follower's side of a KIP-227 fetch session, as Kafka's
// FetchSessionHandler: which partitions the next Fetch to a leader names,
// with which session id and epoch, and what the leader's answer (or a
// failure) does to the session. Pure bookkeeping, no I/O.
//
//	no session ──full, epoch 0──▶ answer with id N ──▶ incremental (N, 1), (N, 2), ...
//	     ▲                              │ id 0 (cache full): full again next time
//	     │ FETCH_SESSION_ID_NOT_FOUND   ▼
//	     └──────────────────── (N, epoch 0): full, closes N, asks for a new one
//	                           after INVALID_FETCH_SESSION_EPOCH, any other
//	                           session error, or a failed round trip
//
// An incremental request names the partitions whose fetch state changed
// since the last request (a new fetch offset after an append, a new
// leader epoch, a partition added) and forgets those no longer fetched;
// the leader reads every partition of the session, the omitted ones at
// the fetch offset it cached for them.

import (
	"cmp"
	"slices"

	"github.com/ringtail/ringtail/model"
)

// Session epochs, as KIP-227's.
const (
	sessionFinalEpoch   int32 = -1 // a full request that keeps (or closes) no session
	sessionInitialEpoch int32 = 0  // a full request that asks for a session
)

// PartitionFetch is one partition's entry in a replica Fetch: what the
// follower asks of the leader for it.
type PartitionFetch struct {
	TP                 model.TopicPartition
	TopicID            [16]byte
	CurrentLeaderEpoch model.Epoch
	FetchOffset        model.Offset // the follower's log end
	LogStartOffset     model.Offset // -1: not sent
	MaxBytes           int32        // replica.fetch.max.bytes
}

// SessionRequest is the session part of one Fetch: its id and epoch, the
// partitions it names and, when incremental, those it forgets.
type SessionRequest struct {
	SessionID    int32
	SessionEpoch int32
	Full         bool             // names every fetched partition
	Partitions   []PartitionFetch // full: all; incremental: added or changed
	Forgotten    []PartitionFetch // incremental only: TP and TopicID name them
}

// FetchSession is a follower fetcher's session with one leader. The zero
// value has no session; its first request is full and asks for one.
type FetchSession struct {
	// Disabled keeps no session: every request is full with epoch -1.
	Disabled bool

	id    int32
	epoch int32 // the next request's epoch; 0: full
	// sent is the session as the leader holds it once the last request
	// is served: every partition and the state last named for it.
	sent map[model.TopicPartition]PartitionFetch
}

// ID is the session id, 0 when there is none.
func (s *FetchSession) ID() int32 { return s.id }

// Epoch is the epoch the next request carries (0: full).
func (s *FetchSession) Epoch() int32 { return s.epoch }

// Size is the number of partitions the leader holds in the session.
func (s *FetchSession) Size() int { return len(s.sent) }

// Build makes the next request for want, the partitions to fetch now (in
// the order to name them), and records want as the session's partitions.
// A topic whose id changed is not carried over incrementally: the request
// is full then (a by-name session would see one partition named and
// forgotten at once).
func (s *FetchSession) Build(want []PartitionFetch) SessionRequest {
	if s.Disabled {
		s.id, s.epoch, s.sent = 0, sessionFinalEpoch, nil
		return SessionRequest{SessionEpoch: sessionFinalEpoch, Full: true, Partitions: want}
	}
	full := s.id == 0 || s.epoch == sessionInitialEpoch
	if !full {
		for _, p := range want {
			if old, ok := s.sent[p.TP]; ok && old.TopicID != p.TopicID {
				full = true
				break
			}
		}
	}
	next := make(map[model.TopicPartition]PartitionFetch, len(want))
	for _, p := range want {
		next[p.TP] = p
	}
	if full {
		s.sent = next
		s.epoch = sessionInitialEpoch
		return SessionRequest{SessionID: s.id, SessionEpoch: sessionInitialEpoch, Full: true, Partitions: want}
	}
	req := SessionRequest{SessionID: s.id, SessionEpoch: s.epoch}
	for _, p := range want {
		if old, ok := s.sent[p.TP]; !ok || old != p {
			req.Partitions = append(req.Partitions, p)
		}
	}
	for tp, old := range s.sent {
		if _, ok := next[tp]; !ok {
			req.Forgotten = append(req.Forgotten, old)
		}
	}
	sortFetches(req.Forgotten)
	s.sent = next
	return req
}

// Succeeded takes a response without a top-level error to req, whose
// session_id is id: a full request's answer opens session id (none when
// 0: the leader's cache had no room, the next request is full again), an
// incremental one's moves the epoch on (id 0 there: the leader closed
// the session, start over).
func (s *FetchSession) Succeeded(req SessionRequest, id int32) {
	if s.Disabled {
		return
	}
	if id == 0 {
		s.id, s.epoch = 0, sessionInitialEpoch
		return
	}
	if req.Full {
		s.id, s.epoch = id, nextSessionEpoch(sessionInitialEpoch)
		return
	}
	s.epoch = nextSessionEpoch(s.epoch)
}

// Failed takes a round trip that did not succeed: code is the response's
// top-level error (FETCH_SESSION_ID_NOT_FOUND forgets the session; any
// other, and 0 for a failed round trip, keeps its id so that the next
// full request closes it on the leader).
func (s *FetchSession) Failed(code int16) {
	if s.Disabled {
		return
	}
	if code == errFetchSessionIDNotFound {
		s.id = 0
	}
	s.epoch = sessionInitialEpoch
}

// Close is the request that closes the session on the leader (its id with
// epoch -1 and no partitions); ok is false when there is none to close.
// The session is forgotten either way.
func (s *FetchSession) Close() (req SessionRequest, ok bool) {
	id := s.id
	s.id, s.epoch, s.sent = 0, sessionInitialEpoch, nil
	if id == 0 || s.Disabled {
		return SessionRequest{}, false
	}
	return SessionRequest{SessionID: id, SessionEpoch: sessionFinalEpoch, Full: true}, true
}

// errFetchSessionIDNotFound is FETCH_SESSION_ID_NOT_FOUND.
const errFetchSessionIDNotFound int16 = 70

// nextSessionEpoch is Kafka's FetchMetadata.nextEpoch: past MaxInt32 it
// wraps to 1, never to 0 (which would mean a full request).
func nextSessionEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

func sortFetches(ps []PartitionFetch) {
	slices.SortFunc(ps, func(a, b PartitionFetch) int {
		return cmp.Or(cmp.Compare(a.TP.Topic, b.TP.Topic), cmp.Compare(a.TP.Partition, b.TP.Partition))
	})
}
