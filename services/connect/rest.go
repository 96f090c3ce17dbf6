package connect

// The worker REST API, Kafka Connect's paths and bodies, over a Herder.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ringtail/ringtail/services/internal/httpsvc"
)

const maxBodyBytes = 1 << 20 // a connector config

type rest struct {
	h   Herder
	log *slog.Logger
	m   *metrics
}

// newREST is the API's handler; /metrics serves gatherer.
func newREST(h Herder, gatherer prometheus.Gatherer, m *metrics, log *slog.Logger) http.Handler {
	r := &rest{h: h, log: log, m: m}
	mux := http.NewServeMux()
	handle := func(pattern string, f func(w http.ResponseWriter, req *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			rec := &httpsvc.StatusRecorder{ResponseWriter: w}
			req.Body = http.MaxBytesReader(rec, req.Body, maxBodyBytes)
			if err := f(rec, req); err != nil {
				writeErr(rec, err)
			}
			m.requests.WithLabelValues(pattern, strconv.Itoa(rec.Code())).Inc()
		})
	}
	handle("GET /{$}", r.root)
	handle("GET /connectors", r.list)
	handle("POST /connectors", r.create)
	handle("GET /connectors/{c}", r.get)
	handle("DELETE /connectors/{c}", r.delete)
	handle("GET /connectors/{c}/config", r.getConfig)
	handle("PUT /connectors/{c}/config", r.putConfig)
	handle("GET /connectors/{c}/status", r.status)
	handle("PUT /connectors/{c}/pause", r.pause)
	handle("PUT /connectors/{c}/resume", r.resume)
	handle("POST /connectors/{c}/restart", r.restart)
	handle("GET /connectors/{c}/tasks", r.tasks)
	handle("GET /connectors/{c}/tasks/{n}/status", r.taskStatus)
	handle("POST /connectors/{c}/tasks/{n}/restart", r.taskRestart)
	handle("GET /connector-plugins", r.plugins)
	handle("PUT /connector-plugins/{p}/config/validate", r.validate)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	// Anything else: Kafka's JSON 404 rather than Go's text one.
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeErr(w, apiErr(http.StatusNotFound, "HTTP 404 Not Found"))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalJSON(v)
	if err != nil {
		status, b = 500, []byte(`{"error_code":500,"message":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// validationError is a 400 for a config that does not validate: Kafka's
// error_code and message, then the validation result.
type validationError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
	*ConfigInfos
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = apiErr(http.StatusInternalServerError, "%s", err.Error())
	}
	if ae.Validation != nil {
		writeJSON(w, ae.Status, validationError{Code: ae.Code, Message: ae.Message, ConfigInfos: ae.Validation})
		return
	}
	writeJSON(w, ae.Status, ae)
}

// readJSON decodes a request body into v, answering Kafka's 400 for a body
// that is not the JSON wanted.
func readJSON(req *http.Request, v any) error {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiErr(http.StatusRequestEntityTooLarge, "Request body is larger than %d bytes", maxBodyBytes)
		}
		return apiErr(http.StatusBadRequest, "Cannot read the request body: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return apiErr(http.StatusBadRequest, "Cannot deserialize the request body: %v", err)
	}
	return nil
}

func (r *rest) root(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, 200, map[string]string{"version": Version, "commit": "ringtail", "kafka_cluster_id": r.h.KafkaClusterID()})
	return nil
}

func (r *rest) list(w http.ResponseWriter, req *http.Request) error {
	names := r.h.Connectors()
	expand := req.URL.Query()["expand"]
	if len(expand) == 0 {
		writeJSON(w, 200, names)
		return nil
	}
	out := map[string]map[string]any{}
	for _, n := range names {
		e := map[string]any{}
		for _, x := range expand {
			switch x {
			case "status":
				if st, err := r.h.ConnectorStatus(n); err == nil {
					e["status"] = st
				}
			case "info":
				if info, err := r.h.ConnectorInfo(n); err == nil {
					e["info"] = info
				}
			}
		}
		if _, err := r.h.ConnectorInfo(n); err == nil { // deleted meanwhile: leave it out
			out[n] = e
		}
	}
	writeJSON(w, 200, out)
	return nil
}

// configMap is a connector config in a request: Jackson, behind Kafka's
// API, takes numbers and booleans for string values, so this does too.
type configMap map[string]string

func (c *configMap) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return err
	}
	if raw == nil {
		*c = nil
		return nil
	}
	out := make(configMap, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[k] = x
		case json.Number:
			out[k] = x.String()
		case bool:
			out[k] = strconv.FormatBool(x)
		case nil:
			// Kafka drops null values of a config map.
		default:
			return fmt.Errorf("config %s: want a string, number or boolean, got %T", k, v)
		}
	}
	*c = out
	return nil
}

func (r *rest) create(w http.ResponseWriter, req *http.Request) error {
	var body struct {
		Name   string    `json:"name"`
		Config configMap `json:"config"`
	}
	if err := readJSON(req, &body); err != nil {
		return err
	}
	name := strings.TrimSpace(body.Name)
	if name == "" {
		name = body.Config[keyName]
	}
	if name == "" {
		return apiErr(http.StatusBadRequest, "Connector name is required")
	}
	if body.Config == nil {
		return apiErr(http.StatusBadRequest, "Connector config is required")
	}
	info, _, err := r.h.PutConnectorConfig(name, body.Config, false)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/connectors/"+name)
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (r *rest) get(w http.ResponseWriter, req *http.Request) error {
	info, err := r.h.ConnectorInfo(req.PathValue("c"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, info)
	return nil
}

func (r *rest) delete(w http.ResponseWriter, req *http.Request) error {
	if err := r.h.DeleteConnector(req.PathValue("c")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *rest) getConfig(w http.ResponseWriter, req *http.Request) error {
	info, err := r.h.ConnectorInfo(req.PathValue("c"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, info.Config)
	return nil
}

func (r *rest) putConfig(w http.ResponseWriter, req *http.Request) error {
	var cfg configMap
	if err := readJSON(req, &cfg); err != nil {
		return err
	}
	info, created, err := r.h.PutConnectorConfig(req.PathValue("c"), cfg, true)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/connectors/"+info.Name)
	}
	writeJSON(w, status, info)
	return nil
}

func (r *rest) status(w http.ResponseWriter, req *http.Request) error {
	st, err := r.h.ConnectorStatus(req.PathValue("c"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, st)
	return nil
}

func (r *rest) pause(w http.ResponseWriter, req *http.Request) error {
	if err := r.h.PauseConnector(req.PathValue("c")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (r *rest) resume(w http.ResponseWriter, req *http.Request) error {
	if err := r.h.ResumeConnector(req.PathValue("c")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func boolParam(req *http.Request, name string) (bool, error) {
	v := req.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apiErr(http.StatusBadRequest, "Query parameter %s=%q: must be true or false", name, v)
	}
	return b, nil
}

// restart is Kafka's: plain, 204; with includeTasks or onlyFailed, 202 and
// the status.
func (r *rest) restart(w http.ResponseWriter, req *http.Request) error {
	name := req.PathValue("c")
	includeTasks, err := boolParam(req, "includeTasks")
	if err != nil {
		return err
	}
	onlyFailed, err := boolParam(req, "onlyFailed")
	if err != nil {
		return err
	}
	if err := r.h.RestartConnector(name, includeTasks, onlyFailed); err != nil {
		return err
	}
	if !includeTasks && !onlyFailed {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	st, err := r.h.ConnectorStatus(name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, st)
	return nil
}

func (r *rest) tasks(w http.ResponseWriter, req *http.Request) error {
	ts, err := r.h.TaskConfigs(req.PathValue("c"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, ts)
	return nil
}

func taskID(req *http.Request) (TaskID, error) {
	n, err := strconv.Atoi(req.PathValue("n"))
	if err != nil || n < 0 {
		return TaskID{}, apiErr(http.StatusNotFound, "Task %s not found", req.PathValue("n"))
	}
	return TaskID{req.PathValue("c"), n}, nil
}

func (r *rest) taskStatus(w http.ResponseWriter, req *http.Request) error {
	id, err := taskID(req)
	if err != nil {
		return err
	}
	st, err := r.h.TaskStatus(id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, st)
	return nil
}

func (r *rest) taskRestart(w http.ResponseWriter, req *http.Request) error {
	id, err := taskID(req)
	if err != nil {
		return err
	}
	if err := r.h.RestartTask(id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type pluginInfo struct {
	Class   string        `json:"class"`
	Type    ConnectorType `json:"type"`
	Version string        `json:"version"`
}

func (r *rest) plugins(w http.ResponseWriter, _ *http.Request) error {
	out := []pluginInfo{}
	for _, p := range Plugins() {
		out = append(out, pluginInfo{Class: p.Class, Type: p.Type, Version: Version})
	}
	writeJSON(w, 200, out)
	return nil
}

// validate is PUT /connector-plugins/{p}/config/validate: 200 with the
// result for a known plugin (error_count may be non-zero, as Kafka), 400
// with the result when the plugin is unknown.
func (r *rest) validate(w http.ResponseWriter, req *http.Request) error {
	var cfg configMap
	if err := readJSON(req, &cfg); err != nil {
		return err
	}
	if cfg == nil {
		cfg = map[string]string{}
	}
	plugin := req.PathValue("p")
	if inc := strings.TrimSpace(cfg[keyConnectorClass]); inc != "" {
		a, b := FindPlugin(inc), FindPlugin(plugin)
		if a == nil || b == nil || a != b {
			if inc != plugin {
				return apiErr(http.StatusBadRequest, "Included connector type %s does not match request type %s", inc, plugin)
			}
		}
	}
	cfg[keyConnectorClass] = plugin
	v, p := Validate(cfg)
	if p == nil {
		e := apiErr(http.StatusBadRequest, "%s", fmt.Sprintf("Connector configuration is invalid and contains the following %d error(s):\n%s",
			v.ErrorCount, strings.Join(v.Errors(), "\n")))
		e.Validation = v
		return e
	}
	writeJSON(w, 200, v)
	return nil
}
