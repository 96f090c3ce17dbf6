package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// brokerKey describes one server.toml key: how to read it from the decoded
// TOML value, check it on a Config, show it, and document it. The registry
// below is the single list that Parse, Validate, DefaultTOML, TOML and
// DescribeBrokerConfig all walk.
type brokerKey struct {
	name  string // dotted key; Ringtail's own keys as "ringtail.<key>"
	group string // DefaultTOML section
	doc   string // one line
	def   string // default, as written in DefaultTOML (a TOML literal)
	typ   int8   // Kafka ConfigType, for DescribeConfigs

	parse func(c *Config, v any) error // decode a TOML value and assign it
	check func(c *Config) error        // validate the field; nil for keys another key's check covers
	toml  func(c *Config) string       // the field as a TOML literal; nil for keys TOML() does not write
	show  func(c *Config) string       // the value in server.properties form; nil: toml without quotes

	sensitive bool // DescribeConfigs hides the value (Kafka's PASSWORD keys)
}

const ringtailPrefix = "ringtail."

var brokerKeys = []brokerKey{
	// Node and roles.
	intKey("node.id", "Node", "This node's id, unique in the cluster.", "1", TypeInt,
		intSpec{min: 0, max: math.MaxInt32}, func(c *Config) *int32 { return &c.NodeID }),
	listKey("process.roles", "Node", "What this node runs: broker, controller, or both.", `"broker,controller"`,
		func(c *Config) *[]string { return &c.ProcessRoles }, strings.ToLower, checkRoles),
	stringKey("cluster.id", "Node", "Cluster id (22 characters of URL-safe base64); empty: generated at first start.", `""`,
		func(c *Config) *string { return &c.ClusterID }, checkClusterID),
	stringKey("broker.rack", "Node", "Rack (or zone) of this broker, for rack-aware replica placement; empty: none.", `""`,
		func(c *Config) *string { return &c.BrokerRack }, nil),

	// Listeners and the controller quorum.
	listenerKey("listeners", "Listeners", "Sockets to listen on, NAME://host:port; an empty host means all interfaces.",
		`"PLAINTEXT://:9092,CONTROLLER://:9093"`, func(c *Config) *[]Listener { return &c.Listeners }, false),
	listenerKey("advertised.listeners", "Listeners", "Addresses given to clients; unset: the Kafka listeners, with all-interfaces hosts as localhost.",
		`"PLAINTEXT://localhost:9092"`, func(c *Config) *[]Listener { return &c.AdvertisedListeners }, true),
	listKey("controller.listener.names", "Listeners", "Listeners that carry controller (Raft) traffic rather than Kafka clients.", `"CONTROLLER"`,
		func(c *Config) *[]string { return &c.ControllerListenerNames }, strings.ToUpper, checkListenerNames),
	voterKey("controller.quorum.voters", "Listeners", "Controller quorum, id@host:port,...; unset on a controller: this node alone.",
		`"1@localhost:9093"`),
	stringKey("inter.broker.listener.name", "Listeners", "Listener brokers use to replicate from each other.", `"PLAINTEXT"`,
		func(c *Config) *string { return &c.InterBrokerListenerName }, checkListenerName),
	protocolMapKey(),
	intKey("broker.session.timeout.ms", "Listeners", "How long the active controller waits without hearing from a broker before fencing it and moving its partition leadership away.", "9000", TypeInt,
		intSpec{min: 100, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.BrokerSessionTimeoutMs }),
	intKey("replica.lag.time.max.ms", "Listeners", "How long a follower may go without catching up to the leader's log end before the leader drops it from the ISR.", "30000", TypeInt,
		intSpec{min: 100, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.ReplicaLagTimeMaxMs }),

	// TLS of the listeners whose protocol is SSL (Kafka's ssl.* keys).
	pemTypeKey("ssl.keystore.type", "Format of the keystore: PEM only.", func(c *Config) *string { return &c.SSL.KeystoreType }),
	stringKey("ssl.keystore.location", "Security", "PEM file holding the private key (unencrypted) and the certificate chain; re-read when it changes.", `""`,
		func(c *Config) *string { return &c.SSL.KeystoreLocation }, nil),
	stringKey("ssl.keystore.certificate.chain", "Security", "The certificate chain as PEM in the config, instead of ssl.keystore.location.", `""`,
		func(c *Config) *string { return &c.SSL.KeystoreCertificateChain }, nil),
	secretKey("ssl.keystore.key", "The private key (unencrypted) as PEM in the config, with ssl.keystore.certificate.chain.",
		func(c *Config) *string { return &c.SSL.KeystoreKey }, nil),
	secretKey("ssl.key.password", "Password of the keystore's private key when it is an encrypted PKCS#8 PEM key (-----BEGIN ENCRYPTED PRIVATE KEY-----); empty for an unencrypted key.",
		func(c *Config) *string { return &c.SSL.KeyPassword }, nil),
	pemTypeKey("ssl.truststore.type", "Format of the truststore: PEM only.", func(c *Config) *string { return &c.SSL.TruststoreType }),
	stringKey("ssl.truststore.location", "Security", "PEM file of the CA certificates that client certificates must chain to; re-read when it changes.", `""`,
		func(c *Config) *string { return &c.SSL.TruststoreLocation }, nil),
	stringKey("ssl.truststore.certificates", "Security", "The CA certificates as PEM in the config, instead of ssl.truststore.location.", `""`,
		func(c *Config) *string { return &c.SSL.TruststoreCertificates }, nil),
	clientAuthKey(),
	listKey("ssl.enabled.protocols", "Security", "TLS versions SSL listeners accept: TLSv1.2, TLSv1.3.", `"TLSv1.2,TLSv1.3"`,
		func(c *Config) *[]string { return &c.SSL.EnabledProtocols }, normProtocol, checkEnabledProtocols),
	listKey("ssl.cipher.suites", "Security", "TLS 1.2 cipher suites (IANA names, as Java and Go spell them); empty: Go's defaults.", `""`,
		func(c *Config) *[]string { return &c.SSL.CipherSuites }, strings.TrimSpace, checkCipherSuites),
	stringKey("ssl.principal.mapping.rules", "Security", "Principal name from a client certificate's subject: DEFAULT (the whole DN) or RULE:pattern/replacement/[LU],..., as in Kafka.", `"DEFAULT"`,
		func(c *Config) *string { return &c.SSL.PrincipalMappingRules }, checkPrincipalRules),
	// SASL of the SASL_PLAINTEXT and SASL_SSL listeners (sasl.go).
	saslMechanismsKey(), plainJAASKey(), reauthKey(), failedAuthDelayKey(),

	// Client quota sampling and connection limits (quotas.go).
	quotaWindowNumKey(), quotaWindowSizeKey(), maxConnectionsKey(), maxConnectionsPerIPKey(), perIPOverridesKey(),

	// Incremental fetch sessions (fetchsession.go).
	fetchSessionSlotsKey(),

	// Log storage.
	alias(listKey("log.dir", "Storage", "Data directory, used when log.dirs is not set.", `"./ringtail-data"`,
		func(c *Config) *[]string { return &c.LogDirs }, nil, nil)),
	listKey("log.dirs", "Storage", "Data directories (JBOD). Each holds a meta.properties and partition logs; a new partition goes to the online dir holding the fewest. The first also holds the metadata log. A dir whose disk fails with an I/O error goes offline (its partitions answer KAFKA_STORAGE_ERROR, the others keep serving) until a restart; the broker starts while at least one dir is online.", `"./ringtail-data"`,
		func(c *Config) *[]string { return &c.LogDirs }, nil, checkLogDirs),
	intKey("log.segment.bytes", "Storage", "Roll a new segment file when the active one reaches this size.", "1073741824", TypeInt,
		intSpec{min: 1024, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int64 { return &c.LogSegmentBytes }),
	msAliasKey("log.roll.hours", "Storage", "Roll a new segment after this long even if it is not full.", "168",
		intSpec{min: 1, max: math.MaxInt64 / msPerHour, unit: "hours", hideMax: true}, msPerHour,
		func(c *Config) *int64 { return &c.LogRollMs }, TypeInt),
	intKey("log.roll.ms", "Storage", "The same in milliseconds; wins over log.roll.hours.", "604800000", TypeLong,
		intSpec{min: 1, max: math.MaxInt64, unit: "milliseconds"}, func(c *Config) *int64 { return &c.LogRollMs }),
	intKey("message.max.bytes", "Storage", "Largest record batch a producer may send.", "1048588", TypeInt,
		intSpec{min: 0, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.MessageMaxBytes }),
	intKey("socket.request.max.bytes", "Storage", "Largest request the server reads off a socket.", "104857600", TypeInt,
		intSpec{min: 1, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.SocketRequestMaxBytes }),
	intKey("log.flush.interval.messages", "Storage", "Flush a partition after this many messages (with durability = \"relaxed\").", "9223372036854775807", TypeLong,
		intSpec{min: 1, max: math.MaxInt64, unit: "messages"}, func(c *Config) *int64 { return &c.LogFlushIntervalMessages }),
	intKey("log.flush.interval.ms", "Storage", "Flush a partition after this long (with durability = \"relaxed\"); -1: not by time.", "-1", TypeLong,
		intSpec{min: -1, max: math.MaxInt64, unit: "milliseconds", minusOne: "not by time"}, func(c *Config) *int64 { return &c.LogFlushIntervalMs }),

	// Retention.
	msAliasKey("log.retention.hours", "Retention", "Delete segments older than this; -1 keeps them forever.", "168",
		intSpec{min: -1, max: math.MaxInt64 / msPerHour, unit: "hours", minusOne: "keep forever", hideMax: true}, msPerHour,
		func(c *Config) *int64 { return &c.LogRetentionMs }, TypeInt),
	msAliasKey("log.retention.minutes", "Retention", "The same in minutes; wins over log.retention.hours.", "10080",
		intSpec{min: -1, max: math.MaxInt64 / msPerMinute, unit: "minutes", minusOne: "keep forever", hideMax: true}, msPerMinute,
		func(c *Config) *int64 { return &c.LogRetentionMs }, TypeInt),
	intKey("log.retention.ms", "Retention", "The same in milliseconds; wins over log.retention.minutes and .hours.", "604800000", TypeLong,
		intSpec{min: -1, max: math.MaxInt64, unit: "milliseconds", minusOne: "keep forever"}, func(c *Config) *int64 { return &c.LogRetentionMs }),
	intKey("log.retention.bytes", "Retention", "Delete the oldest segments when a partition grows past this; -1: no size limit.", "-1", TypeLong,
		intSpec{min: -1, max: math.MaxInt64, unit: "bytes", minusOne: "no size limit"}, func(c *Config) *int64 { return &c.LogRetentionBytes }),
	intKey("log.retention.check.interval.ms", "Retention", "How often to look for segments to delete.", "300000", TypeLong,
		intSpec{min: 1, max: math.MaxInt64, unit: "milliseconds"}, func(c *Config) *int64 { return &c.LogRetentionCheckIntervalMs }),

	// The log cleaner (compaction), with Kafka's names, defaults and
	// validators. The last four are the broker defaults of topic configs.
	boolKey("log.cleaner.enable", "Cleaner", "Run the log cleaner, which compacts topics with cleanup.policy=compact.", "true",
		func(c *Config) *bool { return &c.LogCleanerEnable }),
	intKey("log.cleaner.threads", "Cleaner", "Log cleaner threads; the dedupe and I/O buffers below are divided among them.", "1", TypeInt,
		intSpec{min: 1, max: maxCleanerThreads}, func(c *Config) *int { return &c.LogCleanerThreads }),
	dedupeBufferKey(),
	intKey("log.cleaner.io.buffer.size", "Cleaner", "Memory for the cleaners' read and write buffers, all threads together.", "524288", TypeInt,
		intSpec{min: 0, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.LogCleanerIOBufferSize }),
	floatKey("log.cleaner.io.buffer.load.factor", "Cleaner", "How full a cleaner's key-to-offset map may get: fuller cleans more per pass, with more hash collisions.", "0.9",
		floatSpec{lo: 0, loOpen: true, hi: 1, valid: "a number greater than 0 and at most 1"},
		func(c *Config) *float64 { return &c.LogCleanerIOBufferLoadFactor }),
	floatKey("log.cleaner.io.max.bytes.per.second", "Cleaner", "Throttle on the cleaners' reads and writes together; the default is unlimited.", "1.7976931348623157e308",
		floatSpec{lo: 0, loOpen: true, hi: math.MaxFloat64, valid: "a positive, finite number (bytes per second; the default, 1.7976931348623157E308, is unlimited)"},
		func(c *Config) *float64 { return &c.LogCleanerIOMaxBytesPerSecond }),
	intKey("log.cleaner.backoff.ms", "Cleaner", "How long a cleaner sleeps when no partition needs cleaning.", "15000", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "milliseconds"}, func(c *Config) *int64 { return &c.LogCleanerBackoffMs }),
	floatKey("log.cleaner.min.cleanable.ratio", "Cleaner", "Default min.cleanable.dirty.ratio: clean a partition once this share of its log is dirty.", "0.5",
		floatSpec{lo: 0, hi: 1, valid: "a number from 0 to 1"},
		func(c *Config) *float64 { return &c.LogCleanerMinCleanableRatio }),
	intKey("log.cleaner.min.compaction.lag.ms", "Cleaner", "Default min.compaction.lag.ms: a record stays uncompacted at least this long.", "0", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "milliseconds"}, func(c *Config) *int64 { return &c.LogCleanerMinCompactionLagMs }),
	intKey("log.cleaner.max.compaction.lag.ms", "Cleaner", "Default max.compaction.lag.ms: a record stays uncompacted at most this long.", "9223372036854775807", TypeLong,
		intSpec{min: 1, max: math.MaxInt64, unit: "milliseconds"}, func(c *Config) *int64 { return &c.LogCleanerMaxCompactionLagMs }),
	intKey("log.cleaner.delete.retention.ms", "Cleaner", "Default delete.retention.ms: keep tombstones this long after their segment is cleaned.", "86400000", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "milliseconds"}, func(c *Config) *int64 { return &c.LogCleanerDeleteRetentionMs }),

	// Topic defaults.
	intKey("num.partitions", "Topics", "Partitions of a topic created without a count (and of auto-created topics).", "1", TypeInt,
		intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.NumPartitions }),
	intKey("default.replication.factor", "Topics", "Replication factor of a topic created without one.", "1", TypeInt,
		intSpec{min: 1, max: math.MaxInt16}, func(c *Config) *int16 { return &c.DefaultReplicationFactor }),
	intKey("min.insync.replicas", "Topics", "Replicas that must have a write before an acks=all produce succeeds.", "1", TypeInt,
		intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.MinInsyncReplicas }),
	boolKey("auto.create.topics.enable", "Topics", "Create a topic when a client asks for one that does not exist.", "true",
		func(c *Config) *bool { return &c.AutoCreateTopics }),

	// Consumer groups.
	intKey("offsets.topic.num.partitions", "Groups", "Partitions of __consumer_offsets (fixed once created).", "50", TypeInt,
		intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.OffsetsTopicNumPartitions }),
	intKey("offsets.topic.replication.factor", "Groups", "Replication factor of __consumer_offsets (capped at the live brokers when it is created).", "3", TypeShort,
		intSpec{min: 1, max: math.MaxInt16}, func(c *Config) *int16 { return &c.OffsetsTopicReplicationFactor }),
	intKey("offsets.topic.segment.bytes", "Groups", "segment.bytes of __consumer_offsets when it is created: smaller segments are compacted sooner.", "104857600", TypeInt,
		intSpec{min: 1024, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.OffsetsTopicSegmentBytes }),
	intKey("offsets.retention.minutes", "Groups", "Keep an empty group's committed offsets this long.", "10080", TypeInt,
		intSpec{min: 1, max: math.MaxInt64 / msPerMinute, unit: "minutes", hideMax: true}, func(c *Config) *int64 { return &c.OffsetsRetentionMinutes }),
	intKey("group.initial.rebalance.delay.ms", "Groups", "Wait this long for more members before a new group's first rebalance.", "3000", TypeInt,
		intSpec{min: 0, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int64 { return &c.GroupInitialRebalanceDelayMs }),

	// Transactions.
	intKey("transaction.state.log.num.partitions", "Transactions", "Partitions of __transaction_state (fixed once created).", "50", TypeInt,
		intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.TransactionStateLogNumPartitions }),
	intKey("transaction.state.log.replication.factor", "Transactions", "Replication factor of __transaction_state (capped at the live brokers when it is created).", "3", TypeShort,
		intSpec{min: 1, max: math.MaxInt16}, func(c *Config) *int16 { return &c.TransactionStateLogReplicationFactor }),
	intKey("transaction.state.log.segment.bytes", "Transactions", "segment.bytes of __transaction_state when it is created.", "104857600", TypeInt,
		intSpec{min: 1024, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.TransactionStateLogSegmentBytes }),
	intKey("transaction.state.log.min.isr", "Transactions", "min.insync.replicas of __transaction_state when it is created (capped at its replication factor).", "2", TypeInt,
		intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.TransactionStateLogMinISR }),
	intKey("transaction.max.timeout.ms", "Transactions", "Largest transaction.timeout.ms a producer may ask for.", "900000", TypeInt,
		intSpec{min: 1, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.TransactionMaxTimeoutMs }),
	intKey("transactional.id.expiration.ms", "Transactions", "Forget a transactional id unused for this long.", "604800000", TypeInt,
		intSpec{min: 1, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.TransactionalIDExpirationMs }),
	intKey("transaction.abort.timed.out.transaction.cleanup.interval.ms", "Transactions", "How often the coordinator looks for transactions past their timeout.", "10000", TypeInt,
		intSpec{min: 1, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.TransactionAbortTimedOutCheckMs }),

	// [ringtail]: settings Kafka has no name for.
	enumKey("ringtail.io_engine", "I/O engine: auto (io_uring where the kernel allows it, else sync), io_uring, or sync.", `"auto"`,
		func(c *Config) *string { return &c.Ringtail.IOEngine }, "auto", "io_uring", "sync"),
	intKey("ringtail.shards", "ringtail", "Shards (threads that own partitions and their I/O); 0: one per CPU.", "0", TypeInt,
		intSpec{min: 0, max: maxShards}, func(c *Config) *int { return &c.Ringtail.Shards }),
	boolKey("ringtail.pin_shards", "ringtail", "Pin each shard's thread to its own CPU.", "false",
		func(c *Config) *bool { return &c.Ringtail.PinShards }),
	boolKey("ringtail.group_commit", "ringtail", "One fsync per file covers every append a shard drains at once (group commit); false fsyncs each append on its own.", "true",
		func(c *Config) *bool { return &c.Ringtail.GroupCommit }),
	boolKey("ringtail.fetch_sendfile", "ringtail", "Send fetched record bytes from segment files with sendfile(2); false copies them through memory.", "true",
		func(c *Config) *bool { return &c.Ringtail.FetchSendfile }),
	stringKey("ringtail.admin_listen", "ringtail", "host:port of the admin HTTP server (metrics, health); empty disables it.", `"127.0.0.1:9644"`,
		func(c *Config) *string { return &c.Ringtail.AdminListen }, checkHostPort),
	enumKey("ringtail.durability", "fsync: acknowledge a write once it is fsynced; relaxed: before, as Kafka does.", `"fsync"`,
		func(c *Config) *string { return &c.Ringtail.Durability }, "fsync", "relaxed"),
	enumKey("ringtail.log_format", "Log line format: text or json.", `"text"`,
		func(c *Config) *string { return &c.Ringtail.LogFormat }, "text", "json"),
	enumKey("ringtail.log_level", "Least severe level logged: debug, info, warn or error.", `"info"`,
		func(c *Config) *string { return &c.Ringtail.LogLevel }, "debug", "info", "warn", "error"),
}

// maxShards bounds [ringtail] shards: each shard is an OS thread and an
// io_uring ring, so a typo of 100000 should fail here, not at startup.
const maxShards = 4096

// maxCleanerThreads bounds log.cleaner.threads. Kafka sets no upper bound
// (and accepts 0, which then fails its own dedupe-buffer check with a
// division by zero); 64 guards against typos, and Kafka's rule of more than
// 1 MiB of dedupe buffer per thread allows only 127 at the default size.
const maxCleanerThreads = 64

// minDedupePerThread: Kafka requires log.cleaner.dedupe.buffer.size /
// log.cleaner.threads > 1 MiB (KafkaConfig: "at least 1MB per cleaner
// thread").
const minDedupePerThread = 1 << 20

// dedupeBufferKey is log.cleaner.dedupe.buffer.size, whose check also needs
// log.cleaner.threads (listed, and so checked, before it).
func dedupeBufferKey() brokerKey {
	field := func(c *Config) *int64 { return &c.LogCleanerDedupeBufferSize }
	k := intKey("log.cleaner.dedupe.buffer.size", "Cleaner", "Memory for the cleaners' key-to-offset maps, all threads together; more than 1 MiB per thread.", "134217728", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "bytes"}, field)
	k.check = func(c *Config) error {
		n, threads := *field(c), int64(max(c.LogCleanerThreads, 1))
		if n < 0 {
			return errors.New("must be a non-negative integer (bytes)")
		}
		if n/threads <= minDedupePerThread {
			return fmt.Errorf("must be more than 1 MiB (%d bytes) per cleaner thread: at least %d with log.cleaner.threads = %d",
				minDedupePerThread, (minDedupePerThread+1)*threads, threads)
		}
		return nil
	}
	return k
}

// overriddenBy lists, for a coarse key, the keys that win over it.
var overriddenBy = map[string][]string{
	"log.dir":               {"log.dirs"},
	"log.roll.hours":        {"log.roll.ms"},
	"log.retention.hours":   {"log.retention.minutes", "log.retention.ms"},
	"log.retention.minutes": {"log.retention.ms"},
}

var keyIndex = func() map[string]*brokerKey {
	m := make(map[string]*brokerKey, len(brokerKeys))
	for i := range brokerKeys {
		m[brokerKeys[i].name] = &brokerKeys[i]
	}
	return m
}()

// unsupportedKafkaKeys are server.properties keys seen in Kafka's sample
// files that Ringtail has no use for; naming them helps someone porting a
// Kafka config more than "did you mean".
var unsupportedKafkaKeys = map[string]string{
	"num.network.threads":                              "Ringtail has no separate network thread pool",
	"num.io.threads":                                   "Ringtail's I/O threads are its shards: see shards in [ringtail]",
	"num.recovery.threads.per.data.dir":                "",
	"socket.send.buffer.bytes":                         "",
	"socket.receive.buffer.bytes":                      "",
	"zookeeper.connect":                                "Ringtail runs its own Raft controller quorum",
	"zookeeper.connection.timeout.ms":                  "Ringtail runs its own Raft controller quorum",
	"controller.quorum.bootstrap.servers":              "list the controllers in controller.quorum.voters",
	"share.coordinator.state.topic.replication.factor": "",
	"share.coordinator.state.topic.min.isr":            "",
	"log.flush.scheduler.interval.ms":                  "use log.flush.interval.ms",
}

// checkKnown rejects the first unknown key (in name order), with a hint.
func checkKnown(values map[string]any) error {
	var unknown []string
	for name := range values {
		if keyIndex[name] == nil {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	name := unknown[0]
	return fmt.Errorf("unknown key %q%s", name, unknownHint(name))
}

func unknownHint(name string) string {
	if why, ok := unsupportedKafkaKeys[name]; ok {
		if why != "" {
			why = " (" + why + ")"
		}
		return ": a Kafka setting Ringtail does not use" + why + "; remove it"
	}
	if rest, ok := strings.CutPrefix(name, ringtailPrefix); ok {
		if keyIndex[rest] != nil && !strings.HasPrefix(rest, ringtailPrefix) {
			return fmt.Sprintf(": %q is a Kafka key and belongs above the [ringtail] table (a key after a table header is inside that table)", rest)
		}
	} else if keyIndex[ringtailPrefix+name] != nil {
		return fmt.Sprintf(" (did you mean %q? Ringtail's own keys go in the [ringtail] table)", ringtailPrefix+name)
	}
	best, bestDist := "", 0
	for i := range brokerKeys {
		cand := brokerKeys[i].name
		d := editDistance(name, cand)
		if best == "" || d < bestDist {
			best, bestDist = cand, d
		}
	}
	if best != "" && (bestDist <= 2 || bestDist <= len(name)/5) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Kafka ConfigType codes, as DescribeConfigs reports them.
const (
	TypeBoolean  int8 = 1
	TypeString   int8 = 2
	TypeInt      int8 = 3
	TypeShort    int8 = 4
	TypeLong     int8 = 5
	TypeDouble   int8 = 6
	TypeList     int8 = 7
	TypeClass    int8 = 8
	TypePassword int8 = 9
)

// intSpec is the valid range of an integer key, and how to say it.
type intSpec struct {
	min, max int64
	unit     string // "bytes", "hours", ...
	minusOne string // what -1 means, when min is -1
	hideMax  bool   // max only guards overflow; leave it out of the message
}

func (s intSpec) valid() string {
	var b strings.Builder
	lo := s.min
	if s.minusOne != "" {
		fmt.Fprintf(&b, "-1 (%s) or ", s.minusOne)
		lo = 0
	}
	switch {
	case s.max != math.MaxInt64 && !s.hideMax:
		fmt.Fprintf(&b, "an integer from %d to %d", lo, s.max)
	case lo == 0:
		b.WriteString("a non-negative integer")
	case lo == 1:
		b.WriteString("a positive integer")
	default:
		fmt.Fprintf(&b, "an integer >= %d", lo)
	}
	if s.unit != "" {
		fmt.Fprintf(&b, " (%s)", s.unit)
	}
	return b.String()
}

func (s intSpec) check(n int64) error {
	if n > s.max && s.hideMax {
		return fmt.Errorf("too large: must be at most %d (%s)", s.max, s.unit)
	}
	if n < s.min || n > s.max {
		return errors.New("must be " + s.valid())
	}
	return nil
}

func (s intSpec) parse(v any) (int64, error) {
	n, ok := toInt(v)
	if !ok {
		return 0, errors.New("must be " + s.valid())
	}
	return n, s.check(n)
}

// toInt accepts a TOML integer or a string of decimal digits, as
// server.properties values are strings.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch s := strings.TrimSpace(x); {
		case strings.EqualFold(s, "true"):
			return true, true
		case strings.EqualFold(s, "false"):
			return false, true
		}
	}
	return false, false
}

// toList accepts a comma-separated string or a TOML array of strings; entries
// are trimmed and empty ones dropped, as Kafka does.
func toList(v any) ([]string, bool) {
	var raw []string
	switch x := v.(type) {
	case string:
		raw = strings.Split(x, ",")
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			raw = append(raw, s)
		}
	default:
		return nil, false
	}
	var out []string
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, true
}

const listValid = "must be a comma-separated string or an array of strings"

func intKey[T int16 | int32 | int64 | int](name, group, doc, def string, typ int8, s intSpec, field func(*Config) *T) brokerKey {
	str := func(c *Config) string { return strconv.FormatInt(int64(*field(c)), 10) }
	return brokerKey{
		name: name, group: group, doc: doc, def: def, typ: typ,
		parse: func(c *Config, v any) error {
			n, err := s.parse(v)
			if err != nil {
				return err
			}
			*field(c) = T(n)
			return nil
		},
		check: func(c *Config) error { return s.check(int64(*field(c))) },
		toml:  str,
	}
}

// msAliasKey is a coarse unit of a millisecond key (log.retention.hours for
// log.retention.ms): it sets the same field, and a negative value means -1.
func msAliasKey(name, group, doc, def string, s intSpec, factor int64, field func(*Config) *int64, typ int8) brokerKey {
	return brokerKey{
		name: name, group: group, doc: doc, def: def, typ: typ,
		parse: func(c *Config, v any) error {
			n, err := s.parse(v)
			if err != nil {
				return err
			}
			if n < 0 {
				*field(c) = -1
			} else {
				*field(c) = n * factor
			}
			return nil
		},
	}
}

// floatSpec is the valid range of a double key: lo to hi, excluding lo when
// loOpen; NaN and infinities are never valid. valid says it in words.
type floatSpec struct {
	lo, hi float64
	loOpen bool
	valid  string
}

func (s floatSpec) check(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < s.lo || (s.loOpen && f == s.lo) || f > s.hi {
		return errors.New("must be " + s.valid)
	}
	return nil
}

// parse accepts a TOML float or integer, or a string that holds a number
// (server.properties values are strings).
func (s floatSpec) parse(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, errors.New("must be " + s.valid)
		}
	default:
		return 0, errors.New("must be " + s.valid)
	}
	if f == 0 {
		f = 0 // -0 is 0
	}
	return f, s.check(f)
}

// javaDouble writes f as Java's Double.toString does, which is how Kafka
// shows a DOUBLE config: "0.5", "1.0", "1.0E-4", "1.7976931348623157E308".
func javaDouble(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		switch {
		case math.IsNaN(f):
			return "NaN"
		case f > 0:
			return "Infinity"
		}
		return "-Infinity"
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'E', -1, 64), "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// floatKey is a DOUBLE key. TOML() writes the shortest form that parses
// back to the same float; DescribeConfigs shows it as Kafka does.
func floatKey(name, group, doc, def string, s floatSpec, field func(*Config) *float64) brokerKey {
	return brokerKey{
		name: name, group: group, doc: doc, def: def, typ: TypeDouble,
		parse: func(c *Config, v any) error {
			f, err := s.parse(v)
			if err != nil {
				return err
			}
			*field(c) = f
			return nil
		},
		check: func(c *Config) error { return s.check(*field(c)) },
		toml:  func(c *Config) string { return tomlFloat(*field(c)) },
		show:  func(c *Config) string { return javaDouble(*field(c)) },
	}
}

// tomlFloat writes f as a TOML literal that parses back to f (an integer
// literal where f is whole and short, which a double key also accepts).
func tomlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func boolKey(name, group, doc, def string, field func(*Config) *bool) brokerKey {
	return brokerKey{
		name: name, group: group, doc: doc, def: def, typ: TypeBoolean,
		parse: func(c *Config, v any) error {
			b, ok := toBool(v)
			if !ok {
				return errors.New("must be true or false")
			}
			*field(c) = b
			return nil
		},
		toml: func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

// alias marks a key whose field a more precise key also sets (log.dir under
// log.dirs): TOML() writes only the precise key, whose check covers both.
func alias(k brokerKey) brokerKey {
	k.check, k.toml, k.show = nil, nil, nil
	return k
}

func stringKey(name, group, doc, def string, field func(*Config) *string, check func(string) error) brokerKey {
	k := brokerKey{
		name: name, group: group, doc: doc, def: def, typ: TypeString,
		parse: func(c *Config, v any) error {
			s, ok := v.(string)
			if !ok {
				return errors.New("must be a string")
			}
			s = strings.TrimSpace(s)
			if name == "inter.broker.listener.name" {
				s = strings.ToUpper(s) // Kafka normalises listener names
			}
			if check != nil {
				if err := check(s); err != nil {
					return err
				}
			}
			*field(c) = s
			return nil
		},
		toml: func(c *Config) string { return tomlQuote(*field(c)) },
		show: func(c *Config) string { return *field(c) },
	}
	if check != nil {
		k.check = func(c *Config) error { return check(*field(c)) }
	}
	return k
}

func enumKey(name, doc, def string, field func(*Config) *string, options ...string) brokerKey {
	quoted := make([]string, len(options))
	for i, o := range options {
		quoted[i] = strconv.Quote(o)
	}
	valid := "must be one of " + strings.Join(quoted, ", ")
	check := func(s string) error {
		for _, o := range options {
			if s == o {
				return nil
			}
		}
		return errors.New(valid)
	}
	k := stringKey(name, "ringtail", doc, def, field, check)
	k.parse = func(c *Config, v any) error {
		s, ok := v.(string)
		if !ok {
			return errors.New(valid)
		}
		s = strings.ToLower(strings.TrimSpace(s))
		if err := check(s); err != nil {
			return err
		}
		*field(c) = s
		return nil
	}
	return k
}

// listKey is a list of strings; norm (optional) normalises each entry and
// check (optional) validates the whole list.
func listKey(name, group, doc, def string, field func(*Config) *[]string, norm func(string) string, check func([]string) error) brokerKey {
	k := brokerKey{
		name: name, group: group, doc: doc, def: def, typ: TypeList,
		parse: func(c *Config, v any) error {
			l, ok := toList(v)
			if !ok {
				return errors.New(listValid)
			}
			if norm != nil {
				for i := range l {
					l[i] = norm(l[i])
				}
			}
			if check != nil {
				if err := check(l); err != nil {
					return err
				}
			}
			*field(c) = l
			return nil
		},
		toml: func(c *Config) string { return tomlArray(*field(c)) },
		show: func(c *Config) string { return strings.Join(*field(c), ",") },
	}
	if check != nil {
		k.check = func(c *Config) error { return check(*field(c)) }
	}
	return k
}

func listenerKey(name, group, doc, def string, field func(*Config) *[]Listener, advertised bool) brokerKey {
	strs := func(c *Config) []string {
		var out []string
		for _, l := range *field(c) {
			out = append(out, l.String())
		}
		return out
	}
	checkAll := func(ls []Listener) error {
		if len(ls) == 0 && !advertised {
			return errors.New("must list at least one listener, NAME://host:port")
		}
		for _, l := range ls {
			if err := validListener(l, advertised); err != nil {
				return fmt.Errorf("%s: %w", l.String(), err)
			}
		}
		return nil
	}
	return brokerKey{
		name: name, group: group, doc: doc, def: def, typ: TypeList,
		parse: func(c *Config, v any) error {
			entries, ok := toList(v)
			if !ok {
				return errors.New(listValid + " of NAME://host:port")
			}
			var ls []Listener
			for _, e := range entries {
				l, err := parseListener(e)
				if err != nil {
					return err
				}
				ls = append(ls, l)
			}
			if err := checkAll(ls); err != nil {
				return err
			}
			*field(c) = ls
			return nil
		},
		check: func(c *Config) error { return checkAll(*field(c)) },
		toml:  func(c *Config) string { return tomlArray(strs(c)) },
		show:  func(c *Config) string { return strings.Join(strs(c), ",") },
	}
}

func voterKey(name, group, doc, def string) brokerKey {
	strs := func(c *Config) []string {
		var out []string
		for _, v := range c.ControllerQuorumVoters {
			out = append(out, v.String())
		}
		return out
	}
	return brokerKey{
		name: name, group: group, doc: doc, def: def, typ: TypeList,
		parse: func(c *Config, v any) error {
			entries, ok := toList(v)
			if !ok {
				return errors.New(listValid + " of id@host:port")
			}
			var vs []Voter
			for _, e := range entries {
				vt, err := parseVoter(e)
				if err != nil {
					return err
				}
				vs = append(vs, vt)
			}
			c.ControllerQuorumVoters = vs
			return nil
		},
		check: func(c *Config) error {
			for _, v := range c.ControllerQuorumVoters {
				if err := validVoter(v); err != nil {
					return fmt.Errorf("%s: %w", v.String(), err)
				}
			}
			return nil
		},
		toml: func(c *Config) string { return tomlArray(strs(c)) },
		show: func(c *Config) string { return strings.Join(strs(c), ",") },
	}
}

// parseListener reads "NAME://host:port"; IPv6 hosts go in brackets.
func parseListener(s string) (Listener, error) {
	name, addr, ok := strings.Cut(s, "://")
	if !ok {
		return Listener{}, fmt.Errorf("%q is not NAME://host:port", s)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return Listener{}, fmt.Errorf("%q is not NAME://host:port (an IPv6 host goes in brackets: NAME://[::1]:9092)", s)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return Listener{}, fmt.Errorf("%q: port %q is not a number", s, portStr)
	}
	l := Listener{Name: strings.ToUpper(name), Host: host, Port: port}
	return l, nil
}

func validListener(l Listener, advertised bool) error {
	if err := checkListenerName(l.Name); err != nil {
		return err
	}
	if err := checkHost(l.Host); err != nil {
		return err
	}
	if advertised && isWildcardHost(l.Host) {
		return errors.New("an advertised listener needs a host clients can reach, not an empty or all-interfaces address")
	}
	if l.Port < 1 || l.Port > 65535 {
		return fmt.Errorf("port %d must be from 1 to 65535", l.Port)
	}
	return nil
}

func parseVoter(s string) (Voter, error) {
	idStr, addr, ok := strings.Cut(s, "@")
	if !ok {
		return Voter{}, fmt.Errorf("%q is not id@host:port", s)
	}
	id, err := strconv.ParseInt(idStr, 10, 32)
	if err != nil {
		return Voter{}, fmt.Errorf("%q: id %q is not a node id", s, idStr)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return Voter{}, fmt.Errorf("%q is not id@host:port (an IPv6 host goes in brackets: 1@[::1]:9093)", s)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return Voter{}, fmt.Errorf("%q: port %q is not a number", s, portStr)
	}
	v := Voter{ID: int32(id), Host: host, Port: port}
	if err := validVoter(v); err != nil {
		return Voter{}, fmt.Errorf("%q: %w", s, err)
	}
	return v, nil
}

func validVoter(v Voter) error {
	if v.ID < 0 {
		return fmt.Errorf("id %d must be a non-negative node id", v.ID)
	}
	if isWildcardHost(v.Host) {
		return errors.New("a voter needs a host the other nodes can reach")
	}
	if err := checkHost(v.Host); err != nil {
		return err
	}
	if v.Port < 1 || v.Port > 65535 {
		return fmt.Errorf("port %d must be from 1 to 65535", v.Port)
	}
	return nil
}

// checkHost accepts "", a host name, an IPv4 address, or an IPv6 address
// (stored without brackets).
func checkHost(h string) error {
	if strings.Contains(h, ":") {
		addr, _, _ := strings.Cut(h, "%") // zone, as in fe80::1%eth0
		if ip := net.ParseIP(addr); ip == nil || ip.To4() != nil {
			return fmt.Errorf("host %q is not an IPv6 address", h)
		}
		return nil
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("host %q is not a host name or IP address", h)
		}
	}
	return nil
}

func checkListenerName(n string) error {
	if n == "" {
		return errors.New("a listener name is needed (letters, digits and _)")
	}
	for _, r := range n {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("listener name %q must be upper-case letters, digits and _", n)
		}
	}
	return nil
}

func checkListenerNames(names []string) error {
	if len(names) == 0 {
		return errors.New("must name at least one listener for controller traffic")
	}
	for i, n := range names {
		if err := checkListenerName(n); err != nil {
			return err
		}
		for _, m := range names[:i] {
			if m == n {
				return fmt.Errorf("%s appears twice", n)
			}
		}
	}
	return nil
}

func checkRoles(roles []string) error {
	if len(roles) == 0 {
		return errors.New(`must be "broker", "controller" or "broker,controller"`)
	}
	for i, r := range roles {
		if r != "broker" && r != "controller" {
			return fmt.Errorf("unknown role %q: must be \"broker\", \"controller\" or \"broker,controller\"", r)
		}
		for _, s := range roles[:i] {
			if s == r {
				return fmt.Errorf("role %q appears twice", r)
			}
		}
	}
	return nil
}

func checkLogDirs(dirs []string) error {
	if len(dirs) == 0 {
		return errors.New("must name at least one directory")
	}
	for i, d := range dirs {
		for _, e := range dirs[:i] {
			if filepath.Clean(e) == filepath.Clean(d) {
				return fmt.Errorf("directory %q appears twice", d)
			}
		}
	}
	return nil
}

func checkClusterID(id string) error {
	if id == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if len(id) != 22 || err != nil || len(b) != 16 {
		return errors.New(`must be a Kafka cluster id, 22 characters of URL-safe base64 encoding 16 bytes (e.g. "MkU3OEVBNTcwNTJENDM2Qg"), or "" to generate one at first start`)
	}
	return nil
}

func checkHostPort(s string) error {
	if s == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New(`must be host:port (e.g. "127.0.0.1:9644"), or "" to disable the admin server`)
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q must be from 1 to 65535", port)
	}
	return nil
}

// literal writes a decoded TOML value back the way a file would spell it, so
// an error quotes the value as the operator wrote it.
func literal(v any) string {
	switch x := v.(type) {
	case string:
		return tomlQuote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = literal(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = tomlQuote(k) + " = " + literal(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// propertyString is a value in server.properties form: lists comma-joined.
func propertyString(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = propertyString(e)
		}
		return strings.Join(parts, ",")
	}
	return literal(v)
}

// tomlQuote writes s as a TOML basic string.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlArray(ss []string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = tomlQuote(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
