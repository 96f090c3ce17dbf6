package connect

// The worker's .properties keys: what is honoured, what is accepted and
// ignored, and a warning for anything else.

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Worker defaults.
const (
	DefaultListen          = "127.0.0.1:8083"
	DefaultOffsetsTopic    = "connect-offsets"
	defaultOffsetFlush     = 60 * time.Second
	defaultOffsetParts     = 25
	defaultBootstrap       = "localhost:9092"
	defaultConverter       = JSONConverter
	maxOffsetFlushInterval = 24 * time.Hour
)

// WorkerConfig is a parsed worker.properties.
type WorkerConfig struct {
	Bootstrap      []string
	KeyConverter   string
	KeyProps       map[string]string // key.converter.* without the prefix
	ValueConverter string
	ValueProps     map[string]string
	OffsetFile     string
	// OffsetFlushInterval is the most often the informational offsets
	// file is rewritten.
	OffsetFlushInterval time.Duration
	OffsetsTopic        string
	OffsetsPartitions   int32
	OffsetsReplication  int16 // 0: up to 3, as many brokers as there are
	Listen              string
	// ClientOpts are more options of every Kafka client of the worker
	// (the daemon's SASL for its own listener); none standalone.
	ClientOpts []kgo.Opt
	// SchemaRegistryTLS is what the Avro converters present to and trust
	// of an https:// registry (the daemon's with services mtls); nil: the
	// system's roots, no client certificate.
	SchemaRegistryTLS *tls.Config
}

// workerKeysIgnored are Kafka worker keys that mean nothing to a standalone
// Ringtail worker; they are accepted with an INFO line.
var workerKeysIgnored = map[string]string{
	"plugin.path":                       "the connector plugins are built in",
	"group.id":                          "standalone mode has no worker group",
	"config.storage.topic":              "standalone mode keeps connector configs in memory",
	"status.storage.topic":              "standalone mode keeps statuses in memory",
	"config.storage.replication.factor": "standalone mode keeps connector configs in memory",
	"status.storage.replication.factor": "standalone mode keeps statuses in memory",
	"rest.advertised.host.name":         "standalone mode forwards no requests",
	"rest.advertised.port":              "standalone mode forwards no requests",
	"rest.advertised.listener":          "standalone mode forwards no requests",
	"exactly.once.source.support":       "source tasks are always transactional",
	"internal.key.converter":            "offsets are always JSON, as Kafka's",
	"internal.value.converter":          "offsets are always JSON, as Kafka's",
}

// ParseWorkerConfig reads a worker config. Unknown keys are logged once as
// warnings; a bad value is an error naming the key and what is valid.
func ParseWorkerConfig(props map[string]string, log *slog.Logger) (*WorkerConfig, error) {
	c := &WorkerConfig{
		Bootstrap:           []string{defaultBootstrap},
		KeyConverter:        defaultConverter,
		ValueConverter:      defaultConverter,
		KeyProps:            map[string]string{},
		ValueProps:          map[string]string{},
		OffsetFlushInterval: defaultOffsetFlush,
		OffsetsTopic:        DefaultOffsetsTopic,
		OffsetsPartitions:   defaultOffsetParts,
		Listen:              DefaultListen,
	}
	var restHost, restPort string
	var listenersSet bool
	for _, k := range sortedKeys(props) {
		v := strings.TrimSpace(props[k])
		switch {
		case k == "bootstrap.servers":
			c.Bootstrap = splitList(v)
			if len(c.Bootstrap) == 0 {
				return nil, fmt.Errorf("bootstrap.servers is empty: give host:port[,host:port...] of the Kafka brokers")
			}
		case k == "key.converter":
			if !knownConverter(v) {
				return nil, fmt.Errorf("key.converter = %q: valid are %s", v, strings.Join(converterClasses(), ", "))
			}
			c.KeyConverter = v
		case k == "value.converter":
			if !knownConverter(v) {
				return nil, fmt.Errorf("value.converter = %q: valid are %s", v, strings.Join(converterClasses(), ", "))
			}
			c.ValueConverter = v
		case strings.HasPrefix(k, "key.converter."):
			c.KeyProps[strings.TrimPrefix(k, "key.converter.")] = v
		case strings.HasPrefix(k, "value.converter."):
			c.ValueProps[strings.TrimPrefix(k, "value.converter.")] = v
		case k == "offset.storage.file.filename":
			c.OffsetFile = v
		case k == "offset.flush.interval.ms":
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxOffsetFlushInterval {
				return nil, fmt.Errorf("offset.flush.interval.ms = %q: want milliseconds from 0 to %d", v, maxOffsetFlushInterval.Milliseconds())
			}
			c.OffsetFlushInterval = time.Duration(ms) * time.Millisecond
		case k == "offset.storage.topic":
			if v == "" {
				return nil, fmt.Errorf("offset.storage.topic is empty: give a topic name (default %s)", DefaultOffsetsTopic)
			}
			c.OffsetsTopic = v
		case k == "offset.storage.partitions":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return nil, fmt.Errorf("offset.storage.partitions = %q: want 1 to 1000", v)
			}
			c.OffsetsPartitions = int32(n)
		case k == "offset.storage.replication.factor":
			n, err := strconv.Atoi(v)
			if err != nil || n == 0 || n < -1 || n > 32767 {
				return nil, fmt.Errorf("offset.storage.replication.factor = %q: want -1 (the broker's default) or 1 to 32767", v)
			}
			if n > 0 {
				c.OffsetsReplication = int16(n)
			}
		case k == "listeners":
			listenersSet = true
			addr, err := parseListeners(v)
			if err != nil {
				return nil, err
			}
			c.Listen = addr
		case k == "rest.host.name":
			restHost = v
		case k == "rest.port":
			if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 65535 {
				return nil, fmt.Errorf("rest.port = %q: want a port, 0 to 65535", v)
			}
			restPort = v
		default:
			if why, ok := workerKeysIgnored[k]; ok {
				log.Info("connect: worker key accepted and ignored", "key", k, "why", why)
				continue
			}
			log.Warn("connect: unknown worker key ignored", "key", k)
		}
	}
	if !listenersSet && (restHost != "" || restPort != "") {
		host, port, _ := net.SplitHostPort(DefaultListen)
		if restHost != "" {
			host = restHost
		}
		if restPort != "" {
			port = restPort
		}
		c.Listen = net.JoinHostPort(host, port)
	}
	return c, nil
}

// parseListeners takes Kafka's listeners=http://host:port[,...]: the first
// http listener is served; an empty host is every interface, as Kafka.
func parseListeners(v string) (string, error) {
	for _, l := range splitList(v) {
		u, err := url.Parse(l)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("listeners = %q: want http://host:port, e.g. http://127.0.0.1:8083", v)
		}
		switch strings.ToLower(u.Scheme) {
		case "http":
		case "https":
			return "", fmt.Errorf("listeners = %q: https is not supported by Ringtail's Connect worker; use http://host:port", v)
		default:
			return "", fmt.Errorf("listeners = %q: want http://host:port", v)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			return "", fmt.Errorf("listeners = %q: want http://host:port: %v", v, err)
		}
		return net.JoinHostPort(host, port), nil
	}
	return "", fmt.Errorf("listeners is empty: want http://host:port")
}
