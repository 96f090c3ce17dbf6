package e2e

// This file proves that the web console signs users in and acts as them
// under ringtail.services_auth = http_basic: without credentials, or with
// a wrong password, every page is 401 with a Basic challenge (the
// browser's sign-in prompt); alice, allowed DESCRIBE and WRITE on the
// topics a-*, sees a-1 and not b-1 in the topic list; bob, without ACLs,
// gets the broker's TOPIC_AUTHORIZATION_FAILED in words (403) when he
// creates a topic; a super user sees both topics and creates one; and the
// header says who is signed in. `ringtail console --auth http_basic`
// signs users in the same way.

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ringtail/ringtail/testkit"
)

// consoleAs sends a request to the console with user's credentials ("" for
// none) and returns the status, the challenge and the body; redirects are
// not followed.
func consoleAs(t *testing.T, method, u, user, pw string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	cl := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
}

func TestConsoleHTTPBasicSignInAndACLs(t *testing.T) {
	t.Parallel()
	// ANONYMOUS is the PLAINTEXT listener: readiness and this test's admin.
	n, _, saslAddr := startBasicAuthNode(t, testkit.Options{Console: true, Settings: map[string]string{"super.users": `"User:ANONYMOUS;User:root"`}},
		"alice", "bob", "root")
	n.CreateTopic("a-1", 1, nil)
	n.CreateTopic("b-1", 1, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(n.Client())
	rpCreateACLs(ctx, t, adm, kadm.NewACLs().Allow("User:alice").Topics("a-").Operations(kadm.OpDescribe, kadm.OpWrite).ResourcePatternType(kadm.ACLPatternPrefixed))

	base := n.ConsoleURL()
	// No credentials: the challenge, on pages and actions alike.
	var st int
	var challenge, body string
	testkit.WaitFor(t, 10*time.Second, "the console to answer", func() bool {
		resp, err := http.Get(base + "/topics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		st, challenge = resp.StatusCode, resp.Header.Get("WWW-Authenticate")
		return true
	})
	if st != http.StatusUnauthorized || challenge != `Basic realm="ringtail"` {
		t.Fatalf("no credentials: %d, challenge %q", st, challenge)
	}
	st, challenge, body = consoleAs(t, "POST", base+"/topics", "", "", url.Values{"name": {"x"}, "partitions": {"1"}, "replication_factor": {"1"}})
	if st != http.StatusUnauthorized || challenge == "" {
		t.Fatalf("create without credentials: %d %q %s", st, challenge, body)
	}
	st, challenge, body = consoleAs(t, "GET", base+"/", "alice", "wrong", nil)
	if st != http.StatusUnauthorized || challenge == "" || !strings.Contains(body, "invalid user name or password") {
		t.Fatalf("wrong password: %d %q %s", st, challenge, body)
	}

	// alice sees her topic once her ACL is in force, never b-1.
	testkit.WaitFor(t, 15*time.Second, "alice's ACL to take effect", func() bool {
		st, _, body = consoleAs(t, "GET", base+"/topics", "alice", "alice-pw", nil)
		return st == http.StatusOK && strings.Contains(body, "a-1")
	})
	if strings.Contains(body, "b-1") || !strings.Contains(body, "signed in as alice") {
		t.Fatalf("alice's topics page:\n%s", body)
	}

	// bob may not create topics: the broker's refusal, in words.
	st, _, body = consoleAs(t, "POST", base+"/topics", "bob", "bob-pw", url.Values{"name": {"bob-t"}, "partitions": {"1"}, "replication_factor": {"1"}})
	if st != http.StatusForbidden || !strings.Contains(body, "AUTHORIZATION_FAILED") || !strings.Contains(body, "signed in as bob") {
		t.Fatalf("bob creates a topic: %d\n%s", st, body)
	}
	if st, _, body = consoleAs(t, "GET", base+"/topics", "bob", "bob-pw", nil); st != http.StatusOK || strings.Contains(body, "a-1") || strings.Contains(body, "b-1") {
		t.Fatalf("bob's topics page: %d\n%s", st, body)
	}

	// A super user sees everything and may create.
	st, _, body = consoleAs(t, "GET", base+"/topics", "root", "root-pw", nil)
	if st != http.StatusOK || !strings.Contains(body, "a-1") || !strings.Contains(body, "b-1") || !strings.Contains(body, "signed in as root") {
		t.Fatalf("root's topics page: %d\n%s", st, body)
	}
	st, _, body = consoleAs(t, "POST", base+"/topics", "root", "root-pw", url.Values{"name": {"root-t"}, "partitions": {"1"}, "replication_factor": {"1"}})
	if st != http.StatusSeeOther {
		t.Fatalf("root creates a topic: %d\n%s", st, body)
	}

	// `ringtail console --auth http_basic` against the SASL listener does
	// the same on its own.
	addr := "127.0.0.1:" + itoa(testkit.FreePort(t))
	cmd := exec.Command(n.Bin, "console", "--bootstrap", saslAddr, "--listen", addr, "--auth", "http_basic", "--sasl-mechanism", "SCRAM-SHA-512")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	testkit.WaitFor(t, 15*time.Second, "ringtail console to serve alice", func() bool {
		resp, err := http.Get("http://" + addr + "/topics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("ringtail console without credentials: %d\n%s", resp.StatusCode, out.String())
		}
		return true
	})
	st, _, body = consoleAs(t, "GET", "http://"+addr+"/topics", "alice", "alice-pw", nil)
	if st != http.StatusOK || !strings.Contains(body, "a-1") || strings.Contains(body, "b-1") || !strings.Contains(body, "signed in as alice") {
		t.Fatalf("ringtail console, alice's topics page: %d\n%s\n%s", st, body, out.String())
	}
}
