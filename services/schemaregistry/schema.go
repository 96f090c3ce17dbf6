package schemaregistry

// Parsing the three schema types and checking compatibility between two
// parsed schemas of one type. Avro uses hamba/avro's parser and its schema
// resolution checker (Avro's rules: can a reader schema read data written
// with a writer schema). Protobuf (bufbuild/protocompile) and JSON Schema
// (santhosh-tekuri/jsonschema) follow a subset of Confluent's rules, listed
// at protoCanRead and jsonCanRead.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// resolvedRef is a reference with the schema it names; a schema's refs
// come dependencies first.
type resolvedRef struct {
	Name   string
	Type   string
	Schema string
}

// parsed is a schema that parsed.
type parsed interface {
	// canRead says why data written with w cannot be read with this
	// schema; nil when it can.
	canRead(w parsed) []string
	// canonical is the form stored and compared (the schema text with
	// insignificant whitespace removed where the type allows it).
	canonical() string
	// normalized is the form ?normalize=true stores and compares: Avro
	// as hamba/avro writes a parsed schema (full names, a fixed key
	// order), JSON Schema with its keys sorted; Protobuf as given.
	normalized() string
}

// parseSchema parses schema of type typ; the error is the parser's message.
func parseSchema(typ, schema string, refs []resolvedRef) (parsed, error) {
	switch typ {
	case TypeAvro:
		return parseAvro(schema, refs)
	case TypeProtobuf:
		return parseProto(schema, refs)
	case TypeJSON:
		return parseJSON(schema, refs)
	}
	return nil, fmt.Errorf("unknown schema type %q; valid: AVRO, PROTOBUF, JSON", typ)
}

// ---- Avro ----

type avroSchema struct {
	s    avro.Schema
	text string
}

func parseAvro(schema string, refs []resolvedRef) (parsed, error) {
	cache := &avro.SchemaCache{} // per parse: names do not leak between schemas
	for _, r := range refs {
		if r.Type != TypeAvro {
			return nil, fmt.Errorf("reference %s is a %s schema, not AVRO", r.Name, r.Type)
		}
		if _, err := avro.ParseWithCache(r.Schema, "", cache); err != nil {
			return nil, fmt.Errorf("reference %s: %w", r.Name, err)
		}
	}
	s, err := avro.ParseWithCache(schema, "", cache)
	if err != nil {
		return nil, err
	}
	return &avroSchema{s: s, text: compactJSON(schema)}, nil
}

func (a *avroSchema) canRead(w parsed) []string {
	ws, ok := w.(*avroSchema)
	if !ok {
		return []string{"schema types differ"}
	}
	if err := avro.NewSchemaCompatibility().Compatible(a.s, ws.s); err != nil {
		return []string{err.Error()}
	}
	return nil
}

func (a *avroSchema) canonical() string { return a.text }

func (a *avroSchema) normalized() string {
	b, err := json.Marshal(a.s)
	if err != nil {
		return a.text
	}
	return string(b)
}

func compactJSON(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}

// ---- Protobuf ----

type protoSchema struct {
	fd   protoreflect.FileDescriptor
	text string
}

const protoMain = "__schema.proto"

func parseProto(schema string, refs []resolvedRef) (parsed, error) {
	files := map[string]string{protoMain: schema}
	for _, r := range refs {
		if r.Type != TypeProtobuf {
			return nil, fmt.Errorf("reference %s is a %s schema, not PROTOBUF", r.Name, r.Type)
		}
		files[r.Name] = r.Schema
	}
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(files)})}
	fs, err := c.Compile(context.Background(), protoMain)
	if err != nil {
		return nil, err
	}
	return &protoSchema{fd: fs[0], text: schema}, nil
}

func (p *protoSchema) canonical() string { return p.text }

func (p *protoSchema) normalized() string { return p.text }

// canRead follows these of Confluent's Protobuf rules, with w the writer:
// PACKAGE_CHANGED, MESSAGE_REMOVED (a writer message missing in the
// reader), FIELD_KIND_CHANGED and FIELD_SCALAR_KIND_CHANGED (outside the
// wire-compatible groups), FIELD_NAMED_TYPE_CHANGED, FIELD_LABEL_CHANGED
// (repeated or not), REQUIRED_FIELD_ADDED, REQUIRED_FIELD_REMOVED.
func (p *protoSchema) canRead(w parsed) []string {
	wp, ok := w.(*protoSchema)
	if !ok {
		return []string{"schema types differ"}
	}
	var out []string
	if p.fd.Package() != wp.fd.Package() {
		out = append(out, fmt.Sprintf("PACKAGE_CHANGED: %q to %q", wp.fd.Package(), p.fd.Package()))
	}
	var walk func(wm protoreflect.MessageDescriptors)
	walk = func(wms protoreflect.MessageDescriptors) {
		for i := 0; i < wms.Len(); i++ {
			wm := wms.Get(i)
			name := strings.TrimPrefix(string(wm.FullName()), string(wp.fd.Package())+".")
			rm := findMessage(p.fd, name)
			if rm == nil {
				out = append(out, "MESSAGE_REMOVED: "+name)
				continue
			}
			out = append(out, protoFields(name, rm, wm)...)
			walk(wm.Messages())
		}
	}
	walk(wp.fd.Messages())
	return out
}

func findMessage(fd protoreflect.FileDescriptor, name string) protoreflect.MessageDescriptor {
	d := fd.Messages()
	var m protoreflect.MessageDescriptor
	for _, part := range strings.Split(name, ".") {
		m = d.ByName(protoreflect.Name(part))
		if m == nil {
			return nil
		}
		d = m.Messages()
	}
	return m
}

func protoFields(msg string, r, w protoreflect.MessageDescriptor) []string {
	var out []string
	wf := w.Fields()
	for i := 0; i < wf.Len(); i++ {
		f := wf.Get(i)
		rf := r.Fields().ByNumber(f.Number())
		if rf == nil {
			if f.Cardinality() == protoreflect.Required {
				out = append(out, fmt.Sprintf("REQUIRED_FIELD_REMOVED: %s.%s (%d)", msg, f.Name(), f.Number()))
			}
			continue
		}
		if (rf.Cardinality() == protoreflect.Repeated) != (f.Cardinality() == protoreflect.Repeated) {
			out = append(out, fmt.Sprintf("FIELD_LABEL_CHANGED: %s field %d", msg, f.Number()))
			continue
		}
		switch {
		case rf.Message() != nil || f.Message() != nil:
			if rf.Message() == nil || f.Message() == nil || rf.Message().FullName() != f.Message().FullName() {
				out = append(out, fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s field %d", msg, f.Number()))
			}
		case rf.Enum() != nil || f.Enum() != nil:
			if rf.Enum() == nil || f.Enum() == nil || rf.Enum().FullName() != f.Enum().FullName() {
				out = append(out, fmt.Sprintf("FIELD_NAMED_TYPE_CHANGED: %s field %d", msg, f.Number()))
			}
		case rf.Kind() != f.Kind() && scalarGroup(rf.Kind()) != scalarGroup(f.Kind()):
			out = append(out, fmt.Sprintf("FIELD_SCALAR_KIND_CHANGED: %s field %d from %s to %s", msg, f.Number(), f.Kind(), rf.Kind()))
		}
	}
	rfs := r.Fields()
	for i := 0; i < rfs.Len(); i++ {
		f := rfs.Get(i)
		if f.Cardinality() == protoreflect.Required && wf.ByNumber(f.Number()) == nil {
			out = append(out, fmt.Sprintf("REQUIRED_FIELD_ADDED: %s.%s (%d)", msg, f.Name(), f.Number()))
		}
	}
	return out
}

// scalarGroup is the set of wire-compatible scalar kinds a kind is in.
func scalarGroup(k protoreflect.Kind) string {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return "varint"
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return "zigzag"
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return "fixed32"
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return "fixed64"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "bytes"
	}
	return k.String()
}

// ---- JSON Schema ----

type jsonSchemaDoc struct {
	doc  any
	text string
}

// noLoader refuses every URL a schema names that is not a reference: a
// registry must not read files or the network on a schema's behalf.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is not a reference of this schema", url)
}

func parseJSON(schema string, refs []resolvedRef) (parsed, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	for _, r := range refs {
		if r.Type != TypeJSON {
			return nil, fmt.Errorf("reference %s is a %s schema, not JSON", r.Name, r.Type)
		}
		d, err := jsonschema.UnmarshalJSON(strings.NewReader(r.Schema))
		if err != nil {
			return nil, fmt.Errorf("reference %s: %w", r.Name, err)
		}
		if err := c.AddResource(r.Name, d); err != nil {
			return nil, fmt.Errorf("reference %s: %w", r.Name, err)
		}
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		return nil, err
	}
	const loc = "urn:ringtail:schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	if _, err := c.Compile(loc); err != nil {
		return nil, err
	}
	return &jsonSchemaDoc{doc: doc, text: compactJSON(schema)}, nil
}

func (j *jsonSchemaDoc) canonical() string { return j.text }

func (j *jsonSchemaDoc) normalized() string {
	b, err := json.Marshal(j.doc) // maps marshal with sorted keys
	if err != nil {
		return j.text
	}
	return string(b)
}

// canRead follows these of Confluent's JSON Schema rules, with w the
// writer, recursively through properties and items: TYPE_CHANGED (the
// reader does not accept every type the writer allows; integer widens to
// number), REQUIRED_ATTRIBUTE_ADDED (the reader requires a property the
// writer does not), PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL (a writer
// property the reader, with additionalProperties false, does not declare),
// ENUM_ARRAY_NARROWED (a writer enum value the reader lacks).
func (j *jsonSchemaDoc) canRead(w parsed) []string {
	wj, ok := w.(*jsonSchemaDoc)
	if !ok {
		return []string{"schema types differ"}
	}
	var out []string
	jsonCanRead("#", j.doc, wj.doc, &out)
	return out
}

func jsonCanRead(path string, r, w any, out *[]string) {
	rm, rok := r.(map[string]any)
	wm, wok := w.(map[string]any)
	if !rok || !wok {
		if rb, ok := r.(bool); ok && !rb {
			*out = append(*out, path+": reader schema is false")
		}
		return
	}
	rt, wt := jsonTypes(rm["type"]), jsonTypes(wm["type"])
	if len(rt) > 0 {
		if len(wt) == 0 {
			*out = append(*out, fmt.Sprintf("TYPE_CHANGED: %s: reader allows only %v", path, rt))
		}
		for _, t := range wt {
			if !contains(rt, t) && !(t == "integer" && contains(rt, "number")) {
				*out = append(*out, fmt.Sprintf("TYPE_CHANGED: %s: reader does not accept %s", path, t))
			}
		}
	}
	if re, ok := rm["enum"].([]any); ok {
		we, _ := wm["enum"].([]any)
		if we == nil {
			*out = append(*out, fmt.Sprintf("ENUM_ARRAY_NARROWED: %s: reader has an enum, writer none", path))
		}
		for _, v := range we {
			if !containsJSON(re, v) {
				*out = append(*out, fmt.Sprintf("ENUM_ARRAY_NARROWED: %s: reader lacks %v", path, v))
			}
		}
	}
	rreq, wreq := strList(rm["required"]), strList(wm["required"])
	for _, p := range rreq {
		if !contains(wreq, p) {
			*out = append(*out, fmt.Sprintf("REQUIRED_ATTRIBUTE_ADDED: %s: %s", path, p))
		}
	}
	rp, _ := rm["properties"].(map[string]any)
	wp, _ := wm["properties"].(map[string]any)
	closed := rm["additionalProperties"] == false
	names := make([]string, 0, len(wp))
	for name := range wp {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rs, ok := rp[name]
		if !ok {
			if closed {
				*out = append(*out, fmt.Sprintf("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: %s: %s", path, name))
			}
			continue
		}
		jsonCanRead(path+"/properties/"+name, rs, wp[name], out)
	}
	if ri, ok := rm["items"]; ok {
		if wi, ok := wm["items"]; ok {
			jsonCanRead(path+"/items", ri, wi, out)
		}
	}
}

func jsonTypes(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		return strList(t)
	}
	return nil
}

func strList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func containsJSON(l []any, v any) bool {
	vb, _ := json.Marshal(v)
	for _, x := range l {
		xb, _ := json.Marshal(x)
		if string(xb) == string(vb) {
			return true
		}
	}
	return false
}

// ---- compatibility levels ----

// checkCompat says why candidate may not join a subject whose live
// versions (oldest first) are prev, under level; nil: it may.
func checkCompat(level string, candidate parsed, prev []parsed) []string {
	if level == "NONE" || len(prev) == 0 {
		return nil
	}
	against := prev[len(prev)-1:]
	if strings.HasSuffix(level, "_TRANSITIVE") {
		against = prev
	}
	base := strings.TrimSuffix(level, "_TRANSITIVE")
	var out []string
	for i := len(against) - 1; i >= 0; i-- {
		old := against[i]
		if base == "BACKWARD" || base == "FULL" {
			for _, m := range candidate.canRead(old) {
				out = append(out, "new schema cannot read data written with an existing one: "+m)
			}
		}
		if base == "FORWARD" || base == "FULL" {
			for _, m := range old.canRead(candidate) {
				out = append(out, "an existing schema cannot read data written with the new one: "+m)
			}
		}
	}
	return out
}
