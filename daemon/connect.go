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
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// Kafka Connect's error bodies carry the HTTP status as error_code.
	brokers, own, auth, err := n.serviceSetup("ringtail.connect_enable", httpauth.Config{Service: "connect", StatusErrorCodes: true})
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
	if url := n.localRegistryURL(); url != "" {
		// The worker's Avro converter finds this node's registry without
		// more keys; a connector naming its own converter gives
		// schema.registry.url, and with http_basic Confluent's
		// basic.auth.credentials.source = USER_INFO and basic.auth.user.info.
		props["key.converter.schema.registry.url"], props["value.converter.schema.registry.url"] = url, url
	}
	wc, err := connect.ParseWorkerConfig(props, n.log)
	if err != nil {
		auth.Close()
		return err
	}
	// With mtls the converters present the services' certificate to the
	// registry, as a follower's forwarded requests do.
	wc.ClientOpts, wc.SchemaRegistryTLS = own, auth.forwardTLS
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
		return n.serviceNotStarted("connect worker", "ringtail.connect_enable", auth, err)
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
	host, _, _ := net.SplitHostPort(cc.Listen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return ""
	}
	return n.serviceURL(cc.Listen)
}

// stopConnect stops the worker while the listeners it uses still serve.
func (n *Node) stopConnect() {
	if n.connect == nil {
		return
	}
	n.stopService("connect worker", connectCloseTimeout, n.connect.Close, n.connectAuth)
	n.connect, n.connectAuth = nil, nil
}
