package console

// Schema decoding in the message browser: a key or value in Confluent's
// wire format (magic byte 0, a 4-byte schema id, then the encoded data) is
// decoded to JSON with its schema from the Schema Registry at
// Config.RegistryURL. Avro is decoded with hamba/avro, Protobuf with
// protocompile and dynamicpb (the libraries the built-in registry parses
// schemas with); JSON Schema data is JSON already and shown as it is. A value that does not decode is shown as hex beside the
// reason; the rest of the window is unaffected.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

const (
	// registryTimeout bounds one schema lookup.
	registryTimeout = 2 * time.Second
	// maxCachedSchemas bounds the schemas kept parsed; past it the cache
	// starts over (schemas by id never change, so this only costs lookups).
	maxCachedSchemas = 256
	// maxRefDepth bounds how deep schema references are followed.
	maxRefDepth   = 8
	protoMainFile = "__schema.proto"
)

// wireHeader splits Confluent's framing off b: the schema id and the rest.
// ok is false when b is not framed (too short, or another magic byte).
func wireHeader(b []byte) (id int, rest []byte, ok bool) {
	if len(b) < 5 || b[0] != 0 {
		return 0, nil, false
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], true
}

// protoIndexes reads the message indexes that precede a Protobuf payload:
// a zigzag varint count, then that many zigzag varints, each the index of
// a message within the one before (the file's top-level messages first).
// A count of 0 is the shorthand for the first message, [0].
func protoIndexes(b []byte) ([]int, []byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 {
		return nil, nil, errors.New("protobuf message indexes: bad varint")
	}
	b = b[k:]
	if n == 0 {
		return []int{0}, b, nil
	}
	if n < 0 || n > 64 {
		return nil, nil, fmt.Errorf("protobuf message indexes: count %d", n)
	}
	idx := make([]int, 0, n)
	for range n {
		v, k := binary.Varint(b)
		if k <= 0 || v < 0 || v > 1<<20 {
			return nil, nil, errors.New("protobuf message indexes: bad index")
		}
		idx = append(idx, int(v))
		b = b[k:]
	}
	return idx, b, nil
}

// decSchema is a schema fetched and parsed (or why it could not be).
type decSchema struct {
	typ   sr.SchemaType
	avro  avro.Schema
	proto protoreflect.FileDescriptor
}

// schemaDecoder fetches schemas by id from the registry and keeps them.
type schemaDecoder struct {
	cl *sr.Client
	mu sync.Mutex
	// parsed holds the schemas that parsed; lookups that failed are kept
	// only for one window (decodeWindow), so a schema registered later
	// is found.
	parsed map[int]*decSchema
}

func newSchemaDecoder(registryURL string, tc *tls.Config) (*schemaDecoder, error) {
	if registryURL == "" {
		return nil, nil
	}
	hc := serviceClient(tc) // presents tc to a registry that wants a client certificate
	hc.Timeout = registryTimeout
	cl, err := sr.NewClient(sr.URLs(strings.TrimRight(registryURL, "/")),
		sr.HTTPClient(hc), sr.UserAgent("ringtail-console"))
	if err != nil {
		return nil, fmt.Errorf("console: schema registry %q: %w", registryURL, err)
	}
	return &schemaDecoder{cl: cl, parsed: map[int]*decSchema{}}, nil
}

// decodeWindow is the decoder for one window of records: a schema that
// could not be had is tried once per window, not once per record.
type decodeWindow struct {
	ctx    context.Context
	d      *schemaDecoder
	failed map[int]error
}

func (d *schemaDecoder) window(ctx context.Context) *decodeWindow {
	if d == nil {
		return nil
	}
	return &decodeWindow{ctx: ctx, d: d, failed: map[int]error{}}
}

// schema is schema id, from the cache or the registry.
func (w *decodeWindow) schema(id int) (*decSchema, error) {
	if err, ok := w.failed[id]; ok {
		return nil, err
	}
	w.d.mu.Lock()
	s := w.d.parsed[id]
	w.d.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := w.d.fetch(w.ctx, id)
	if err != nil {
		w.failed[id] = err
		return nil, err
	}
	w.d.mu.Lock()
	if len(w.d.parsed) >= maxCachedSchemas {
		w.d.parsed = map[int]*decSchema{}
	}
	w.d.parsed[id] = s
	w.d.mu.Unlock()
	return s, nil
}

func (d *schemaDecoder) fetch(ctx context.Context, id int) (*decSchema, error) {
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	s, err := d.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("the schema registry has no schema %d", id)
		}
		return nil, fmt.Errorf("schema %d from the schema registry: %w", id, err)
	}
	refs := map[string]string{}
	if err := d.references(ctx, s.References, refs, 0); err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	out, err := parseForDecode(s.Type, s.Schema, refs)
	if err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	return out, nil
}

// references fetches the schemas refs name, dependencies first, into out
// (reference name → schema text).
func (d *schemaDecoder) references(ctx context.Context, refs []sr.SchemaReference, out map[string]string, depth int) error {
	if depth > maxRefDepth {
		return errors.New("references nest too deep")
	}
	for _, r := range refs {
		if _, ok := out[r.Name]; ok {
			continue
		}
		ss, err := d.cl.SchemaByVersion(ctx, r.Subject, r.Version)
		if err != nil {
			return fmt.Errorf("reference %s (%s version %d): %w", r.Name, r.Subject, r.Version, err)
		}
		if err := d.references(ctx, ss.References, out, depth+1); err != nil {
			return err
		}
		out[r.Name] = ss.Schema.Schema
	}
	return nil
}

// parseForDecode parses a schema of typ; refs are the referenced schemas
// by name (Avro: parsed first into the same cache; Protobuf: importable
// files).
func parseForDecode(typ sr.SchemaType, text string, refs map[string]string) (*decSchema, error) {
	switch typ {
	case sr.TypeAvro:
		cache := &avro.SchemaCache{}
		// Avro references are named types: parse them until all parse
		// (a reference may itself use another), bounded by their count.
		left := len(refs)
		for pass := 0; left > 0 && pass <= len(refs); pass++ {
			left = 0
			for _, rs := range refs {
				if _, err := avro.ParseWithCache(rs, "", cache); err != nil {
					left++
				}
			}
		}
		s, err := avro.ParseWithCache(text, "", cache)
		if err != nil {
			return nil, err
		}
		return &decSchema{typ: typ, avro: s}, nil
	case sr.TypeProtobuf:
		files := map[string]string{protoMainFile: text}
		for name, rs := range refs {
			files[name] = rs
		}
		c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(files)})}
		fds, err := c.Compile(context.Background(), protoMainFile)
		if err != nil {
			return nil, err
		}
		return &decSchema{typ: typ, proto: fds[0]}, nil
	case sr.TypeJSON:
		// The data is the JSON itself; it is shown, not validated.
		return &decSchema{typ: typ}, nil
	}
	return nil, fmt.Errorf("%s schemas are not decoded by the console", typ)
}

// decoded is a framed key or value decoded: the JSON, compact, and what
// schema it was decoded with.
type decoded struct {
	JSON   []byte
	Schema string // "Avro schema 7"
}

// decode decodes b if it is framed; ok is false when it is not (and err
// nil). err says why a framed b did not decode.
func (w *decodeWindow) decode(b []byte) (out decoded, ok bool, err error) {
	id, rest, ok := wireHeader(b)
	if !ok {
		return decoded{}, false, nil
	}
	s, err := w.schema(id)
	if err != nil {
		return decoded{}, true, err
	}
	js, err := s.decode(rest)
	if err != nil {
		return decoded{}, true, fmt.Errorf("does not decode with %s schema %d: %w", s.typ, id, err)
	}
	return decoded{JSON: js, Schema: fmt.Sprintf("%s schema %d", s.typ, id)}, true, nil
}

// decode decodes the data after the schema id to JSON.
func (s *decSchema) decode(b []byte) ([]byte, error) {
	switch s.typ {
	case sr.TypeAvro:
		r := avro.NewReader(nil, 0).Reset(b)
		var v any
		r.ReadVal(s.avro, &v)
		if r.Error != nil {
			return nil, r.Error
		}
		// Everything must be read: bytes left over mean another schema
		// wrote them.
		if r.Peek(); !errors.Is(r.Error, io.EOF) {
			return nil, errors.New("bytes left over after the value")
		}
		return json.Marshal(jsonable(v))
	case sr.TypeProtobuf:
		idx, rest, err := protoIndexes(b)
		if err != nil {
			return nil, err
		}
		md, err := protoMessage(s.proto, idx)
		if err != nil {
			return nil, err
		}
		m := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(rest, m); err != nil {
			return nil, err
		}
		return protojson.Marshal(m)
	case sr.TypeJSON:
		if !json.Valid(b) {
			return nil, errors.New("not JSON")
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s is not decoded", s.typ)
}

// protoMessage is the message idx names in fd.
func protoMessage(fd protoreflect.FileDescriptor, idx []int) (protoreflect.MessageDescriptor, error) {
	msgs := fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i >= msgs.Len() {
			return nil, fmt.Errorf("message index %v is not in the schema", idx)
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	if md == nil {
		return nil, errors.New("no message index")
	}
	return md, nil
}

// jsonable turns what hamba/avro decodes into `any` into values that
// encoding/json writes readably: decimals (*big.Rat) as decimal strings,
// fixed ([N]byte) and bytes as text.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonable(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = jsonable(e)
		}
		return v
	case *big.Rat:
		if v.IsInt() {
			return v.RatString()
		}
		return strings.TrimRight(v.FloatString(18), "0")
	case []byte:
		return string(v)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return string(b)
	}
	return v
}

// showDecoded is b as the page shows it: decoded to JSON with its schema
// when dec has a registry and b is framed for one; else as show does. A
// framed b that does not decode is shown as hex with the reason.
func showDecoded(b []byte, isNull bool, format string, dec *decodeWindow) shownBytes {
	if isNull || dec == nil || format == "hex" {
		return show(b, isNull, format)
	}
	d, framed, err := dec.decode(b)
	if !framed {
		return show(b, false, format)
	}
	if err != nil {
		s := show(b, false, "hex")
		s.Err = err.Error()
		return s
	}
	s := show(d.JSON, false, "json")
	s.Schema = d.Schema
	return s
}
