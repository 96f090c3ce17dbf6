package restproxy

import (
	"sort"
	"time"
)

// instanceKey names a consumer instance: its group and instance name.
type instanceKey struct{ group, name string }

// instanceUse is what expiry needs to know of an instance: when a request
// last finished with it, and whether one is running now.
type instanceUse struct {
	last time.Time
	busy bool
}

// expired is the expiry step: the instances idle for at least timeout at
// now, in a stable order. One that a request is using is never expired,
// however long that request runs (a long poll is not idleness).
func expired(uses map[instanceKey]instanceUse, now time.Time, timeout time.Duration) []instanceKey {
	var out []instanceKey
	for k, u := range uses {
		if !u.busy && now.Sub(u.last) >= timeout {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].group != out[j].group {
			return out[i].group < out[j].group
		}
		return out[i].name < out[j].name
	})
	return out
}
