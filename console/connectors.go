package console

// The Kafka Connect page (Config.ConnectURL): each connector with its
// state, type and class, its tasks with their state and worker, and
// pause, resume and restart buttons (hidden, and refused with 403, on a
// read-only console). It reads Connect's REST API and shows its error, or
// that it is down, in words.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
)

const connectService = "Kafka Connect"

// connectorStatus is one entry of GET /connectors?expand=status&expand=info.
type connectorStatus struct {
	Status struct {
		Connector struct {
			State    string `json:"state"`
			WorkerID string `json:"worker_id"`
			Trace    string `json:"trace"`
		} `json:"connector"`
		Tasks []struct {
			ID       int    `json:"id"`
			State    string `json:"state"`
			WorkerID string `json:"worker_id"`
			Trace    string `json:"trace"`
		} `json:"tasks"`
		Type string `json:"type"`
	} `json:"status"`
	Info struct {
		Config map[string]string `json:"config"`
		Type   string            `json:"type"`
	} `json:"info"`
}

type connectorRow struct {
	Name  string
	State string
	Type  string
	Class string
	Trace string
	Tasks []taskRow
}

type taskRow struct {
	ID              int
	State, WorkerID string
	Trace           string
}

type connectorsData struct {
	URL  string
	Rows []connectorRow
}

func (s *Server) connectDown(w http.ResponseWriter, r *http.Request, what string, err error) {
	code, p := serviceProblem(what, err, "Check that Kafka Connect is running at "+s.cfg.ConnectURL+
		" (ringtail.connect_enable on the node, or ringtail console --connect-url).")
	p.Back = "/connectors"
	s.showProblem(w, r, code, p)
}

func (s *Server) connectors(w http.ResponseWriter, r *http.Request) {
	if !s.needService(w, r, s.cfg.ConnectURL, connectService,
		"Turn on the node's Kafka Connect (ringtail.connect_enable), or run ringtail console --connect-url.") {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), serviceTimeout)
	defer cancel()
	var all map[string]connectorStatus
	if err := s.callService(ctx, connectService, s.cfg.ConnectURL, "GET", "/connectors?expand=status&expand=info", &all); err != nil {
		s.connectDown(w, r, "list the connectors", err)
		return
	}
	d := connectorsData{URL: s.cfg.ConnectURL}
	for name, c := range all {
		row := connectorRow{Name: name, State: c.Status.Connector.State, Type: c.Status.Type, Trace: c.Status.Connector.Trace,
			Class: c.Info.Config["connector.class"]}
		if row.Type == "" {
			row.Type = c.Info.Type
		}
		for _, t := range c.Status.Tasks {
			row.Tasks = append(row.Tasks, taskRow{ID: t.ID, State: t.State, WorkerID: t.WorkerID, Trace: t.Trace})
		}
		sort.Slice(row.Tasks, func(i, j int) bool { return row.Tasks[i].ID < row.Tasks[j].ID })
		d.Rows = append(d.Rows, row)
	}
	sort.Slice(d.Rows, func(i, j int) bool { return d.Rows[i].Name < d.Rows[j].Name })
	s.render(w, r, 0, "connectors", view{Title: "Connectors", Nav: "connectors", Data: d})
}

// connectorActions maps the buttons to Connect's REST calls; a restart
// restarts the tasks too, which is what an operator pressing it means.
var connectorActions = map[string]struct{ method, path, done string }{
	"pause":   {"PUT", "/pause", "paused"},
	"resume":  {"PUT", "/resume", "resumed"},
	"restart": {"POST", "/restart?includeTasks=true&onlyFailed=false", "restarted"},
}

func (s *Server) connectorAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	a, ok := connectorActions[action]
	if !ok {
		s.notFound(w, r)
		return
	}
	if s.readOnly(w, r, fmt.Sprintf("%s connector %q", action, name)) {
		return
	}
	if !s.needService(w, r, s.cfg.ConnectURL, connectService, "Run the console with Kafka Connect's URL.") {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), serviceTimeout)
	defer cancel()
	if err := s.callService(ctx, connectService, s.cfg.ConnectURL, a.method, "/connectors/"+url.PathEscape(name)+a.path, nil); err != nil {
		s.connectDown(w, r, fmt.Sprintf("%s connector %q", action, name), err)
		return
	}
	http.Redirect(w, r, "/connectors?"+url.Values{a.done: {name}}.Encode(), http.StatusSeeOther)
}
