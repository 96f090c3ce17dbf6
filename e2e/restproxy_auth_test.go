package e2e

// This file proves that the built-in HTTP Proxy shares the broker's
// authentication and ACLs (ringtail.services_auth). With http_basic every
// route wants credentials (401, error code 40101, a Basic challenge), the
// proxy acts as the caller on the broker: alice, allowed WRITE and READ on
// a topic and READ on a group, produces and consumes through a consumer
// instance and commits; bob, without ACLs, gets 403 40301 naming the topic
// when he produces, does not see the topic in GET /topics, gets 403 when
// his own instance reads, and cannot use alice's instance (404 40403); the
// outcomes are counted under service="http-proxy". With mtls the proxy
// serves HTTPS only to clients with a certificate and checks the ACLs of
// the certificate's principal itself: produce, topic listing, subscribe,
// consume and commit.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ringtail/ringtail/testkit"
)

// rpAuth is the Authorization header of HTTP basic credentials.
func rpAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// rpErrBody is a Confluent error body.
type rpErrBody struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

// rpWantDenied checks an answer's status, error code and message.
func rpWantDenied(t *testing.T, what string, st int, body string, status, code int, msg string) {
	t.Helper()
	var e rpErrBody
	if st != status || json.Unmarshal([]byte(body), &e) != nil || e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("%s: %d %s, want %d with error_code %d and %q", what, st, body, status, code, msg)
	}
}

// rpCreateACLs creates ACLs with adm and fails on any error.
func rpCreateACLs(ctx context.Context, t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

func TestHTTPProxyHTTPBasicAuthAndACLs(t *testing.T) {
	t.Parallel()
	n, adminAddr, _ := startBasicAuthNode(t, testkit.Options{HTTPProxy: true, SchemaRegistry: true})
	const topic, group = "rpa-t", "rpa-g"
	n.CreateTopic(topic, 1, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(n.Client())
	rpCreateACLs(ctx, t, adm, kadm.NewACLs().Allow("User:alice").Topics(topic).Operations(kadm.OpWrite, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	rpCreateACLs(ctx, t, adm, kadm.NewACLs().Allow("User:alice").Groups(group).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	rpCreateACLs(ctx, t, adm, kadm.NewACLs().Allow("User:alice").Topics("_schemas").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))

	base := n.HTTPProxyURL()
	alice, bob := []string{"Authorization", rpAuth("alice", "alice-pw")}, []string{"Authorization", rpAuth("bob", "bob-pw")}
	// No credentials: 401 with the challenge, on every route.
	var st int
	var body string
	testkit.WaitFor(t, 10*time.Second, "the HTTP proxy to answer", func() bool {
		resp, err := http.Get(base + "/topics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("WWW-Authenticate") != `Basic realm="ringtail"` {
			t.Fatalf("no challenge: %d %v %s", resp.StatusCode, resp.Header, b)
		}
		st, body = resp.StatusCode, string(b)
		return true
	})
	rpWantDenied(t, "no credentials", st, body, 401, 40101, "Unauthorized")
	st, body = rpCall(t, "POST", base+"/topics/"+topic, rpJSON, `{"records":[{"value":1}]}`, "Authorization", rpAuth("alice", "wrong"))
	rpWantDenied(t, "wrong password", st, body, 401, 40101, "invalid user name or password")

	// alice sees the topic once her ACLs are in force, and produces.
	testkit.WaitFor(t, 15*time.Second, "alice's ACLs to take effect", func() bool {
		var topics []string
		st, b := rpCall(t, "GET", base+"/topics", "", "", alice...)
		return st == 200 && json.Unmarshal([]byte(b), &topics) == nil && strings.Contains(strings.Join(topics, ","), topic)
	})
	var offs rpOffsets
	rpJSONCall(t, 200, &offs, "POST", base+"/topics/"+topic, rpJSON, `{"records":[{"value":{"from":"alice"}}]}`, alice...)
	if len(offs.Offsets) != 1 || offs.Offsets[0].Offset == nil || offs.Offsets[0].ErrorCode != nil {
		t.Fatalf("alice produces: %+v", offs)
	}

	// bob has no ACLs: the broker refuses him, and the topic is hidden.
	st, body = rpCall(t, "POST", base+"/topics/"+topic, rpJSON, `{"records":[{"value":{"from":"bob"}}]}`, bob...)
	rpWantDenied(t, "bob produces", st, body, 403, 40301, "Not authorized to access topics: ["+topic+"]")
	var topics []string
	rpJSONCall(t, 200, &topics, "GET", base+"/topics", "", "", bob...)
	if strings.Contains(strings.Join(topics, ","), topic) {
		t.Fatalf("bob sees %v", topics)
	}
	st, body = rpCall(t, "GET", base+"/topics/"+topic, "", "", bob...)
	rpWantDenied(t, "bob describes the topic", st, body, 403, 40301, topic)

	// alice consumes through an instance in her group and commits.
	inst := base + "/consumers/" + group + "/instances/alice-1"
	rpJSONCall(t, 200, nil, "POST", base+"/consumers/"+group, rpV2, `{"name":"alice-1","format":"json","auto.offset.reset":"earliest"}`, alice...)
	rpJSONCall(t, 204, nil, "POST", inst+"/subscription", rpV2, fmt.Sprintf(`{"topics":[%q]}`, topic), alice...)
	var got []rpRecord
	testkit.WaitFor(t, 15*time.Second, "alice's record through her instance", func() bool {
		var recs []rpRecord
		rpJSONCall(t, 200, &recs, "GET", inst+"/records?timeout=500", "", "", append(alice, "Accept", rpJSON)...)
		got = append(got, recs...)
		return len(got) > 0
	})
	if len(got) != 1 || string(got[0].Value) != `{"from":"alice"}` {
		t.Fatalf("alice reads %+v", got)
	}
	rpJSONCall(t, 200, nil, "POST", inst+"/offsets", rpV2, "", alice...)

	// bob cannot use alice's instance: to him it does not exist.
	st, body = rpCall(t, "GET", inst+"/records", "", "", bob...)
	rpWantDenied(t, "bob reads alice's instance", st, body, 404, 40403, "Consumer instance not found")
	st, body = rpCall(t, "DELETE", inst, "", "", bob...)
	rpWantDenied(t, "bob deletes alice's instance", st, body, 404, 40403, "Consumer instance not found")

	// bob's own instance acts as bob: the broker refuses his group.
	bobInst := base + "/consumers/" + group + "/instances/bob-1"
	rpJSONCall(t, 200, nil, "POST", base+"/consumers/"+group, rpV2, `{"name":"bob-1","format":"json"}`, bob...)
	rpJSONCall(t, 204, nil, "POST", bobInst+"/subscription", rpV2, fmt.Sprintf(`{"topics":[%q]}`, topic), bob...)
	testkit.WaitFor(t, 15*time.Second, "bob's instance to be refused", func() bool {
		st, body = rpCall(t, "GET", bobInst+"/records?timeout=500", "", "", bob...)
		return st != 200
	})
	rpWantDenied(t, "bob reads through his instance", st, body, 403, 40301, "Not authorized to access")
	rpJSONCall(t, 204, nil, "DELETE", inst, "", "", alice...)

	// Avro, after the json instance is done: the proxy registers the
	// schema as alice (her credentials travel to the registry, which
	// wants WRITE on _schemas).
	offs = rpOffsets{}
	rpJSONCall(t, 200, &offs, "POST", base+"/topics/"+topic, rpAvro,
		`{"value_schema":"{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"n\",\"type\":\"long\"}]}","records":[{"value":{"n":1}}]}`, alice...)
	if offs.ValueSchemaID == nil || len(offs.Offsets) != 1 || offs.Offsets[0].ErrorCode != nil {
		t.Fatalf("alice produces Avro: %+v", offs)
	}

	_, metrics := httpDo(t, "GET", "http://"+adminAddr+"/metrics")
	for _, want := range []string{
		`ringtail_services_auth_total{mode="http_basic",result="success",service="http-proxy"}`,
		`ringtail_services_auth_total{mode="http_basic",result="failure",service="http-proxy"}`,
		`ringtail_services_auth_total{mode="http_basic",result="missing",service="http-proxy"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestHTTPProxyMTLS(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t, "services CA")
	n := testkit.NewNode(t, testkit.Options{HTTPProxy: true, Settings: mtlsACLSettings("User:ANONYMOUS"), Ringtail: servicesMTLS(t, ca, "proxy")})
	n.Start()
	const topic, hidden = "rpm-t", "rpm-hidden"
	n.CreateTopic(topic, 1, nil)
	n.CreateTopic(hidden, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rpCreateACLs(ctx, t, kadm.NewClient(n.Client()),
		kadm.NewACLs().Allow("User:writer").Topics(topic).Operations(kadm.OpWrite, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	rpCreateACLs(ctx, t, kadm.NewClient(n.Client()),
		kadm.NewACLs().Allow("User:writer").Groups("rpm-w").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))

	base := strings.Replace(n.HTTPProxyURL(), "http://", "https://", 1)
	client := func(cn string) *http.Client {
		return &http.Client{Timeout: rpTimeout, Transport: &http.Transport{TLSClientConfig: certClientTLS(t, ca, cn)}}
	}
	call := func(cl *http.Client, method, url, ct, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if _, err := client("").Get(base + "/topics"); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	// CN=Writer maps to User:writer (the rule lower-cases it).
	writer := client("Writer")
	testkit.WaitFor(t, 15*time.Second, "the writer's ACL to take effect", func() bool {
		st, _ := call(writer, "POST", base+"/topics/"+topic, rpJSON, `{"records":[{"value":1}]}`)
		return st == 200
	})
	var topics []string
	st, body := call(writer, "GET", base+"/topics", "", "")
	if st != 200 || json.Unmarshal([]byte(body), &topics) != nil || strings.Join(topics, ",") != topic {
		t.Fatalf("the writer lists %d %s, want only %s", st, body, topic)
	}
	nobody := client("nobody")
	st, body = call(nobody, "POST", base+"/topics/"+topic, rpJSON, `{"records":[{"value":1}]}`)
	rpWantDenied(t, "nobody produces", st, body, 403, 40301, "User is denied operation Write on Topic: "+topic)
	st, body = call(nobody, "POST", base+"/consumers/rpm-g", rpV2, `{"name":"n"}`)
	if st != 200 {
		t.Fatalf("nobody creates an instance: %d %s", st, body)
	}
	st, body = call(nobody, "POST", base+"/consumers/rpm-g/instances/n/subscription", rpV2, fmt.Sprintf(`{"topics":[%q]}`, topic))
	rpWantDenied(t, "nobody subscribes", st, body, 403, 40301, "Read on Group: rpm-g")
	st, body = call(writer, "GET", base+"/consumers/rpm-g/instances/n/subscription", "", "")
	rpWantDenied(t, "the writer uses nobody's instance", st, body, 404, 40403, "Consumer instance not found")

	// With READ on the topic and the group the writer consumes (through
	// the proxy's own client, the ACLs checked by the proxy) and commits.
	inst := base + "/consumers/rpm-w/instances/w"
	if st, body := call(writer, "POST", base+"/consumers/rpm-w", rpV2, `{"name":"w","format":"json","auto.offset.reset":"earliest"}`); st != 200 {
		t.Fatalf("the writer creates an instance: %d %s", st, body)
	}
	if st, body := call(writer, "POST", inst+"/subscription", rpV2, fmt.Sprintf(`{"topics":[%q]}`, topic)); st != 204 {
		t.Fatalf("the writer subscribes: %d %s", st, body)
	}
	testkit.WaitFor(t, 15*time.Second, "the writer's record through the instance", func() bool {
		st, body := call(writer, "GET", inst+"/records?timeout=500", "", "")
		if st != 200 {
			t.Fatalf("the writer reads: %d %s", st, body)
		}
		return body != "[]"
	})
	if st, body := call(writer, "POST", inst+"/offsets", rpV2, ""); st != 200 {
		t.Fatalf("the writer commits: %d %s", st, body)
	}
	if st, body := call(writer, "DELETE", inst, "", ""); st != 204 {
		t.Fatalf("the writer deletes the instance: %d %s", st, body)
	}
}
