package daemon

// HTTP Proxy wiring: like the Schema Registry, the proxy is a Kafka client
// of this node's own first PLAINTEXT listener (else of its SASL listener
// as ringtail.services_sasl_user), started once the listeners serve (after
// the registry, whose URL Avro requests use) and stopped before they
// close. With ringtail.services_auth its HTTP clients authenticate as the
// broker's users (httpauth.go): with http_basic the proxy's Kafka clients
// act as the caller, so the broker's ACLs apply as to any client; with
// mtls it uses its own client and checks the ACLs itself.

import (
	"context"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtail/ringtail/services/httpauth"
	"github.com/ringtail/ringtail/services/restproxy"
)

// proxyCloseTimeout bounds how long shutdown waits for the proxy's requests.
const proxyCloseTimeout = 5 * time.Second

// startHTTPProxy starts the proxy when ringtail.http_proxy_enable is set.
func (n *Node) startHTTPProxy() error {
	pc := n.cfg.HTTPProxy
	if !pc.Enable {
		return nil
	}
	brokers, own, err := n.servicesClientOpts("ringtail.http_proxy_enable = true")
	if err != nil {
		return err
	}
	auth, err := n.newServicesAuth("http-proxy", "application/vnd.kafka.v2+json", brokers, own, restproxy.ProducerOpts()...)
	if err != nil {
		return err
	}
	var reg prometheus.Registerer
	if n.ops.metrics != nil {
		reg = n.ops.metrics.Registry()
	}
	var srURL string
	if n.sreg != nil {
		scheme := "http://"
		if auth.Mode() == httpauth.ModeMTLS {
			scheme = "https://" // the registry serves TLS too
		}
		srURL = scheme + loopbackIfAny(n.sreg.Addr().(*net.TCPAddr))
	}
	rc := restproxy.Config{
		Listen: pc.Listen, Brokers: brokers, ClientOpts: own, SchemaRegistryURL: srURL,
		InstanceTimeout: time.Duration(pc.ConsumerInstanceTimeoutMs) * time.Millisecond,
		Logger:          n.log, Metrics: reg,
		TLS: auth.TLSConfig(), SchemaRegistryTLS: auth.forwardTLS,
	}
	switch auth.Mode() {
	case httpauth.ModeHTTPBasic:
		rc.Middleware, rc.Impersonate = auth.Middleware, auth.Authenticator
	case httpauth.ModeMTLS:
		rc.Middleware, rc.Authorize = auth.Middleware, auth.Authorize
	}
	p, err := restproxy.Start(rc)
	if err != nil {
		auth.Close()
		if !n.cfg.Set["ringtail.http_proxy_enable"] {
			// On only because no config file was given: a taken port does
			// not stop the broker.
			n.log.Warn("http proxy not started", "err", err)
			return nil
		}
		return err
	}
	n.proxy, n.proxyAuth = p, auth
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
	n.proxyAuth.Close()
	n.proxy, n.proxyAuth = nil, nil
}
