package config

// Conversion between classic and consumer (KIP-848) groups:
// group.consumer.migration.policy, with Kafka's name, values and default.

func groupConvertKeys() []brokerKey {
	k := enumKey("group.consumer.migration.policy",
		"Which online conversions between classic and consumer (KIP-848) groups are allowed: bidirectional, upgrade (classic to consumer), downgrade (consumer to classic) or disabled. Empty groups convert whatever it says.",
		`"bidirectional"`, func(c *Config) *string { return &c.GroupConsumerMigrationPolicy },
		"bidirectional", "upgrade", "downgrade", "disabled")
	k.group = "Groups"
	return []brokerKey{k}
}

func init() { registerAuthorizerKeys(groupConvertKeys()) }
