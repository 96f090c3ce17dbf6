package kafka

// UpdateFeatures (key 57): versions 0-2 (KIP-584, KIP-778).
//
// Ringtail's feature levels follow from its build (features.go), not from
// a metadata log, so nothing can be changed. As Kafka's
// FeatureControlManager, a request succeeds or fails as a whole:
//   - every update that asks for a feature's current finalized level
//     (0 for the ones not finalized) is a success with nothing to do;
//   - a feature Ringtail does not know, or any other level, is
//     INVALID_UPDATE_VERSION with a message naming it and its level;
//   - a feature named twice, or a v1+ upgrade_type other than 1 (upgrade),
//     2 (safe downgrade) or 3 (unsafe downgrade), is INVALID_REQUEST.
//
// The first failure is the top-level error; v0-v1 repeat it (or success)
// for each feature named; v2 has no per-feature results. validate_only
// (v1+) changes nothing, since nothing is applied anyway.
// Authorization: ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

func handleUpdateFeatures(s *Server, cx *reqCtx, req *kmsg.UpdateFeaturesRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	var fail error
	if !cx.authorizeCluster(acl.OpAlter) {
		fail = kerr.ClusterAuthorizationFailed
	} else {
		fail = checkFeatureUpdates(req)
	}
	code := int16(0)
	if fail != nil {
		code = errorCode(s.log, fail)
		resp.ErrorCode, resp.ErrorMessage = code, errorMessage(fail)
	}
	if req.Version < 2 {
		for _, u := range req.FeatureUpdates {
			r := kmsg.NewUpdateFeaturesResponseResult()
			r.Feature, r.ErrorCode, r.ErrorMessage = u.Feature, code, resp.ErrorMessage
			resp.Results = append(resp.Results, r)
		}
	}
	return resp, nil
}

// checkFeatureUpdates is the first update that cannot be honored.
func checkFeatureUpdates(req *kmsg.UpdateFeaturesRequest) error {
	seen := map[string]bool{}
	for _, u := range req.FeatureUpdates {
		if seen[u.Feature] {
			return fmt.Errorf("%w: feature %s appears more than once", kerr.InvalidRequest, u.Feature)
		}
		seen[u.Feature] = true
		if req.Version >= 1 && (u.UpgradeType < 1 || u.UpgradeType > 3) {
			return fmt.Errorf("%w: feature %s: upgrade type %d is not 1, 2 or 3", kerr.InvalidRequest, u.Feature, u.UpgradeType)
		}
		known := false
		for _, f := range features() {
			if f.name != u.Feature {
				continue
			}
			known = true
			if max(u.MaxVersionLevel, 0) != f.level {
				return fmt.Errorf("%w: feature %s stays at level %d: Ringtail's feature levels follow its build", kerr.InvalidUpdateVersion, f.name, f.level)
			}
		}
		if !known {
			return fmt.Errorf("%w: Ringtail does not support feature %s", kerr.InvalidUpdateVersion, u.Feature)
		}
	}
	return nil
}
