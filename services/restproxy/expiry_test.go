// These tests prove consumer instances expire after the idle timeout with
// time passed in (a fake clock): never while a request uses them, and an
// expired instance answers 40403 through the API.
package restproxy

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExpiredStep(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b, c := instanceKey{"g", "a"}, instanceKey{"g", "b"}, instanceKey{"f", "c"}
	uses := map[instanceKey]instanceUse{
		a: {last: t0},
		b: {last: t0.Add(30 * time.Second)},
		c: {last: t0, busy: true},
	}
	if got := expired(uses, t0.Add(59*time.Second), time.Minute); len(got) != 0 {
		t.Fatalf("before the timeout: %v", got)
	}
	if got := expired(uses, t0.Add(time.Minute), time.Minute); !reflect.DeepEqual(got, []instanceKey{a}) {
		t.Fatalf("at the timeout: %v, want [a] (c is busy)", got)
	}
	if got := expired(uses, t0.Add(time.Hour), time.Minute); !reflect.DeepEqual(got, []instanceKey{a, b}) {
		t.Fatalf("long after: %v, want [a b] in order", got)
	}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ now time.Time }

func (f *fakeClock) Now() time.Time { return f.now }

func TestInstanceExpiresThroughAPI(t *testing.T) {
	clk := &fakeClock{now: time.Unix(5000, 0)}
	p, url := startTestProxy(t, func(c *Config) { c.Now = clk.Now; c.InstanceTimeout = time.Minute })
	resp, body := do(t, "POST", url+"/consumers/g1", ctV2, `{"name":"i1","format":"json"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"instance_id":"i1"`) || !strings.Contains(body, "/consumers/g1/instances/i1") {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	clk.now = clk.now.Add(59 * time.Second)
	p.expireIdle(clk.Now())
	if resp, body := do(t, "GET", url+"/consumers/g1/instances/i1/subscription", "", ""); resp.StatusCode != 200 {
		t.Fatalf("before the timeout: %d %s", resp.StatusCode, body)
	}
	// That request counted as use: a minute from it, not from creation.
	clk.now = clk.now.Add(time.Minute)
	p.expireIdle(clk.Now())
	resp, body = do(t, "GET", url+"/consumers/g1/instances/i1/subscription", "", "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error_code":40403`) {
		t.Fatalf("after the timeout: %d %s", resp.StatusCode, body)
	}
}
