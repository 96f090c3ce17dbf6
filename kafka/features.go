package kafka

// Feature flags (KIP-584) as ApiVersions v3+ reports them and Kafka 4
// clients read them: SupportedFeatures is what this node's code can run,
// FinalizedFeatures what the cluster runs. Ringtail's levels follow from
// the code, not from an UpdateFeatures log, so every node of one build
// reports the same finalized levels:
//
//	metadata.version     25 (4.0-IV3): the Kafka 4.0 request versions.
//	kraft.version        0: a static voter set (no KIP-853 AddRaftVoter).
//	transaction.version  2: KIP-890 part 2. Clients that opt in (EndTxn
//	                     v5, Produce v12, TxnOffsetCommit v5) skip
//	                     AddPartitionsToTxn and AddOffsetsToTxn and get
//	                     an epoch bump with every transaction's end
//	                     (txn/tv2.go); the others keep version 0's
//	                     requests, which are served as before.
//	group.version        1 once ConsumerGroupHeartbeat (key 68) has a
//	                     handler (KIP-848), else 0.
//	share.version        1 once ShareFetch (key 78) has a handler
//	                     (KIP-932 share groups), else 0.
//
// As in Kafka, a feature finalized at level 0 is left out of
// FinalizedFeatures. Before ApiVersions v4 a supported range with min 0
// is sent with min 1 (KAFKA-17011: older clients reject a 0 min), and a
// feature whose max is 0 is left out of those versions entirely, since
// [1, 0] would be no range at all.

import "github.com/twmb/franz-go/pkg/kmsg"

// consumerGroupHeartbeatKey is KIP-848's ConsumerGroupHeartbeat.
const consumerGroupHeartbeatKey = 68

// shareFetchKey is KIP-932's ShareFetch.
const shareFetchKey = 78

type feature struct {
	name            string
	min, max, level int16
}

// features are the features in name order, computed from the apis table
// (filled at init) on each call, so no init order matters.
func features() []feature {
	groupVersion := int16(0)
	if _, ok := apis[consumerGroupHeartbeatKey]; ok {
		groupVersion = 1
	}
	shareVersion := int16(0)
	if _, ok := apis[shareFetchKey]; ok {
		shareVersion = 1
	}
	return []feature{
		{name: "group.version", max: groupVersion, level: groupVersion},
		{name: "kraft.version"},
		{name: "metadata.version", min: 7, max: 25, level: 25},
		{name: "share.version", max: shareVersion, level: shareVersion},
		{name: "transaction.version", max: 2, level: 2},
	}
}

// featureLevel is the finalized level of name (0 when unknown).
func featureLevel(name string) int16 {
	for _, f := range features() {
		if f.name == name {
			return f.level
		}
	}
	return 0
}

// fillFeatures sets the feature tags of an ApiVersions v3+ response.
// epoch is the metadata offset the levels are reported at.
func fillFeatures(resp *kmsg.ApiVersionsResponse, epoch int64) {
	if resp.Version < 3 {
		return
	}
	resp.SupportedFeatures, resp.FinalizedFeatures = nil, nil
	for _, f := range features() {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = f.name, f.min, f.max
		if resp.Version < 4 {
			if f.max == 0 {
				continue
			}
			sf.MinVersion = max(sf.MinVersion, 1)
		}
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		if f.level > 0 {
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.name, f.level, f.level
			resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		}
	}
	resp.FinalizedFeaturesEpoch = max(epoch, 0)
}
