package console

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestMetadataShared: within MetadataMaxAge the topic list comes from one
// shared read (a topic created behind the console's back is not listed
// yet), a change made through the console drops it (both are listed at
// once), and a negative age reads afresh for every page.
func TestMetadataShared(t *testing.T) {
	fx := newKfakeFixture(t, 1, "seed")
	adm := fx.adm
	serve := func(age time.Duration) string { return fx.serve(Config{MetadataMaxAge: age}) }
	listed := func(base, topic string) bool {
		_, body := get(t, base+"/topics")
		return strings.Contains(body, `href="/topics/`+topic+`"`)
	}
	// eventually: the client's own metadata cache (250 ms) still applies.
	eventually := func(base string, topics ...string) bool {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			all := true
			for _, tp := range topics {
				all = all && listed(base, tp)
			}
			if all || time.Now().After(deadline) {
				return all
			}
		}
	}
	create := func(topic string) {
		if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}

	shared := serve(time.Hour)
	fresh := serve(-1)
	if !eventually(shared, "seed") || !eventually(fresh, "seed") {
		t.Fatal("seed topic not listed")
	}
	create("behind")
	if !eventually(fresh, "behind") {
		t.Error("with no sharing, a new topic is not listed at once")
	}
	// Past the client's own 250 ms cache too: still the shared read.
	for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if listed(shared, "behind") {
			t.Fatal("a topic created behind the console is listed within the shared read's age")
		}
	}
	if code, _, _ := post(t, shared+"/topics", url.Values{"name": {"mine"}, "partitions": {"1"}, "replication_factor": {"1"}}); code != 303 {
		t.Fatalf("create through the console: %d", code)
	}
	if !eventually(shared, "mine", "behind") {
		t.Error("after a change through the console, the list is not read afresh")
	}
}
