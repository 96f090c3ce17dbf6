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
	"encoding/json"
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
	"github.com/twmb/franz-go/pkg/kmsg"

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
		if strings.HasPrefix(ev.Request.URL, "data:") {
			// Chromium's own inline images (the datetime-local
			// input's calendar icon): no address is asked.
			return
		}
		b.mu.requests++
		u, err := url.Parse(ev.Request.URL)
		if err != nil || u.Scheme != "http" || u.Host != b.host {
			b.mu.foreign = append(b.mu.foreign, ev.Request.URL)
		}
	}
}

// browser is one headless chromium tab on the console, with the helpers
// the steps of TestConsoleBrowser share.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string // the console's URL
	shots string // where screenshots go, "" for none
	log   *browserLog
}

const (
	consoleTopic = "console-e2e"
	consoleGroup = "console-e2e-group"
)

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	chromium := chromiumPath(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 860))...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(cancel)
	b := &browser{t: t, ctx: ctx, base: base, shots: os.Getenv("RINGTAIL_CONSOLE_SCREENSHOTS"),
		log: &browserLog{host: strings.TrimPrefix(base, "http://"),
			refusals: map[string]bool{base + "/topics": true, base + "/groups/" + consoleGroup + "/reset": true}}}
	if err := chromedp.Listen(ctx, b.log.event); err != nil {
		t.Fatalf("start chromium %s: %v", chromium, err)
	}
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// text reads sel's text; a read that meets an htmx swap (the node gone
// between the query and the read) is tried again.
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	var err error
	for range 5 {
		qctx, qcancel := context.WithTimeout(b.ctx, 3*time.Second)
		s, err = chromedp.Run(qctx, chromedp.Text(chromedp.CSS(sel)))
		qcancel()
		if err == nil {
			return strings.TrimSpace(s)
		}
	}
	b.t.Fatalf("text of %s: %v", sel, err)
	return ""
}

// waitText waits for sel's text to contain want (pages that poll with
// htmx change in place).
func (b *browser) waitText(sel, want string, timeout time.Duration) {
	b.t.Helper()
	last := "\x00"
	testkit.WaitFor(b.t, timeout, fmt.Sprintf("%s to show %q", sel, want), func() bool {
		qctx, qcancel := context.WithTimeout(b.ctx, 2*time.Second)
		defer qcancel()
		s, err := chromedp.Run(qctx, chromedp.Text(chromedp.CSS(sel)))
		if s != last {
			b.t.Logf("%s shows %q (%v)", sel, s, err)
			last = s
		}
		return err == nil && strings.Contains(s, want)
	})
}

// shot saves a screenshot of the page as name.png when
// $RINGTAIL_CONSOLE_SCREENSHOTS is set.
func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// checkClean fails the test for any JavaScript error logged and any request
// to another address than the console's.
func (b *browser) checkClean() {
	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	if len(b.log.mu.errors) > 0 {
		b.t.Errorf("the pages logged JavaScript errors:\n%s", strings.Join(b.log.mu.errors, "\n"))
	}
	if len(b.log.mu.foreign) > 0 {
		b.t.Errorf("requests to other addresses than %s:\n%s", b.log.host, strings.Join(b.log.mu.foreign, "\n"))
	}
	if b.log.mu.requests < 10 {
		b.t.Errorf("only %d requests seen: is the network listener working?", b.log.mu.requests)
	}
}

func TestConsoleBrowser(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	n := startNode(t, testkit.Options{Console: true})
	b := newBrowser(t, n.ConsoleURL())
	adm := kadm.NewClient(n.Client())

	b.do("open the overview", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-brokers")))
	if got := b.text("#stat-brokers"); got != "1" {
		t.Fatalf("overview brokers = %q, want 1", got)
	}
	if got := b.text("#stat-controller"); got != "1" {
		t.Fatalf("overview controller = %q, want 1", got)
	}
	consoleCreateTopic(b, adm)

	// 20 keyed records with the CLI, all to partition 0: key-i at offset i.
	var in strings.Builder
	for i := range 20 {
		fmt.Fprintf(&in, "key-%d:{\"n\":%d,\"note\":\"record %d\"}\n", i, i, i)
	}
	runCLI(t, n, in.String(), "produce", consoleTopic, "--key-separator", ":", "--partition", "0")
	b.do("topics page", chromedp.Navigate(b.base+"/topics"), chromedp.WaitVisible(chromedp.CSS("#topic-list")))
	b.shot("topics")
	b.do("overview with the topic", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-brokers")))
	b.waitText("#stat-topics", "2", 5*time.Second)
	b.shot("overview")

	consoleBrowse(b)
	consoleGroupReset(b, n)
	consoleDeleteTopic(b, adm)
	b.checkClean()
}

// consoleCreateTopic creates the topic from the console, after a name the
// broker refuses, which shows its error in words and keeps the form.
func consoleCreateTopic(b *browser, adm *kadm.Client) {
	t := b.t
	t.Helper()
	b.do("refused create", chromedp.Navigate(b.base+"/topics"),
		chromedp.SetValue(chromedp.CSS("#create-name"), "bad name!"),
		chromedp.Click(chromedp.CSS("#create-submit")),
		chromedp.WaitVisible(chromedp.CSS("#create-topic .errname")))
	if got := b.text("#create-topic .errname"); got != "INVALID_TOPIC_EXCEPTION" {
		t.Fatalf("refused create shows %q, want INVALID_TOPIC_EXCEPTION", got)
	}
	b.do("create the topic",
		chromedp.SetValue(chromedp.CSS("#create-name"), consoleTopic),
		chromedp.SetValue(chromedp.CSS("#create-partitions"), "2"),
		chromedp.SetValue(chromedp.CSS("#create-rf"), "1"),
		chromedp.Click(chromedp.CSS("#create-submit")),
		chromedp.WaitVisible(chromedp.CSS("#topic-name")))
	if got := b.text("#topic-name"); got != consoleTopic {
		t.Fatalf("after create the page shows topic %q", got)
	}
	tds, err := adm.ListTopics(b.ctx, consoleTopic)
	if err != nil || tds[consoleTopic].Err != nil || len(tds[consoleTopic].Partitions) != 2 {
		t.Fatalf("created topic as the broker sees it: %v %+v", err, tds[consoleTopic])
	}
}

// consoleBrowse finds the records in the message browser by offset, then
// by key (each an htmx swap of #records).
func consoleBrowse(b *browser) {
	t := b.t
	t.Helper()
	b.do("browse by offset", chromedp.Navigate(b.base+"/topics/"+consoleTopic+"/messages"),
		chromedp.WaitVisible(chromedp.CSS("#window-summary")),
		chromedp.SetValue(chromedp.CSS("#browse-partition"), "0"),
		chromedp.SetValue(chromedp.CSS("#browse-from"), "offset"),
		chromedp.SetValue(chromedp.CSS("#browse-offset"), "7"),
		chromedp.SetValue(chromedp.CSS("#browse-count"), "3"),
		chromedp.Click(chromedp.CSS("#browse-submit")))
	// The first window (the newest 20) holds offset 7 too: wait for the swap.
	b.waitText("#window-summary", "3 of 3 records read (3 from offset 7, partition 0)", 5*time.Second)
	if got := b.text(`#records tr[data-offset="7"] td.key`); got != "key-7" {
		t.Fatalf("offset 7 has key %q, want key-7", got)
	}
	b.do("browse by key",
		chromedp.SetValue(chromedp.CSS("#browse-partition"), "all"),
		chromedp.SetValue(chromedp.CSS("#browse-from"), "newest"),
		chromedp.SetValue(chromedp.CSS("#browse-count"), "100"),
		chromedp.SetValue(chromedp.CSS("#browse-format"), "json"),
		chromedp.SetValue(chromedp.CSS("#browse-key"), "key-13"),
		chromedp.Click(chromedp.CSS("#browse-submit")))
	b.waitText("#window-summary", "1 of 20 records", 5*time.Second)
	if got := b.text(`#records tr[data-offset="13"] td.value`); !strings.Contains(got, `"note": "record 13"`) {
		t.Fatalf("key-13's value as JSON: %q", got)
	}
	b.shot("messages")
}

// consoleGroupReset runs a group consumer that commits all 20 (lag 0 on
// the group page), has a reset refused while it runs, stops it, and resets
// the group to earliest after the preview (lag 20).
func consoleGroupReset(b *browser, n *testkit.Node) {
	t := b.t
	t.Helper()
	consumer := n.Client(kgo.ConsumerGroup(consoleGroup), kgo.ConsumeTopics(consoleTopic), kgo.DisableAutoCommit(), kgo.ClientID("console-e2e-consumer"))
	consumed := 0
	for consumed < 20 && b.ctx.Err() == nil {
		fs := consumer.PollFetches(b.ctx)
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("consume: %v", errs)
		}
		consumed += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(b.ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	b.do("group page", chromedp.Navigate(b.base+"/groups/"+consoleGroup), chromedp.WaitVisible(chromedp.CSS("#total-lag")))
	b.waitText("#group-members", "1", 10*time.Second)
	b.waitText("#total-lag", "0", 10*time.Second)
	b.shot("group")
	b.do("groups page", chromedp.Navigate(b.base+"/groups"), chromedp.WaitVisible(chromedp.CSS("#group-list")))
	if got := b.text("#group-list"); !strings.Contains(got, consoleGroup) || !strings.Contains(got, "Stable") {
		t.Fatalf("groups list: %q", got)
	}

	// While it runs the broker refuses a reset: its error in words.
	b.do("reset a live group", chromedp.Navigate(b.base+"/groups/"+consoleGroup),
		chromedp.SetValue(chromedp.CSS("#reset-to"), "earliest"),
		chromedp.Click(chromedp.CSS("#reset-preview")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-reset")))
	if got := b.text("#main"); !strings.Contains(got, "Kafka resets offsets only for an empty group") {
		t.Fatalf("the preview of a live group's reset does not warn: %q", got)
	}
	b.do("confirm the refused reset", chromedp.Click(chromedp.CSS("#confirm-reset")), chromedp.WaitVisible(chromedp.CSS("#problem .errname")))
	refused := b.text("#problem .errname")
	if refused == "" || !strings.Contains(b.text("#problem"), "Stop its consumers") {
		t.Fatalf("refused reset shows %q", b.text("#problem"))
	}
	t.Logf("the broker refused the reset of a live group with %s", refused)

	consumer.Close()
	b.do("group page again", chromedp.Navigate(b.base+"/groups/"+consoleGroup), chromedp.WaitVisible(chromedp.CSS("#group-state")))
	b.waitText("#group-state", "Empty", 15*time.Second)
	b.do("preview the reset",
		chromedp.SetValue(chromedp.CSS("#reset-to"), "earliest"),
		chromedp.Click(chromedp.CSS("#reset-preview")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-reset")))
	if got := b.text("#reset-plan tbody"); !strings.Contains(got, "20\t→\t0") && !strings.Contains(got, "20 → 0") {
		t.Fatalf("reset preview lacks 20 → 0 for partition 0: %q", got)
	}
	b.do("confirm the reset", chromedp.Click(chromedp.CSS("#confirm-reset")), chromedp.WaitVisible(chromedp.CSS("#reset-result")))
	b.do("group after reset", chromedp.Navigate(b.base+"/groups/"+consoleGroup), chromedp.WaitVisible(chromedp.CSS("#total-lag")))
	b.waitText("#total-lag", "20", 5*time.Second)

	// Delete the (now empty) group after a confirmation that names what
	// goes: its committed offsets.
	b.do("group delete confirmation", chromedp.Click(chromedp.CSS("#delete-group")), chromedp.WaitVisible(chromedp.CSS("#group-delete-summary")))
	if got := b.text("#group-delete-summary"); !strings.Contains(got, "Empty") || !strings.Contains(got, "2 partitions") || !strings.Contains(got, consoleTopic) {
		t.Fatalf("group delete confirmation says %q", got)
	}
	b.do("confirm the group delete", chromedp.Click(chromedp.CSS("#confirm-group-delete")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := b.text(".flash"); got != "Group "+consoleGroup+" deleted." {
		t.Fatalf("after the group delete: %q", got)
	}
	adm := kadm.NewClient(n.Client())
	defer adm.Close()
	listed, err := adm.ListGroups(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed[consoleGroup]; ok {
		t.Fatalf("group %s still listed after the delete: %v", consoleGroup, listed.Groups())
	}
}

// consoleDeleteTopic deletes the topic after the confirmation page names
// it, its partitions and records.
func consoleDeleteTopic(b *browser, adm *kadm.Client) {
	t := b.t
	t.Helper()
	b.do("delete confirmation", chromedp.Navigate(b.base+"/topics/"+consoleTopic),
		chromedp.Click(chromedp.CSS("#delete-topic")), chromedp.WaitVisible(chromedp.CSS("#delete-summary")))
	if got := b.text("#delete-summary"); !strings.Contains(got, consoleTopic) || !strings.Contains(got, "2 partitions") || !strings.Contains(got, "20 records") {
		t.Fatalf("delete confirmation says %q", got)
	}
	b.do("confirm delete", chromedp.Click(chromedp.CSS("#confirm-delete")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := b.text(".flash"); got != "Topic "+consoleTopic+" deleted." {
		t.Fatalf("after delete: %q", got)
	}
	testkit.WaitFor(t, 10*time.Second, "the topic to be gone", func() bool {
		tds, err := adm.ListTopics(b.ctx, consoleTopic)
		return err == nil && (errors.Is(tds[consoleTopic].Err, kerr.UnknownTopicOrPartition) || len(tds) == 0)
	})
	b.do("security page", chromedp.Navigate(b.base+"/security"), chromedp.WaitVisible(chromedp.CSS("#acls-off")))
	b.do("overview at the end", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-brokers")))
	b.waitText("#stat-topics", "1", 10*time.Second)
}

// TestConsoleCLIReadOnly runs `ringtail console --read-only` against a
// node, as an operator would against any Kafka cluster: it shows the
// topics, offers no changes, refuses a delete with a 403 page, and stops
// on SIGINT.
func TestConsoleCLIReadOnly(t *testing.T) {
	t.Parallel()
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
// under-replicated within seconds, and recovered after it restarts; the
// controller quorum's lag grows for the killed voter and falls back after.
func TestConsoleUnderReplicated(t *testing.T) {
	t.Parallel()
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
	// And one partition whose only replica is node 3: it goes offline with
	// the node.
	only3 := kmsg.NewPtrCreateTopicsRequest()
	only3.TimeoutMillis = 10000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "only-on-3", -1, -1
	ct.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{3}}}
	only3.Topics = append(only3.Topics, ct)
	if resp, err := only3.RequestWith(ctx, c.Node(1).Client()); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create only-on-3: %v %+v", err, resp)
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
	// The controller quorum's lag, from the active controller: known for
	// every voter, then growing for the killed one as the others commit
	// (its fencing, the ISR changes), then caught up after its restart.
	testkit.WaitFor(t, 20*time.Second, "the quorum's lag on the overview", func() bool {
		return stat("quorum-max-lag") >= 0 && stat("quorum-leader") >= 1
	})
	c.Node(3).Kill()
	killed := time.Now()
	testkit.WaitFor(t, 20*time.Second, "the killed node's partitions under-replicated on the overview", func() bool {
		return stat("stat-urp") >= 3 // at least the three of "replicated"
	})
	testkit.WaitFor(t, 20*time.Second, "the killed voter behind the quorum leader", func() bool {
		return stat("quorum-max-lag") > 0
	})
	t.Logf("under-replicated on the overview %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	// Offline are exactly the partitions whose only replica was node 3
	// (only-on-3's, and any internal ones of replication factor 1), none of
	// "replicated".
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
	if onlyOn3 < 1 {
		t.Fatalf("Metadata lists no partition only on node 3; only-on-3/0 is: %+v", md.Topics["only-on-3"])
	}
	testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%d offline partitions (replicated only on node 3)", onlyOn3), func() bool {
		return stat("stat-offline") == onlyOn3
	})
	c.Node(3).Start()
	testkit.WaitFor(t, 30*time.Second, "every partition back in sync on the overview", func() bool {
		return stat("stat-urp") == 0 && stat("stat-brokers") == 3
	})
	testkit.WaitFor(t, 30*time.Second, "the restarted voter caught up with the quorum", func() bool {
		lag := stat("quorum-max-lag")
		return lag >= 0 && lag <= 2
	})
}

// TestConsoleChartsOtherNodes gives node 1's console the other two nodes'
// admin metrics URLs (ringtail.console_metrics_urls): its charts then
// show all three brokers, each with the log bytes of a topic replicated
// on every node, beside the node's own in-process metrics.
func TestConsoleChartsOtherNodes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	admin := map[int]int{1: testkit.FreePort(t), 2: testkit.FreePort(t), 3: testkit.FreePort(t)}
	c := testkit.StartCluster(t, 3, testkit.Options{NodeRingtail: func(id int) map[string]string {
		rt := map[string]string{"admin_listen": fmt.Sprintf(`"127.0.0.1:%d"`, admin[id])}
		if id == 1 { // its own metrics in-process (admin on), the others scraped
			rt["console_metrics_urls"] = fmt.Sprintf(`"http://127.0.0.1:%d/metrics,http://127.0.0.1:%d/metrics"`, admin[2], admin[3])
		}
		return rt
	}, Console: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Node(1).Client(kgo.DefaultProduceTopic("charted"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 3, nil, "charted"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for i := 0; i < 300; i++ {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("record %d", i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"this node", fmt.Sprintf("127.0.0.1:%d", admin[2]), fmt.Sprintf("127.0.0.1:%d", admin[3])}
	var last string
	defer func() {
		if t.Failed() {
			t.Log("last /charts/series: " + last)
		}
	}()
	testkit.WaitFor(t, 30*time.Second, "node 1's charts with the three brokers' log bytes", func() bool {
		resp, err := http.Get(c.Node(1).ConsoleURL() + "/charts/series")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var s struct {
			Sources  []string    `json:"sources"`
			Errors   []string    `json:"errors"`
			LogBytes [][]float64 `json:"log_bytes"`
		}
		b, _ := io.ReadAll(resp.Body)
		last = string(b)
		if json.Unmarshal(b, &s) != nil || len(s.Errors) > 0 || strings.Join(s.Sources, ",") != strings.Join(want, ",") || len(s.LogBytes) != 3 {
			return false
		}
		for _, col := range s.LogBytes {
			if len(col) == 0 || col[len(col)-1] <= 0 {
				return false
			}
		}
		return true
	})
}
