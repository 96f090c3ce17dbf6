package config

// ringtail.max_open_files: the bound on segment file descriptors a broker
// keeps open (storage/fdcache.go). Files of idle partitions are closed,
// least recently used first, once more than this many are open, so the
// partition count is not bounded by RLIMIT_NOFILE. 0 derives the bound
// from the soft limit at start (the limit less a quarter of it, between
// 256 and 4096, for connections); the check against the actual limit
// happens at start (storage.ResolveMaxOpenFiles), since the limit belongs
// to the process, not the file.

import (
	"fmt"
	"math"
)

// minMaxOpenFiles mirrors storage.MinOpenFiles (config does not import
// storage).
const minMaxOpenFiles = 16

func filesKeys() []brokerKey {
	k := intKey("ringtail.max_open_files", "ringtail", "Segment files (.log and index files) kept open at once; the least recently used are closed past it and reopened on demand. 0: the open file limit (RLIMIT_NOFILE) less a quarter of it (256 to 4096) for connections; -1: unbounded.", "0", TypeInt,
		intSpec{min: -1, max: math.MaxInt32, minusOne: "unbounded"}, func(c *Config) *int { return &c.Ringtail.MaxOpenFiles })
	inner := k.check
	k.check = func(c *Config) error {
		if err := inner(c); err != nil {
			return err
		}
		if n := c.Ringtail.MaxOpenFiles; n > 0 && n < minMaxOpenFiles {
			return fmt.Errorf("must be 0 (derived from the open file limit), -1 (unbounded) or at least %d", minMaxOpenFiles)
		}
		return nil
	}
	return []brokerKey{k}
}

func init() { registerAuthorizerKeys(filesKeys()) }
