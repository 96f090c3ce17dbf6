// These tests prove which of its node's listeners an HTTP service's own
// Kafka client uses: the PLAINTEXT one when there is one, else the SASL
// listener with ringtail.services_sasl_user (a node whose other listener
// is SSL), else an error naming the keys.
package daemon

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/config"
)

// nodeWith parses a config of the given listeners and binds each Kafka
// listener on a free loopback port, as the node's n.lns would be.
func nodeWith(t *testing.T, listeners, ringtail string) *Node {
	t.Helper()
	doc := fmt.Sprintf("listeners = %q\nadvertised.listeners = %q\n", listeners+",CONTROLLER://127.0.0.1:9093", listeners)
	if strings.HasPrefix(listeners, "SSL://") {
		// Replication needs PLAINTEXT or SSL: the SSL listener (its
		// keystore is not read here).
		doc += "inter.broker.listener.name = \"SSL\"\nssl.keystore.location = \"/nonexistent/server.pem\"\n"
	}
	doc += "[ringtail]\n" + ringtail
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: cfg}
	for range cfg.KafkaListeners() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		n.lns = append(n.lns, ln)
	}
	return n
}

func TestServicesClientListener(t *testing.T) {
	n := nodeWith(t, "SASL_PLAINTEXT://127.0.0.1:9094,PLAINTEXT://127.0.0.1:9092", "")
	brokers, opts, err := n.servicesClientOpts("the registry")
	if err != nil || len(brokers) != 1 || brokers[0] != n.lns[1].Addr().String() || len(opts) != 0 {
		t.Fatalf("with PLAINTEXT: %v %d opts %v; want %s", brokers, len(opts), err, n.lns[1].Addr())
	}

	n = nodeWith(t, "SSL://127.0.0.1:9095,SASL_PLAINTEXT://127.0.0.1:9094", `services_sasl_user = "svc"`+"\n"+`services_sasl_password = "pw"`)
	brokers, opts, err = n.servicesClientOpts("the registry")
	if err != nil || len(brokers) != 1 || brokers[0] != n.lns[1].Addr().String() || len(opts) != 1 {
		t.Fatalf("no PLAINTEXT: %v %d opts %v; want %s and the SASL option", brokers, len(opts), err, n.lns[1].Addr())
	}

	n = nodeWith(t, "SSL://127.0.0.1:9095,SASL_PLAINTEXT://127.0.0.1:9094", "")
	if _, _, err := n.servicesClientOpts("the registry"); err == nil || !strings.Contains(err.Error(), "ringtail.services_sasl_user") {
		t.Fatalf("no PLAINTEXT, no user: %v", err)
	}
}
