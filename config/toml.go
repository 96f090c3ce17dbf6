package config

import "strings"

var groupTitles = []struct{ group, title string }{
	{"Node", "Node and roles"},
	{"Listeners", "Listeners and the controller quorum"},
	{"Security", "TLS of SSL listeners"},
	{"Quotas", "Client quotas and connection limits"},
	{"Storage", "Log segments, sizes and flushing"},
	{"Retention", "Retention"},
	{"Cleaner", "Log cleaner (compaction of topics with cleanup.policy=compact)"},
	{"Topics", "Topic defaults"},
	{"Groups", "Consumer groups"},
	{"Transactions", "Transactions"},
	{"Telemetry", "Client telemetry (KIP-714); subscriptions are CLIENT_METRICS configs"},
}

const defaultHeader = `# Ringtail server configuration (server.toml).
#
# Keys are Apache Kafka's server.properties names written as TOML dotted keys,
# so "log.retention.hours = 168" means what it means in Kafka. Values take the
# same form as in server.properties: a list is a comma-separated string (a
# TOML array works too); numbers and booleans may be bare or quoted.
#
# Every supported key is listed, commented out, with its default: uncomment a
# line to change it. Kafka keys go above the [ringtail] table at the end, since
# a key written after a table header belongs to that table.
`

// DefaultTOML is a commented server.toml listing every supported key with its
// default and a one-line description. Parsing it gives Default(), and so does
// parsing it with every key line uncommented.
func DefaultTOML() string {
	var b strings.Builder
	b.WriteString(defaultHeader)
	for _, g := range groupTitles {
		b.WriteString("\n## " + g.title + "\n")
		for i := range brokerKeys {
			if k := &brokerKeys[i]; k.group == g.group {
				b.WriteString("\n# " + k.doc + "\n# " + TOMLKey(k.name) + " = " + k.def + "\n")
			}
		}
	}
	b.WriteString("\n## Ringtail's own settings, with no Kafka equivalent.\n[ringtail]\n")
	for i := range brokerKeys {
		if k := &brokerKeys[i]; k.group == "ringtail" {
			b.WriteString("\n# " + k.doc + "\n# " + strings.TrimPrefix(k.name, ringtailPrefix) + " = " + k.def + "\n")
		}
	}
	return b.String()
}

// TOML writes c as a server.toml that sets every key explicitly; parsing it
// gives c back (with every key in Set). Tools and tests use it to write the
// configuration of a node they start.
func (c *Config) TOML() string {
	var b, rt strings.Builder
	for i := range brokerKeys {
		k := &brokerKeys[i]
		if k.toml == nil {
			continue
		}
		// An unset protocol map stays unset: set, even to its default,
		// it must name every listener (as in Kafka), which an unset one
		// need not.
		if k.name == "listener.security.protocol.map" && !c.Set[k.name] {
			continue
		}
		if short, ok := strings.CutPrefix(k.name, ringtailPrefix); ok {
			rt.WriteString(short + " = " + k.toml(c) + "\n")
			continue
		}
		b.WriteString(TOMLKey(k.name) + " = " + k.toml(c) + "\n")
	}
	b.WriteString(c.listenerOverridesTOML())
	b.WriteString("\n[ringtail]\n")
	b.WriteString(rt.String())
	return b.String()
}
