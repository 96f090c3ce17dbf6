// This file proves that brokers replicate over TLS: with
// inter.broker.listener.name an SSL listener that requires client
// certificates, a partition on three brokers with min.insync.replicas=3
// takes acks=all writes, which only succeed once both followers have
// fetched them over mutually authenticated TLS.
package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestTLSClusterReplication(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ca := testkit.NewCA(t, "ringtail test CA")
	dir := t.TempDir()
	cert, key := ca.Issue(t, testkit.CertOptions{CN: "broker", Org: "Ringtail"})
	keystore := testkit.WriteFile(t, dir, "server.pem", key, cert)
	truststore := testkit.WriteFile(t, dir, "ca.pem", ca.PEM)
	c := testkit.NewCluster(t, 3, testkit.Options{
		Settings: map[string]string{
			"inter.broker.listener.name": `"SSL"`,
			"ssl.keystore.location":      fmt.Sprintf("%q", keystore),
			"ssl.truststore.location":    fmt.Sprintf("%q", truststore),
			"ssl.client.auth":            `"required"`,
		},
		Ringtail: map[string]string{"log_level": `"debug"`},
	})
	for _, n := range c.Nodes {
		setListeners(t, n, testkit.FreePort(t))
	}
	c.Start()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	minISR := "3"
	resp, err := c.Admin().CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, "tls-replicated")
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(20))
	defer cl.Close()
	ack := produceN(t, cl, "tls-replicated", "r", 200)
	got := consumeAll(t, c.Addrs()[0], "tls-replicated", 200, 30*time.Second)
	verifyExactlyOnce(t, ack, got)

	followed, served := 0, 0
	for _, n := range c.Nodes {
		log := n.Log()
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "following partition") && strings.Contains(line, "tls-replicated-0") {
				followed++
				break
			}
		}
		if strings.Contains(log, `principal="User:CN=broker,O=Ringtail"`) {
			served++
		}
		if strings.Contains(log, "TLS handshake failed") {
			t.Errorf("node %s: a TLS handshake failed:\n%s", n.Addr(), tail(log))
		}
	}
	if followed != 2 {
		t.Errorf("%d nodes follow tls-replicated-0, want 2", followed)
	}
	if served == 0 {
		t.Error("no node logged a broker connecting over TLS with its certificate")
	}
}
