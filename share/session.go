package share

import (
	"errors"
	"fmt"
	"sync"
)

// Share sessions (KIP-932's share-fetch-session cache): one per (group,
// member) on a broker, holding the partitions the member fetches there.
// ShareSessionEpoch 0 opens one (replacing the member's old one), -1
// closes it, anything else must be the session's next epoch, which then
// increments (wrapping from MaxInt32 to 1).

var (
	// ErrSessionNotFound: no session for the member. Kafka:
	// SHARE_SESSION_NOT_FOUND.
	ErrSessionNotFound = errors.New("share: no share session")
	// ErrInvalidSessionEpoch: an epoch other than the session's next.
	// Kafka: INVALID_SHARE_SESSION_EPOCH.
	ErrInvalidSessionEpoch = errors.New("share: invalid share session epoch")
	// ErrSessionLimit: group.share.max.share.sessions are open. Kafka:
	// SHARE_SESSION_LIMIT_REACHED.
	ErrSessionLimit = errors.New("share: share session limit reached")
)

// DefaultMaxSessions is group.share.max.share.sessions' default.
const DefaultMaxSessions = 2000

// SessionKey names a share session.
type SessionKey struct{ Group, Member string }

// TopicPartition is a partition named by topic id.
type TopicPartition struct {
	TopicID   [16]byte
	Partition int32
}

// Session is one open share session. Its fields belong to the Sessions
// that returned it and are read or changed under that cache's calls only
// (the caller holds no reference across them except Partitions' copy).
type Session struct {
	Key SessionKey
	// Conn identifies the connection that opened it (any comparable
	// value): its close closes the session.
	Conn any
	// next is the epoch the next request must carry.
	next  int32
	parts map[TopicPartition]struct{}
}

// Sessions is the broker's share session cache. Safe for concurrent use.
type Sessions struct {
	max int
	mu  sync.Mutex
	m   map[SessionKey]*Session
}

// NewSessions is a cache of at most max sessions (<= 0: the default).
func NewSessions(max int) *Sessions {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &Sessions{max: max, m: map[SessionKey]*Session{}}
}

// Len is the number of open sessions.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Open opens key's session (epoch 0) on conn with parts, replacing an
// open one, whose partitions it returns (the caller releases the
// member's records there). Past the limit: ErrSessionLimit.
func (s *Sessions) Open(key SessionKey, conn any, parts []TopicPartition) (old []TopicPartition, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.m[key]; prev != nil {
		old = prev.partitions()
	} else if len(s.m) >= s.max {
		return nil, fmt.Errorf("%w: %d sessions open", ErrSessionLimit, len(s.m))
	}
	ss := &Session{Key: key, Conn: conn, next: 1, parts: map[TopicPartition]struct{}{}}
	for _, tp := range parts {
		ss.parts[tp] = struct{}{}
	}
	s.m[key] = ss
	return old, nil
}

// Next checks a request at epoch (> 0) against key's session, moves its
// epoch on, adds add and drops forget, and returns the session's
// partitions (for a fetch) after the change.
func (s *Sessions) Next(key SessionKey, epoch int32, add, forget []TopicPartition) ([]TopicPartition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[key]
	if ss == nil {
		return nil, fmt.Errorf("%w: group %q member %q", ErrSessionNotFound, key.Group, key.Member)
	}
	if epoch != ss.next {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrInvalidSessionEpoch, epoch, ss.next)
	}
	ss.next++
	if ss.next <= 0 {
		ss.next = 1
	}
	for _, tp := range add {
		ss.parts[tp] = struct{}{}
	}
	for _, tp := range forget {
		delete(ss.parts, tp)
	}
	return ss.partitions(), nil
}

// Check is ErrSessionNotFound when key has no session (a closing request
// is checked before its acknowledgements apply).
func (s *Sessions) Check(key SessionKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key] == nil {
		return fmt.Errorf("%w: group %q member %q", ErrSessionNotFound, key.Group, key.Member)
	}
	return nil
}

// Close closes key's session (epoch -1) and returns its partitions.
func (s *Sessions) Close(key SessionKey) ([]TopicPartition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[key]
	if ss == nil {
		return nil, fmt.Errorf("%w: group %q member %q", ErrSessionNotFound, key.Group, key.Member)
	}
	delete(s.m, key)
	return ss.partitions(), nil
}

// CloseConn closes every session conn opened and returns them with their
// partitions.
func (s *Sessions) CloseConn(conn any) map[SessionKey][]TopicPartition {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out map[SessionKey][]TopicPartition
	for k, ss := range s.m {
		if ss.Conn != conn {
			continue
		}
		if out == nil {
			out = map[SessionKey][]TopicPartition{}
		}
		out[k] = ss.partitions()
		delete(s.m, k)
	}
	return out
}

// CloseGroup closes every session of group (the group was deleted).
func (s *Sessions) CloseGroup(group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.m {
		if k.Group == group {
			delete(s.m, k)
		}
	}
}

func (ss *Session) partitions() []TopicPartition {
	out := make([]TopicPartition, 0, len(ss.parts))
	for tp := range ss.parts {
		out = append(out, tp)
	}
	return out
}
