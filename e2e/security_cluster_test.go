// This file proves issue 14's cluster acceptance in one run: three nodes
// whose controller quorum and replication both run over mutually
// authenticated TLS, with the authorizer on and the brokers'
// certificate a super user; SCRAM users and ACLs created through node 1
// are enforced on all three: alice (granted on a prefix) produces and
// consumes through every node's SASL_SSL listener, bob (no ACLs)
// authenticates everywhere but is refused the topic and does not see it.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestSecureClusterScramACLsOverTLS(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ca := testkit.NewCA(t, "ringtail test CA")
	dir := t.TempDir()
	brokerCert, brokerKey := ca.Issue(t, testkit.CertOptions{CN: "broker"})
	settings := saslSettings(t, ca, dir)
	for k, v := range map[string]string{
		"ssl.truststore.location":                  fmt.Sprintf("%q", testkit.WriteFile(t, dir, "ca.pem", ca.PEM)),
		"ssl.client.auth":                          `"requested"`,
		"listener.name.ssl.ssl.client.auth":        `"required"`,
		"listener.name.controller.ssl.client.auth": `"required"`,
		"listener.security.protocol.map":           `"CONTROLLER:SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"`,
		"inter.broker.listener.name":               `"SSL"`,
		"authorizer.class.name":                    `"org.apache.kafka.metadata.authorizer.StandardAuthorizer"`,
		// The harness's PLAINTEXT listener (readiness, cluster state) is
		// anonymous; clients use SASL_SSL.
		"super.users": `"User:CN=broker;User:ANONYMOUS"`,
	} {
		settings[k] = v
	}
	delete(settings, "listener.name.sasl_plaintext.sasl.enabled.mechanisms")
	delete(settings, "listener.name.sasl_plaintext.plain.sasl.jaas.config")
	c := testkit.NewCluster(t, 3, testkit.Options{Settings: settings})
	sslAddrs, saslAddrs := make([]string, 3), make([]string, 3)
	for i, n := range c.Nodes {
		sslAddrs[i] = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		saslAddrs[i] = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		addListeners(t, n, "SSL://"+sslAddrs[i]+",SASL_SSL://"+saslAddrs[i])
	}
	c.Start()
	for _, n := range c.Nodes {
		if !strings.Contains(n.Log(), "controller quorum speaks TLS") {
			t.Fatalf("node %s: the controller quorum does not speak TLS:\n%s", n.Addr(), tail(n.Log()))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Everything is created through node 1, as the brokers' principal
	// (the only super user) over its SSL listener.
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(sslAddrs[0]), kgo.DialTLSConfig(clientTLS(t, ca, brokerCert, brokerKey))))
	users, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-pw"},
	})
	if err != nil || users["alice"].Err != nil || users["bob"].Err != nil {
		t.Fatalf("create SCRAM users through node 1: %v %+v", err, users)
	}
	acls := kadm.NewACLs().Allow("User:alice").AllowHosts().ResourcePatternType(kadm.ACLPatternPrefixed).
		Topics("secure-").Operations(kadm.OpWrite, kadm.OpRead, kadm.OpDescribe)
	if res, err := adm.CreateACLs(ctx, acls); err != nil || res[0].Err != nil {
		t.Fatalf("create ACLs through node 1: %v %+v", err, res)
	}
	minISR := "3"
	if resp, err := adm.CreateTopic(ctx, 2, 3, map[string]*string{"min.insync.replicas": &minISR}, "secure-orders"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}

	tlsOpt := kgo.DialTLSConfig(clientTLS(t, ca, nil, nil))
	for i, addr := range saslAddrs {
		node := i + 1
		testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("alice and bob authenticating on node %d", node), func() bool {
			return pingErr(addr, tlsOpt, scram512("alice", "alice-pw")) == nil && pingErr(addr, tlsOpt, scram512("bob", "bob-pw")) == nil
		})
		// alice through this node only: acks=all over replication that
		// runs as the brokers' principal, then read back through the next
		// node.
		alice := mustClient(t, kgo.SeedBrokers(addr), tlsOpt, scram512("alice", "alice-pw"),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(20))
		var ack []acked
		testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("node %d to apply alice's ACLs", node), func() bool {
			r := alice.ProduceSync(ctx, &kgo.Record{Topic: "secure-orders", Value: []byte(fmt.Sprintf("probe-%d", node))})
			return r.FirstErr() == nil
		})
		ack = produceN(t, alice, "secure-orders", fmt.Sprintf("n%d", node), 30)
		alice.Close()
		got := consumeAll(t, saslAddrs[(i+1)%3], "secure-orders", 31*node, 30*time.Second, tlsOpt, scram512("alice", "alice-pw"))
		seen := map[string]bool{}
		for _, r := range got {
			seen[string(r.Value)] = true
		}
		for _, a := range ack {
			if !seen[a.value] {
				t.Fatalf("node %d: acknowledged %q not read back through node %d", node, a.value, (i+1)%3+1)
			}
		}

		// bob: authenticated, refused the topic, and does not see it.
		bob := mustClient(t, kgo.SeedBrokers(addr), tlsOpt, scram512("bob", "bob-pw"), kgo.RecordRetries(1))
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		err := bob.ProduceSync(pctx, &kgo.Record{Topic: "secure-orders", Value: []byte("bob")}).FirstErr()
		pcancel()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("node %d: bob's produce: %v, want TOPIC_AUTHORIZATION_FAILED", node, err)
		}
		topics, err := kadm.NewClient(bob).ListTopics(ctx)
		if err != nil {
			t.Fatalf("node %d: bob lists topics: %v", node, err)
		}
		if _, ok := topics["secure-orders"]; ok {
			t.Errorf("node %d: bob's Metadata lists secure-orders", node)
		}
		bob.Close()
	}
	// Nothing bob sent was written: 3 probes and 90 records.
	got := consumeAll(t, saslAddrs[0], "secure-orders", 93, 30*time.Second, tlsOpt, scram512("alice", "alice-pw"))
	for _, r := range got {
		if string(r.Value) == "bob" {
			t.Fatal("bob's refused record was written")
		}
	}
}

// addListeners rewrites a node's config to add listeners (a
// comma-separated list of NAME://host:port) after its PLAINTEXT one, in
// listeners and advertised.listeners.
func addListeners(t *testing.T, n *testkit.Node, extra string) {
	t.Helper()
	data, err := os.ReadFile(n.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	plain := fmt.Sprintf(`"PLAINTEXT://127.0.0.1:%d`, n.Port)
	if strings.Count(string(data), plain) != 2 {
		t.Fatalf("want the PLAINTEXT listener in listeners and advertised.listeners of:\n%s", data)
	}
	s := strings.ReplaceAll(string(data), plain, plain+","+extra)
	if err := os.WriteFile(n.ConfigPath, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
