package daemon

// Kafka Connect wiring: a distributed Connect worker (services/connect) is
// a Kafka client of this node's own first PLAINTEXT listener (else its
// SASL listener as ringtail.services_sasl_user), like the Schema Registry.
// It starts once the listeners serve and stops, its tasks stopped and its
// group left, before they close. The workers of every node with one
// ringtail.connect_group_id share the connectors. With
// ringtail.services_auth its REST API authenticates clients as the other
// services do; what a connector may do in Kafka is the worker's own
// client's rights.

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/services/connect"
	"github.com/ringtail/ringtail/services/httpauth"
)

// connectCloseTimeout bounds how long shutdown waits for the worker's
// tasks to stop and its LeaveGroup.
const connectCloseTimeout = 15 * time.Second

// startConnect starts the Connect worker when ringtail.connect_enable is set.
func (n *Node) startConnect() error {
	cc := n.cfg.Connect
	if !cc.Enable {
		return nil
	}
	brokers, own, err := n.servicesClientOpts("ringtail.connect_enable = true")
	if err != nil {
		return err
	}
	props := map[string]string{
		"bootstrap.servers":    strings.Join(brokers, ","),
		"listeners":            "http://" + cc.Listen,
		"key.converter":        cc.KeyConverter,
		"value.converter":      cc.ValueConverter,
		"offset.storage.topic": cc.OffsetStorageTopic,
	}
	if n.sreg != nil {
		// The Avro converter finds this node's registry without more keys.
		url := "http://" + loopbackIfAny(n.sreg.Addr().(*net.TCPAddr))
		props["key.converter.schema.registry.url"], props["value.converter.schema.registry.url"] = url, url
	}
	wc, err := connect.ParseWorkerConfig(props, n.log)
	if err != nil {
		return err
	}
	wc.ClientOpts = own
	auth, err := n.newServicesAuth("connect", "application/json", brokers, own)
	if err != nil {
		return err
	}
	dc := connect.DistributedConfig{
		Worker: wc, AdvertisedURL: n.connectURL(), GroupID: cc.GroupID, ConfigTopic: cc.ConfigStorageTopic, StatusTopic: cc.StatusStorageTopic,
		SessionTimeout:    time.Duration(cc.SessionTimeoutMs) * time.Millisecond,
		ReplicationFactor: int16(min(3, len(n.cfg.ControllerQuorumVoters))),
		Logger:            n.log,
		TLS:               auth.TLSConfig(), ForwardTLS: auth.forwardTLS,
	}
	if n.ops.metrics != nil {
		reg := n.ops.metrics.Registry()
		dc.Metrics, dc.Gatherer = reg, prometheus.Gatherer(reg)
	}
	if auth.Mode() != httpauth.ModeNone {
		dc.Middleware = auth.Middleware
	}
	d, err := connect.StartDistributed(dc)
	if err != nil {
		auth.Close()
		if !n.cfg.Set["ringtail.connect_enable"] {
			// On only because no config file was given: a taken port does
			// not stop the broker.
			n.log.Warn("connect worker not started", "err", err)
			return nil
		}
		return err
	}
	n.connectAuth, n.connect = auth, d
	return nil
}

// connectURL is ringtail.connect_advertised_url, or, when connect_listen
// is on every interface, http(s):// and the advertised Kafka host with its
// port; "" lets the worker use its listener's address.
func (n *Node) connectURL() string {
	cc := n.cfg.Connect
	if cc.AdvertisedURL != "" {
		return cc.AdvertisedURL
	}
	host, port, _ := net.SplitHostPort(cc.Listen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return ""
	}
	host = "localhost"
	if len(n.cfg.AdvertisedListeners) > 0 && n.cfg.AdvertisedListeners[0].Host != "" {
		host = n.cfg.AdvertisedListeners[0].Host
	}
	scheme := "http://"
	if n.cfg.ServicesAuth.Mode == config.ServicesAuthMTLS {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
}

// stopConnect stops the worker while the listeners it uses still serve.
func (n *Node) stopConnect() {
	if n.connect == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectCloseTimeout)
	defer cancel()
	if err := n.connect.Close(ctx); err != nil {
		n.log.Warn("connect worker shutdown", "err", err)
	}
	n.connectAuth.Close()
	n.connect, n.connectAuth = nil, nil
}
