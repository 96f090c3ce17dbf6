package connect

// The herder contract: what the REST API asks of whoever owns connector
// configs, target states and statuses. Standalone keeps them in memory
// (standalone.go); a distributed herder would keep them in Kafka topics and
// share tasks among workers.

import (
	"fmt"
	"net/http"
)

// ConnectorInfo is GET /connectors/{c}.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskID          `json:"tasks"`
	Type   ConnectorType     `json:"type"`
}

// TaskInfo is one entry of GET /connectors/{c}/tasks.
type TaskInfo struct {
	ID     TaskID            `json:"id"`
	Config map[string]string `json:"config"`
}

// StateInfo is a connector's or task's state.
type StateInfo struct {
	State    string `json:"state"`
	Trace    string `json:"trace,omitempty"`
	WorkerID string `json:"worker_id"`
}

// TaskStateInfo is a task's state with its id.
type TaskStateInfo struct {
	ID int `json:"id"`
	StateInfo
}

// ConnectorStatus is GET /connectors/{c}/status.
type ConnectorStatus struct {
	Name      string          `json:"name"`
	Connector StateInfo       `json:"connector"`
	Tasks     []TaskStateInfo `json:"tasks"`
	Type      ConnectorType   `json:"type"`
}

// Herder owns connectors. Errors it returns are *APIError where the REST
// status matters (404, 409, 400).
type Herder interface {
	Connectors() []string
	ConnectorInfo(name string) (*ConnectorInfo, error)
	// PutConnectorConfig creates (created true) or, with replace,
	// reconfigures a connector. A config that does not validate gives
	// an *APIError with the validation.
	PutConnectorConfig(name string, cfg map[string]string, replace bool) (info *ConnectorInfo, created bool, err error)
	DeleteConnector(name string) error
	PauseConnector(name string) error
	ResumeConnector(name string) error
	// RestartConnector restarts the connector, and with includeTasks its
	// tasks (only the FAILED ones with onlyFailed).
	RestartConnector(name string, includeTasks, onlyFailed bool) error
	RestartTask(id TaskID) error
	ConnectorStatus(name string) (*ConnectorStatus, error)
	TaskStatus(id TaskID) (*TaskStateInfo, error)
	TaskConfigs(name string) ([]TaskInfo, error)
	// KafkaClusterID is the cluster the worker writes to ("" unknown).
	KafkaClusterID() string
}

// APIError is Kafka Connect's error body with its HTTP status; a failed
// validation carries its result too (Ringtail adds error_count and
// configs to Kafka's body so a client sees every field at once).
type APIError struct {
	Status     int          `json:"-"`
	Code       int          `json:"error_code"`
	Message    string       `json:"message"`
	Validation *ConfigInfos `json:"-"`
}

func (e *APIError) Error() string { return e.Message }

func apiErr(status int, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: status, Message: fmt.Sprintf(format, args...)}
}

func errNoConnector(name string) *APIError {
	return apiErr(http.StatusNotFound, "Connector %s not found", name)
}

func errNoTask(id TaskID) *APIError {
	return apiErr(http.StatusNotFound, "Task %s not found", id)
}
