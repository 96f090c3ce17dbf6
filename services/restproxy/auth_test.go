// These tests prove the proxy's side of authentication without a broker:
// behind httpauth's http_basic middleware a request without credentials
// gets 401 with a Basic challenge and error code 40101; a consumer
// instance answers only the principal that made it (40403 to others);
// with Config.Authorize (mtls) produce, subscribe, commit and the
// metadata endpoints are refused with 403 40301 naming the resource
// before any Kafka request, and an undecidable check is 500; the broker's
// authorization errors map to Confluent's 40301; consumers come from the
// Impersonator when one is set; and the caller's Authorization header
// travels with registry requests.
package restproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/services/httpauth"
)

// asUser is a test middleware: the X-User header names the principal.
func asUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := req.Context()
		if u := req.Header.Get("X-User"); u != "" {
			ctx = httpauth.WithPrincipal(ctx, "User:"+u)
		}
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// wantErr checks an error answer's status, code and message.
func wantErr(t *testing.T, what string, resp *http.Response, body string, status, code int, msg string) {
	t.Helper()
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if resp.StatusCode != status || json.Unmarshal([]byte(body), &e) != nil || e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("%s: %d %s, want %d, error_code %d, message with %q", what, resp.StatusCode, body, status, code, msg)
	}
}

func TestInstanceOwnedByItsMaker(t *testing.T) {
	_, url := startTestProxy(t, func(c *Config) { c.Middleware = asUser })
	resp, body := do(t, "POST", url+"/consumers/g", ctV2, `{"name":"i1"}`, "X-User", "alice")
	if resp.StatusCode != 200 {
		t.Fatalf("alice creates: %d %s", resp.StatusCode, body)
	}
	inst := url + "/consumers/g/instances/i1"
	for _, c := range []struct{ method, path, ct, body string }{
		{"GET", "/subscription", "", ""},
		{"GET", "/assignments", "", ""},
		{"POST", "/subscription", ctV2, `{"topics":["t"]}`},
		{"POST", "/offsets", ctV2, ``},
		{"DELETE", "", "", ""},
	} {
		resp, body := do(t, c.method, inst+c.path, c.ct, c.body, "X-User", "bob")
		wantErr(t, "bob "+c.method+" "+c.path, resp, body, 404, 40403, "Consumer instance not found")
	}
	// A name is one per group: bob cannot take alice's either.
	resp, body = do(t, "POST", url+"/consumers/g", ctV2, `{"name":"i1"}`, "X-User", "bob")
	wantErr(t, "bob reuses the name", resp, body, 409, 40902, "already exists")
	if resp, body := do(t, "GET", inst+"/subscription", "", "", "X-User", "alice"); resp.StatusCode != 200 {
		t.Fatalf("alice reads her subscription: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "DELETE", inst, "", "", "X-User", "alice"); resp.StatusCode != 204 {
		t.Fatalf("alice deletes: %d %s", resp.StatusCode, body)
	}
}

// aclTable is an Authorize that allows the listed "principal op type:name"
// entries and fails for the resource named "broken".
type aclTable struct {
	allow map[string]bool
	asked []string
}

func (a *aclTable) authorize(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation) error {
	p := httpauth.Principal(ctx)
	k := fmt.Sprintf("%s %s %s:%s", p, op, rt, name)
	a.asked = append(a.asked, k)
	if name == "broken" {
		return errors.New("the ACLs could not be fetched")
	}
	if a.allow[k] {
		return nil
	}
	return &httpauth.DeniedError{Principal: p, Resource: rt, Name: name, Op: op}
}

func TestAuthorizeBeforeKafka(t *testing.T) {
	tab := &aclTable{allow: map[string]bool{"User:alice READ GROUP:g": true}}
	_, url := startTestProxy(t, func(c *Config) { c.Middleware, c.Authorize = asUser, tab.authorize })
	for _, c := range []struct {
		what, method, path, ct, body string
		status, code                 int
		msg                          string
	}{
		{"v2 produce", "POST", "/topics/t", fmtJSON.contentType(), `{"records":[{"value":1}]}`, 403, 40301, "User is denied operation Write on Topic: t"},
		{"v2 produce to a partition", "POST", "/topics/t/partitions/0", fmtJSON.contentType(), `{"records":[{"value":1}]}`, 403, 40301, "Write on Topic: t"},
		{"v3 produce", "POST", "/v3/clusters/c/topics/t/records", ctJSON, `{"value":{"type":"JSON","data":1}}`, 403, 403, "Write on Topic: t"},
		{"topic metadata", "GET", "/topics/t", "", "", 403, 40301, "Describe on Topic: t"},
		{"partitions", "GET", "/topics/t/partitions", "", "", 403, 40301, "Describe on Topic: t"},
		{"partition offsets", "GET", "/topics/t/partitions/0/offsets", "", "", 403, 40301, "Describe on Topic: t"},
		{"undecidable", "POST", "/topics/broken", fmtJSON.contentType(), `{"records":[{"value":1}]}`, 500, 50001, "could not be fetched"},
	} {
		resp, body := do(t, c.method, url+c.path, c.ct, c.body, "X-User", "alice")
		wantErr(t, c.what, resp, body, c.status, c.code, c.msg)
	}

	// Consumer instances: the group and the topics are checked before
	// the proxy's client joins or commits.
	if resp, body := do(t, "POST", url+"/consumers/g", ctV2, `{"name":"a"}`, "X-User", "alice"); resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", url+"/consumers/h", ctV2, `{"name":"a"}`, "X-User", "alice"); resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body := do(t, "POST", url+"/consumers/h/instances/a/subscription", ctV2, `{"topics":["t"]}`, "X-User", "alice")
	wantErr(t, "subscribe without READ on the group", resp, body, 403, 40301, "Read on Group: h")
	resp, body = do(t, "POST", url+"/consumers/g/instances/a/subscription", ctV2, `{"topics":["t"]}`, "X-User", "alice")
	wantErr(t, "subscribe without READ on the topic", resp, body, 403, 40301, "Read on Topic: t")
	resp, body = do(t, "POST", url+"/consumers/g/instances/a/assignments", ctV2, `{"partitions":[{"topic":"t","partition":0}]}`, "X-User", "alice")
	wantErr(t, "assign without READ on the topic", resp, body, 403, 40301, "Read on Topic: t")
	resp, body = do(t, "POST", url+"/consumers/h/instances/a/offsets", ctV2, `{"offsets":[{"topic":"t","partition":0,"offset":1}]}`, "X-User", "alice")
	wantErr(t, "commit without READ on the group", resp, body, 403, 40301, "Read on Group: h")
	resp, body = do(t, "POST", url+"/consumers/g/instances/a/offsets", ctV2, `{"offsets":[{"topic":"t","partition":0,"offset":1}]}`, "X-User", "alice")
	wantErr(t, "commit without READ on the topic", resp, body, 403, 40301, "Read on Topic: t")
	resp, body = do(t, "GET", url+"/consumers/g/instances/a/offsets", ctV2, `{"partitions":[{"topic":"t","partition":0}]}`, "X-User", "alice")
	wantErr(t, "committed offsets without DESCRIBE on the group", resp, body, 403, 40301, "Describe on Group: g")
}

func TestVisibleTopics(t *testing.T) {
	tab := &aclTable{allow: map[string]bool{"User:alice DESCRIBE TOPIC:a": true, "User:alice DESCRIBE TOPIC:c": true}}
	p := &Proxy{cfg: Config{Authorize: tab.authorize}}
	req := httptest.NewRequest("GET", "/topics", nil)
	req = req.WithContext(httpauth.WithPrincipal(req.Context(), "User:alice"))
	got, err := p.visible(req, []string{"a", "b", "c"})
	if err != nil || strings.Join(got, ",") != "a,c" {
		t.Fatalf("visible: %v %v", got, err)
	}
	if _, err := p.visible(req, []string{"a", "broken"}); err == nil {
		t.Fatal("an undecidable topic was left out silently")
	}
	open := &Proxy{}
	if got, _ := open.visible(req, []string{"a", "b"}); len(got) != 2 {
		t.Fatalf("without Authorize: %v", got)
	}
}

func TestErrDenied(t *testing.T) {
	for _, c := range []struct {
		err          error
		topic, group string
		code         int
		msg          string
	}{
		{kerr.TopicAuthorizationFailed, "t", "", 40301, "Not authorized to access topics: [t]"},
		{fmt.Errorf("t-0: %w", kerr.TopicAuthorizationFailed), "", "", 40301, "Not authorized to access topics"},
		{kerr.GroupAuthorizationFailed, "", "g", 40301, "Not authorized to access group: g"},
		{kerr.ClusterAuthorizationFailed, "", "", 40301, "Cluster authorization failed."},
		{kerr.SaslAuthenticationFailed, "", "", 40101, "Authentication failed"},
	} {
		d := errDenied(c.err, c.topic, c.group)
		if d == nil || d.Status != c.code/100 || d.Code != c.code || !strings.Contains(d.Message, c.msg) {
			t.Errorf("%v: %+v", c.err, d)
		}
	}
	if d := errDenied(kerr.NotLeaderForPartition, "t", ""); d != nil {
		t.Errorf("a retriable error mapped to %+v", d)
	}
	if e := errKafka(fmt.Errorf("x: %w", kerr.GroupAuthorizationFailed)); e.Status != 403 || e.Code != 40301 {
		t.Errorf("errKafka of a group authorization failure: %+v", e)
	}
}

// refusingImpersonator fails every client it is asked for, naming which.
type refusingImpersonator struct{}

func (refusingImpersonator) Client(context.Context) (*kgo.Client, error) {
	return nil, errors.New("shared client as the caller refused")
}

func (refusingImpersonator) NewClient(context.Context, ...kgo.Opt) (*kgo.Client, error) {
	return nil, errors.New("consumer client as the caller refused")
}

func TestImpersonatedClients(t *testing.T) {
	_, url := startTestProxy(t, func(c *Config) { c.Impersonate = refusingImpersonator{} })
	resp, body := do(t, "POST", url+"/topics/t", fmtJSON.contentType(), `{"records":[{"value":1}]}`)
	wantErr(t, "produce", resp, body, 500, 50002, "shared client as the caller refused")
	if resp, body := do(t, "POST", url+"/consumers/g", ctV2, `{"name":"a"}`); resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "POST", url+"/consumers/g/instances/a/subscription", ctV2, `{"topics":["t"]}`)
	wantErr(t, "subscribe", resp, body, 500, 50002, "consumer client as the caller refused")
}

func TestHTTPBasicChallenge(t *testing.T) {
	a, err := httpauth.New(httpauth.Config{Mode: httpauth.ModeHTTPBasic, Service: "http-proxy", ErrorContentType: ctV2,
		Verifier: verifierFunc(func(string, string) error { return httpauth.ErrBadCredentials })})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, url := startTestProxy(t, func(c *Config) { c.Middleware, c.Impersonate = a.Middleware, a })
	for _, path := range []string{"/", "/topics", "/consumers/g/instances/a/records"} {
		resp, body := do(t, "GET", url+path, "", "")
		wantErr(t, "GET "+path, resp, body, 401, 40101, "Unauthorized")
		if resp.Header.Get("WWW-Authenticate") != `Basic realm="ringtail"` || resp.Header.Get("Content-Type") != ctV2 {
			t.Fatalf("GET %s: challenge %q, content type %q", path, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Content-Type"))
		}
	}
}

type verifierFunc func(user, password string) error

func (f verifierFunc) Verify(_ context.Context, user, password string) (*kgo.Client, error) {
	return nil, f(user, password)
}

func TestForwardAuthorization(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	cl := &http.Client{Transport: forwardAuthorization{http.DefaultTransport}}
	in := httptest.NewRequest("GET", "/", nil)
	in.SetBasicAuth("alice", "pw")
	send := func(ctx context.Context, own string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		if own != "" {
			req.Header.Set("Authorization", own)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send(withAuthorization(context.Background(), in), "")
	send(context.Background(), "")
	send(withAuthorization(context.Background(), in), "Bearer own")
	if len(got) != 3 || got[0] != in.Header.Get("Authorization") || got[1] != "" || got[2] != "Bearer own" {
		t.Fatalf("headers the registry saw: %q", got)
	}
}
