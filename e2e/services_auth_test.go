// This file proves that the built-in Schema Registry shares the broker's
// authentication and ACLs (ringtail.services_auth): with http_basic, a
// request without credentials or with a wrong password gets 401 with a
// Basic challenge and error_code 40101; SCRAM users made with
// AlterUserScramCredentials authenticate with their Kafka passwords; a
// user with WRITE on the _schemas topic registers and reads schemas, one
// without ACLs gets 403 40301 for both, and one granted DESCRIBE only
// reads but still cannot write; the outcomes are counted in
// ringtail_services_auth_total. With mtls, the registry serves HTTPS,
// refuses a client without a certificate, and authorizes the principal
// that ssl.principal.mapping.rules gives the certificate against the ACLs.
package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ringtail/ringtail/testkit"
)

// addListener adds a listener URL (e.g. SASL_PLAINTEXT://127.0.0.1:1234)
// to a prepared node's listeners and advertised listeners.
func addListener(t *testing.T, n *testkit.Node, url string) {
	t.Helper()
	data, err := os.ReadFile(n.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		fmt.Sprintf(`listeners = "PLAINTEXT://127.0.0.1:%d,`, n.Port),
		fmt.Sprintf(`listeners = "PLAINTEXT://127.0.0.1:%d,%s,`, n.Port, url),
		fmt.Sprintf(`advertised.listeners = "PLAINTEXT://127.0.0.1:%d"`, n.Port),
		fmt.Sprintf(`advertised.listeners = "PLAINTEXT://127.0.0.1:%d,%s"`, n.Port, url),
	).Replace(string(data))
	if strings.Count(s, url) != 2 {
		t.Fatalf("could not add %s to:\n%s", url, data)
	}
	if err := os.WriteFile(n.ConfigPath, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// srErr is the registry's answer in err: status and error code.
func srErr(err error) (int, int, string) {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode, re.Message
	}
	return 0, 0, fmt.Sprint(err)
}

const srAuthSchema = `{"type":"record","name":"Auth","fields":[{"name":"id","type":"long"}]}`

// startBasicAuthNode starts a node with the services of o under
// ringtail.services_auth = http_basic (SCRAM-SHA-512 on an added
// SASL_PLAINTEXT listener), the authorizer on with the PLAINTEXT
// listener's User:ANONYMOUS (readiness, the services' own clients, the
// test's admin) as super user (plus o.Settings' super.users if set), the
// admin server on, and the SCRAM users alice and bob, or users if given,
// each with the password <user>-pw. It returns the admin address and the
// SASL listener's address too.
func startBasicAuthNode(t *testing.T, o testkit.Options, users ...string) (n *testkit.Node, adminAddr, saslAddr string) {
	t.Helper()
	supers := o.Settings["super.users"]
	o.Settings = aclSettings()
	o.Settings["super.users"] = `"User:ANONYMOUS"`
	if supers != "" {
		o.Settings["super.users"] = supers
	}
	o.Ringtail = map[string]string{"services_auth": `"http_basic"`, "services_sasl_mechanism": `"SCRAM-SHA-512"`}
	o, adminAddr = withAdmin(t, o)
	n = testkit.NewNode(t, o)
	saslAddr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	addListener(t, n, "SASL_PLAINTEXT://"+saslAddr)
	n.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(users) == 0 {
		users = []string{"alice", "bob"}
	}
	var up []kadm.UpsertSCRAM
	for _, u := range users {
		up = append(up, kadm.UpsertSCRAM{User: u, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: u + "-pw"})
	}
	if res, err := kadm.NewClient(n.Client()).AlterUserSCRAMs(ctx, nil, up); err != nil || res.Error() != nil {
		t.Fatalf("creating users: %v %v", err, res.Error())
	}
	return n, adminAddr, saslAddr
}

func TestSchemaRegistryHTTPBasicAuthAndACLs(t *testing.T) {
	t.Parallel()
	n, adminAddr, _ := startBasicAuthNode(t, testkit.Options{SchemaRegistry: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(n.Client())
	allow := func(user string, ops ...kadm.ACLOperation) {
		t.Helper()
		b := kadm.NewACLs().Allow("User:" + user).Topics("_schemas").Operations(ops...).ResourcePatternType(kadm.ACLPatternLiteral)
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
	allow("alice", kadm.OpWrite, kadm.OpDescribe)

	url := n.SchemaRegistryURL()
	// No credentials: 401 with the challenge and the registry's error body.
	resp, err := http.Get(url + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var eb struct {
		Code int `json:"error_code"`
	}
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="ringtail"` || json.Unmarshal(body, &eb) != nil || eb.Code != 40101 {
		t.Fatalf("no credentials: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}

	client := func(user, pw string) *sr.Client {
		cl, err := sr.NewClient(sr.URLs(url), sr.BasicAuth(user, pw))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	if _, err := client("alice", "wrong").Subjects(ctx); err == nil {
		t.Fatal("wrong password accepted")
	} else if st, code, msg := srErr(err); st != 401 || code != 40101 {
		t.Fatalf("wrong password: %d %d %s", st, code, msg)
	}
	if _, err := client("mallory", "alice-pw").Subjects(ctx); err == nil {
		t.Fatal("unknown user accepted")
	} else if st, _, msg := srErr(err); st != 401 {
		t.Fatalf("unknown user: %d %s", st, msg)
	}

	alice := client("alice", "alice-pw")
	ss, err := alice.CreateSchema(ctx, "auth-value", sr.Schema{Schema: srAuthSchema})
	if err != nil {
		t.Fatalf("alice registers: %v", err)
	}
	if got, err := alice.SchemaByID(ctx, ss.ID); err != nil || !strings.Contains(got.Schema, `"Auth"`) {
		t.Fatalf("alice reads schema %d: %v %+v", ss.ID, err, got)
	}

	bob := client("bob", "bob-pw")
	_, err = bob.CreateSchema(ctx, "bob-value", sr.Schema{Schema: srAuthSchema})
	if st, code, msg := srErr(err); st != 403 || code != 40301 || msg != "User is denied operation Write on Topic: _schemas" {
		t.Fatalf("bob without ACLs registers: %d %d %q", st, code, msg)
	}
	if _, err := bob.Subjects(ctx); err == nil {
		t.Fatal("bob without ACLs lists subjects")
	} else if st, code, msg := srErr(err); st != 403 || code != 40301 || !strings.Contains(msg, "Describe on Topic: _schemas") {
		t.Fatalf("bob without ACLs lists subjects: %d %d %q", st, code, msg)
	}

	allow("bob", kadm.OpDescribe)
	testkit.WaitFor(t, 15*time.Second, "bob's DESCRIBE to take effect", func() bool {
		subs, err := bob.Subjects(ctx)
		return err == nil && len(subs) == 1 && subs[0] == "auth-value"
	})
	if _, err := bob.SchemaByID(ctx, ss.ID); err != nil {
		t.Fatalf("bob with DESCRIBE reads: %v", err)
	}
	_, err = bob.CreateSchema(ctx, "bob-value", sr.Schema{Schema: srAuthSchema})
	if st, code, _ := srErr(err); st != 403 || code != 40301 {
		t.Fatalf("bob with DESCRIBE only registers: %d %d %v", st, code, err)
	}

	_, metrics := httpDo(t, "GET", "http://"+adminAddr+"/metrics")
	for _, want := range []string{
		`ringtail_services_auth_total{mode="http_basic",result="success",service="schema-registry"}`,
		`ringtail_services_auth_total{mode="http_basic",result="failure",service="schema-registry"}`,
		`ringtail_services_auth_total{mode="http_basic",result="missing",service="schema-registry"} 1`,
		`ringtail_services_authorization_denied_total{operation="WRITE",resource_type="TOPIC",service="schema-registry"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// certClientTLS trusts ca and, unless cn is "", presents a certificate
// it issued for CN=cn,O=Ringtail (the principal User:<cn> under the
// mapping rule of mtlsACLSettings).
func certClientTLS(t *testing.T, ca *testkit.CA, cn string) *tls.Config {
	t.Helper()
	if cn == "" {
		return clientTLS(t, ca, nil, nil)
	}
	c, k := ca.Issue(t, testkit.CertOptions{CN: cn, Org: "Ringtail"})
	return clientTLS(t, ca, c, k)
}

// servicesMTLS issues the services' certificate (CN cn) from ca and
// returns the [ringtail] keys of ringtail.services_auth = mtls with it.
func servicesMTLS(t *testing.T, ca *testkit.CA, cn string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	cert, key := ca.Issue(t, testkit.CertOptions{CN: cn})
	return map[string]string{
		"services_auth":          `"mtls"`,
		"services_tls_cert_file": fmt.Sprintf("%q", testkit.WriteFile(t, dir, "cert.pem", cert)),
		"services_tls_key_file":  fmt.Sprintf("%q", testkit.WriteFile(t, dir, "key.pem", key)),
		"services_tls_ca_file":   fmt.Sprintf("%q", testkit.WriteFile(t, dir, "ca.pem", ca.PEM)),
	}
}

// mtlsACLSettings is aclSettings with super.users = supers and the
// principal of a certificate its CN, lower-cased (User:alice).
func mtlsACLSettings(supers string) map[string]string {
	s := aclSettings()
	s["super.users"] = fmt.Sprintf("%q", supers)
	s["ssl.principal.mapping.rules"] = `"RULE:^CN=([^,]+),O=.*$/$1/L,DEFAULT"`
	return s
}

func TestSchemaRegistryMTLS(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t, "services CA")
	n := testkit.NewNode(t, testkit.Options{SchemaRegistry: true, Settings: mtlsACLSettings("User:ANONYMOUS"), Ringtail: servicesMTLS(t, ca, "registry")})
	n.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(n.Client())
	b := kadm.NewACLs().Allow("User:writer").Topics("_schemas").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
	if _, err := adm.CreateACLs(ctx, b); err != nil {
		t.Fatal(err)
	}

	url := strings.Replace(n.SchemaRegistryURL(), "http://", "https://", 1)
	client := func(cn string) *sr.Client {
		tc := certClientTLS(t, ca, cn)
		cl, err := sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	if _, err := client("").Subjects(ctx); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	// CN=Writer maps to User:writer (the rule lower-cases it).
	ss, err := client("Writer").CreateSchema(ctx, "mtls-value", sr.Schema{Schema: srAuthSchema})
	if err != nil {
		t.Fatalf("writer registers: %v", err)
	}
	if _, err := client("writer").SchemaByID(ctx, ss.ID); err != nil {
		t.Fatalf("writer reads (WRITE implies DESCRIBE): %v", err)
	}
	_, err = client("nobody").SchemaByID(ctx, ss.ID)
	if st, code, msg := srErr(err); st != 403 || code != 40301 {
		t.Fatalf("nobody reads: %d %d %s", st, code, msg)
	}
}
