package connect

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestConnectProtocolMetadataRoundTrip(t *testing.T) {
	m := workerMetadata{Version: 0, URL: "http://127.0.0.1:8083", ConfigOffset: 42}
	b := encodeMetadata(m)
	// Kafka's bytes: version 0, url (int16 length), offset int64.
	want := "0000" + "0015" + hex.EncodeToString([]byte("http://127.0.0.1:8083")) + "000000000000002a"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("metadata bytes\n got %s\nwant %s", got, want)
	}
	got, err := decodeMetadata(b)
	if err != nil || got != m {
		t.Fatalf("decode = %+v, %v; want %+v", got, err, m)
	}
	// A newer version's extra bytes are ignored.
	got, err = decodeMetadata(append(append([]byte{0, 1}, b[2:]...), 9, 9, 9))
	if err != nil || got.URL != m.URL || got.Version != 1 {
		t.Fatalf("v1 decode = %+v, %v", got, err)
	}
	if _, err := decodeMetadata(b[:5]); err == nil {
		t.Fatal("truncated metadata decoded")
	}
}

func TestConnectProtocolAssignmentRoundTrip(t *testing.T) {
	a := assignment{Leader: "w1-abc", LeaderURL: "http://h1:8083", ConfigOffset: 7,
		Connectors: []string{"a", "b"}, Tasks: []TaskID{{"a", 0}, {"a", 2}, {"c", 1}}}
	b := encodeAssignment(a)
	got, err := decodeAssignment(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, a)
	}
	// The connector is task -1 of its own entry, first, as Kafka writes it.
	want := "0000" + "0000" + "0006" + hex.EncodeToString([]byte("w1-abc")) + "000e" + hex.EncodeToString([]byte("http://h1:8083")) +
		"0000000000000007" + "00000003" +
		"0001" + hex.EncodeToString([]byte("a")) + "00000003" + "ffffffff" + "00000000" + "00000002" +
		"0001" + hex.EncodeToString([]byte("b")) + "00000001" + "ffffffff" +
		"0001" + hex.EncodeToString([]byte("c")) + "00000001" + "00000001"
	if h := hex.EncodeToString(b); h != want {
		t.Fatalf("assignment bytes\n got %s\nwant %s", h, want)
	}
	for _, bad := range [][]byte{b[:len(b)-1], {0, 0}, append(b[:len(b)-4:len(b)-4], 0xff, 0xff, 0xff, 0xfe)} {
		if _, err := decodeAssignment(bad); err == nil {
			t.Fatalf("decoded bad assignment %x", bad)
		}
	}
}

func FuzzConnectProtocol(f *testing.F) {
	f.Add(encodeMetadata(workerMetadata{URL: "http://x:1", ConfigOffset: 3}))
	f.Add(encodeAssignment(assignment{Leader: "l", Connectors: []string{"a"}, Tasks: []TaskID{{"a", 0}}}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeMetadata(b); err == nil {
			m2, err := decodeMetadata(encodeMetadata(m))
			if err != nil || m2.URL != m.URL || m2.ConfigOffset != m.ConfigOffset {
				t.Fatalf("metadata re-encode: %+v vs %+v (%v)", m, m2, err)
			}
		}
		if a, err := decodeAssignment(b); err == nil && len(a.Leader) < 1<<15 {
			if _, err := decodeAssignment(encodeAssignment(a)); err != nil {
				t.Fatalf("assignment re-encode: %v", err)
			}
		}
	})
}

func snapWith(t *testing.T, conns map[string]int) *configSnapshot {
	t.Helper()
	s := newConfigSnapshot()
	off := int64(0)
	for _, name := range sortedKeys(conns) {
		mustApply(t, s, connectorKey(name), `{"properties":{"connector.class":"FileStreamSink"}}`, off)
		off++
		for i := range conns[name] {
			mustApply(t, s, taskKey(TaskID{name, i}), `{"properties":{"file":"x"}}`, off)
			off++
		}
		mustApply(t, s, commitKey(name), fmt.Sprintf(`{"tasks":%d}`, conns[name]), off)
		off++
	}
	return s
}

func mustApply(t *testing.T, s *configSnapshot, key, value string, off int64) {
	t.Helper()
	var v []byte
	if value != "null" {
		v = []byte(value)
	}
	if err := s.apply(key, v, off); err != nil {
		t.Fatal(err)
	}
}

func TestAssignWorkRoundRobin(t *testing.T) {
	snap := snapWith(t, map[string]int{"a": 2, "b": 1, "c": 1})
	members := []memberInfo{{ID: "m3"}, {ID: "m1"}, {ID: "m2"}}
	got := assignWork("m1", "http://m1", members, snap)
	want := map[string]assignment{
		"m1": {Leader: "m1", LeaderURL: "http://m1", ConfigOffset: snap.Offset, Connectors: []string{"a"}, Tasks: []TaskID{{"a", 0}, {"c", 0}}},
		"m2": {Leader: "m1", LeaderURL: "http://m1", ConfigOffset: snap.Offset, Connectors: []string{"b"}, Tasks: []TaskID{{"a", 1}}},
		"m3": {Leader: "m1", LeaderURL: "http://m1", ConfigOffset: snap.Offset, Connectors: []string{"c"}, Tasks: []TaskID{{"b", 0}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("assignWork\n got %+v\nwant %+v", got, want)
	}
	// Every task exactly once, spread: no member has more than one more
	// than another.
	seen := map[TaskID]int{}
	for _, a := range got {
		for _, id := range a.Tasks {
			seen[id]++
		}
	}
	if len(seen) != 4 {
		t.Fatalf("tasks assigned: %v", seen)
	}
	// A member ahead of the leader's snapshot: everyone gets
	// CONFIG_MISMATCH and nothing to run.
	members[0].Meta.ConfigOffset = snap.Offset + 1
	for id, a := range assignWork("m1", "http://m1", members, snap) {
		if a.Error != assignConfigMismatch || len(a.Tasks)+len(a.Connectors) != 0 {
			t.Fatalf("member %s: %+v, want CONFIG_MISMATCH and no work", id, a)
		}
	}
	if got := assignWork("m1", "", nil, snap); len(got) != 0 {
		t.Fatalf("no members: %+v", got)
	}
}

func TestHeartbeatActionAndSession(t *testing.T) {
	for err, want := range map[error]memberAction{
		nil: actionNone, kerr.RebalanceInProgress: actionRejoin, kerr.UnknownMemberID: actionReset,
		kerr.IllegalGeneration: actionReset, kerr.NotCoordinator: actionRetry, kerr.CoordinatorNotAvailable: actionRetry,
		kerr.GroupAuthorizationFailed: actionFatal, fmt.Errorf("wrapped: %w", kerr.RebalanceInProgress): actionRejoin,
	} {
		if got := heartbeatAction(err); got != want {
			t.Errorf("heartbeatAction(%v) = %v, want %v", err, got, want)
		}
	}
	t0 := time.Unix(1000, 0)
	if sessionLost(t0.Add(5999*time.Millisecond), t0, 6*time.Second) || !sessionLost(t0.Add(6*time.Second), t0, 6*time.Second) {
		t.Fatal("sessionLost boundary")
	}
	if heartbeatInterval(9*time.Second) != 3*time.Second || heartbeatInterval(time.Millisecond) != 100*time.Millisecond {
		t.Fatal("heartbeatInterval")
	}
}

func TestConfigSnapshotReplay(t *testing.T) {
	s := newConfigSnapshot()
	mustApply(t, s, "connector-my-conn", `{"properties":{"connector.class":"FileStreamSource","file":"a"}}`, 0)
	if !s.needsTasks("my-conn") || s.Version != 0 {
		t.Fatalf("new connector: needsTasks %v version %d", s.needsTasks("my-conn"), s.Version)
	}
	// Tasks are staged until their commit.
	mustApply(t, s, "task-my-conn-0", `{"properties":{"file":"a"}}`, 1)
	mustApply(t, s, "task-my-conn-1", `{"properties":{"file":"b"}}`, 2)
	if len(s.Tasks["my-conn"]) != 0 {
		t.Fatal("tasks visible before their commit")
	}
	mustApply(t, s, "commit-my-conn", `{"tasks":2}`, 3)
	if len(s.Tasks["my-conn"]) != 2 || s.Tasks["my-conn"][1]["file"] != "b" || s.needsTasks("my-conn") || s.Version != 1 {
		t.Fatalf("after commit: %+v needsTasks %v version %d", s.Tasks, s.needsTasks("my-conn"), s.Version)
	}
	// An incomplete commit is skipped; the old tasks stay.
	mustApply(t, s, "task-my-conn-0", `{"properties":{"file":"c"}}`, 4)
	if err := s.apply("commit-my-conn", []byte(`{"tasks":3}`), 5); err == nil {
		t.Fatal("incomplete commit applied")
	}
	if s.Tasks["my-conn"][0]["file"] != "a" {
		t.Fatal("incomplete commit changed the tasks")
	}
	mustApply(t, s, "target-state-my-conn", `{"state":"PAUSED"}`, 6)
	if !s.Paused["my-conn"] {
		t.Fatal("not paused")
	}
	mustApply(t, s, "target-state-my-conn", `{"state":"STARTED","state.v2":"STARTED"}`, 7)
	if s.Paused["my-conn"] {
		t.Fatal("still paused")
	}
	// Reconfigured: newer than its tasks until the next commit.
	mustApply(t, s, "connector-my-conn", `{"properties":{"connector.class":"FileStreamSource","file":"z"}}`, 8)
	if !s.needsTasks("my-conn") || s.Version != 1 {
		t.Fatalf("reconfigured: needsTasks %v version %d", s.needsTasks("my-conn"), s.Version)
	}
	// Tombstones of task and commit keys (compaction leftovers) are
	// ignored; unknown keys too.
	mustApply(t, s, "task-my-conn-0", "null", 9)
	mustApply(t, s, "commit-my-conn", "null", 10)
	mustApply(t, s, "session-key", `{"key":"x"}`, 11)
	if len(s.Tasks["my-conn"]) != 2 {
		t.Fatal("tombstones changed the tasks")
	}
	mustApply(t, s, "target-state-my-conn", `{"state":"PAUSED"}`, 12)
	c := s.clone()
	// The connector tombstone deletes everything of it.
	mustApply(t, s, "connector-my-conn", "null", 13)
	if len(s.Connectors)+len(s.Tasks)+len(s.Paused) != 0 || s.Version != 2 || s.Offset != 14 {
		t.Fatalf("after delete: %+v", s)
	}
	if len(c.Connectors) != 1 || !c.Paused["my-conn"] {
		t.Fatal("clone shares maps with the snapshot")
	}
	// A commit for a deleted connector does not bring it back.
	mustApply(t, s, "task-my-conn-0", `{"properties":{}}`, 14)
	mustApply(t, s, "commit-my-conn", `{"tasks":1}`, 15)
	if len(s.Tasks) != 0 {
		t.Fatal("tasks of a deleted connector")
	}
	for _, bad := range [][2]string{{"connector-x", "[]"}, {"task-x", `{"properties":{}}`}, {"task-x-y", `{"properties":{}}`}, {"commit-x", `{"tasks":-1}`}, {"target-state-x", "1"}} {
		if err := s.apply(bad[0], []byte(bad[1]), 20); err == nil {
			t.Errorf("apply(%s, %s) succeeded", bad[0], bad[1])
		}
	}
}

func TestStatusSupersedes(t *testing.T) {
	cur := statusValue{State: StateRunning, WorkerID: "b:8083", Generation: 5}
	for _, c := range []struct {
		next statusValue
		want bool
	}{
		{statusValue{State: StateUnassigned, WorkerID: "a:8083", Generation: 4}, false}, // late, other worker
		{statusValue{State: StateFailed, WorkerID: "b:8083", Generation: 4}, true},      // same worker
		{statusValue{State: StateRunning, WorkerID: "a:8083", Generation: 5}, true},
		{statusValue{State: StateRunning, WorkerID: "a:8083", Generation: 6}, true},
	} {
		if got := statusSupersedes(cur, c.next); got != c.want {
			t.Errorf("statusSupersedes(%+v) = %v, want %v", c.next, got, c.want)
		}
	}
	if rr, ok := parseRestart("restart-connector-x-y", []byte(`{"include-tasks":true,"only-failed":false}`)); !ok || rr.Connector != "x-y" || !rr.IncludeTasks || rr.OnlyFailed {
		t.Fatalf("parseRestart = %+v, %v", rr, ok)
	}
}
