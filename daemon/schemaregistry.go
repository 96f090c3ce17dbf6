package daemon

// Schema Registry wiring: the registry is a Kafka client of this node's
// own first PLAINTEXT listener (as the CLI is), started once the listeners
// serve and stopped before they close.

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/services/schemaregistry"
)

// registryCloseTimeout bounds how long shutdown waits for its requests.
const registryCloseTimeout = 5 * time.Second

// zeroConfigServices turns the Schema Registry and the HTTP Proxy on for a
// `ringtail serve` without a config file, as DESIGN.md's defaults promise
// (on 127.0.0.1:8081 and 127.0.0.1:8082).
func zeroConfigServices(cfg *config.Config, path string) {
	if path == "" {
		cfg.SchemaRegistry.Enable = true
		cfg.HTTPProxy.Enable = true
	}
}

// startSchemaRegistry starts the registry when ringtail.schema_registry_enable
// is set.
func (n *Node) startSchemaRegistry() error {
	sc := n.cfg.SchemaRegistry
	if !sc.Enable {
		return nil
	}
	var bootstrap string
	for i, l := range n.cfg.KafkaListeners() {
		if n.cfg.ListenerProtocol(l.Name) == config.ProtocolPlaintext && i < len(n.lns) {
			bootstrap = loopbackIfAny(n.lns[i].Addr().(*net.TCPAddr))
			break
		}
	}
	if bootstrap == "" {
		return errors.New("daemon: ringtail.schema_registry_enable = true needs a PLAINTEXT Kafka listener for the registry to use; none is configured")
	}
	var reg prometheus.Registerer
	if n.ops.metrics != nil {
		reg = n.ops.metrics.Registry()
	}
	r, err := schemaregistry.Start(schemaregistry.Config{
		Listen: sc.Listen, AdvertisedURL: n.registryURL(sc), Brokers: []string{bootstrap},
		Logger: n.log, Metrics: reg, ReplicationFactor: min(3, len(n.cfg.ControllerQuorumVoters)),
	})
	if err != nil {
		if !n.cfg.Set["ringtail.schema_registry_enable"] {
			// On only because no config file was given: a taken port does
			// not stop the broker.
			n.log.Warn("schema registry not started", "err", err)
			return nil
		}
		return err
	}
	n.sreg = r
	return nil
}

// registryURL is ringtail.schema_registry_advertised_url, or http:// and the
// listen address with an all-interfaces host as the advertised Kafka host.
func (n *Node) registryURL(sc config.SchemaRegistryConfig) string {
	if sc.AdvertisedURL != "" {
		return sc.AdvertisedURL
	}
	host, port, _ := net.SplitHostPort(sc.Listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
		if len(n.cfg.AdvertisedListeners) > 0 && n.cfg.AdvertisedListeners[0].Host != "" {
			host = n.cfg.AdvertisedListeners[0].Host
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

func loopbackIfAny(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
	}
	return a.String()
}

// stopSchemaRegistry stops the registry (leaving its group) while the
// listeners it uses still serve.
func (n *Node) stopSchemaRegistry() {
	if n.sreg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryCloseTimeout)
	defer cancel()
	if err := n.sreg.Close(ctx); err != nil {
		n.log.Warn("schema registry shutdown", "err", err)
	}
	n.sreg = nil
}
