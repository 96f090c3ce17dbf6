package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/model"
)

// TopicConfig is a topic's effective configuration, by Kafka's topic config
// names. TopicDefaults gives the broker's defaults; With applies a topic's
// overrides (validated strings, as CreateTopics and AlterConfigs carry them).
type TopicConfig struct {
	RetentionMs, RetentionBytes, SegmentBytes, SegmentMs int64  // retention.ms retention.bytes segment.bytes segment.ms
	MaxMessageBytes                                      int32  // max.message.bytes
	CleanupPolicy                                        string // cleanup.policy: "delete" | "compact" | "compact,delete"
	MessageTimestampType                                 string // message.timestamp.type: "CreateTime" | "LogAppendTime"
	MinInsyncReplicas                                    int32  // min.insync.replicas
	FlushMessages, FlushMs                               int64  // flush.messages flush.ms
	SegmentIndexBytes                                    int32  // segment.index.bytes
	IndexIntervalBytes                                   int32  // index.interval.bytes
	UncleanLeaderElectionEnable                          bool   // unclean.leader.election.enable
	MessageTimestampDifferenceMaxMs                      int64  // message.timestamp.difference.max.ms
	CompressionType                                      string // compression.type: only "producer"

	// Compaction (cleanup.policy containing "compact").
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio: [0, 1]
	MinCompactionLagMs     int64   // min.compaction.lag.ms: >= 0
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: >= 1 (math.MaxInt64: no maximum)
	DeleteRetentionMs      int64   // delete.retention.ms: >= 0, how long tombstones outlive the cleaning of their segment
}

// ConfigSource is where a described config value comes from; the values are
// Kafka's DescribeConfigs source codes.
type ConfigSource int8

const (
	SourceDynamicTopicConfig ConfigSource = 1 // DYNAMIC_TOPIC_CONFIG: a topic override
	SourceStaticBrokerConfig ConfigSource = 4 // STATIC_BROKER_CONFIG: set in server.toml
	SourceDefaultConfig      ConfigSource = 5 // DEFAULT_CONFIG: nobody set it
)

// ConfigEntry is one described config, in the shape of a DescribeConfigs
// response entry. Type is a Kafka ConfigType (TypeBoolean ... TypePassword).
type ConfigEntry struct {
	Name, Value         string
	Source              ConfigSource
	ReadOnly, Sensitive bool
	Type                int8
	Doc                 string
}

type topicKey struct {
	name       string
	doc        string
	typ        int8
	brokerKeys []string // server.toml keys that set this key's default
	set        func(t *TopicConfig, s string) error
	get        func(t TopicConfig) string
}

// topicKeys is sorted by name.
var topicKeys = []topicKey{
	{
		name: "cleanup.policy", doc: "What to do with old segments: delete, compact, or both (\"compact,delete\").", typ: TypeList,
		set: setCleanupPolicy,
		get: func(t TopicConfig) string { return t.CleanupPolicy },
	},
	topicEnum("compression.type", "Compression of stored batches; producer: keep the producer's.",
		`must be "producer": Ringtail stores record batches as the producer compressed them and does not recompress`,
		func(t *TopicConfig) *string { return &t.CompressionType }, "producer"),
	topicInt("delete.retention.ms", "How long a tombstone (a record with a null value) in a compacted topic is kept after its segment was cleaned.", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "milliseconds"}, func(t *TopicConfig) *int64 { return &t.DeleteRetentionMs }, "log.cleaner.delete.retention.ms"),
	topicInt("flush.messages", "Fsync a partition after this many messages (with durability = \"relaxed\").", TypeLong,
		intSpec{min: 1, max: math.MaxInt64, unit: "messages"}, func(t *TopicConfig) *int64 { return &t.FlushMessages }, "log.flush.interval.messages"),
	topicInt("flush.ms", "Fsync a partition after this long (with durability = \"relaxed\").", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "milliseconds"}, func(t *TopicConfig) *int64 { return &t.FlushMs }, "log.flush.interval.ms"),
	topicInt("index.interval.bytes", "Bytes of log between two offset index entries.", TypeInt,
		intSpec{min: 0, max: math.MaxInt32, unit: "bytes"}, func(t *TopicConfig) *int32 { return &t.IndexIntervalBytes }),
	topicInt("max.compaction.lag.ms", "Longest a record may stay uncompacted in a compacted topic.", TypeLong,
		intSpec{min: 1, max: math.MaxInt64, unit: "milliseconds"}, func(t *TopicConfig) *int64 { return &t.MaxCompactionLagMs }, "log.cleaner.max.compaction.lag.ms"),
	topicInt("max.message.bytes", "Largest record batch a producer may send to this topic.", TypeInt,
		intSpec{min: 0, max: math.MaxInt32, unit: "bytes"}, func(t *TopicConfig) *int32 { return &t.MaxMessageBytes }, "message.max.bytes"),
	topicInt("message.timestamp.difference.max.ms", "Largest allowed difference between a CreateTime timestamp and the broker's clock.", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "milliseconds"}, func(t *TopicConfig) *int64 { return &t.MessageTimestampDifferenceMaxMs }),
	topicEnum("message.timestamp.type", "Record timestamps: CreateTime (the producer's) or LogAppendTime (the broker's).",
		`must be "CreateTime" or "LogAppendTime"`, func(t *TopicConfig) *string { return &t.MessageTimestampType }, "CreateTime", "LogAppendTime"),
	topicFloat("min.cleanable.dirty.ratio", "Clean a compacted partition once this share of its log is dirty (not yet cleaned).",
		floatSpec{lo: 0, hi: 1, valid: "a number from 0 to 1"}, func(t *TopicConfig) *float64 { return &t.MinCleanableDirtyRatio }, "log.cleaner.min.cleanable.ratio"),
	topicInt("min.compaction.lag.ms", "Shortest time a record stays uncompacted in a compacted topic.", TypeLong,
		intSpec{min: 0, max: math.MaxInt64, unit: "milliseconds"}, func(t *TopicConfig) *int64 { return &t.MinCompactionLagMs }, "log.cleaner.min.compaction.lag.ms"),
	topicInt("min.insync.replicas", "Replicas that must have a write before an acks=all produce succeeds.", TypeInt,
		intSpec{min: 1, max: math.MaxInt32}, func(t *TopicConfig) *int32 { return &t.MinInsyncReplicas }, "min.insync.replicas"),
	topicInt("retention.bytes", "Delete the oldest segments when a partition grows past this; -1: no size limit.", TypeLong,
		intSpec{min: -1, max: math.MaxInt64, unit: "bytes", minusOne: "no size limit"}, func(t *TopicConfig) *int64 { return &t.RetentionBytes }, "log.retention.bytes"),
	topicInt("retention.ms", "Delete segments older than this; -1 keeps them forever.", TypeLong,
		intSpec{min: -1, max: math.MaxInt64, unit: "milliseconds", minusOne: "keep forever"}, func(t *TopicConfig) *int64 { return &t.RetentionMs },
		"log.retention.ms", "log.retention.minutes", "log.retention.hours"),
	topicInt("segment.bytes", "Roll a new segment file when the active one reaches this size.", TypeInt,
		intSpec{min: 1024, max: math.MaxInt32, unit: "bytes"}, func(t *TopicConfig) *int64 { return &t.SegmentBytes }, "log.segment.bytes"),
	topicInt("segment.index.bytes", "Size of a segment's offset index file.", TypeInt,
		intSpec{min: 4, max: math.MaxInt32, unit: "bytes"}, func(t *TopicConfig) *int32 { return &t.SegmentIndexBytes }),
	topicInt("segment.ms", "Roll a new segment after this long even if it is not full.", TypeLong,
		intSpec{min: 1, max: math.MaxInt64, unit: "milliseconds"}, func(t *TopicConfig) *int64 { return &t.SegmentMs }, "log.roll.ms", "log.roll.hours"),
	{
		name: "unclean.leader.election.enable", doc: "Let an out-of-sync replica become leader when no in-sync one is left, losing data.", typ: TypeBoolean,
		set: func(t *TopicConfig, s string) error {
			b, ok := toBool(s)
			if !ok {
				return errors.New("must be true or false")
			}
			t.UncleanLeaderElectionEnable = b
			return nil
		},
		get: func(t TopicConfig) string { return strconv.FormatBool(t.UncleanLeaderElectionEnable) },
	},
}

// topicEnum is a string key with a fixed set of values (case-sensitive, as
// in Kafka).
func topicEnum(name, doc, valid string, field func(*TopicConfig) *string, options ...string) topicKey {
	return topicKey{
		name: name, doc: doc, typ: TypeString,
		set: func(t *TopicConfig, s string) error {
			s = strings.TrimSpace(s)
			for _, o := range options {
				if s == o {
					*field(t) = s
					return nil
				}
			}
			return errors.New(valid)
		},
		get: func(t TopicConfig) string { return *field(&t) },
	}
}

func topicInt[T int32 | int64](name, doc string, typ int8, s intSpec, field func(*TopicConfig) *T, brokerKeys ...string) topicKey {
	return topicKey{
		name: name, doc: doc, typ: typ, brokerKeys: brokerKeys,
		set: func(t *TopicConfig, str string) error {
			n, err := s.parse(str)
			if err != nil {
				return err
			}
			*field(t) = T(n)
			return nil
		},
		get: func(t TopicConfig) string { return strconv.FormatInt(int64(*field(&t)), 10) },
	}
}

// topicFloat is a DOUBLE key; its value is shown as Kafka shows a double.
func topicFloat(name, doc string, s floatSpec, field func(*TopicConfig) *float64, brokerKeys ...string) topicKey {
	return topicKey{
		name: name, doc: doc, typ: TypeDouble, brokerKeys: brokerKeys,
		set: func(t *TopicConfig, str string) error {
			f, err := s.parse(str)
			if err != nil {
				return err
			}
			*field(t) = f
			return nil
		},
		get: func(t TopicConfig) string { return javaDouble(*field(&t)) },
	}
}

// setCleanupPolicy accepts "delete", "compact" and both in either order,
// stored as "compact,delete".
func setCleanupPolicy(t *TopicConfig, s string) error {
	const valid = `must be "delete", "compact" or "compact,delete"`
	var compact, del bool
	for _, p := range strings.Split(s, ",") {
		switch strings.TrimSpace(p) {
		case "compact":
			if compact {
				return errors.New(valid)
			}
			compact = true
		case "delete":
			if del {
				return errors.New(valid)
			}
			del = true
		default:
			return errors.New(valid)
		}
	}
	switch {
	case compact && del:
		t.CleanupPolicy = "compact,delete"
	case compact:
		t.CleanupPolicy = "compact"
	default:
		t.CleanupPolicy = "delete"
	}
	return nil
}

func findTopicKey(name string) *topicKey {
	for i := range topicKeys {
		if topicKeys[i].name == name {
			return &topicKeys[i]
		}
	}
	return nil
}

// TopicConfigKeys lists the topic config names Ringtail accepts, sorted.
func TopicConfigKeys() []string {
	out := make([]string, len(topicKeys))
	for i, k := range topicKeys {
		out[i] = k.name
	}
	return out
}

// ValidateTopicConfig checks one topic config override. The error wraps
// model.ErrInvalidConfig and names the key, the value and what is valid.
func ValidateTopicConfig(key, value string) error {
	var t TopicConfig
	return setTopicConfig(&t, key, value)
}

func setTopicConfig(t *TopicConfig, key, value string) error {
	k := findTopicKey(key)
	if k == nil {
		hint := ""
		best, bestDist := "", 0
		for _, cand := range topicKeys {
			if d := editDistance(key, cand.name); best == "" || d < bestDist {
				best, bestDist = cand.name, d
			}
		}
		if bestDist <= 2 || bestDist <= len(key)/5 {
			hint = fmt.Sprintf(" (did you mean %q?)", best)
		} else if keyIndex[key] != nil {
			hint = " (that is a server.toml key; a topic can only override: " + strings.Join(TopicConfigKeys(), ", ") + ")"
		}
		return fmt.Errorf("%w: unknown topic config %q%s", model.ErrInvalidConfig, key, hint)
	}
	if err := k.set(t, value); err != nil {
		return fmt.Errorf("%w: %s = %q: %v", model.ErrInvalidConfig, key, value, err)
	}
	return nil
}

// With returns t with overrides applied. Keys are applied in name order, so
// the first invalid one (by name) is the one reported.
func (t TopicConfig) With(overrides map[string]string) (TopicConfig, error) {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := setTopicConfig(&t, k, overrides[k]); err != nil {
			return TopicConfig{}, err
		}
	}
	return t, nil
}

// ValidateTopicOverrides checks a topic's whole set of overrides as Kafka
// does at CreateTopics and AlterConfigs: each key (as ValidateTopicConfig),
// then the rules between keys on the overrides applied over this broker's
// defaults: min.compaction.lag.ms must not exceed max.compaction.lag.ms.
// The error wraps model.ErrInvalidConfig.
func (c *Config) ValidateTopicOverrides(overrides map[string]string) error {
	t, err := c.TopicDefaults().With(overrides)
	if err != nil {
		return err
	}
	if t.MinCompactionLagMs > t.MaxCompactionLagMs {
		return fmt.Errorf("%w: %s is more than %s; the minimum compaction lag must not exceed the maximum", model.ErrInvalidConfig,
			c.describeSetting("min.compaction.lag.ms", overrides, strconv.FormatInt(t.MinCompactionLagMs, 10)),
			c.describeSetting("max.compaction.lag.ms", overrides, strconv.FormatInt(t.MaxCompactionLagMs, 10)))
	}
	return nil
}

// describeSetting names where a topic key's value comes from, for a message:
// the override as given, or the broker default that supplies it.
func (c *Config) describeSetting(key string, overrides map[string]string, value string) string {
	if v, ok := overrides[key]; ok {
		return fmt.Sprintf("%s = %q", key, v)
	}
	if k := findTopicKey(key); k != nil && len(k.brokerKeys) > 0 {
		return fmt.Sprintf("%s = %s (the broker default, %s)", key, value, k.brokerKeys[len(k.brokerKeys)-1])
	}
	return key + " = " + value + " (the default)"
}

// DescribeTopicConfig describes every topic config key, sorted by name, for
// a topic with the given overrides: an override is DYNAMIC_TOPIC_CONFIG, a
// default that server.toml set is STATIC_BROKER_CONFIG, the rest
// DEFAULT_CONFIG.
func (c *Config) DescribeTopicConfig(overrides map[string]string) []ConfigEntry {
	defaults := c.TopicDefaults()
	out := make([]ConfigEntry, 0, len(topicKeys))
	for _, k := range topicKeys {
		e := ConfigEntry{Name: k.name, Type: k.typ, Doc: k.doc, Source: SourceDefaultConfig, Value: k.get(defaults)}
		if v, ok := overrides[k.name]; ok {
			e.Value, e.Source = v, SourceDynamicTopicConfig
		} else {
			for _, bk := range k.brokerKeys {
				if c.Set[bk] {
					e.Source = SourceStaticBrokerConfig
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// DescribeBrokerConfig describes every server.toml key, sorted by name, with
// the value in server.properties form. All are read-only: Ringtail has no
// dynamic broker configs.
func (c *Config) DescribeBrokerConfig() []ConfigEntry {
	out := make([]ConfigEntry, 0, len(brokerKeys))
	for i := range brokerKeys {
		k := &brokerKeys[i]
		e := ConfigEntry{Name: k.name, Value: k.value(c), Source: SourceDefaultConfig, ReadOnly: true, Type: k.typ, Doc: k.doc}
		if c.Set[k.name] {
			e.Source = SourceStaticBrokerConfig
		}
		if k.sensitive {
			e.Value, e.Sensitive = "", true
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// value is k's current value in server.properties form.
func (k *brokerKey) value(c *Config) string {
	switch {
	case k.toml == nil: // an alias, which has no field of its own
		if v, ok := c.fileValues[k.name]; ok && c.Set[k.name] {
			return v
		}
		return unquote(k.def)
	case k.show != nil:
		return k.show(c)
	}
	return k.toml(c)
}

// display is k's value as an error message quotes it: server.properties
// form, as a TOML literal.
func (k *brokerKey) display(c *Config) string {
	if k.sensitive && k.value(c) != "" {
		return hiddenValue
	}
	if k.typ == TypeList || k.toml == nil {
		return tomlQuote(k.value(c))
	}
	return k.toml(c)
}

// hiddenValue stands for a secret's value in error messages.
const hiddenValue = "(hidden)"

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}
