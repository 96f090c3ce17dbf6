package controlplane

// Client metrics subscriptions (KIP-714) as metadata: Kafka's
// CLIENT_METRICS config resource (type 16), one ConfigRecord per key as for
// topics; a subscription exists while it has at least one key.

import (
	"context"
	"fmt"
	"slices"

	"github.com/ringtail/ringtail/model"
)

// ResourceClientMetrics is Kafka's CLIENT_METRICS config resource type.
const ResourceClientMetrics int8 = 16

// applyClientMetricsConfig applies one key of a subscription to n (an
// entry's working copy): the map and the subscription are copied first,
// since both may be shared with earlier images.
func (n *Image) applyClientMetricsConfig(c *ConfigRecord) {
	n.ClientMetrics = cloneMap(n.ClientMetrics)
	sub := cloneMap(n.ClientMetrics[c.ResourceName])
	setOrDelete(sub, c.Name, c.Value)
	if len(sub) == 0 {
		delete(n.ClientMetrics, c.ResourceName)
		return
	}
	n.ClientMetrics[c.ResourceName] = sub
}

// AlterClientMetrics changes one subscription's configs (AlterConfigs
// replaces them all, IncrementalAlterConfigs applies ops); validate checks
// the result (the telemetry package's rules) before anything is written.
func (c *Controller) AlterClientMetrics(ctx context.Context, name string, ops []ConfigOp, incremental, validateOnly bool, validate func(string, map[string]string) error) error {
	if err := c.catchUpToPlan(ctx); err != nil {
		return err
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	cur := c.image.Load().ClientMetrics[name]
	next, err := applyConfigOps(cur, ops, incremental)
	if err != nil {
		return err
	}
	if err := validate(name, next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	recs := configDiff(ResourceClientMetrics, name, cur, next)
	if len(recs) == 0 {
		return nil
	}
	return c.commitAnywhere(ctx, recs)
}

// applyConfigOps returns cur changed by ops.
func applyConfigOps(cur map[string]string, ops []ConfigOp, incremental bool) (map[string]string, error) {
	next := map[string]string{}
	if incremental {
		next = cloneMap(cur)
	}
	for _, op := range ops {
		switch op.Op {
		case OpSet:
			if op.Value == nil {
				return nil, configErr(op.Key, "set needs a value")
			}
			next[op.Key] = *op.Value
		case OpDelete:
			delete(next, op.Key)
		case OpAppend, OpSubtract:
			if op.Value == nil {
				return nil, configErr(op.Key, "append/subtract need a value")
			}
			next[op.Key] = listOp(next[op.Key], *op.Value, op.Op == OpAppend)
		default:
			return nil, opErr(op)
		}
	}
	return next, nil
}

// configDiff is the records that turn cur into next, in key order.
func configDiff(typ int8, name string, cur, next map[string]string) []Record {
	keys := make([]string, 0, len(cur)+len(next))
	for k := range next {
		keys = append(keys, k)
	}
	for k := range cur {
		if _, ok := next[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var recs []Record
	for _, k := range keys {
		v, ok := next[k]
		old, had := cur[k]
		switch {
		case ok && (!had || old != v):
			val := v
			recs = append(recs, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: typ, ResourceName: name, Name: k, Value: &val}})
		case !ok && had:
			recs = append(recs, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: typ, ResourceName: name, Name: k}})
		}
	}
	return recs
}

func configErr(key, msg string) error {
	return fmt.Errorf("%w: %s: %s", model.ErrInvalidConfig, key, msg)
}

func opErr(op ConfigOp) error {
	return fmt.Errorf("%w: %s: unknown operation %d (valid: 0 set, 1 delete, 2 append, 3 subtract)", model.ErrInvalidRequest, op.Key, op.Op)
}
