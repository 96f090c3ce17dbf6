package e2e

// The built-in HTTP Proxy over plain net/http, as curl would use it:
// JSON and binary records produced through the v2 API land where the
// answers say; topics, partitions, offsets and brokers read back; a
// consumer instance in a group reads every record exactly once in offset
// order per partition, commits, and `ringtail group describe` (the real
// binary) shows those offsets; bad input gets Confluent's error codes.
// The v3 API lists the cluster and its topics and produces one record or
// a stream of them (one result per record, in order); Avro records are
// registered in the built-in Schema Registry, framed in Confluent's wire
// format, and read back as Avro JSON by an avro consumer instance.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

const (
	rpV2      = "application/vnd.kafka.v2+json"
	rpJSON    = "application/vnd.kafka.json.v2+json"
	rpBinary  = "application/vnd.kafka.binary.v2+json"
	rpAvro    = "application/vnd.kafka.avro.v2+json"
	rpTimeout = 20 * time.Second
)

// rpCall sends one request and returns the status and body.
func rpCall(t *testing.T, method, url, ct, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	cl := &http.Client{Timeout: rpTimeout}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rpJSONCall is rpCall that wants status want and decodes the body into v.
func rpJSONCall(t *testing.T, want int, v any, method, url, ct, body string, hdr ...string) {
	t.Helper()
	st, b := rpCall(t, method, url, ct, body, hdr...)
	if st != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, st, b, want)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(b), v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
}

// rpWantErr checks an error answer's status and Confluent error code.
func rpWantErr(t *testing.T, status, code int, method, url, ct, body string) {
	t.Helper()
	st, b := rpCall(t, method, url, ct, body)
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if st != status || json.Unmarshal([]byte(b), &e) != nil || e.Code != code || e.Message == "" {
		t.Fatalf("%s %s: %d %s, want %d with error_code %d", method, url, st, b, status, code)
	}
}

func rpWaitUp(t *testing.T, base string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "the HTTP proxy to answer", func() bool {
		resp, err := http.Get(base + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

type rpOffsets struct {
	Offsets []struct {
		Partition *int32  `json:"partition"`
		Offset    *int64  `json:"offset"`
		ErrorCode *int    `json:"error_code"`
		Error     *string `json:"error"`
	} `json:"offsets"`
	ValueSchemaID *int `json:"value_schema_id"`
}

type rpRecord struct {
	Topic     string          `json:"topic"`
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
}

func TestHTTPProxyProduceConsumeCommit(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{HTTPProxy: true})
	base := n.HTTPProxyURL()
	rpWaitUp(t, base)
	const topic, group, parts = "rp-orders", "rp-group", 3
	n.CreateTopic(topic, parts, nil)

	// Produce: keyed JSON records through the topic endpoint, binary ones
	// to partition 2 through the partition endpoint. produced[p] lists
	// each partition's values by offset.
	produced := map[int32]map[int64]string{}
	note := func(o rpOffsets, values []string) {
		t.Helper()
		if len(o.Offsets) != len(values) {
			t.Fatalf("%d offsets for %d records", len(o.Offsets), len(values))
		}
		for i, r := range o.Offsets {
			if r.ErrorCode != nil || r.Partition == nil || r.Offset == nil {
				t.Fatalf("record %d: %+v", i, r)
			}
			if produced[*r.Partition] == nil {
				produced[*r.Partition] = map[int64]string{}
			}
			produced[*r.Partition][*r.Offset] = values[i]
		}
	}
	var jsonRecs []string
	var jsonValues []string
	for i := range 12 {
		v := fmt.Sprintf(`{"n":%d,"s":"json-%d"}`, i, i)
		jsonRecs = append(jsonRecs, fmt.Sprintf(`{"key":"k%d","value":%s}`, i, v))
		jsonValues = append(jsonValues, v)
	}
	var o rpOffsets
	rpJSONCall(t, 200, &o, "POST", base+"/topics/"+topic, rpJSON, `{"records":[`+strings.Join(jsonRecs, ",")+`]}`)
	note(o, jsonValues)
	var binRecs, binValues []string
	for i := range 5 {
		v := fmt.Sprintf("bin\x00\xff%d", i)
		binRecs = append(binRecs, fmt.Sprintf(`{"value":%q}`, base64.StdEncoding.EncodeToString([]byte(v))))
		binValues = append(binValues, v)
	}
	o = rpOffsets{}
	rpJSONCall(t, 200, &o, "POST", base+"/topics/"+topic+"/partitions/2", rpBinary, `{"records":[`+strings.Join(binRecs, ",")+`]}`)
	for _, r := range o.Offsets {
		if r.Partition == nil || *r.Partition != 2 {
			t.Fatalf("partition endpoint wrote %+v", r)
		}
	}
	note(o, binValues)
	total := len(jsonValues) + len(binValues)

	// Metadata.
	var topics []string
	rpJSONCall(t, 200, &topics, "GET", base+"/topics", "", "")
	if !strings.Contains(strings.Join(topics, ","), topic) {
		t.Fatalf("GET /topics: %v", topics)
	}
	var td struct {
		Name       string            `json:"name"`
		Configs    map[string]string `json:"configs"`
		Partitions []struct {
			Partition int32 `json:"partition"`
			Leader    int32 `json:"leader"`
			Replicas  []struct {
				Broker int32 `json:"broker"`
				Leader bool  `json:"leader"`
				InSync bool  `json:"in_sync"`
			} `json:"replicas"`
		} `json:"partitions"`
	}
	rpJSONCall(t, 200, &td, "GET", base+"/topics/"+topic, "", "")
	if td.Name != topic || len(td.Partitions) != parts || td.Configs["cleanup.policy"] != "delete" ||
		td.Partitions[0].Leader != 1 || len(td.Partitions[0].Replicas) != 1 || !td.Partitions[0].Replicas[0].InSync {
		t.Fatalf("GET /topics/%s: %+v", topic, td)
	}
	var ps []json.RawMessage
	rpJSONCall(t, 200, &ps, "GET", base+"/topics/"+topic+"/partitions", "", "")
	if len(ps) != parts {
		t.Fatalf("partitions: %d", len(ps))
	}
	rpJSONCall(t, 200, nil, "GET", base+"/topics/"+topic+"/partitions/1", "", "")
	for p := int32(0); p < parts; p++ {
		var offs struct {
			Beginning int64 `json:"beginning_offset"`
			End       int64 `json:"end_offset"`
		}
		rpJSONCall(t, 200, &offs, "GET", fmt.Sprintf("%s/topics/%s/partitions/%d/offsets", base, topic, p), "", "")
		if offs.Beginning != 0 || offs.End != int64(len(produced[p])) {
			t.Fatalf("partition %d offsets %+v, produced %d", p, offs, len(produced[p]))
		}
	}
	var brokers struct {
		Brokers []int32 `json:"brokers"`
	}
	rpJSONCall(t, 200, &brokers, "GET", base+"/brokers", "", "")
	if len(brokers.Brokers) != 1 || brokers.Brokers[0] != 1 {
		t.Fatalf("brokers: %+v", brokers)
	}

	// A consumer instance in the group reads everything.
	var created struct {
		InstanceID string `json:"instance_id"`
		BaseURI    string `json:"base_uri"`
	}
	rpJSONCall(t, 200, &created, "POST", base+"/consumers/"+group, rpV2,
		`{"name":"c1","format":"binary","auto.offset.reset":"earliest","auto.commit.enable":"false"}`)
	inst := base + "/consumers/" + group + "/instances/c1"
	if created.InstanceID != "c1" || created.BaseURI != inst {
		t.Fatalf("create: %+v", created)
	}
	rpJSONCall(t, 204, nil, "POST", inst+"/subscription", rpV2, `{"topics":["`+topic+`"]}`)
	var sub struct {
		Topics []string `json:"topics"`
	}
	rpJSONCall(t, 200, &sub, "GET", inst+"/subscription", "", "")
	if len(sub.Topics) != 1 || sub.Topics[0] != topic {
		t.Fatalf("subscription: %+v", sub)
	}
	next := map[int32]int64{} // per partition, the offset the next record must have
	got := 0
	deadline := time.Now().Add(rpTimeout)
	for got < total {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d records before the deadline", got, total)
		}
		var recs []rpRecord
		rpJSONCall(t, 200, &recs, "GET", inst+"/records?timeout=500&max_bytes=300", "", "", "Accept", rpBinary)
		for _, r := range recs {
			var b64 string
			if err := json.Unmarshal(r.Value, &b64); err != nil {
				t.Fatalf("value %s is not a base64 string", r.Value)
			}
			v, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := produced[r.Partition][r.Offset]
			if r.Topic != topic || !ok || string(v) != want {
				t.Fatalf("record %s-%d@%d = %q, produced %q (%v)", r.Topic, r.Partition, r.Offset, v, want, ok)
			}
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d read, %d expected next (a gap, a repeat or out of order)", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			got++
		}
	}
	var asg struct {
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
		} `json:"partitions"`
	}
	rpJSONCall(t, 200, &asg, "GET", inst+"/assignments", "", "")
	if len(asg.Partitions) != parts {
		t.Fatalf("assignments: %+v", asg)
	}

	// Commit what was read; GET offsets shows it; so does the CLI.
	rpJSONCall(t, 200, nil, "POST", inst+"/offsets", rpV2, "")
	// An explicit commit names the last record read (Confluent commits
	// the one after it): the same offsets for partition 0.
	rpJSONCall(t, 200, nil, "POST", inst+"/offsets", rpV2,
		fmt.Sprintf(`{"offsets":[{"topic":%q,"partition":0,"offset":%d}]}`, topic, next[0]-1))
	var committed struct {
		Offsets []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Offset    int64  `json:"offset"`
		} `json:"offsets"`
	}
	rpJSONCall(t, 200, &committed, "GET", inst+"/offsets", rpV2,
		fmt.Sprintf(`{"partitions":[{"topic":%q,"partition":0},{"topic":%q,"partition":1},{"topic":%q,"partition":2}]}`, topic, topic, topic))
	if len(committed.Offsets) != parts {
		t.Fatalf("committed: %+v", committed)
	}
	for _, c := range committed.Offsets {
		if c.Offset != int64(len(produced[c.Partition])) {
			t.Fatalf("partition %d committed %d, want %d", c.Partition, c.Offset, len(produced[c.Partition]))
		}
	}
	cmd := exec.Command(n.Bin, "group", "describe", group, "-b", n.Addr())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ringtail group describe: %v\n%s%s", err, out.String(), errb.String())
	}
	for p := int32(0); p < parts; p++ {
		end := strconv.Itoa(len(produced[p]))
		if !hasFields(out.String(), []string{group, topic, strconv.Itoa(int(p)), end, end, "0"}) {
			t.Fatalf("group describe lacks partition %d at %s:\n%s", p, end, out.String())
		}
	}
	if !strings.Contains(out.String(), "Members: 1") {
		t.Fatalf("group describe does not show the instance as the member:\n%s", out.String())
	}

	// Bad input.
	rpWantErr(t, 415, 415, "POST", base+"/topics/"+topic, "text/plain", `{"records":[{"value":1}]}`)
	rpWantErr(t, 400, 400, "POST", base+"/topics/"+topic, rpJSON, `{"records":[{"value":1}`)
	rpWantErr(t, 422, 422, "POST", base+"/topics/"+topic, rpJSON, `{"records":"nope"}`)
	rpWantErr(t, 422, 422, "POST", base+"/topics/"+topic, rpBinary, `{"records":[{"value":"AA=="},{"value":"not base64!"}]}`)
	rpWantErr(t, 404, 40401, "POST", base+"/topics/no-such-topic", rpJSON, `{"records":[{"value":1}]}`)
	rpWantErr(t, 404, 40401, "GET", base+"/topics/no-such-topic", "", "")
	rpWantErr(t, 404, 40402, "GET", base+"/topics/"+topic+"/partitions/9", "", "")
	rpWantErr(t, 404, 40402, "POST", base+"/topics/"+topic+"/partitions/9", rpJSON, `{"records":[{"value":1}]}`)
	rpWantErr(t, 404, 40403, "GET", base+"/consumers/"+group+"/instances/nobody/records", "", "")
	if st, b := rpCall(t, "GET", inst+"/records", "", "", "Accept", rpJSON); st != 406 || !strings.Contains(b, `"error_code":40601`) {
		t.Fatalf("json Accept on a binary instance: %d %s", st, b)
	}
	// Avro without a registry on this node.
	rpWantErr(t, 408, 40801, "POST", base+"/topics/"+topic, rpAvro, `{"value_schema":"\"int\"","records":[{"value":1}]}`)
	// None of the refused requests wrote anything.
	for p := int32(0); p < parts; p++ {
		var offs struct {
			End int64 `json:"end_offset"`
		}
		rpJSONCall(t, 200, &offs, "GET", fmt.Sprintf("%s/topics/%s/partitions/%d/offsets", base, topic, p), "", "")
		if offs.End != int64(len(produced[p])) {
			t.Fatalf("partition %d grew to %d after refused requests", p, offs.End)
		}
	}

	// Seeks: partition 0 back to its beginning, partition 2 to offset 1;
	// the next records of each start there.
	rpJSONCall(t, 204, nil, "POST", inst+"/positions/beginning", rpV2, fmt.Sprintf(`{"partitions":[{"topic":%q,"partition":0}]}`, topic))
	rpJSONCall(t, 204, nil, "POST", inst+"/positions", rpV2, fmt.Sprintf(`{"offsets":[{"topic":%q,"partition":2,"offset":1}]}`, topic))
	firstAfterSeek := map[int32]int64{}
	for len(firstAfterSeek) < 2 {
		if time.Now().After(deadline.Add(rpTimeout)) {
			t.Fatalf("after the seeks, read the start of only %v", firstAfterSeek)
		}
		var recs []rpRecord
		rpJSONCall(t, 200, &recs, "GET", inst+"/records?timeout=500", "", "", "Accept", rpBinary)
		for _, r := range recs {
			if _, ok := firstAfterSeek[r.Partition]; !ok {
				firstAfterSeek[r.Partition] = r.Offset
			}
		}
	}
	if firstAfterSeek[0] != 0 || firstAfterSeek[2] != 1 {
		t.Fatalf("first offsets after the seeks: %v, want 0 for partition 0 and 1 for partition 2", firstAfterSeek)
	}

	rpJSONCall(t, 204, nil, "DELETE", inst, "", "")
	rpWantErr(t, 404, 40403, "GET", inst+"/records", "", "")
}

func TestHTTPProxyV3StreamAndAvro(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{HTTPProxy: true, SchemaRegistry: true})
	base := n.HTTPProxyURL()
	rpWaitUp(t, base)
	const topic, avroTopic = "rp-v3", "rp-avro"
	n.CreateTopic(topic, 2, nil)
	n.CreateTopic(avroTopic, 1, nil)

	// v3 cluster and topics.
	var clusters struct {
		Kind string `json:"kind"`
		Data []struct {
			Kind      string `json:"kind"`
			ClusterID string `json:"cluster_id"`
		} `json:"data"`
	}
	rpJSONCall(t, 200, &clusters, "GET", base+"/v3/clusters", "", "")
	if clusters.Kind != "KafkaClusterList" || len(clusters.Data) != 1 || clusters.Data[0].ClusterID == "" {
		t.Fatalf("clusters: %+v", clusters)
	}
	id := clusters.Data[0].ClusterID
	cluster := base + "/v3/clusters/" + id
	var one struct {
		ClusterID string `json:"cluster_id"`
	}
	rpJSONCall(t, 200, &one, "GET", cluster, "", "")
	if one.ClusterID != id {
		t.Fatalf("cluster: %+v", one)
	}
	rpWantErr(t, 404, 404, "GET", base+"/v3/clusters/not-this-one", "", "")
	var topics struct {
		Data []struct {
			TopicName       string `json:"topic_name"`
			PartitionsCount int    `json:"partitions_count"`
		} `json:"data"`
	}
	rpJSONCall(t, 200, &topics, "GET", cluster+"/topics", "", "")
	found := false
	for _, d := range topics.Data {
		found = found || (d.TopicName == topic && d.PartitionsCount == 2)
	}
	if !found {
		t.Fatalf("v3 topics lack %s: %+v", topic, topics)
	}

	// v3 produce: one record answers one result.
	type v3Result struct {
		ErrorCode   int    `json:"error_code"`
		Message     string `json:"message"`
		PartitionID int32  `json:"partition_id"`
		Offset      int64  `json:"offset"`
		Value       *struct {
			Type string `json:"type"`
			Size int    `json:"size"`
		} `json:"value"`
	}
	records := cluster + "/topics/" + topic + "/records"
	var r1 v3Result
	rpJSONCall(t, 200, &r1, "POST", records, "application/json",
		`{"partition_id":1,"key":{"type":"STRING","data":"k"},"value":{"type":"JSON","data":{"a":[1,2]}}}`)
	if r1.ErrorCode != 200 || r1.PartitionID != 1 || r1.Offset != 0 || r1.Value == nil || r1.Value.Type != "JSON" || r1.Value.Size != len(`{"a":[1,2]}`) {
		t.Fatalf("single: %+v", r1)
	}
	// A stream answers one result per record, in order; bad records (a
	// partition the topic lacks, a partition_id that is not a number)
	// fail alone.
	stream := `{"partition_id":1,"value":{"type":"STRING","data":"s1"}}
{"partition_id":7,"value":{"type":"STRING","data":"bad"}}
{"partition_id":"one","value":{"type":"STRING","data":"bad"}}
{"partition_id":1,"value":{"type":"BINARY","data":"czM="}}`
	st, body := rpCall(t, "POST", records, "application/json", stream)
	if st != 200 {
		t.Fatalf("stream: %d %s", st, body)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	var results []v3Result
	for dec.More() {
		var r v3Result
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("stream results %q: %v", body, err)
		}
		results = append(results, r)
	}
	if len(results) != 4 || results[0].ErrorCode != 200 || results[0].Offset != 1 || results[1].ErrorCode != 404 ||
		results[2].ErrorCode != 422 || results[3].ErrorCode != 200 || results[3].Offset != 2 {
		t.Fatalf("stream results: %+v", results)
	}
	cl := n.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {1: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	var vals []string
	ctx, cancel := context.WithTimeout(context.Background(), rpTimeout)
	defer cancel()
	for len(vals) < 3 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	if strings.Join(vals, "|") != `{"a":[1,2]}|s1|s3` {
		t.Fatalf("partition 1 holds %q", vals)
	}

	// Avro: the schema is registered under <topic>-value, the record
	// framed in Confluent's wire format; the id alone works next.
	const schema = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}`
	body = fmt.Sprintf(`{"value_schema":%q,"records":[{"value":{"name":"ann","email":{"string":"a@x"}}}]}`, schema)
	var o rpOffsets
	rpJSONCall(t, 200, &o, "POST", base+"/topics/"+avroTopic, rpAvro, body)
	if o.ValueSchemaID == nil || len(o.Offsets) != 1 || o.Offsets[0].ErrorCode != nil {
		t.Fatalf("avro produce: %+v", o)
	}
	sid := *o.ValueSchemaID
	rpJSONCall(t, 200, &o, "POST", base+"/topics/"+avroTopic, rpAvro,
		fmt.Sprintf(`{"value_schema_id":%d,"records":[{"value":{"name":"bob"}}]}`, sid))
	rpWantErr(t, 422, 42203, "POST", base+"/topics/"+avroTopic, rpAvro,
		fmt.Sprintf(`{"value_schema_id":%d,"records":[{"value":{"name":5}}]}`, sid))
	rpWantErr(t, 408, 40801, "POST", base+"/topics/"+avroTopic, rpAvro, `{"value_schema_id":98765,"records":[{"value":{"name":"x"}}]}`)
	raw := n.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{avroTopic: {0: kgo.NewOffset().AtStart()}}))
	defer raw.Close()
	var first []byte
	for first == nil && ctx.Err() == nil {
		raw.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if first == nil {
				first = r.Value
			}
		})
	}
	var user struct {
		Name  string  `avro:"name"`
		Email *string `avro:"email"`
	}
	if len(first) < 5 || first[0] != 0 || int(binary.BigEndian.Uint32(first[1:5])) != sid {
		t.Fatalf("not Confluent's wire format with id %d: %x", sid, first)
	}
	if err := avro.Unmarshal(avro.MustParse(schema), first[5:], &user); err != nil || user.Name != "ann" || user.Email == nil || *user.Email != "a@x" {
		t.Fatalf("avro datum: %+v %v", user, err)
	}

	// An avro consumer instance, assigned the partition and moved to its
	// beginning, reads both back as Avro JSON.
	inst := base + "/consumers/rp-avro-group/instances/a1"
	rpJSONCall(t, 200, nil, "POST", base+"/consumers/rp-avro-group", rpV2, `{"name":"a1","format":"avro","auto.commit.enable":"false"}`)
	rpJSONCall(t, 204, nil, "POST", inst+"/assignments", rpV2, `{"partitions":[{"topic":"`+avroTopic+`","partition":0}]}`)
	rpJSONCall(t, 204, nil, "POST", inst+"/positions/beginning", rpV2, `{"partitions":[{"topic":"`+avroTopic+`","partition":0}]}`)
	var got []string
	deadline := time.Now().Add(rpTimeout)
	for len(got) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("avro consumer read %v before the deadline", got)
		}
		var recs []rpRecord
		rpJSONCall(t, 200, &recs, "GET", inst+"/records?timeout=500", "", "", "Accept", rpAvro)
		for _, r := range recs {
			got = append(got, string(r.Value))
		}
	}
	if got[0] != `{"email":{"string":"a@x"},"name":"ann"}` || got[1] != `{"email":null,"name":"bob"}` {
		t.Fatalf("avro records: %v", got)
	}
	rpJSONCall(t, 204, nil, "DELETE", inst, "", "")
}
