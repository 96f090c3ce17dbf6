package schemaregistry

// The REST API: routes, Confluent's error bodies, and the read endpoints.
// Writes are in write.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/services/internal/httpsvc"
)

const contentType = "application/vnd.schemaregistry.v1+json"

// apiError is Confluent's error body with its HTTP status.
type apiError = httpsvc.Error

// errf makes an error whose HTTP status is the first three digits of code.
func errf(code int, format string, args ...any) *apiError {
	return httpsvc.Errorf(code, format, args...)
}

func errSubjectNotFound(s string) *apiError { return errf(40401, "Subject '%s' not found.", s) }
func errVersionNotFound(s string, v int) *apiError {
	return errf(40402, "Version %d not found.", v)
}
func errSchemaNotFound(what string) *apiError { return errf(40403, "Schema %s not found", what) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	httpsvc.WriteJSON(w, status, contentType, v)
}

func writeErr(w http.ResponseWriter, err error) {
	ae, ok := err.(*apiError)
	if !ok {
		ae = &apiError{Status: 500, Code: 50001, Message: err.Error()}
	}
	writeJSON(w, ae.Status, ae)
}

// routes is the API. Every route here works; what is not here is 404.
func (r *Registry) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f func(w http.ResponseWriter, req *http.Request) error) {
		mux.HandleFunc(pattern, r.metrics.Wrap(pattern, func(w http.ResponseWriter, req *http.Request) {
			if err := checkContentType(req); err != nil {
				writeErr(w, err)
				return
			}
			req.Body = http.MaxBytesReader(w, req.Body, maxBodyBytes)
			if err := r.authorize(pattern, req); err != nil {
				writeErr(w, err)
				return
			}
			if err := f(w, req); err != nil {
				writeErr(w, err)
			}
		}))
	}
	h("GET /{$}", func(w http.ResponseWriter, _ *http.Request) error { writeJSON(w, 200, struct{}{}); return nil })
	h("GET /subjects", r.getSubjects)
	h("GET /subjects/{subject}/versions", r.getVersions)
	h("POST /subjects/{subject}/versions", r.postVersion)
	h("GET /subjects/{subject}/versions/{version}", r.getVersion)
	h("GET /subjects/{subject}/versions/{version}/schema", r.getVersionSchema)
	h("GET /subjects/{subject}/versions/{version}/referencedby", r.getReferencedBy)
	h("DELETE /subjects/{subject}/versions/{version}", r.deleteVersion)
	h("POST /subjects/{subject}", r.lookup)
	h("DELETE /subjects/{subject}", r.deleteSubject)
	h("GET /schemas", r.getSchemas)
	h("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) error {
		writeJSON(w, 200, []string{TypeJSON, TypeProtobuf, TypeAvro})
		return nil
	})
	h("GET /schemas/ids/{id}", r.getID)
	h("GET /schemas/ids/{id}/schema", r.getIDSchema)
	h("GET /schemas/ids/{id}/versions", r.getIDVersions)
	h("GET /schemas/ids/{id}/subjects", r.getIDSubjects)
	h("GET /config", r.getConfig)
	h("PUT /config", r.putConfig)
	h("DELETE /config", r.deleteConfig)
	h("GET /config/{subject}", r.getConfig)
	h("PUT /config/{subject}", r.putConfig)
	h("DELETE /config/{subject}", r.deleteConfig)
	h("POST /compatibility/subjects/{subject}/versions/{version}", r.checkCompatibility)
	h("GET /mode", r.getMode)
	h("PUT /mode", r.putMode)
	h("GET /mode/{subject}", r.getMode)
	h("PUT /mode/{subject}", r.putMode)
	return mux
}

// authorize asks Config.Authorize about the route's operation: the root
// is open to whoever authenticated; a GET, a lookup (POST
// /subjects/{subject}) and a compatibility check read; the rest write.
func (r *Registry) authorize(pattern string, req *http.Request) error {
	if r.cfg.Authorize == nil || pattern == "GET /{$}" {
		return nil
	}
	write := req.Method != http.MethodGet && pattern != "POST /subjects/{subject}" && !strings.HasPrefix(pattern, "POST /compatibility/")
	return httpsvc.AuthzError(r.cfg.Authorize(req, write))
}

// checkContentType accepts the registry's content types, JSON, and none.
func checkContentType(req *http.Request) error {
	ct := req.Header.Get("Content-Type")
	if ct == "" || req.Method == http.MethodGet || req.Method == http.MethodDelete {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		switch mt {
		case contentType, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream":
			return nil
		}
	}
	return errf(415, "HTTP 415 Unsupported Media Type: %s; use %s or application/json", ct, contentType)
}

// decodeBody reads a JSON request body into v.
func decodeBody(req *http.Request, v any) error {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return errf(422, "reading the request body: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return errf(422, "Unrecognized request body: %v", err)
	}
	return nil
}

// readReady waits, at most waitTimeout, until the registry's state is
// current (ready) before a read.
func (r *Registry) readReady(req *http.Request) error {
	ctx, cancel := context.WithTimeout(req.Context(), waitTimeout)
	defer cancel()
	return r.ready(ctx)
}

func flag(req *http.Request, name string) bool {
	v, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return v
}

// parseVersion is a path version: "latest" or -1 is 0 (the latest), else
// 1 to 2^31-1.
func parseVersion(s string) (int, error) {
	if s == "latest" || s == "-1" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > math.MaxInt32 {
		return 0, errf(42202, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	return v, nil
}

// findVersion is a subject version (0: the latest); deleted ones only with
// withDeleted.
func findVersion(s *State, subject string, version int, withDeleted bool) (*Version, error) {
	vs := s.Versions(subject, withDeleted)
	if len(vs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if version == 0 {
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.Version == version {
			return v, nil
		}
	}
	return nil, errVersionNotFound(subject, version)
}

// subjectSchema is a subject version as the API shows it.
type subjectSchema struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted,omitempty"`
}

func showVersion(v *Version) subjectSchema {
	out := subjectSchema{Subject: v.Subject, Version: v.Version, ID: v.ID, References: v.References, Schema: v.Schema, Deleted: v.Deleted}
	if v.Type != TypeAvro {
		out.SchemaType = v.Type
	}
	return out
}

func (r *Registry) getSubjects(w http.ResponseWriter, req *http.Request) error {
	if err := r.readReady(req); err != nil {
		return err
	}
	prefix := req.URL.Query().Get("subjectPrefix")
	out := []string{}
	r.view(func(s *State) {
		for _, name := range s.Subjects(flag(req, "deleted")) {
			if strings.HasPrefix(name, prefix) {
				out = append(out, name)
			}
		}
	})
	writeJSON(w, 200, out)
	return nil
}

func (r *Registry) getVersions(w http.ResponseWriter, req *http.Request) error {
	if err := r.readReady(req); err != nil {
		return err
	}
	subject := req.PathValue("subject")
	out := []int{}
	r.view(func(s *State) {
		for _, v := range s.Versions(subject, flag(req, "deleted")) {
			out = append(out, v.Version)
		}
	})
	if len(out) == 0 {
		return errSubjectNotFound(subject)
	}
	writeJSON(w, 200, out)
	return nil
}

// pathVersion finds the subject version the path names, once the state
// is current (readReady).
func (r *Registry) pathVersion(req *http.Request) (*Version, error) {
	if err := r.readReady(req); err != nil {
		return nil, err
	}
	ver, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return nil, err
	}
	var v *Version
	r.view(func(s *State) {
		var found *Version
		found, err = findVersion(s, req.PathValue("subject"), ver, flag(req, "deleted"))
		if found != nil {
			c := *found
			v = &c
		}
	})
	return v, err
}

func (r *Registry) getVersion(w http.ResponseWriter, req *http.Request) error {
	v, err := r.pathVersion(req)
	if err != nil {
		return err
	}
	writeJSON(w, 200, showVersion(v))
	return nil
}

func (r *Registry) getVersionSchema(w http.ResponseWriter, req *http.Request) error {
	v, err := r.pathVersion(req)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = io.WriteString(w, v.Schema)
	return nil
}

func (r *Registry) getReferencedBy(w http.ResponseWriter, req *http.Request) error {
	v, err := r.pathVersion(req)
	if err != nil {
		return err
	}
	var ids []int
	r.view(func(s *State) { ids = s.referencedBy(v.Subject, v.Version) })
	if ids == nil {
		ids = []int{}
	}
	writeJSON(w, 200, ids)
	return nil
}

func (r *Registry) getSchemas(w http.ResponseWriter, req *http.Request) error {
	if err := r.readReady(req); err != nil {
		return err
	}
	q := req.URL.Query()
	prefix, latest, deleted := q.Get("subjectPrefix"), flag(req, "latestOnly"), flag(req, "deleted")
	out := []subjectSchema{}
	r.view(func(s *State) {
		for _, name := range s.Subjects(deleted) {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			vs := s.Versions(name, deleted)
			if latest {
				vs = vs[len(vs)-1:]
			}
			for _, v := range vs {
				out = append(out, showVersion(v))
			}
		}
	})
	writeJSON(w, 200, out)
	return nil
}

func pathID(req *http.Request) (int, error) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil || id < 1 {
		return 0, errSchemaNotFound(req.PathValue("id"))
	}
	return id, nil
}

// idSchema is what an id names, with the subject versions using it, once
// the state is current (readReady).
func (r *Registry) idSchema(req *http.Request) (int, schemaEntry, []*Version, error) {
	if err := r.readReady(req); err != nil {
		return 0, schemaEntry{}, nil, err
	}
	id, err := pathID(req)
	if err != nil {
		return 0, schemaEntry{}, nil, err
	}
	var e schemaEntry
	var ok bool
	var users []*Version
	r.view(func(s *State) {
		e, ok = s.Schema(id)
		for _, v := range s.IDUsers(id, flag(req, "deleted")) {
			c := *v
			users = append(users, &c)
		}
	})
	if !ok {
		return 0, e, nil, errSchemaNotFound(strconv.Itoa(id))
	}
	// ?subject= picks a schema context in Confluent's registry; there is
	// only the default context here, so it changes nothing.
	return id, e, users, nil
}

func (r *Registry) getID(w http.ResponseWriter, req *http.Request) error {
	_, e, _, err := r.idSchema(req)
	if err != nil {
		return err
	}
	out := struct {
		SchemaType string      `json:"schemaType,omitempty"`
		Schema     string      `json:"schema"`
		References []Reference `json:"references,omitempty"`
	}{Schema: e.Schema, References: e.References}
	if e.Type != TypeAvro {
		out.SchemaType = e.Type
	}
	writeJSON(w, 200, out)
	return nil
}

func (r *Registry) getIDSchema(w http.ResponseWriter, req *http.Request) error {
	_, e, _, err := r.idSchema(req)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = io.WriteString(w, e.Schema)
	return nil
}

func (r *Registry) getIDVersions(w http.ResponseWriter, req *http.Request) error {
	_, _, users, err := r.idSchema(req)
	if err != nil {
		return err
	}
	type sv struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []sv{}
	for _, v := range users {
		out = append(out, sv{v.Subject, v.Version})
	}
	writeJSON(w, 200, out)
	return nil
}

func (r *Registry) getIDSubjects(w http.ResponseWriter, req *http.Request) error {
	_, _, users, err := r.idSchema(req)
	if err != nil {
		return err
	}
	out := []string{}
	for _, v := range users {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	writeJSON(w, 200, out)
	return nil
}

func (r *Registry) getConfig(w http.ResponseWriter, req *http.Request) error {
	return r.getSetting(w, req, "compatibilityLevel", 40408, "compatibility", func(s *State, subject string) (string, bool) {
		_, own := s.compat[subject]
		return s.Compat(subject), own
	})
}

func (r *Registry) getMode(w http.ResponseWriter, req *http.Request) error {
	return r.getSetting(w, req, "mode", 40409, "mode", func(s *State, subject string) (string, bool) {
		_, own := s.modes[subject]
		return s.Mode(subject), own
	})
}

// getSetting answers GET /config or /mode, with or without a subject:
// {key: the value get finds}; a subject without its own value is errCode
// (naming what is not configured) unless ?defaultToGlobal=true.
func (r *Registry) getSetting(w http.ResponseWriter, req *http.Request, key string, errCode int, what string,
	get func(s *State, subject string) (value string, own bool)) error {
	if err := r.readReady(req); err != nil {
		return err
	}
	subject := req.PathValue("subject")
	var v string
	var own bool
	r.view(func(s *State) { v, own = get(s, subject) })
	if subject != "" && !own && !flag(req, "defaultToGlobal") {
		return errf(errCode, "Subject '%s' does not have subject-level %s configured", subject, what)
	}
	writeJSON(w, 200, map[string]string{key: v})
	return nil
}

// schemaRequest is the body of a register, lookup or compatibility check.
type schemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []Reference `json:"references"`
	ID         int         `json:"id"`
	Version    int         `json:"version"`
	Normalize  bool        `json:"-"` // ?normalize=true
}

// text is the form of p to store and compare.
func (sr *schemaRequest) text(p parsed) string {
	if sr.Normalize {
		return p.normalized()
	}
	return p.canonical()
}

// matches says whether stored version v is the schema p of sr.
func (sr *schemaRequest) matches(s *State, v *Version, p parsed) bool {
	if v.Type != sr.SchemaType || !sameRefs(v.References, sr.References) {
		return false
	}
	if v.Schema == sr.text(p) {
		return true
	}
	if !sr.Normalize {
		return false
	}
	pv, err := parsedVersion(s, v)
	return err == nil && pv.normalized() == p.normalized()
}

// parseRequest parses a request's schema with its references resolved in
// s.
func parseRequest(s *State, sr *schemaRequest) (parsed, error) {
	if sr.SchemaType == "" {
		sr.SchemaType = TypeAvro
	}
	sr.SchemaType = strings.ToUpper(sr.SchemaType)
	if sr.SchemaType != TypeAvro && sr.SchemaType != TypeProtobuf && sr.SchemaType != TypeJSON {
		return nil, errf(42201, "Invalid schema type %q; valid: AVRO, PROTOBUF, JSON", sr.SchemaType)
	}
	if sr.Schema == "" {
		return nil, errf(42201, "Invalid schema: empty schema")
	}
	refs, err := resolveRefs(s, sr.References, 0)
	if err != nil {
		return nil, err
	}
	p, err := parseSchema(sr.SchemaType, sr.Schema, refs)
	if err != nil {
		return nil, errf(42201, "Invalid schema: %v", err)
	}
	return p, nil
}

// maxRefDepth bounds reference chains (and cycles).
const maxRefDepth = 32

// resolveRefs is the schemas refs name, dependencies first.
func resolveRefs(s *State, refs []Reference, depth int) ([]resolvedRef, error) {
	if depth > maxRefDepth {
		return nil, errf(42201, "Invalid schema: references nest deeper than %d", maxRefDepth)
	}
	var out []resolvedRef
	seen := map[string]bool{}
	for _, ref := range refs {
		ver := ref.Version
		if ver == -1 {
			ver = 0 // the latest
		}
		v, err := findVersion(s, ref.Subject, ver, false)
		if err != nil || ref.Version == 0 {
			return nil, errf(42201, "Invalid schema: reference %s names subject %q version %d, which does not exist", ref.Name, ref.Subject, ref.Version)
		}
		sub, err := resolveRefs(s, v.References, depth+1)
		if err != nil {
			return nil, err
		}
		for _, d := range append(sub, resolvedRef{Name: ref.Name, Type: v.Type, Schema: v.Schema}) {
			if !seen[d.Name] {
				seen[d.Name] = true
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// parsedVersion parses a stored version (it parsed when registered).
func parsedVersion(s *State, v *Version) (parsed, error) {
	refs, err := resolveRefs(s, v.References, 0)
	if err != nil {
		return nil, err
	}
	return parseSchema(v.Type, v.Schema, refs)
}

func (r *Registry) lookup(w http.ResponseWriter, req *http.Request) error {
	if err := r.readReady(req); err != nil {
		return err
	}
	subject := req.PathValue("subject")
	var sr schemaRequest
	if err := decodeBody(req, &sr); err != nil {
		return err
	}
	sr.Normalize = flag(req, "normalize")
	var out *subjectSchema
	var err error
	r.view(func(s *State) {
		vs := s.Versions(subject, flag(req, "deleted"))
		if len(vs) == 0 {
			err = errSubjectNotFound(subject)
			return
		}
		var p parsed
		if p, err = parseRequest(s, &sr); err != nil {
			return
		}
		for _, v := range vs {
			if sr.matches(s, v, p) {
				ss := showVersion(v)
				out = &ss
			}
		}
		if out == nil {
			err = errSchemaNotFound("")
		}
	})
	if err != nil {
		return err
	}
	writeJSON(w, 200, out)
	return nil
}

func (r *Registry) checkCompatibility(w http.ResponseWriter, req *http.Request) error {
	if err := r.readReady(req); err != nil {
		return err
	}
	subject := req.PathValue("subject")
	ver, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return err
	}
	var sr schemaRequest
	if err := decodeBody(req, &sr); err != nil {
		return err
	}
	var msgs []string
	r.view(func(s *State) {
		var p parsed
		if p, err = parseRequest(s, &sr); err != nil {
			return
		}
		var against []*Version
		if ver == 0 {
			against = s.Versions(subject, false)
		} else {
			var v *Version
			if v, err = findVersion(s, subject, ver, false); err != nil {
				return
			}
			against = []*Version{v}
		}
		if len(against) == 0 && ver == 0 {
			return // nothing to be incompatible with
		}
		var prev []parsed
		for _, v := range against {
			pv, perr := parsedVersion(s, v)
			if perr != nil {
				err = errf(50001, "stored schema %s/%d does not parse: %v", v.Subject, v.Version, perr)
				return
			}
			prev = append(prev, pv)
		}
		msgs = checkCompat(s.Compat(subject), p, prev)
	})
	if err != nil {
		return err
	}
	out := map[string]any{"is_compatible": len(msgs) == 0}
	if flag(req, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		out["messages"] = msgs
	}
	writeJSON(w, 200, out)
	return nil
}
