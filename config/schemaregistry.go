package config

// The built-in Schema Registry (services/schemaregistry): whether it runs,
// where it listens, and the URL other nodes' registries forward writes to.

import (
	"errors"
	"net"
	"net/url"
	"strconv"
)

// SchemaRegistryConfig is the ringtail.schema_registry_* keys.
type SchemaRegistryConfig struct {
	Enable        bool   // ringtail.schema_registry_enable
	Listen        string // ringtail.schema_registry_listen: host:port
	AdvertisedURL string // ringtail.schema_registry_advertised_url: "" derives it from listen
}

func defaultSchemaRegistry() SchemaRegistryConfig {
	return SchemaRegistryConfig{Listen: "127.0.0.1:8081"}
}

func schemaRegistryKeys() []brokerKey {
	const grp = "ringtail"
	return []brokerKey{
		boolKey("ringtail.schema_registry_enable", grp, "Serve Confluent's Schema Registry API (schemas kept in the _schemas topic).", "false",
			func(c *Config) *bool { return &c.SchemaRegistry.Enable }),
		stringKey("ringtail.schema_registry_listen", grp, "host:port of the Schema Registry HTTP server.", `"127.0.0.1:8081"`,
			func(c *Config) *string { return &c.SchemaRegistry.Listen }, checkRegistryListen),
		stringKey("ringtail.schema_registry_advertised_url", grp, "URL other nodes' registries forward writes to; empty: http:// and schema_registry_listen (an all-interfaces host as the advertised Kafka host).", `""`,
			func(c *Config) *string { return &c.SchemaRegistry.AdvertisedURL }, checkRegistryURL),
	}
}

func checkRegistryListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New(`must be host:port (e.g. "127.0.0.1:8081")`)
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return errors.New("port " + strconv.Quote(port) + " must be from 1 to 65535")
	}
	return nil
}

func checkRegistryURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New(`must be an http:// or https:// URL with a host (e.g. "http://node1:8081"), or "" to derive it`)
	}
	return nil
}

func init() { registerAuthorizerKeys(schemaRegistryKeys()) }
