package connect

// The config topic (config.storage.topic, default connect-configs): one
// compacted partition every worker replays into a snapshot of connector
// configs, committed task configs and target states, in Kafka's
// KafkaConfigBackingStore layout:
//
//	connector-<name>     {"properties":{...}}   null: the connector is deleted
//	task-<name>-<n>      {"properties":{...}}   staged until the commit
//	commit-<name>        {"tasks":n}            tasks 0..n-1 become current
//	target-state-<name>  {"state":"STARTED"|"PAUSED"}
//
// Values are JSON without a schema envelope (Kafka's internal converter has
// schemas.enable=false). Other keys (session-key, restart requests) are
// skipped.

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// DefaultConfigTopic and DefaultStatusTopic are Kafka's usual names.
const (
	DefaultConfigTopic = "connect-configs"
	DefaultStatusTopic = "connect-status"
	targetStarted      = "STARTED"
	targetPaused       = "PAUSED"
)

func connectorKey(name string) string   { return "connector-" + name }
func taskKey(id TaskID) string          { return "task-" + id.String() }
func commitKey(name string) string      { return "commit-" + name }
func targetStateKey(name string) string { return "target-state-" + name }

type propertiesValue struct {
	Properties map[string]string `json:"properties"`
}

type commitValue struct {
	Tasks int `json:"tasks"`
}

type targetStateValue struct {
	State   string `json:"state"`
	StateV2 string `json:"state.v2,omitempty"`
}

// configSnapshot is the replayed config topic.
type configSnapshot struct {
	// Offset is the offset after the last record applied.
	Offset     int64
	Connectors map[string]map[string]string
	// ConnOffset is the offset of each connector's last config record,
	// CommitOffset of its last applied task commit: the leader makes task
	// configs for a connector whose config is newer than its commit.
	ConnOffset   map[string]int64
	CommitOffset map[string]int64
	Tasks        map[string][]map[string]string // committed task configs
	Paused       map[string]bool
	// Version counts the changes that change what runs where (task
	// commits, connectors deleted); the leader rebalances when it moves.
	Version int64
	staged  map[string]map[int]map[string]string
}

func newConfigSnapshot() *configSnapshot {
	return &configSnapshot{Connectors: map[string]map[string]string{}, ConnOffset: map[string]int64{},
		CommitOffset: map[string]int64{}, Tasks: map[string][]map[string]string{}, Paused: map[string]bool{},
		staged: map[string]map[int]map[string]string{}}
}

// clone copies the snapshot; the config maps are shared, as they are never
// changed in place.
func (s *configSnapshot) clone() *configSnapshot {
	c := *s
	c.Connectors, c.ConnOffset, c.CommitOffset = maps.Clone(s.Connectors), maps.Clone(s.ConnOffset), maps.Clone(s.CommitOffset)
	c.Tasks, c.Paused = maps.Clone(s.Tasks), maps.Clone(s.Paused)
	c.staged = map[string]map[int]map[string]string{}
	for k, v := range s.staged {
		c.staged[k] = maps.Clone(v)
	}
	return &c
}

// needsTasks says whether name's config is newer than its task configs.
func (s *configSnapshot) needsTasks(name string) bool {
	if _, ok := s.Connectors[name]; !ok {
		return false
	}
	c, ok := s.CommitOffset[name]
	return !ok || c < s.ConnOffset[name]
}

// taskIDs lists every committed task, sorted.
func (s *configSnapshot) taskIDs() []TaskID {
	var out []TaskID
	for _, name := range sortedKeys(s.Connectors) {
		for i := range s.Tasks[name] {
			out = append(out, TaskID{name, i})
		}
	}
	return out
}

// apply replays one record; an error names a record that was skipped.
func (s *configSnapshot) apply(key string, value []byte, offset int64) error {
	if offset >= s.Offset {
		s.Offset = offset + 1
	}
	switch {
	case strings.HasPrefix(key, "connector-"):
		name := strings.TrimPrefix(key, "connector-")
		if value == nil {
			s.deleteConnector(name)
			return nil
		}
		var v propertiesValue
		if err := json.Unmarshal(value, &v); err != nil || v.Properties == nil {
			return fmt.Errorf("config record %s at %d: want {\"properties\":{...}}: %v", key, offset, err)
		}
		// No Version bump: the connector runs once the leader has
		// committed its tasks, which bumps it.
		s.Connectors[name], s.ConnOffset[name] = v.Properties, offset
	case strings.HasPrefix(key, "task-"):
		if value == nil {
			return nil
		}
		rest := strings.TrimPrefix(key, "task-")
		i := strings.LastIndexByte(rest, '-')
		if i < 0 {
			return fmt.Errorf("config record %s at %d: want task-<connector>-<n>", key, offset)
		}
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil || n < 0 {
			return fmt.Errorf("config record %s at %d: want task-<connector>-<n>", key, offset)
		}
		var v propertiesValue
		if err := json.Unmarshal(value, &v); err != nil || v.Properties == nil {
			return fmt.Errorf("config record %s at %d: want {\"properties\":{...}}: %v", key, offset, err)
		}
		name := rest[:i]
		if s.staged[name] == nil {
			s.staged[name] = map[int]map[string]string{}
		}
		s.staged[name][n] = v.Properties
	case strings.HasPrefix(key, "commit-"):
		if value == nil {
			return nil
		}
		return s.commit(strings.TrimPrefix(key, "commit-"), value, offset)
	case strings.HasPrefix(key, "target-state-"):
		name := strings.TrimPrefix(key, "target-state-")
		if value == nil {
			delete(s.Paused, name)
			return nil
		}
		var v targetStateValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("config record %s at %d: want {\"state\":...}: %v", key, offset, err)
		}
		state := v.State
		if v.StateV2 != "" {
			state = v.StateV2
		}
		// STOPPED (Kafka 3.5) runs nothing either; PAUSED is the nearest.
		s.Paused[name] = state == targetPaused || state == "STOPPED"
	}
	return nil
}

func (s *configSnapshot) commit(name string, value []byte, offset int64) error {
	var v commitValue
	if err := json.Unmarshal(value, &v); err != nil || v.Tasks < 0 {
		return fmt.Errorf("config record commit-%s at %d: want {\"tasks\":n}: %v", name, offset, err)
	}
	staged := s.staged[name]
	tasks := make([]map[string]string, v.Tasks)
	for i := range tasks {
		tc, ok := staged[i]
		if !ok {
			// Kafka calls such a connector inconsistent and waits for a
			// complete commit; so does this.
			return fmt.Errorf("config record commit-%s at %d: %d tasks committed but task %d was never written", name, offset, v.Tasks, i)
		}
		tasks[i] = tc
	}
	delete(s.staged, name)
	if _, ok := s.Connectors[name]; !ok {
		return nil // deleted since
	}
	s.Tasks[name], s.CommitOffset[name] = tasks, offset
	s.Version++
	return nil
}

func (s *configSnapshot) deleteConnector(name string) {
	if _, ok := s.Connectors[name]; ok {
		s.Version++
	}
	delete(s.Connectors, name)
	delete(s.ConnOffset, name)
	delete(s.CommitOffset, name)
	delete(s.Tasks, name)
	delete(s.Paused, name)
	delete(s.staged, name)
}
