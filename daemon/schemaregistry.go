package daemon

// Schema Registry wiring: the registry is a Kafka client of this node's
// own first PLAINTEXT listener (as the CLI is), else of its SASL listener
// as ringtail.services_sasl_user, started once the listeners serve and
// stopped before they close. With ringtail.services_auth its HTTP clients
// authenticate as the broker's users and its operations are checked
// against the _schemas topic's ACLs (httpauth.go).

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/services/httpauth"
	"github.com/ringtail/ringtail/services/schemaregistry"
)

// registryCloseTimeout bounds how long shutdown waits for its requests.
const registryCloseTimeout = 5 * time.Second

// zeroConfigServices turns the Schema Registry, the HTTP Proxy and Kafka
// Connect on for a `ringtail serve` without a config file, as DESIGN.md's
// defaults promise (on 127.0.0.1:8081, 127.0.0.1:8082 and 127.0.0.1:8083).
func zeroConfigServices(cfg *config.Config, path string) {
	if path == "" {
		cfg.SchemaRegistry.Enable = true
		cfg.HTTPProxy.Enable = true
		cfg.Console.Enable = true // console.go
		cfg.Connect.Enable = true
	}
}

// startSchemaRegistry starts the registry when ringtail.schema_registry_enable
// is set.
func (n *Node) startSchemaRegistry() error {
	sc := n.cfg.SchemaRegistry
	if !sc.Enable {
		return nil
	}
	brokers, own, err := n.servicesClientOpts("ringtail.schema_registry_enable = true")
	if err != nil {
		return err
	}
	auth, err := n.newServicesAuth("schema-registry", "application/vnd.schemaregistry.v1+json", brokers, own)
	if err != nil {
		return err
	}
	var reg prometheus.Registerer
	if n.ops.metrics != nil {
		reg = n.ops.metrics.Registry()
	}
	rc := schemaregistry.Config{
		Listen: sc.Listen, AdvertisedURL: n.registryURL(sc), Brokers: brokers, ClientOpts: own,
		Logger: n.log, Metrics: reg, ReplicationFactor: min(3, len(n.cfg.ControllerQuorumVoters)),
		TLS: auth.TLSConfig(), ForwardTLS: auth.forwardTLS,
	}
	if auth.Mode() != httpauth.ModeNone {
		rc.Middleware = auth.Middleware
		rc.Authorize = registryAuthorize(auth.Authenticator, schemaregistry.DefaultTopic)
	}
	r, err := schemaregistry.Start(rc)
	if err != nil {
		auth.Close()
		if !n.cfg.Set["ringtail.schema_registry_enable"] {
			// On only because no config file was given: a taken port does
			// not stop the broker.
			n.log.Warn("schema registry not started", "err", err)
			return nil
		}
		return err
	}
	n.sregAuth = auth
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
	scheme := "http://"
	if n.cfg.ServicesAuth.Mode == config.ServicesAuthMTLS {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
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
	n.sregAuth.Close()
	n.sreg, n.sregAuth = nil, nil
}
