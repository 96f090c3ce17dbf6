package daemon

import (
	"log/slog"

	"github.com/ringtail/ringtail/admin"
	"github.com/ringtail/ringtail/config"
)

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

// logAuthorizer says at startup whether requests are authorized, and who
// may do everything.
func logAuthorizer(logger *slog.Logger, cfg *config.Config) {
	a := cfg.Authorizer
	if !a.Enabled() {
		logger.Info("authorization off: every client may do everything (authorizer.class.name is unset)")
		return
	}
	logger.Info("authorization on", "authorizer", a.ClassName, "super_users", a.SuperUserList(),
		"allow_everyone_if_no_acl_found", a.AllowEveryoneIfNoACLFound)
}
