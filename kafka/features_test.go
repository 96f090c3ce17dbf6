package kafka

// Tests that ApiVersions reports the feature levels Kafka 4 clients read,
// with KAFKA-17011's v3 rule for a supported min of 0.

import (
	"testing"

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
		for _, name := range []string{"share.version", "transaction.version", "kraft.version"} {
			if _, ok := finalized[name]; ok {
				t.Fatalf("v%d: %s finalized", v, name)
			}
			if _, ok := supported[name]; ok != (v >= 4) {
				t.Fatalf("v%d: %s supported %v", v, name, ok)
			}
		}
		_, hasCGH := apis[consumerGroupHeartbeatKey]
		if want := map[bool]int16{true: 1}[hasCGH]; finalized["group.version"] != want {
			t.Fatalf("v%d: group.version %d, want %d", v, finalized["group.version"], want)
		}
	}
}
