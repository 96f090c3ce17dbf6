package console

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kfakeFixture is an in-process cluster with topics seeded, an admin client
// of it for the test's own changes, and serve, which starts a console on it
// with cfg (Brokers filled in) and returns its URL; all closed at test end.
type kfakeFixture struct {
	adm     *kadm.Client
	cluster *kfake.Cluster // for hooks on the requests the console sends
	serve   func(cfg Config) string
}

func newKfakeFixture(t *testing.T, partitions int32, topics ...string) kfakeFixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kfakeFixture{adm: kadm.NewClient(cl), cluster: c, serve: func(cfg Config) string {
		t.Helper()
		cfg.Brokers = c.ListenAddrs()
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(func() { srv.Close(); s.Close(context.Background()) })
		return srv.URL
	}}
}
