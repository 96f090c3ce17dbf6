// Package config is Ringtail's server.toml: Kafka's server.properties names as
// TOML dotted keys plus Ringtail's own [ringtail] table, their defaults, and
// validation that stops startup with one message naming key, value and what is valid.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Listener is one entry of listeners or advertised.listeners,
// "NAME://host:port". Name is upper-cased as Kafka normalises it; Host is
// stored without IPv6 brackets, and "" means all interfaces.
type Listener struct {
	Name string
	Host string
	Port int
}

// String gives the listener back in Kafka's form, NAME://host:port.
func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// Addr is host:port, ready for net.Listen or a client dial.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// Voter is one entry of controller.quorum.voters, "id@host:port".
type Voter struct {
	ID   int32
	Host string
	Port int
}

// String gives the voter back in Kafka's form, id@host:port.
func (v Voter) String() string {
	return strconv.Itoa(int(v.ID)) + "@" + v.Addr()
}

// Addr is host:port of the voter's controller listener.
func (v Voter) Addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

// Config is a node's validated configuration. Durations are in milliseconds
// and sizes in bytes, whatever unit the file used.
type Config struct {
	NodeID                  int32      // node.id
	ProcessRoles            []string   // process.roles: "broker", "controller"
	Listeners               []Listener // listeners
	AdvertisedListeners     []Listener // advertised.listeners; unset: the Kafka listeners, all-interfaces hosts as "localhost"
	ControllerListenerNames []string   // controller.listener.names
	ControllerQuorumVoters  []Voter    // controller.quorum.voters; unset on a controller: this node alone
	InterBrokerListenerName string     // inter.broker.listener.name
	// ListenerSecurityProtocolMap is listener.security.protocol.map; see
	// ListenerProtocol for names it does not list.
	ListenerSecurityProtocolMap []ListenerProtocol
	SSL                         SSLConfig        // ssl.*: TLS of the SSL listeners
	Authorizer                  AuthorizerConfig // authorizer.class.name, super.users, allow.everyone.if.no.acl.found
	// ListenerSSL is the TLS of the listeners with listener.name.<name>.ssl.*
	// overrides, by listener name; see SSLFor.
	ListenerSSL                   map[string]SSLConfig
	LogDirs                       []string // log.dirs, else log.dir
	NumPartitions                 int32    // num.partitions
	DefaultReplicationFactor      int16    // default.replication.factor
	AutoCreateTopics              bool     // auto.create.topics.enable
	LogSegmentBytes               int64    // log.segment.bytes
	LogRollMs                     int64    // log.roll.ms, else log.roll.hours
	LogRetentionMs                int64    // log.retention.ms, else .minutes, else .hours; -1 keeps forever
	LogRetentionBytes             int64    // log.retention.bytes; -1 has no size limit
	LogRetentionCheckIntervalMs   int64    // log.retention.check.interval.ms
	MessageMaxBytes               int32    // message.max.bytes
	SocketRequestMaxBytes         int32    // socket.request.max.bytes
	LogFlushIntervalMessages      int64    // log.flush.interval.messages
	LogFlushIntervalMs            int64    // log.flush.interval.ms; -1 unset
	MinInsyncReplicas             int32    // min.insync.replicas
	BrokerSessionTimeoutMs        int32    // broker.session.timeout.ms
	ReplicaLagTimeMaxMs           int32    // replica.lag.time.max.ms
	OffsetsTopicNumPartitions     int32    // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor int16    // offsets.topic.replication.factor
	OffsetsTopicSegmentBytes      int32    // offsets.topic.segment.bytes: segment.bytes of __consumer_offsets when created
	OffsetsRetentionMinutes       int64    // offsets.retention.minutes
	GroupInitialRebalanceDelayMs  int64    // group.initial.rebalance.delay.ms
	// Transactions (the transaction coordinator and __transaction_state).
	TransactionStateLogNumPartitions     int32  // transaction.state.log.num.partitions
	TransactionStateLogReplicationFactor int16  // transaction.state.log.replication.factor
	TransactionStateLogSegmentBytes      int32  // transaction.state.log.segment.bytes
	TransactionStateLogMinISR            int32  // transaction.state.log.min.isr
	TransactionMaxTimeoutMs              int32  // transaction.max.timeout.ms
	TransactionalIDExpirationMs          int32  // transactional.id.expiration.ms
	TransactionAbortTimedOutCheckMs      int32  // transaction.abort.timed.out.transaction.cleanup.interval.ms
	BrokerRack                           string // broker.rack
	ClusterID                            string // cluster.id; "" = generated at first start

	// The log cleaner. The last four are the broker defaults of the topic
	// configs min.cleanable.dirty.ratio, min.compaction.lag.ms,
	// max.compaction.lag.ms and delete.retention.ms (see TopicDefaults).
	LogCleanerEnable              bool    // log.cleaner.enable
	LogCleanerThreads             int     // log.cleaner.threads: 1 to 64
	LogCleanerDedupeBufferSize    int64   // log.cleaner.dedupe.buffer.size: bytes, for all threads together; > 1 MiB per thread
	LogCleanerIOBufferSize        int32   // log.cleaner.io.buffer.size: bytes, for all threads together
	LogCleanerIOBufferLoadFactor  float64 // log.cleaner.io.buffer.load.factor: (0, 1], how full the dedupe map may get
	LogCleanerIOMaxBytesPerSecond float64 // log.cleaner.io.max.bytes.per.second: > 0; math.MaxFloat64 is unlimited
	LogCleanerBackoffMs           int64   // log.cleaner.backoff.ms
	LogCleanerMinCleanableRatio   float64 // log.cleaner.min.cleanable.ratio: [0, 1]
	LogCleanerMinCompactionLagMs  int64   // log.cleaner.min.compaction.lag.ms
	LogCleanerMaxCompactionLagMs  int64   // log.cleaner.max.compaction.lag.ms: >= 1, and >= the min
	LogCleanerDeleteRetentionMs   int64   // log.cleaner.delete.retention.ms

	Quotas QuotaConfig // quota.window.*, max.connections* (quotas.go)
	// GroupConsumer is group.consumer.* (groupconsumer.go).
	GroupConsumer GroupConsumerConfig
	// GroupConsumerMigrationPolicy is group.consumer.migration.policy (groupconvert.go).
	GroupConsumerMigrationPolicy string
	// GroupShare is group.share.* of share groups' group side and the
	// group.consumer.min/max.* bounds of group configs (groupshare.go).
	GroupShare GroupShareConfig
	// Share is group.share.* and share.coordinator.state.topic.* (share.go).
	Share ShareConfig
	// ReplicaFetch is replica.fetch.* and num.replica.fetchers (replication.go).
	ReplicaFetch ReplicaFetchConfig

	// Limits is connections.max.idle.ms, queued.max.request.bytes and
	// the other limits against hostile clients (limits.go).
	Limits LimitsConfig

	Telemetry              TelemetryConfig // telemetry.max.bytes, ringtail.telemetry_* (telemetry.go)
	FetchSessionCacheSlots int32           // max.incremental.fetch.session.cache.slots (fetchsession.go)

	SchemaRegistry SchemaRegistryConfig // ringtail.schema_registry_* (schemaregistry.go)
	ServicesAuth   ServicesAuthConfig   // ringtail.services_* (httpauth.go)
	HTTPProxy      HTTPProxyConfig      // ringtail.http_proxy_* (restproxy.go)
	Console        ConsoleConfig        // ringtail.console_* (console.go)
	Connect        ConnectConfig        // ringtail.connect_* (connect.go)

	Ringtail RingtailConfig

	// SASL is the sasl.* keys, the SASL of the SASL listeners; ListenerSASL
	// the listeners with listener.name.<name>.sasl.* overrides (sasl.go).
	SASL         SASLConfig
	ListenerSASL map[string]SASLConfig
	// ConnectionsMaxReauthMs is connections.max.reauth.ms (0: sessions do
	// not expire); ConnectionFailedAuthenticationDelayMs is
	// connection.failed.authentication.delay.ms.
	ConnectionsMaxReauthMs                int64
	ConnectionFailedAuthenticationDelayMs int32

	// Set holds the dotted keys the file set explicitly (ringtail keys as
	// "ringtail.io_engine"); DescribeConfigs reports those as
	// STATIC_BROKER_CONFIG rather than DEFAULT_CONFIG.
	Set map[string]bool

	// fileValues keeps the file's value, in server.properties form, of each
	// key set; DescribeBrokerConfig shows it for keys that a more precise key
	// overrides (log.retention.hours under log.retention.ms).
	fileValues map[string]string
}

// RingtailConfig is the [ringtail] table: settings with no Kafka equivalent.
type RingtailConfig struct {
	IOEngine    string // io_engine: "auto" | "io_uring" | "sync"
	Shards      int    // shards: 0 = one per CPU
	PinShards   bool   // pin_shards: pin each shard's thread to a CPU
	AdminListen string // admin_listen: host:port of the admin HTTP server; "" disables it
	Durability  string // durability: "fsync" (fsync before acknowledging) | "relaxed" (Kafka's: ack before fsync)
	LogFormat   string // log_format: "text" | "json"
	LogLevel    string // log_level: "debug" | "info" | "warn" | "error"
	// GroupCommit: one fsync per file per shard drain covers every append
	// queued in it (true, the default); false fsyncs each append on its own,
	// the simpler alternative the benchmark suite compares against.
	GroupCommit bool
	// FetchSendfile: fetch responses send record bytes from the segment
	// files with sendfile(2) (true, the default); false reads them into
	// memory and writes them, as TLS would need.
	FetchSendfile bool
	// IOConfigFile: io_config_file, the settings `ringtail iotune` wrote
	// (iotune.go); "" reads none.
	IOConfigFile string
	MaxOpenFiles int // max_open_files: segment file descriptors open at once; 0 = from RLIMIT_NOFILE, -1 = unbounded (files.go)
}

const (
	msPerHour   = int64(3600000)
	msPerMinute = int64(60000)
	weekMs      = 168 * msPerHour
)

// Default is the configuration of `ringtail serve` with no file: one node,
// broker and controller at once, Kafka listener 9092, controller 9093.
func Default() *Config {
	return &Config{
		NodeID:                        1,
		ProcessRoles:                  []string{"broker", "controller"},
		Listeners:                     []Listener{{Name: "PLAINTEXT", Port: 9092}, {Name: "CONTROLLER", Port: 9093}},
		AdvertisedListeners:           []Listener{{Name: "PLAINTEXT", Host: "localhost", Port: 9092}},
		ControllerListenerNames:       []string{"CONTROLLER"},
		ControllerQuorumVoters:        []Voter{{ID: 1, Host: "localhost", Port: 9093}},
		InterBrokerListenerName:       "PLAINTEXT",
		ListenerSecurityProtocolMap:   append([]ListenerProtocol(nil), defaultProtocolMap...),
		SSL:                           defaultSSL(),
		LogDirs:                       []string{"./ringtail-data"},
		NumPartitions:                 1,
		DefaultReplicationFactor:      1,
		AutoCreateTopics:              true,
		LogSegmentBytes:               1 << 30,
		LogRollMs:                     weekMs,
		LogRetentionMs:                weekMs,
		LogRetentionBytes:             -1,
		LogRetentionCheckIntervalMs:   300000,
		MessageMaxBytes:               1048588,
		SocketRequestMaxBytes:         104857600,
		LogFlushIntervalMessages:      math.MaxInt64,
		LogFlushIntervalMs:            -1,
		MinInsyncReplicas:             1,
		BrokerSessionTimeoutMs:        9000,
		ReplicaLagTimeMaxMs:           30000,
		OffsetsTopicNumPartitions:     50,
		OffsetsTopicReplicationFactor: 3,
		OffsetsTopicSegmentBytes:      100 << 20,

		TransactionStateLogNumPartitions:     50,
		TransactionStateLogReplicationFactor: 3,
		TransactionStateLogSegmentBytes:      100 << 20,
		TransactionStateLogMinISR:            2,
		TransactionMaxTimeoutMs:              900000,
		TransactionalIDExpirationMs:          604800000,
		TransactionAbortTimedOutCheckMs:      10000,
		OffsetsRetentionMinutes:              10080,
		GroupInitialRebalanceDelayMs:         3000,
		LogCleanerEnable:                     true,
		LogCleanerThreads:                    1,
		LogCleanerDedupeBufferSize:           128 << 20,
		LogCleanerIOBufferSize:               512 << 10,
		LogCleanerIOBufferLoadFactor:         0.9,
		LogCleanerIOMaxBytesPerSecond:        math.MaxFloat64,
		LogCleanerBackoffMs:                  15000,
		LogCleanerMinCleanableRatio:          0.5,
		LogCleanerMinCompactionLagMs:         0,
		LogCleanerMaxCompactionLagMs:         math.MaxInt64,
		LogCleanerDeleteRetentionMs:          86400000,
		Quotas:                               defaultQuotas(),
		Telemetry:                            defaultTelemetry(),
		SchemaRegistry:                       defaultSchemaRegistry(),
		ServicesAuth:                         defaultServicesAuth(),
		HTTPProxy:                            defaultHTTPProxy(),
		Console:                              defaultConsole(),
		Connect:                              defaultConnect(),
		FetchSessionCacheSlots:               defaultFetchSessionSlots,
		GroupConsumer:                        defaultGroupConsumer(),
		GroupConsumerMigrationPolicy:         "bidirectional",
		GroupShare:                           defaultGroupShare(),
		Share:                                defaultShare(),
		ReplicaFetch:                         defaultReplicaFetch(),
		Limits:                               defaultLimits(),
		Ringtail: RingtailConfig{
			IOEngine:      "auto",
			Shards:        0,
			PinShards:     false,
			AdminListen:   "127.0.0.1:9644",
			Durability:    "fsync",
			GroupCommit:   true,
			FetchSendfile: true,
			LogFormat:     "text",
			LogLevel:      "info",
			IOConfigFile:  DefaultIOConfigFile,
		},
		Set:        map[string]bool{},
		fileValues: map[string]string{},

		SASL:                                  defaultSASL(),
		ConnectionFailedAuthenticationDelayMs: 100,
	}
}

// Load reads and parses the server.toml at path; "" gives Default().
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// Parse parses and validates a server.toml document. Keys the document does
// not set keep their defaults; every error names the key, the value and what
// would be valid.
func Parse(data []byte) (*Config, error) {
	c, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// quotingHint explains a TOML clash between a key and a longer key it
// starts (max.connections and max.connections.per.ip): both must be
// written quoted.
func quotingHint(key []string) string {
	for i := 1; i < len(key); i++ {
		name := strings.Join(key[:i], ".")
		if TOMLKey(name) != name {
			return fmt.Sprintf("; %s is a key and also the start of longer keys, which TOML cannot write unquoted: quote them, as %s = ... and \"%s.<rest>\" = ...", name, TOMLKey(name), name)
		}
	}
	return ""
}

func parse(data []byte) (*Config, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			msg := strings.TrimPrefix(de.Error(), "toml: ")
			if k := de.Key(); len(k) > 1 {
				// go-toml names only the key's last part ("key id is already defined").
				msg += fmt.Sprintf(" (key %q)", strings.Join(k, "."))
			}
			msg += quotingHint(de.Key())
			return nil, fmt.Errorf("line %d, column %d: %s", row, col, msg)
		}
		return nil, fmt.Errorf("invalid TOML: %s", strings.TrimPrefix(err.Error(), "toml: "))
	}
	values := map[string]any{}
	if err := flatten("", doc, values); err != nil {
		return nil, err
	}
	overrides, err := takeListenerOverrides(values)
	if err != nil {
		return nil, err
	}
	if err := checkKnown(values); err != nil {
		return nil, err
	}

	c := Default()
	// The registry lists a coarser key before the key that overrides it
	// (log.retention.hours before .minutes before .ms), so assigning in
	// registry order gives Kafka's precedence.
	for i := range brokerKeys {
		k := &brokerKeys[i]
		v, ok := values[k.name]
		if !ok {
			continue
		}
		if err := k.parse(c, v); err != nil {
			shown := literal(v)
			if k.sensitive {
				shown = hiddenValue
			}
			return nil, fmt.Errorf("%s = %s: %w", k.name, shown, err)
		}
		c.Set[k.name] = true
		c.fileValues[k.name] = propertyString(v)
	}
	if err := c.applyListenerOverrides(overrides); err != nil {
		return nil, err
	}
	if err := c.resolveDerived(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// flatten turns go-toml's nested tables back into the dotted keys they were
// written as; `log.retention.hours = 1`, `[log.retention] hours = 1` and
// `"log.retention.hours" = 1` all give "log.retention.hours".
func flatten(prefix string, m map[string]any, out map[string]any) error {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			if err := flatten(name, sub, out); err != nil {
				return err
			}
			continue
		}
		if _, dup := out[name]; dup {
			return fmt.Errorf("key %q is set twice (once as a quoted dotted key, once as a table or dotted key)", name)
		}
		out[name] = v
	}
	return nil
}

// resolveDerived fills the defaults that depend on other keys: Kafka derives
// advertised.listeners from listeners, and a single controller needs no
// voters list of its own.
func (c *Config) resolveDerived() error {
	if !c.Set["inter.broker.listener.name"] && c.HasRole("broker") && !hasListener(c.Listeners, c.InterBrokerListenerName) {
		// With renamed listeners the first PLAINTEXT Kafka listener is the
		// natural one for brokers to use (as Kafka's default
		// security.inter.broker.protocol is PLAINTEXT), else the first.
		if kl := c.KafkaListeners(); len(kl) > 0 {
			c.InterBrokerListenerName = kl[0].Name
			for _, l := range kl {
				if c.ListenerProtocol(l.Name) == ProtocolPlaintext {
					c.InterBrokerListenerName = l.Name
					break
				}
			}
		}
	}
	if !c.Set["advertised.listeners"] {
		c.AdvertisedListeners = nil
		for _, l := range c.KafkaListeners() {
			if isWildcardHost(l.Host) {
				l.Host = "localhost"
			}
			c.AdvertisedListeners = append(c.AdvertisedListeners, l)
		}
	}
	if !c.Set["controller.quorum.voters"] {
		c.ControllerQuorumVoters = nil
		if !c.HasRole("controller") {
			return fmt.Errorf("controller.quorum.voters is not set: a node without the controller role must be told where the controllers are (\"id@host:port,...\")")
		}
		for _, name := range c.ControllerListenerNames {
			for _, l := range c.Listeners {
				if l.Name != name {
					continue
				}
				host := l.Host
				if isWildcardHost(host) {
					host = "localhost"
				}
				c.ControllerQuorumVoters = []Voter{{ID: c.NodeID, Host: host, Port: l.Port}}
				return nil
			}
		}
		// No controller listener: Validate names the missing listener.
	}
	return nil
}

func isWildcardHost(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }

func hasListener(ls []Listener, name string) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
}

// DataDir is the directory that holds meta.properties and the metadata log:
// the first of log.dirs.
func (c *Config) DataDir() string {
	if len(c.LogDirs) == 0 {
		return ""
	}
	return c.LogDirs[0]
}

// HasRole reports whether process.roles includes role ("broker" or "controller").
func (c *Config) HasRole(role string) bool {
	for _, r := range c.ProcessRoles {
		if r == role {
			return true
		}
	}
	return false
}

// KafkaListeners are the listeners that serve Kafka clients: those not named
// in controller.listener.names.
func (c *Config) KafkaListeners() []Listener {
	var out []Listener
	for _, l := range c.Listeners {
		if !c.isControllerListener(l.Name) {
			out = append(out, l)
		}
	}
	return out
}

func (c *Config) isControllerListener(name string) bool {
	for _, n := range c.ControllerListenerNames {
		if n == name {
			return true
		}
	}
	return false
}

// Validate checks every field and the rules between them. Parse calls it; it
// is exported for configurations built in code (tests, tools).
func (c *Config) Validate() error {
	for i := range brokerKeys {
		k := &brokerKeys[i]
		if k.check == nil {
			continue
		}
		if err := k.check(c); err != nil {
			return fmt.Errorf("%s = %s: %w", k.name, k.display(c), err)
		}
	}
	return c.validateCross()
}

func (c *Config) validateCross() error {
	q := func(key string) string {
		return key + " = " + keyIndex[key].display(c)
	}
	isController, isBroker := c.HasRole("controller"), c.HasRole("broker")

	// Listener names and ports are unique; two listeners may share a port
	// only when bound to different specific addresses.
	for i, a := range c.Listeners {
		for _, b := range c.Listeners[:i] {
			if a.Name == b.Name {
				return fmt.Errorf("%s: listener name %s appears twice; each listener needs its own name", q("listeners"), a.Name)
			}
			if a.Port == b.Port && (isWildcardHost(a.Host) || isWildcardHost(b.Host) || a.Host == b.Host) {
				return fmt.Errorf("%s: listeners %s and %s both bind port %d; give each its own port", q("listeners"), b.Name, a.Name, a.Port)
			}
		}
	}
	for _, name := range c.ControllerListenerNames {
		found := hasListener(c.Listeners, name)
		if isController && !found {
			return fmt.Errorf("%s: no listener named %s in listeners (%s); a node with the controller role needs it", q("controller.listener.names"), name, listenerNames(c.Listeners))
		}
		if !isController && found {
			return fmt.Errorf("%s: listener %s is a controller listener, but process.roles does not include controller; remove it from listeners", q("controller.listener.names"), name)
		}
	}
	kafkaListeners := c.KafkaListeners()
	if isBroker && len(kafkaListeners) == 0 {
		return fmt.Errorf("%s: a node with the broker role needs a listener for Kafka clients, one not named in controller.listener.names (%s)", q("listeners"), strings.Join(c.ControllerListenerNames, ","))
	}
	if !isBroker && len(kafkaListeners) > 0 {
		return fmt.Errorf("%s: listener %s is not a controller listener, but process.roles is only controller; name it in controller.listener.names or remove it", q("listeners"), kafkaListeners[0].Name)
	}

	for i, a := range c.AdvertisedListeners {
		for _, b := range c.AdvertisedListeners[:i] {
			if a.Name == b.Name {
				return fmt.Errorf("%s: listener name %s appears twice", q("advertised.listeners"), a.Name)
			}
		}
		if !hasListener(c.Listeners, a.Name) {
			return fmt.Errorf("%s: %s is not a listener name in listeners (%s)", q("advertised.listeners"), a.Name, listenerNames(c.Listeners))
		}
		if c.isControllerListener(a.Name) {
			return fmt.Errorf("%s: %s is a controller listener; advertise only listeners for Kafka clients", q("advertised.listeners"), a.Name)
		}
	}
	if isBroker {
		if c.isControllerListener(c.InterBrokerListenerName) {
			return fmt.Errorf("%s: %s is a controller listener; brokers replicate over a Kafka listener (%s)", q("inter.broker.listener.name"), c.InterBrokerListenerName, listenerNames(kafkaListeners))
		}
		if !hasListener(c.Listeners, c.InterBrokerListenerName) {
			return fmt.Errorf("%s: no listener named %s in listeners (valid: %s)", q("inter.broker.listener.name"), c.InterBrokerListenerName, listenerNames(kafkaListeners))
		}
		if !hasListener(c.AdvertisedListeners, c.InterBrokerListenerName) {
			return fmt.Errorf("%s: listener %s is not in advertised.listeners, so other brokers could not reach this one", q("inter.broker.listener.name"), c.InterBrokerListenerName)
		}
	}

	if err := c.validateSecurity(); err != nil {
		return err
	}

	if c.LogCleanerMinCompactionLagMs > c.LogCleanerMaxCompactionLagMs {
		return fmt.Errorf("%s: more than %s; the minimum compaction lag must not exceed the maximum (Kafka would refuse every topic created with these defaults)",
			q("log.cleaner.min.compaction.lag.ms"), q("log.cleaner.max.compaction.lag.ms"))
	}

	if len(c.ControllerQuorumVoters) == 0 {
		return fmt.Errorf("%s: at least one voter (\"id@host:port\") is needed", q("controller.quorum.voters"))
	}
	for i, a := range c.ControllerQuorumVoters {
		for _, b := range c.ControllerQuorumVoters[:i] {
			if a.ID == b.ID {
				return fmt.Errorf("%s: voter id %d appears twice", q("controller.quorum.voters"), a.ID)
			}
		}
	}
	isVoter := false
	for _, v := range c.ControllerQuorumVoters {
		isVoter = isVoter || v.ID == c.NodeID
	}
	if isController && !isVoter {
		return fmt.Errorf("%s: node.id %d is not among the voters, but process.roles includes controller; add \"%d@host:port\"", q("controller.quorum.voters"), c.NodeID, c.NodeID)
	}
	if !isController && isVoter {
		return fmt.Errorf("%s: node.id %d is a voter, but process.roles does not include controller; give this node another id or the controller role", q("controller.quorum.voters"), c.NodeID)
	}
	return nil
}

func listenerNames(ls []Listener) string {
	if len(ls) == 0 {
		return "none"
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return strings.Join(names, ", ")
}

// TopicDefaults are the topic configs a topic gets without overrides: the
// broker-level keys of this file, and Kafka's defaults for the rest.
func (c *Config) TopicDefaults() TopicConfig {
	flushMs := c.LogFlushIntervalMs
	if flushMs < 0 {
		flushMs = math.MaxInt64 // Kafka: unset log.flush.interval.ms never flushes by time
	}
	return TopicConfig{
		RetentionMs:                     c.LogRetentionMs,
		RetentionBytes:                  c.LogRetentionBytes,
		SegmentBytes:                    c.LogSegmentBytes,
		SegmentMs:                       c.LogRollMs,
		MaxMessageBytes:                 c.MessageMaxBytes,
		CleanupPolicy:                   "delete",
		MessageTimestampType:            "CreateTime",
		MinInsyncReplicas:               c.MinInsyncReplicas,
		FlushMessages:                   c.LogFlushIntervalMessages,
		FlushMs:                         flushMs,
		SegmentIndexBytes:               10485760,
		IndexIntervalBytes:              4096,
		UncleanLeaderElectionEnable:     false,
		MessageTimestampDifferenceMaxMs: math.MaxInt64,
		CompressionType:                 "producer",
		MinCleanableDirtyRatio:          c.LogCleanerMinCleanableRatio,
		MinCompactionLagMs:              c.LogCleanerMinCompactionLagMs,
		MaxCompactionLagMs:              c.LogCleanerMaxCompactionLagMs,
		DeleteRetentionMs:               c.LogCleanerDeleteRetentionMs,
	}
}
