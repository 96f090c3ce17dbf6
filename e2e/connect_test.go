package e2e

// The built-in Kafka Connect worker (`ringtail connect standalone`) runs
// Kafka's quickstart "import/export data with Kafka Connect" with Kafka's
// own property files: lines appended to test.txt arrive in test.sink.txt in
// order and exactly once, even when the worker is killed with SIGKILL while
// lines are being appended and started again; and the worker REST API
// lists, pauses, resumes, restarts, deletes and creates connectors (one
// pair with Confluent's AvroConverter against the node's Schema Registry)
// and answers bad configs with per-field errors, as Kafka Connect's does.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// Kafka's config/connect-standalone.properties (3.9), comments included;
// %s is bootstrap.servers, then offset.storage.file.filename. The REST
// listener line is appended.
const connectStandaloneProps = `# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.  See the NOTICE file distributed with
# this work for additional information regarding copyright ownership.

# These are defaults. This file just demonstrates how to override some settings.
bootstrap.servers=%s

# The converters specify the format of data in Kafka and how to translate it into Connect data. Every Connect user will
# need to configure these based on the format they want their data in when loaded from or stored into Kafka
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
# Converter-specific settings can be passed in by prefixing the Converter's setting with the converter we want to apply
# it to
key.converter.schemas.enable=true
value.converter.schemas.enable=true

offset.storage.file.filename=%s
# Flush much faster than normal, which is useful for testing/debugging
offset.flush.interval.ms=10000

# Set to a list of filesystem paths separated by commas (,) to enable class loading isolation for plugins
# (connectors, converters, transformations). The list should consist of top level directories that include 
# any combination of: 
# a) directories immediately containing jars with plugins and their dependencies
# b) uber-jars with plugins and their dependencies
# c) directories immediately containing the package directory structure of classes of plugins and their dependencies
# Note: symlinks will be followed to discover dependencies or plugins.
# Examples: 
# plugin.path=/usr/local/share/java,/usr/local/share/kafka/plugins,/opt/connectors,
plugin.path=libs/connect-file-3.9.0.jar
`

// Kafka's config/connect-file-source.properties and connect-file-sink.properties.
const connectFileSourceProps = `# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.

name=local-file-source
connector.class=FileStreamSource
tasks.max=1
file=test.txt
topic=connect-test
`

const connectFileSinkProps = `# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.

name=local-file-sink
connector.class=FileStreamSink
tasks.max=1
file=test.sink.txt
topics=connect-test
`

// connectWorker is one `ringtail connect standalone` child process, run in
// dir (so test.txt and test.sink.txt are relative to it, as in Kafka's
// quickstart).
type connectWorker struct {
	t      *testing.T
	dir    string
	url    string
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

func startConnectWorker(t *testing.T, node *testkit.Node) *connectWorker {
	t.Helper()
	dir := t.TempDir()
	port := testkit.FreePort(t)
	worker := fmt.Sprintf(connectStandaloneProps, node.Addr(), filepath.Join(dir, "connect.offsets")) +
		fmt.Sprintf("listeners=http://127.0.0.1:%d\n", port)
	for name, body := range map[string]string{"connect-standalone.properties": worker,
		"connect-file-source.properties": connectFileSourceProps, "connect-file-sink.properties": connectFileSinkProps} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log, err := os.Create(filepath.Join(dir, "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	w := &connectWorker{t: t, dir: dir, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: log,
		args: []string{"connect", "standalone", "connect-standalone.properties", "connect-file-source.properties", "connect-file-sink.properties"}}
	t.Cleanup(func() {
		w.kill()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("connect worker log:\n%s", tailString(string(b), 6000))
		}
	})
	w.start()
	return w
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func (w *connectWorker) start() {
	w.t.Helper()
	fmt.Fprintf(w.log, "=== start\n")
	cmd := exec.Command(testkit.Binary(w.t), w.args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = w.dir, w.log, w.log
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.cmd, w.exited = cmd, make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(cmd, w.exited)
	testkit.WaitFor(w.t, 30*time.Second, "the connect worker's REST API", func() bool {
		select {
		case <-w.exited:
			w.t.Fatalf("connect worker exited during start: %v", w.cmd.ProcessState)
		default:
		}
		resp, err := http.Get(w.url + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// kill sends SIGKILL to the worker's PID and waits for it.
func (w *connectWorker) kill() {
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Kill()
	<-w.exited
	w.cmd = nil
}

// stop sends SIGTERM and wants a clean exit within 30 s.
func (w *connectWorker) stop() {
	w.t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		w.t.Fatal("connect worker did not exit within 30s of SIGTERM")
	}
	if st := w.cmd.ProcessState; !st.Success() {
		w.t.Fatalf("connect worker exited with %v after SIGTERM", st)
	}
	w.cmd = nil
}

// appendLines appends lines to a file in dir, one write per line.
func (w *connectWorker) appendLines(name string, lines ...string) {
	w.t.Helper()
	f, err := os.OpenFile(filepath.Join(w.dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *connectWorker) sinkLines() []string { return w.fileLines("test.sink.txt") }

func (w *connectWorker) fileLines(name string) []string {
	b, _ := os.ReadFile(filepath.Join(w.dir, name))
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitSinkHas waits until the sink file's last line is last.
func (w *connectWorker) waitSinkHas(last string, timeout time.Duration) {
	w.t.Helper()
	testkit.WaitFor(w.t, timeout, "line "+last+" in test.sink.txt", func() bool {
		l := w.sinkLines()
		return len(l) > 0 && l[len(l)-1] == last
	})
}

func TestConnectQuickstartExactlyOnce(t *testing.T) {
	t.Parallel()
	node := testkit.StartNode(t, testkit.Options{})
	w := startConnectWorker(t, node)
	var want []string
	burst := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s-%03d", prefix, i))
		}
		want = append(want, out...)
		return out
	}
	// Two bursts while the worker runs.
	w.appendLines("test.txt", burst("first", 20)...)
	w.waitSinkHas(want[len(want)-1], 20*time.Second)
	w.appendLines("test.txt", burst("second", 30)...)
	w.waitSinkHas(want[len(want)-1], 20*time.Second)

	// Kill the worker twice while lines are being appended, a line at a
	// time: the appends go on while it is down and after it is started
	// again.
	const maxLines = 3000
	for round := range 2 {
		before := len(w.sinkLines())
		stop := make(chan struct{})
		appended := make(chan []string, 1)
		go func() {
			var lines []string
			for i := 0; i < maxLines; i++ {
				select {
				case <-stop:
					appended <- lines
					return
				default:
				}
				l := fmt.Sprintf("kill%d-%04d", round, i)
				w.appendLines("test.txt", l)
				lines = append(lines, l)
				time.Sleep(2 * time.Millisecond) // pace the appends so the kill lands among them
			}
			appended <- lines
		}()
		testkit.WaitFor(t, 20*time.Second, "the sink to move during the appends", func() bool { return len(w.sinkLines()) >= before+10 })
		w.kill()
		w.start()
		close(stop)
		lines := <-appended
		if len(lines) == maxLines {
			t.Fatalf("round %d: all %d lines were appended before the kill and restart", round, maxLines)
		}
		want = append(want, lines...)
	}
	w.appendLines("test.txt", burst("after", 25)...)
	w.waitSinkHas(want[len(want)-1], 30*time.Second)

	got := w.sinkLines()
	if len(got) != len(want) {
		seen := map[string]int{}
		for _, l := range got {
			seen[l]++
		}
		var dups, missing []string
		for _, l := range want {
			if seen[l] > 1 {
				dups = append(dups, l)
			}
			if seen[l] == 0 {
				missing = append(missing, l)
			}
		}
		t.Fatalf("test.sink.txt has %d lines, want %d; duplicated: %v; missing: %v", len(got), len(want), dups, missing)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("test.sink.txt line %d is %q, want %q (lines out of order)", i+1, got[i], want[i])
		}
	}
	// The informational offsets file and the sidecar are there.
	for _, f := range []string{"connect.offsets", "test.sink.txt.offsets"} {
		if _, err := os.Stat(filepath.Join(w.dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	w.stop()
}

// connectREST sends a request and decodes a JSON answer into out (when
// non-nil), returning the status.
func connectREST(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

type connectStatus struct {
	Name      string `json:"name"`
	Connector struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"connector"`
	Tasks []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"tasks"`
	Type string `json:"type"`
}

type connectErr struct {
	Code       int    `json:"error_code"`
	Message    string `json:"message"`
	ErrorCount int    `json:"error_count"`
	Configs    []struct {
		Value struct {
			Name   string   `json:"name"`
			Errors []string `json:"errors"`
		} `json:"value"`
	} `json:"configs"`
}

// fieldErrors maps each field with errors to its messages.
func (e connectErr) fieldErrors() map[string][]string {
	out := map[string][]string{}
	for _, c := range e.Configs {
		if len(c.Value.Errors) > 0 {
			out[c.Value.Name] = c.Value.Errors
		}
	}
	return out
}

func (w *connectWorker) waitState(name, state string) {
	w.t.Helper()
	testkit.WaitFor(w.t, 20*time.Second, name+" "+state, func() bool {
		var st connectStatus
		if connectREST(w.t, "GET", w.url+"/connectors/"+name+"/status", nil, &st) != 200 {
			return false
		}
		if st.Connector.State != state || len(st.Tasks) == 0 {
			return false
		}
		for _, tk := range st.Tasks {
			if tk.State != state || tk.WorkerID == "" {
				return false
			}
		}
		return true
	})
}

func TestConnectRESTLifecycle(t *testing.T) {
	t.Parallel()
	node := testkit.StartNode(t, testkit.Options{SchemaRegistry: true})
	w := startConnectWorker(t, node)
	u := w.url

	var root map[string]string
	if st := connectREST(t, "GET", u+"/", nil, &root); st != 200 || root["version"] == "" || root["kafka_cluster_id"] == "" {
		t.Fatalf("GET /: %d %v", st, root)
	}
	var names []string
	if st := connectREST(t, "GET", u+"/connectors", nil, &names); st != 200 || strings.Join(names, ",") != "local-file-sink,local-file-source" {
		t.Fatalf("GET /connectors: %d %v", st, names)
	}
	w.waitState("local-file-source", "RUNNING")
	w.waitState("local-file-sink", "RUNNING")
	var expanded map[string]struct {
		Status connectStatus `json:"status"`
		Info   struct {
			Config map[string]string `json:"config"`
			Type   string            `json:"type"`
		} `json:"info"`
	}
	if st := connectREST(t, "GET", u+"/connectors?expand=status&expand=info", nil, &expanded); st != 200 ||
		expanded["local-file-source"].Status.Connector.State != "RUNNING" || expanded["local-file-sink"].Info.Config["topics"] != "connect-test" ||
		expanded["local-file-sink"].Info.Type != "sink" {
		t.Fatalf("GET /connectors?expand=status&expand=info: %d %+v", st, expanded)
	}
	w.appendLines("test.txt", "a1")
	w.waitSinkHas("a1", 20*time.Second)

	// Pause the sink: PAUSED; lines appended meanwhile arrive after resume.
	if st := connectREST(t, "PUT", u+"/connectors/local-file-sink/pause", nil, nil); st != 202 {
		t.Fatalf("pause: %d", st)
	}
	w.waitState("local-file-sink", "PAUSED")
	w.appendLines("test.txt", "p1", "p2")
	if st := connectREST(t, "PUT", u+"/connectors/local-file-sink/resume", nil, nil); st != 202 {
		t.Fatalf("resume: %d", st)
	}
	w.waitState("local-file-sink", "RUNNING")
	w.waitSinkHas("p2", 20*time.Second)

	// Restarts.
	if st := connectREST(t, "POST", u+"/connectors/local-file-source/restart", nil, nil); st != 204 {
		t.Fatalf("restart: %d", st)
	}
	var rst connectStatus
	if st := connectREST(t, "POST", u+"/connectors/local-file-source/restart?includeTasks=true", nil, &rst); st != 202 || rst.Name != "local-file-source" {
		t.Fatalf("restart?includeTasks=true: %d %+v", st, rst)
	}
	if st := connectREST(t, "POST", u+"/connectors/local-file-sink/tasks/0/restart", nil, nil); st != 204 {
		t.Fatalf("task restart: %d", st)
	}
	w.waitState("local-file-source", "RUNNING")
	w.waitState("local-file-sink", "RUNNING")
	w.appendLines("test.txt", "r1")
	w.waitSinkHas("r1", 20*time.Second)
	if got := strings.Join(w.sinkLines(), ","); got != "a1,p1,p2,r1" {
		t.Fatalf("test.sink.txt after the restarts: %s", got)
	}

	var tasks []struct {
		ID struct {
			Connector string `json:"connector"`
			Task      int    `json:"task"`
		} `json:"id"`
		Config map[string]string `json:"config"`
	}
	if st := connectREST(t, "GET", u+"/connectors/local-file-source/tasks", nil, &tasks); st != 200 || len(tasks) != 1 ||
		tasks[0].ID.Connector != "local-file-source" || tasks[0].Config["file"] != "test.txt" {
		t.Fatalf("GET tasks: %d %+v", st, tasks)
	}
	var ts struct{ State string }
	if st := connectREST(t, "GET", u+"/connectors/local-file-source/tasks/0/status", nil, &ts); st != 200 || ts.State != "RUNNING" {
		t.Fatalf("GET tasks/0/status: %d %+v", st, ts)
	}
	var cfg map[string]string
	if st := connectREST(t, "GET", u+"/connectors/local-file-source/config", nil, &cfg); st != 200 || cfg["topic"] != "connect-test" {
		t.Fatalf("GET config: %d %v", st, cfg)
	}

	// Delete the source; create another through the API.
	if st := connectREST(t, "DELETE", u+"/connectors/local-file-source", nil, nil); st != 204 {
		t.Fatalf("DELETE: %d", st)
	}
	if connectREST(t, "GET", u+"/connectors", nil, &names); strings.Join(names, ",") != "local-file-sink" {
		t.Fatalf("after DELETE, GET /connectors: %v", names)
	}
	var e connectErr
	if st := connectREST(t, "GET", u+"/connectors/local-file-source", nil, &e); st != 404 || e.Code != 404 || e.Message == "" {
		t.Fatalf("GET a deleted connector: %d %+v", st, e)
	}
	second := map[string]any{"name": "second-source", "config": map[string]string{
		"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "file": "second.txt", "topic": "connect-test"}}
	var info struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Tasks []any  `json:"tasks"`
	}
	if st := connectREST(t, "POST", u+"/connectors", second, &info); st != 201 || info.Name != "second-source" || info.Type != "source" || len(info.Tasks) != 1 {
		t.Fatalf("POST /connectors: %d %+v", st, info)
	}
	e = connectErr{}
	if st := connectREST(t, "POST", u+"/connectors", second, &e); st != 409 || e.Code != 409 {
		t.Fatalf("POST an existing connector: %d %+v", st, e)
	}
	w.appendLines("second.txt", "s1", "s2")
	w.waitSinkHas("s2", 20*time.Second)
	connectAvro(t, w, node)

	connectBadConfigs(t, u)
	connectMetrics(t, u)
	w.stop()
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// connectBadConfigs: bad configs answer 400 with the errors per field,
// unknown connectors 404, in Kafka Connect's error shape.
func connectBadConfigs(t *testing.T, u string) {
	var e connectErr
	// Bad configs: 400 with the errors per field.
	bad := map[string]any{"name": "bad", "config": map[string]string{"connector.class": "FileStreamSink", "tasks.max": "0"}}
	if st := connectREST(t, "POST", u+"/connectors", bad, &e); st != 400 || e.Code != 400 || e.ErrorCount != 3 ||
		len(e.fieldErrors()["topics"]) == 0 || len(e.fieldErrors()["tasks.max"]) == 0 {
		t.Fatalf("POST a sink without topics and tasks.max=0: %d %+v", st, e)
	}
	e = connectErr{}
	if st := connectREST(t, "POST", u+"/connectors", map[string]any{"name": "bad", "config": map[string]string{"file": "x"}}, &e); st != 400 ||
		e.ErrorCount != 1 || len(e.fieldErrors()["connector.class"]) == 0 {
		t.Fatalf("POST without connector.class: %d %+v", st, e)
	}
	e = connectErr{}
	if st := connectREST(t, "PUT", u+"/connectors/bad/config", map[string]string{"connector.class": "com.example.Nope"}, &e); st != 400 ||
		len(e.fieldErrors()["connector.class"]) == 0 {
		t.Fatalf("PUT config with an unknown class: %d %+v", st, e)
	}
	var v connectErr
	if st := connectREST(t, "PUT", u+"/connector-plugins/FileStreamSource/config/validate", map[string]string{"file": "x"}, &v); st != 200 ||
		v.ErrorCount != 2 || len(v.fieldErrors()["topic"]) == 0 || len(v.fieldErrors()["name"]) == 0 {
		t.Fatalf("validate a source without topic and name: %d %+v", st, v)
	}
	v = connectErr{}
	if st := connectREST(t, "PUT", u+"/connector-plugins/com.example.Nope/config/validate", map[string]string{"name": "x"}, &v); st != 400 ||
		len(v.fieldErrors()["connector.class"]) == 0 {
		t.Fatalf("validate an unknown plugin: %d %+v", st, v)
	}
	e = connectErr{}
	if st := connectREST(t, "GET", u+"/connectors/nope/status", nil, &e); st != 404 || e.Code != 404 {
		t.Fatalf("status of an unknown connector: %d %+v", st, e)
	}
	e = connectErr{}
	if st := connectREST(t, "PUT", u+"/connectors/nope/pause", nil, &e); st != 404 || e.Code != 404 {
		t.Fatalf("pause an unknown connector: %d %+v", st, e)
	}
	var plugins []struct{ Class, Type string }
	if st := connectREST(t, "GET", u+"/connector-plugins", nil, &plugins); st != 200 || len(plugins) < 2 {
		t.Fatalf("GET /connector-plugins: %d %+v", st, plugins)
	}

}

// connectMetrics: /metrics counts records per connector and shows task states.
func connectMetrics(t *testing.T, u string) {
	resp, err := http.Get(u + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`ringtail_connect_sink_records_written_total{connector="local-file-sink",task="0"} 6`,
		`ringtail_connect_source_records_polled_total{connector="second-source",task="0"} 2`,
		`ringtail_connect_task_state{connector="local-file-sink",state="RUNNING",task="0"} 1`} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s:\n%s", m, grepLines(string(body), "ringtail_connect_"))
		}
	}
}

// connectAvro: a source and a sink created through the API with
// Confluent's AvroConverter against the node's Schema Registry; the topic
// holds Confluent's wire format and the lines come back out.
func connectAvro(t *testing.T, w *connectWorker, node *testkit.Node) {
	t.Helper()
	conv := map[string]string{"value.converter": "io.confluent.connect.avro.AvroConverter",
		"value.converter.schema.registry.url": node.SchemaRegistryURL()}
	with := func(m map[string]string) map[string]string {
		for k, v := range conv {
			m[k] = v
		}
		return m
	}
	for _, c := range []map[string]any{
		{"name": "avro-source", "config": with(map[string]string{"connector.class": "FileStreamSource", "file": "avro.txt", "topic": "avro-test"})},
		{"name": "avro-sink", "config": with(map[string]string{"connector.class": "FileStreamSink", "file": "avro.sink.txt", "topics": "avro-test"})},
	} {
		if st := connectREST(t, "POST", w.url+"/connectors", c, nil); st != 201 {
			t.Fatalf("POST %v: %d", c["name"], st)
		}
	}
	w.appendLines("avro.txt", "avro one", "avro two")
	testkit.WaitFor(t, 20*time.Second, "avro.sink.txt", func() bool {
		return strings.Join(w.fileLines("avro.sink.txt"), ",") == "avro one,avro two"
	})
	cl := node.Client(kgo.ConsumeTopics("avro-test"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	recs := fs.Records()
	if len(recs) == 0 || len(recs[0].Value) < 6 || recs[0].Value[0] != 0 || !bytes.HasSuffix(recs[0].Value, []byte("avro one")) {
		t.Fatalf("avro-test records: %v %v", recs, fs.Errors())
	}
	var subjects []string
	if st := connectREST(t, "GET", node.SchemaRegistryURL()+"/subjects", nil, &subjects); st != 200 || !slices.Contains(subjects, "avro-test-value") {
		t.Fatalf("registry subjects: %d %v", st, subjects)
	}
}
