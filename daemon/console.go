package daemon

// Web console wiring: like the HTTP Proxy, the console is a Kafka client of
// this node's own listener (servicesClientOpts), started once the listeners
// serve (and after the registry and Connect, whose pages it links) and
// stopped before they close. Its charts read the node's metrics registry.

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/console"
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
	if n.cfg.ServicesAuth.Mode != config.ServicesAuthNone {
		// The console does not yet sign users in; serving it would let
		// anyone act with the services' own Kafka principal.
		err := fmt.Errorf("daemon: ringtail.console_enable = true with ringtail.services_auth = %s: the console does not authenticate users yet; set ringtail.services_auth = none or turn the console off", n.cfg.ServicesAuth.Mode)
		if !explicit {
			n.log.Warn("console not started", "err", err)
			return nil
		}
		return err
	}
	brokers, own, err := n.servicesClientOpts("ringtail.console_enable = true")
	if err != nil {
		return err
	}
	ccfg := console.Config{Listen: cc.Listen, Brokers: brokers, ClientOpts: own, ReadOnly: cc.ReadOnly, Logger: n.log}
	if n.ops.metrics != nil {
		// The charts read the node's registry directly, no HTTP hop.
		ccfg.Metrics, ccfg.Gatherer = n.ops.metrics.Registry(), n.ops.metrics.Registry()
	}
	// The schemas and connectors pages talk to this node's own services
	// (plain HTTP: the console runs only with ringtail.services_auth =
	// none), on loopback when they listen on every address.
	if n.sreg != nil {
		if a, ok := n.sreg.Addr().(*net.TCPAddr); ok {
			ccfg.RegistryURL = "http://" + loopbackIfAny(a)
		}
	}
	if n.connect != nil {
		if a, ok := n.connect.Addr().(*net.TCPAddr); ok {
			ccfg.ConnectURL = "http://" + loopbackIfAny(a)
		}
	}
	c, err := console.Start(ccfg)
	if err != nil {
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
