package schemaregistry

// The write endpoints. Each runs on the writer, under writeMu, after
// reading _schemas to its end; a registry that is not the writer forwards
// the request to the one that is and then reads to the end itself, so a
// read after a write on any registry sees it.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// forwardedHeader marks a forwarded request: it is never forwarded again.
const forwardedHeader = "X-Ringtail-Forwarded"

// maxWriteAttempts bounds retries of a register that lost its id or version
// to another writer's record (only possible across a writer change).
const maxWriteAttempts = 3

// write runs f on the writer and answers with what it returns.
func (r *Registry) write(w http.ResponseWriter, req *http.Request, f func(ctx context.Context, body []byte) (any, error)) error {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return errf(422, "reading the request body: %v", err)
	}
	ctx, cancel := context.WithTimeout(req.Context(), waitTimeout)
	defer cancel()
	url, self, err := r.writer(ctx)
	if err != nil {
		return err
	}
	if !self {
		if req.Header.Get(forwardedHeader) != "" {
			return errf(50003, "This registry is not the writer (the writer is %s); not forwarding a forwarded request", url)
		}
		return r.forward(ctx, w, req, url, body)
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.syncToEnd(ctx); err != nil {
		return err
	}
	out, err := f(ctx, body)
	if err != nil {
		return err
	}
	writeJSON(w, 200, out)
	return nil
}

// writer waits for the election's result.
func (r *Registry) writer(ctx context.Context) (string, bool, error) {
	for {
		url, self, ch := r.elect.current()
		if url != "" {
			return url, self, nil
		}
		select {
		case <-ctx.Done():
			return "", false, errf(50003, "No schema registry writer is elected yet (group %s)", r.cfg.Group)
		case <-ch:
		}
	}
}

// forward sends the request to the writer and relays its answer.
func (r *Registry) forward(ctx context.Context, w http.ResponseWriter, req *http.Request, url string, body []byte) error {
	freq, err := http.NewRequestWithContext(ctx, req.Method, strings.TrimSuffix(url, "/")+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return errf(50003, "Error while forwarding the request to the writer: %v", err)
	}
	freq.Header.Set("Content-Type", contentType)
	freq.Header.Set(forwardedHeader, r.url)
	// The writer authenticates the request again: HTTP basic credentials
	// travel with it; with mTLS it sees ForwardTLS's certificate.
	if a := req.Header.Get("Authorization"); a != "" {
		freq.Header.Set("Authorization", a)
	}
	resp, err := r.fwd.Do(freq)
	if err != nil {
		return errf(50003, "Error while forwarding the request to the writer %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return errf(50003, "Error while reading the writer's answer: %v", err)
	}
	if resp.StatusCode/100 == 2 {
		if err := r.syncToEnd(ctx); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
	return nil
}

func unmarshalBody(body []byte, v any) error {
	req, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	return decodeBody(req, v)
}

func readOnly(s *State, subject string) error {
	if s.Mode(subject) == ModeReadOnly {
		return errf(42205, "Subject %s is in read-only mode", subject)
	}
	return nil
}

func (r *Registry) postVersion(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	return r.write(w, req, func(ctx context.Context, body []byte) (any, error) {
		var sr schemaRequest
		if err := unmarshalBody(body, &sr); err != nil {
			return nil, err
		}
		sr.Normalize = flag(req, "normalize")
		for attempt := 1; ; attempt++ {
			rec, id, version, err := r.planRegister(subject, &sr)
			if err != nil || rec == nil {
				return map[string]int{"id": id}, err
			}
			if err := r.produce(ctx, rec); err != nil {
				return nil, err
			}
			won := false
			r.view(func(s *State) {
				v := s.subjects[subject][version]
				won = v != nil && v.ID == id && !v.Deleted
			})
			if won {
				return map[string]int{"id": id}, nil
			}
			if attempt == maxWriteAttempts {
				return nil, errf(50001, "Register of subject %s lost its id or version to another writer %d times", subject, attempt)
			}
		}
	})
}

// planRegister checks a register against the state and returns the record
// to write, or nil with the id when the schema is already there.
func (r *Registry) planRegister(subject string, sr *schemaRequest) (rec *kgo.Record, id, version int, err error) {
	r.view(func(s *State) {
		mode := s.Mode(subject)
		if err = readOnly(s, subject); err != nil {
			return
		}
		if (sr.ID > 0 || sr.Version > 0) && mode != ModeImport {
			err = errf(42205, "Overriding the schema id or version is only allowed in IMPORT mode; subject %s is in %s mode", subject, mode)
			return
		}
		var p parsed
		if p, err = parseRequest(s, sr); err != nil {
			return
		}
		e := schemaEntry{Type: sr.SchemaType, Schema: sr.text(p), References: sr.References}
		live := s.Versions(subject, false)
		for _, v := range live {
			if sr.matches(s, v, p) {
				if sr.ID > 0 && sr.ID != v.ID {
					err = errf(42207, "Schema already registered with id %d instead of input id %d", v.ID, sr.ID)
				}
				id = v.ID
				return
			}
		}
		if mode != ModeImport {
			var prev []parsed
			for _, v := range live {
				pv, perr := parsedVersion(s, v)
				if perr != nil {
					err = errf(50001, "stored schema %s/%d does not parse: %v", v.Subject, v.Version, perr)
					return
				}
				prev = append(prev, pv)
			}
			if msgs := checkCompat(s.Compat(subject), p, prev); len(msgs) > 0 {
				err = errf(409, "Schema being registered is incompatible with an earlier schema for subject %q (compatibility %s), details: [%s]",
					subject, s.Compat(subject), strings.Join(msgs, "; "))
				return
			}
		}
		switch {
		case sr.ID > 0:
			if old, ok := s.ids[sr.ID]; ok && !old.same(e) {
				err = errf(42207, "Id %d is already used by a different schema", sr.ID)
				return
			}
			id = sr.ID
		default:
			var ok bool
			if id, ok = s.idFor(e); !ok {
				id = s.maxID + 1
			}
		}
		for _, v := range s.Versions(subject, true) {
			version = max(version, v.Version)
		}
		version++
		if sr.Version > 0 {
			if old := s.subjects[subject][sr.Version]; old != nil && old.ID != id {
				err = errf(42202, "Version %d of subject %s already exists with another schema", sr.Version, subject)
				return
			}
			version = sr.Version
		}
		val := schemaValue{Subject: subject, Version: version, ID: id, References: sr.References, Schema: e.Schema}
		if sr.SchemaType != TypeAvro {
			val.SchemaType = sr.SchemaType
		}
		rec = &kgo.Record{Key: schemaKeyBytes(subject, version), Value: mustJSON(val)}
	})
	return rec, id, version, err
}

func (r *Registry) deleteVersion(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	ver, err := parseVersion(req.PathValue("version"))
	if err != nil {
		return err
	}
	permanent := flag(req, "permanent")
	return r.write(w, req, func(ctx context.Context, _ []byte) (any, error) {
		var rec *kgo.Record
		var v *Version
		r.view(func(s *State) {
			if err = readOnly(s, subject); err != nil {
				return
			}
			if v, err = findVersion(s, subject, ver, true); err != nil {
				return
			}
			if ver == 0 { // latest: of the live versions
				if v, err = findVersion(s, subject, 0, false); err != nil {
					return
				}
			}
			switch {
			case !permanent && v.Deleted:
				err = errf(40406, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v.Version)
			case permanent && !v.Deleted:
				err = errf(40407, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.Version)
			case len(s.referencedBy(subject, v.Version)) > 0:
				err = errf(42206, "One or more references exist to the schema {subject=%s, version=%d}", subject, v.Version)
			case permanent:
				rec = &kgo.Record{Key: schemaKeyBytes(subject, v.Version)} // tombstone
			default:
				val := schemaValue{Subject: subject, Version: v.Version, ID: v.ID, References: v.References, Schema: v.Schema, Deleted: true}
				if v.Type != TypeAvro {
					val.SchemaType = v.Type
				}
				rec = &kgo.Record{Key: schemaKeyBytes(subject, v.Version), Value: mustJSON(val)}
			}
		})
		if err != nil {
			return nil, err
		}
		if err := r.produce(ctx, rec); err != nil {
			return nil, err
		}
		return v.Version, nil
	})
}

func (r *Registry) deleteSubject(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	permanent := flag(req, "permanent")
	return r.write(w, req, func(ctx context.Context, _ []byte) (any, error) {
		var recs []*kgo.Record
		out := []int{}
		var err error
		r.view(func(s *State) {
			if err = readOnly(s, subject); err != nil {
				return
			}
			all, live := s.Versions(subject, true), s.Versions(subject, false)
			switch {
			case len(all) == 0:
				err = errSubjectNotFound(subject)
				return
			case !permanent && len(live) == 0:
				err = errf(40404, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
				return
			case permanent && len(live) > 0:
				err = errf(40405, "Subject '%s' was not deleted first before being permanently deleted", subject)
				return
			}
			for _, v := range live {
				if len(s.referencedBy(subject, v.Version)) > 0 {
					err = errf(42206, "One or more references exist to the schema {subject=%s, version=%d}", subject, v.Version)
					return
				}
			}
			if !permanent {
				for _, v := range live {
					out = append(out, v.Version)
				}
				recs = append(recs, &kgo.Record{Key: subjectKeyBytes(keyDeleteSubject, subject),
					Value: mustJSON(subjectVersionValue{Subject: subject, Version: live[len(live)-1].Version})})
				return
			}
			for _, v := range all {
				out = append(out, v.Version)
				recs = append(recs, &kgo.Record{Key: schemaKeyBytes(subject, v.Version)})
			}
			if _, ok := s.compat[subject]; ok {
				recs = append(recs, &kgo.Record{Key: subjectKeyBytes(keyConfig, subject)})
			}
			if _, ok := s.modes[subject]; ok {
				recs = append(recs, &kgo.Record{Key: subjectKeyBytes(keyMode, subject)})
			}
		})
		if err != nil {
			return nil, err
		}
		if err := r.produce(ctx, recs...); err != nil {
			return nil, err
		}
		sort.Ints(out)
		return out, nil
	})
}

func (r *Registry) putConfig(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	return r.write(w, req, func(ctx context.Context, body []byte) (any, error) {
		var c struct {
			Compatibility      string `json:"compatibility"`
			CompatibilityLevel string `json:"compatibilityLevel"`
		}
		if err := unmarshalBody(body, &c); err != nil {
			return nil, err
		}
		lvl := strings.ToUpper(c.Compatibility)
		if lvl == "" {
			lvl = strings.ToUpper(c.CompatibilityLevel)
		}
		if !validCompat(lvl) {
			return nil, errf(42203, "Invalid compatibility level %q. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive", c.Compatibility)
		}
		rec := &kgo.Record{Key: subjectKeyBytes(keyConfig, subject), Value: mustJSON(configValue{CompatibilityLevel: lvl})}
		if err := r.produce(ctx, rec); err != nil {
			return nil, err
		}
		return map[string]string{"compatibility": lvl}, nil
	})
}

func (r *Registry) deleteConfig(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	return r.write(w, req, func(ctx context.Context, _ []byte) (any, error) {
		var old string
		var err error
		r.view(func(s *State) {
			old = s.Compat(subject)
			if _, own := s.compat[subject]; subject != "" && !own {
				if len(s.Versions(subject, true)) == 0 {
					err = errSubjectNotFound(subject)
				} else {
					err = errf(40408, "Subject '%s' does not have subject-level compatibility configured", subject)
				}
			}
		})
		if err != nil {
			return nil, err
		}
		if err := r.produce(ctx, &kgo.Record{Key: subjectKeyBytes(keyConfig, subject)}); err != nil {
			return nil, err
		}
		return map[string]string{"compatibilityLevel": old}, nil
	})
}

func (r *Registry) putMode(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	return r.write(w, req, func(ctx context.Context, body []byte) (any, error) {
		var m modeValue
		if err := unmarshalBody(body, &m); err != nil {
			return nil, err
		}
		mode := strings.ToUpper(m.Mode)
		if !validMode(mode) {
			return nil, errf(42204, "Invalid mode %q. Valid values are READWRITE, READONLY, IMPORT", m.Mode)
		}
		var err error
		r.view(func(s *State) {
			if mode != ModeImport || flag(req, "force") {
				return
			}
			if (subject == "" && len(s.Subjects(false)) > 0) || (subject != "" && len(s.Versions(subject, false)) > 0) {
				err = errf(42205, "Cannot import since found existing subjects; set force=true to switch to IMPORT anyway")
			}
		})
		if err != nil {
			return nil, err
		}
		rec := &kgo.Record{Key: subjectKeyBytes(keyMode, subject), Value: mustJSON(modeValue{Mode: mode})}
		if err := r.produce(ctx, rec); err != nil {
			return nil, err
		}
		return map[string]string{"mode": mode}, nil
	})
}

func mustJSON(v any) []byte {
	b, err := jsonMarshal(v)
	if err != nil {
		panic(err) // only our own value types get here
	}
	return b
}
