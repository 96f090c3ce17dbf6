// These tests prove the compatibility checks: Avro by its schema
// resolution rules under every level, and the listed subset of Confluent's
// Protobuf and JSON Schema rules.
package schemaregistry

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, typ, schema string, refs ...resolvedRef) parsed {
	t.Helper()
	p, err := parseSchema(typ, schema, refs)
	if err != nil {
		t.Fatalf("parse %s: %v", schema, err)
	}
	return p
}

const (
	avroV1       = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}`
	avroOptional = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":["null","string"],"default":null}]}`
	avroRequired = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":"string"}]}`
	avroRemoved  = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	avroWidened  = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"long"}]}`
)

func TestAvroCompatibility(t *testing.T) {
	v1 := mustParse(t, TypeAvro, avroV1)
	for _, c := range []struct {
		level, schema string
		ok            bool
	}{
		{"BACKWARD", avroOptional, true},
		{"BACKWARD", avroRequired, false}, // new reader needs email, old data lacks it
		{"BACKWARD", avroRemoved, true},   // a reader ignores the writer's extra field
		{"BACKWARD", avroWidened, true},   // int promotes to long
		{"FORWARD", avroRemoved, false},   // the old reader needs age, new data lacks it
		{"FORWARD", avroRequired, true},
		{"FORWARD", avroWidened, false}, // an int reader cannot read a long
		{"FULL", avroOptional, true},
		{"FULL", avroRequired, false},
		{"FULL", avroRemoved, false},
		{"NONE", `{"type":"record","name":"Other","fields":[]}`, true},
		{"BACKWARD", `"string"`, false},
	} {
		msgs := checkCompat(c.level, mustParse(t, TypeAvro, c.schema), []parsed{v1})
		if (len(msgs) == 0) != c.ok {
			t.Errorf("%s %s: messages %v, want compatible=%v", c.level, c.schema, msgs, c.ok)
		}
	}
	// Transitive levels check every version, the plain ones the latest.
	t1 := mustParse(t, TypeAvro, avroRemoved)
	t2 := mustParse(t, TypeAvro, `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`)
	if msgs := checkCompat("BACKWARD", v1, []parsed{t1, t2}); len(msgs) != 0 {
		t.Errorf("BACKWARD against the latest only: %v", msgs)
	}
	if msgs := checkCompat("BACKWARD_TRANSITIVE", v1, []parsed{t1, t2}); len(msgs) == 0 {
		t.Error("BACKWARD_TRANSITIVE: age without a default cannot read the first version's data")
	}
	if msgs := checkCompat("FULL_TRANSITIVE", v1, []parsed{t1, t2}); len(msgs) == 0 {
		t.Error("FULL_TRANSITIVE passed")
	}
}

func TestAvroReferencesAndParseErrors(t *testing.T) {
	ref := resolvedRef{Name: "Address", Type: TypeAvro, Schema: `{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}`}
	mustParse(t, TypeAvro, `{"type":"record","name":"P","fields":[{"name":"a","type":"Address"}]}`, ref)
	if _, err := parseSchema(TypeAvro, `{"type":"record","name":"P","fields":[{"name":"a","type":"Address"}]}`, nil); err == nil {
		t.Error("an unresolved named type parsed")
	}
	if _, err := parseSchema(TypeAvro, `{"type":"record","name":"P","fields":[{"name":"a"}]}`, nil); err == nil {
		t.Error("a field without type parsed")
	}
}

func TestProtobufCompatibility(t *testing.T) {
	old := mustParse(t, TypeProtobuf, `syntax = "proto3"; package p; message M { string a = 1; int32 b = 2; message N { int32 x = 1; } }`)
	for _, c := range []struct {
		schema, want string
	}{
		{`syntax = "proto3"; package p; message M { string a = 1; int32 b = 2; int64 c = 3; message N { int32 x = 1; } }`, ""},
		{`syntax = "proto3"; package p; message M { string a = 1; message N { int32 x = 1; } }`, ""},
		{`syntax = "proto3"; package p; message M { string a = 1; int64 b = 2; message N { int32 x = 1; } }`, ""},
		{`syntax = "proto3"; package p; message M { string a = 1; string b = 2; message N { int32 x = 1; } }`, "FIELD_SCALAR_KIND_CHANGED"},
		{`syntax = "proto3"; package p; message M { string a = 1; int32 b = 2; }`, "MESSAGE_REMOVED"},
		{`syntax = "proto3"; package q; message M { string a = 1; int32 b = 2; message N { int32 x = 1; } }`, "PACKAGE_CHANGED"},
		{`syntax = "proto3"; package p; message M { string a = 1; repeated int32 b = 2; message N { int32 x = 1; } }`, "FIELD_LABEL_CHANGED"},
	} {
		msgs := checkCompat("BACKWARD", mustParse(t, TypeProtobuf, c.schema), []parsed{old})
		got := strings.Join(msgs, "; ")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.schema, got, c.want)
		}
	}
	if _, err := parseSchema(TypeProtobuf, `syntax = "proto3"; message M { strin a = 1; }`, nil); err == nil {
		t.Error("a bad type parsed")
	}
	dep := resolvedRef{Name: "dep.proto", Type: TypeProtobuf, Schema: `syntax = "proto3"; package d; message D { int32 x = 1; }`}
	mustParse(t, TypeProtobuf, `syntax = "proto3"; import "dep.proto"; message M { d.D d = 1; }`, dep)
}

func TestJSONCompatibility(t *testing.T) {
	old := mustParse(t, TypeJSON, `{"type":"object","properties":{"a":{"type":"string"},"n":{"type":"integer"},"e":{"enum":["x","y"]}},"required":["a"]}`)
	for _, c := range []struct{ schema, want string }{
		{`{"type":"object","properties":{"a":{"type":"string"},"n":{"type":"number"},"e":{"enum":["x","y","z"]}},"required":["a"]}`, ""},
		{`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a","b"]}`, "REQUIRED_ATTRIBUTE_ADDED"},
		{`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`, "TYPE_CHANGED"},
		{`{"type":"object","properties":{"a":{"type":"string"},"e":{"enum":["x"]}},"required":["a"]}`, "ENUM_ARRAY_NARROWED"},
		{`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
	} {
		msgs := checkCompat("BACKWARD", mustParse(t, TypeJSON, c.schema), []parsed{old})
		got := strings.Join(msgs, "; ")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.schema, got, c.want)
		}
	}
	if _, err := parseSchema(TypeJSON, `{"type":"nope"}`, nil); err == nil {
		t.Error("an invalid JSON schema compiled")
	}
	if _, err := parseSchema(TypeJSON, `{"$ref":"file:///etc/passwd"}`, nil); err == nil {
		t.Error("a schema loaded a local file")
	}
}

// FuzzParseSchema checks, for any schema text of each type, that parsing
// never panics, that what parses parses again from its stored (canonical)
// and normalized forms, and that a schema can always read its own data.
func FuzzParseSchema(f *testing.F) {
	f.Add(uint8(0), avroV1)
	f.Add(uint8(0), `["null",{"type":"enum","name":"E","symbols":["A","B"]},{"type":"array","items":"long"}]`)
	f.Add(uint8(1), `syntax = "proto3"; package p; message M { string a = 1; repeated int32 b = 2; message N { int32 x = 1; } }`)
	f.Add(uint8(2), `{"type":"object","properties":{"a":{"type":"string"},"e":{"enum":["x",1]}},"required":["a"]}`)
	types := []string{TypeAvro, TypeProtobuf, TypeJSON}
	f.Fuzz(func(t *testing.T, typ uint8, schema string) {
		tp := types[int(typ)%len(types)]
		p, err := parseSchema(tp, schema, nil)
		if err != nil {
			return
		}
		for _, form := range []string{p.canonical(), p.normalized()} {
			again, err := parseSchema(tp, form, nil)
			if err != nil {
				t.Fatalf("%s %q parsed, its stored form %q does not: %v", tp, schema, form, err)
			}
			if msgs := again.canRead(p); tp == TypeAvro && len(msgs) > 0 {
				t.Fatalf("%q cannot read its own data: %v", schema, msgs)
			}
		}
		if msgs := p.canRead(p); len(msgs) > 0 {
			t.Fatalf("%s %q cannot read its own data: %v", tp, schema, msgs)
		}
	})
}
