package console

// These tests prove the console's own authorization (mtls, authmtls.go)
// with a fake Authorize over an in-process cluster: lists hold only what
// the principal may describe, every action is checked with Kafka's own
// operation before anything is sent (a refused create, delete, reset or
// group delete sends no request at all, counted at the cluster), the
// refusal is Kafka's *_AUTHORIZATION_FAILED in words, a principal allowed
// everything acts, and read-only mode still applies on top.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/services/httpauth"
)

// headerAuthn signs the caller in as the principal in X-Principal (a
// stand-in for the certificate's).
type headerAuthn struct{}

func (headerAuthn) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(httpauth.WithPrincipal(r.Context(), r.Header.Get("X-Principal"))))
	})
}
func (headerAuthn) Close() {}

// fakeACLs allows what its grants list ("User:alice topic a DESCRIBE")
// and everything to User:admin; it records every check.
type fakeACLs struct {
	mu     sync.Mutex
	grants map[string]bool
	asked  []string
}

func (f *fakeACLs) authorize(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation) error {
	p := httpauth.Principal(ctx)
	k := fmt.Sprintf("%s %s %s %s", p, strings.ToLower(rt.String()), name, op)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, k)
	// As Kafka: READ, WRITE, DELETE and ALTER imply DESCRIBE.
	implied := false
	if op == acl.OpDescribe {
		for _, o := range []acl.Operation{acl.OpRead, acl.OpWrite, acl.OpDelete, acl.OpAlter} {
			implied = implied || f.grants[fmt.Sprintf("%s %s %s %s", p, strings.ToLower(rt.String()), name, o)]
		}
	}
	if p == "User:admin" || f.grants[k] || implied {
		return nil
	}
	return &httpauth.DeniedError{Principal: p, Resource: rt, Name: name, Op: op}
}

func (f *fakeACLs) wasAsked(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.asked {
		if a == k {
			return true
		}
	}
	return false
}

func as(t *testing.T, principal, method, u string, form url.Values) (int, string, string) {
	t.Helper()
	if method == "POST" {
		return post(t, u, form, "X-Principal", principal)
	}
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("X-Principal", principal)
	cl := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// countKeys counts the requests of keys the cluster gets.
func countKeys(fx kfakeFixture, keys ...int16) map[int16]*atomic.Int64 {
	out := map[int16]*atomic.Int64{}
	for _, k := range keys {
		n := new(atomic.Int64)
		out[k] = n
		fx.cluster.ControlKey(k, func(kmsg.Request) (kmsg.Response, error, bool) {
			n.Add(1)
			return nil, nil, false // observe only
		})
	}
	return out
}

func TestMTLSListsAndPagesFiltered(t *testing.T) {
	fx := newKfakeFixture(t, 1, "alpha-topic", "beta-topic")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, g := range []string{"alpha-group", "beta-group"} {
		var os kadm.Offsets = make(kadm.Offsets)
		os.Add(kadm.Offset{Topic: "alpha-topic", Partition: 0, At: 0, LeaderEpoch: -1})
		os.Add(kadm.Offset{Topic: "beta-topic", Partition: 0, At: 0, LeaderEpoch: -1})
		if err := fx.adm.CommitAllOffsets(ctx, g, os); err != nil {
			t.Fatal(err)
		}
	}
	acls := &fakeACLs{grants: map[string]bool{
		"User:alice topic alpha-topic READ":     true,
		"User:alice group alpha-group DESCRIBE": true,
	}}
	srv := fx.serve(Config{Auth: &Auth{Authenticator: headerAuthn{}, Authorize: acls.authorize}})

	_, _, body := as(t, "User:alice", "GET", srv+"/topics", nil)
	if !strings.Contains(body, `href="/topics/alpha-topic"`) || strings.Contains(body, "beta-topic") {
		t.Errorf("alice's topic list: want alpha-topic only\n%s", body)
	}
	if !strings.Contains(body, "alice") {
		t.Error("the header does not name the principal")
	}
	if _, _, body := as(t, "User:admin", "GET", srv+"/topics", nil); !strings.Contains(body, "beta-topic") {
		t.Error("admin does not see beta-topic")
	}
	_, _, body = as(t, "User:alice", "GET", srv+"/groups", nil)
	if !strings.Contains(body, `href="/groups/alpha-group"`) || strings.Contains(body, "beta-group") {
		t.Errorf("alice's group list: want alpha-group only\n%s", body)
	}
	// The group page shows the lag of the topics alice may describe only.
	code, _, body := as(t, "User:alice", "GET", srv+"/groups/alpha-group", nil)
	if code != 200 || !strings.Contains(body, "alpha-topic") || strings.Contains(body, "beta-topic") {
		t.Errorf("alice's group page: %d, want alpha-topic's lag only\n%s", code, body)
	}
	if code, _, body := as(t, "User:alice", "GET", srv+"/groups/beta-group", nil); code != 403 || !strings.Contains(body, "GROUP_AUTHORIZATION_FAILED") {
		t.Errorf("beta-group's page: %d\n%s", code, body)
	}
	if code, _, _ := as(t, "User:alice", "GET", srv+"/topics/alpha-topic/messages", nil); code != 200 {
		t.Errorf("alice browses alpha-topic: %d", code)
	}
	if code, _, body := as(t, "User:alice", "GET", srv+"/topics/beta-topic", nil); code != 403 || !strings.Contains(body, "TOPIC_AUTHORIZATION_FAILED") ||
		!strings.Contains(body, "User is denied operation Describe on Topic: beta-topic") {
		t.Errorf("beta-topic's page: %d\n%s", code, body)
	}
	// Without DESCRIBE on the cluster: no overview, no security page.
	if code, loc, _ := as(t, "User:alice", "GET", srv+"/", nil); code != http.StatusSeeOther || loc != "/topics" {
		t.Errorf("alice's overview: %d %q, want a redirect to /topics", code, loc)
	}
	if code, _, body := as(t, "User:alice", "GET", srv+"/security", nil); code != 403 || !strings.Contains(body, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Errorf("alice's security page: %d\n%s", code, body)
	}
	if code, _, _ := as(t, "User:admin", "GET", srv+"/", nil); code != 200 {
		t.Errorf("admin's overview: %d", code)
	}
	// Configs need DESCRIBE_CONFIGS.
	if !acls.wasAsked("User:alice topic alpha-topic DESCRIBE_CONFIGS") {
		t.Error("the topic list read configs without checking DESCRIBE_CONFIGS")
	}
}

func TestMTLSDeniedActionsSendNothing(t *testing.T) {
	fx := newKfakeFixture(t, 1, "alpha-topic")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var os kadm.Offsets = make(kadm.Offsets)
	os.Add(kadm.Offset{Topic: "alpha-topic", Partition: 0, At: 0, LeaderEpoch: -1})
	if err := fx.adm.CommitAllOffsets(ctx, "alpha-group", os); err != nil {
		t.Fatal(err)
	}
	acls := &fakeACLs{grants: map[string]bool{
		"User:alice topic alpha-topic READ":     true,
		"User:alice group alpha-group DESCRIBE": true,
		// READ on the group but not on beta... the reset of alpha-topic
		// is allowed only to bob, who may READ both.
		"User:bob group alpha-group READ": true,
	}}
	srv := fx.serve(Config{Auth: &Auth{Authenticator: headerAuthn{}, Authorize: acls.authorize}})
	sent := countKeys(fx, kmsg.CreateTopics.Int16(), kmsg.DeleteTopics.Int16(), kmsg.OffsetCommit.Int16(),
		kmsg.DeleteGroups.Int16(), kmsg.IncrementalAlterConfigs.Int16(), kmsg.CreatePartitions.Int16(),
		kmsg.DeleteRecords.Int16(), kmsg.Produce.Int16())

	for _, c := range []struct {
		method, path string
		form         url.Values
		want         string
	}{
		{"POST", "/topics", url.Values{"name": {"new-topic"}, "partitions": {"1"}, "replication_factor": {"1"}}, "TOPIC_AUTHORIZATION_FAILED"},
		{"GET", "/topics/alpha-topic/delete", nil, "User is denied operation Delete on Topic: alpha-topic"},
		{"POST", "/topics/alpha-topic/delete", url.Values{"confirm": {"alpha-topic"}}, "TOPIC_AUTHORIZATION_FAILED"},
		{"POST", "/topics/alpha-topic/configs", url.Values{"key": {"retention.ms"}, "value": {"1"}, "op": {"set"}}, "operation AlterConfigs on Topic"},
		{"POST", "/topics/alpha-topic/partitions", url.Values{"count": {"3"}}, "operation Alter on Topic"},
		{"POST", "/topics/alpha-topic/delete-records", url.Values{"confirm": {"alpha-topic"}, "o0": {"0"}}, "operation Delete on Topic"},
		{"POST", "/topics/alpha-topic/produce", url.Values{"value": {"x"}}, "operation Write on Topic"},
		{"POST", "/groups/alpha-group/reset", url.Values{"to": {"latest"}}, "GROUP_AUTHORIZATION_FAILED"},
		{"POST", "/groups/alpha-group/delete", url.Values{"confirm": {"alpha-group"}}, "operation Delete on Group: alpha-group"},
	} {
		code, _, body := as(t, "User:alice", c.method, srv+c.path, c.form)
		if code != http.StatusForbidden || !strings.Contains(body, c.want) || !strings.Contains(body, "nothing was sent to the cluster") {
			t.Errorf("alice %s %s: %d, want 403 with %q\n%s", c.method, c.path, code, c.want, body)
		}
	}
	// Bob may READ the group but not the topic it moves: refused too.
	if code, _, body := as(t, "User:bob", "POST", srv+"/groups/alpha-group/reset", url.Values{"to": {"latest"}}); code != 403 ||
		!strings.Contains(body, "operation Read on Topic: alpha-topic") {
		t.Errorf("bob's reset: %d\n%s", code, body)
	}
	for k, n := range sent {
		if n.Load() != 0 {
			t.Errorf("%d request(s) of key %d were sent for refused actions", n.Load(), k)
		}
	}
	if !acls.wasAsked("User:alice cluster kafka-cluster CREATE") || !acls.wasAsked("User:alice topic new-topic CREATE") {
		t.Error("create topic did not ask CREATE on the cluster, then on the topic")
	}

	// Admin may: create and delete, reset, delete the group.
	code, loc, body := as(t, "User:admin", "POST", srv+"/topics", url.Values{"name": {"new-topic"}, "partitions": {"1"}, "replication_factor": {"1"}})
	if code != http.StatusSeeOther {
		t.Fatalf("admin creates: %d %q\n%s", code, loc, body)
	}
	if code, _, body := as(t, "User:admin", "POST", srv+"/topics/new-topic/delete", url.Values{"confirm": {"new-topic"}}); code != http.StatusSeeOther {
		t.Fatalf("admin deletes: %d\n%s", code, body)
	}
	if code, _, body := as(t, "User:admin", "POST", srv+"/groups/alpha-group/reset", url.Values{"to": {"latest"}}); code != 200 {
		t.Fatalf("admin resets: %d\n%s", code, body)
	}
	if sent[kmsg.CreateTopics.Int16()].Load() != 1 || sent[kmsg.DeleteTopics.Int16()].Load() != 1 || sent[kmsg.OffsetCommit.Int16()].Load() != 1 {
		t.Errorf("admin's actions not sent: create %d delete %d commit %d", sent[kmsg.CreateTopics.Int16()].Load(),
			sent[kmsg.DeleteTopics.Int16()].Load(), sent[kmsg.OffsetCommit.Int16()].Load())
	}

	// Read-only applies on top.
	ro := fx.serve(Config{ReadOnly: true, Auth: &Auth{Authenticator: headerAuthn{}, Authorize: acls.authorize}})
	if code, _, body := as(t, "User:admin", "POST", ro+"/topics", url.Values{"name": {"other"}, "partitions": {"1"}, "replication_factor": {"1"}}); code != 403 ||
		!strings.Contains(body, "read-only") {
		t.Errorf("read-only create by admin: %d\n%s", code, body)
	}
}

// TestMTLSRulesCover: building the pages with Authorize, which panics on
// a route without a rule, succeeds, and every rule is a valid pattern.
func TestMTLSRulesCover(t *testing.T) {
	s := &Server{authorize: (&fakeACLs{}).authorize, metrics: newMetrics(nil)}
	h := s.pages() // panics on a route without a rule
	_ = h
	mux := http.NewServeMux()
	for p := range mtlsRules {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {}) // panics on a malformed pattern
	}
}
