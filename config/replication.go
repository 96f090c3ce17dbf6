package config

// The follower side of replication with Kafka's names and defaults: how
// long a replica Fetch waits at the leader (woken by the leader's appends,
// so the wait bounds only an idle follower's round trip), the bytes it
// asks for, and how many fetchers (goroutines and connections) a follower
// runs per leader node.

import (
	"fmt"
	"math"
)

// ReplicaFetchConfig is the replica.fetch.* keys and num.replica.fetchers.
type ReplicaFetchConfig struct {
	WaitMaxMs        int32 // replica.fetch.wait.max.ms
	MinBytes         int32 // replica.fetch.min.bytes
	MaxBytes         int32 // replica.fetch.max.bytes (per partition)
	ResponseMaxBytes int32 // replica.fetch.response.max.bytes
	NumFetchers      int32 // num.replica.fetchers (per leader node)
}

func defaultReplicaFetch() ReplicaFetchConfig {
	return ReplicaFetchConfig{WaitMaxMs: 500, MinBytes: 1, MaxBytes: 1 << 20, ResponseMaxBytes: 10 << 20, NumFetchers: 1}
}

func replicaFetchKeys() []brokerKey {
	const grp = "Listeners"
	wait := intKey("replica.fetch.wait.max.ms", grp, "Longest a follower's Fetch waits at the leader for replica.fetch.min.bytes; the leader answers as soon as its log end passes a fetched offset, so this bounds only an idle round. Must stay below replica.lag.time.max.ms.", "500", TypeInt,
		intSpec{min: 0, max: math.MaxInt32, unit: "milliseconds"}, func(c *Config) *int32 { return &c.ReplicaFetch.WaitMaxMs })
	inner := wait.check
	wait.check = func(c *Config) error {
		if err := inner(c); err != nil {
			return err
		}
		if c.ReplicaFetch.WaitMaxMs >= c.ReplicaLagTimeMaxMs {
			return fmt.Errorf("must be below replica.lag.time.max.ms (%d): a follower waiting that long would fall out of the ISR", c.ReplicaLagTimeMaxMs)
		}
		return nil
	}
	return []brokerKey{
		wait,
		intKey("replica.fetch.min.bytes", grp, "Record bytes a follower's Fetch waits for (up to replica.fetch.wait.max.ms) before the leader answers.", "1", TypeInt,
			intSpec{min: 1, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.ReplicaFetch.MinBytes }),
		intKey("replica.fetch.max.bytes", grp, "Record bytes a follower asks for per partition in one Fetch (at least one batch is always returned).", "1048576", TypeInt,
			intSpec{min: 1, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.ReplicaFetch.MaxBytes }),
		intKey("replica.fetch.response.max.bytes", grp, "Record bytes a follower asks for in one Fetch over all its partitions (at least one batch is always returned).", "10485760", TypeInt,
			intSpec{min: 1, max: math.MaxInt32, unit: "bytes"}, func(c *Config) *int32 { return &c.ReplicaFetch.ResponseMaxBytes }),
		intKey("num.replica.fetchers", grp, "Fetchers (each one goroutine with its own connections) a follower runs per leader node; a leader's partitions are split among them by hash, as Kafka does.", "1", TypeInt,
			intSpec{min: 1, max: 64}, func(c *Config) *int32 { return &c.ReplicaFetch.NumFetchers }),
	}
}

func init() { registerAuthorizerKeys(replicaFetchKeys()) }
