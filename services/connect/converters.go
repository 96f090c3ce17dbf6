package connect

// Converters turn a task's values into record bytes and back, as Kafka's
// Converter classes do, with the same class names and output bytes.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Converter class names.
const (
	StringConverter    = "org.apache.kafka.connect.storage.StringConverter"
	JSONConverter      = "org.apache.kafka.connect.json.JsonConverter"
	ByteArrayConverter = "org.apache.kafka.connect.converters.ByteArrayConverter"
	AvroConverter      = "io.confluent.connect.avro.AvroConverter"
)

// Schema is the part of Connect's schema the file connectors need: a
// primitive type name (string, bytes, int64, ...) and optionality. A nil
// *Schema is a schemaless value.
type Schema struct {
	Type     string
	Optional bool
}

var (
	stringSchema = &Schema{Type: "string"}
	optString    = &Schema{Type: "string", Optional: true}
	optBytes     = &Schema{Type: "bytes", Optional: true}
)

// Data is a value with its schema, Connect's SchemaAndValue. Value is nil,
// string, []byte, bool, json.Number, or maps and slices of these.
type Data struct {
	Schema *Schema
	Value  any
}

// Converter is Kafka's Converter: FromConnect serializes (nil for a null
// value), ToConnect deserializes.
type Converter interface {
	FromConnect(topic string, d Data) ([]byte, error)
	ToConnect(topic string, b []byte) (Data, error)
}

var converterNames = map[string]string{
	StringConverter: StringConverter, "StringConverter": StringConverter,
	JSONConverter: JSONConverter, "JsonConverter": JSONConverter,
	ByteArrayConverter: ByteArrayConverter, "ByteArrayConverter": ByteArrayConverter,
	AvroConverter: AvroConverter, "AvroConverter": AvroConverter,
}

func knownConverter(class string) bool { _, ok := converterNames[strings.TrimSpace(class)]; return ok }

func converterClasses() []string {
	return []string{StringConverter, JSONConverter, ByteArrayConverter, AvroConverter}
}

// NewConverter makes a converter of class configured with props (the keys
// after "key.converter." or "value.converter.").
func NewConverter(class string, props map[string]string, isKey bool) (Converter, error) {
	return newConverter(class, props, isKey, nil)
}

// newConverter is NewConverter with the TLS client configuration of an
// AvroConverter's https:// registry URLs (nil: the system's roots).
func newConverter(class string, props map[string]string, isKey bool, srTLS *tls.Config) (Converter, error) {
	switch converterNames[strings.TrimSpace(class)] {
	case StringConverter:
		return stringConv{}, nil
	case ByteArrayConverter:
		return byteConv{}, nil
	case JSONConverter:
		schemas := true
		if v, ok := props["schemas.enable"]; ok {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
			case "false":
				schemas = false
			default:
				return nil, fmt.Errorf("schemas.enable = %q: must be true or false", v)
			}
		}
		return jsonConv{schemas: schemas}, nil
	case AvroConverter:
		return newAvroConv(props, isKey, srTLS)
	}
	return nil, fmt.Errorf("converter class %q is not available; valid: %s", class, strings.Join(converterClasses(), ", "))
}

// text renders a value as the line a FileStreamSink writes: strings and
// bytes as they are, null as "null" (Java's println), anything else as JSON.
func text(v any) []byte {
	switch x := v.(type) {
	case nil:
		return []byte("null")
	case string:
		return []byte(x)
	case []byte:
		return x
	}
	b, err := marshalJSON(v)
	if err != nil {
		return []byte(fmt.Sprint(v))
	}
	return b
}

type stringConv struct{}

func (stringConv) FromConnect(_ string, d Data) ([]byte, error) {
	if d.Value == nil {
		return nil, nil
	}
	return text(d.Value), nil
}

func (stringConv) ToConnect(_ string, b []byte) (Data, error) {
	if b == nil {
		return Data{Schema: optString}, nil
	}
	return Data{Schema: optString, Value: string(b)}, nil
}

// byteConv is ByteArrayConverter. Unlike Kafka's it also takes a string
// value (its UTF-8 bytes), so a file source can use it.
type byteConv struct{}

func (byteConv) FromConnect(_ string, d Data) ([]byte, error) {
	switch x := d.Value.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	return nil, fmt.Errorf("ByteArrayConverter: cannot convert %T to bytes", d.Value)
}

func (byteConv) ToConnect(_ string, b []byte) (Data, error) {
	return Data{Schema: optBytes, Value: b}, nil
}

type jsonConv struct{ schemas bool }

// jsonSchema is JsonConverter's schema object; field order is Kafka's.
type jsonSchema struct {
	Type     string `json:"type"`
	Optional bool   `json:"optional"`
}

type jsonEnvelope struct {
	Schema  *jsonSchema `json:"schema"`
	Payload any         `json:"payload"`
}

// marshalJSON is json.Marshal without Go's HTML escaping, so the bytes are
// the ones Jackson writes.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (c jsonConv) FromConnect(_ string, d Data) ([]byte, error) {
	if d.Schema == nil && d.Value == nil {
		return nil, nil // Kafka writes a null record, not "null"
	}
	payload := d.Value
	if b, ok := payload.([]byte); ok {
		payload = base64.StdEncoding.EncodeToString(b) // Jackson's binary node
	}
	if !c.schemas {
		return marshalJSON(payload)
	}
	var s *jsonSchema
	if d.Schema != nil {
		s = &jsonSchema{Type: d.Schema.Type, Optional: d.Schema.Optional}
	}
	return marshalJSON(jsonEnvelope{Schema: s, Payload: payload})
}

const errJSONEnvelope = `JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`

func (c jsonConv) ToConnect(_ string, b []byte) (Data, error) {
	if b == nil {
		return Data{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Data{}, fmt.Errorf("Converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
	}
	if !c.schemas {
		return Data{Value: v}, nil
	}
	obj, ok := v.(map[string]any)
	if !ok || len(obj) != 2 {
		return Data{}, errors.New(errJSONEnvelope)
	}
	rawSchema, okS := obj["schema"]
	payload, okP := obj["payload"]
	if !okS || !okP {
		return Data{}, errors.New(errJSONEnvelope)
	}
	if rawSchema == nil {
		return Data{Value: payload}, nil
	}
	sm, ok := rawSchema.(map[string]any)
	if !ok {
		return Data{}, errors.New("Schema must be an object")
	}
	typ, _ := sm["type"].(string)
	if typ == "" {
		return Data{}, errors.New("Schema must contain 'type' field")
	}
	opt, _ := sm["optional"].(bool)
	s := &Schema{Type: typ, Optional: opt}
	if payload == nil {
		if !opt {
			return Data{}, fmt.Errorf("Invalid null value for required %s field", strings.ToUpper(typ))
		}
		return Data{Schema: s}, nil
	}
	if typ == "bytes" {
		str, ok := payload.(string)
		if !ok {
			return Data{}, fmt.Errorf("Invalid bytes field: %T", payload)
		}
		raw, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return Data{}, fmt.Errorf("Invalid bytes field: %w", err)
		}
		return Data{Schema: s, Value: raw}, nil
	}
	if typ == "string" {
		if _, ok := payload.(string); !ok {
			return Data{}, fmt.Errorf("Invalid value: a %T for a STRING field", payload)
		}
	}
	return Data{Schema: s, Value: payload}, nil
}

// avroConv is Confluent's AvroConverter for string and bytes values:
// the schema is registered under <topic>-key or <topic>-value
// (TopicNameStrategy) and the record is Confluent's wire format, a zero
// byte, the 4-byte schema id, and the Avro binary.
type avroConv struct {
	cl           *sr.Client
	isKey        bool
	autoRegister bool

	mu      sync.Mutex
	ids     map[string]int      // subject+"\x00"+schema -> id
	schemas map[int]avro.Schema // id -> parsed
	hdr     sr.ConfluentHeader
}

// avroTimeout bounds one Schema Registry call.
const avroTimeout = 15 * time.Second

func newAvroConv(props map[string]string, isKey bool, srTLS *tls.Config) (*avroConv, error) {
	urls := splitList(props["schema.registry.url"])
	if len(urls) == 0 {
		return nil, errors.New(`Missing required configuration "schema.registry.url" which has no default value.`)
	}
	opts, err := registryAuth(props, urls)
	if err != nil {
		return nil, err
	}
	if srTLS != nil {
		opts = append(opts, sr.HTTPClient(&http.Client{Timeout: avroTimeout, Transport: &http.Transport{TLSClientConfig: srTLS}}))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema.registry.url: %w", err)
	}
	auto := !strings.EqualFold(strings.TrimSpace(props["auto.register.schemas"]), "false")
	return &avroConv{cl: cl, isKey: isKey, autoRegister: auto, ids: map[string]int{}, schemas: map[int]avro.Schema{}}, nil
}

// registryAuth are the registry client's URLs and HTTP basic credentials
// as Confluent's serializers take them: basic.auth.credentials.source
// URL (the default: user:password@ in the URLs, taken out of them) or
// USER_INFO (basic.auth.user.info = user:password).
func registryAuth(props map[string]string, urls []string) ([]sr.ClientOpt, error) {
	var user, pass string
	var hasAuth bool
	switch src := strings.ToUpper(strings.TrimSpace(props["basic.auth.credentials.source"])); src {
	case "", "URL":
		for i, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil || u.User == nil {
				continue
			}
			if !hasAuth {
				user, hasAuth = u.User.Username(), true
				pass, _ = u.User.Password()
			}
			u.User = nil
			urls[i] = u.String()
		}
	case "USER_INFO":
		var ok bool
		user, pass, ok = strings.Cut(props["basic.auth.user.info"], ":")
		if !ok || user == "" {
			return nil, errors.New(`basic.auth.credentials.source = USER_INFO needs basic.auth.user.info = "user:password"`)
		}
		hasAuth = true
	default:
		return nil, fmt.Errorf("basic.auth.credentials.source = %q: valid are URL and USER_INFO", src)
	}
	opts := []sr.ClientOpt{sr.URLs(urls...)}
	if hasAuth {
		opts = append(opts, sr.BasicAuth(user, pass))
	}
	return opts, nil
}

func (c *avroConv) subject(topic string) string {
	if c.isKey {
		return topic + "-key"
	}
	return topic + "-value"
}

func (c *avroConv) FromConnect(topic string, d Data) ([]byte, error) {
	var schemaText string
	var v any
	switch x := d.Value.(type) {
	case nil:
		return nil, nil
	case string:
		schemaText, v = `"string"`, x
	case []byte:
		schemaText, v = `"bytes"`, x
	default:
		return nil, fmt.Errorf("AvroConverter: Ringtail's worker converts string and bytes values, not %T", d.Value)
	}
	subj := c.subject(topic)
	id, err := c.idFor(subj, schemaText)
	if err != nil {
		return nil, err
	}
	s, err := c.schemaByID(id, schemaText)
	if err != nil {
		return nil, err
	}
	body, err := avro.Marshal(s, v)
	if err != nil {
		return nil, fmt.Errorf("AvroConverter: %w", err)
	}
	out, err := c.hdr.AppendEncode(nil, id, nil)
	if err != nil {
		return nil, err
	}
	return append(out, body...), nil
}

func (c *avroConv) idFor(subject, schemaText string) (int, error) {
	key := subject + "\x00" + schemaText
	c.mu.Lock()
	id, ok := c.ids[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), avroTimeout)
	defer cancel()
	sch := sr.Schema{Schema: schemaText, Type: sr.TypeAvro}
	var err error
	if c.autoRegister {
		id, err = c.cl.RegisterSchema(ctx, subject, sch, -1, -1)
	} else {
		var ss sr.SubjectSchema
		ss, err = c.cl.LookupSchema(ctx, subject, sch)
		id = ss.ID
	}
	if err != nil {
		return 0, fmt.Errorf("AvroConverter: schema for subject %s: %w", subject, err)
	}
	c.mu.Lock()
	c.ids[key] = id
	c.mu.Unlock()
	return id, nil
}

// schemaByID returns the parsed schema of id, parsing text when given and
// fetching it from the registry otherwise.
func (c *avroConv) schemaByID(id int, text string) (avro.Schema, error) {
	c.mu.Lock()
	s, ok := c.schemas[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	if text == "" {
		ctx, cancel := context.WithTimeout(context.Background(), avroTimeout)
		defer cancel()
		got, err := c.cl.SchemaByID(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("AvroConverter: schema id %d: %w", id, err)
		}
		text = got.Schema
	}
	s, err := avro.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("AvroConverter: schema id %d: %w", id, err)
	}
	c.mu.Lock()
	c.schemas[id] = s
	c.mu.Unlock()
	return s, nil
}

func (c *avroConv) ToConnect(_ string, b []byte) (Data, error) {
	if b == nil {
		return Data{}, nil
	}
	id, body, err := c.hdr.DecodeID(b)
	if err != nil {
		return Data{}, fmt.Errorf("AvroConverter: not Confluent's wire format: %w", err)
	}
	s, err := c.schemaByID(id, "")
	if err != nil {
		return Data{}, err
	}
	var v any
	if err := avro.Unmarshal(s, body, &v); err != nil {
		return Data{}, fmt.Errorf("AvroConverter: schema id %d: %w", id, err)
	}
	switch s.Type() {
	case avro.String:
		return Data{Schema: stringSchema, Value: v}, nil
	case avro.Bytes:
		return Data{Schema: &Schema{Type: "bytes"}, Value: v}, nil
	}
	return Data{Value: v}, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
