package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ringtail/ringtail/testkit"
)

// TestConsoleSecurityPage reads the console's security page on a node with
// the StandardAuthorizer: the ACLs created with kadm are listed (a DENY
// marked), the search narrows them to one principal, and the SCRAM users
// are listed with their mechanism and iterations.
func TestConsoleSecurityPage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	settings := aclSettings() // the console's own client on PLAINTEXT is ANONYMOUS, a super user
	n := startNode(t, testkit.Options{Console: true, Settings: settings})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(n.Client())
	defer adm.Close()
	up := []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"}}
	if res, err := adm.AlterUserSCRAMs(ctx, nil, up); err != nil || res.Error() != nil {
		t.Fatalf("creating users: %v %v", err, res.Error())
	}
	rpCreateACLs(ctx, t, adm, kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	rpCreateACLs(ctx, t, adm, kadm.NewACLs().Deny("User:mallory").Groups("billing").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(n.ConsoleURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	var page string
	testkit.WaitFor(t, 10*time.Second, "the security page to list both ACLs", func() bool {
		page = get("/security")
		return strings.Contains(page, "User:alice") && strings.Contains(page, "User:mallory")
	})
	for _, want := range []string{"<code>orders</code>", "LITERAL", "WRITE", "<code>billing</code>", "PREFIXED", "<strong>DENY</strong>",
		"<td>alice</td><td>SCRAM-SHA-512 (4096 iterations)</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("security page lacks %q", want)
		}
	}
	if found := get("/security?q=mallory"); !strings.Contains(found, "User:mallory") || strings.Contains(found, "User:alice") {
		t.Errorf("search for mallory:\n%s", found)
	}

	// Without an authorizer the page says so instead of failing.
	open := startNode(t, testkit.Options{Console: true})
	resp, err := http.Get(open.ConsoleURL() + "/security")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `id="acls-off"`) || !strings.Contains(string(b), "No SCRAM users") {
		t.Fatalf("security page without an authorizer: %d\n%s", resp.StatusCode, b)
	}
}
