package config

// KIP-848 consumer groups (group.consumer.*), with Kafka's names and
// defaults: the session timeout and heartbeat interval the coordinator
// gives members, the largest group, and the server-side assignors.

import (
	"fmt"
	"math"
	"strings"
)

// GroupConsumerConfig is the group.consumer.* keys.
type GroupConsumerConfig struct {
	SessionTimeoutMs    int32    // group.consumer.session.timeout.ms
	HeartbeatIntervalMs int32    // group.consumer.heartbeat.interval.ms
	MaxSize             int32    // group.consumer.max.size
	Assignors           []string // group.consumer.assignors: "uniform", "range" (first is the default)
}

func defaultGroupConsumer() GroupConsumerConfig {
	return GroupConsumerConfig{SessionTimeoutMs: 45000, HeartbeatIntervalMs: 5000, MaxSize: math.MaxInt32, Assignors: []string{"uniform", "range"}}
}

// assignorNames maps the accepted names (short, or Kafka's class names)
// to the short name.
var assignorNames = map[string]string{
	"uniform": "uniform", "range": "range",
	"org.apache.kafka.coordinator.group.assignor.uniformassignor": "uniform",
	"org.apache.kafka.coordinator.group.assignor.rangeassignor":   "range",
}

func checkAssignors(l []string) error {
	if len(l) == 0 {
		return fmt.Errorf("must name at least one assignor: uniform, range")
	}
	for _, a := range l {
		if _, ok := assignorNames[a]; !ok {
			return fmt.Errorf("unknown assignor %q; valid: uniform, range (or Kafka's UniformAssignor/RangeAssignor class names)", a)
		}
	}
	return nil
}

// AssignorNames is group.consumer.assignors as short names, in order.
func (g GroupConsumerConfig) AssignorNames() []string {
	out := make([]string, 0, len(g.Assignors))
	for _, a := range g.Assignors {
		if n, ok := assignorNames[a]; ok {
			out = append(out, n)
		}
	}
	return out
}

func groupConsumerKeys() []brokerKey {
	const grp = "Groups"
	hb := intKey("group.consumer.heartbeat.interval.ms", grp, "Heartbeat interval given to members of consumer (KIP-848) groups.", "5000", TypeInt,
		intSpec{min: 1, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.GroupConsumer.HeartbeatIntervalMs })
	inner := hb.check
	hb.check = func(c *Config) error {
		if err := inner(c); err != nil {
			return err
		}
		if c.GroupConsumer.HeartbeatIntervalMs >= c.GroupConsumer.SessionTimeoutMs {
			return fmt.Errorf("must be below group.consumer.session.timeout.ms (%d)", c.GroupConsumer.SessionTimeoutMs)
		}
		return nil
	}
	return []brokerKey{
		intKey("group.consumer.session.timeout.ms", grp, "How long a member of a consumer (KIP-848) group may go without a heartbeat before it is fenced and its partitions reassigned.", "45000", TypeInt,
			intSpec{min: 1, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.GroupConsumer.SessionTimeoutMs }),
		hb,
		intKey("group.consumer.max.size", grp, "Most members a consumer (KIP-848) group may have; a join past it gets GROUP_MAX_SIZE_REACHED.", "2147483647", TypeInt,
			intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.GroupConsumer.MaxSize }),
		listKey("group.consumer.assignors", grp, "Server-side assignors of consumer (KIP-848) groups, uniform and/or range; members pick one, the first is the default.", `"uniform,range"`,
			func(c *Config) *[]string { return &c.GroupConsumer.Assignors }, strings.ToLower, checkAssignors),
	}
}

func init() { registerAuthorizerKeys(groupConsumerKeys()) }
