package config

// Client quota sampling and broker-wide connection limits, with Kafka's
// names and defaults: quota.window.num, quota.window.size.seconds,
// max.connections, max.connections.per.ip, max.connections.per.ip.overrides.
// The quotas themselves are metadata (AlterClientQuotas), not config.

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// QuotaConfig is the quota and connection-limit keys.
type QuotaConfig struct {
	WindowNum         int32 // quota.window.num: samples a client rate is measured over
	WindowSizeSeconds int32 // quota.window.size.seconds: length of one sample
	MaxConnections    int32 // max.connections: open client connections of the broker, all listeners
	// MaxConnectionsPerIP is max.connections.per.ip; PerIPOverrides is
	// max.connections.per.ip.overrides, host (name or address) -> limit.
	MaxConnectionsPerIP int32
	PerIPOverrides      []ConnectionOverride
}

// ConnectionOverride is one host:count of max.connections.per.ip.overrides.
type ConnectionOverride struct {
	Host  string
	Limit int32
}

func defaultQuotas() QuotaConfig {
	return QuotaConfig{WindowNum: 11, WindowSizeSeconds: 1, MaxConnections: math.MaxInt32, MaxConnectionsPerIP: math.MaxInt32}
}

const quotaGroup = "Quotas"

func quotaWindowNumKey() brokerKey {
	return intKey("quota.window.num", quotaGroup, "Samples a client's rate is measured over, for client quotas.", "11", TypeInt,
		intSpec{min: 1, max: math.MaxInt32}, func(c *Config) *int32 { return &c.Quotas.WindowNum })
}

func quotaWindowSizeKey() brokerKey {
	return intKey("quota.window.size.seconds", quotaGroup, "Length of each of those samples.", "1", TypeInt,
		intSpec{min: 1, max: math.MaxInt32, unit: "seconds"}, func(c *Config) *int32 { return &c.Quotas.WindowSizeSeconds })
}

func maxConnectionsKey() brokerKey {
	return intKey("max.connections", quotaGroup, "Open client connections the broker accepts over all its Kafka listeners; further ones are closed at once.", "2147483647", TypeInt,
		intSpec{min: 0, max: math.MaxInt32}, func(c *Config) *int32 { return &c.Quotas.MaxConnections })
}

func maxConnectionsPerIPKey() brokerKey {
	k := intKey("max.connections.per.ip", quotaGroup, "Open connections the broker accepts from one IP address; further ones are closed at once.", "2147483647", TypeInt,
		intSpec{min: 0, max: math.MaxInt32}, func(c *Config) *int32 { return &c.Quotas.MaxConnectionsPerIP })
	inner := k.check
	k.check = func(c *Config) error {
		if err := inner(c); err != nil {
			return err
		}
		if c.Quotas.MaxConnectionsPerIP == 0 && len(c.Quotas.PerIPOverrides) == 0 {
			return errors.New("0 needs max.connections.per.ip.overrides to allow some hosts (as in Kafka); it would refuse every connection")
		}
		return nil
	}
	return k
}

// ParseConnectionOverrides parses "host:count,host:count" (an IPv6 address
// in brackets or bare: the count follows the last colon).
func ParseConnectionOverrides(v string) ([]ConnectionOverride, error) {
	var out []ConnectionOverride
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		i := strings.LastIndex(e, ":")
		if i <= 0 {
			return nil, fmt.Errorf("%q is not host:count", e)
		}
		host := strings.Trim(strings.TrimSpace(e[:i]), "[]")
		n, err := strconv.ParseInt(strings.TrimSpace(e[i+1:]), 10, 32)
		if err != nil || n < 0 || host == "" {
			return nil, fmt.Errorf("%q is not host:count with a count from 0 to 2147483647", e)
		}
		for _, o := range out {
			if o.Host == host {
				return nil, fmt.Errorf("host %s appears twice", host)
			}
		}
		out = append(out, ConnectionOverride{Host: host, Limit: int32(n)})
	}
	return out, nil
}

func connectionOverridesString(os []ConnectionOverride) string {
	parts := make([]string, len(os))
	for i, o := range os {
		h := o.Host
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		parts[i] = h + ":" + strconv.Itoa(int(o.Limit))
	}
	return strings.Join(parts, ",")
}

func perIPOverridesKey() brokerKey {
	return brokerKey{
		name: "max.connections.per.ip.overrides", group: quotaGroup, typ: TypeString, def: `""`,
		doc: "Per-host exceptions to max.connections.per.ip, host:count,host:count (a host name or an address).",
		parse: func(c *Config, v any) error {
			s, ok := v.(string)
			if !ok {
				return errors.New("must be a string of host:count,host:count")
			}
			os, err := ParseConnectionOverrides(s)
			if err != nil {
				return err
			}
			c.Quotas.PerIPOverrides = os
			return nil
		},
		toml: func(c *Config) string { return tomlQuote(connectionOverridesString(c.Quotas.PerIPOverrides)) },
		show: func(c *Config) string { return connectionOverridesString(c.Quotas.PerIPOverrides) },
	}
}

// TOMLKey is name as a TOML key: quoted when another key continues it
// ("max.connections" and "max.connections.per.ip"), since TOML cannot make
// a dotted key both a value and a table.
func TOMLKey(name string) string {
	if _, ok := keyIndex[name]; !ok {
		return name
	}
	for i := range brokerKeys {
		if strings.HasPrefix(brokerKeys[i].name, name+".") {
			return strconv.Quote(name)
		}
	}
	return name
}
