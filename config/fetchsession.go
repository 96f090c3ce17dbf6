package config

// Incremental fetch sessions (KIP-227): max.incremental.fetch.session.cache.slots,
// with Kafka's name and default. 0 turns sessions off (every fetch is full).

import "math"

// defaultFetchSessionSlots is Kafka's default for the key.
const defaultFetchSessionSlots = 1000

func fetchSessionSlotsKey() brokerKey {
	return intKey("max.incremental.fetch.session.cache.slots", "Listeners",
		"Incremental fetch sessions (KIP-227) the broker keeps; 0 turns them off, so every fetch names all its partitions.", "1000", TypeInt,
		intSpec{min: 0, max: math.MaxInt32}, func(c *Config) *int32 { return &c.FetchSessionCacheSlots })
}
