// These tests prove every endpoint and error code of the REST API against
// a real Registry whose _schemas topic and writer election run on kfake
// (franz-go's in-process Kafka): registers, lookups, deletes soft and hard,
// ids, config and mode, compatibility, forwarding from a registry that is
// not the writer, and a restarted registry rebuilding its state.
package schemaregistry

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func newFake(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func startRegistry(t *testing.T, brokers []string, reg prometheus.Registerer) *Registry {
	t.Helper()
	r, err := Start(Config{Listen: "127.0.0.1:0", Brokers: brokers, Metrics: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	return r
}

type api struct {
	t   *testing.T
	url string
}

func (a api) do(method, path, body string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ok expects 200 and, when want is not "", that exact body.
func (a api) ok(method, path, body, want string) string {
	a.t.Helper()
	st, got := a.do(method, path, body)
	if st != 200 || (want != "" && got != want) {
		a.t.Fatalf("%s %s %s: %d %s, want 200 %s", method, path, body, st, got, want)
	}
	return got
}

// fails expects Confluent's error body with code (and its HTTP status).
func (a api) fails(method, path, body string, code int, msgPart string) {
	a.t.Helper()
	st, got := a.do(method, path, body)
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal([]byte(got), &e)
	status := code
	for status >= 1000 {
		status /= 10
	}
	if st != status || e.Code != code || !strings.Contains(e.Message, msgPart) {
		a.t.Fatalf("%s %s %s: %d %s, want %d with error_code %d and %q", method, path, body, st, got, status, code, msgPart)
	}
}

func body(schema string, extra ...string) string {
	b, _ := json.Marshal(schema)
	return `{"schema":` + string(b) + strings.Join(extra, "") + `}`
}

func TestRegisterLookupAndRead(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := api{t, startRegistry(t, newFake(t), reg).URL()}
	a.ok("GET", "/", "", "{}")
	a.ok("GET", "/subjects", "", "[]")
	a.ok("GET", "/schemas/types", "", `["JSON","PROTOBUF","AVRO"]`)
	a.ok("POST", "/subjects/u-value/versions", body(avroV1), `{"id":1}`)
	a.ok("POST", "/subjects/u-value/versions", body(avroV1), `{"id":1}`) // the same schema again
	a.fails("POST", "/subjects/u-value/versions", body(avroRequired), 409, "reader field email is missing in writer schema")
	a.fails("POST", "/subjects/u-value/versions", body(`{"type":"record"`), 42201, "Invalid schema")
	a.fails("POST", "/subjects/u-value/versions", body(avroV1, `,"schemaType":"XML"`), 42201, "XML")
	a.ok("POST", "/subjects/u-value/versions", body(avroOptional), `{"id":2}`)
	a.ok("POST", "/subjects/other/versions", body(avroV1), `{"id":1}`) // same schema: same id

	a.ok("GET", "/subjects", "", `["other","u-value"]`)
	a.ok("GET", "/subjects?subjectPrefix=u-", "", `["u-value"]`)
	a.ok("GET", "/subjects/u-value/versions", "", `[1,2]`)
	a.fails("GET", "/subjects/nope/versions", "", 40401, "Subject 'nope' not found")
	a.ok("GET", "/subjects/u-value/versions/1", "", `{"subject":"u-value","version":1,"id":1,"schema":`+mustQuote(avroV1)+`}`)
	a.ok("GET", "/subjects/u-value/versions/latest", "", `{"subject":"u-value","version":2,"id":2,"schema":`+mustQuote(avroOptional)+`}`)
	a.ok("GET", "/subjects/u-value/versions/2/schema", "", avroOptional)
	a.fails("GET", "/subjects/u-value/versions/3", "", 40402, "Version 3 not found")
	a.fails("GET", "/subjects/u-value/versions/abc", "", 42202, "not a valid version")
	a.fails("GET", "/subjects/u-value/versions/0", "", 42202, "not a valid version")
	a.fails("GET", "/subjects/nope/versions/1", "", 40401, "nope")

	a.ok("POST", "/subjects/u-value", body(avroV1), `{"subject":"u-value","version":1,"id":1,"schema":`+mustQuote(avroV1)+`}`)
	a.fails("POST", "/subjects/u-value", body(avroRemoved), 40403, "Schema")
	a.fails("POST", "/subjects/nope", body(avroV1), 40401, "nope")

	a.ok("GET", "/schemas/ids/2", "", `{"schema":`+mustQuote(avroOptional)+`}`)
	a.ok("GET", "/schemas/ids/2/schema", "", avroOptional)
	a.ok("GET", "/schemas/ids/1/versions", "", `[{"subject":"other","version":1},{"subject":"u-value","version":1}]`)
	a.ok("GET", "/schemas/ids/1/subjects", "", `["other","u-value"]`)
	a.ok("GET", "/schemas/ids/1?subject=other", "", "")
	a.ok("GET", "/schemas/ids/1?subject=zzz", "", "")
	a.fails("GET", "/schemas/ids/99", "", 40403, "Schema 99 not found")
	a.fails("GET", "/schemas/ids/x/schema", "", 40403, "")
	if got := a.ok("GET", "/schemas?latestOnly=true", "", ""); strings.Count(got, `"subject"`) != 2 {
		t.Fatalf("/schemas?latestOnly: %s", got)
	}

	// Protobuf and JSON Schema, with a reference.
	a.ok("POST", "/subjects/dep/versions", body(`syntax = "proto3"; package d; message D { int32 x = 1; }`, `,"schemaType":"PROTOBUF"`), `{"id":3}`)
	a.ok("POST", "/subjects/p-value/versions", body(`syntax = "proto3"; import "dep.proto"; message M { d.D d = 1; }`,
		`,"schemaType":"PROTOBUF","references":[{"name":"dep.proto","subject":"dep","version":1}]`), `{"id":4}`)
	a.ok("GET", "/subjects/dep/versions/1/referencedby", "", `[4]`)
	a.fails("POST", "/subjects/p2/versions", body(`syntax = "proto3"; import "dep.proto"; message M { d.D d = 1; }`,
		`,"schemaType":"PROTOBUF","references":[{"name":"dep.proto","subject":"dep","version":7}]`), 42201, "does not exist")
	a.fails("POST", "/subjects/p-value/versions", body(`syntax = "proto3"; message M { string d = 1; }`, `,"schemaType":"PROTOBUF"`), 409, "FIELD_NAMED_TYPE_CHANGED")
	a.ok("POST", "/subjects/j-value/versions", body(`{"type":"object","properties":{"a":{"type":"string"}}}`, `,"schemaType":"JSON"`), `{"id":5}`)
	a.fails("POST", "/subjects/j-value/versions", body(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`, `,"schemaType":"JSON"`), 409, "REQUIRED_ATTRIBUTE_ADDED")
	a.fails("POST", "/subjects/j-value/versions", body(`{"type":7}`, `,"schemaType":"JSON"`), 42201, "Invalid schema")
	a.ok("GET", "/schemas/ids/5", "", `{"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}"}`)

	// A wrong content type.
	req, _ := http.NewRequest("POST", a.url+"/subjects/x/versions", strings.NewReader(body(avroV1)))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 415 {
		t.Fatalf("text/plain: %v %v", resp, err)
	}
	resp.Body.Close()

	// The requests are counted by endpoint and status.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "ringtail_schema_registry_requests_total" && labels(m.GetLabel()) == "POST /subjects/{subject}/versions 409" {
				found = m.GetCounter().GetValue() >= 1
			}
		}
	}
	if !found {
		t.Fatal("no ringtail_schema_registry_requests_total for the 409")
	}
}

func labels(ls []*dto.LabelPair) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.GetValue())
	}
	return strings.Join(s, " ")
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestDeletes(t *testing.T) {
	a := api{t, startRegistry(t, newFake(t), nil).URL()}
	a.ok("POST", "/subjects/s/versions", body(avroV1), `{"id":1}`)
	a.ok("POST", "/subjects/s/versions", body(avroOptional), `{"id":2}`)
	a.ok("POST", "/subjects/ref/versions", body(`{"type":"record","name":"R","fields":[{"name":"u","type":"User"}]}`,
		`,"references":[{"name":"User","subject":"s","version":2}]`), `{"id":3}`)

	a.fails("DELETE", "/subjects/s/versions/2", "", 42206, "references exist")
	a.fails("DELETE", "/subjects/s/versions/1?permanent=true", "", 40407, "not deleted first")
	a.ok("DELETE", "/subjects/s/versions/1", "", "1")
	a.fails("DELETE", "/subjects/s/versions/1", "", 40406, "soft deleted")
	a.ok("GET", "/subjects/s/versions", "", "[2]")
	a.ok("GET", "/subjects/s/versions?deleted=true", "", "[1,2]")
	a.fails("GET", "/subjects/s/versions/1", "", 40402, "")
	a.ok("GET", "/subjects/s/versions/1?deleted=true", "", "")
	a.ok("DELETE", "/subjects/s/versions/1?permanent=true", "", "1")
	a.fails("GET", "/subjects/s/versions/1?deleted=true", "", 40402, "")
	a.fails("GET", "/schemas/ids/1", "", 40403, "")
	a.fails("DELETE", "/subjects/s/versions/5", "", 40402, "")
	a.fails("DELETE", "/subjects/s/versions/x", "", 42202, "")
	a.fails("DELETE", "/subjects/s", "", 42206, "references exist")

	a.ok("DELETE", "/subjects/ref", "", "[1]")
	a.fails("DELETE", "/subjects/ref", "", 40404, "soft deleted")
	a.ok("GET", "/subjects", "", `["s"]`)
	a.ok("GET", "/subjects?deleted=true", "", `["ref","s"]`)
	a.ok("DELETE", "/subjects/s", "", "[2]")
	a.fails("POST", "/subjects/s", body(avroOptional), 40401, "")
	a.ok("POST", "/subjects/s?deleted=true", body(avroOptional), "")
	a.ok("DELETE", "/subjects/ref?permanent=true", "", "[1]")
	a.ok("DELETE", "/subjects/s?permanent=true", "", "[2]")
	a.fails("DELETE", "/subjects/s", "", 40401, "")
	a.ok("GET", "/subjects?deleted=true", "", `[]`)
	// A re-registered subject starts over; the id counter does not.
	a.ok("POST", "/subjects/s/versions", body(avroRemoved), `{"id":4}`)
	a.ok("GET", "/subjects/s/versions", "", "[1]")
}

func TestConfigModeAndCompatibility(t *testing.T) {
	a := api{t, startRegistry(t, newFake(t), nil).URL()}
	a.ok("GET", "/config", "", `{"compatibilityLevel":"BACKWARD"}`)
	a.fails("PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 42203, "Invalid compatibility level")
	a.ok("PUT", "/config", `{"compatibility":"full"}`, `{"compatibility":"FULL"}`)
	a.ok("GET", "/config", "", `{"compatibilityLevel":"FULL"}`)
	a.fails("GET", "/config/s", "", 40408, "does not have subject-level compatibility")
	a.ok("GET", "/config/s?defaultToGlobal=true", "", `{"compatibilityLevel":"FULL"}`)
	a.ok("PUT", "/config/s", `{"compatibility":"NONE"}`, `{"compatibility":"NONE"}`)
	a.ok("GET", "/config/s", "", `{"compatibilityLevel":"NONE"}`)

	a.ok("POST", "/subjects/s/versions", body(avroV1), `{"id":1}`)
	a.ok("POST", "/subjects/s/versions", body(`"string"`), `{"id":2}`) // NONE
	a.ok("DELETE", "/config/s", "", `{"compatibilityLevel":"NONE"}`)
	a.fails("DELETE", "/config/s", "", 40408, "")
	a.fails("DELETE", "/config/nope", "", 40401, "")
	a.ok("DELETE", "/config", "", `{"compatibilityLevel":"FULL"}`)
	a.ok("GET", "/config", "", `{"compatibilityLevel":"BACKWARD"}`)

	// The compatibility endpoint, against the latest or one version.
	a.ok("POST", "/compatibility/subjects/s/versions/latest", body(`"string"`), `{"is_compatible":true}`)
	a.ok("POST", "/compatibility/subjects/s/versions/latest?verbose=true", body(`"int"`), "")
	a.ok("POST", "/compatibility/subjects/s/versions/1", body(avroOptional), `{"is_compatible":true}`)
	got := a.ok("POST", "/compatibility/subjects/s/versions/1?verbose=true", body(avroRequired), "")
	if !strings.Contains(got, `"is_compatible":false`) || !strings.Contains(got, "email") {
		t.Fatalf("verbose incompatible: %s", got)
	}
	a.fails("POST", "/compatibility/subjects/s/versions/9", body(avroV1), 40402, "")
	a.fails("POST", "/compatibility/subjects/s/versions/x", body(avroV1), 42202, "")
	a.fails("POST", "/compatibility/subjects/nope/versions/1", body(avroV1), 40401, "")
	a.fails("POST", "/compatibility/subjects/s/versions/1", body("{"), 42201, "")

	// Modes: READONLY refuses writes of schemas; IMPORT takes ids.
	a.ok("GET", "/mode", "", `{"mode":"READWRITE"}`)
	a.fails("PUT", "/mode", `{"mode":"SOMETIMES"}`, 42204, "Invalid mode")
	a.ok("PUT", "/mode", `{"mode":"READONLY"}`, `{"mode":"READONLY"}`)
	a.fails("POST", "/subjects/s/versions", body(avroOptional), 42205, "read-only")
	a.fails("DELETE", "/subjects/s/versions/1", "", 42205, "read-only")
	a.fails("PUT", "/mode", `{"mode":"IMPORT"}`, 42205, "Cannot import")
	a.ok("PUT", "/mode?force=true", `{"mode":"IMPORT"}`, `{"mode":"IMPORT"}`)
	a.ok("POST", "/subjects/imp/versions", body(avroV1, `,"id":100,"version":5`), `{"id":100}`)
	a.fails("POST", "/subjects/imp2/versions", body(avroRemoved, `,"id":2`), 42207, "different schema")
	a.fails("POST", "/subjects/imp2/versions", body(avroRemoved, `,"id":100`), 42207, "different schema")
	a.ok("POST", "/subjects/imp2/versions", body(avroRemoved, `,"id":200,"version":7`), `{"id":200}`)
	a.ok("GET", "/subjects/imp2/versions", "", "[7]")
	a.ok("PUT", "/mode/imp2", `{"mode":"READWRITE"}`, `{"mode":"READWRITE"}`)
	a.ok("GET", "/mode/imp2", "", `{"mode":"READWRITE"}`)
	a.fails("GET", "/mode/other", "", 40409, "")
	a.ok("PUT", "/mode", `{"mode":"READWRITE"}`, `{"mode":"READWRITE"}`)
	a.fails("POST", "/subjects/s/versions", body(avroOptional, `,"id":500`), 42205, "IMPORT mode")
	a.ok("POST", "/subjects/fresh/versions", body(avroOptional), `{"id":201}`) // max id + 1
}

// A second registry is not the writer: its writes are forwarded, and a
// registry started afterwards rebuilds the same state from _schemas.
func TestForwardAndRebuild(t *testing.T) {
	brokers := newFake(t)
	first := startRegistry(t, brokers, nil)
	a := api{t, first.URL()}
	a.ok("POST", "/subjects/s/versions", body(avroV1), `{"id":1}`)
	second := startRegistry(t, brokers, nil)
	b := api{t, second.URL()}
	b.ok("GET", "/subjects/s/versions/1", "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url, self, err := second.writer(ctx)
	if err != nil || self || url != first.URL() {
		t.Fatalf("second registry's writer: %q self=%v err=%v, want %s", url, self, err, first.URL())
	}
	b.ok("POST", "/subjects/s/versions", body(avroOptional), `{"id":2}`) // forwarded
	b.ok("GET", "/subjects/s/versions", "", "[1,2]")                     // read after write here
	b.fails("POST", "/subjects/s/versions", body(avroRequired), 409, "incompatible")
	b.ok("PUT", "/config/s", `{"compatibility":"FULL"}`, "")
	a.ok("GET", "/config/s", "", `{"compatibilityLevel":"FULL"}`)
	third := startRegistry(t, brokers, nil)
	c := api{t, third.URL()}
	c.ok("GET", "/subjects/s/versions", "", "[1,2]")
	c.ok("GET", "/schemas/ids/2", "", `{"schema":`+mustQuote(avroOptional)+`}`)
	c.ok("GET", "/config/s", "", `{"compatibilityLevel":"FULL"}`)
}

// ?normalize=true stores and compares a normalized form: the same Avro
// schema spelled with another key order and whitespace is the same schema.
func TestNormalize(t *testing.T) {
	a := api{t, startRegistry(t, newFake(t), nil).URL()}
	spelled := `{ "name": "User", "type": "record",
		"fields": [ {"type": "string", "name": "name"}, {"name": "age", "type": "int"} ] }`
	a.ok("POST", "/subjects/n/versions?normalize=true", body(avroV1), `{"id":1}`)
	a.ok("POST", "/subjects/n/versions?normalize=true", body(spelled), `{"id":1}`)
	a.ok("GET", "/subjects/n/versions", "", "[1]")
	a.ok("GET", "/subjects/n/versions/1/schema", "", `{"name":"User","type":"record","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}`)
	a.ok("POST", "/subjects/n?normalize=true", body(spelled), "")
	a.fails("POST", "/subjects/n", body(spelled), 40403, "")
	// Without normalize the other spelling is another schema.
	a.ok("POST", "/subjects/n/versions", body(spelled), `{"id":2}`)
	jsonA := `{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}}}`
	jsonB := `{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}`
	a.ok("POST", "/subjects/j/versions?normalize=true", body(jsonA, `,"schemaType":"JSON"`), `{"id":3}`)
	a.ok("POST", "/subjects/j/versions?normalize=true", body(jsonB, `,"schemaType":"JSON"`), `{"id":3}`)
}
