package share

// Share session epochs: 0 opens, the next epoch must follow, -1 closes,
// and the cache is bounded.

import (
	"errors"
	"testing"
)

func TestSessions(t *testing.T) {
	s := NewSessions(1)
	k := SessionKey{"g", "m"}
	tp := TopicPartition{Partition: 1}
	if _, err := s.Open(k, 7, []TopicPartition{tp}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(SessionKey{"g", "other"}, 7, nil); !errors.Is(err, ErrSessionLimit) {
		t.Fatalf("err %v", err)
	}
	if _, err := s.Next(k, 2, nil, nil); !errors.Is(err, ErrInvalidSessionEpoch) {
		t.Fatalf("err %v", err)
	}
	parts, err := s.Next(k, 1, []TopicPartition{{Partition: 2}}, []TopicPartition{tp})
	if err != nil || len(parts) != 1 || parts[0].Partition != 2 {
		t.Fatalf("%v %v", parts, err)
	}
	if _, err := s.Next(k, 2, nil, nil); err != nil {
		t.Fatal(err)
	}
	old, err := s.Open(k, 8, nil)
	if err != nil || len(old) != 1 {
		t.Fatalf("reopen: %v %v", old, err)
	}
	if got := s.CloseConn(7); len(got) != 0 {
		t.Fatalf("closed another conn's session: %v", got)
	}
	if got := s.CloseConn(8); len(got) != 1 {
		t.Fatalf("conn close: %v", got)
	}
	if _, err := s.Close(k); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("err %v", err)
	}
	if _, err := s.Next(k, 1, nil, nil); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("err %v", err)
	}
}
