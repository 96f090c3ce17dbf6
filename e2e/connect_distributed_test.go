package e2e

// Kafka Connect in distributed mode inside the daemon: the workers of a
// three-node cluster form one Connect group; connectors created through
// one node's REST API are visible on every node, their tasks spread over
// the workers, and when a node is killed with SIGKILL its task moves to a
// surviving worker after the session timeout; the sink files still get
// every line of the source file exactly once, in order.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

	// A file source into the topic and three sinks of it, created through
	// node 1 (which forwards to the leader when it is not the leader).
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	str := "org.apache.kafka.connect.storage.StringConverter"
	sinks := []string{"dsink-a", "dsink-b", "dsink-c"}
	names := append(slices.Clone(sinks), "dsrc")
	// All at once, as a deployment script might: the leader takes the
	// writes one by one and rebalances once for several.
	created := make(chan string, len(names))
	for _, name := range names {
		cfg := map[string]string{"connector.class": "FileStreamSink", "tasks.max": "1", "topics": topic,
			"file": filepath.Join(dir, name+".txt"), "key.converter": str, "value.converter": str}
		if name == "dsrc" {
			cfg = map[string]string{"connector.class": "FileStreamSource", "tasks.max": "1", "topic": topic, "file": in,
				"key.converter": str, "value.converter": str}
		}
		go func() {
			b, _ := json.Marshal(map[string]any{"name": name, "config": cfg})
			resp, err := http.Post(c.Node(1).ConnectURL()+"/connectors", "application/json", bytes.NewReader(b))
			if err != nil {
				created <- fmt.Sprintf("create %s: %v", name, err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				created <- fmt.Sprintf("create %s: %d %s", name, resp.StatusCode, body)
				return
			}
			created <- ""
		}()
	}
	for range names {
		if msg := <-created; msg != "" {
			t.Fatal(msg)
		}
	}
	// owners maps a connector to the worker_id of its task.
	owners := map[string]string{}
	taskOn := func(via *testkit.Node, name string, ok func(worker string) bool) bool {
		var st connectStatus
		if connectTry("GET", via.ConnectURL()+"/connectors/"+name+"/status", &st) != 200 || len(st.Tasks) != 1 ||
			st.Tasks[0].State != "RUNNING" || !ok(st.Tasks[0].WorkerID) {
			return false
		}
		owners[name] = st.Tasks[0].WorkerID
		return true
	}
	any := func(string) bool { return true }
	// Every worker knows every connector; the tasks run on all three.
	testkit.WaitFor(t, 40*time.Second, "every task RUNNING, spread over the three workers", func() bool {
		for _, n := range c.Nodes {
			var list []string
			if connectTry("GET", n.ConnectURL()+"/connectors", &list) != 200 || !slices.Equal(list, names) {
				return false
			}
		}
		workers := map[string]bool{}
		for i, name := range names {
			if !taskOn(c.Nodes[i%3], name, any) {
				return false
			}
			workers[owners[name]] = true
		}
		return len(workers) == 3
	})

	var want []string
	appendLines := func(from, to int) {
		t.Helper()
		f, err := os.OpenFile(in, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i := from; i < to; i++ {
			l := fmt.Sprintf("line-%04d", i)
			want = append(want, l)
			if _, err := f.WriteString(l + "\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFiles := func(what string) {
		t.Helper()
		testkit.WaitFor(t, 30*time.Second, what, func() bool {
			for _, name := range sinks {
				if len(dcFileLines(filepath.Join(dir, name+".txt"))) < len(want) {
					return false
				}
			}
			return true
		})
	}
	others := func(n *testkit.Node) *testkit.Node {
		for _, o := range c.Nodes {
			if o != n {
				return o
			}
		}
		return nil
	}
	t0 := time.Now()
	phase := func(what string) { t.Logf("%5.1fs %s", time.Since(t0).Seconds(), what) }
	phase("connectors running")
	appendLines(0, 100)
	waitFiles("100 lines in every sink file")
	phase("100 lines in the sinks")

	// A clean stop (SIGTERM) stops the node's tasks and leaves the group:
	// its tasks move at once, without waiting out the session.
	stopped := byWorker[owners["dsink-a"]]
	other, was := others(stopped), owners["dsink-a"]
	stopped.Stop()
	if !strings.Contains(stopped.LogSinceLastStart(), "connect: left the group") {
		t.Fatal("the stopped node's Connect worker did not leave its group")
	}
	testkit.WaitFor(t, 20*time.Second, "dsink-a's task RUNNING on another worker", func() bool {
		return taskOn(other, "dsink-a", func(w string) bool { return w != was })
	})
	phase("dsink-a moved after a clean stop")
	appendLines(100, 150)
	stopped.Start()
	phase("stopped node started again")
	waitFiles("150 lines in every sink file")
	phase("150 lines in the sinks")

	// SIGKILL a node while lines are appended: the source's when it is not
	// the Connect group's coordinator (a coordinator's death adds its
	// failover and a second session timeout, as in Kafka), else another
	// task's. The task moves to a surviving worker after the session
	// timeout; a source fences the dead worker's transactional id and goes
	// on from the last committed position.
	testkit.WaitFor(t, 30*time.Second, "every task RUNNING", func() bool {
		for _, name := range names {
			if !taskOn(other, name, any) || byWorker[owners[name]] == nil {
				return false
			}
		}
		return true
	})
	dg, err := c.Admin().DescribeGroups(ctx, "connect-cluster")
	if err != nil {
		t.Fatal(err)
	}
	coordinator := c.Node(dg["connect-cluster"].Coordinator.NodeID)
	moving := ""
	for _, name := range []string{"dsrc", "dsink-a", "dsink-b", "dsink-c"} {
		if byWorker[owners[name]] != coordinator {
			moving = name
			break
		}
	}
	if moving == "" {
		t.Fatal("every task runs on the group coordinator's node")
	}
	victim := byWorker[owners[moving]]
	survivor, dead := others(victim), owners[moving]
	appendLines(150, 200)
	victim.Kill()
	appendLines(200, 250)
	start := time.Now()
	testkit.WaitFor(t, 40*time.Second, moving+"'s task RUNNING on a surviving worker", func() bool {
		return taskOn(survivor, moving, func(w string) bool { return w != dead && byWorker[w] != nil })
	})
	t.Logf("%s's task moved %v after the kill", moving, time.Since(start).Round(100*time.Millisecond))
	appendLines(250, 300)
	waitFiles("300 lines in every sink file after the kill")
	phase("300 lines in the sinks")
	for _, name := range sinks {
		got := dcFileLines(filepath.Join(dir, name+".txt"))
		if !slices.Equal(got, want) {
			t.Fatalf("%s.txt: %d lines, want %d exactly once in order; first difference at line %d", name, len(got), len(want), firstDiff(got, want)+1)
		}
	}
}
