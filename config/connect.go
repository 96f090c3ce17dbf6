package config

// The built-in Kafka Connect worker in distributed mode (services/connect):
// whether it runs, where its REST API listens, the worker group and its
// internal topics, the group session timeout and the default converters.

import (
	"errors"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
)

// ConnectConfig is the ringtail.connect_* keys.
type ConnectConfig struct {
	Enable             bool   // ringtail.connect_enable
	Listen             string // ringtail.connect_listen: host:port
	AdvertisedURL      string // ringtail.connect_advertised_url: "" derives it from listen
	GroupID            string // ringtail.connect_group_id (Kafka's group.id)
	ConfigStorageTopic string // ringtail.connect_config_storage_topic
	OffsetStorageTopic string // ringtail.connect_offset_storage_topic
	StatusStorageTopic string // ringtail.connect_status_storage_topic
	SessionTimeoutMs   int64  // ringtail.connect_session_timeout_ms
	KeyConverter       string // ringtail.connect_key_converter
	ValueConverter     string // ringtail.connect_value_converter
}

func defaultConnect() ConnectConfig {
	return ConnectConfig{Listen: "127.0.0.1:8083", GroupID: "connect-cluster", ConfigStorageTopic: "connect-configs",
		OffsetStorageTopic: "connect-offsets", StatusStorageTopic: "connect-status", SessionTimeoutMs: 10000,
		KeyConverter: connectJSONConverter, ValueConverter: connectJSONConverter}
}

const connectJSONConverter = "org.apache.kafka.connect.json.JsonConverter"

// connectConverters are the converter classes the worker has (Kafka's
// names; the short class names work too).
var connectConverters = []string{connectJSONConverter, "org.apache.kafka.connect.storage.StringConverter",
	"org.apache.kafka.connect.converters.ByteArrayConverter", "io.confluent.connect.avro.AvroConverter"}

func connectKeys() []brokerKey {
	const grp = "ringtail"
	return []brokerKey{
		boolKey("ringtail.connect_enable", grp, "Run a Kafka Connect worker in distributed mode (REST API, FileStream connectors) over this node's Kafka listener; the nodes' workers with one connect_group_id share the connectors.", "false",
			func(c *Config) *bool { return &c.Connect.Enable }),
		stringKey("ringtail.connect_listen", grp, "host:port of the Connect REST API; its host:port is the worker_id and the URL other workers forward to.", `"127.0.0.1:8083"`,
			func(c *Config) *string { return &c.Connect.Listen }, checkConnectListen),
		stringKey("ringtail.connect_advertised_url", grp, "URL the other workers reach this one at (forwarded writes, task restarts), whose host:port is the worker_id (Kafka Connect's rest.advertised.*); empty: http:// and connect_listen, an all-interfaces host as the advertised Kafka host.", `""`,
			func(c *Config) *string { return &c.Connect.AdvertisedURL }, checkRegistryURL),
		stringKey("ringtail.connect_group_id", grp, "The Connect worker group (Kafka Connect's group.id).", `"connect-cluster"`,
			func(c *Config) *string { return &c.Connect.GroupID }, checkConnectGroup),
		stringKey("ringtail.connect_config_storage_topic", grp, "Compacted topic of connector configs, task configs and target states (Kafka Connect's config.storage.topic).", `"connect-configs"`,
			func(c *Config) *string { return &c.Connect.ConfigStorageTopic }, checkConnectTopic),
		stringKey("ringtail.connect_offset_storage_topic", grp, "Compacted topic of source connector offsets (Kafka Connect's offset.storage.topic).", `"connect-offsets"`,
			func(c *Config) *string { return &c.Connect.OffsetStorageTopic }, checkConnectTopic),
		stringKey("ringtail.connect_status_storage_topic", grp, "Compacted topic of connector and task statuses (Kafka Connect's status.storage.topic).", `"connect-status"`,
			func(c *Config) *string { return &c.Connect.StatusStorageTopic }, checkConnectTopic),
		intKey("ringtail.connect_session_timeout_ms", grp, "How long a Connect worker may go without a heartbeat before its connectors and tasks move to the other workers (Kafka Connect's session.timeout.ms); at least the brokers' group minimum, 6000.", "10000", TypeInt,
			intSpec{min: 6000, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int64 { return &c.Connect.SessionTimeoutMs }),
		stringKey("ringtail.connect_key_converter", grp, "Default key converter of the connectors (Kafka Connect's key.converter); a connector's key.converter overrides it.", `"`+connectJSONConverter+`"`,
			func(c *Config) *string { return &c.Connect.KeyConverter }, checkConnectConverter),
		stringKey("ringtail.connect_value_converter", grp, "Default value converter of the connectors (Kafka Connect's value.converter).", `"`+connectJSONConverter+`"`,
			func(c *Config) *string { return &c.Connect.ValueConverter }, checkConnectConverter),
	}
}

func checkConnectListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New(`must be host:port (e.g. "127.0.0.1:8083")`)
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return errors.New("port " + strconv.Quote(port) + " must be from 1 to 65535")
	}
	return nil
}

func checkConnectGroup(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New(`must not be empty (e.g. "connect-cluster")`)
	}
	return nil
}

// checkConnectTopic is Kafka's topic name rule.
func checkConnectTopic(s string) error {
	ok := s != "" && s != "." && s != ".." && len(s) <= 249
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return errors.New("must be a topic name: 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-', not \".\" or \"..\"")
	}
	return nil
}

func checkConnectConverter(s string) error {
	for _, c := range connectConverters {
		if s == c || s == c[strings.LastIndexByte(c, '.')+1:] {
			return nil
		}
	}
	return errors.New("must be one of " + strings.Join(slices.Clone(connectConverters), ", "))
}

func init() { registerAuthorizerKeys(connectKeys()) }
