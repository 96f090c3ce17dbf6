// This file proves that a clean stop and start keeps every topic, config and
// record, and that the second start trusts the clean-shutdown marker instead
// of rescanning the logs.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func TestCleanRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	ret := "3600000"
	n.CreateTopic("keep-a", 2, map[string]*string{"retention.ms": &ret})
	n.CreateTopic("keep-b", 1, nil)
	prod := n.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	ackA := produceN(t, prod, "keep-a", "a", 5000)
	ackB := produceN(t, prod, "keep-b", "b", 3000)
	prod.Close()

	n.Restart()
	log := n.LogSinceLastStart()
	if !containsAll(log, "clean_shutdown=true", "rescanned=0") {
		t.Fatalf("second start did not trust the clean shutdown:\n%s", log)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := n.Admin()
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(topics.Sorted()) != 2 || len(topics["keep-a"].Partitions) != 2 || len(topics["keep-b"].Partitions) != 1 {
		t.Fatalf("topics after restart: %v", topics.Names())
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "keep-a")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rc.On("keep-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cfg.Configs {
		if c.Key == "retention.ms" {
			found = true
			if c.MaybeValue() != ret || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
				t.Fatalf("retention.ms after restart: %q from source %v", c.MaybeValue(), c.Source)
			}
		}
	}
	if !found {
		t.Fatal("retention.ms missing from DescribeConfigs")
	}
	verifyExactlyOnce(t, ackA, consumeAll(t, n.Addr(), "keep-a", len(ackA), time.Minute))
	verifyExactlyOnce(t, ackB, consumeAll(t, n.Addr(), "keep-b", len(ackB), time.Minute))

	// And the restarted broker keeps appending after the old end.
	prod2 := n.Client()
	more := produceN(t, prod2, "keep-b", "b2", 10)
	for _, a := range more {
		if a.offset < 3000 {
			t.Fatalf("append after restart landed at offset %d, inside the old log", a.offset)
		}
	}
}
