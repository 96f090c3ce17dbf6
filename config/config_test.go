// These tests prove that every server.toml key parses in each accepted form,
// rejects bad values with a message naming key, value and what is valid, and
// that the cross-field rules and Kafka's precedence rules hold.
package config

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func parseOK(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%q): %v", doc, err)
	}
	return c
}

// bare drops what records the file itself (Set, fileValues), so configs
// that mean the same compare equal.
func bare(c *Config) *Config {
	cp := *c
	cp.Set, cp.fileValues = nil, nil
	return &cp
}

func TestDefaultTOMLParsesToDefault(t *testing.T) {
	c := parseOK(t, DefaultTOML())
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Parse(DefaultTOML()) = %+v\nwant %+v", c, Default())
	}
}

// The commented defaults must be right, not merely commented: uncommenting
// every key line must still give Default().
func TestDefaultTOMLUncommentedParsesToDefault(t *testing.T) {
	uncommented := regexp.MustCompile(`(?m)^# ("?[a-z_.]+"? = )`).ReplaceAllString(DefaultTOML(), "$1")
	c := parseOK(t, uncommented)
	for _, k := range brokerKeys {
		if !c.Set[k.name] {
			t.Errorf("uncommented DefaultTOML does not set %s", k.name)
		}
	}
	if !reflect.DeepEqual(bare(c), bare(Default())) {
		t.Fatalf("uncommented DefaultTOML parses to %+v\nwant %+v", bare(c), bare(Default()))
	}
}

func TestDefaultTOMLListsEveryKeyOnce(t *testing.T) {
	doc := DefaultTOML()
	for _, k := range brokerKeys {
		name := TOMLKey(strings.TrimPrefix(k.name, ringtailPrefix))
		if n := strings.Count(doc, "\n# "+name+" = "); n != 1 {
			t.Errorf("DefaultTOML has %d lines for %s, want 1", n, k.name)
		}
	}
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
	if c := parseOK(t, ""); !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Parse(\"\") = %+v, want Default()", c)
	}
}

// Each key, in each accepted spelling, lands in its field.
func TestParseEveryKey(t *testing.T) {
	tests := []struct {
		doc  string
		want func(c *Config)
	}{
		{`node.id = 7`, func(c *Config) { c.NodeID = 7; c.ControllerQuorumVoters = []Voter{{7, "localhost", 9093}} }},
		{`node.id = "0"`, func(c *Config) { c.NodeID = 0; c.ControllerQuorumVoters = []Voter{{0, "localhost", 9093}} }},
		{`process.roles = "controller,broker"`, func(c *Config) { c.ProcessRoles = []string{"controller", "broker"} }},
		{`process.roles = ["Broker", " controller "]`, func(c *Config) { c.ProcessRoles = []string{"broker", "controller"} }},
		{`cluster.id = "MkU3OEVBNTcwNTJENDM2Qg"`, func(c *Config) { c.ClusterID = "MkU3OEVBNTcwNTJENDM2Qg" }},
		{`broker.rack = " us-east-1a "`, func(c *Config) { c.BrokerRack = "us-east-1a" }},
		{`listeners = "PLAINTEXT://0.0.0.0:19092, CONTROLLER://127.0.0.1:19093"`, func(c *Config) {
			c.Listeners = []Listener{{"PLAINTEXT", "0.0.0.0", 19092}, {"CONTROLLER", "127.0.0.1", 19093}}
			c.AdvertisedListeners = []Listener{{"PLAINTEXT", "localhost", 19092}}
			c.ControllerQuorumVoters = []Voter{{1, "127.0.0.1", 19093}}
		}},
		{`listeners = ["plaintext://[::1]:9092", "CONTROLLER://:9093"]`, func(c *Config) {
			c.Listeners = []Listener{{"PLAINTEXT", "::1", 9092}, {"CONTROLLER", "", 9093}}
			c.AdvertisedListeners = []Listener{{"PLAINTEXT", "::1", 9092}}
		}},
		{"listeners = \"INTERNAL://:9092,EXTERNAL://:9094,CONTROLLER://:9093\"", func(c *Config) {
			c.Listeners = []Listener{{"INTERNAL", "", 9092}, {"EXTERNAL", "", 9094}, {"CONTROLLER", "", 9093}}
			c.AdvertisedListeners = []Listener{{"INTERNAL", "localhost", 9092}, {"EXTERNAL", "localhost", 9094}}
			c.InterBrokerListenerName = "INTERNAL" // PLAINTEXT is gone: the first Kafka listener
		}},
		{`advertised.listeners = "PLAINTEXT://broker1.example.com:9092"`, func(c *Config) {
			c.AdvertisedListeners = []Listener{{"PLAINTEXT", "broker1.example.com", 9092}}
		}},
		{"listeners = \"PLAINTEXT://:9092,RAFT://:9093\"\ncontroller.listener.names = \"raft\"", func(c *Config) {
			c.Listeners = []Listener{{"PLAINTEXT", "", 9092}, {"RAFT", "", 9093}}
			c.ControllerListenerNames = []string{"RAFT"}
		}},
		{`controller.quorum.voters = "1@10.0.0.1:9093,2@10.0.0.2:9093,3@[fd00::3]:9093"`, func(c *Config) {
			c.ControllerQuorumVoters = []Voter{{1, "10.0.0.1", 9093}, {2, "10.0.0.2", 9093}, {3, "fd00::3", 9093}}
		}},
		{"listeners = \"A://:9092,B://:9095,CONTROLLER://:9093\"\ninter.broker.listener.name = \"b\"", func(c *Config) {
			c.Listeners = []Listener{{"A", "", 9092}, {"B", "", 9095}, {"CONTROLLER", "", 9093}}
			c.AdvertisedListeners = []Listener{{"A", "localhost", 9092}, {"B", "localhost", 9095}}
			c.InterBrokerListenerName = "B"
		}},
		{`log.dirs = "/data/a, /data/b"`, func(c *Config) { c.LogDirs = []string{"/data/a", "/data/b"} }},
		{`log.dirs = ["/data/a"]`, func(c *Config) { c.LogDirs = []string{"/data/a"} }},
		{`log.dir = "/var/lib/ringtail"`, func(c *Config) { c.LogDirs = []string{"/var/lib/ringtail"} }},
		{"log.dir = \"/x\"\nlog.dirs = \"/y\"", func(c *Config) { c.LogDirs = []string{"/y"} }},
		{`num.partitions = 12`, func(c *Config) { c.NumPartitions = 12 }},
		{`default.replication.factor = "3"`, func(c *Config) { c.DefaultReplicationFactor = 3 }},
		{`auto.create.topics.enable = false`, func(c *Config) { c.AutoCreateTopics = false }},
		{`auto.create.topics.enable = "FALSE"`, func(c *Config) { c.AutoCreateTopics = false }},
		{`log.segment.bytes = 1_048_576`, func(c *Config) { c.LogSegmentBytes = 1 << 20 }},
		{`log.roll.hours = 1`, func(c *Config) { c.LogRollMs = 3600000 }},
		{`log.roll.ms = 60000`, func(c *Config) { c.LogRollMs = 60000 }},
		{`log.retention.hours = 24`, func(c *Config) { c.LogRetentionMs = 24 * 3600000 }},
		{`log.retention.hours = -1`, func(c *Config) { c.LogRetentionMs = -1 }},
		{`log.retention.minutes = 30`, func(c *Config) { c.LogRetentionMs = 30 * 60000 }},
		{`log.retention.ms = "-1"`, func(c *Config) { c.LogRetentionMs = -1 }},
		{`log.retention.ms = 0`, func(c *Config) { c.LogRetentionMs = 0 }},
		{`log.retention.bytes = 1073741824`, func(c *Config) { c.LogRetentionBytes = 1 << 30 }},
		{`log.retention.check.interval.ms = 1000`, func(c *Config) { c.LogRetentionCheckIntervalMs = 1000 }},
		{`message.max.bytes = 2097152`, func(c *Config) { c.MessageMaxBytes = 2 << 20 }},
		{`socket.request.max.bytes = 1000000`, func(c *Config) { c.SocketRequestMaxBytes = 1000000 }},
		{`log.flush.interval.messages = 1`, func(c *Config) { c.LogFlushIntervalMessages = 1 }},
		{`log.flush.interval.ms = 1000`, func(c *Config) { c.LogFlushIntervalMs = 1000 }},
		{`min.insync.replicas = 2`, func(c *Config) { c.MinInsyncReplicas = 2 }},
		{`offsets.topic.num.partitions = 1`, func(c *Config) { c.OffsetsTopicNumPartitions = 1 }},
		{`offsets.topic.replication.factor = 2`, func(c *Config) { c.OffsetsTopicReplicationFactor = 2 }},
		{`offsets.topic.segment.bytes = 16384`, func(c *Config) { c.OffsetsTopicSegmentBytes = 16384 }},
		{`offsets.topic.segment.bytes = "1024"`, func(c *Config) { c.OffsetsTopicSegmentBytes = 1024 }},
		{`offsets.retention.minutes = 1440`, func(c *Config) { c.OffsetsRetentionMinutes = 1440 }},
		{`group.initial.rebalance.delay.ms = 0`, func(c *Config) { c.GroupInitialRebalanceDelayMs = 0 }},
		{`log.cleaner.enable = false`, func(c *Config) { c.LogCleanerEnable = false }},
		{`log.cleaner.enable = "False"`, func(c *Config) { c.LogCleanerEnable = false }},
		{`log.cleaner.threads = 4`, func(c *Config) { c.LogCleanerThreads = 4 }},
		{"log.cleaner.threads = \"64\"\nlog.cleaner.dedupe.buffer.size = 67108928", func(c *Config) { c.LogCleanerThreads = 64; c.LogCleanerDedupeBufferSize = 67108928 }},
		{`log.cleaner.dedupe.buffer.size = 1048577`, func(c *Config) { c.LogCleanerDedupeBufferSize = 1048577 }},
		{"log.cleaner.threads = 2\nlog.cleaner.dedupe.buffer.size = \"2097154\"", func(c *Config) { c.LogCleanerThreads = 2; c.LogCleanerDedupeBufferSize = 2097154 }},
		{`log.cleaner.dedupe.buffer.size = 8589934592`, func(c *Config) { c.LogCleanerDedupeBufferSize = 8 << 30 }},
		{`log.cleaner.io.buffer.size = 0`, func(c *Config) { c.LogCleanerIOBufferSize = 0 }},
		{`log.cleaner.io.buffer.size = 1048576`, func(c *Config) { c.LogCleanerIOBufferSize = 1 << 20 }},
		{`log.cleaner.io.buffer.load.factor = 0.75`, func(c *Config) { c.LogCleanerIOBufferLoadFactor = 0.75 }},
		{`log.cleaner.io.buffer.load.factor = 1`, func(c *Config) { c.LogCleanerIOBufferLoadFactor = 1 }},
		{`log.cleaner.io.buffer.load.factor = "0.5"`, func(c *Config) { c.LogCleanerIOBufferLoadFactor = 0.5 }},
		{`log.cleaner.io.max.bytes.per.second = 10485760`, func(c *Config) { c.LogCleanerIOMaxBytesPerSecond = 10485760 }},
		{`log.cleaner.io.max.bytes.per.second = 1.5e7`, func(c *Config) { c.LogCleanerIOMaxBytesPerSecond = 1.5e7 }},
		{`log.cleaner.io.max.bytes.per.second = "1.7976931348623157E308"`, func(c *Config) { c.LogCleanerIOMaxBytesPerSecond = math.MaxFloat64 }},
		{`log.cleaner.backoff.ms = 0`, func(c *Config) { c.LogCleanerBackoffMs = 0 }},
		{`log.cleaner.backoff.ms = 1000`, func(c *Config) { c.LogCleanerBackoffMs = 1000 }},
		{`log.cleaner.min.cleanable.ratio = 0`, func(c *Config) { c.LogCleanerMinCleanableRatio = 0 }},
		{`log.cleaner.min.cleanable.ratio = 1.0`, func(c *Config) { c.LogCleanerMinCleanableRatio = 1 }},
		{`log.cleaner.min.cleanable.ratio = -0.0`, func(c *Config) { c.LogCleanerMinCleanableRatio = 0 }},
		{`log.cleaner.min.cleanable.ratio = " 0.1 "`, func(c *Config) { c.LogCleanerMinCleanableRatio = 0.1 }},
		{`log.cleaner.min.compaction.lag.ms = 60000`, func(c *Config) { c.LogCleanerMinCompactionLagMs = 60000 }},
		{`log.cleaner.max.compaction.lag.ms = 1`, func(c *Config) { c.LogCleanerMaxCompactionLagMs = 1 }},
		{"log.cleaner.min.compaction.lag.ms = 5000\nlog.cleaner.max.compaction.lag.ms = 5000", func(c *Config) {
			c.LogCleanerMinCompactionLagMs, c.LogCleanerMaxCompactionLagMs = 5000, 5000
		}},
		{`log.cleaner.delete.retention.ms = 0`, func(c *Config) { c.LogCleanerDeleteRetentionMs = 0 }},
		{`[log.cleaner]` + "\nthreads = 2\ndelete.retention.ms = 3600000", func(c *Config) { c.LogCleanerThreads = 2; c.LogCleanerDeleteRetentionMs = 3600000 }},
		{"[ringtail]\nio_engine = \"sync\"", func(c *Config) { c.Ringtail.IOEngine = "sync" }},
		{"[ringtail]\nio_engine = \"IO_URING\"", func(c *Config) { c.Ringtail.IOEngine = "io_uring" }},
		{"[ringtail]\nshards = 4", func(c *Config) { c.Ringtail.Shards = 4 }},
		{"[ringtail]\npin_shards = true", func(c *Config) { c.Ringtail.PinShards = true }},
		{"[ringtail]\nadmin_listen = \"\"", func(c *Config) { c.Ringtail.AdminListen = "" }},
		{"[ringtail]\nadmin_listen = \"[::1]:9644\"", func(c *Config) { c.Ringtail.AdminListen = "[::1]:9644" }},
		{"[ringtail]\ndurability = \"relaxed\"", func(c *Config) { c.Ringtail.Durability = "relaxed" }},
		{"[ringtail]\nlog_format = \"json\"", func(c *Config) { c.Ringtail.LogFormat = "json" }},
		{"[ringtail]\nlog_level = \"debug\"", func(c *Config) { c.Ringtail.LogLevel = "debug" }},
		{`ringtail.log_level = "warn"`, func(c *Config) { c.Ringtail.LogLevel = "warn" }},
		{`ringtail = { log_level = "error", shards = 2 }`, func(c *Config) { c.Ringtail.LogLevel = "error"; c.Ringtail.Shards = 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			got := parseOK(t, tt.doc)
			want := Default()
			tt.want(want)
			if !reflect.DeepEqual(bare(got), bare(want)) {
				t.Errorf("got  %+v\nwant %+v", bare(got), bare(want))
			}
			if err := got.Validate(); err != nil {
				t.Errorf("accepted config does not re-validate: %v", err)
			}
		})
	}
}

// Every key rejects a bad value with one error naming the key, the value as
// written, and what would be valid.
func TestParseRejects(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`log.retention.hours = "abc"`, `config: log.retention.hours = "abc": must be -1 (keep forever) or a non-negative integer (hours)`},
		{`log.retention.hours = -2`, `log.retention.hours = -2: must be -1 (keep forever) or a non-negative integer (hours)`},
		{`log.retention.hours = 9999999999999`, `log.retention.hours = 9999999999999: too large: must be at most 2562047788015 (hours)`},
		{`log.retention.minutes = 1.5`, `log.retention.minutes = 1.5: must be -1 (keep forever) or a non-negative integer (minutes)`},
		{`log.retention.ms = true`, `log.retention.ms = true: must be -1`},
		{`log.retention.bytes = -5`, `log.retention.bytes = -5: must be -1 (no size limit) or a non-negative integer (bytes)`},
		{`log.retention.check.interval.ms = 0`, `log.retention.check.interval.ms = 0: must be a positive integer (milliseconds)`},
		{`node.id = -1`, `node.id = -1: must be an integer from 0 to 2147483647`},
		{`node.id = 2147483648`, `node.id = 2147483648: must be an integer from 0 to 2147483647`},
		{`node.id = "one"`, `node.id = "one": must be an integer from 0 to 2147483647`},
		{`process.roles = "broker,zookeeper"`, `process.roles = "broker,zookeeper": unknown role "zookeeper"`},
		{`process.roles = ""`, `process.roles = "": must be "broker", "controller" or "broker,controller"`},
		{`process.roles = "broker,broker"`, `role "broker" appears twice`},
		{`process.roles = 1`, `process.roles = 1: must be a comma-separated string or an array of strings`},
		{`process.roles = ["broker", 2]`, `process.roles = ["broker", 2]: must be a comma-separated string or an array of strings`},
		{`cluster.id = "my-cluster"`, `cluster.id = "my-cluster": must be a Kafka cluster id, 22 characters of URL-safe base64`},
		{`broker.rack = 3`, `broker.rack = 3: must be a string`},
		{`listeners = "PLAINTEXT:9092"`, `listeners = "PLAINTEXT:9092": "PLAINTEXT:9092" is not NAME://host:port`},
		{`listeners = "PLAINTEXT://:99999,CONTROLLER://:9093"`, `port 99999 must be from 1 to 65535`},
		{`listeners = "PLAINTEXT://:0,CONTROLLER://:9093"`, `port 0 must be from 1 to 65535`},
		{`listeners = "PLAINTEXT://::1:9092"`, `an IPv6 host goes in brackets`},
		{`listeners = "PLAINTEXT://:x"`, `port "x" is not a number`},
		{`listeners = "PLAIN-TEXT://:9092"`, `listener name "PLAIN-TEXT" must be upper-case letters, digits and _`},
		{`listeners = "SSL://:9092,CONTROLLER://:9093"`, `ssl.keystore.location = "": SSL listener SSL needs a key and certificate`},
		{`listeners = "PLAINTEXT://bad host:9092"`, `host "bad host" is not a host name or IP address`},
		{`listeners = ""`, `listeners = "": must list at least one listener`},
		{`advertised.listeners = "PLAINTEXT://:9092"`, `an advertised listener needs a host clients can reach`},
		{`advertised.listeners = "PLAINTEXT://0.0.0.0:9092"`, `an advertised listener needs a host clients can reach`},
		{`controller.listener.names = ""`, `controller.listener.names = "": must name at least one listener`},
		{`controller.quorum.voters = "1@localhost"`, `"1@localhost" is not id@host:port`},
		{`controller.quorum.voters = "localhost:9093"`, `"localhost:9093" is not id@host:port`},
		{`controller.quorum.voters = "x@localhost:9093"`, `id "x" is not a node id`},
		{`controller.quorum.voters = "-1@localhost:9093"`, `id -1 must be a non-negative node id`},
		{`controller.quorum.voters = "1@:9093"`, `a voter needs a host the other nodes can reach`},
		{`controller.quorum.voters = "1@localhost:70000"`, `port 70000 must be from 1 to 65535`},
		{`inter.broker.listener.name = "NOPE"`, `inter.broker.listener.name = "NOPE": no listener named NOPE in listeners (valid: PLAINTEXT)`},
		{`log.dirs = ""`, `log.dirs = "": must name at least one directory`},
		{`log.dirs = "/a,/a/"`, `directory "/a/" appears twice`},
		{`num.partitions = 0`, `num.partitions = 0: must be an integer from 1 to 2147483647`},
		{`default.replication.factor = 40000`, `default.replication.factor = 40000: must be an integer from 1 to 32767`},
		{`auto.create.topics.enable = "yes"`, `auto.create.topics.enable = "yes": must be true or false`},
		{`auto.create.topics.enable = 1`, `auto.create.topics.enable = 1: must be true or false`},
		{`log.segment.bytes = 100`, `log.segment.bytes = 100: must be an integer from 1024 to 2147483647 (bytes)`},
		{`log.segment.bytes = 4294967296`, `must be an integer from 1024 to 2147483647 (bytes)`},
		{`log.roll.hours = 0`, `log.roll.hours = 0: must be a positive integer (hours)`},
		{`log.roll.ms = -1`, `log.roll.ms = -1: must be a positive integer (milliseconds)`},
		{`message.max.bytes = -1`, `message.max.bytes = -1: must be an integer from 0 to 2147483647 (bytes)`},
		{`socket.request.max.bytes = 0`, `socket.request.max.bytes = 0: must be an integer from 1 to 2147483647 (bytes)`},
		{`log.flush.interval.messages = 0`, `log.flush.interval.messages = 0: must be a positive integer (messages)`},
		{`log.flush.interval.ms = -2`, `log.flush.interval.ms = -2: must be -1 (not by time) or a non-negative integer (milliseconds)`},
		{`min.insync.replicas = 0`, `min.insync.replicas = 0: must be an integer from 1 to 2147483647`},
		{`offsets.topic.num.partitions = 0`, `offsets.topic.num.partitions = 0: must be an integer from 1 to 2147483647`},
		{`offsets.topic.replication.factor = 0`, `offsets.topic.replication.factor = 0: must be an integer from 1 to 32767`},
		{`offsets.topic.segment.bytes = 1023`, `offsets.topic.segment.bytes = 1023: must be an integer from 1024 to 2147483647 (bytes)`},
		{`offsets.topic.segment.bytes = 2147483648`, `offsets.topic.segment.bytes = 2147483648: must be an integer from 1024 to 2147483647 (bytes)`},
		{`offsets.retention.minutes = 0`, `offsets.retention.minutes = 0: must be a positive integer (minutes)`},
		{`group.initial.rebalance.delay.ms = -1`, `group.initial.rebalance.delay.ms = -1: must be an integer from 0 to 2147483647 (milliseconds)`},
		{`log.cleaner.enable = "yes"`, `log.cleaner.enable = "yes": must be true or false`},
		{`log.cleaner.threads = 0`, `log.cleaner.threads = 0: must be an integer from 1 to 64`},
		{`log.cleaner.threads = 65`, `log.cleaner.threads = 65: must be an integer from 1 to 64`},
		{`log.cleaner.threads = 1.5`, `log.cleaner.threads = 1.5: must be an integer from 1 to 64`},
		{`log.cleaner.dedupe.buffer.size = -1`, `log.cleaner.dedupe.buffer.size = -1: must be a non-negative integer (bytes)`},
		{`log.cleaner.dedupe.buffer.size = "lots"`, `log.cleaner.dedupe.buffer.size = "lots": must be a non-negative integer (bytes)`},
		{`log.cleaner.dedupe.buffer.size = 1048576`, `log.cleaner.dedupe.buffer.size = 1048576: must be more than 1 MiB (1048576 bytes) per cleaner thread: at least 1048577 with log.cleaner.threads = 1`},
		{"log.cleaner.threads = 2\nlog.cleaner.dedupe.buffer.size = 2097153", `log.cleaner.dedupe.buffer.size = 2097153: must be more than 1 MiB (1048576 bytes) per cleaner thread: at least 2097154 with log.cleaner.threads = 2`},
		{"log.cleaner.threads = 64\nlog.cleaner.dedupe.buffer.size = 67108864", `log.cleaner.dedupe.buffer.size = 67108864: must be more than 1 MiB (1048576 bytes) per cleaner thread: at least 67108928 with log.cleaner.threads = 64`},
		{`log.cleaner.io.buffer.size = -1`, `log.cleaner.io.buffer.size = -1: must be an integer from 0 to 2147483647 (bytes)`},
		{`log.cleaner.io.buffer.size = 2147483648`, `log.cleaner.io.buffer.size = 2147483648: must be an integer from 0 to 2147483647 (bytes)`},
		{`log.cleaner.io.buffer.load.factor = 0`, `log.cleaner.io.buffer.load.factor = 0: must be a number greater than 0 and at most 1`},
		{`log.cleaner.io.buffer.load.factor = 1.01`, `log.cleaner.io.buffer.load.factor = 1.01: must be a number greater than 0 and at most 1`},
		{`log.cleaner.io.buffer.load.factor = "ninety"`, `log.cleaner.io.buffer.load.factor = "ninety": must be a number greater than 0 and at most 1`},
		{`log.cleaner.io.buffer.load.factor = true`, `log.cleaner.io.buffer.load.factor = true: must be a number greater than 0 and at most 1`},
		{`log.cleaner.io.max.bytes.per.second = 0`, `log.cleaner.io.max.bytes.per.second = 0: must be a positive, finite number (bytes per second; the default, 1.7976931348623157E308, is unlimited)`},
		{`log.cleaner.io.max.bytes.per.second = -5.0`, `log.cleaner.io.max.bytes.per.second = -5: must be a positive, finite number`},
		{`log.cleaner.io.max.bytes.per.second = inf`, `log.cleaner.io.max.bytes.per.second = +Inf: must be a positive, finite number`},
		{`log.cleaner.io.max.bytes.per.second = "Infinity"`, `log.cleaner.io.max.bytes.per.second = "Infinity": must be a positive, finite number`},
		{`log.cleaner.io.max.bytes.per.second = nan`, `log.cleaner.io.max.bytes.per.second = NaN: must be a positive, finite number`},
		{`log.cleaner.backoff.ms = -1`, `log.cleaner.backoff.ms = -1: must be a non-negative integer (milliseconds)`},
		{`log.cleaner.min.cleanable.ratio = 1.5`, `log.cleaner.min.cleanable.ratio = 1.5: must be a number from 0 to 1`},
		{`log.cleaner.min.cleanable.ratio = -0.5`, `log.cleaner.min.cleanable.ratio = -0.5: must be a number from 0 to 1`},
		{`log.cleaner.min.cleanable.ratio = "50%"`, `log.cleaner.min.cleanable.ratio = "50%": must be a number from 0 to 1`},
		{`log.cleaner.min.compaction.lag.ms = -1`, `log.cleaner.min.compaction.lag.ms = -1: must be a non-negative integer (milliseconds)`},
		{`log.cleaner.max.compaction.lag.ms = 0`, `log.cleaner.max.compaction.lag.ms = 0: must be a positive integer (milliseconds)`},
		{`log.cleaner.delete.retention.ms = -1`, `log.cleaner.delete.retention.ms = -1: must be a non-negative integer (milliseconds)`},
		{"log.cleaner.min.compaction.lag.ms = 10\nlog.cleaner.max.compaction.lag.ms = 9", `log.cleaner.min.compaction.lag.ms = 10: more than log.cleaner.max.compaction.lag.ms = 9; the minimum compaction lag must not exceed the maximum`},
		{"[ringtail]\nio_engine = \"epoll\"", `ringtail.io_engine = "epoll": must be one of "auto", "io_uring", "sync"`},
		{"[ringtail]\nio_engine = 1", `ringtail.io_engine = 1: must be one of "auto", "io_uring", "sync"`},
		{"[ringtail]\nshards = -1", `ringtail.shards = -1: must be an integer from 0 to 4096`},
		{"[ringtail]\nshards = 5000", `ringtail.shards = 5000: must be an integer from 0 to 4096`},
		{"[ringtail]\npin_shards = \"on\"", `ringtail.pin_shards = "on": must be true or false`},
		{"[ringtail]\nadmin_listen = \"9644\"", `ringtail.admin_listen = "9644": must be host:port`},
		{"[ringtail]\nadmin_listen = \"localhost:0\"", `port "0" must be from 1 to 65535`},
		{"[ringtail]\ndurability = \"none\"", `ringtail.durability = "none": must be one of "fsync", "relaxed"`},
		{"[ringtail]\nlog_format = \"xml\"", `ringtail.log_format = "xml": must be one of "text", "json"`},
		{"[ringtail]\nlog_level = \"trace\"", `ringtail.log_level = "trace": must be one of "debug", "info", "warn", "error"`},
		{"node.id = 1\nnode.id = 2", `line 2, column 1: key id is already defined (key "node.id")`},
		{"max.connections = 100\nmax.connections.per.ip = 10", `line 2, column 1: key connections is already defined (key "max.connections.per.ip"); max.connections is a key and also the start of longer keys, which TOML cannot write unquoted: quote them, as "max.connections" = ... and "max.connections.<rest>" = ...`},
		{"log.retention.hours = ", `line 1, column 22: expected value`},
		{"\"log.retention.hours\" = 1\nlog.retention.hours = 2", `key "log.retention.hours" is set twice`},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "config: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line starting with \"config: \"", err)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`log.retension.hours = 168`, `config: unknown key "log.retension.hours" (did you mean "log.retention.hours"?)`},
		{`[log.retension]` + "\nhours = 168", `config: unknown key "log.retension.hours" (did you mean "log.retention.hours"?)`},
		{`listener = "PLAINTEXT://:9092"`, `config: unknown key "listener" (did you mean "listeners"?)`},
		{`color = "blue"`, `config: unknown key "color"`},
		{`io_engine = "sync"`, `config: unknown key "io_engine" (did you mean "ringtail.io_engine"? Ringtail's own keys go in the [ringtail] table)`},
		{"[ringtail]\nnum.partitions = 3", `config: unknown key "ringtail.num.partitions": "num.partitions" is a Kafka key and belongs above the [ringtail] table (a key after a table header is inside that table)`},
		{"[ringtail]\nshard = 3", `config: unknown key "ringtail.shard" (did you mean "ringtail.shards"?)`},
		{`num.network.threads = 3`, `config: unknown key "num.network.threads": a Kafka setting Ringtail does not use (Ringtail has no separate network thread pool); remove it`},
		{`socket.send.buffer.bytes = 102400`, `config: unknown key "socket.send.buffer.bytes": a Kafka setting Ringtail does not use; remove it`},
		// Only one error, for the first unknown key by name.
		{"zzz = 1\naaa = 2", `config: unknown key "aaa"`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q)\n got error %v\nwant %s", tt.doc, err, tt.want)
		}
	}
}

// Kafka's precedence: log.retention.ms > .minutes > .hours, log.roll.ms >
// log.roll.hours, log.dirs > log.dir; whatever order the file uses.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		doc       string
		retention int64
		roll      int64
	}{
		{"log.retention.hours = 1", 3600000, weekMs},
		{"log.retention.hours = 1\nlog.retention.minutes = 2", 120000, weekMs},
		{"log.retention.minutes = 2\nlog.retention.hours = 1", 120000, weekMs},
		{"log.retention.ms = 5\nlog.retention.minutes = 2\nlog.retention.hours = 1", 5, weekMs},
		{"log.retention.hours = 1\nlog.retention.ms = 5", 5, weekMs},
		{"log.retention.ms = -1\nlog.retention.hours = 1", -1, weekMs},
		{"log.retention.hours = -1\nlog.retention.minutes = 10", 600000, weekMs},
		{"log.roll.ms = 7\nlog.roll.hours = 2", weekMs, 7},
		{"log.roll.hours = 2", weekMs, 2 * 3600000},
		{"[log.retention]\nms = 9\nhours = 1\n[log.roll]\nhours = 3", 9, 3 * 3600000},
	}
	for _, tt := range tests {
		c := parseOK(t, tt.doc)
		if c.LogRetentionMs != tt.retention || c.LogRollMs != tt.roll {
			t.Errorf("Parse(%q): retention %d roll %d, want %d %d", tt.doc, c.LogRetentionMs, c.LogRollMs, tt.retention, tt.roll)
		}
	}
	c := parseOK(t, "log.dirs = \"/b\"\nlog.dir = \"/a\"")
	if !reflect.DeepEqual(c.LogDirs, []string{"/b"}) {
		t.Errorf("log.dirs should win over log.dir, got %v", c.LogDirs)
	}
}

// The same settings written as dotted keys, nested tables, inline tables and
// quoted keys parse alike.
func TestTOMLSpellings(t *testing.T) {
	docs := []string{
		"log.retention.hours = 24\nlog.segment.bytes = 1048576\n[ringtail]\nshards = 2",
		"ringtail.shards = 2\n[log]\nsegment.bytes = 1048576\n[log.retention]\nhours = 24",
		"log = { retention = { hours = 24 }, segment = { bytes = 1048576 } }\nringtail = { shards = 2 }",
		"\"log.retention.hours\" = 24\n\"log.segment.bytes\" = \"1048576\"\n\"ringtail.shards\" = 2",
		"log.retention.hours = \"24\"\nlog.segment.bytes = 1048576\n\n[ringtail]\nshards = \"2\"",
	}
	want := bare(parseOK(t, docs[0]))
	for _, doc := range docs[1:] {
		if got := bare(parseOK(t, doc)); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v\nwant %+v", doc, got, want)
		}
	}
	if want.LogRetentionMs != 24*3600000 || want.LogSegmentBytes != 1<<20 || want.Ringtail.Shards != 2 {
		t.Errorf("unexpected values: %+v", want)
	}
}

func TestListsAsStringsAndArrays(t *testing.T) {
	a := parseOK(t, `listeners = "PLAINTEXT://:9092 , CONTROLLER://:9093,"`+"\n"+`log.dirs = "/a,/b"`+"\n"+`controller.quorum.voters = "1@h1:9093,2@h2:9093"`)
	b := parseOK(t, `listeners = ["PLAINTEXT://:9092", "CONTROLLER://:9093"]`+"\n"+`log.dirs = ["/a", "/b"]`+"\n"+`controller.quorum.voters = ["1@h1:9093", "2@h2:9093"]`)
	if !reflect.DeepEqual(bare(a), bare(b)) {
		t.Fatalf("string lists %+v\ndiffer from arrays %+v", bare(a), bare(b))
	}
}

// Rules that hold between keys.
func TestCrossField(t *testing.T) {
	ok := []string{
		// A broker-only node names its controllers and has no controller listener.
		"process.roles = \"broker\"\nnode.id = 4\nlisteners = \"PLAINTEXT://:9092\"\ncontroller.quorum.voters = \"1@c1:9093,2@c2:9093,3@c3:9093\"",
		// A controller-only node listens only for controller traffic.
		"process.roles = \"controller\"\nlisteners = \"CONTROLLER://:9093\"",
		// Two listeners may share a port on different specific addresses.
		"listeners = \"PLAINTEXT://10.0.0.1:9092,CONTROLLER://10.0.0.1:9093,OTHER://10.0.0.2:9092\"",
		// A three-controller quorum that includes this node.
		"node.id = 2\ncontroller.quorum.voters = \"1@c1:9093,2@c2:9093,3@c3:9093\"",
	}
	for _, doc := range ok {
		parseOK(t, doc)
	}
	bad := []struct{ doc, want string }{
		{`listeners = "PLAINTEXT://:9092"`, `controller.listener.names = "CONTROLLER": no listener named CONTROLLER in listeners (PLAINTEXT); a node with the controller role needs it`},
		{`listeners = "PLAINTEXT://:9092,CONTROLLER://:9092"`, `listeners = "PLAINTEXT://:9092,CONTROLLER://:9092": listeners PLAINTEXT and CONTROLLER both bind port 9092`},
		{`listeners = "PLAINTEXT://:9092,CONTROLLER://:9093,plaintext://:9094"`, `listener name PLAINTEXT appears twice`},
		{`listeners = "PLAINTEXT://127.0.0.1:9092,CONTROLLER://:9093,X://:9092"`, `both bind port 9092`},
		{`listeners = "CONTROLLER://:9093"`, `a node with the broker role needs a listener for Kafka clients`},
		{"process.roles = \"controller\"", `listener PLAINTEXT is not a controller listener, but process.roles is only controller`},
		{"process.roles = \"broker\"\ncontroller.quorum.voters = \"1@c:9093\"", `controller.listener.names = "CONTROLLER": listener CONTROLLER is a controller listener, but process.roles does not include controller`},
		{"process.roles = \"broker\"\nlisteners = \"PLAINTEXT://:9092\"", `controller.quorum.voters is not set: a node without the controller role must be told where the controllers are`},
		{`controller.quorum.voters = "2@c2:9093,3@c3:9093"`, `controller.quorum.voters = "2@c2:9093,3@c3:9093": node.id 1 is not among the voters`},
		{`controller.quorum.voters = "1@c1:9093,1@c2:9093"`, `voter id 1 appears twice`},
		{"process.roles = \"broker\"\nlisteners = \"PLAINTEXT://:9092\"\ncontroller.quorum.voters = \"1@c:9093\"", `node.id 1 is a voter, but process.roles does not include controller`},
		{`controller.quorum.voters = ""`, `controller.quorum.voters = "": at least one voter`},
		{`advertised.listeners = "OTHER://h:9092"`, `advertised.listeners = "OTHER://h:9092": OTHER is not a listener name in listeners (PLAINTEXT, CONTROLLER)`},
		{`advertised.listeners = "PLAINTEXT://h:9092,CONTROLLER://h:9093"`, `CONTROLLER is a controller listener; advertise only listeners for Kafka clients`},
		{`advertised.listeners = "PLAINTEXT://h:9092,PLAINTEXT://h:9094"`, `listener name PLAINTEXT appears twice`},
		{"listeners = \"A://:9092,B://:9094,CONTROLLER://:9093\"\nadvertised.listeners = \"A://h:9092\"\ninter.broker.listener.name = \"B\"", `inter.broker.listener.name = "B": listener B is not in advertised.listeners`},
		{`inter.broker.listener.name = "CONTROLLER"`, `inter.broker.listener.name = "CONTROLLER": CONTROLLER is a controller listener`},
	}
	for _, tt := range bad {
		_, err := Parse([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q)\n got error %v\nwant one containing %s", tt.doc, err, tt.want)
		}
	}
}

func TestValidateStruct(t *testing.T) {
	c := Default()
	c.LogSegmentBytes = 10
	if err := c.Validate(); err == nil || err.Error() != "log.segment.bytes = 10: must be an integer from 1024 to 2147483647 (bytes)" {
		t.Errorf("Validate: %v", err)
	}
	c = Default()
	c.Listeners = append(c.Listeners, Listener{Name: "EXTRA", Port: 70000})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "EXTRA://:70000: port 70000 must be from 1 to 65535") {
		t.Errorf("Validate: %v", err)
	}
	c = Default()
	c.LogCleanerMinCleanableRatio = math.NaN()
	if err := c.Validate(); err == nil || err.Error() != "log.cleaner.min.cleanable.ratio = nan: must be a number from 0 to 1" {
		t.Errorf("Validate: %v", err)
	}
	c = Default()
	c.LogCleanerThreads = 0
	if err := c.Validate(); err == nil || err.Error() != "log.cleaner.threads = 0: must be an integer from 1 to 64" {
		t.Errorf("Validate: %v", err)
	}
	c = Default()
	c.LogCleanerMaxCompactionLagMs = 0
	if err := c.Validate(); err == nil || err.Error() != "log.cleaner.max.compaction.lag.ms = 0: must be a positive integer (milliseconds)" {
		t.Errorf("Validate: %v", err)
	}
	c = Default()
	c.Ringtail.Durability = "maybe"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `ringtail.durability = "maybe": must be one of`) {
		t.Errorf("Validate: %v", err)
	}
}

// TOML() writes a config that parses back to itself.
func TestTOMLRoundTrip(t *testing.T) {
	docs := []string{
		"",
		"node.id = 3\ncontroller.quorum.voters = \"1@a:9093,2@b:9093,3@[fd00::1]:9093\"\nlisteners = \"PLAINTEXT://[::]:9092,CONTROLLER://:9093\"\nbroker.rack = \"r\\\"1\"\nlog.retention.hours = -1\nlog.dirs = [\"/d/1\", \"/d/2\"]\n[ringtail]\nadmin_listen = \"\"\nshards = 3",
		"process.roles = \"controller\"\nlisteners = \"CONTROLLER://:9093\"\ncluster.id = \"MkU3OEVBNTcwNTJENDM2Qg\"",
		"log.cleaner.enable = false\nlog.cleaner.threads = 3\nlog.cleaner.dedupe.buffer.size = 4000000\nlog.cleaner.io.buffer.load.factor = 0.1\n" +
			"log.cleaner.io.max.bytes.per.second = 123456.789\nlog.cleaner.min.cleanable.ratio = 0.3333333333333333\nlog.cleaner.max.compaction.lag.ms = 1",
		"log.cleaner.io.max.bytes.per.second = 1e-300\nlog.cleaner.min.cleanable.ratio = 1e-9\nlog.cleaner.io.buffer.load.factor = 5e-324",
	}
	for _, doc := range docs {
		c := parseOK(t, doc)
		c2 := parseOK(t, c.TOML())
		if !reflect.DeepEqual(bare(c), bare(c2)) {
			t.Errorf("round trip of %q:\n%s\nparsed to %+v\nwant %+v", doc, c.TOML(), bare(c2), bare(c))
		}
	}
}

func TestLoad(t *testing.T) {
	c, err := Load("")
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load(\"\") = %+v, %v", c, err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "server.toml")
	if err := os.WriteFile(path, []byte("num.partitions = 6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if err != nil || c.NumPartitions != 6 || !c.Set["num.partitions"] || c.Set["node.id"] {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	if err := os.WriteFile(path, []byte(`log.retention.hours = "abc"`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	want := "config: " + path + `: log.retention.hours = "abc": must be -1 (keep forever) or a non-negative integer (hours)`
	if err == nil || err.Error() != want {
		t.Errorf("Load error %v\nwant %s", err, want)
	}
	_, err = Load(filepath.Join(dir, "missing.toml"))
	if err == nil || !strings.HasPrefix(err.Error(), "config: open ") || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("Load(missing) error %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		type unwrapper interface{ Unwrap() error }
		u, ok := err.(unwrapper)
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestHelpers(t *testing.T) {
	c := Default()
	if c.DataDir() != "./ringtail-data" {
		t.Errorf("DataDir = %q", c.DataDir())
	}
	if !c.HasRole("broker") || !c.HasRole("controller") || c.HasRole("zookeeper") {
		t.Errorf("HasRole wrong for %v", c.ProcessRoles)
	}
	if kl := c.KafkaListeners(); !reflect.DeepEqual(kl, []Listener{{"PLAINTEXT", "", 9092}}) {
		t.Errorf("KafkaListeners = %v", kl)
	}
	if s := (Listener{"PLAINTEXT", "::1", 9092}).String(); s != "PLAINTEXT://[::1]:9092" {
		t.Errorf("Listener.String = %q", s)
	}
	if s := (Listener{"PLAINTEXT", "", 9092}).Addr(); s != ":9092" {
		t.Errorf("Listener.Addr = %q", s)
	}
	if s := (Voter{3, "h", 9093}).String(); s != "3@h:9093" {
		t.Errorf("Voter.String = %q", s)
	}
	td := c.TopicDefaults()
	if td.RetentionMs != weekMs || td.SegmentBytes != 1<<30 || td.FlushMs != math.MaxInt64 || td.CleanupPolicy != "delete" || td.CompressionType != "producer" {
		t.Errorf("TopicDefaults = %+v", td)
	}
}

// Kafka shows DOUBLE configs with Java's Double.toString.
func TestJavaDouble(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{0, "0.0"}, {0.5, "0.5"}, {0.9, "0.9"}, {1, "1.0"}, {-2, "-2.0"}, {1e-3, "0.001"}, {123456.789, "123456.789"},
		{9999999, "9999999.0"}, {1e7, "1.0E7"}, {1.5e7, "1.5E7"}, {1e-4, "1.0E-4"}, {2.5e-10, "2.5E-10"},
		{math.MaxFloat64, "1.7976931348623157E308"}, {math.Inf(1), "Infinity"}, {math.NaN(), "NaN"},
	} {
		if got := javaDouble(tt.f); got != tt.want {
			t.Errorf("javaDouble(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}
