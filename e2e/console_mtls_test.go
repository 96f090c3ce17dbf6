package e2e

// This file proves the web console under ringtail.services_auth = mtls:
// it serves HTTPS only to clients with a certificate of the services' CA
// (a client without one gets no page); a principal whose ACLs allow
// DESCRIBE and READ on topic "a" only (ssl.principal.mapping.rules maps
// CN=Reader to User:reader) sees "a" and not "b" in the topic list,
// browses "a"'s messages, and is refused with TOPIC_AUTHORIZATION_FAILED
// in words (403) when it creates a topic or deletes "a", which stays, and
// when it opens the schemas page (DESCRIBE on _schemas, as the registry
// asks); a super user's certificate creates and deletes topics and reads
// the schemas page, which the console fetches from the node's registry
// over HTTPS with the services' certificate.

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestConsoleMTLS(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t, "services CA")
	// ANONYMOUS is the PLAINTEXT listener: readiness, the console's own
	// client and this test's admin; CN=console is the services'
	// certificate, which the console presents to the registry.
	n := testkit.NewNode(t, testkit.Options{Console: true, SchemaRegistry: true,
		Settings: mtlsACLSettings("User:ANONYMOUS;User:root;User:CN=console"), Ringtail: servicesMTLS(t, ca, "console")})
	n.Start()
	n.CreateTopic("a", 1, nil)
	n.CreateTopic("b", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := n.Client()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("hello-from-a")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	rpCreateACLs(ctx, t, adm, kadm.NewACLs().Allow("User:reader").Topics("a").Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))

	base := strings.Replace(n.ConsoleURL(), "http://", "https://", 1)
	client := func(cn string) *http.Client {
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: certClientTLS(t, ca, cn)},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	do := func(hc *http.Client, method, path string, form url.Values) (int, string, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	reader, root := client("Reader"), client("root")

	// The console serves once the node is up; the reader's ACL takes
	// effect within the ACL cache's lifetime.
	var st int
	var body string
	testkit.WaitFor(t, 15*time.Second, "the reader to see topic a", func() bool {
		var err error
		st, body, err = do(reader, "GET", "/topics", nil)
		return err == nil && st == http.StatusOK && strings.Contains(body, `href="/topics/a"`)
	})
	if strings.Contains(body, `href="/topics/b"`) || !strings.Contains(body, "signed in as reader") {
		t.Fatalf("the reader's topic list shows b or not who is signed in:\n%s", body)
	}

	// No certificate: the handshake is refused, or at the least no page.
	if st, _, err := do(client(""), "GET", "/topics", nil); err == nil && st != http.StatusUnauthorized {
		t.Fatalf("a client without a certificate got %d", st)
	}
	// Plain HTTP is no way round it.
	if resp, err := http.Get(n.ConsoleURL() + "/topics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `href="/topics/a"`) {
			t.Fatal("plain HTTP served the topic list")
		}
	}

	st, body, err := do(reader, "GET", "/topics/a/messages", nil)
	if err != nil || st != http.StatusOK || !strings.Contains(body, "hello-from-a") {
		t.Fatalf("the reader browses a: %d %v\n%s", st, err, body)
	}
	st, body, _ = do(reader, "GET", "/topics/b/messages", nil)
	if st != http.StatusForbidden || !strings.Contains(body, "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("the reader browses b: %d\n%s", st, body)
	}
	st, body, _ = do(reader, "POST", "/topics", url.Values{"name": {"reader-t"}, "partitions": {"1"}, "replication_factor": {"1"}})
	if st != http.StatusForbidden || !strings.Contains(body, "TOPIC_AUTHORIZATION_FAILED") || !strings.Contains(body, "User:reader") {
		t.Fatalf("the reader creates a topic: %d\n%s", st, body)
	}
	st, body, _ = do(reader, "POST", "/topics/a/delete", url.Values{"confirm": {"a"}})
	if st != http.StatusForbidden || !strings.Contains(body, "User is denied operation Delete on Topic: a") {
		t.Fatalf("the reader deletes a: %d\n%s", st, body)
	}
	ts, err := adm.ListTopics(ctx, "a", "reader-t")
	if err != nil || !ts.Has("a") || ts["a"].Err != nil || (ts.Has("reader-t") && ts["reader-t"].Err == nil) {
		t.Fatalf("after the reader's refused create and delete: %v %+v", err, ts)
	}

	// A super user sees both, creates and deletes.
	if st, body, _ = do(root, "GET", "/topics", nil); st != http.StatusOK || !strings.Contains(body, `href="/topics/b"`) {
		t.Fatalf("root's topic list: %d\n%s", st, body)
	}
	if st, body, _ = do(root, "POST", "/topics", url.Values{"name": {"root-t"}, "partitions": {"1"}, "replication_factor": {"1"}}); st != http.StatusSeeOther {
		t.Fatalf("root creates a topic: %d\n%s", st, body)
	}
	if st, body, _ = do(root, "POST", "/topics/root-t/delete", url.Values{"confirm": {"root-t"}}); st != http.StatusSeeOther {
		t.Fatalf("root deletes a topic: %d\n%s", st, body)
	}
	if st, _, _ = do(root, "GET", "/", nil); st != http.StatusOK {
		t.Fatalf("root's overview: %d", st)
	}

	// The schemas page: the registry's own rule, checked for the caller.
	st, body, _ = do(reader, "GET", "/schemas", nil)
	if st != http.StatusForbidden || !strings.Contains(body, "User is denied operation Describe on Topic: _schemas") {
		t.Fatalf("the reader's schemas page: %d\n%s", st, body)
	}
	testkit.WaitFor(t, 15*time.Second, "root's schemas page", func() bool {
		st, body, _ = do(root, "GET", "/schemas", nil)
		return st == http.StatusOK
	})
}
