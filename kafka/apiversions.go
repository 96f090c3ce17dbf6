package kafka

// ApiVersions (key 18): versions 0-4.
//
// Behavior:
//   - Lists every API key this server serves with the exact version range
//     it implements fully (the apis table below is the only source).
//   - A request for a version above 4 gets UNSUPPORTED_VERSION and the list,
//     encoded as v0 (KIP-511) so the client can retry with one we know.
//   - The response header is always v0, even for flexible v3+.
//   - v3+: SupportedFeatures, FinalizedFeaturesEpoch (the metadata offset)
//     and FinalizedFeatures as features.go computes them; v4 only changes
//     how a supported min of 0 is sent (KAFKA-17011, see features.go).
//
// Skipped on purpose: ClientSoftwareName/Version (v3) are not validated;
// v5 (KIP-1242 cluster and node id check) is not served.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const apiVersionsKey = 18

// handlerFunc serves one decoded request. It calls finish exactly once,
// possibly later and on another goroutine: with a response, with (nil, nil)
// for no response at all (acks=0 produce), or with an error to close the
// connection.
type handlerFunc func(s *Server, cx *reqCtx, req kmsg.Request, finish func(kmsg.Response, error))

type api struct {
	min, max int16
	handle   handlerFunc
}

// apis is every key this server answers, with the versions it implements.
var apis map[int16]api

func init() {
	apis = map[int16]api{
		0:  {3, 12, handleProduce},
		1:  {4, 17, syncHandler(handleFetch)},
		2:  {1, 10, syncHandler(handleListOffsets)},
		3:  {0, 13, syncHandler(handleMetadata)},
		8:  {0, 9, handleOffsetCommit},
		9:  {1, 9, syncHandler(handleOffsetFetch)},
		10: {0, 6, syncHandler(handleFindCoordinator)},
		11: {0, 9, handleJoinGroup},
		12: {0, 4, syncHandler(handleHeartbeat)},
		13: {0, 5, syncHandler(handleLeaveGroup)},
		14: {0, 5, handleSyncGroup},
		15: {0, 5, syncHandler(handleDescribeGroups)},
		16: {0, 5, syncHandler(handleListGroups)},
		17: {0, 1, handleSaslHandshake},
		18: {0, 4, syncHandler(handleApiVersions)},
		19: {0, 7, syncHandler(handleCreateTopics)},
		20: {0, 6, syncHandler(handleDeleteTopics)},
		21: {0, 2, syncHandler(handleDeleteRecords)},
		22: {0, 5, syncHandler(handleInitProducerID)},
		23: {0, 4, syncHandler(handleOffsetForLeaderEpoch)},
		24: {0, 5, syncHandler(handleAddPartitionsToTxn)},
		25: {0, 4, syncHandler(handleAddOffsetsToTxn)},
		26: {0, 5, syncHandler(handleEndTxn)},
		27: {0, 1, syncHandler(handleWriteTxnMarkers)},
		28: {0, 5, handleTxnOffsetCommit},
		29: {0, 3, syncHandler(handleDescribeAcls)},
		30: {0, 3, syncHandler(handleCreateAcls)},
		31: {0, 3, syncHandler(handleDeleteAcls)},
		32: {0, 4, syncHandler(handleDescribeConfigs)},
		33: {0, 2, syncHandler(handleAlterConfigs)},
		34: {0, 2, syncHandler(handleAlterReplicaLogDirs)},
		35: {0, 4, syncHandler(handleDescribeLogDirs)},
		36: {0, 2, handleSaslAuthenticate},
		37: {0, 3, syncHandler(handleCreatePartitions)},
		42: {0, 2, handleDeleteGroups},
		43: {0, 2, syncHandler(handleElectLeaders)},
		44: {0, 1, syncHandler(handleIncrementalAlterConfigs)},
		45: {0, 1, syncHandler(handleAlterPartitionReassignments)},
		46: {0, 0, syncHandler(handleListPartitionReassignments)},
		47: {0, 0, handleOffsetDelete},
		50: {0, 0, syncHandler(handleDescribeUserScramCredentials)},
		51: {0, 0, syncHandler(handleAlterUserScramCredentials)},
		48: {0, 1, syncHandler(handleDescribeClientQuotas)},
		49: {0, 1, syncHandler(handleAlterClientQuotas)},
		55: {0, 2, syncHandler(handleDescribeQuorum)},
		57: {0, 2, syncHandler(handleUpdateFeatures)},
		60: {0, 2, syncHandler(handleDescribeCluster)},
		61: {0, 0, syncHandler(handleDescribeProducers)},
		65: {0, 0, syncHandler(handleDescribeTransactions)},
		66: {0, 2, syncHandler(handleListTransactions)},
		68: {0, 1, handleConsumerGroupHeartbeat},
		69: {0, 1, syncHandler(handleConsumerGroupDescribe)},
		71: {0, 0, syncHandler(handleGetTelemetrySubscriptions)},
		72: {0, 0, syncHandler(handlePushTelemetry)},
		74: {0, 0, syncHandler(handleListConfigResources)},
		75: {0, 0, syncHandler(handleDescribeTopicPartitions)},
		76: {1, 1, handleShareGroupHeartbeat},
		77: {0, 1, syncHandler(handleShareGroupDescribe)},
		78: {1, 2, syncHandler(handleShareFetch)},
		79: {1, 2, syncHandler(handleShareAcknowledge)},
		83: {0, 0, syncHandler(handleInitializeShareGroupState)},
		84: {0, 0, syncHandler(handleReadShareGroupState)},
		85: {0, 1, syncHandler(handleWriteShareGroupState)},
		86: {0, 0, syncHandler(handleDeleteShareGroupState)},
		87: {0, 1, syncHandler(handleReadShareGroupStateSummary)},
		90: {0, 1, syncHandler(handleDescribeShareGroupOffsets)},
		91: {0, 0, syncHandler(handleAlterShareGroupOffsets)},
		92: {0, 0, syncHandler(handleDeleteShareGroupOffsets)},
	}
}

// syncHandler adapts a handler that answers before it returns.
func syncHandler[R kmsg.Request](fn func(s *Server, cx *reqCtx, req R) (kmsg.Response, error)) handlerFunc {
	return func(s *Server, cx *reqCtx, req kmsg.Request, finish func(kmsg.Response, error)) {
		r, ok := req.(R)
		if !ok {
			finish(nil, errCloseConn)
			return
		}
		finish(fn(s, cx, r))
	}
}

func supportedKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: apis[k].min, MaxVersion: apis[k].max})
	}
	return out
}

func handleApiVersions(s *Server, cx *reqCtx, req *kmsg.ApiVersionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	cx.conn.noteSoftware(req) // telemetry.go
	resp.ApiKeys = supportedKeys()
	fillFeatures(resp, s.ctrl.Image().Offset)
	return resp, nil
}

// apiVersionsFallback is the KIP-511 answer to an unsupported version:
// UNSUPPORTED_VERSION with the ApiVersions key's own range only, as
// Kafka's ApiVersionsRequest.getErrorResponse, so that the client asks
// again at a version we serve (with its software name, which telemetry
// subscriptions match on) instead of using a list it did not ask for.
func apiVersionsFallback() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: apiVersionsKey, MinVersion: apis[apiVersionsKey].min, MaxVersion: apis[apiVersionsKey].max}}
	return resp
}
