package console

// The Schema Registry pages (Config.RegistryURL): subjects and the global
// compatibility level; a subject's versions, one version's schema pretty
// printed, a line diff between two versions and the subject's own level.
// They read the registry's REST API (Confluent's, which the built-in one
// serves), and show its error, or that it is down, in words.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// serviceTimeout bounds one request to the registry or Connect.
const serviceTimeout = 10 * time.Second

// maxServiceBody bounds a response read from the registry or Connect.
const maxServiceBody = 16 << 20

// serviceError is a failed call to the registry or Connect: the HTTP
// status and the service's error_code and message when it answered, else
// the transport error.
type serviceError struct {
	Service string // "Schema Registry", "Kafka Connect"
	URL     string
	Status  int // 0: no answer
	Code    int // the body's error_code, 0 if none
	Message string
	Err     error
}

func (e *serviceError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s at %s did not answer: %v", e.Service, e.URL, e.Err)
	}
	return fmt.Sprintf("%s answered %d: %s", e.Service, e.Status, e.Message)
}

// callService sends method path to the service at base and decodes the
// JSON answer into out (nil: ignore the body).
func (s *Server) callService(ctx context.Context, service, base, method, path string, out any) error {
	u := strings.TrimSuffix(base, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return &serviceError{Service: service, URL: base, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.svc.Do(req)
	if err != nil {
		return &serviceError{Service: service, URL: base, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxServiceBody))
	if err != nil {
		return &serviceError{Service: service, URL: base, Err: err}
	}
	if resp.StatusCode >= 300 {
		se := &serviceError{Service: service, URL: base, Status: resp.StatusCode}
		var e struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			se.Code, se.Message = e.Code, e.Message
		} else {
			se.Message = strings.TrimSpace(string(bytes.ToValidUTF8(body[:min(len(body), 300)], nil)))
			if se.Message == "" {
				se.Message = resp.Status
			}
		}
		return se
	}
	if out == nil || len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &serviceError{Service: service, URL: base, Status: resp.StatusCode, Message: "an answer that is not the JSON expected: " + err.Error()}
	}
	return nil
}

// checkServiceURL accepts "" (no such service) or an http(s) base URL.
func checkServiceURL(what, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return fmt.Errorf("console: %s URL %q: want http://host:port (or https://)", what, raw)
	}
	return nil
}

// serviceProblem is the error page's words for a failed service call.
func serviceProblem(what string, err error, hint string) (int, problem) {
	p := problem{What: what, Detail: err.Error()}
	var se *serviceError
	if !errors.As(err, &se) {
		return http.StatusBadGateway, p
	}
	switch {
	case se.Status == 0:
		p.Name = "UNREACHABLE"
		p.Hint = hint
		return http.StatusBadGateway, p
	case se.Code != 0:
		p.Name = "error " + strconv.Itoa(se.Code)
	}
	p.Detail = se.Message
	if se.Status >= 400 && se.Status < 500 {
		return se.Status, p
	}
	return http.StatusBadGateway, p
}

func (s *Server) registryDown(w http.ResponseWriter, r *http.Request, what string, err error, back string) {
	code, p := serviceProblem(what, err, "Check that the Schema Registry is running at "+s.cfg.RegistryURL+
		" (ringtail.schema_registry_enable on the node, or ringtail console --schema-registry-url).")
	p.Back = back
	s.showProblem(w, r, code, p)
}

// needService answers 404 for a page whose service is not configured.
func (s *Server) needService(w http.ResponseWriter, r *http.Request, base, service, how string) bool {
	if base != "" {
		return true
	}
	s.showProblem(w, r, http.StatusNotFound, problem{What: "open " + r.URL.Path,
		Detail: "This console has no " + service + " configured.", Hint: how, Back: "/"})
	return false
}

const registryService = "Schema Registry"

type schemasData struct {
	Query         string
	Subjects      []string // this page's
	Pager         pager
	Compatibility string // global level, "" if it could not be read
	CompatErr     string
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request) {
	if !s.needService(w, r, s.cfg.RegistryURL, registryService,
		"Turn on the node's Schema Registry (ringtail.schema_registry_enable), or run ringtail console --schema-registry-url.") {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), serviceTimeout)
	defer cancel()
	var subjects []string
	if err := s.callService(ctx, registryService, s.cfg.RegistryURL, "GET", "/subjects", &subjects); err != nil {
		s.registryDown(w, r, "list the schema subjects", err, "/")
		return
	}
	d := schemasData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	var cfg struct {
		Level string `json:"compatibilityLevel"`
	}
	if err := s.callService(ctx, registryService, s.cfg.RegistryURL, "GET", "/config", &cfg); err != nil {
		d.CompatErr = err.Error()
	}
	d.Compatibility = cfg.Level
	sort.Strings(subjects)
	if d.Query != "" {
		kept := subjects[:0]
		q := strings.ToLower(d.Query)
		for _, sub := range subjects {
			if strings.Contains(strings.ToLower(sub), q) {
				kept = append(kept, sub)
			}
		}
		subjects = kept
	}
	d.Pager = paginate("/schemas", r.URL.Query(), len(subjects), perPage)
	d.Subjects = subjects[d.Pager.lo:d.Pager.hi]
	s.render(w, r, 0, "schemas", view{Title: "Schemas", Nav: "schemas", Data: d})
}

// schemaVersion is GET /subjects/{s}/versions/{v}'s answer.
type schemaVersion struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	SchemaType string `json:"schemaType"` // "" is AVRO
	Schema     string `json:"schema"`
	References []struct {
		Name    string `json:"name"`
		Subject string `json:"subject"`
		Version int    `json:"version"`
	} `json:"references"`
}

type subjectData struct {
	Subject       string
	Versions      []int
	Shown         schemaVersion
	Pretty        string
	From          int        // the version diffed against Shown, 0: none
	Diff          []diffLine // From → Shown
	DiffTooLarge  bool
	Added         int
	Removed       int
	Compatibility string // the subject's own level, "" if it has none
	Global        string // the global level it falls back to
}

func (s *Server) subject(w http.ResponseWriter, r *http.Request) {
	if !s.needService(w, r, s.cfg.RegistryURL, registryService,
		"Turn on the node's Schema Registry (ringtail.schema_registry_enable), or run ringtail console --schema-registry-url.") {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), serviceTimeout)
	defer cancel()
	subject := r.PathValue("subject")
	base := "/subjects/" + url.PathEscape(subject)
	back := "/schemas/" + url.PathEscape(subject)
	d := subjectData{Subject: subject}
	if err := s.callService(ctx, registryService, s.cfg.RegistryURL, "GET", base+"/versions", &d.Versions); err != nil {
		s.registryDown(w, r, fmt.Sprintf("list the versions of subject %q", subject), err, "/schemas")
		return
	}
	sort.Ints(d.Versions)
	q := r.URL.Query()
	v, from, bad := "latest", 0, ""
	if s := q.Get("v"); s != "" && s != "latest" {
		if n, err := strconv.Atoi(s); err != nil || n < 1 {
			bad = "v"
		} else {
			v = s
		}
	}
	if s := q.Get("from"); s != "" {
		if n, err := strconv.Atoi(s); err != nil || n < 1 {
			bad = "from"
		} else {
			from = n
		}
	}
	if bad != "" {
		s.badRequest(w, r, "show a schema version", fmt.Sprintf("%s=%q is not a version number (1, 2, …).", bad, q.Get(bad)), back)
		return
	}
	if err := s.callService(ctx, registryService, s.cfg.RegistryURL, "GET", base+"/versions/"+v, &d.Shown); err != nil {
		s.registryDown(w, r, fmt.Sprintf("read version %s of subject %q", v, subject), err, back)
		return
	}
	d.Pretty = prettySchema(d.Shown.Schema)
	if from != 0 && from != d.Shown.Version {
		var old schemaVersion
		if err := s.callService(ctx, registryService, s.cfg.RegistryURL, "GET", base+"/versions/"+strconv.Itoa(from), &old); err != nil {
			s.registryDown(w, r, fmt.Sprintf("read version %d of subject %q", from, subject), err, back)
			return
		}
		d.From = from
		var ok bool
		d.Diff, ok = lineDiff(prettySchema(old.Schema), d.Pretty)
		d.DiffTooLarge = !ok
		for _, l := range d.Diff {
			switch l.Op {
			case '+':
				d.Added++
			case '-':
				d.Removed++
			}
		}
	}
	var lvl struct {
		Level string `json:"compatibilityLevel"`
	}
	// 40408: the subject has no level of its own and uses the global one.
	if err := s.callService(ctx, registryService, s.cfg.RegistryURL, "GET", "/config/"+url.PathEscape(subject), &lvl); err == nil {
		d.Compatibility = lvl.Level
	}
	lvl.Level = ""
	if err := s.callService(ctx, registryService, s.cfg.RegistryURL, "GET", "/config", &lvl); err == nil {
		d.Global = lvl.Level
	}
	s.render(w, r, 0, "subject", view{Title: "Schema " + subject, Nav: "schemas", Data: d})
}

// prettySchema indents a JSON schema (Avro, JSON Schema); anything else
// (Protobuf) is shown as it is.
func prettySchema(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") == nil {
		return buf.String()
	}
	return s
}
