package connect

// The converters write Kafka's bytes (JsonConverter's envelope, Confluent's
// Avro wire format) and read them back.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestJSONConverter(t *testing.T) {
	withSchema, _ := NewConverter(JSONConverter, map[string]string{"schemas.enable": "true"}, false)
	plain, _ := NewConverter("JsonConverter", map[string]string{"schemas.enable": "false"}, false)
	line := Data{Schema: stringSchema, Value: `say "hi" <&>`}
	b, err := withSchema.FromConnect("t", line)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"schema":{"type":"string","optional":false},"payload":"say \"hi\" <&>"}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	back, err := withSchema.ToConnect("t", b)
	if err != nil || back.Value != line.Value || back.Schema.Type != "string" || back.Schema.Optional {
		t.Fatalf("back: %+v %v", back, err)
	}
	if b, _ := plain.FromConnect("t", line); string(b) != `"say \"hi\" <&>"` {
		t.Fatalf("schemaless: %s", b)
	}
	if b, _ := withSchema.FromConnect("t", Data{}); b != nil {
		t.Fatalf("null key: %q, want a null record", b)
	}
	// Kafka's error for plain JSON given to schemas.enable=true.
	if _, err := withSchema.ToConnect("t", []byte(`{"a":1}`)); err == nil || !strings.Contains(err.Error(), `requires "schema" and "payload"`) {
		t.Fatalf("plain JSON with schemas: %v", err)
	}
	if _, err := withSchema.ToConnect("t", []byte(`{"schema":{"type":"string","optional":false},"payload":null}`)); err == nil {
		t.Fatal("null payload of a required string: want an error")
	}
	d, err := withSchema.ToConnect("t", []byte(`{"schema":{"type":"bytes","optional":false},"payload":"AQI="}`))
	if err != nil || !bytes.Equal(d.Value.([]byte), []byte{1, 2}) {
		t.Fatalf("bytes payload: %+v %v", d, err)
	}
	d, err = plain.ToConnect("t", []byte(`{"a":[1,"x"]}`))
	if err != nil || string(text(d.Value)) != `{"a":[1,"x"]}` {
		t.Fatalf("schemaless object: %+v %v -> %s", d, err, text(d.Value))
	}
	if _, err := NewConverter(JSONConverter, map[string]string{"schemas.enable": "yes"}, false); err == nil {
		t.Fatal("schemas.enable=yes: want an error")
	}
}

func TestStringAndByteArrayConverters(t *testing.T) {
	s, _ := NewConverter(StringConverter, nil, false)
	if b, _ := s.FromConnect("t", Data{Schema: stringSchema, Value: "héllo"}); string(b) != "héllo" {
		t.Fatalf("string: %q", b)
	}
	if d, _ := s.ToConnect("t", []byte("x")); d.Value != "x" {
		t.Fatalf("string back: %+v", d)
	}
	ba, _ := NewConverter("ByteArrayConverter", nil, true)
	if b, _ := ba.FromConnect("t", Data{Value: []byte{0, 1}}); !bytes.Equal(b, []byte{0, 1}) {
		t.Fatalf("bytes: %v", b)
	}
	if b, _ := ba.FromConnect("t", Data{Schema: stringSchema, Value: "ab"}); string(b) != "ab" {
		t.Fatalf("a string through ByteArrayConverter: %q", b)
	}
	if _, err := NewConverter("com.example.Nope", nil, false); err == nil {
		t.Fatal("unknown converter: want an error")
	}
}

// fakeRegistry is the two Schema Registry calls the Avro converter makes.
func fakeRegistry(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	schemas := map[int]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/versions"):
			var body struct{ Schema string }
			_ = json.NewDecoder(r.Body).Decode(&body)
			id := 0
			for i, s := range schemas {
				if s == body.Schema {
					id = i
				}
			}
			if id == 0 {
				id = len(schemas) + 7
				schemas[id] = body.Schema
			}
			json.NewEncoder(w).Encode(map[string]int{"id": id})
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/schemas/ids/"):
			id, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/schemas/ids/"))
			if schemas[id] == "" {
				w.WriteHeader(404)
				w.Write([]byte(`{"error_code":40403,"message":"Schema not found"}`))
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"schema": schemas[id]})
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"error_code":404,"message":"not in the fake"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAvroConverter(t *testing.T) {
	srv := fakeRegistry(t)
	if _, err := NewConverter(AvroConverter, nil, false); err == nil || !strings.Contains(err.Error(), "schema.registry.url") {
		t.Fatalf("no schema.registry.url: %v", err)
	}
	c, err := NewConverter(AvroConverter, map[string]string{"schema.registry.url": srv.URL}, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.FromConnect("connect-test", Data{Schema: stringSchema, Value: "a line"})
	if err != nil {
		t.Fatal(err)
	}
	// Confluent's wire format: magic 0, big-endian id, then Avro: a
	// zig-zag varint length (6 -> 12) and the bytes.
	if b[0] != 0 || binary.BigEndian.Uint32(b[1:5]) != 7 || !bytes.Equal(b[5:], append([]byte{12}, "a line"...)) {
		t.Fatalf("wire bytes %v", b)
	}
	// A fresh converter reads it by fetching the schema by id.
	c2, _ := NewConverter(AvroConverter, map[string]string{"schema.registry.url": srv.URL}, false)
	d, err := c2.ToConnect("connect-test", b)
	if err != nil || d.Value != "a line" {
		t.Fatalf("back: %+v %v", d, err)
	}
	if _, err := c2.ToConnect("connect-test", []byte{1, 2}); err == nil {
		t.Fatal("not the wire format: want an error")
	}
	if _, err := c.FromConnect("t", Data{Value: map[string]any{"a": 1}}); err == nil {
		t.Fatal("a map: want an error naming what is supported")
	}
}

// TestAvroConverterRegistryAuth: the converter reaches a registry that
// wants HTTP basic credentials over TLS, with Confluent's
// basic.auth.credentials.source USER_INFO or URL, and the worker's TLS
// configuration.
func TestAvroConverterRegistryAuth(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "pw:x" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error_code":40101,"message":"Unauthorized"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]int{"id": 3})
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srTLS := &tls.Config{RootCAs: pool}
	withUser := strings.Replace(srv.URL, "https://", "https://alice:pw%3Ax@", 1)
	for _, c := range []struct {
		name  string
		props map[string]string
		ok    bool
	}{
		{"USER_INFO", map[string]string{"schema.registry.url": srv.URL, "basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": "alice:pw:x"}, true},
		{"URL", map[string]string{"schema.registry.url": withUser}, true},
		{"URL named", map[string]string{"schema.registry.url": withUser, "basic.auth.credentials.source": "url"}, true},
		{"no credentials", map[string]string{"schema.registry.url": srv.URL}, false},
		{"wrong password", map[string]string{"schema.registry.url": srv.URL, "basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": "alice:nope"}, false},
	} {
		conv, err := newConverter(AvroConverter, c.props, false, srTLS)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, err := conv.FromConnect("t", Data{Schema: stringSchema, Value: "v"})
		if c.ok != (err == nil) || (err == nil && binary.BigEndian.Uint32(b[1:5]) != 3) {
			t.Errorf("%s: %v %v, want ok=%v", c.name, b, err, c.ok)
		}
	}
	for _, props := range []map[string]string{
		{"schema.registry.url": srv.URL, "basic.auth.credentials.source": "USER_INFO"},
		{"schema.registry.url": srv.URL, "basic.auth.credentials.source": "SASL_INHERIT"},
	} {
		if _, err := NewConverter(AvroConverter, props, false); err == nil || !strings.Contains(err.Error(), "basic.auth") {
			t.Errorf("%v: %v, want an error naming the basic.auth key", props, err)
		}
	}
}
