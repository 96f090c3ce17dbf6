// These tests prove the topic operations and the message browser's
// additions: the delete-records preview's arithmetic, the time field,
// reading from a timestamp, Confluent wire-format decoding with a fake
// Schema Registry (Avro, Protobuf, an unknown schema id, a value written
// with another schema), and the pages over HTTP against kfake: configs,
// partitions, delete records after confirming, produce, read-only refusals.
package console

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"
)

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"2026-01-02T03:04", want},
		{"2026-01-02T03:04:05", want.Add(5 * time.Second)},
		{"2026-01-02T03:04:05.250", want.Add(5250 * time.Millisecond)},
		{"2026-01-02 03:04:05", want.Add(5 * time.Second)},
		{"2026-01-02T04:04:00+01:00", want},
		{fmt.Sprint(want.UnixMilli()), want},
		{" 2026-01-02T03:04 ", want},
	} {
		got, err := parseTimestamp(c.in)
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01T00:00", "-5", "1969-12-31T23:59"} {
		if _, err := parseTimestamp(bad); err == nil || !strings.Contains(err.Error(), "want a date and time in UTC") {
			t.Errorf("parseTimestamp(%q): %v", bad, err)
		}
	}
	b, err := parseBrowse(url.Values{"from": {"timestamp"}, "time": {"2026-01-02T03:04"}})
	if err != nil || b.From != "timestamp" || !b.Time.Equal(want) {
		t.Errorf("parseBrowse from timestamp: %+v %v", b, err)
	}
	if b, err := parseBrowse(url.Values{"from": {"beginning"}}); err != nil || b.From != "beginning" {
		t.Errorf("parseBrowse from beginning: %+v %v", b, err)
	}
}

func TestPlanFromTimestampAndBeginning(t *testing.T) {
	parts := map[int32]bounds{0: {10, 50}, 1: {0, 5}, 2: {3, 3}}
	// Partition 1 has nothing at or after the time (its end), 2 is empty,
	// and 0's first record at the time is 40: read 40..44.
	b := browseQuery{Partition: -1, From: "timestamp", Count: 5, at: map[int32]int64{0: 40, 1: 5, 2: 3}}
	got, err := plan(b, parts)
	if err != nil || len(got) != 1 || got[0] != (bounds{40, 45}) {
		t.Errorf("timestamp plan: %v %v", got, err)
	}
	// A time before the start (records deleted since) starts at the start.
	b.at = map[int32]int64{0: 2}
	if got, _ := plan(b, parts); got[0] != (bounds{10, 15}) {
		t.Errorf("timestamp before the start: %v", got)
	}
	got, _ = plan(browseQuery{Partition: -1, From: "beginning", Count: 4}, parts)
	if len(got) != 2 || got[0] != (bounds{10, 14}) || got[1] != (bounds{0, 4}) {
		t.Errorf("beginning plan: %v", got)
	}
	// The window from a timestamp is the oldest first, across partitions.
	at := time.Unix(100, 0)
	recs := []shownRecord{{Partition: 0, Offset: 9, Timestamp: at.Add(3)}, {Partition: 1, Offset: 2, Timestamp: at.Add(1)}, {Partition: 0, Offset: 8, Timestamp: at.Add(2)}}
	w := window(browseQuery{From: "timestamp", Count: 2}, recs)
	if len(w) != 2 || w[0].Offset != 2 || w[1].Offset != 8 {
		t.Errorf("timestamp window: %+v", w)
	}
}

func TestPlanTrim(t *testing.T) {
	parts := map[int32]bounds{0: {10, 50}, 1: {0, 5}, 2: {7, 7}}
	rows, err := planTrim(parts, -1, 20)
	if err != nil {
		t.Fatal(err)
	}
	want := []trimRow{
		{Partition: 0, Start: 10, End: 50, NewStart: 20, Deleted: 10, Result: -1},
		{Partition: 1, Start: 0, End: 5, NewStart: 5, Deleted: 5, Result: -1}, // capped at its end
		{Partition: 2, Start: 7, End: 7, NewStart: 7, Deleted: 0, Result: -1},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("all partitions before 20:\n got %v\nwant %v", rows, want)
	}
	d := trimData{Rows: rows}
	d.sum()
	if d.Total != 15 || d.Touched != 2 {
		t.Errorf("sum: %d records, %d partitions", d.Total, d.Touched)
	}
	// Every record: each start moves to its end.
	rows, _ = planTrim(parts, -1, -1)
	if rows[0].NewStart != 50 || rows[0].Deleted != 40 || rows[1].NewStart != 5 {
		t.Errorf("every record: %v", rows)
	}
	// Before the start deletes nothing.
	if rows, _ := planTrim(parts, 0, 3); len(rows) != 1 || rows[0].NewStart != 10 || rows[0].Deleted != 0 {
		t.Errorf("before the start: %v", rows)
	}
	if _, err := planTrim(parts, 0, 51); err == nil || !strings.Contains(err.Error(), "holds offsets 10 to 49; offset 51 is out of range") {
		t.Errorf("past the end of one partition: %v", err)
	}
	if _, err := planTrim(parts, 9, 1); err == nil || !strings.Contains(err.Error(), "no partition 9") {
		t.Errorf("unknown partition: %v", err)
	}
	p, o, err := parseTrim(url.Values{"partition": {"1"}, "before": {"30"}})
	if p != 1 || o != 30 || err != nil {
		t.Errorf("parseTrim: %d %d %v", p, o, err)
	}
	if p, o, err := parseTrim(url.Values{"before": {"end"}}); p != -1 || o != -1 || err != nil {
		t.Errorf("parseTrim defaults: %d %d %v", p, o, err)
	}
	for _, bad := range []url.Values{{"partition": {"x"}}, {"before": {"-2"}}, {"before": {"1e3"}}} {
		if _, _, err := parseTrim(bad); err == nil {
			t.Errorf("parseTrim(%v) accepted", bad)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	hs, err := parseHeaders("trace: abc\r\n\nempty:\n  spaced :  two words")
	if err != nil || len(hs) != 3 || hs[0].Key != "trace" || string(hs[0].Value) != "abc" || string(hs[1].Value) != "" ||
		hs[2].Key != "spaced" || string(hs[2].Value) != " two words" {
		t.Errorf("parseHeaders: %+v %v", hs, err)
	}
	if _, err := parseHeaders("ok: 1\nno colon"); err == nil || !strings.Contains(err.Error(), "header line 2") {
		t.Errorf("a line without a colon: %v", err)
	}
}

const (
	testAvroUser  = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":["null","string"],"default":null}]}`
	testAvroOrder = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"total","type":"double"},{"name":"note","type":"string"}]}`
	testProto     = "syntax = \"proto3\";\npackage shop;\nmessage Other { int32 x = 1; }\nmessage Item { string sku = 1; int64 count = 2; message Tag { string label = 1; } }\n"
)

// fakeRegistry answers GET /schemas/ids/{id} for the schemas given.
func fakeRegistry(t *testing.T, schemas map[int]sr.Schema) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id int
		if _, err := fmt.Sscanf(r.URL.Path, "/schemas/ids/%d", &id); err == nil {
			if s, ok := schemas[id]; ok {
				json.NewEncoder(w).Encode(s)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error_code":40403,"message":"Schema not found"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// framed is data after Confluent's magic byte and schema id.
func framed(id int, data ...[]byte) []byte {
	out := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(id))
	for _, d := range data {
		out = append(out, d...)
	}
	return out
}

func avroBytes(t *testing.T, schema string, v any) []byte {
	t.Helper()
	b, err := avro.Marshal(avro.MustParse(schema), v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRegistry(t *testing.T) *httptest.Server {
	return fakeRegistry(t, map[int]sr.Schema{
		1: {Schema: testAvroUser},
		2: {Schema: testAvroOrder},
		3: {Schema: testProto, Type: sr.TypeProtobuf},
		4: {Schema: `{"type":"nonsense"}`},
		5: {Schema: `{"type":"object"}`, Type: sr.TypeJSON},
	})
}

func TestDecodeWireFormat(t *testing.T) {
	reg := testRegistry(t)
	dec, err := newSchemaDecoder(reg.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := dec.window(context.Background())
	user := avroBytes(t, testAvroUser, map[string]any{"name": "ada", "age": 36, "email": "ada@example.com"})
	d, ok, err := w.decode(framed(1, user))
	if !ok || err != nil || string(d.JSON) != `{"age":36,"email":"ada@example.com","name":"ada"}` || d.Schema != "AVRO schema 1" {
		t.Errorf("avro: %s %q %v %v", d.JSON, d.Schema, ok, err)
	}
	if _, ok, err := w.decode([]byte("plain text")); ok || err != nil {
		t.Errorf("unframed: %v %v", ok, err)
	}
	// An id the registry does not have.
	if _, ok, err := w.decode(framed(9, user)); !ok || err == nil || !strings.Contains(err.Error(), "the schema registry has no schema 9") {
		t.Errorf("unknown id: %v %v", ok, err)
	}
	// A User read with the Order schema: wrong id in the frame.
	if _, _, err := w.decode(framed(2, user)); err == nil || !strings.Contains(err.Error(), "does not decode with AVRO schema 2") {
		t.Errorf("wrong schema: %v", err)
	}
	// Bytes left over after a whole value.
	if _, _, err := w.decode(framed(1, user, []byte{2, 4})); err == nil || !strings.Contains(err.Error(), "left over") {
		t.Errorf("trailing bytes: %v", err)
	}
	if _, _, err := w.decode(framed(1, user[:3])); err == nil {
		t.Error("a cut value decoded")
	}
	if _, _, err := w.decode(framed(4, user)); err == nil || !strings.Contains(err.Error(), "schema 4") {
		t.Errorf("a schema that does not parse: %v", err)
	}
	// Protobuf: message index [1] is Item; sku=1 "A-7", count=2 3.
	item := []byte{0x0a, 3, 'A', '-', '7', 0x10, 3}
	d, _, err = w.decode(framed(3, []byte{2, 2}, item))
	if err != nil || strings.ReplaceAll(string(d.JSON), " ", "") != `{"sku":"A-7","count":"3"}` || d.Schema != "PROTOBUF schema 3" {
		t.Errorf("protobuf Item: %s %v", d.JSON, err)
	}
	// A length past the end is not Protobuf.
	if _, _, err := w.decode(framed(3, []byte{0}, []byte{0x0a, 50, 'x'})); err == nil || !strings.Contains(err.Error(), "PROTOBUF schema 3") {
		t.Errorf("a cut message: %v", err)
	}
	if _, _, err := w.decode(framed(3, []byte{2, 14}, item)); err == nil || !strings.Contains(err.Error(), "not in the schema") {
		t.Errorf("message index 7: %v", err)
	}
	if d, _, err := w.decode(framed(5, []byte(`{"a":1}`))); err != nil || string(d.JSON) != `{"a":1}` || d.Schema != "JSON schema 5" {
		t.Errorf("json schema: %s %q %v", d.JSON, d.Schema, err)
	}
	if _, _, err := w.decode(framed(5, []byte(`{"a":`))); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("cut json: %v", err)
	}
	// The page's view: decoded JSON, or hex beside the reason.
	if s := showDecoded(framed(1, user), false, "text", w); s.Schema != "AVRO schema 1" || !strings.Contains(s.Text, `"name": "ada"`) {
		t.Errorf("shown decoded: %+v", s)
	}
	if s := showDecoded(framed(2, user), false, "text", w); s.Err == "" || !strings.HasPrefix(s.Text, "0000  00 00 00 00 02") {
		t.Errorf("shown undecodable: %+v", s)
	}
	if s := showDecoded(framed(1, user), false, "hex", w); s.Schema != "" || !s.Pre {
		t.Errorf("hex asked: %+v", s)
	}
}

// FuzzDecodeFramed feeds any bytes through the wire-format decoder with an
// Avro and a Protobuf schema: it must return a result or an error, never
// panic or hang.
func FuzzDecodeFramed(f *testing.F) {
	user, _ := avro.Marshal(avro.MustParse(testAvroUser), map[string]any{"name": "a", "age": 1, "email": nil})
	f.Add(framed(1, user))
	f.Add(framed(3, []byte{2, 2, 0x0a, 1, 'x'}))
	f.Add([]byte{0, 0, 0, 0, 3, 0x7f})
	s1, err := parseForDecode(sr.TypeAvro, testAvroUser, nil)
	if err != nil {
		f.Fatal(err)
	}
	s3, err := parseForDecode(sr.TypeProtobuf, testProto, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, rest, ok := wireHeader(b)
		if !ok {
			return
		}
		s := s1
		if id%2 == 1 {
			s = s3
		}
		s.decode(rest)
	})
}

// newOpsConsole is a console on a kfake cluster with topic "orders" (3
// partitions), decoding with registry (may be "").
func newOpsConsole(t *testing.T, readOnly bool, registry string) (*httptest.Server, *kgo.Client) {
	srv, cl, _ := newOpsCluster(t, readOnly, registry)
	return srv, cl
}

func newOpsCluster(t *testing.T, readOnly bool, registry string) (*httptest.Server, *kgo.Client, *kfake.Cluster) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s, err := New(Config{Brokers: c.ListenAddrs(), ReadOnly: readOnly, RegistryURL: registry})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return srv, cl, c
}

func TestTopicConfigsAndPartitions(t *testing.T) {
	srv, cl, fake := newOpsCluster(t, false, "")
	adm := kadm.NewClient(cl)
	code, loc, _ := post(t, srv.URL+"/topics/orders/configs", url.Values{"op": {"set"}, "key": {"retention.ms"}, "value": {"3600000"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "configured=retention.ms") {
		t.Fatalf("set retention.ms: %d %q", code, loc)
	}
	_, body := get(t, srv.URL+loc)
	if !strings.Contains(body, "Config retention.ms set.") || !strings.Contains(body, `<code>3600000</code></td><td class="source"><strong>dynamic (topic)</strong>`) {
		t.Errorf("topic page after set:\n%s", body)
	}
	rcs, err := adm.DescribeTopicConfigs(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := rcs.On("orders", nil); err != nil || !hasConfig(c.Configs, "retention.ms", "3600000") {
		t.Errorf("the broker's retention.ms: %v %+v", err, c)
	}
	// A value the broker refuses: its error in words, the form as typed
	// (kfake checks no values: it is told to refuse; the e2e test has
	// Ringtail refuse one).
	fake.ControlKey(int16(kmsg.IncrementalAlterConfigs), func(req kmsg.Request) (kmsg.Response, error, bool) {
		fake.KeepControl()
		r := req.(*kmsg.IncrementalAlterConfigsRequest)
		resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		for _, rr := range r.Resources {
			res := kmsg.NewIncrementalAlterConfigsResponseResource()
			res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
			if rr.Configs[0].Value != nil && *rr.Configs[0].Value == "soon" {
				res.ErrorCode = kerr.InvalidConfig.Code
				msg := "Invalid value soon for configuration retention.ms: Not a number of type LONG"
				res.ErrorMessage = &msg
			}
			resp.Resources = append(resp.Resources, res)
		}
		return resp, nil, true
	})
	code, _, body = post(t, srv.URL+"/topics/orders/configs", url.Values{"op": {"set"}, "key": {"retention.ms"}, "value": {"soon"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "Could not set retention.ms on topic") || !strings.Contains(body, `value="soon"`) ||
		!strings.Contains(body, "INVALID_CONFIG") || !strings.Contains(body, "Not a number of type LONG") {
		t.Errorf("bad value: %d\n%s", code, body)
	}
	code, _, body = post(t, srv.URL+"/topics/orders/configs", url.Values{"op": {"set"}, "key": {""}, "value": {"1"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "No config key given") {
		t.Errorf("no key: %d\n%s", code, body)
	}
	code, loc, _ = post(t, srv.URL+"/topics/orders/configs", url.Values{"op": {"delete"}, "key": {"retention.ms"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "unset=retention.ms") {
		t.Errorf("delete retention.ms: %d %q", code, loc)
	}
	code, loc, _ = post(t, srv.URL+"/topics/orders/partitions", url.Values{"count": {"5"}})
	if code != http.StatusSeeOther || loc != "/topics/orders?partitions=5" {
		t.Fatalf("add partitions: %d %q", code, loc)
	}
	if _, body := get(t, srv.URL+loc); !strings.Contains(body, "The topic has 5 partitions now.") || !strings.Contains(body, `value="6"`) {
		t.Errorf("after adding partitions:\n%s", body)
	}
	code, _, body = post(t, srv.URL+"/topics/orders/partitions", url.Values{"count": {"2"}})
	if code < 400 || !strings.Contains(body, "Could not add partitions to topic") || !strings.Contains(body, "INVALID_PARTITIONS") {
		t.Errorf("fewer partitions: %d\n%s", code, body)
	}
	code, _, body = post(t, srv.URL+"/topics/orders/partitions", url.Values{"count": {"lots"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "want the new total") {
		t.Errorf("not a number: %d\n%s", code, body)
	}
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.MaybeValue() == value {
			return true
		}
	}
	return false
}

func produceN(t *testing.T, cl *kgo.Client, p int32, n int, ts func(i int) time.Time) {
	t.Helper()
	for i := range n {
		r := &kgo.Record{Topic: "orders", Partition: p, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		if ts != nil {
			r.Timestamp = ts(i)
		}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeleteRecordsPages(t *testing.T) {
	srv, cl := newOpsConsole(t, false, "")
	produceN(t, cl, 0, 10, nil)
	produceN(t, cl, 1, 4, nil)
	code, body := get(t, srv.URL+"/topics/orders/delete-records?partition=all&before=6")
	if code != http.StatusOK || !strings.Contains(body, "<strong>10 records</strong> will be deleted from <strong>2 partitions</strong>") ||
		!strings.Contains(body, `name="o0" value="6"`) || !strings.Contains(body, `name="o1" value="4"`) || strings.Contains(body, `name="o2"`) {
		t.Fatalf("preview: %d\n%s", code, body)
	}
	code, body = get(t, srv.URL+"/topics/orders/delete-records?partition=0&before=11")
	if code != http.StatusBadRequest || !strings.Contains(body, "partition 0 holds offsets 0 to 9; offset 11 is out of range") {
		t.Errorf("past the end: %d\n%s", code, body)
	}
	code, _, body = post(t, srv.URL+"/topics/orders/delete-records", url.Values{"confirm": {"other"}, "o0": {"6"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "nothing was deleted") {
		t.Errorf("without the confirmation: %d\n%s", code, body)
	}
	code, loc, _ := post(t, srv.URL+"/topics/orders/delete-records", url.Values{"confirm": {"orders"}, "o0": {"6"}, "o1": {"4"}})
	if code != http.StatusSeeOther || loc != "/topics/orders?trimmed=2" {
		t.Fatalf("delete records: %d %q", code, loc)
	}
	starts, err := kadm.NewClient(cl).ListStartOffsets(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("orders", 0); o.Offset != 6 {
		t.Errorf("partition 0 starts at %d, want 6", o.Offset)
	}
	if o, _ := starts.Lookup("orders", 1); o.Offset != 4 {
		t.Errorf("partition 1 starts at %d, want 4", o.Offset)
	}
	// Past the end: the broker's refusal, per partition, in words.
	code, _, body = post(t, srv.URL+"/topics/orders/delete-records", url.Values{"confirm": {"orders"}, "o0": {"8"}, "o1": {"99"}})
	if code < 400 || !strings.Contains(body, "not deleted from partition(s) 1") || !strings.Contains(body, "start offset now 8") {
		t.Errorf("partly refused: %d\n%s", code, body)
	}
}

func TestProduceAndBrowse(t *testing.T) {
	reg := testRegistry(t)
	srv, cl := newOpsConsole(t, false, reg.URL)
	code, body := get(t, srv.URL+"/topics/orders/produce")
	if code != http.StatusOK || !strings.Contains(body, `id="produce-value"`) {
		t.Fatalf("produce form: %d\n%s", code, body)
	}
	code, loc, _ := post(t, srv.URL+"/topics/orders/produce", url.Values{"partition": {"2"}, "key": {"k1"}, "value": {`{"hello":"world"}`}, "headers": {"trace: t-1\nsource: console"}})
	if code != http.StatusSeeOther || loc != "/topics/orders/messages?partition=2&from=offset&offset=0&count=1&produced=2:0" {
		t.Fatalf("produce: %d %q", code, loc)
	}
	_, body = get(t, srv.URL+loc)
	for _, want := range []string{"Record produced to partition 2 at offset 0.", `<td class="key"><code>k1</code>`, `{&#34;hello&#34;:&#34;world&#34;}`, "<code>trace</code>: <code>t-1</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the produced record lacks %q:\n%s", want, body)
		}
	}
	code, _, body = post(t, srv.URL+"/topics/orders/produce", url.Values{"partition": {"7"}, "value": {"x"}})
	if code != http.StatusNotFound || !strings.Contains(body, "has no partition 7") || !strings.Contains(body, `>x</textarea>`) {
		t.Errorf("unknown partition: %d\n%s", code, body)
	}
	code, _, body = post(t, srv.URL+"/topics/orders/produce", url.Values{"headers": {"nocolon"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "want name: value") {
		t.Errorf("bad header: %d\n%s", code, body)
	}

	// Avro through the registry: a good record, one with an unknown
	// schema id, one written with another schema; from a timestamp.
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	user := avroBytes(t, testAvroUser, map[string]any{"name": "ada", "age": 36, "email": nil})
	for i, v := range [][]byte{framed(1, user), framed(9, user), framed(2, user), framed(1, user)} {
		r := &kgo.Record{Topic: "orders", Partition: 1, Value: v, Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	code, body = get(t, srv.URL+"/topics/orders/messages?partition=1&from=timestamp&time=2026-03-01T12:01&count=10")
	if code != http.StatusOK {
		t.Fatalf("from timestamp: %d\n%s", code, body)
	}
	for _, want := range []string{"3 of 3 records read", "(10 from 2026-03-01 12:01:00.000 UTC, partition 1)", "the schema registry has no schema 9",
		"does not decode with AVRO schema 2", `&#34;name&#34;: &#34;ada&#34;`, "(AVRO schema 1)", `data-offset="3"`} {
		if !strings.Contains(body, want) {
			t.Errorf("from timestamp lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `data-offset="0"`) {
		t.Errorf("the record before the time is shown")
	}
	if _, body := get(t, srv.URL+"/topics/orders/messages?partition=1&from=beginning&count=2"); !strings.Contains(body, "(2 from the beginning") {
		t.Errorf("from the beginning:\n%s", body)
	}
	if code, body := get(t, srv.URL+"/topics/orders/messages?from=timestamp&time=later"); code != http.StatusBadRequest || !strings.Contains(body, "want a date and time in UTC") {
		t.Errorf("bad time: %d\n%s", code, body)
	}
}

func TestOpsReadOnly(t *testing.T) {
	srv, _ := newOpsConsole(t, true, "")
	_, body := get(t, srv.URL+"/topics/orders")
	for _, hidden := range []string{"add-partitions", "edit-config", "delete-records", "produce-link"} {
		if strings.Contains(body, hidden) {
			t.Errorf("a read-only topic page offers %s", hidden)
		}
	}
	if _, body := get(t, srv.URL+"/topics/orders/messages"); strings.Contains(body, "produce-link") {
		t.Error("a read-only message browser offers to produce")
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/topics/orders/configs"}, {"POST", "/topics/orders/partitions"},
		{"GET", "/topics/orders/delete-records?before=1"}, {"POST", "/topics/orders/delete-records"},
		{"GET", "/topics/orders/produce"}, {"POST", "/topics/orders/produce"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader("op=set&key=retention.ms&value=1&count=9&confirm=orders&o0=1&value=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		code, body := fetch(t, req)
		if code != http.StatusForbidden || !strings.Contains(body, "This console is read-only") {
			t.Errorf("%s %s on a read-only console: %d\n%s", c.method, c.path, code, body)
		}
	}
}

func TestDeleteRecordsFirstVisit(t *testing.T) {
	srv, cl := newOpsConsole(t, false, "")
	produceN(t, cl, 0, 3, nil)
	code, body := get(t, srv.URL+"/topics/orders/delete-records")
	if code != http.StatusOK || !strings.Contains(body, `id="trim-hint"`) || strings.Contains(body, "confirm-trim") {
		t.Errorf("first visit offers to delete: %d\n%s", code, body)
	}
	if _, body := get(t, srv.URL+"/topics/orders/delete-records?partition=all&before="); !strings.Contains(body, "<strong>3 records</strong> will be deleted from <strong>1 partition</strong>") {
		t.Errorf("every record:\n%s", body)
	}
}
