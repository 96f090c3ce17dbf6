package config

// The built-in web console (package console): whether it runs, where it
// listens, and whether it may change anything.

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ConsoleConfig is the ringtail.console_* keys.
type ConsoleConfig struct {
	Enable   bool   // ringtail.console_enable
	Listen   string // ringtail.console_listen: host:port
	ReadOnly bool   // ringtail.console_read_only
	// MetadataMaxAgeMs is ringtail.console_metadata_max_age_ms: how long
	// the pages share one read of the whole cluster's metadata.
	MetadataMaxAgeMs int64
	// MetricsURLs is ringtail.console_metrics_urls: the other brokers'
	// admin /metrics URLs, charted beside this node's own metrics.
	MetricsURLs []string
}

func defaultConsole() ConsoleConfig {
	return ConsoleConfig{Listen: "127.0.0.1:9021", MetadataMaxAgeMs: 5000}
}

func consoleKeys() []brokerKey {
	const grp = "ringtail"
	return []brokerKey{
		boolKey("ringtail.console_enable", grp, "Serve the web console (overview, topics, messages, consumer groups) over this node's Kafka listener.", "false",
			func(c *Config) *bool { return &c.Console.Enable }),
		stringKey("ringtail.console_listen", grp, "host:port of the web console.", `"127.0.0.1:9021"`,
			func(c *Config) *string { return &c.Console.Listen }, checkConsoleListen),
		boolKey("ringtail.console_read_only", grp, "Serve the web console read-only: no creating or deleting topics, no resetting offsets.", "false",
			func(c *Config) *bool { return &c.Console.ReadOnly }),
		intKey("ringtail.console_metadata_max_age_ms", grp, "How long the web console's pages share one read of the whole cluster's metadata (its own changes are seen at once); 0: every page reads it afresh, which costs the broker more on a large cluster.", "5000", TypeInt,
			intSpec{min: 0, max: 600000, unit: "milliseconds"}, func(c *Config) *int64 { return &c.Console.MetadataMaxAgeMs }),
		listKey("ringtail.console_metrics_urls", grp, "The other brokers' admin metrics URLs (http://host:admin-port/metrics), charted on the overview beside this node's own; empty: this node only.", `""`,
			func(c *Config) *[]string { return &c.Console.MetricsURLs }, strings.TrimSpace, checkMetricsURLs),
	}
}

// checkMetricsURLs wants http(s)://host:port[/path] for each entry.
func checkMetricsURLs(l []string) error {
	for _, raw := range l {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New(strconv.Quote(raw) + ` is not a URL: want http://host:port/metrics (a broker's admin listener)`)
		}
	}
	return nil
}

func checkConsoleListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New(`must be host:port (e.g. "127.0.0.1:9021")`)
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return errors.New("port " + strconv.Quote(port) + " must be from 1 to 65535")
	}
	return nil
}

func init() { registerAuthorizerKeys(consoleKeys()) }
