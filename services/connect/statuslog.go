package connect

// The status topic (status.storage.topic, default connect-status): where
// each worker writes the state of the connectors and tasks it runs, in
// Kafka's KafkaStatusBackingStore layout, so any worker answers GET status
// for all of them:
//
//	status-connector-<name>  {"state":..,"trace":..,"worker_id":..,"generation":n}
//	status-task-<name>-<n>   the same
//
// A status from an older group generation written by another worker never
// replaces a newer one: a worker that lost a task late does not bury the
// new owner's RUNNING.

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

const defaultStatusPartitions = 5

func connectorStatusKey(name string) string { return "status-connector-" + name }
func taskStatusKey(id TaskID) string        { return "status-task-" + id.String() }

// statusValue is a status record's value.
type statusValue struct {
	State      string  `json:"state"`
	Trace      *string `json:"trace"`
	WorkerID   string  `json:"worker_id"`
	Generation int32   `json:"generation"`
}

func (v statusValue) info() StateInfo {
	si := StateInfo{State: v.State, WorkerID: v.WorkerID}
	if v.Trace != nil {
		si.Trace = *v.Trace
	}
	return si
}

// statusSupersedes says whether next may replace cur: Kafka's rule, a
// status of an older generation from another worker is stale.
func statusSupersedes(cur, next statusValue) bool {
	return next.Generation >= cur.Generation || next.WorkerID == cur.WorkerID
}

type statusStore struct {
	cl    *kgo.Client
	topic string
	log   *slog.Logger
	mu    sync.Mutex
	data  map[string]statusValue
}

func newStatusStore(cl *kgo.Client, topic string, log *slog.Logger) *statusStore {
	return &statusStore{cl: cl, topic: topic, log: log, data: map[string]statusValue{}}
}

// apply replays status records (the log's callback).
func (s *statusStore) apply(recs []*kgo.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		k := string(r.Key)
		if !strings.HasPrefix(k, "status-") {
			continue
		}
		if r.Value == nil {
			delete(s.data, k)
			continue
		}
		var v statusValue
		if err := json.Unmarshal(r.Value, &v); err != nil || v.State == "" {
			s.log.Warn("connect: skipping a status record that is not {state, worker_id, generation}", "key", k, "offset", r.Offset)
			continue
		}
		s.putLocked(k, v)
	}
}

func (s *statusStore) putLocked(k string, v statusValue) bool {
	if cur, ok := s.data[k]; ok && !statusSupersedes(cur, v) {
		return false
	}
	s.data[k] = v
	return true
}

func (s *statusStore) get(k string) (statusValue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[k]
	return v, ok
}

// put records a status here at once and writes it to the topic; a stale
// one (older generation, other worker) is dropped, as Kafka's putSafe.
func (s *statusStore) put(k string, v statusValue) {
	s.mu.Lock()
	ok := s.putLocked(k, v)
	s.mu.Unlock()
	if !ok {
		return
	}
	b, _ := json.Marshal(v)
	s.cl.Produce(context.Background(), &kgo.Record{Topic: s.topic, Key: []byte(k), Value: b}, func(_ *kgo.Record, err error) {
		if err != nil {
			s.log.Warn("connect: status write failed", "key", k, "err", err)
		}
	})
}

// remove writes tombstones for keys (a deleted connector's statuses).
func (s *statusStore) remove(keys ...string) {
	s.mu.Lock()
	for _, k := range keys {
		delete(s.data, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.cl.Produce(context.Background(), &kgo.Record{Topic: s.topic, Key: []byte(k)}, func(*kgo.Record, error) {})
	}
}
