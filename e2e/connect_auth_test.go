package e2e

// This file proves that the daemon's Kafka Connect REST API shares the
// broker's authentication (ringtail.services_auth), as Kafka Connect's
// BasicAuthSecurityRestExtension does for its own REST API. With
// http_basic a request without credentials gets 401 with a Basic
// challenge and a JSON error body whose error_code is the HTTP status (as
// every Kafka Connect error is), a wrong password 401; a SCRAM user of the
// broker creates a FileStreamSource connector whose lines arrive in the
// topic, and an Avro one whose converter authenticates at the Schema
// Registry with Confluent's basic.auth keys. Kafka Connect authenticates
// only: the broker's ACLs do not apply to REST calls (a user without any
// ACL lists the connectors), the connectors act in Kafka with the
// worker's own client. The outcomes are counted under service="connect".
// With mtls the REST API is HTTPS for clients with a certificate only,
// and the worker's Avro converter reaches the registry over TLS with the
// services' certificate.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// connectTopicValues waits until topic holds want records (a connector's
// output) and returns their values.
func connectTopicValues(t *testing.T, n *testkit.Node, topic string, want int) [][]byte {
	t.Helper()
	cons := n.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var vals [][]byte
	testkit.WaitFor(t, 20*time.Second, fmt.Sprintf("%d records in %s", want, topic), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { vals = append(vals, r.Value) })
		return len(vals) >= want
	})
	return vals
}

func TestConnectHTTPBasicAuth(t *testing.T) {
	t.Parallel()
	n, adminAddr, _ := startBasicAuthNode(t, testkit.Options{Connect: true, SchemaRegistry: true})
	const topic, avroTopic = "cauth-lines", "cauth-avro"
	n.CreateTopic(topic, 1, nil)
	n.CreateTopic(avroTopic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(n.Client())
	// For the Avro converter acting as alice at the registry.
	rpCreateACLs(ctx, t, adm, kadm.NewACLs().Allow("User:alice").Topics("_schemas").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))

	base := n.ConnectURL()
	alice := []string{"Authorization", rpAuth("alice", "alice-pw")}
	// No credentials: 401, the challenge, Kafka Connect's error shape.
	var st int
	var body string
	testkit.WaitFor(t, 30*time.Second, "the Connect REST API to answer", func() bool {
		resp, err := http.Get(base + "/connectors")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.Header.Get("WWW-Authenticate") != `Basic realm="ringtail"` || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("no challenge or JSON: %d %v", resp.StatusCode, resp.Header)
		}
		b, _ := io.ReadAll(resp.Body)
		st, body = resp.StatusCode, string(b)
		return true
	})
	rpWantDenied(t, "no credentials", st, body, 401, 401, "Unauthorized")
	st, body = rpCall(t, "POST", base+"/connectors", "application/json", `{"name":"x","config":{}}`, "Authorization", rpAuth("alice", "wrong"))
	rpWantDenied(t, "wrong password", st, body, 401, 401, "invalid user name or password")

	// alice creates a file source.
	in := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(in, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	str := "org.apache.kafka.connect.storage.StringConverter"
	create := fmt.Sprintf(`{"name":"cauth-src","config":{"connector.class":"FileStreamSource","tasks.max":"1","file":%q,"topic":%q,"key.converter":%q,"value.converter":%q}}`,
		in, topic, str, str)
	// The worker answers the create once it has joined its group.
	var root struct {
		ClusterID string `json:"kafka_cluster_id"`
	}
	rpJSONCall(t, 200, &root, "GET", base+"/", "", "", alice...)
	if st, body = rpCall(t, "POST", base+"/connectors", "application/json", create, alice...); st != 201 {
		t.Fatalf("alice creates the connector: %d %s", st, body)
	}
	if got := connectTopicValues(t, n, topic, 2); string(bytes.Join(got, []byte(","))) != "one,two" {
		t.Fatalf("records in %s: %q, want one,two", topic, got)
	}

	// An Avro connector's converter authenticates at the registry with
	// Confluent's basic.auth keys.
	create = fmt.Sprintf(`{"name":"cauth-avro","config":{"connector.class":"FileStreamSource","tasks.max":"1","file":%q,"topic":%q,`+
		`"value.converter":"io.confluent.connect.avro.AvroConverter","value.converter.schema.registry.url":%q,`+
		`"value.converter.basic.auth.credentials.source":"USER_INFO","value.converter.basic.auth.user.info":"alice:alice-pw"}}`,
		in, avroTopic, n.SchemaRegistryURL())
	if st, body = rpCall(t, "POST", base+"/connectors", "application/json", create, alice...); st != 201 {
		t.Fatalf("alice creates the Avro connector: %d %s", st, body)
	}
	vals := connectTopicValues(t, n, avroTopic, 2)
	// Confluent's wire format: magic byte 0, the schema id, then Avro (a
	// zig-zag length 3 -> 6, "one").
	if len(vals) != 2 || len(vals[0]) < 5 || vals[0][0] != 0 || string(vals[0][5:]) != "\x06one" {
		t.Fatalf("Avro records: %q", vals)
	}

	// bob has no ACL at all: Connect authenticates him and asks nothing
	// more, as Kafka Connect does.
	var names []string
	rpJSONCall(t, 200, &names, "GET", base+"/connectors", "", "", "Authorization", rpAuth("bob", "bob-pw"))
	if strings.Join(names, ",") != "cauth-avro,cauth-src" {
		t.Fatalf("bob lists %v", names)
	}

	wantServicesAuthMetrics(t, adminAddr, "connect")
}

// wantServicesAuthMetrics checks that the node's /metrics (on adminAddr)
// counted service's http_basic successes, failures and requests without
// credentials, and has each line of extra.
func wantServicesAuthMetrics(t *testing.T, adminAddr, service string, extra ...string) {
	t.Helper()
	_, metrics := httpDo(t, "GET", "http://"+adminAddr+"/metrics")
	for _, result := range []string{"success", "failure", "missing"} {
		extra = append(extra, fmt.Sprintf(`ringtail_services_auth_total{mode="http_basic",result=%q,service=%q}`, result, service))
	}
	for _, want := range extra {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestConnectMTLS(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t, "services CA")
	rt := servicesMTLS(t, ca, "connect")
	rt["connect_value_converter"] = `"io.confluent.connect.avro.AvroConverter"`
	n := testkit.StartNode(t, testkit.Options{Connect: true, SchemaRegistry: true, Ringtail: rt})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	c, k := ca.Issue(t, testkit.CertOptions{CN: "operator"})
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	client := func(certs []tls.Certificate) *http.Client {
		tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: certs}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	base := strings.Replace(n.ConnectURL(), "http://", "https://", 1)
	var root struct {
		ClusterID string `json:"kafka_cluster_id"`
	}
	testkit.WaitFor(t, 30*time.Second, "the Connect REST API over TLS", func() bool {
		resp, err := client([]tls.Certificate{pair}).Get(base + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&root) == nil && root.ClusterID != ""
	})
	if resp, err := client(nil).Get(base + "/connectors"); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate was served: %d", resp.StatusCode)
	}
	if resp, err := http.Get(n.ConnectURL() + "/connectors"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain HTTP was served: %d", resp.StatusCode)
		}
	}

	// The worker's Avro converter registers the value schema at the
	// node's registry, which serves TLS and wants a certificate too.
	const topic = "cmtls-avro"
	n.CreateTopic(topic, 1, nil)
	in := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(in, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	create := fmt.Sprintf(`{"name":"cmtls","config":{"connector.class":"FileStreamSource","file":%q,"topic":%q,`+
		`"key.converter":"org.apache.kafka.connect.storage.StringConverter"}}`, in, topic)
	resp, err := client([]tls.Certificate{pair}).Post(base+"/connectors", "application/json", strings.NewReader(create))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("creating the connector: %d %s", resp.StatusCode, b)
	}
	val := connectTopicValues(t, n, topic, 1)[0]
	if len(val) < 5 || val[0] != 0 || string(val[5:]) != "\x06one" {
		t.Fatalf("Avro record: %q", val)
	}
}
