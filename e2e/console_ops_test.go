package e2e

// The console's topic operations and message browser additions in a real
// browser against the real binary: a config value the broker refuses shows
// its error in words and changes nothing, then a good one is set and read
// back with `ringtail topic describe`; fewer partitions are refused, more
// are added; records before an offset are deleted after a preview that
// shows the start offset moving, and the broker's start offset moved; a
// message produced from the browser is found in the browser with its
// header; a record is found by timestamp. No JavaScript error and no
// request to another address on any page. Without a browser: Avro and
// Protobuf values decoded through the built-in Schema Registry by
// `ringtail console --schema-registry-url`.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ringtail/ringtail/testkit"
)

const opsTopic = "console-ops"

func TestConsoleOps(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{Console: true})
	b := newBrowser(t, n.ConsoleURL())
	// The refusals this test asks for answer 4xx: the browser logs them.
	for _, p := range []string{"configs", "partitions"} {
		b.log.refusals[b.base+"/topics/"+opsTopic+"/"+p] = true
	}
	// kgo answers a metadata request from what it learnt in the last
	// MetadataMinAge (5s by default): the partition count read after
	// the console adds some must come from the broker.
	adm := kadm.NewClient(n.Client(kgo.MetadataMinAge(10 * time.Millisecond)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 2, 1, nil, opsTopic); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	// Ten records in partition 0, a minute apart, ending 20 minutes ago.
	base := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Minute)
	pcl := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		r := &kgo.Record{Topic: opsTopic, Partition: 0, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
			Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := pcl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	opsConfig(b, n, adm)
	opsPartitions(b, adm)
	opsDeleteRecords(b, adm)
	opsProduceAndTimestamp(b, base)
	b.checkClean()
}

// opsConfig: a bad value refused in words (nothing set), then a good one
// set and seen by the CLI.
func opsConfig(b *browser, n *testkit.Node, adm *kadm.Client) {
	t := b.t
	b.do("refused config", chromedp.Navigate(b.base+"/topics/"+opsTopic),
		chromedp.SetValue(chromedp.CSS("#config-key"), "retention.ms"),
		chromedp.SetValue(chromedp.CSS("#config-value"), "soon"),
		chromedp.Click(chromedp.CSS("#config-submit")),
		chromedp.WaitVisible(chromedp.CSS("#edit-config .errname")))
	t.Logf("the broker refused retention.ms=soon with %s: %s", b.text("#edit-config .errname"), b.text("#edit-config .detail"))
	if got := b.text("#edit-config"); !strings.Contains(got, "Could not set retention.ms") {
		t.Fatalf("refused config shows %q", got)
	}
	if v := topicConfig(b, adm, "retention.ms"); v == "soon" {
		t.Fatal("the refused value was set")
	}
	b.do("set config",
		chromedp.SetValue(chromedp.CSS("#config-key"), "retention.ms"),
		chromedp.SetValue(chromedp.CSS("#config-value"), "86400000"),
		chromedp.Click(chromedp.CSS("#config-submit")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := b.text(".flash"); got != "Config retention.ms set." {
		t.Fatalf("after set: %q", got)
	}
	if got := b.text(`#config-list tr[data-key="retention.ms"]`); !strings.Contains(got, "86400000") || !strings.Contains(got, "dynamic (topic)") {
		t.Fatalf("config row: %q", got)
	}
	if got := b.text(`#config-list tr[data-key="segment.bytes"] .source`); got == "" || strings.Contains(got, "topic") {
		t.Errorf("segment.bytes source: %q", got)
	}
	b.shot("topic-ops")
	if desc := runCLI(t, n, "", "topic", "describe", opsTopic); !strings.Contains(desc, "retention.ms") || !strings.Contains(desc, "86400000") {
		t.Fatalf("topic describe after the console set retention.ms:\n%s", desc)
	}
}

func topicConfig(b *browser, adm *kadm.Client, key string) string {
	rcs, err := adm.DescribeTopicConfigs(b.ctx, opsTopic)
	if err != nil {
		b.t.Fatal(err)
	}
	rc, err := rcs.On(opsTopic, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

// opsPartitions: two (as many as the topic has) refused, four added.
func opsPartitions(b *browser, adm *kadm.Client) {
	t := b.t
	b.do("refused partitions",
		chromedp.SetValue(chromedp.CSS("#partitions-count"), "2"),
		chromedp.Click(chromedp.CSS("#partitions-submit")),
		chromedp.WaitVisible(chromedp.CSS("#add-partitions .errname")))
	if got := b.text("#add-partitions .errname"); got != "INVALID_PARTITIONS" {
		t.Fatalf("two partitions of two: %q (%s)", got, b.text("#add-partitions"))
	}
	b.do("add partitions",
		chromedp.SetValue(chromedp.CSS("#partitions-count"), "4"),
		chromedp.Click(chromedp.CSS("#partitions-submit")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := b.text(".flash"); got != "The topic has 4 partitions now." {
		t.Fatalf("after adding partitions: %q", got)
	}
	tds, err := adm.ListTopics(b.ctx, opsTopic)
	if err != nil || len(tds[opsTopic].Partitions) != 4 {
		t.Fatalf("partitions as the broker sees them: %v %+v", err, tds[opsTopic])
	}
}

// opsDeleteRecords deletes partition 0's records before offset 4 after the
// preview shows 0 → 4.
func opsDeleteRecords(b *browser, adm *kadm.Client) {
	t := b.t
	b.do("delete records preview", chromedp.Click(chromedp.CSS("#delete-records")),
		chromedp.WaitVisible(chromedp.CSS("#trim-form")),
		chromedp.SetValue(chromedp.CSS("#trim-partition"), "0"),
		chromedp.SetValue(chromedp.CSS("#trim-before"), "4"),
		chromedp.Click(chromedp.CSS("#trim-preview")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-trim")))
	if got := b.text("#trim-summary"); !strings.Contains(got, "4 records will be deleted from 1 partition") {
		t.Fatalf("preview says %q", got)
	}
	if got := b.text(`#trim-plan tr[data-partition="0"]`); !strings.Contains(got, "0\t→\t4") && !strings.Contains(got, "0 → 4") {
		t.Fatalf("preview row: %q", got)
	}
	b.shot("delete-records")
	b.do("confirm delete records", chromedp.Click(chromedp.CSS("#confirm-trim")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := b.text(".flash"); !strings.HasPrefix(got, "Records deleted") {
		t.Fatalf("after delete records: %q", got)
	}
	starts, err := adm.ListStartOffsets(b.ctx, opsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(opsTopic, 0); o.Offset != 4 {
		t.Fatalf("partition 0 starts at %d after the delete, want 4", o.Offset)
	}
	if got := b.text("#partitions tbody tr:first-child td:nth-child(5)"); got != "4" {
		t.Fatalf("the topic page shows start offset %q for partition 0", got)
	}
}

// opsProduceAndTimestamp produces from the browser and finds the record,
// then finds partition 0's records from a time.
func opsProduceAndTimestamp(b *browser, base time.Time) {
	t := b.t
	b.do("produce form", chromedp.Click(chromedp.CSS("#produce-link")), chromedp.WaitVisible(chromedp.CSS("#produce-value")),
		chromedp.SetValue(chromedp.CSS("#produce-partition"), "1"),
		chromedp.SetValue(chromedp.CSS("#produce-key"), "browser-key"),
		chromedp.SetValue(chromedp.CSS("#produce-value"), "from the browser"),
		chromedp.SetValue(chromedp.CSS("#produce-headers"), "origin: e2e"))
	b.shot("produce")
	b.do("produce", chromedp.Click(chromedp.CSS("#produce-submit")), chromedp.WaitVisible(chromedp.CSS("#window-summary")))
	if got := b.text(".flash"); got != "Record produced to partition 1 at offset 0." {
		t.Fatalf("after produce: %q", got)
	}
	row := `#records tr[data-partition="1"][data-offset="0"]`
	if got := b.text(row); !strings.Contains(got, "browser-key") || !strings.Contains(got, "from the browser") || !strings.Contains(got, "origin: e2e") {
		t.Fatalf("the produced record: %q", got)
	}
	// From six minutes after the first record: offsets 6 and 7.
	at := base.Add(6 * time.Minute).Format("2006-01-02T15:04")
	b.do("browse from a timestamp",
		chromedp.SetValue(chromedp.CSS("#browse-partition"), "0"),
		chromedp.SetValue(chromedp.CSS("#browse-from"), "timestamp"),
		chromedp.SetValue(chromedp.CSS("#browse-time"), at),
		chromedp.SetValue(chromedp.CSS("#browse-count"), "2"),
		chromedp.Click(chromedp.CSS("#browse-submit")))
	b.waitText("#window-summary", "2 of 2 records read", 5*time.Second)
	if got := b.text(`#records tr[data-offset="6"] td.key`); got != "k6" {
		t.Fatalf("the first record from %s has key %q, want k6 (%s)", at, got, b.text("#records"))
	}
	if got := b.text("#records tbody"); strings.Contains(got, "k5") || !strings.Contains(got, "k7") {
		t.Fatalf("the window from %s: %q", at, got)
	}
	b.shot("messages-timestamp")
}

// TestConsoleSchemaDecode runs `ringtail console --schema-registry-url`
// against a node's built-in Schema Registry: an Avro and a Protobuf value
// in the registry's wire format show decoded to JSON in the message
// browser, and a value framed with an id the registry lacks shows the
// reason beside its hex while the rest of the window still shows.
func TestConsoleSchemaDecode(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{SchemaRegistry: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := srClient(t, n.SchemaRegistryURL())
	avroID, err := reg.CreateSchema(ctx, "decoded-value", sr.Schema{Schema: srUserV2})
	if err != nil {
		t.Fatal(err)
	}
	protoID, err := reg.CreateSchema(ctx, "decoded-proto-value", sr.Schema{Type: sr.TypeProtobuf,
		Schema: "syntax = \"proto3\";\npackage shop;\nmessage Item { string sku = 1; int64 count = 2; }\n"})
	if err != nil {
		t.Fatal(err)
	}
	runCLI(t, n, "", "topic", "create", "decoded", "--partitions", "1")
	frame := func(id int, data ...byte) []byte {
		return append([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, data...)
	}
	user, err := avro.Marshal(avro.MustParse(srUserV2), srUser{Name: "ada", Age: 36})
	if err != nil {
		t.Fatal(err)
	}
	values := [][]byte{
		frame(avroID.ID, user...),
		frame(4242, user...),
		frame(protoID.ID, append([]byte{0}, 0x0a, 3, 'A', '-', '7', 0x10, 3)...), // message index [0]: Item
	}
	pcl := n.Client()
	for _, v := range values {
		if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: "decoded", Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	cmd := exec.Command(n.Bin, "console", "--bootstrap", n.Addr(), "--listen", addr, "--schema-registry-url", n.SchemaRegistryURL())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	hc := &http.Client{Timeout: 10 * time.Second}
	var body string
	testkit.WaitFor(t, 15*time.Second, "the message browser to show the three records", func() bool {
		resp, err := hc.Get("http://" + addr + "/topics/decoded/messages?from=beginning")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK && strings.Contains(body, "3 of 3 records read")
	})
	for _, want := range []string{
		fmt.Sprintf("(AVRO schema %d)", avroID.ID), `&#34;name&#34;: &#34;ada&#34;`, `&#34;age&#34;: 36`,
		"the schema registry has no schema 4242", "0000  00 00 00 10 92",
		fmt.Sprintf("(PROTOBUF schema %d)", protoID.ID), `&#34;sku&#34;: &#34;A-7&#34;`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the message browser lacks %q:\n%s\n%s", want, body, out.String())
		}
	}
}
