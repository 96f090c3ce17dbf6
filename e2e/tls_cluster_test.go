// This file proves that brokers replicate, and the controller quorum
// runs, over TLS: with inter.broker.listener.name an SSL listener and the
// CONTROLLER listener SSL, both requiring client certificates, three
// nodes form a quorum and a partition on three brokers with
// min.insync.replicas=3 takes acks=all writes, which only succeed once
// both followers have fetched them over mutually authenticated TLS. The
// controller port refuses a plaintext client and a TLS client without a
// certificate.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

func TestTLSClusterReplication(t *testing.T) {
	t.Parallel()
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
			"inter.broker.listener.name":     `"SSL"`,
			"ssl.keystore.location":          fmt.Sprintf("%q", keystore),
			"ssl.truststore.location":        fmt.Sprintf("%q", truststore),
			"ssl.client.auth":                `"required"`,
			"listener.security.protocol.map": `"CONTROLLER:SSL,PLAINTEXT:PLAINTEXT,SSL:SSL"`,
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
	for _, n := range c.Nodes {
		if !strings.Contains(n.Log(), "controller quorum speaks TLS") {
			t.Errorf("node %s: no log of the controller quorum speaking TLS", n.Addr())
		}
	}
	checkControllerPortTLS(t, c.Nodes[0], ca, cert, key)
	if followed != 2 {
		t.Errorf("%d nodes follow tls-replicated-0, want 2", followed)
	}
	if served == 0 {
		t.Error("no node logged a broker connecting over TLS with its certificate")
	}
}

// checkControllerPortTLS: a TLS client with the brokers' certificate
// completes a handshake on n's controller port; one without a certificate
// and a plaintext one get no controller handshake reply.
func checkControllerPortTLS(t *testing.T, n *testkit.Node, ca *testkit.CA, cert, key []byte) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", n.CtrlPort)
	d := &net.Dialer{Timeout: 5 * time.Second}
	tc, err := tls.DialWithDialer(d, "tcp", addr, clientTLS(t, ca, cert, key))
	if err != nil {
		t.Fatalf("TLS with a client certificate to the controller port %s: %v", addr, err)
	}
	tc.Close()
	// TLS 1.3 reports a missing client certificate on the first read.
	nc, err := tls.DialWithDialer(d, "tcp", addr, clientTLS(t, ca, nil, nil))
	if err == nil {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = nc.Read(make([]byte, 1))
		nc.Close()
	}
	if err == nil {
		t.Errorf("controller port %s: a TLS client without a certificate was served", addr)
	}
	pc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.SetDeadline(time.Now().Add(5 * time.Second))
	// A controller handshake frame in plaintext: 4-byte length, JSON.
	frame := []byte(`{"cluster_id":"x","from":9,"to":1}`)
	pc.Write(append([]byte{0, 0, 0, byte(len(frame))}, frame...))
	b, _ := io.ReadAll(pc)
	if bytes.Contains(b, []byte("cluster")) || bytes.Contains(b, []byte("error")) {
		t.Errorf("controller port %s answered a plaintext handshake: %q", addr, b)
	}
}
