package e2e

// The web console in a real browser (Debian's chromium through chromedp)
// against the real binary: a topic is created from the console (and a bad
// name refused with the broker's error in words); records produced with
// `ringtail produce` are found in the message browser by offset and by
// key; a franz-go group consumer's lag shows 0 on the group page; after it
// stops, a confirmed reset to earliest shows lag 20; the topic is deleted
// after confirming. No page logs a JavaScript error, and every request the
// browser makes goes to the console's own host:port. Without a browser: the
// standalone `ringtail console --read-only`, and a 3-node cluster's overview
// showing a killed node's partitions under-replicated, then recovered.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// chromiumPath finds the browser: $RINGTAIL_CHROMIUM, else Debian's
// chromium. It fails the test (CI installs the package) rather than skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RINGTAIL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium to drive the console test: install Debian's package (apt-get install -y chromium) or set RINGTAIL_CHROMIUM")
	return ""
}

// browserLog collects what the page must not do: JavaScript errors, and
// requests to any address but the console's.
type browserLog struct {
	host     string
	refusals map[string]bool // URLs the test expects a 4xx from
	mu       struct {
		sync.Mutex
		errors   []string
		foreign  []string
		requests int
	}
}

func (b *browserLog) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.mu.errors = append(b.mu.errors, "exception: "+msg)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			b.mu.errors = append(b.mu.errors, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
		}
	case *log.EventEntryAdded:
		// A page the test asks to be refused (a 4xx answer) is logged by
		// the browser's network stack, not by the page's script.
		if ev.Entry.Level == log.EntryLevelError && !(ev.Entry.Source == log.EntrySourceNetwork && b.refusals[ev.Entry.URL]) {
			b.mu.errors = append(b.mu.errors, "browser log: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		b.mu.requests++
		u, err := url.Parse(ev.Request.URL)
		if err != nil || u.Scheme != "http" || u.Host != b.host {
			b.mu.foreign = append(b.mu.foreign, ev.Request.URL)
		}
	}
}

func TestConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	chromium := chromiumPath(t)
	n := startNode(t, testkit.Options{Console: true})
	base := n.ConsoleURL()
	shots := os.Getenv("RINGTAIL_CONSOLE_SCREENSHOTS")

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 860))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	blog := &browserLog{host: strings.TrimPrefix(base, "http://"), refusals: map[string]bool{base + "/topics": true, base + "/groups/console-e2e-group/reset": true}}
	if err := chromedp.Listen(ctx, blog.event); err != nil {
		t.Fatalf("start chromium %s: %v", chromium, err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// text reads sel's text; a read that meets an htmx swap (the node
	// gone between the query and the read) is tried again.
	text := func(sel string) string {
		t.Helper()
		var s string
		var err error
		for range 5 {
			qctx, qcancel := context.WithTimeout(ctx, 3*time.Second)
			s, err = chromedp.Run(qctx, chromedp.Text(chromedp.CSS(sel)))
			qcancel()
			if err == nil {
				return strings.TrimSpace(s)
			}
		}
		t.Fatalf("text of %s: %v", sel, err)
		return ""
	}
	// waitText waits for sel's text to contain want (pages that poll
	// with htmx change in place).
	waitText := func(sel, want string, timeout time.Duration) {
		t.Helper()
		last := "\x00"
		testkit.WaitFor(t, timeout, fmt.Sprintf("%s to show %q", sel, want), func() bool {
			qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
			defer qcancel()
			s, err := chromedp.Run(qctx, chromedp.Text(chromedp.CSS(sel)))
			if s != last {
				t.Logf("%s shows %q (%v)", sel, s, err)
				last = s
			}
			return err == nil && strings.Contains(s, want)
		})
	}
	shot := func(name string) {
		t.Helper()
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Overview.
	do("open the overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-brokers")))
	if got := text("#stat-brokers"); got != "1" {
		t.Fatalf("overview brokers = %q, want 1", got)
	}
	if got := text("#stat-controller"); got != "1" {
		t.Fatalf("overview controller = %q, want 1", got)
	}

	// A name the broker refuses: its error in words, the form kept.
	const topic = "console-e2e"
	do("refused create", chromedp.Navigate(base+"/topics"),
		chromedp.SetValue(chromedp.CSS("#create-name"), "bad name!"),
		chromedp.Click(chromedp.CSS("#create-submit")),
		chromedp.WaitVisible(chromedp.CSS("#create-topic .errname")))
	if got := text("#create-topic .errname"); got != "INVALID_TOPIC_EXCEPTION" {
		t.Fatalf("refused create shows %q, want INVALID_TOPIC_EXCEPTION", got)
	}
	do("create the topic",
		chromedp.SetValue(chromedp.CSS("#create-name"), topic),
		chromedp.SetValue(chromedp.CSS("#create-partitions"), "2"),
		chromedp.SetValue(chromedp.CSS("#create-rf"), "1"),
		chromedp.Click(chromedp.CSS("#create-submit")),
		chromedp.WaitVisible(chromedp.CSS("#topic-name")))
	if got := text("#topic-name"); got != topic {
		t.Fatalf("after create the page shows topic %q", got)
	}
	adm := kadm.NewClient(n.Client())
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil || tds[topic].Err != nil || len(tds[topic].Partitions) != 2 {
		t.Fatalf("created topic as the broker sees it: %v %+v", err, tds[topic])
	}

	// 20 keyed records with the CLI, all to partition 0: key-i at offset i.
	var in strings.Builder
	for i := range 20 {
		fmt.Fprintf(&in, "key-%d:{\"n\":%d,\"note\":\"record %d\"}\n", i, i, i)
	}
	runCLI(t, n, in.String(), "produce", topic, "--key-separator", ":", "--partition", "0")
	do("topics page", chromedp.Navigate(base+"/topics"), chromedp.WaitVisible(chromedp.CSS("#topic-list")))
	shot("topics")
	do("overview with the topic", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-brokers")))
	waitText("#stat-topics", "2", 5*time.Second)
	shot("overview")

	// Message browser: by offset, then by key (an htmx swap of #records).
	do("browse by offset", chromedp.Navigate(base+"/topics/"+topic+"/messages"),
		chromedp.WaitVisible(chromedp.CSS("#window-summary")),
		chromedp.SetValue(chromedp.CSS("#browse-partition"), "0"),
		chromedp.SetValue(chromedp.CSS("#browse-from"), "offset"),
		chromedp.SetValue(chromedp.CSS("#browse-offset"), "7"),
		chromedp.SetValue(chromedp.CSS("#browse-count"), "3"),
		chromedp.Click(chromedp.CSS("#browse-submit")))
	// The first window (the newest 20) holds offset 7 too: wait for the swap.
	waitText("#window-summary", "3 of 3 records read (3 from offset 7, partition 0)", 5*time.Second)
	if got := text(`#records tr[data-offset="7"] td.key`); got != "key-7" {
		t.Fatalf("offset 7 has key %q, want key-7", got)
	}
	do("browse by key",
		chromedp.SetValue(chromedp.CSS("#browse-partition"), "all"),
		chromedp.SetValue(chromedp.CSS("#browse-from"), "newest"),
		chromedp.SetValue(chromedp.CSS("#browse-count"), "100"),
		chromedp.SetValue(chromedp.CSS("#browse-format"), "json"),
		chromedp.SetValue(chromedp.CSS("#browse-key"), "key-13"),
		chromedp.Click(chromedp.CSS("#browse-submit")))
	waitText("#window-summary", "1 of 20 records", 5*time.Second)
	if got := text(`#records tr[data-offset="13"] td.value`); !strings.Contains(got, `"note": "record 13"`) {
		t.Fatalf("key-13's value as JSON: %q", got)
	}
	shot("messages")

	// A group consumer reads all 20 and commits: lag 0 on the group page.
	const group = "console-e2e-group"
	consumer := n.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(), kgo.ClientID("console-e2e-consumer"))
	consumed := 0
	for consumed < 20 && ctx.Err() == nil {
		fs := consumer.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("consume: %v", errs)
		}
		consumed += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	do("group page", chromedp.Navigate(base+"/groups/"+group), chromedp.WaitVisible(chromedp.CSS("#total-lag")))
	waitText("#group-members", "1", 10*time.Second)
	waitText("#total-lag", "0", 10*time.Second)
	shot("group")
	do("groups page", chromedp.Navigate(base+"/groups"), chromedp.WaitVisible(chromedp.CSS("#group-list")))
	if got := text("#group-list"); !strings.Contains(got, group) || !strings.Contains(got, "Stable") {
		t.Fatalf("groups list: %q", got)
	}

	// While it runs the broker refuses a reset: its error in words.
	do("reset a live group", chromedp.Navigate(base+"/groups/"+group),
		chromedp.SetValue(chromedp.CSS("#reset-to"), "earliest"),
		chromedp.Click(chromedp.CSS("#reset-preview")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-reset")))
	if got := text("#main"); !strings.Contains(got, "Kafka resets offsets only for an empty group") {
		t.Fatalf("the preview of a live group's reset does not warn: %q", got)
	}
	do("confirm the refused reset", chromedp.Click(chromedp.CSS("#confirm-reset")), chromedp.WaitVisible(chromedp.CSS("#problem .errname")))
	refused := text("#problem .errname")
	if refused == "" || !strings.Contains(text("#problem"), "Stop its consumers") {
		t.Fatalf("refused reset shows %q", text("#problem"))
	}
	t.Logf("the broker refused the reset of a live group with %s", refused)

	// Stop it; reset to earliest after the preview: lag 20.
	consumer.Close()
	do("group page again", chromedp.Navigate(base+"/groups/"+group), chromedp.WaitVisible(chromedp.CSS("#group-state")))
	waitText("#group-state", "Empty", 15*time.Second)
	do("preview the reset",
		chromedp.SetValue(chromedp.CSS("#reset-to"), "earliest"),
		chromedp.Click(chromedp.CSS("#reset-preview")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-reset")))
	if got := text("#reset-plan tbody"); !strings.Contains(got, "20\t→\t0") && !strings.Contains(got, "20 → 0") {
		t.Fatalf("reset preview lacks 20 → 0 for partition 0: %q", got)
	}
	do("confirm the reset", chromedp.Click(chromedp.CSS("#confirm-reset")), chromedp.WaitVisible(chromedp.CSS("#reset-result")))
	do("group after reset", chromedp.Navigate(base+"/groups/"+group), chromedp.WaitVisible(chromedp.CSS("#total-lag")))
	waitText("#total-lag", "20", 5*time.Second)

	// Delete the topic after confirming.
	do("delete confirmation", chromedp.Navigate(base+"/topics/"+topic),
		chromedp.Click(chromedp.CSS("#delete-topic")), chromedp.WaitVisible(chromedp.CSS("#delete-summary")))
	if got := text("#delete-summary"); !strings.Contains(got, topic) || !strings.Contains(got, "2 partitions") || !strings.Contains(got, "20 records") {
		t.Fatalf("delete confirmation says %q", got)
	}
	do("confirm delete", chromedp.Click(chromedp.CSS("#confirm-delete")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := text(".flash"); got != "Topic "+topic+" deleted." {
		t.Fatalf("after delete: %q", got)
	}
	testkit.WaitFor(t, 10*time.Second, "the topic to be gone", func() bool {
		tds, err := adm.ListTopics(ctx, topic)
		return err == nil && (errors.Is(tds[topic].Err, kerr.UnknownTopicOrPartition) || len(tds) == 0)
	})

	do("overview at the end", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-brokers")))
	waitText("#stat-topics", "1", 10*time.Second)

	blog.mu.Lock()
	defer blog.mu.Unlock()
	if len(blog.mu.errors) > 0 {
		t.Errorf("the pages logged JavaScript errors:\n%s", strings.Join(blog.mu.errors, "\n"))
	}
	if len(blog.mu.foreign) > 0 {
		t.Errorf("requests to other addresses than %s:\n%s", blog.host, strings.Join(blog.mu.foreign, "\n"))
	}
	if blog.mu.requests < 10 {
		t.Errorf("only %d requests seen: is the network listener working?", blog.mu.requests)
	}
}

// TestConsoleCLIReadOnly runs `ringtail console --read-only` against a
// node, as an operator would against any Kafka cluster: it shows the
// topics, offers no changes, refuses a delete with a 403 page, and stops
// on SIGINT.
func TestConsoleCLIReadOnly(t *testing.T) {
	n := startNode(t, testkit.Options{})
	runCLI(t, n, "", "topic", "create", "kept", "--partitions", "2")
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	cmd := exec.Command(n.Bin, "console", "--bootstrap", n.Addr(), "--listen", addr, "--read-only")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-done
		}
	}()
	hc := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path, form string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testkit.WaitFor(t, 10*time.Second, "the console to serve", func() bool {
		code, _ := call("GET", "/", "")
		return code == http.StatusOK
	})
	code, body := call("GET", "/topics?q=kep", "")
	if code != http.StatusOK || !strings.Contains(body, `href="/topics/kept"`) || strings.Contains(body, "Create a topic") {
		t.Fatalf("read-only topics page: %d\n%s", code, body)
	}
	if code, body := call("POST", "/topics/kept/delete", "confirm=kept"); code != http.StatusForbidden || !strings.Contains(body, "read-only") {
		t.Fatalf("delete on a read-only console: %d\n%s", code, body)
	}
	if out := runCLI(t, n, "", "topic", "list"); !strings.Contains(out, "kept") {
		t.Fatalf("the topic is gone: %s", out)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("ringtail console after SIGINT: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ringtail console did not stop on SIGINT\n%s", out.String())
	}
	if !strings.Contains(out.String(), "console for "+n.Addr()+" at http://"+addr) {
		t.Errorf("output: %s", out.String())
	}
}

// TestConsoleUnderReplicated kills one node of three and reads the
// overview of another: the killed node's partitions show as
// under-replicated within seconds, and recovered after it restarts.
func TestConsoleUnderReplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	c := testkit.StartCluster(t, 3, testkit.Options{Console: true,
		Settings: map[string]string{"broker.session.timeout.ms": "3000", "replica.lag.time.max.ms": "3000"}})
	adm := kadm.NewClient(c.Node(1).Client())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, "replicated"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	// stat reads one number of node 1's overview; -1 if the page failed.
	stat := func(id string) int {
		resp, err := hc.Get(c.Node(1).ConsoleURL() + "/")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_, rest, ok := strings.Cut(string(b), `id="`+id+`">`)
		if !ok || resp.StatusCode != http.StatusOK {
			return -1
		}
		var v int
		if _, err := fmt.Sscanf(rest, "%d<", &v); err != nil {
			return -1
		}
		return v
	}
	testkit.WaitFor(t, 20*time.Second, "three brokers and no under-replicated partition", func() bool {
		return stat("stat-brokers") == 3 && stat("stat-urp") == 0 && stat("stat-topics") >= 1
	})
	c.Node(3).Kill()
	killed := time.Now()
	testkit.WaitFor(t, 20*time.Second, "the killed node's partitions under-replicated on the overview", func() bool {
		return stat("stat-urp") >= 3 // at least the three of "replicated"
	})
	t.Logf("under-replicated on the overview %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	// Offline are exactly the partitions whose only replica was node 3
	// (internal topics of replication factor 1), none of "replicated".
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	onlyOn3 := 0
	for _, td := range md.Topics {
		for _, p := range td.Partitions {
			if len(p.Replicas) == 1 && p.Replicas[0] == 3 {
				onlyOn3++
			}
		}
	}
	testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%d offline partitions (replicated only on node 3)", onlyOn3), func() bool {
		return stat("stat-offline") == onlyOn3
	})
	c.Node(3).Start()
	testkit.WaitFor(t, 30*time.Second, "every partition back in sync on the overview", func() bool {
		return stat("stat-urp") == 0 && stat("stat-brokers") == 3
	})
}
