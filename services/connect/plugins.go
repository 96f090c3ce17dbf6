package connect

// Connector plugins and Kafka's ConfigDef-style validation: the config keys
// each connector takes, their defaults, and the per-field result that
// PUT /connector-plugins/{p}/config/validate answers.

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Version is the Kafka Connect version this worker speaks for (GET / and
// the plugin list).
const Version = "3.9.0"

// Connector config keys every connector takes.
const (
	keyName           = "name"
	keyConnectorClass = "connector.class"
	keyTasksMax       = "tasks.max"
	keyKeyConverter   = "key.converter"
	keyValueConverter = "value.converter"
	keyTopics         = "topics"
	keyTopicsRegex    = "topics.regex"
	keyTransforms     = "transforms"
	keyErrorTolerance = "errors.tolerance"
)

// ConnectorType is "source" or "sink".
type ConnectorType string

const (
	TypeSource ConnectorType = "source"
	TypeSink   ConnectorType = "sink"
)

// ConfigKey is one key of a connector's config, Kafka's ConfigDef entry.
type ConfigKey struct {
	Name       string
	Type       string // STRING, INT, LIST, CLASS, BOOLEAN
	Required   bool   // no default: Kafka's NO_DEFAULT_VALUE
	Default    *string
	Importance string // HIGH, MEDIUM, LOW
	Doc        string
	Group      string
	Order      int
	// Check returns an error message for a bad value ("" when fine);
	// value is the configured value or the default.
	Check func(value string) string
}

// Plugin is a connector class this worker runs.
type Plugin struct {
	Class   string
	Aliases []string // short names connector.class may use
	Type    ConnectorType
	Keys    []ConfigKey // the connector's own keys, after the common ones
	// Cross checks whole-config rules; it returns errors by key.
	Cross func(cfg map[string]string) map[string][]string
	// TaskConfigs splits a connector's config into at most maxTasks task
	// configs.
	TaskConfigs func(cfg map[string]string, maxTasks int) []map[string]string
	NewSource   func() SourceTask
	NewSink     func() SinkTask
}

func strp(s string) *string { return &s }

var plugins = []*Plugin{fileSourcePlugin, fileSinkPlugin}

// Plugins lists the connector plugins, sorted by class.
func Plugins() []*Plugin {
	out := append([]*Plugin(nil), plugins...)
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

// FindPlugin finds a plugin by full class name or alias (Kafka accepts the
// simple class name and that name without its "Connector" suffix).
func FindPlugin(name string) *Plugin {
	name = strings.TrimSpace(name)
	for _, p := range plugins {
		if p.Class == name {
			return p
		}
		for _, a := range p.Aliases {
			if a == name {
				return p
			}
		}
	}
	return nil
}

func checkPositiveInt(v string) string {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Sprintf("Invalid value %s for configuration: Not a number of type INT", v)
	}
	if n < 1 {
		return fmt.Sprintf("Invalid value %d for configuration: Value must be at least 1", n)
	}
	return ""
}

func checkConverter(v string) string {
	if strings.TrimSpace(v) == "" {
		return ""
	}
	if !knownConverter(v) {
		return fmt.Sprintf("Invalid value %s for configuration: Class %s could not be found. Valid values: %s", v, v, strings.Join(converterClasses(), ", "))
	}
	return ""
}

// commonKeys are ConnectorConfig's keys, in Kafka's "Common" group.
var commonKeys = []ConfigKey{
	{Name: keyName, Type: "STRING", Required: true, Importance: "HIGH", Group: "Common", Order: 1,
		Doc: "Globally unique name to use for this connector.",
		Check: func(v string) string {
			if strings.TrimSpace(v) == "" {
				return "String must be non-empty"
			}
			return ""
		}},
	{Name: keyConnectorClass, Type: "STRING", Required: true, Importance: "HIGH", Group: "Common", Order: 2,
		Doc: "Name or alias of the class for this connector: FileStreamSource, FileStreamSink, or their full org.apache.kafka.connect.file names."},
	{Name: keyTasksMax, Type: "INT", Default: strp("1"), Importance: "HIGH", Group: "Common", Order: 3,
		Doc: "Maximum number of tasks to use for this connector.", Check: checkPositiveInt},
	{Name: keyKeyConverter, Type: "CLASS", Importance: "LOW", Group: "Common", Order: 5,
		Doc: "Converter class for record keys; overrides the worker's key.converter.", Check: checkConverter},
	{Name: keyValueConverter, Type: "CLASS", Importance: "LOW", Group: "Common", Order: 6,
		Doc: "Converter class for record values; overrides the worker's value.converter.", Check: checkConverter},
	{Name: "header.converter", Type: "CLASS", Importance: "LOW", Group: "Common", Order: 7,
		Doc: "Accepted for compatibility; the file connectors carry no headers."},
	{Name: keyTransforms, Type: "LIST", Default: strp(""), Importance: "LOW", Group: "Transforms", Order: 1,
		Doc: "Aliases for the transformations; single message transforms are not supported by Ringtail's worker.",
		Check: func(v string) string {
			if strings.TrimSpace(v) != "" {
				return "Single message transforms are not supported by Ringtail's Connect worker"
			}
			return ""
		}},
	{Name: keyErrorTolerance, Type: "STRING", Default: strp("none"), Importance: "MEDIUM", Group: "Error Handling", Order: 2,
		Doc: "Behavior for tolerating errors during connector operation; Ringtail's worker supports 'none' (a bad record fails the task).",
		Check: func(v string) string {
			if v != "none" {
				return fmt.Sprintf("Invalid value %s for configuration errors.tolerance: String must be one of: none", v)
			}
			return ""
		}},
}

// sinkKeys are SinkConnectorConfig's topic keys.
var sinkKeys = []ConfigKey{
	{Name: keyTopics, Type: "LIST", Default: strp(""), Importance: "HIGH", Group: "Common", Order: 4,
		Doc: "List of topics to consume, separated by commas"},
	{Name: keyTopicsRegex, Type: "STRING", Default: strp(""), Importance: "HIGH", Group: "Common", Order: 4,
		Doc: "Regular expression giving topics to consume.",
		Check: func(v string) string {
			if _, err := regexp.Compile(v); err != nil {
				return fmt.Sprintf("Invalid value %s for configuration topics.regex: %v", v, err)
			}
			return ""
		}},
}

// sinkCross is Kafka's rule: exactly one of topics and topics.regex.
func sinkCross(cfg map[string]string) map[string][]string {
	topics := strings.TrimSpace(cfg[keyTopics]) != ""
	regex := strings.TrimSpace(cfg[keyTopicsRegex]) != ""
	switch {
	case topics && regex:
		msg := "topics and topics.regex are mutually exclusive options, but both are set."
		return map[string][]string{keyTopics: {msg}, keyTopicsRegex: {msg}}
	case !topics && !regex:
		msg := "Must configure one of topics or topics.regex"
		return map[string][]string{keyTopics: {msg}, keyTopicsRegex: {msg}}
	}
	return nil
}

// ConfigInfos is Kafka's validation result.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// ConfigInfo is one key: its definition and its value's check.
type ConfigInfo struct {
	Definition ConfigKeyInfo   `json:"definition"`
	Value      ConfigValueInfo `json:"value"`
}

// ConfigKeyInfo is Kafka's ConfigKeyInfo.
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         string   `json:"group"`
	OrderInGroup  int      `json:"order_in_group"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
}

// ConfigValueInfo is Kafka's ConfigValueInfo.
type ConfigValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// Errors returns the validation's messages as "key: message" lines.
func (c *ConfigInfos) Errors() []string {
	var out []string
	for _, ci := range c.Configs {
		for _, e := range ci.Value.Errors {
			out = append(out, ci.Definition.Name+": "+e)
		}
	}
	return out
}

// Validate checks a connector config against its plugin's keys. With no
// connector.class, or an unknown one, only the common keys are reported,
// connector.class carrying the error; plugin is then nil.
func Validate(cfg map[string]string) (*ConfigInfos, *Plugin) {
	class := strings.TrimSpace(cfg[keyConnectorClass])
	p := FindPlugin(class)
	keys := append([]ConfigKey(nil), commonKeys...)
	name := class
	cross := map[string][]string{}
	merge := func(m map[string][]string) {
		for k, v := range m {
			cross[k] = append(cross[k], v...)
		}
	}
	if p != nil {
		name = p.Class
		if p.Type == TypeSink {
			keys = append(keys, sinkKeys...)
			merge(sinkCross(cfg))
		}
		keys = append(keys, p.Keys...)
		if p.Cross != nil {
			merge(p.Cross(cfg))
		}
	}
	infos := &ConfigInfos{Name: name, Groups: []string{}}
	seenGroup := map[string]bool{}
	for _, k := range keys {
		if !seenGroup[k.Group] {
			seenGroup[k.Group] = true
			infos.Groups = append(infos.Groups, k.Group)
		}
		val, set := cfg[k.Name]
		ci := ConfigInfo{
			Definition: ConfigKeyInfo{Name: k.Name, Type: k.Type, Required: k.Required,
				DefaultValue: k.Default, Importance: k.Importance, Documentation: k.Doc, Group: k.Group,
				OrderInGroup: k.Order, Width: "NONE", DisplayName: k.Name, Dependents: []string{}},
			Value: ConfigValueInfo{Name: k.Name, RecommendedValues: []string{}, Errors: []string{}, Visible: true},
		}
		if set {
			v := val
			ci.Value.Value = &v
		} else if k.Default != nil {
			ci.Value.Value = k.Default
		}
		switch {
		case k.Name == keyConnectorClass && p == nil:
			if class == "" {
				ci.Value.Errors = append(ci.Value.Errors, `Missing required configuration "connector.class" which has no default value.`)
			} else {
				ci.Value.Errors = append(ci.Value.Errors, fmt.Sprintf("Invalid value %s for configuration connector.class: Class %s could not be found. Valid values: %s",
					class, class, strings.Join(pluginNames(), ", ")))
			}
		case !set && ci.Definition.Required:
			ci.Value.Errors = append(ci.Value.Errors, fmt.Sprintf("Missing required configuration %q which has no default value.", k.Name))
		case k.Check != nil && ci.Value.Value != nil:
			if msg := k.Check(*ci.Value.Value); msg != "" {
				ci.Value.Errors = append(ci.Value.Errors, msg)
			}
		}
		ci.Value.Errors = append(ci.Value.Errors, cross[k.Name]...)
		infos.ErrorCount += len(ci.Value.Errors)
		infos.Configs = append(infos.Configs, ci)
	}
	return infos, p
}

func pluginNames() []string {
	var out []string
	for _, p := range Plugins() {
		out = append(out, p.Class)
	}
	return out
}

// configValue is cfg[key], or the key's default when unset.
func configValue(cfg map[string]string, p *Plugin, key string) string {
	if v, ok := cfg[key]; ok {
		return v
	}
	for _, ks := range [][]ConfigKey{commonKeys, sinkKeys, p.Keys} {
		for _, k := range ks {
			if k.Name == key && k.Default != nil {
				return *k.Default
			}
		}
	}
	return ""
}

// splitList splits a LIST value at commas, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
