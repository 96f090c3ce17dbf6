package e2e

// The console's charts, schemas and connectors in a real browser against
// a node with its Schema Registry, Connect and admin metrics on: the
// overview's uPlot charts draw throughput and latency after produce
// traffic; the schemas page lists a subject registered with franz-go's sr
// client and shows the diff of its two versions; the connectors page shows
// a FileStreamSource connector RUNNING, and pausing it from the browser
// makes Connect's REST API report it PAUSED. No JavaScript error, no
// request to another address. Beside it, `ringtail console --metrics-url
// --connect-url --read-only` charts the node from its admin /metrics and
// offers no connector actions.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ringtail/ringtail/testkit"
)

const (
	dashTopic     = "dash-e2e"
	dashSubject   = "dash-e2e-value"
	dashConnector = "dash-source"
)

func TestConsoleDashboard(t *testing.T) {
	t.Parallel()
	adminPort := testkit.FreePort(t)
	n := startNode(t, testkit.Options{Console: true, SchemaRegistry: true, Connect: true,
		Settings: map[string]string{"group.initial.rebalance.delay.ms": "0"},
		Ringtail: map[string]string{"admin_listen": fmt.Sprintf(`"127.0.0.1:%d"`, adminPort)}})
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort)
	cli := startCLIConsole(t, n, "--metrics-url", metricsURL, "--connect-url", n.ConnectURL(), "--read-only")
	b := newBrowser(t, n.ConsoleURL())
	ctx := b.ctx
	if resp, err := n.Admin().CreateTopic(ctx, 1, 1, nil, dashTopic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", dashTopic, err, resp.Err)
	}

	// Produce traffic until the charts show it (the console samples every
	// 5 seconds; a rate needs two samples).
	stop := make(chan struct{})
	produced := make(chan error, 1)
	go func() { produced <- dashProduce(n, stop) }()
	defer func() {
		close(stop)
		if err := <-produced; err != nil {
			t.Errorf("produce: %v", err)
		}
	}()

	dashSetup(t, n, ctx)

	b.do("overview", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#chart-bytes")))
	b.waitEval(`(() => { const el = document.querySelector("#chart-bytes"), c = el.querySelector("canvas");
		return !!c && c.width > 0 && Number(el.dataset.max) > 0; })()`, "the throughput chart to draw bytes in", 25*time.Second)
	b.waitEval(`(() => { const el = document.querySelector("#chart-latency");
		return !!el.querySelector("canvas") && Number(el.dataset.points) > 0; })()`, "the latency chart to draw Produce latency", 10*time.Second)
	b.waitEval(`Number(document.querySelector("#chart-records").dataset.max) > 0`, "the records chart", 5*time.Second)

	// Schemas: the subject, its versions, the diff of 1 → 2.
	b.do("schemas", chromedp.Navigate(b.base+"/schemas"), chromedp.WaitVisible(chromedp.CSS("#subject-list")))
	if got := b.text("#subject-list"); !strings.Contains(got, dashSubject) {
		t.Fatalf("schemas page lists %q, want %s", got, dashSubject)
	}
	b.do("subject", chromedp.Click(chromedp.CSS(`#subject-list a[href="/schemas/`+dashSubject+`"]`)), chromedp.WaitVisible(chromedp.CSS("#diff-form")))
	if got := b.text("#version-count"); got != "2" {
		t.Fatalf("subject versions %q, want 2", got)
	}
	if sub, glob := b.text("#subject-compat"), b.text("#global-compat"); sub != "FULL" || glob != "BACKWARD" {
		t.Fatalf("compatibility: subject %q, global %q; want FULL, BACKWARD", sub, glob)
	}
	b.do("diff", chromedp.SetValue(chromedp.CSS("#diff-from"), "1"), chromedp.SetValue(chromedp.CSS("#diff-to"), "2"),
		chromedp.Click(chromedp.CSS("#diff-submit")), chromedp.WaitVisible(chromedp.CSS("#diff-title")))
	if got := b.text("#diff-title"); !strings.Contains(got, "Version 1 → version 2") {
		t.Fatalf("diff title %q", got)
	}
	added, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#diff .add")].map(e => e.textContent).join("\n")`))
	if err != nil || !strings.Contains(added, `+       "name": "email",`) || strings.Contains(b.text("#diff"), `- `) {
		t.Fatalf("the diff's added lines %q (%v) lack the email field, or it removes lines:\n%s", added, err, b.text("#diff"))
	}
	b.shot("schemas")

	// Connectors: RUNNING, then paused from the browser.
	row := "#connector-" + dashConnector
	b.do("connectors", chromedp.Navigate(b.base+"/connectors"), chromedp.WaitVisible(chromedp.CSS("#connector-list")))
	b.waitText(row+" td.state", "RUNNING", 15*time.Second)
	b.waitText(row+" .task-state", "RUNNING", 15*time.Second)
	b.shot("connectors")
	b.do("pause", chromedp.Click(chromedp.CSS(row+" button.pause")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	testkit.WaitFor(t, 15*time.Second, "Connect's REST API to report the connector PAUSED", func() bool {
		var st connectStatus
		return connectTry("GET", n.ConnectURL()+"/connectors/"+dashConnector+"/status", &st) == 200 && st.Connector.State == "PAUSED"
	})
	b.waitText(row+" td.state", "PAUSED", 10*time.Second)
	if b.shots != "" {
		// Later, with a few more samples, for the README.
		b.do("overview again", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#chart-bytes")))
		b.waitEval(`Number(document.querySelector("#chart-records").dataset.points) >= 4`, "four samples charted", 15*time.Second)
		b.shot("charts")
	}

	// The standalone console charts the node from its admin /metrics, and
	// being read-only, offers Connect no actions.
	last := ""
	testkit.WaitFor(t, 15*time.Second, "ringtail console --metrics-url to chart the node", func() bool {
		var s struct {
			Sources []string   `json:"sources"`
			BytesIn []*float64 `json:"bytes_in"`
		}
		code, body := cli.get("/charts/series")
		if body != last {
			t.Logf("ringtail console's series: %d %.300s", code, body)
			last = body
		}
		return code == 200 && json.Unmarshal([]byte(body), &s) == nil &&
			len(s.Sources) == 1 && s.Sources[0] == fmt.Sprintf("127.0.0.1:%d", adminPort) && len(s.BytesIn) > 0
	})
	if code, body := cli.get("/connectors"); code != 200 || !strings.Contains(body, dashConnector) || strings.Contains(body, "/pause") {
		t.Fatalf("read-only standalone connectors page: %d\n%s", code, body)
	}
	b.checkClean()
}

// waitEval waits for the JavaScript expression to be true.
func (b *browser) waitEval(expr, what string, timeout time.Duration) {
	b.t.Helper()
	testkit.WaitFor(b.t, timeout, what, func() bool {
		qctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		defer cancel()
		ok, err := chromedp.Run(qctx, chromedp.Evaluate[bool](expr))
		return err == nil && ok
	})
}

// dashProduce produces small batches every 200ms until stop.
func dashProduce(n *testkit.Node, stop <-chan struct{}) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic(dashTopic))
	if err != nil {
		return err
	}
	defer cl.Close()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var recs []*kgo.Record
		for j := range 20 {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"batch":%d,"n":%d}`, i, j)})
		}
		err := cl.ProduceSync(ctx, recs...).FirstErr()
		cancel()
		if err != nil {
			return err
		}
	}
}

// dashSetup registers two versions of a subject and creates a file
// source connector.
func dashSetup(t *testing.T, n *testkit.Node, ctx context.Context) {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(n.SchemaRegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{srUserV1, srUserV2} {
		if _, err := cl.CreateSchema(ctx, dashSubject, sr.Schema{Schema: s}); err != nil {
			t.Fatalf("register %s: %v", dashSubject, err)
		}
	}
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, dashSubject); r[0].Err != nil {
		t.Fatalf("set %s's compatibility: %v", dashSubject, r[0].Err)
	}
	testkit.WaitFor(t, 20*time.Second, "Connect REST on "+n.ConnectURL(), func() bool {
		var root map[string]any
		return connectTry("GET", n.ConnectURL()+"/", &root) == 200
	})
	file := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(file, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	str := "org.apache.kafka.connect.storage.StringConverter"
	cfg := map[string]any{"name": dashConnector, "config": map[string]string{"connector.class": "FileStreamSource", "tasks.max": "1",
		"topic": dashTopic + "-lines", "file": file, "key.converter": str, "value.converter": str}}
	if st := connectREST(t, "POST", n.ConnectURL()+"/connectors", cfg, nil); st != http.StatusCreated {
		t.Fatalf("create connector: %d", st)
	}
}

// cliConsole is a `ringtail console` child process.
type cliConsole struct {
	addr string
	hc   *http.Client
}

func (c *cliConsole) get(path string) (int, string) {
	resp, err := c.hc.Get("http://" + c.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startCLIConsole runs `ringtail console` against n with args, stopped at
// the end of the test.
func startCLIConsole(t *testing.T, n *testkit.Node, args ...string) *cliConsole {
	t.Helper()
	c := &cliConsole{addr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), hc: &http.Client{Timeout: 10 * time.Second}}
	cmd := exec.Command(n.Bin, append([]string{"console", "--bootstrap", n.Addr(), "--listen", c.addr}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("ringtail console output:\n%s", out.String())
		}
	})
	testkit.WaitFor(t, 10*time.Second, "ringtail console to serve", func() bool {
		code, _ := c.get("/")
		return code == http.StatusOK
	})
	return c
}
