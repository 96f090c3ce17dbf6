package daemon

// Web console wiring: like the HTTP Proxy, the console is a Kafka client of
// this node's own listener (servicesClientOpts), started once the listeners
// serve and stopped before they close.

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	var reg prometheus.Registerer
	if n.ops.metrics != nil {
		reg = n.ops.metrics.Registry()
	}
	c, err := console.Start(console.Config{Listen: cc.Listen, Brokers: brokers, ClientOpts: own, ReadOnly: cc.ReadOnly, Logger: n.log, Metrics: reg})
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
