// These tests prove the pure side of the registry without a broker: the
// _schemas state machine applies Confluent's records (and skips bad or
// conflicting ones the same way on every reader), and the compatibility
// checks follow Avro's resolution rules and the listed Protobuf and JSON
// Schema rules.
package schemaregistry

import (
	"strings"
	"testing"
)

func schemaRec(subject string, version, id int, schema string, deleted bool) ([]byte, []byte) {
	return schemaKeyBytes(subject, version), mustJSON(schemaValue{Subject: subject, Version: version, ID: id, Schema: schema, Deleted: deleted})
}

func applySchema(t *testing.T, s *State, subject string, version, id int, schema string, deleted bool) {
	t.Helper()
	k, v := schemaRec(subject, version, id, schema, deleted)
	mustApply(t, s, k, v)
}

func mustApply(t *testing.T, s *State, k, v []byte) {
	t.Helper()
	if err := s.Apply(k, v); err != nil {
		t.Fatalf("Apply(%s, %s): %v", k, v, err)
	}
}

func TestStateApply(t *testing.T) {
	s := NewState()
	applySchema(t, s, "a", 1, 1, `"string"`, false)
	applySchema(t, s, "a", 2, 2, `"int"`, false)
	applySchema(t, s, "b", 1, 1, `"string"`, false) // same schema, same id
	if got := s.Subjects(false); strings.Join(got, ",") != "a,b" {
		t.Fatalf("subjects %v", got)
	}
	if s.maxID != 2 || len(s.IDUsers(1, false)) != 2 {
		t.Fatalf("maxID %d users %v", s.maxID, s.IDUsers(1, false))
	}
	// A second record claiming id 2 for another schema loses to the first.
	k, v := schemaRec("c", 1, 2, `"long"`, false)
	if err := s.Apply(k, v); err == nil {
		t.Fatal("conflicting id applied")
	}
	if len(s.Versions("c", true)) != 0 {
		t.Fatal("conflicting record left a version")
	}
	// Soft delete of one version, then of the subject, then hard delete.
	applySchema(t, s, "a", 1, 1, `"string"`, true)
	if vs := s.Versions("a", false); len(vs) != 1 || vs[0].Version != 2 {
		t.Fatalf("after soft delete: %v", vs)
	}
	mustApply(t, s, subjectKeyBytes(keyDeleteSubject, "a"), mustJSON(subjectVersionValue{Subject: "a", Version: 2}))
	if len(s.Versions("a", false)) != 0 || len(s.Versions("a", true)) != 2 {
		t.Fatal("DELETE_SUBJECT did not soft delete every version")
	}
	mustApply(t, s, schemaKeyBytes("a", 2), nil) // tombstone
	if _, ok := s.Schema(2); ok {
		t.Fatal("id 2 still known after its only version was hard deleted")
	}
	mustApply(t, s, subjectKeyBytes(keyClearSubject, "a"), mustJSON(subjectVersionValue{Subject: "a", Version: 5}))
	if len(s.Versions("a", true)) != 0 {
		t.Fatal("CLEAR_SUBJECT left versions")
	}
	if _, ok := s.Schema(1); !ok {
		t.Fatal("id 1 forgotten while b/1 uses it")
	}
	// Config and mode, global and per subject, set and removed.
	if s.Compat("b") != "BACKWARD" || s.Mode("b") != ModeReadWrite {
		t.Fatal("defaults")
	}
	mustApply(t, s, subjectKeyBytes(keyConfig, ""), mustJSON(configValue{"FULL"}))
	mustApply(t, s, subjectKeyBytes(keyConfig, "b"), mustJSON(configValue{"NONE"}))
	mustApply(t, s, subjectKeyBytes(keyMode, ""), mustJSON(modeValue{"READONLY"}))
	if s.Compat("b") != "NONE" || s.Compat("x") != "FULL" || s.Mode("x") != ModeReadOnly {
		t.Fatalf("compat %s %s mode %s", s.Compat("b"), s.Compat("x"), s.Mode("x"))
	}
	mustApply(t, s, subjectKeyBytes(keyConfig, "b"), nil)
	mustApply(t, s, subjectKeyBytes(keyMode, ""), nil)
	if s.Compat("b") != "FULL" || s.Mode("x") != ModeReadWrite {
		t.Fatal("tombstones did not remove the settings")
	}
	mustApply(t, s, noopKeyBytes(), nil)
}

func TestStateKeysAreConfluents(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{string(schemaKeyBytes("s", 3)), `{"keytype":"SCHEMA","subject":"s","version":3,"magic":1}`},
		{string(subjectKeyBytes(keyConfig, "")), `{"keytype":"CONFIG","subject":null,"magic":0}`},
		{string(subjectKeyBytes(keyConfig, "s")), `{"keytype":"CONFIG","subject":"s","magic":0}`},
		{string(subjectKeyBytes(keyDeleteSubject, "s")), `{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}`},
		{string(mustJSON(schemaValue{Subject: "s", Version: 1, ID: 7, Schema: `"int"`})), `{"subject":"s","version":1,"id":7,"schema":"\"int\"","deleted":false}`},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
	// A record as Confluent's registry writes it applies.
	s := NewState()
	mustApply(t, s, []byte(`{"keytype":"SCHEMA","subject":"p","version":1,"magic":1}`),
		[]byte(`{"subject":"p","version":1,"id":4,"schemaType":"PROTOBUF","references":[],"schema":"syntax = \"proto3\";","deleted":false}`))
	if v := s.Versions("p", false); len(v) != 1 || v[0].Type != TypeProtobuf || v[0].ID != 4 {
		t.Fatalf("%+v", v)
	}
}

func TestStateSkipsBadRecords(t *testing.T) {
	s := NewState()
	for _, kv := range [][2]string{
		{`not json`, `{}`},
		{`{"keytype":"WHAT","magic":0}`, `{}`},
		{`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`, `{"id":0}`},
		{`{"keytype":"SCHEMA","version":1,"magic":1}`, `{"id":1}`},
		{`{"keytype":"CONFIG","subject":null,"magic":0}`, `{"compatibilityLevel":"SIDEWAYS"}`},
		{`{"keytype":"MODE","subject":null,"magic":0}`, `{"mode":"SOMETIMES"}`},
		{`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`, `[1,2]`},
	} {
		if err := s.Apply([]byte(kv[0]), []byte(kv[1])); err == nil {
			t.Errorf("Apply(%s, %s) accepted", kv[0], kv[1])
		}
	}
	if len(s.Subjects(true)) != 0 || s.Compat("") != "BACKWARD" || s.Mode("") != ModeReadWrite {
		t.Fatal("a bad record changed the state")
	}
}

// FuzzDecodeRecord checks, for any key and value bytes, that decoding and
// applying never panic, that a record Apply refuses leaves the state as it
// was, and that an applied SCHEMA record's version is then found.
func FuzzDecodeRecord(f *testing.F) {
	k, v := schemaRec("s", 1, 1, `"string"`, false)
	f.Add(k, v)
	f.Add(subjectKeyBytes(keyConfig, ""), mustJSON(configValue{"FULL"}))
	f.Add(subjectKeyBytes(keyDeleteSubject, "s"), mustJSON(subjectVersionValue{"s", 1}))
	f.Add([]byte(`{"keytype":"NOOP","magic":0}`), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s := NewState()
		applySchema(t, s, "base", 1, 1, `"int"`, false)
		before := len(s.Versions("base", true))
		err := s.Apply(key, value)
		if err != nil && len(s.Versions("base", true)) != before {
			t.Fatal("a refused record changed the state")
		}
		rk, rv, derr := decodeRecord(key, value)
		if derr == nil && rk.KeyType == keySchema && rv != nil && err == nil {
			sv := rv.(*schemaValue)
			if _, ferr := findVersion(s, *rk.Subject, rk.Version, true); ferr != nil {
				t.Fatalf("applied %s/%d (id %d) not found: %v", *rk.Subject, rk.Version, sv.ID, ferr)
			}
		}
	})
}
