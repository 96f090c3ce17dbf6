package e2e

// Kafka Connect in distributed mode inside the daemon: the workers of a
// three-node cluster form one Connect group; connectors created through
// one node's REST API are visible on every node, their tasks spread over
// the workers, and when a node is killed with SIGKILL its task moves to a
// surviving worker after the session timeout, and the sink file still gets
// every line exactly once, in order.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// connectTry is connectREST without failing the test on a transport error
// (a killed node, a worker still starting): it returns 0 then.
func connectTry(method, url string, out any) int {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil && json.NewDecoder(resp.Body).Decode(out) != nil {
		return 0
	}
	return resp.StatusCode
}

func dcFileLines(path string) []string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestConnectDistributedTasksMove(t *testing.T) {
	c := testkit.StartCluster(t, 3, testkit.Options{Connect: true,
		Settings: map[string]string{"group.initial.rebalance.delay.ms": "0", "offsets.topic.replication.factor": "3",
			"broker.session.timeout.ms": "3000"},
		Ringtail: map[string]string{"connect_session_timeout_ms": "6000"}})
	const topic = "dc-lines"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Admin().CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	byWorker := map[string]*testkit.Node{}
	for _, n := range c.Nodes {
		byWorker[fmt.Sprintf("127.0.0.1:%d", n.ConnectPort)] = n
		testkit.WaitFor(t, 30*time.Second, "Connect REST on "+n.ConnectURL(), func() bool {
			var root struct {
				Version   string `json:"version"`
				ClusterID string `json:"kafka_cluster_id"`
			}
			return connectTry("GET", n.ConnectURL()+"/", &root) == 200 && root.ClusterID == c.ClusterID
		})
	}

	// Three sinks of one topic, created through node 1 (which forwards to
	// the leader when it is not the leader).
	dir := t.TempDir()
	names := []string{"dsink-a", "dsink-b", "dsink-c"}
	for _, name := range names {
		body := map[string]any{"name": name, "config": map[string]string{
			"connector.class": "FileStreamSink", "tasks.max": "1", "topics": topic, "file": filepath.Join(dir, name+".txt"),
			"key.converter": "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.storage.StringConverter"}}
		var e connectErr
		st := connectREST(t, "POST", c.Node(1).ConnectURL()+"/connectors", body, &e)
		if st != http.StatusCreated {
			t.Fatalf("create %s: %d %+v", name, st, e)
		}
	}
	// Every worker knows every connector; the tasks run, one per worker.
	owners := map[string]string{} // connector -> worker_id of its task
	testkit.WaitFor(t, 40*time.Second, "every task RUNNING, spread over the three workers", func() bool {
		for _, n := range c.Nodes {
			var list []string
			if connectTry("GET", n.ConnectURL()+"/connectors", &list) != 200 || !slices.Equal(list, names) {
				return false
			}
		}
		workers := map[string]bool{}
		for i, name := range names {
			var st connectStatus
			if connectTry("GET", c.Nodes[i].ConnectURL()+"/connectors/"+name+"/status", &st) != 200 ||
				len(st.Tasks) != 1 || st.Tasks[0].State != "RUNNING" || st.Connector.State != "RUNNING" {
				return false
			}
			owners[name] = st.Tasks[0].WorkerID
			workers[st.Tasks[0].WorkerID] = true
		}
		return len(workers) == 3
	})

	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var want []string
	produce := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			l := fmt.Sprintf("line-%04d", i)
			want = append(want, l)
			recs = append(recs, &kgo.Record{Value: []byte(l)})
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitFiles := func(what string) {
		t.Helper()
		testkit.WaitFor(t, 30*time.Second, what, func() bool {
			for _, name := range names {
				if len(dcFileLines(filepath.Join(dir, name+".txt"))) < len(want) {
					return false
				}
			}
			return true
		})
	}
	produce(0, 100)
	waitFiles("100 lines in every sink file")

	// A clean stop (SIGTERM) stops the node's tasks and leaves the group:
	// its task moves at once, without waiting out the session.
	stopped := byWorker[owners["dsink-a"]]
	var other *testkit.Node
	for _, n := range c.Nodes {
		if n != stopped {
			other = n
		}
	}
	stopped.Stop()
	if !strings.Contains(stopped.LogSinceLastStart(), "connect: left the group") {
		t.Fatal("the stopped node's Connect worker did not leave its group")
	}
	testkit.WaitFor(t, 20*time.Second, "dsink-a's task RUNNING on another worker", func() bool {
		var st connectStatus
		return connectTry("GET", other.ConnectURL()+"/connectors/dsink-a/status", &st) == 200 && len(st.Tasks) == 1 &&
			st.Tasks[0].State == "RUNNING" && st.Tasks[0].WorkerID != owners["dsink-a"]
	})
	produce(100, 150)
	stopped.Start()
	waitFiles("150 lines in every sink file")
	testkit.WaitFor(t, 30*time.Second, "dsink-b's task RUNNING", func() bool {
		var st connectStatus
		if connectTry("GET", other.ConnectURL()+"/connectors/dsink-b/status", &st) != 200 || len(st.Tasks) != 1 || st.Tasks[0].State != "RUNNING" {
			return false
		}
		owners["dsink-b"] = st.Tasks[0].WorkerID
		return true
	})

	// Kill the node whose worker runs dsink-b's task; ask another node.
	victim := byWorker[owners["dsink-b"]]
	if victim == nil {
		t.Fatalf("dsink-b's worker %q is no node's Connect listener", owners["dsink-b"])
	}
	var survivor *testkit.Node
	for _, n := range c.Nodes {
		if n != victim {
			survivor = n
		}
	}
	victim.Kill()
	produce(150, 200)
	start := time.Now()
	testkit.WaitFor(t, 40*time.Second, "dsink-b's task RUNNING on a surviving worker", func() bool {
		var st connectStatus
		return connectTry("GET", survivor.ConnectURL()+"/connectors/dsink-b/status", &st) == 200 && len(st.Tasks) == 1 &&
			st.Tasks[0].State == "RUNNING" && st.Tasks[0].WorkerID != owners["dsink-b"] && byWorker[st.Tasks[0].WorkerID] != nil
	})
	t.Logf("dsink-b's task moved %v after the kill", time.Since(start).Round(100*time.Millisecond))
	produce(200, 250)
	waitFiles("250 lines in every sink file after the kill")
	for _, name := range names {
		got := dcFileLines(filepath.Join(dir, name+".txt"))
		if !slices.Equal(got, want) {
			t.Fatalf("%s.txt: %d lines, want %d exactly once in order; first difference at %d", name, len(got), len(want), firstDiff(got, want))
		}
	}
}
