package daemon

// Schema Registry wiring: the registry is a Kafka client of this node's
// own first PLAINTEXT listener (as the CLI is), else of its SASL listener
// as ringtail.services_sasl_user, started once the listeners serve and
// stopped before they close. With ringtail.services_auth its HTTP clients
// authenticate as the broker's users and its operations are checked
// against the _schemas topic's ACLs (httpauth.go).

import (
	"net"
	"strconv"
	"time"

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
	brokers, own, auth, err := n.serviceSetup("ringtail.schema_registry_enable",
		httpauth.Config{Service: "schema-registry", ErrorContentType: "application/vnd.schemaregistry.v1+json"})
	if err != nil {
		return err
	}
	rc := schemaregistry.Config{
		Listen: sc.Listen, AdvertisedURL: n.registryURL(sc), Brokers: brokers, ClientOpts: own,
		Logger: n.log, Metrics: n.servicesMetrics(), ReplicationFactor: min(3, len(n.cfg.ControllerQuorumVoters)),
		TLS: auth.TLSConfig(), ForwardTLS: auth.forwardTLS,
	}
	if auth.Mode() != httpauth.ModeNone {
		rc.Middleware = auth.Middleware
		rc.Authorize = registryAuthorize(auth.Authenticator, schemaregistry.DefaultTopic)
	}
	r, err := schemaregistry.Start(rc)
	if err != nil {
		return n.serviceNotStarted("schema registry", "ringtail.schema_registry_enable", auth, err)
	}
	n.sreg, n.sregAuth = r, auth
	return nil
}

// registryURL is ringtail.schema_registry_advertised_url, or http:// and the
// listen address with an all-interfaces host as the advertised Kafka host.
func (n *Node) registryURL(sc config.SchemaRegistryConfig) string {
	if sc.AdvertisedURL != "" {
		return sc.AdvertisedURL
	}
	return n.serviceURL(sc.Listen)
}

// localRegistryURL is where this node's services reach its registry
// (https:// with mtls, where it serves TLS), "" when it runs none.
func (n *Node) localRegistryURL() string {
	if n.sreg == nil {
		return ""
	}
	scheme := "http://"
	if n.cfg.ServicesAuth.Mode == config.ServicesAuthMTLS {
		scheme = "https://"
	}
	return scheme + loopbackIfAny(n.sreg.Addr().(*net.TCPAddr))
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
	n.stopService("schema registry", registryCloseTimeout, n.sreg.Close, n.sregAuth)
	n.sreg, n.sregAuth = nil, nil
}
