// Session tests: the follower's fetch session bookkeeping as a transcript
// (what each request names, with which id and epoch) through a session's
// life: opening, incremental rounds, partitions added, changed and
// forgotten, the leader's session errors, a lost round trip, a full cache,
// a topic recreated under a new id, and closing.
package replication

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ringtail/ringtail/model"
)

func pf(topic string, p int32, offset int64) PartitionFetch {
	return PartitionFetch{TP: model.TopicPartition{Topic: topic, Partition: p}, CurrentLeaderEpoch: 3,
		FetchOffset: model.Offset(offset), LogStartOffset: -1, MaxBytes: 1 << 20}
}

// names lists the partitions of ps as "topic-p@offset".
func names(ps []PartitionFetch) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s@%d", p.TP, p.FetchOffset))
	}
	return out
}

func checkReq(t *testing.T, step string, got SessionRequest, id, epoch int32, full bool, sent, forgotten []string) {
	t.Helper()
	if got.SessionID != id || got.SessionEpoch != epoch || got.Full != full {
		t.Fatalf("%s: session %d epoch %d full %v, want %d %d %v", step, got.SessionID, got.SessionEpoch, got.Full, id, epoch, full)
	}
	if g := names(got.Partitions); !slices.Equal(g, sent) {
		t.Fatalf("%s: sent %v, want %v", step, g, sent)
	}
	if g := names(got.Forgotten); !slices.Equal(g, forgotten) {
		t.Fatalf("%s: forgotten %v, want %v", step, g, forgotten)
	}
}

func TestFetchSessionTranscript(t *testing.T) {
	var s FetchSession
	a0, a1, b0 := pf("a", 0, 10), pf("a", 1, 20), pf("b", 0, 5)

	req := s.Build([]PartitionFetch{a0, a1, b0})
	checkReq(t, "first", req, 0, 0, true, []string{"a-0@10", "a-1@20", "b-0@5"}, nil)
	s.Succeeded(req, 77)
	if s.ID() != 77 || s.Epoch() != 1 || s.Size() != 3 {
		t.Fatalf("after open: id %d epoch %d size %d", s.ID(), s.Epoch(), s.Size())
	}

	// Nothing changed: an incremental request that names nothing.
	req = s.Build([]PartitionFetch{a0, a1, b0})
	checkReq(t, "idle", req, 77, 1, false, nil, nil)
	s.Succeeded(req, 77)

	// a-1 appended (its fetch offset moved); b-1 added; b-0 gone (its
	// leader moved).
	a1.FetchOffset = 25
	b1 := pf("b", 1, 0)
	req = s.Build([]PartitionFetch{a0, a1, b1})
	checkReq(t, "changes", req, 77, 2, false, []string{"a-1@25", "b-1@0"}, []string{"b-0@5"})
	s.Succeeded(req, 77)

	// A new leader epoch for a-0 is a change too.
	a0.CurrentLeaderEpoch = 4
	req = s.Build([]PartitionFetch{a0, a1, b1})
	checkReq(t, "new leader epoch", req, 77, 3, false, []string{"a-0@10"}, nil)

	// INVALID_FETCH_SESSION_EPOCH: full, closing 77 on the leader.
	s.Failed(71)
	req = s.Build([]PartitionFetch{a0, a1, b1})
	checkReq(t, "after bad epoch", req, 77, 0, true, []string{"a-0@10", "a-1@25", "b-1@0"}, nil)
	s.Succeeded(req, 78)
	req = s.Build([]PartitionFetch{a0, a1, b1})
	checkReq(t, "new session", req, 78, 1, false, nil, nil)

	// A lost round trip: the same.
	s.Failed(0)
	req = s.Build([]PartitionFetch{a0})
	checkReq(t, "after a lost round trip", req, 78, 0, true, []string{"a-0@10"}, nil)
	s.Succeeded(req, 79)

	// FETCH_SESSION_ID_NOT_FOUND (evicted): full with no id.
	req = s.Build([]PartitionFetch{a0})
	s.Failed(70)
	req = s.Build([]PartitionFetch{a0})
	checkReq(t, "after not found", req, 0, 0, true, []string{"a-0@10"}, nil)

	// The leader's cache is full (id 0): full again next time.
	s.Succeeded(req, 0)
	req = s.Build([]PartitionFetch{a0})
	checkReq(t, "cache full", req, 0, 0, true, []string{"a-0@10"}, nil)
	s.Succeeded(req, 80)

	// The leader closed the session (id 0 on an incremental answer).
	req = s.Build([]PartitionFetch{a0})
	checkReq(t, "incremental", req, 80, 1, false, nil, nil)
	s.Succeeded(req, 0)
	req = s.Build([]PartitionFetch{a0})
	checkReq(t, "after close by the leader", req, 0, 0, true, []string{"a-0@10"}, nil)
	s.Succeeded(req, 81)

	// Topic a recreated under a new id: full.
	a0.TopicID = [16]byte{1}
	req = s.Build([]PartitionFetch{a0})
	checkReq(t, "new topic id", req, 81, 0, true, []string{"a-0@10"}, nil)
	s.Succeeded(req, 82)

	// Closing: id 82 with epoch -1, nothing named; then no session.
	cl, ok := s.Close()
	if !ok {
		t.Fatal("no close request")
	}
	checkReq(t, "close", cl, 82, -1, true, nil, nil)
	if _, ok := s.Close(); ok || s.ID() != 0 || s.Size() != 0 {
		t.Fatal("session left after close")
	}
}

func TestFetchSessionDisabledAndEpochWrap(t *testing.T) {
	s := FetchSession{Disabled: true}
	for range 2 {
		req := s.Build([]PartitionFetch{pf("a", 0, 1)})
		checkReq(t, "disabled", req, 0, -1, true, []string{"a-0@1"}, nil)
		s.Succeeded(req, 5) // a leader would answer 0; ignored anyway
	}
	if _, ok := s.Close(); ok {
		t.Fatal("a disabled session has nothing to close")
	}
	if nextSessionEpoch(1<<31-1) != 1 || nextSessionEpoch(0) != 1 || nextSessionEpoch(41) != 42 {
		t.Fatal("nextSessionEpoch")
	}
}
