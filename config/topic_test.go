// These tests prove that topic config overrides are validated with errors
// that wrap model.ErrInvalidConfig, apply on top of the broker's defaults, and
// that DescribeConfigs sources come out as Kafka reports them.
package config

import (
	"errors"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/model"
)

func TestValidateTopicConfig(t *testing.T) {
	valid := []struct{ key, value string }{
		{"cleanup.policy", "delete"},
		{"cleanup.policy", "compact"},
		{"cleanup.policy", "compact,delete"},
		{"cleanup.policy", "delete, compact"},
		{"compression.type", "producer"},
		{"delete.retention.ms", "0"},
		{"delete.retention.ms", "86400000"},
		{"flush.messages", "1"},
		{"flush.ms", "0"},
		{"index.interval.bytes", "0"},
		{"max.compaction.lag.ms", "1"},
		{"max.compaction.lag.ms", "9223372036854775807"},
		{"max.message.bytes", "10485760"},
		{"message.timestamp.difference.max.ms", "60000"},
		{"message.timestamp.type", "CreateTime"},
		{"message.timestamp.type", "LogAppendTime"},
		{"min.cleanable.dirty.ratio", "0"},
		{"min.cleanable.dirty.ratio", "0.01"},
		{"min.cleanable.dirty.ratio", " 1 "},
		{"min.cleanable.dirty.ratio", "1.0"},
		{"min.cleanable.dirty.ratio", "5e-1"},
		{"min.compaction.lag.ms", "0"},
		{"min.compaction.lag.ms", "3600000"},
		{"min.insync.replicas", "2"},
		{"retention.bytes", "-1"},
		{"retention.bytes", "0"},
		{"retention.ms", "-1"},
		{"retention.ms", " 86400000 "},
		{"segment.bytes", "1024"},
		{"segment.bytes", "2147483647"},
		{"segment.index.bytes", "4"},
		{"segment.ms", "1"},
		{"unclean.leader.election.enable", "true"},
		{"unclean.leader.election.enable", "False"},
	}
	for _, tt := range valid {
		if err := ValidateTopicConfig(tt.key, tt.value); err != nil {
			t.Errorf("ValidateTopicConfig(%q, %q) = %v", tt.key, tt.value, err)
		}
	}
	invalid := []struct{ key, value, want string }{
		{"retention.ms", "abc", `invalid config: retention.ms = "abc": must be -1 (keep forever) or a non-negative integer (milliseconds)`},
		{"retention.ms", "-2", `retention.ms = "-2": must be -1 (keep forever)`},
		{"retention.bytes", "-2", `retention.bytes = "-2": must be -1 (no size limit) or a non-negative integer (bytes)`},
		{"segment.bytes", "1023", `segment.bytes = "1023": must be an integer from 1024 to 2147483647 (bytes)`},
		{"segment.bytes", "2147483648", `must be an integer from 1024 to 2147483647 (bytes)`},
		{"segment.ms", "0", `segment.ms = "0": must be a positive integer (milliseconds)`},
		{"max.message.bytes", "-1", `max.message.bytes = "-1": must be an integer from 0 to 2147483647 (bytes)`},
		{"cleanup.policy", "remove", `cleanup.policy = "remove": must be "delete", "compact" or "compact,delete"`},
		{"cleanup.policy", "", `must be "delete", "compact" or "compact,delete"`},
		{"cleanup.policy", "delete,delete", `must be "delete", "compact" or "compact,delete"`},
		{"message.timestamp.type", "createtime", `message.timestamp.type = "createtime": must be "CreateTime" or "LogAppendTime"`},
		{"min.insync.replicas", "0", `min.insync.replicas = "0": must be an integer from 1 to 2147483647`},
		{"flush.messages", "0", `flush.messages = "0": must be a positive integer (messages)`},
		{"flush.ms", "-1", `flush.ms = "-1": must be a non-negative integer (milliseconds)`},
		{"segment.index.bytes", "3", `segment.index.bytes = "3": must be an integer from 4 to 2147483647 (bytes)`},
		{"index.interval.bytes", "x", `index.interval.bytes = "x": must be an integer from 0 to 2147483647 (bytes)`},
		{"unclean.leader.election.enable", "yes", `unclean.leader.election.enable = "yes": must be true or false`},
		{"message.timestamp.difference.max.ms", "-1", `must be a non-negative integer (milliseconds)`},
		{"compression.type", "gzip", `compression.type = "gzip": must be "producer": Ringtail stores record batches as the producer compressed them`},
		{"min.cleanable.dirty.ratio", "1.5", `invalid config: min.cleanable.dirty.ratio = "1.5": must be a number from 0 to 1`},
		{"min.cleanable.dirty.ratio", "-0.1", `min.cleanable.dirty.ratio = "-0.1": must be a number from 0 to 1`},
		{"min.cleanable.dirty.ratio", "half", `min.cleanable.dirty.ratio = "half": must be a number from 0 to 1`},
		{"min.cleanable.dirty.ratio", "NaN", `min.cleanable.dirty.ratio = "NaN": must be a number from 0 to 1`},
		{"min.cleanable.dirty.ratio", "", `min.cleanable.dirty.ratio = "": must be a number from 0 to 1`},
		{"min.compaction.lag.ms", "-1", `min.compaction.lag.ms = "-1": must be a non-negative integer (milliseconds)`},
		{"min.compaction.lag.ms", "1.5", `min.compaction.lag.ms = "1.5": must be a non-negative integer (milliseconds)`},
		{"max.compaction.lag.ms", "0", `max.compaction.lag.ms = "0": must be a positive integer (milliseconds)`},
		{"max.compaction.lag.ms", "9223372036854775808", `max.compaction.lag.ms = "9223372036854775808": must be a positive integer (milliseconds)`},
		{"delete.retention.ms", "-1", `delete.retention.ms = "-1": must be a non-negative integer (milliseconds)`},
		{"delete.retention.ms", "1d", `delete.retention.ms = "1d": must be a non-negative integer (milliseconds)`},
		{"min.cleanable.dirty.ration", "0.5", `unknown topic config "min.cleanable.dirty.ration" (did you mean "min.cleanable.dirty.ratio"?)`},
		{"log.cleaner.min.cleanable.ratio", "0.5", `unknown topic config "log.cleaner.min.cleanable.ratio" (that is a server.toml key; a topic can only override: `},
		{"retention.hours", "1", `invalid config: unknown topic config "retention.hours"`},
		{"retention.mss", "1", `invalid config: unknown topic config "retention.mss" (did you mean "retention.ms"?)`},
		{"log.retention.hours", "1", `unknown topic config "log.retention.hours" (that is a server.toml key; a topic can only override: cleanup.policy, `},
	}
	for _, tt := range invalid {
		err := ValidateTopicConfig(tt.key, tt.value)
		if err == nil {
			t.Errorf("ValidateTopicConfig(%q, %q) accepted it", tt.key, tt.value)
			continue
		}
		if !errors.Is(err, model.ErrInvalidConfig) {
			t.Errorf("ValidateTopicConfig(%q, %q) = %v, which does not wrap model.ErrInvalidConfig", tt.key, tt.value, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateTopicConfig(%q, %q)\n got %v\nwant %s", tt.key, tt.value, err, tt.want)
		}
	}
}

func TestTopicConfigWith(t *testing.T) {
	c := parseOK(t, "log.retention.hours = 1\nlog.segment.bytes = 1048576")
	got, err := c.TopicDefaults().With(map[string]string{
		"retention.ms":   "5000",
		"cleanup.policy": "delete,compact",
		"flush.ms":       "100",

		"min.cleanable.dirty.ratio": "0.25",
		"min.compaction.lag.ms":     "60000",
		"max.compaction.lag.ms":     "3600000",
		"delete.retention.ms":       "1000",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := c.TopicDefaults()
	want.RetentionMs, want.CleanupPolicy, want.FlushMs = 5000, "compact,delete", 100
	want.MinCleanableDirtyRatio, want.MinCompactionLagMs, want.MaxCompactionLagMs, want.DeleteRetentionMs = 0.25, 60000, 3600000, 1000
	if !reflect.DeepEqual(got, want) {
		t.Errorf("With = %+v\nwant %+v", got, want)
	}
	if want.SegmentBytes != 1<<20 {
		t.Errorf("broker default segment.bytes not carried: %d", want.SegmentBytes)
	}
	_, err = c.TopicDefaults().With(map[string]string{"segment.ms": "0", "retention.ms": "x"})
	if !errors.Is(err, model.ErrInvalidConfig) || !strings.Contains(err.Error(), "retention.ms") {
		t.Errorf("With(bad) = %v, want the first bad key by name (retention.ms)", err)
	}
}

func TestTopicConfigKeys(t *testing.T) {
	keys := TopicConfigKeys()
	if !sort.StringsAreSorted(keys) || len(keys) != 19 {
		t.Errorf("TopicConfigKeys = %v", keys)
	}
	// Every key accepts its own default value.
	for _, e := range Default().DescribeTopicConfig(nil) {
		if err := ValidateTopicConfig(e.Name, e.Value); err != nil {
			t.Errorf("default of %s does not validate: %v", e.Name, err)
		}
	}
}

func TestDescribeTopicConfigSources(t *testing.T) {
	c := parseOK(t, "log.retention.hours = 24\nmessage.max.bytes = 2000000")
	entries := c.DescribeTopicConfig(map[string]string{"segment.bytes": "1048576", "cleanup.policy": "compact"})
	byName := map[string]ConfigEntry{}
	var names []string
	for _, e := range entries {
		byName[e.Name] = e
		names = append(names, e.Name)
	}
	if !reflect.DeepEqual(names, TopicConfigKeys()) {
		t.Fatalf("entries %v, want every key sorted %v", names, TopicConfigKeys())
	}
	tests := []struct {
		name   string
		value  string
		source ConfigSource
		typ    int8
	}{
		{"segment.bytes", "1048576", SourceDynamicTopicConfig, TypeInt},
		{"cleanup.policy", "compact", SourceDynamicTopicConfig, TypeList},
		{"retention.ms", "86400000", SourceStaticBrokerConfig, TypeLong},
		{"max.message.bytes", "2000000", SourceStaticBrokerConfig, TypeInt},
		{"segment.ms", "604800000", SourceDefaultConfig, TypeLong},
		{"flush.ms", "9223372036854775807", SourceDefaultConfig, TypeLong},
		{"compression.type", "producer", SourceDefaultConfig, TypeString},
		{"unclean.leader.election.enable", "false", SourceDefaultConfig, TypeBoolean},
		{"min.cleanable.dirty.ratio", "0.5", SourceDefaultConfig, TypeDouble},
		{"min.compaction.lag.ms", "0", SourceDefaultConfig, TypeLong},
		{"max.compaction.lag.ms", "9223372036854775807", SourceDefaultConfig, TypeLong},
		{"delete.retention.ms", "86400000", SourceDefaultConfig, TypeLong},
	}
	for _, tt := range tests {
		e := byName[tt.name]
		if e.Value != tt.value || e.Source != tt.source || e.Type != tt.typ || e.Doc == "" || e.ReadOnly || e.Sensitive {
			t.Errorf("%s = %+v, want value %q source %d type %d", tt.name, e, tt.value, tt.source, tt.typ)
		}
	}
	// Kafka's source codes.
	if SourceDynamicTopicConfig != 1 || SourceStaticBrokerConfig != 4 || SourceDefaultConfig != 5 {
		t.Error("ConfigSource values differ from Kafka's")
	}
}

func TestDescribeBrokerConfig(t *testing.T) {
	c := parseOK(t, "log.retention.hours = 24\nlog.retention.ms = 1000\nlisteners = [\"PLAINTEXT://:9092\", \"CONTROLLER://:9093\"]\n[ringtail]\nshards = 2")
	entries := c.DescribeBrokerConfig()
	if len(entries) != len(brokerKeys) {
		t.Fatalf("%d entries, want %d", len(entries), len(brokerKeys))
	}
	byName := map[string]ConfigEntry{}
	for i, e := range entries {
		byName[e.Name] = e
		if i > 0 && entries[i-1].Name >= e.Name {
			t.Errorf("entries not sorted at %s", e.Name)
		}
		if !e.ReadOnly || e.Doc == "" {
			t.Errorf("%s: %+v", e.Name, e)
		}
	}
	tests := []struct {
		name, value string
		source      ConfigSource
	}{
		{"log.retention.ms", "1000", SourceStaticBrokerConfig},
		{"log.retention.hours", "24", SourceStaticBrokerConfig}, // set, though .ms wins
		{"log.retention.minutes", "10080", SourceDefaultConfig},
		{"listeners", "PLAINTEXT://:9092,CONTROLLER://:9093", SourceStaticBrokerConfig},
		{"advertised.listeners", "PLAINTEXT://localhost:9092", SourceDefaultConfig},
		{"log.flush.interval.messages", "9223372036854775807", SourceDefaultConfig},
		{"auto.create.topics.enable", "true", SourceDefaultConfig},
		{"log.dirs", "./ringtail-data", SourceDefaultConfig},
		{"cluster.id", "", SourceDefaultConfig},
		{"ringtail.shards", "2", SourceStaticBrokerConfig},
		{"ringtail.io_engine", "auto", SourceDefaultConfig},
	}
	for _, tt := range tests {
		if e := byName[tt.name]; e.Value != tt.value || e.Source != tt.source {
			t.Errorf("%s = %+v, want value %q source %d", tt.name, e, tt.value, tt.source)
		}
	}
	for _, tt := range []struct {
		name, value string
		typ         int8
	}{
		{"log.cleaner.enable", "true", TypeBoolean},
		{"log.cleaner.threads", "1", TypeInt},
		{"log.cleaner.dedupe.buffer.size", "134217728", TypeLong},
		{"log.cleaner.io.buffer.size", "524288", TypeInt},
		{"log.cleaner.io.buffer.load.factor", "0.9", TypeDouble},
		{"log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308", TypeDouble}, // as Kafka shows it
		{"log.cleaner.backoff.ms", "15000", TypeLong},
		{"log.cleaner.min.cleanable.ratio", "0.5", TypeDouble},
		{"log.cleaner.min.compaction.lag.ms", "0", TypeLong},
		{"log.cleaner.max.compaction.lag.ms", "9223372036854775807", TypeLong},
		{"log.cleaner.delete.retention.ms", "86400000", TypeLong},
	} {
		if e := byName[tt.name]; e.Value != tt.value || e.Type != tt.typ || e.Source != SourceDefaultConfig {
			t.Errorf("%s = %+v, want value %q type %d", tt.name, e, tt.value, tt.typ)
		}
	}
	if byName["log.retention.ms"].Type != TypeLong || byName["listeners"].Type != TypeList || byName["auto.create.topics.enable"].Type != TypeBoolean {
		t.Error("wrong config types")
	}
}

// The compaction topic configs take their defaults from the log.cleaner.*
// broker keys, as in Kafka, and DescribeConfigs says so.
func TestCleanerTopicDefaults(t *testing.T) {
	td := Default().TopicDefaults()
	if td.MinCleanableDirtyRatio != 0.5 || td.MinCompactionLagMs != 0 || td.MaxCompactionLagMs != math.MaxInt64 || td.DeleteRetentionMs != 86400000 {
		t.Errorf("Kafka's defaults: %+v", td)
	}
	c := parseOK(t, "log.cleaner.min.cleanable.ratio = 0.1\nlog.cleaner.min.compaction.lag.ms = 1000\n"+
		"log.cleaner.max.compaction.lag.ms = \"60000\"\nlog.cleaner.delete.retention.ms = 5000")
	td = c.TopicDefaults()
	if td.MinCleanableDirtyRatio != 0.1 || td.MinCompactionLagMs != 1000 || td.MaxCompactionLagMs != 60000 || td.DeleteRetentionMs != 5000 {
		t.Errorf("broker defaults not carried: %+v", td)
	}
	byName := map[string]ConfigEntry{}
	for _, e := range c.DescribeTopicConfig(map[string]string{"delete.retention.ms": "7"}) {
		byName[e.Name] = e
	}
	for _, tt := range []struct {
		name, value string
		source      ConfigSource
	}{
		{"min.cleanable.dirty.ratio", "0.1", SourceStaticBrokerConfig},
		{"min.compaction.lag.ms", "1000", SourceStaticBrokerConfig},
		{"max.compaction.lag.ms", "60000", SourceStaticBrokerConfig},
		{"delete.retention.ms", "7", SourceDynamicTopicConfig},
	} {
		if e := byName[tt.name]; e.Value != tt.value || e.Source != tt.source {
			t.Errorf("%s = %+v, want value %q source %d", tt.name, e, tt.value, tt.source)
		}
	}
}

// ValidateTopicOverrides adds Kafka's rule between keys to the per-key checks,
// judged on the overrides over the broker's defaults.
func TestValidateTopicOverrides(t *testing.T) {
	c := parseOK(t, "log.cleaner.max.compaction.lag.ms = 60000")
	for _, ok := range []map[string]string{
		nil,
		{"min.compaction.lag.ms": "60000"},
		{"min.compaction.lag.ms": "120000", "max.compaction.lag.ms": "120000"},
		{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.9"},
	} {
		if err := c.ValidateTopicOverrides(ok); err != nil {
			t.Errorf("ValidateTopicOverrides(%v) = %v", ok, err)
		}
	}
	for _, tt := range []struct {
		overrides map[string]string
		want      string
	}{
		{map[string]string{"min.compaction.lag.ms": "60001"},
			`invalid config: min.compaction.lag.ms = "60001" is more than max.compaction.lag.ms = 60000 (the broker default, log.cleaner.max.compaction.lag.ms); the minimum compaction lag must not exceed the maximum`},
		{map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "9"},
			`invalid config: min.compaction.lag.ms = "10" is more than max.compaction.lag.ms = "9"; the minimum`},
		{map[string]string{"max.compaction.lag.ms": "0", "min.compaction.lag.ms": "x"},
			`invalid config: max.compaction.lag.ms = "0": must be a positive integer (milliseconds)`},
	} {
		err := c.ValidateTopicOverrides(tt.overrides)
		if !errors.Is(err, model.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateTopicOverrides(%v)\n got %v\nwant %s", tt.overrides, err, tt.want)
		}
	}
	// With stays lenient: what the controller committed is applied.
	if _, err := c.TopicDefaults().With(map[string]string{"min.compaction.lag.ms": "60001"}); err != nil {
		t.Errorf("With: %v", err)
	}
}
