package kafka

// Tests that ApiVersions reports the feature levels Kafka 4 clients read,
// with KAFKA-17011's v3 rule for a supported min of 0.

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestApiVersionsFeatures(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	for _, v := range []int16{3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		resp := c.roundTrip(req, int32(v)).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 || resp.FinalizedFeaturesEpoch < 0 {
			t.Fatalf("v%d: code %d, epoch %d", v, resp.ErrorCode, resp.FinalizedFeaturesEpoch)
		}
		supported := map[string][2]int16{}
		for _, f := range resp.SupportedFeatures {
			supported[f.Name] = [2]int16{f.MinVersion, f.MaxVersion}
			if v < 4 && f.MinVersion == 0 {
				t.Fatalf("v%d: %s has min 0 (KAFKA-17011)", v, f.Name)
			}
		}
		finalized := map[string]int16{}
		for _, f := range resp.FinalizedFeatures {
			finalized[f.Name] = f.MaxVersionLevel
		}
		if finalized["metadata.version"] != 25 || supported["metadata.version"] != [2]int16{7, 25} {
			t.Fatalf("v%d metadata.version: finalized %d, supported %v", v, finalized["metadata.version"], supported["metadata.version"])
		}
		// Levels Ringtail does not run are not finalized; below v4 a
		// feature with no level above 0 is not listed as supported.
		for _, name := range []string{"kraft.version"} {
			if _, ok := finalized[name]; ok {
				t.Fatalf("v%d: %s finalized", v, name)
			}
			if _, ok := supported[name]; ok != (v >= 4) {
				t.Fatalf("v%d: %s supported %v", v, name, ok)
			}
		}
		_, hasShareFetch := apis[shareFetchKey]
		if want := map[bool]int16{true: 1}[hasShareFetch]; finalized["share.version"] != want {
			t.Fatalf("v%d: share.version %d, want %d", v, finalized["share.version"], want)
		}
		// KIP-890 part 2 is served: transaction.version 2.
		if wantMin := map[bool]int16{true: 1, false: 0}[v < 4]; finalized["transaction.version"] != 2 || supported["transaction.version"] != [2]int16{wantMin, 2} {
			t.Fatalf("v%d transaction.version: finalized %d, supported %v", v, finalized["transaction.version"], supported["transaction.version"])
		}
		_, hasCGH := apis[consumerGroupHeartbeatKey]
		if want := map[bool]int16{true: 1}[hasCGH]; finalized["group.version"] != want {
			t.Fatalf("v%d: group.version %d, want %d", v, finalized["group.version"], want)
		}
	}
}

func TestUpdateFeatures(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	update := func(v int16, updates ...kmsg.UpdateFeaturesRequestFeatureUpdate) *kmsg.UpdateFeaturesResponse {
		req := kmsg.NewPtrUpdateFeaturesRequest()
		req.Version, req.FeatureUpdates = v, updates
		return c.roundTrip(req, int32(v)).(*kmsg.UpdateFeaturesResponse)
	}
	fu := func(name string, level int16) kmsg.UpdateFeaturesRequestFeatureUpdate {
		return kmsg.UpdateFeaturesRequestFeatureUpdate{Feature: name, MaxVersionLevel: level, UpgradeType: 1}
	}
	for _, v := range []int16{0, 1, 2} {
		// The current levels: success, nothing to do.
		ok := update(v, fu("metadata.version", 25), fu("share.version", featureLevel("share.version")))
		if ok.ErrorCode != 0 || (v < 2 && (len(ok.Results) != 2 || ok.Results[0].ErrorCode != 0)) {
			t.Fatalf("v%d current levels: %+v", v, ok)
		}
		for _, tc := range []struct {
			updates []kmsg.UpdateFeaturesRequestFeatureUpdate
			want    *kerr.Error
		}{
			{[]kmsg.UpdateFeaturesRequestFeatureUpdate{fu("share.version", 2)}, kerr.InvalidUpdateVersion},
			{[]kmsg.UpdateFeaturesRequestFeatureUpdate{fu("metadata.version", 25), fu("no.such.version", 1)}, kerr.InvalidUpdateVersion},
			{[]kmsg.UpdateFeaturesRequestFeatureUpdate{fu("metadata.version", 25), fu("metadata.version", 25)}, kerr.InvalidRequest},
		} {
			resp := update(v, tc.updates...)
			if resp.ErrorCode != tc.want.Code || resp.ErrorMessage == nil {
				t.Fatalf("v%d %+v: %v, want %v", v, tc.updates, kerr.ErrorForCode(resp.ErrorCode), tc.want)
			}
			if v < 2 && (len(resp.Results) != len(tc.updates) || resp.Results[0].ErrorCode != tc.want.Code) {
				t.Fatalf("v%d results: %+v", v, resp.Results)
			}
		}
	}
}

func TestUpdateFeaturesNeedsClusterAlter(t *testing.T) {
	h := newHarness(t, withAuthorizer("User:admin"))
	req := kmsg.NewPtrUpdateFeaturesRequest()
	req.FeatureUpdates = []kmsg.UpdateFeaturesRequestFeatureUpdate{{Feature: "metadata.version", MaxVersionLevel: 25, UpgradeType: 1}}
	resp := h.dial().roundTrip(req, 1).(*kmsg.UpdateFeaturesResponse)
	if resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("%v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(resp.ErrorCode))
	}
}
