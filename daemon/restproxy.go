package daemon

// HTTP Proxy wiring: like the Schema Registry, the proxy is a Kafka client
// of this node's own first PLAINTEXT listener, started once the listeners
// serve (after the registry, whose URL Avro requests use) and stopped
// before they close.

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/services/restproxy"
)

// proxyCloseTimeout bounds how long shutdown waits for the proxy's requests.
const proxyCloseTimeout = 5 * time.Second

// plaintextBootstrap is the address of this node's first PLAINTEXT Kafka
// listener, "" if it has none.
func (n *Node) plaintextBootstrap() string {
	for i, l := range n.cfg.KafkaListeners() {
		if n.cfg.ListenerProtocol(l.Name) == config.ProtocolPlaintext && i < len(n.lns) {
			return loopbackIfAny(n.lns[i].Addr().(*net.TCPAddr))
		}
	}
	return ""
}

// startHTTPProxy starts the proxy when ringtail.http_proxy_enable is set.
func (n *Node) startHTTPProxy() error {
	pc := n.cfg.HTTPProxy
	if !pc.Enable {
		return nil
	}
	bootstrap := n.plaintextBootstrap()
	if bootstrap == "" {
		return errors.New("daemon: ringtail.http_proxy_enable = true needs a PLAINTEXT Kafka listener for the proxy to use; none is configured")
	}
	var reg prometheus.Registerer
	if n.ops.metrics != nil {
		reg = n.ops.metrics.Registry()
	}
	var srURL string
	if n.sreg != nil {
		srURL = "http://" + loopbackIfAny(n.sreg.Addr().(*net.TCPAddr))
	}
	p, err := restproxy.Start(restproxy.Config{
		Listen: pc.Listen, Brokers: []string{bootstrap}, SchemaRegistryURL: srURL,
		InstanceTimeout: time.Duration(pc.ConsumerInstanceTimeoutMs) * time.Millisecond,
		Logger:          n.log, Metrics: reg,
	})
	if err != nil {
		if !n.cfg.Set["ringtail.http_proxy_enable"] {
			// On only because no config file was given: a taken port does
			// not stop the broker.
			n.log.Warn("http proxy not started", "err", err)
			return nil
		}
		return err
	}
	n.proxy = p
	return nil
}

// stopHTTPProxy stops the proxy (its consumer instances leave their
// groups) while the listeners it uses still serve.
func (n *Node) stopHTTPProxy() {
	if n.proxy == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), proxyCloseTimeout)
	defer cancel()
	if err := n.proxy.Close(ctx); err != nil {
		n.log.Warn("http proxy shutdown", "err", err)
	}
	n.proxy = nil
}
