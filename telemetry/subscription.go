// Package telemetry is the broker side of KIP-714 client telemetry: client
// metrics subscriptions (the CLIENT_METRICS config resource), the state of
// each pushing client instance, and the decoding of the OTLP metrics they
// push into bounded series for the Prometheus endpoint.
//
// It is pure logic with time passed in; the kafka package maps its errors
// to Kafka error codes.
package telemetry

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/model"
)

// The keys of a CLIENT_METRICS config resource (Kafka's ClientMetricsConfigs).
const (
	KeyMetrics  = "metrics"     // comma-separated metric name prefixes; "*" for all
	KeyInterval = "interval.ms" // push interval
	KeyMatch    = "match"       // comma-separated selector=regex of clients
)

// Push interval limits and default (Kafka's ClientMetricsConfigs).
const (
	DefaultIntervalMs = 300_000
	MinIntervalMs     = 100
	MaxIntervalMs     = 3_600_000
)

// The client selectors a match may use (Kafka's ALLOWED_MATCH_PARAMS).
const (
	MatchInstanceID      = "client_instance_id"
	MatchClientID        = "client_id"
	MatchSoftwareName    = "client_software_name"
	MatchSoftwareVersion = "client_software_version"
	MatchSourceAddress   = "client_source_address"
	MatchSourcePort      = "client_source_port"
)

var matchKeys = []string{MatchInstanceID, MatchClientID, MatchSoftwareName, MatchSoftwareVersion, MatchSourceAddress, MatchSourcePort}

// Subscription is one parsed CLIENT_METRICS resource.
type Subscription struct {
	Name       string
	Metrics    []string // prefixes; "*" for every metric
	IntervalMs int32
	Match      map[string]*regexp.Regexp // selector -> whole-value regex
}

// ConfigKeys lists the valid keys of a subscription, for DescribeConfigs.
func ConfigKeys() []string { return []string{KeyInterval, KeyMatch, KeyMetrics} }

// ConfigDefault is a key's value when the subscription does not set it.
func ConfigDefault(key string) string {
	if key == KeyInterval {
		return strconv.Itoa(DefaultIntervalMs)
	}
	return ""
}

// ValidateConfig checks one subscription's configs as Kafka does: a name,
// known keys, interval.ms within [100, 3600000], and match entries of
// known selectors with valid (RE2) regexes.
func ValidateConfig(name string, configs map[string]string) error {
	_, err := ParseSubscription(name, configs)
	return err
}

// ParseSubscription parses one subscription's configs.
func ParseSubscription(name string, configs map[string]string) (Subscription, error) {
	s := Subscription{Name: name, IntervalMs: DefaultIntervalMs}
	if name == "" {
		return s, fmt.Errorf("%w: client metrics subscription name must not be empty", model.ErrInvalidRequest)
	}
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := configs[k]
		switch k {
		case KeyMetrics:
			s.Metrics = splitList(v)
		case KeyInterval:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil || n < MinIntervalMs || n > MaxIntervalMs {
				return s, fmt.Errorf("%w: %s=%q: interval must be an integer between %d and %d", model.ErrInvalidConfig, k, v, MinIntervalMs, MaxIntervalMs)
			}
			s.IntervalMs = int32(n)
		case KeyMatch:
			m, err := parseMatch(v)
			if err != nil {
				return s, err
			}
			s.Match = m
		default:
			return s, fmt.Errorf("%w: unknown client metrics configuration %q (valid: %s)", model.ErrInvalidRequest, k, strings.Join(ConfigKeys(), ", "))
		}
	}
	return s, nil
}

func splitList(v string) []string {
	var out []string
	for _, it := range strings.Split(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func parseMatch(v string) (map[string]*regexp.Regexp, error) {
	m := map[string]*regexp.Regexp{}
	for _, it := range splitList(v) {
		k, re, ok := strings.Cut(it, "=")
		k = strings.TrimSpace(k)
		if !ok || !slices.Contains(matchKeys, k) {
			return nil, fmt.Errorf("%w: %s: illegal client matching pattern %q (want selector=regex, selectors: %s)", model.ErrInvalidConfig, KeyMatch, it, strings.Join(matchKeys, ", "))
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: %s: selector %q given twice", model.ErrInvalidConfig, KeyMatch, k)
		}
		r, err := regexp.Compile("^(?:" + strings.TrimSpace(re) + ")$")
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s: invalid regular expression %q: %v", model.ErrInvalidConfig, KeyMatch, k, re, err)
		}
		m[k] = r
	}
	return m, nil
}

// InstanceID is a client instance id (a Kafka Uuid).
type InstanceID [16]byte

// String is Kafka's form of a Uuid: URL-safe base64 without padding.
func (id InstanceID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ClientMeta is what a subscription's match selects clients by.
type ClientMeta struct {
	InstanceID      InstanceID
	ClientID        string
	SoftwareName    string
	SoftwareVersion string
	SourceAddress   string
	SourcePort      string
}

func (c ClientMeta) value(key string) string {
	switch key {
	case MatchInstanceID:
		return c.InstanceID.String()
	case MatchClientID:
		return c.ClientID
	case MatchSoftwareName:
		return c.SoftwareName
	case MatchSoftwareVersion:
		return c.SoftwareVersion
	case MatchSourceAddress:
		return c.SourceAddress
	case MatchSourcePort:
		return c.SourcePort
	}
	return ""
}

// Matches reports whether every selector of s matches the client (a
// subscription without match selects every client).
func (s *Subscription) Matches(c ClientMeta) bool {
	for k, re := range s.Match {
		if !re.MatchString(c.value(k)) {
			return false
		}
	}
	return true
}

// Resolved is what a client is subscribed to: the union of the metrics of
// every matching subscription, pushed at the shortest of their intervals.
type Resolved struct {
	// Metrics are the requested prefixes: nil for none, [""] for all
	// (KIP-714's encoding of "*").
	Metrics    []string
	IntervalMs int32
}

// Resolve merges the subscriptions that match c. No match: no metrics,
// the default interval.
func Resolve(subs []Subscription, c ClientMeta) Resolved {
	r := Resolved{IntervalMs: DefaultIntervalMs}
	set := map[string]bool{}
	matched := false
	for i := range subs {
		s := &subs[i]
		if len(s.Metrics) == 0 || !s.Matches(c) {
			continue
		}
		if !matched || s.IntervalMs < r.IntervalMs {
			r.IntervalMs = s.IntervalMs
		}
		matched = true
		for _, m := range s.Metrics {
			set[m] = true
		}
	}
	if set["*"] {
		r.Metrics = []string{""}
		return r
	}
	for m := range set {
		r.Metrics = append(r.Metrics, m)
	}
	sort.Strings(r.Metrics)
	return r
}

// Wants reports whether a pushed metric name was requested.
func (r *Resolved) Wants(name string) bool {
	for _, p := range r.Metrics {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
