package config

// The built-in HTTP Proxy (services/restproxy): whether it runs, where it
// listens, and how long an idle consumer instance lives.

import (
	"errors"
	"math"
	"net"
	"strconv"
)

// HTTPProxyConfig is the ringtail.http_proxy_* keys.
type HTTPProxyConfig struct {
	Enable                    bool   // ringtail.http_proxy_enable
	Listen                    string // ringtail.http_proxy_listen: host:port
	ConsumerInstanceTimeoutMs int64  // ringtail.http_proxy_consumer_instance_timeout_ms
}

func defaultHTTPProxy() HTTPProxyConfig {
	return HTTPProxyConfig{Listen: "127.0.0.1:8082", ConsumerInstanceTimeoutMs: 300000}
}

func httpProxyKeys() []brokerKey {
	const grp = "ringtail"
	return []brokerKey{
		boolKey("ringtail.http_proxy_enable", grp, "Serve Confluent's REST Proxy API (v2, and v3 clusters, topics and produce) over this node's Kafka listener.", "false",
			func(c *Config) *bool { return &c.HTTPProxy.Enable }),
		stringKey("ringtail.http_proxy_listen", grp, "host:port of the HTTP Proxy server.", `"127.0.0.1:8082"`,
			func(c *Config) *string { return &c.HTTPProxy.Listen }, checkProxyListen),
		intKey("ringtail.http_proxy_consumer_instance_timeout_ms", grp, "How long an HTTP Proxy consumer instance may go without a request before it is closed and removed (Confluent's consumer.instance.timeout.ms).", "300000", TypeLong,
			intSpec{min: 1000, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int64 { return &c.HTTPProxy.ConsumerInstanceTimeoutMs }),
	}
}

func checkProxyListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New(`must be host:port (e.g. "127.0.0.1:8082")`)
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return errors.New("port " + strconv.Quote(port) + " must be from 1 to 65535")
	}
	return nil
}

func init() { registerAuthorizerKeys(httpProxyKeys()) }
