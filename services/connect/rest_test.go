package connect

// The REST API's validation answers: Kafka's shapes for create, validate
// and errors, with per-field errors and error_count.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func restServer(t *testing.T) *httptest.Server {
	h := newStandalone("127.0.0.1:8083", "cluster", discardLogger())
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(newREST(h, reg, newMetrics(reg), discardLogger()))
	t.Cleanup(srv.Close)
	return srv
}

type validation struct {
	Code       int    `json:"error_code"`
	Message    string `json:"message"`
	Name       string `json:"name"`
	ErrorCount int    `json:"error_count"`
	Groups     []string
	Configs    []ConfigInfo `json:"configs"`
}

func (v validation) errs() map[string][]string {
	out := map[string][]string{}
	for _, c := range v.Configs {
		if len(c.Value.Errors) > 0 {
			out[c.Definition.Name] = c.Value.Errors
		}
	}
	return out
}

func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 204 && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

func TestRESTValidate(t *testing.T) {
	srv := restServer(t)
	u := srv.URL + "/connector-plugins/"

	var v validation
	if st := call(t, "PUT", u+"FileStreamSinkConnector/config/validate", `{"name":"s","topics":"a","topics.regex":"b.*","tasks.max":"x"}`, &v); st != 200 {
		t.Fatalf("status %d", st)
	}
	e := v.errs()
	if v.Name != fileSinkClass || v.ErrorCount != 3 || len(e["topics"]) != 1 || len(e["topics.regex"]) != 1 || len(e["tasks.max"]) != 1 {
		t.Fatalf("sink validation: %+v", e)
	}
	if !strings.Contains(e["topics"][0], "mutually exclusive") || !strings.Contains(e["tasks.max"][0], "INT") {
		t.Fatalf("messages: %v", e)
	}
	for _, c := range v.Configs {
		if c.Definition.Name == "file" && (c.Definition.Group != "Common" || c.Definition.Importance != "HIGH" || c.Value.Value == nil) {
			t.Fatalf("file's definition: %+v", c)
		}
	}

	v = validation{}
	if st := call(t, "PUT", u+fileSourceClass+"/config/validate", `{"name":"s","topic":"t","tasks.max":1,"batch.size":null}`, &v); st != 200 || v.ErrorCount != 0 {
		t.Fatalf("a good source: %d %+v", st, v.errs())
	}
	v = validation{}
	if st := call(t, "PUT", u+"com.example.Nope/config/validate", `{"name":"s"}`, &v); st != 400 || v.Code != 400 || v.ErrorCount != 1 ||
		!strings.Contains(v.errs()["connector.class"][0], "could not be found") {
		t.Fatalf("unknown plugin: %d %+v", st, v)
	}
	v = validation{}
	if st := call(t, "PUT", u+"FileStreamSource/config/validate", `{"connector.class":"FileStreamSink"}`, &v); st != 400 || !strings.Contains(v.Message, "does not match") {
		t.Fatalf("class mismatch: %d %+v", st, v)
	}
	v = validation{}
	if st := call(t, "PUT", u+"FileStreamSource/config/validate", `[1]`, &v); st != 400 || v.Code != 400 {
		t.Fatalf("not an object: %d %+v", st, v)
	}
}

func TestRESTCreateInvalid(t *testing.T) {
	srv := restServer(t)
	var v validation
	if st := call(t, "POST", srv.URL+"/connectors", `{"name":"x","config":{"topic":"t"}}`, &v); st != 400 || v.Code != 400 ||
		v.ErrorCount != 1 || !strings.Contains(v.errs()["connector.class"][0], `Missing required configuration "connector.class"`) ||
		!strings.Contains(v.Message, "contains the following 1 error(s)") {
		t.Fatalf("no connector.class: %d %+v", st, v)
	}
	v = validation{}
	if st := call(t, "POST", srv.URL+"/connectors", `{"name":"x","config":{"connector.class":"FileStreamSource","transforms":"a"}}`, &v); st != 400 ||
		v.ErrorCount != 2 || len(v.errs()["topic"]) != 1 || len(v.errs()["transforms"]) != 1 {
		t.Fatalf("no topic, transforms: %d %+v", st, v.errs())
	}
	v = validation{}
	if st := call(t, "PUT", srv.URL+"/connectors/x/config", `{"name":"y","connector.class":"FileStreamSource","topic":"t"}`, &v); st != 400 ||
		!strings.Contains(v.Message, "doesn't match") {
		t.Fatalf("name mismatch: %d %+v", st, v)
	}
	v = validation{}
	if st := call(t, "POST", srv.URL+"/connectors", `{"config":{}}`, &v); st != 400 || v.Message != "Connector name is required" {
		t.Fatalf("no name: %d %+v", st, v)
	}
	for _, p := range []string{"/connectors/nope", "/connectors/nope/status", "/connectors/nope/tasks", "/connectors/nope/tasks/0/status"} {
		v = validation{}
		if st := call(t, "GET", srv.URL+p, "", &v); st != 404 || v.Code != 404 || !strings.Contains(v.Message, "not found") {
			t.Fatalf("GET %s: %d %+v", p, st, v)
		}
	}
	v = validation{}
	if st := call(t, "GET", srv.URL+"/no/such/path", "", &v); st != 404 || v.Code != 404 {
		t.Fatalf("unknown path: %d %+v", st, v)
	}
	var names []string
	if st := call(t, "GET", srv.URL+"/connectors", "", &names); st != 200 || names == nil || len(names) != 0 {
		t.Fatalf("GET /connectors: %d %v", st, names)
	}
	var plugins []pluginInfo
	if st := call(t, "GET", srv.URL+"/connector-plugins", "", &plugins); st != 200 || len(plugins) != 2 ||
		plugins[0].Class != fileSinkClass || plugins[1].Type != TypeSource {
		t.Fatalf("plugins: %d %+v", st, plugins)
	}
}
