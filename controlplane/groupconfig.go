package controlplane

// Group configs as metadata: Kafka's GROUP config resource (type 32), one
// ConfigRecord per key as for topics and client metrics subscriptions; a
// group's entry exists while it has at least one key. They need no group
// to exist (Kafka lets an operator configure a group before its first
// member), and every node can read them from its image.
//
// The keys are Kafka's GroupConfig: consumer.session.timeout.ms and
// consumer.heartbeat.interval.ms for consumer (KIP-848) groups, and
// share.session.timeout.ms, share.heartbeat.interval.ms,
// share.record.lock.duration.ms, share.delivery.count.limit (KIP-1240),
// share.auto.offset.reset (latest, earliest or by_duration:<ISO-8601
// duration>, KIP-1106) and share.isolation.level for share groups. The
// numbers are checked against the broker's bounds (GroupConfigBounds, the
// group.consumer.* and group.share.* min/max keys), as Kafka's
// GroupConfig.validate does.

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/model"
)

// ResourceGroup is Kafka's GROUP config resource type.
const ResourceGroup int8 = 32

// The GROUP config keys (Kafka's GroupConfig names).
const (
	GroupConsumerSessionTimeoutMs    = "consumer.session.timeout.ms"
	GroupConsumerHeartbeatIntervalMs = "consumer.heartbeat.interval.ms"
	GroupShareSessionTimeoutMs       = "share.session.timeout.ms"
	GroupShareHeartbeatIntervalMs    = "share.heartbeat.interval.ms"
	GroupShareRecordLockDurationMs   = "share.record.lock.duration.ms"
	GroupShareDeliveryCountLimit     = "share.delivery.count.limit"
	GroupShareAutoOffsetReset        = "share.auto.offset.reset"
	GroupShareIsolationLevel         = "share.isolation.level"
)

// GroupConfigKeys are the GROUP config keys in the order DescribeConfigs
// lists them.
var GroupConfigKeys = []string{
	GroupConsumerHeartbeatIntervalMs, GroupConsumerSessionTimeoutMs,
	GroupShareAutoOffsetReset, GroupShareDeliveryCountLimit, GroupShareHeartbeatIntervalMs,
	GroupShareIsolationLevel, GroupShareRecordLockDurationMs, GroupShareSessionTimeoutMs,
}

// IntBound is a numeric group config's broker default and bounds, with
// the names of the broker keys that set them (for error messages).
type IntBound struct {
	Default, Min, Max int32
	MinKey, MaxKey    string
}

// GroupConfigBounds are the broker's defaults and bounds of the numeric
// group configs.
type GroupConfigBounds struct {
	ConsumerSessionTimeoutMs, ConsumerHeartbeatIntervalMs IntBound
	ShareSessionTimeoutMs, ShareHeartbeatIntervalMs       IntBound
	ShareRecordLockDurationMs, ShareDeliveryCountLimit    IntBound
}

func (b GroupConfigBounds) intBound(key string) (IntBound, bool) {
	switch key {
	case GroupConsumerSessionTimeoutMs:
		return b.ConsumerSessionTimeoutMs, true
	case GroupConsumerHeartbeatIntervalMs:
		return b.ConsumerHeartbeatIntervalMs, true
	case GroupShareSessionTimeoutMs:
		return b.ShareSessionTimeoutMs, true
	case GroupShareHeartbeatIntervalMs:
		return b.ShareHeartbeatIntervalMs, true
	case GroupShareRecordLockDurationMs:
		return b.ShareRecordLockDurationMs, true
	case GroupShareDeliveryCountLimit:
		return b.ShareDeliveryCountLimit, true
	}
	return IntBound{}, false
}

// GroupConfigDefault is the value a group has for key when it sets none.
func (b GroupConfigBounds) GroupConfigDefault(key string) string {
	if ib, ok := b.intBound(key); ok {
		return strconv.Itoa(int(ib.Default))
	}
	switch key {
	case GroupShareAutoOffsetReset:
		return "latest"
	case GroupShareIsolationLevel:
		return "read_uncommitted"
	}
	return ""
}

// isoDuration is an ISO-8601 duration as Java's Duration.parse takes it
// (days, hours, minutes, seconds with an optional fraction).
var isoDuration = regexp.MustCompile(`^(?i)[+]?P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:[.,]\d{1,9})?S)?)?$`)

// ValidateGroupConfig checks a group's whole config (Kafka's
// GroupConfig.validate): known keys, values of the right type within the
// broker's bounds, session timeouts above heartbeat intervals. The error
// is INVALID_CONFIG naming the key and what is valid.
func ValidateGroupConfig(b GroupConfigBounds, values map[string]string) error {
	eff := map[string]int64{}
	for _, k := range GroupConfigKeys {
		if ib, ok := b.intBound(k); ok {
			eff[k] = int64(ib.Default)
		}
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := values[k]
		if ib, ok := b.intBound(k); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return configErr(k, fmt.Sprintf("%q is not an integer; valid: %d to %d", v, ib.Min, ib.Max))
			}
			if n < int64(ib.Min) {
				return configErr(k, fmt.Sprintf("%d must be greater than or equal to %s (%d)", n, ib.MinKey, ib.Min))
			}
			if n > int64(ib.Max) {
				return configErr(k, fmt.Sprintf("%d must be less than or equal to %s (%d)", n, ib.MaxKey, ib.Max))
			}
			eff[k] = n
			continue
		}
		switch k {
		case GroupShareAutoOffsetReset:
			lv := strings.ToLower(v)
			if d, ok := strings.CutPrefix(lv, "by_duration:"); ok {
				if !isoDuration.MatchString(d) || strings.EqualFold(d, "P") || strings.HasSuffix(strings.ToUpper(d), "T") {
					return configErr(k, fmt.Sprintf("%q: by_duration needs a non-negative ISO-8601 duration such as by_duration:PT1H30M; valid: latest, earliest, by_duration:<duration>", v))
				}
				continue
			}
			if lv != "latest" && lv != "earliest" {
				return configErr(k, fmt.Sprintf("%q is not valid; valid: latest, earliest, by_duration:<ISO-8601 duration>", v))
			}
		case GroupShareIsolationLevel:
			if lv := strings.ToLower(v); lv != "read_uncommitted" && lv != "read_committed" {
				return configErr(k, fmt.Sprintf("%q is not valid; valid: read_uncommitted, read_committed", v))
			}
		default:
			return configErr(k, fmt.Sprintf("unknown group config name; valid: %s", strings.Join(GroupConfigKeys, ", ")))
		}
	}
	if eff[GroupConsumerSessionTimeoutMs] <= eff[GroupConsumerHeartbeatIntervalMs] {
		return configErr(GroupConsumerSessionTimeoutMs, fmt.Sprintf("%d must be greater than %s (%d)", eff[GroupConsumerSessionTimeoutMs], GroupConsumerHeartbeatIntervalMs, eff[GroupConsumerHeartbeatIntervalMs]))
	}
	if eff[GroupShareSessionTimeoutMs] <= eff[GroupShareHeartbeatIntervalMs] {
		return configErr(GroupShareSessionTimeoutMs, fmt.Sprintf("%d must be greater than %s (%d)", eff[GroupShareSessionTimeoutMs], GroupShareHeartbeatIntervalMs, eff[GroupShareHeartbeatIntervalMs]))
	}
	return nil
}

// GroupConfigInt is the integer value of key in a group's configs; ok is
// false when unset or not a number (the image holds validated values).
func GroupConfigInt(set map[string]string, key string) (int64, bool) {
	v, ok := set[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	return n, err == nil
}

// applyGroupConfig applies one key of a group's configs to n (an entry's
// working copy); the maps are copied first, since they may be shared with
// earlier images.
func (n *Image) applyGroupConfig(c *ConfigRecord) {
	n.GroupConfigs = cloneMap(n.GroupConfigs)
	set := cloneMap(n.GroupConfigs[c.ResourceName])
	setOrDelete(set, c.Name, c.Value)
	if len(set) == 0 {
		delete(n.GroupConfigs, c.ResourceName)
		return
	}
	n.GroupConfigs[c.ResourceName] = set
}

// AlterGroupConfigs changes one group's configs (AlterConfigs replaces
// them all, IncrementalAlterConfigs applies ops); validate checks the
// result before anything is written.
func (c *Controller) AlterGroupConfigs(ctx context.Context, name string, ops []ConfigOp, incremental, validateOnly bool, validate func(map[string]string) error) error {
	if name == "" {
		return fmt.Errorf("%w: the group name must not be empty", model.ErrInvalidRequest)
	}
	if err := c.catchUpToPlan(ctx); err != nil {
		return err
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	cur := c.image.Load().GroupConfigs[name]
	next, err := applyConfigOps(cur, ops, incremental)
	if err != nil {
		return err
	}
	if err := validate(next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	recs := configDiff(ResourceGroup, name, cur, next)
	if len(recs) == 0 {
		return nil
	}
	return c.commitAnywhere(ctx, recs)
}

// KafkaGroupConfigBounds are Kafka's broker defaults and bounds of the
// numeric group configs (group.consumer.*, group.share.*).
var KafkaGroupConfigBounds = GroupConfigBounds{
	ConsumerSessionTimeoutMs:    IntBound{45000, 45000, 60000, "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"},
	ConsumerHeartbeatIntervalMs: IntBound{5000, 5000, 15000, "group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"},
	ShareSessionTimeoutMs:       IntBound{45000, 45000, 60000, "group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"},
	ShareHeartbeatIntervalMs:    IntBound{5000, 5000, 15000, "group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"},
	ShareRecordLockDurationMs:   IntBound{30000, 15000, 60000, "group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"},
	ShareDeliveryCountLimit:     IntBound{5, 2, 10, "group.share.min.delivery.count.limit", "group.share.max.delivery.count.limit"},
}
