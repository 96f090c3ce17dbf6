package config

// The io_config_file of `ringtail iotune` (Redpanda's rpk iotune as the
// model): iotune measures the data directory's device and writes the
// [ringtail] settings it recommends to a TOML file; serve reads that file
// when it exists and applies each of its keys that server.toml does not
// set itself (explicit server.toml values win).

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// DefaultIOConfigFile is where `ringtail iotune` writes and serve looks.
const DefaultIOConfigFile = "/etc/ringtail/io-config.toml"

// IOConfigKeys are the keys an io config file may set, as [ringtail]
// table keys.
var IOConfigKeys = []string{"shards", "io_engine", "group_commit", "pin_shards"}

func ioConfigKeys() []brokerKey {
	return []brokerKey{
		stringKey("ringtail.io_config_file", "ringtail", "Settings written by `ringtail iotune` (shards, io_engine, group_commit, pin_shards), applied where this file does not set them; \"\" reads none; a missing file is skipped.", `"`+DefaultIOConfigFile+`"`,
			func(c *Config) *string { return &c.Ringtail.IOConfigFile }, nil),
	}
}

func init() { registerAuthorizerKeys(ioConfigKeys()) }

// IOConfigApplied is what ApplyIOConfig did.
type IOConfigApplied struct {
	Path    string
	Applied []string // "shards = 1", in key order
	Ignored []string // keys server.toml sets itself
}

// ApplyIOConfig reads c.Ringtail.IOConfigFile and assigns each of its keys
// that the server.toml did not set. A missing file (or "") gives a nil
// result and no error; a file with an unknown key or a bad value is an
// error naming the file, the key and what is valid, and leaves c as it was.
func ApplyIOConfig(c *Config) (*IOConfigApplied, error) {
	path := c.Ringtail.IOConfigFile
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ringtail.io_config_file: %w", err)
	}
	values, err := ParseIOConfig(data)
	if err != nil {
		return nil, fmt.Errorf("ringtail.io_config_file %s: %w", path, err)
	}
	res := &IOConfigApplied{Path: path}
	next := *c
	for _, short := range sortedKeys(values) {
		name := ringtailPrefix + short
		if c.Set[name] {
			res.Ignored = append(res.Ignored, short)
			continue
		}
		k := keyIndex[name]
		if err := k.parse(&next, values[short]); err != nil {
			return nil, fmt.Errorf("ringtail.io_config_file %s: %s = %s: %w", path, short, literal(values[short]), err)
		}
		if k.check != nil {
			if err := k.check(&next); err != nil {
				return nil, fmt.Errorf("ringtail.io_config_file %s: %s = %s: %w", path, short, literal(values[short]), err)
			}
		}
		res.Applied = append(res.Applied, short+" = "+literal(values[short]))
	}
	*c = next
	return res, nil
}

// ParseIOConfig reads an io config file: a [ringtail] table of
// IOConfigKeys only.
func ParseIOConfig(data []byte) (map[string]any, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid TOML: %s", strings.TrimPrefix(err.Error(), "toml: "))
	}
	values := map[string]any{}
	for k, v := range doc {
		rt, ok := v.(map[string]any)
		if k != "ringtail" || !ok {
			return nil, fmt.Errorf("key %q: an io config file holds only a [ringtail] table of %s", k, strings.Join(IOConfigKeys, ", "))
		}
		for rk, rv := range rt {
			known := false
			for _, want := range IOConfigKeys {
				known = known || rk == want
			}
			if !known {
				return nil, fmt.Errorf("[ringtail] key %q: an io config file may set only %s", rk, strings.Join(IOConfigKeys, ", "))
			}
			values[rk] = rv
		}
	}
	return values, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
