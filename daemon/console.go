package daemon

// Web console wiring: like the HTTP Proxy, the console is a Kafka client of
// this node's own listener (servicesClientOpts), started once the listeners
// serve (and after the registry and Connect, whose pages it links) and
// stopped before they close. Its charts read the node's metrics registry.
// With ringtail.services_auth = http_basic it signs users in and acts as
// each of them; with mtls it serves HTTPS to certified clients only and
// checks each principal's rights against the broker's ACLs itself, acting
// with its own client (consoleAuth).

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/console"
	"github.com/ringtail/ringtail/services/httpauth"
	"github.com/ringtail/ringtail/services/schemaregistry"
)

// consoleCloseTimeout bounds how long shutdown waits for pages in flight.
const consoleCloseTimeout = 5 * time.Second

// startConsole starts the console when ringtail.console_enable is set.
func (n *Node) startConsole() error {
	cc := n.cfg.Console
	if !cc.Enable {
		return nil
	}
	explicit := n.cfg.Set["ringtail.console_enable"]
	brokers, own, err := n.servicesClientOpts("ringtail.console_enable = true")
	if err != nil {
		return err
	}
	auth, err := n.consoleAuth(brokers, own)
	if err != nil {
		return err
	}
	ccfg := console.Config{Listen: cc.Listen, Brokers: brokers, ClientOpts: own, ReadOnly: cc.ReadOnly, Logger: n.log, Auth: auth,
		MetadataMaxAge: consoleMetadataMaxAge(cc.MetadataMaxAgeMs), MetricsURLs: cc.MetricsURLs}
	if n.ops.metrics != nil {
		// The charts read the node's registry directly, no HTTP hop.
		ccfg.Metrics, ccfg.Gatherer = n.ops.metrics.Registry(), n.ops.metrics.Registry()
	}
	// The schemas and connectors pages talk to this node's own services,
	// on loopback when they listen on every address: under http_basic a
	// user's pages pass on the user's credentials; under mtls they serve
	// HTTPS and the console presents the services' certificate
	// (Auth.ServiceTLS), having checked the caller's rights first.
	scheme := "http://"
	if n.cfg.ServicesAuth.Mode == config.ServicesAuthMTLS {
		scheme = "https://"
	}
	if n.sreg != nil {
		if a, ok := n.sreg.Addr().(*net.TCPAddr); ok {
			ccfg.RegistryURL = scheme + loopbackIfAny(a)
		}
	}
	if n.connect != nil {
		if a, ok := n.connect.Addr().(*net.TCPAddr); ok {
			ccfg.ConnectURL = scheme + loopbackIfAny(a)
		}
	}
	c, err := console.Start(ccfg)
	if err != nil { // the console closed auth
		if !explicit {
			// On only because no config file was given: a taken port does
			// not stop the broker.
			n.log.Warn("console not started", "err", err)
			return nil
		}
		return err
	}
	n.console = c
	return nil
}

// consoleAuth is the console's sign-in (nil with ringtail.services_auth
// = none). With http_basic: credentials checked against the broker's
// SASL users by httpauth, and each user's pages served by Kafka clients
// logged in as that user on the same SASL listener, so the broker's ACLs
// apply to them. With mtls: client certificates required, as the other
// services require them, and the principal's rights checked by httpauth
// against the ACLs the console's own client reads (the console cannot
// log in as a certificate's owner).
func (n *Node) consoleAuth(brokers []string, own []kgo.Opt) (*console.Auth, error) {
	switch n.cfg.ServicesAuth.Mode {
	case config.ServicesAuthHTTPBasic:
	case config.ServicesAuthMTLS:
		sa, err := n.newServicesAuth(httpauth.Config{Service: "console"}, brokers, own)
		if err != nil {
			return nil, err
		}
		return &console.Auth{Authenticator: sa, Authorize: sa.Authorize, Filter: sa.AuthorizeQuiet, TLS: sa.TLSConfig(), ServiceTLS: sa.forwardTLS,
			RegistryTopic: schemaregistry.DefaultTopic}, nil
	default:
		return nil, nil
	}
	sa, err := n.newServicesAuth(httpauth.Config{Service: "console"}, brokers, own)
	if err != nil {
		return nil, err
	}
	l, _ := n.cfg.ServicesSASLListener() // newServicesAuth checked it exists
	addr, _ := n.listenerAddr(l.Name)
	var tc *tls.Config
	if n.cfg.ListenerProtocol(l.Name) == config.ProtocolSASLSSL {
		tc = n.pinnedTLS(l.Name)
	}
	mech := n.cfg.ServicesAuth.SASLMechanism
	return &console.Auth{Authenticator: sa, Brokers: []string{addr}, ClientOpts: func(user, password string) []kgo.Opt {
		opts := []kgo.Opt{httpauth.SASLOpt(mech, user, password)}
		if tc != nil {
			opts = append(opts, kgo.DialTLSConfig(tc.Clone()))
		}
		return opts
	}}, nil
}

// stopConsole stops the console while the listeners it uses still serve.
func (n *Node) stopConsole() {
	if n.console == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), consoleCloseTimeout)
	defer cancel()
	if err := n.console.Close(ctx); err != nil {
		n.log.Warn("console shutdown", "err", err)
	}
	n.console = nil
}

// consoleMetadataMaxAge maps ringtail.console_metadata_max_age_ms to
// console.Config.MetadataMaxAge, whose 0 is its default: 0 ms (no
// sharing) becomes negative.
func consoleMetadataMaxAge(ms int64) time.Duration {
	if ms <= 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}
