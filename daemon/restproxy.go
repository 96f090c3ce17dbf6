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
	"time"

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
	brokers, own, auth, err := n.serviceSetup("ringtail.http_proxy_enable",
		httpauth.Config{Service: "http-proxy", ErrorContentType: "application/vnd.kafka.v2+json", ClientOpts: restproxy.ProducerOpts()})
	if err != nil {
		return err
	}
	rc := restproxy.Config{
		Listen: pc.Listen, Brokers: brokers, ClientOpts: own, SchemaRegistryURL: n.localRegistryURL(),
		InstanceTimeout: time.Duration(pc.ConsumerInstanceTimeoutMs) * time.Millisecond,
		Logger:          n.log, Metrics: n.servicesMetrics(),
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
		return n.serviceNotStarted("http proxy", "ringtail.http_proxy_enable", auth, err)
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
	n.stopService("http proxy", proxyCloseTimeout, n.proxy.Close, n.proxyAuth)
	n.proxy, n.proxyAuth = nil, nil
}
