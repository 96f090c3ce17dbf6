// Package schemaregistry serves Confluent's Schema Registry REST API (port
// 8081) with its state in the compacted topic _schemas, in Confluent's key
// and value formats, read and written only through the Kafka protocol.
package schemaregistry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// The _schemas record formats, as Confluent's registry writes them (keys and
// values are JSON; a null value is a tombstone):
//
//	key {"keytype":"SCHEMA","subject":"s","version":1,"magic":1}
//	    value {"subject":"s","version":1,"id":1,"schemaType":"PROTOBUF",
//	           "references":[...],"schema":"...","deleted":false}
//	    (schemaType left out for AVRO; null: the version is gone for good)
//	key {"keytype":"CONFIG","subject":null|"s","magic":0}
//	    value {"compatibilityLevel":"BACKWARD"} (null: the setting is removed)
//	key {"keytype":"MODE","subject":null|"s","magic":0}
//	    value {"mode":"READONLY"} (null: removed)
//	key {"keytype":"DELETE_SUBJECT","subject":"s","magic":0}
//	    value {"subject":"s","version":3}: versions up to 3 are soft deleted
//	key {"keytype":"CLEAR_SUBJECT","subject":"s","magic":0}
//	    value {"subject":"s","version":3}: soft-deleted versions up to 3 are gone
//	key {"keytype":"NOOP","magic":0}

// Key types of _schemas records.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyClearSubject  = "CLEAR_SUBJECT"
	keyNoop          = "NOOP"
)

// Schema types.
const (
	TypeAvro     = "AVRO"
	TypeProtobuf = "PROTOBUF"
	TypeJSON     = "JSON"
)

// Modes.
const (
	ModeReadWrite = "READWRITE"
	ModeReadOnly  = "READONLY"
	ModeImport    = "IMPORT"
)

// Compatibility levels; BACKWARD is the default.
var compatLevels = []string{"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}

const defaultCompat = "BACKWARD"

// Reference is a schema reference: the name the schema uses for it and the
// subject version that holds it.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// recordKey is the key of a _schemas record.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject,omitempty"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

// schemaValue is the value of a SCHEMA record.
type schemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

type modeValue struct {
	Mode string `json:"mode"`
}

type subjectVersionValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func schemaKeyBytes(subject string, version int) []byte {
	b, _ := json.Marshal(recordKey{KeyType: keySchema, Subject: &subject, Version: version, Magic: 1})
	return b
}

// subjectKeyBytes is the key of a CONFIG, MODE, DELETE_SUBJECT or
// CLEAR_SUBJECT record; subject "" is the global one (JSON null).
func subjectKeyBytes(keyType, subject string) []byte {
	k := recordKey{KeyType: keyType}
	if subject != "" {
		k.Subject = &subject
	} else if keyType == keyConfig || keyType == keyMode {
		// Confluent writes "subject":null for the global setting.
		b, _ := json.Marshal(struct {
			KeyType string  `json:"keytype"`
			Subject *string `json:"subject"`
			Magic   int     `json:"magic"`
		}{keyType, nil, 0})
		return b
	}
	b, _ := json.Marshal(k)
	return b
}

func noopKeyBytes() []byte { return []byte(`{"keytype":"NOOP","magic":0}`) }

// Version is one subject version.
type Version struct {
	Subject    string
	Version    int
	ID         int
	Type       string // AVRO, PROTOBUF or JSON
	Schema     string
	References []Reference
	Deleted    bool // soft deleted
}

// schemaEntry is what an id names.
type schemaEntry struct {
	Type       string
	Schema     string
	References []Reference
}

func (e schemaEntry) same(o schemaEntry) bool {
	return e.Type == o.Type && e.Schema == o.Schema && sameRefs(e.References, o.References)
}

func sameRefs(a, b []Reference) bool { return slices.Equal(a, b) }

// State is the registry's state as the _schemas records build it: a pure
// state machine, fed every record in offset order by Apply.
type State struct {
	subjects     map[string]map[int]*Version
	ids          map[int]schemaEntry
	maxID        int
	globalCompat string            // "" until set: BACKWARD
	compat       map[string]string // subject -> level
	globalMode   string            // "" until set: READWRITE
	modes        map[string]string
}

// NewState is an empty registry.
func NewState() *State {
	return &State{subjects: map[string]map[int]*Version{}, ids: map[int]schemaEntry{},
		compat: map[string]string{}, modes: map[string]string{}}
}

// errBadRecord marks a record that does not decode; it is skipped.
var errBadRecord = errors.New("schemaregistry: bad _schemas record")

// decodeRecord decodes a _schemas key and, for the key's type, its value
// (nil: a tombstone). It never panics; the fuzz target holds it to that.
func decodeRecord(key, value []byte) (recordKey, any, error) {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return k, nil, fmt.Errorf("%w: key %q: %v", errBadRecord, truncate(key), err)
	}
	if value == nil {
		return k, nil, nil
	}
	var v any
	switch k.KeyType {
	case keySchema:
		v = &schemaValue{}
	case keyConfig:
		v = &configValue{}
	case keyMode:
		v = &modeValue{}
	case keyDeleteSubject, keyClearSubject:
		v = &subjectVersionValue{}
	case keyNoop:
		return k, nil, nil
	default:
		return k, nil, fmt.Errorf("%w: unknown keytype %q", errBadRecord, k.KeyType)
	}
	d := json.NewDecoder(bytes.NewReader(value))
	if err := d.Decode(v); err != nil {
		return k, nil, fmt.Errorf("%w: %s value %q: %v", errBadRecord, k.KeyType, truncate(value), err)
	}
	return k, v, nil
}

func truncate(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// Apply applies one record. A record that does not decode or does not fit
// (an id claimed by a different schema earlier in the log) changes nothing
// and returns an error saying why; every reader of the log skips the same
// records, so all registries agree.
func (s *State) Apply(key, value []byte) error {
	k, v, err := decodeRecord(key, value)
	if err != nil {
		return err
	}
	subject := ""
	if k.Subject != nil {
		subject = *k.Subject
	}
	switch k.KeyType {
	case keySchema:
		if subject == "" || k.Version <= 0 {
			return fmt.Errorf("%w: SCHEMA key without subject or version", errBadRecord)
		}
		if v == nil {
			s.removeVersion(subject, k.Version)
			return nil
		}
		return s.applySchema(subject, k.Version, v.(*schemaValue))
	case keyConfig:
		if v == nil {
			if subject == "" {
				s.globalCompat = ""
			} else {
				delete(s.compat, subject)
			}
			return nil
		}
		lvl := v.(*configValue).CompatibilityLevel
		if !validCompat(lvl) {
			return fmt.Errorf("%w: compatibility level %q", errBadRecord, lvl)
		}
		if subject == "" {
			s.globalCompat = lvl
		} else {
			s.compat[subject] = lvl
		}
	case keyMode:
		if v == nil {
			if subject == "" {
				s.globalMode = ""
			} else {
				delete(s.modes, subject)
			}
			return nil
		}
		m := v.(*modeValue).Mode
		if !validMode(m) {
			return fmt.Errorf("%w: mode %q", errBadRecord, m)
		}
		if subject == "" {
			s.globalMode = m
		} else {
			s.modes[subject] = m
		}
	case keyDeleteSubject:
		if v == nil || subject == "" {
			return nil
		}
		for ver, sv := range s.subjects[subject] {
			if ver <= v.(*subjectVersionValue).Version {
				sv.Deleted = true
			}
		}
	case keyClearSubject:
		if v == nil || subject == "" {
			return nil
		}
		for ver, sv := range s.subjects[subject] {
			if ver <= v.(*subjectVersionValue).Version && sv.Deleted {
				s.removeVersion(subject, ver)
			}
		}
	}
	return nil
}

func (s *State) applySchema(subject string, version int, v *schemaValue) error {
	typ := v.SchemaType
	if typ == "" {
		typ = TypeAvro
	}
	if v.ID <= 0 {
		return fmt.Errorf("%w: SCHEMA %s/%d has id %d", errBadRecord, subject, version, v.ID)
	}
	e := schemaEntry{Type: typ, Schema: v.Schema, References: v.References}
	if old, ok := s.ids[v.ID]; ok && !old.same(e) {
		// Two writers raced for one id (a writer change in between): the
		// first record in the log keeps it, on every reader.
		return fmt.Errorf("schemaregistry: SCHEMA %s/%d: id %d already names another schema", subject, version, v.ID)
	}
	vs := s.subjects[subject]
	if vs == nil {
		vs = map[int]*Version{}
		s.subjects[subject] = vs
	}
	if old := vs[version]; old != nil && old.ID != v.ID {
		s.removeVersion(subject, version)
		vs = s.subjects[subject]
		if vs == nil {
			vs = map[int]*Version{}
			s.subjects[subject] = vs
		}
	}
	vs[version] = &Version{Subject: subject, Version: version, ID: v.ID, Type: typ, Schema: v.Schema,
		References: v.References, Deleted: v.Deleted}
	s.ids[v.ID] = e
	if v.ID > s.maxID {
		s.maxID = v.ID
	}
	return nil
}

// removeVersion forgets a subject version for good, and its id once no
// version uses it.
func (s *State) removeVersion(subject string, version int) {
	vs := s.subjects[subject]
	old := vs[version]
	if old == nil {
		return
	}
	delete(vs, version)
	if len(vs) == 0 {
		delete(s.subjects, subject)
	}
	for _, vv := range s.subjects {
		for _, sv := range vv {
			if sv.ID == old.ID {
				return
			}
		}
	}
	delete(s.ids, old.ID)
}

func validCompat(l string) bool {
	for _, c := range compatLevels {
		if l == c {
			return true
		}
	}
	return false
}

func validMode(m string) bool { return m == ModeReadWrite || m == ModeReadOnly || m == ModeImport }

// Versions are a subject's versions in order; deleted ones only with
// withDeleted.
func (s *State) Versions(subject string, withDeleted bool) []*Version {
	var out []*Version
	for _, v := range s.subjects[subject] {
		if withDeleted || !v.Deleted {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// Subjects are the subject names with a version (a live one unless
// withDeleted), sorted.
func (s *State) Subjects(withDeleted bool) []string {
	var out []string
	for name := range s.subjects {
		if len(s.Versions(name, withDeleted)) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Schema is what an id names.
func (s *State) Schema(id int) (schemaEntry, bool) {
	e, ok := s.ids[id]
	return e, ok
}

// IDUsers are the subject versions that use id.
func (s *State) IDUsers(id int, withDeleted bool) []*Version {
	var out []*Version
	for _, vs := range s.subjects {
		for _, v := range vs {
			if v.ID == id && (withDeleted || !v.Deleted) {
				out = append(out, v)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// idFor is the id already given to e, if any.
func (s *State) idFor(e schemaEntry) (int, bool) {
	best := 0
	for id, o := range s.ids {
		if o.same(e) && (best == 0 || id < best) {
			best = id
		}
	}
	return best, best != 0
}

// Compat is subject's compatibility level (the global one when it has
// none of its own).
func (s *State) Compat(subject string) string {
	if l, ok := s.compat[subject]; ok && subject != "" {
		return l
	}
	if s.globalCompat != "" {
		return s.globalCompat
	}
	return defaultCompat
}

// Mode is subject's mode (the global one when it has none of its own).
func (s *State) Mode(subject string) string {
	if m, ok := s.modes[subject]; ok && subject != "" {
		return m
	}
	if s.globalMode != "" {
		return s.globalMode
	}
	return ModeReadWrite
}

// referencedBy are the live subject versions whose references name
// subject/version.
func (s *State) referencedBy(subject string, version int) []int {
	var ids []int
	seen := map[int]bool{}
	for _, vs := range s.subjects {
		for _, v := range vs {
			if v.Deleted {
				continue
			}
			for _, r := range v.References {
				if r.Subject == subject && r.Version == version && !seen[v.ID] {
					seen[v.ID] = true
					ids = append(ids, v.ID)
				}
			}
		}
	}
	sort.Ints(ids)
	return ids
}

// jsonMarshal is json.Marshal without HTML escaping, as Confluent writes.
func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
