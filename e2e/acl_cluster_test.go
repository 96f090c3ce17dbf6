// This file proves that ACLs are cluster metadata: on three brokers that
// replicate over mutually authenticated TLS, whose broker principal is no
// super user but holds CLUSTER_ACTION through an ACL, ACLs added through
// one node are enforced by all three, replication keeps working under
// them (acks=all with min.insync.replicas=3), and a removal made through
// another node reaches every node's cached decisions.
package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/testkit"
)

func TestACLClusterEnforcedEverywhere(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ca := testkit.NewCA(t, "ringtail test CA")
	dir := t.TempDir()
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "broker", Org: "Ringtail"})
	keystore := testkit.WriteFile(t, dir, "server.pem", key, cert)
	truststore := testkit.WriteFile(t, dir, "ca.pem", ca.PEM)
	settings := aclSettings()
	settings["inter.broker.listener.name"] = `"SSL"`
	settings["ssl.keystore.location"] = fmt.Sprintf("%q", keystore)
	settings["ssl.truststore.location"] = fmt.Sprintf("%q", truststore)
	settings["ssl.client.auth"] = `"required"`
	c := testkit.NewCluster(t, 3, testkit.Options{Settings: settings})
	sslAddrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		port := testkit.FreePort(t)
		setListeners(t, n, port)
		sslAddrs[i] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	c.Start()
	certs := clientCerts(t, ca)

	// Through node 2: the brokers' principal may replicate, the producer
	// write and the consumer read the topic.
	via := c.Nodes[1]
	runCLI(t, via, "", "acl", "add", "--allow-principal", "User:CN=broker,O=Ringtail", "--operation", "ClusterAction", "--cluster")
	runCLI(t, via, "", "acl", "add", "--allow-principal", "User:CN=producer", "--operation", "Write", "--topic", "replicated")
	runCLI(t, via, "", "acl", "add", "--allow-principal", "User:CN=consumer", "--operation", "Read", "--topic", "replicated")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	minISR := "3"
	resp, err := c.Admin().CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, "replicated")
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	leader := 0
	testkit.WaitFor(t, 30*time.Second, "a leader for replicated-0", func() bool {
		topics, err := c.Admin().ListTopics(ctx, "replicated")
		if err != nil {
			return false
		}
		p, ok := topics["replicated"].Partitions[0]
		leader = int(p.Leader)
		return ok && p.Err == nil && leader > 0
	})

	// On every node: the producer and the consumer pass authorization
	// (the leader serves them; the others send them to the leader), and
	// nobody is refused before anything else is looked at.
	for i, addr := range sslAddrs {
		id := i + 1
		prod := dialTLS(t, addr, certs["producer"])
		cons := dialTLS(t, addr, certs["consumer"])
		nobody := dialTLS(t, addr, certs["nobody"])
		wantServed := int16(0)
		if id != leader {
			wantServed = kerr.NotLeaderForPartition.Code
		}
		var got [4]int16
		testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("node %d to enforce the ACLs", id), func() bool {
			last := got
			got = [4]int16{prod.produce("replicated"), cons.fetch("replicated"), nobody.produce("replicated"), nobody.fetch("replicated")}
			if got != last {
				t.Logf("node %d (leader %d): producer produce, consumer fetch, nobody produce, nobody fetch: %v", id, leader, got)
			}
			return got == [4]int16{wantServed, wantServed, 29, 29}
		})
		if code := cons.produce("replicated"); code != 29 {
			t.Errorf("node %d: consumer produce: code %d, want 29", id, code)
		}
	}

	// Removed through node 3: every node refuses the producer from then
	// on, on connections it already served.
	conns := make([]*kconn, len(sslAddrs))
	for i, addr := range sslAddrs {
		conns[i] = dialTLS(t, addr, certs["producer"])
	}
	runCLI(t, c.Nodes[2], "", "acl", "remove", "--allow-principal", "User:CN=producer", "--topic", "replicated")
	for i, pc := range conns {
		testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("node %d to apply the removal", i+1), func() bool {
			return pc.produce("replicated") == 29
		})
	}
	// Replication went on over TLS as the brokers' principal: an acks=all
	// write with min.insync.replicas=3 was acknowledged above, which needs
	// both followers to have fetched it with CLUSTER_ACTION.
	admin := dialTLS(t, sslAddrs[leader-1], certs["admin"])
	if code := admin.produce("replicated"); code != 0 {
		t.Fatalf("admin acks=all produce on the leader: code %d", code)
	}
}
