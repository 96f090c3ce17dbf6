package daemon

import "github.com/ringtail/ringtail/admin"

// AuthorizationDenied sums the kafka servers' authorization denials by
// operation and resource type (ringtail_authorization_denied_total).
func (s adminSource) AuthorizationDenied() []admin.DeniedCount {
	if !s.n.ops.ready.Load() {
		return nil
	}
	type key struct{ op, rt string }
	sum := map[key]int64{}
	var order []key
	for _, srv := range s.n.servers {
		for _, d := range srv.DeniedCounts() {
			k := key{d.Operation, d.ResourceType}
			if _, ok := sum[k]; !ok {
				order = append(order, k)
			}
			sum[k] += d.Count
		}
	}
	out := make([]admin.DeniedCount, 0, len(order))
	for _, k := range order {
		out = append(out, admin.DeniedCount{Operation: k.op, ResourceType: k.rt, Count: sum[k]})
	}
	return out
}
