// This file proves that SCRAM credentials replicate through the metadata
// quorum: a user created through node 1 authenticates on nodes 2 and 3,
// and one deleted through node 3 is refused everywhere.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestSASLClusterScramReplicates(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ca := testkit.NewCA(t, "ringtail test CA")
	c := testkit.NewCluster(t, 3, testkit.Options{Settings: saslSettings(t, ca, t.TempDir())})
	sasl := make([]string, len(c.Nodes)) // each node's SASL_PLAINTEXT address
	for i, n := range c.Nodes {
		sslPort, plainPort := testkit.FreePort(t), testkit.FreePort(t)
		addSASLListeners(t, n, sslPort, plainPort)
		sasl[i] = fmt.Sprintf("127.0.0.1:%d", plainPort)
	}
	c.Start()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Created through node 1 (its PLAINTEXT listener).
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(c.Node(1).Addr())))
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "carol-pw"}})
	if err != nil || res["carol"].Err != nil {
		t.Fatalf("create carol through node 1: %v %+v", err, res)
	}
	for i, addr := range sasl {
		testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("carol authenticating on node %d", i+1), func() bool {
			return pingErr(addr, scram512("carol", "carol-pw")) == nil
		})
		if err := pingErr(addr, scram512("carol", "wrong")); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("node %d, wrong password: %v", i+1, err)
		}
	}
	// Producing as carol through node 2 works across the cluster.
	cl := mustClient(t, kgo.SeedBrokers(sasl[1]), scram512("carol", "carol-pw"), kgo.AllowAutoTopicCreation())
	ack := produceN(t, cl, "sasl-cluster", "c", 50)
	verifyExactlyOnce(t, ack, consumeAll(t, sasl[2], "sasl-cluster", 50, 30*time.Second, scram512("carol", "carol-pw")))

	// Deleted through node 3: refused on every node.
	adm3 := kadm.NewClient(mustClient(t, kgo.SeedBrokers(c.Node(3).Addr())))
	if res, err := adm3.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha512}}, nil); err != nil || res["carol"].Err != nil {
		t.Fatalf("delete carol through node 3: %v %+v", err, res)
	}
	for i, addr := range sasl {
		testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("carol refused on node %d", i+1), func() bool {
			return errors.Is(pingErr(addr, scram512("carol", "carol-pw")), kerr.SaslAuthenticationFailed)
		})
	}
}
