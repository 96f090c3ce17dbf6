package kafka

// ApiVersions (key 18): versions 0-3.
//
// Behavior:
//   - Lists every API key this server serves with the exact version range
//     it implements fully (the apis table below is the only source).
//   - A request for a version above 3 gets UNSUPPORTED_VERSION and the list,
//     encoded as v0 (KIP-511) so the client can retry with one we know.
//   - The response header is always v0, even for flexible v3.
//
// Skipped on purpose: supported/finalized features (tags of v3) are left
// empty (no feature flags yet); ClientSoftwareName/Version (v3) are not
// validated.

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
		0:  {3, 9, handleProduce},
		1:  {4, 13, syncHandler(handleFetch)},
		2:  {1, 8, syncHandler(handleListOffsets)},
		3:  {0, 12, syncHandler(handleMetadata)},
		8:  {0, 9, handleOffsetCommit},
		9:  {1, 9, syncHandler(handleOffsetFetch)},
		10: {0, 4, syncHandler(handleFindCoordinator)},
		11: {0, 9, handleJoinGroup},
		12: {0, 4, syncHandler(handleHeartbeat)},
		13: {0, 5, syncHandler(handleLeaveGroup)},
		14: {0, 5, handleSyncGroup},
		15: {0, 5, syncHandler(handleDescribeGroups)},
		16: {0, 5, syncHandler(handleListGroups)},
		17: {0, 1, handleSaslHandshake},
		18: {0, 3, syncHandler(handleApiVersions)},
		19: {0, 7, syncHandler(handleCreateTopics)},
		20: {0, 6, syncHandler(handleDeleteTopics)},
		21: {0, 2, syncHandler(handleDeleteRecords)},
		22: {0, 4, syncHandler(handleInitProducerID)},
		23: {0, 4, syncHandler(handleOffsetForLeaderEpoch)},
		24: {0, 5, syncHandler(handleAddPartitionsToTxn)},
		25: {0, 3, syncHandler(handleAddOffsetsToTxn)},
		26: {0, 4, syncHandler(handleEndTxn)},
		27: {0, 1, syncHandler(handleWriteTxnMarkers)},
		28: {0, 3, handleTxnOffsetCommit},
		29: {0, 3, syncHandler(handleDescribeAcls)},
		30: {0, 3, syncHandler(handleCreateAcls)},
		31: {0, 3, syncHandler(handleDeleteAcls)},
		32: {0, 4, syncHandler(handleDescribeConfigs)},
		33: {0, 2, syncHandler(handleAlterConfigs)},
		35: {0, 4, syncHandler(handleDescribeLogDirs)},
		36: {0, 2, handleSaslAuthenticate},
		37: {0, 3, syncHandler(handleCreatePartitions)},
		42: {0, 2, handleDeleteGroups},
		43: {0, 2, syncHandler(handleElectLeaders)},
		44: {0, 1, syncHandler(handleIncrementalAlterConfigs)},
		45: {0, 0, syncHandler(handleAlterPartitionReassignments)},
		46: {0, 0, syncHandler(handleListPartitionReassignments)},
		47: {0, 0, handleOffsetDelete},
		50: {0, 0, syncHandler(handleDescribeUserScramCredentials)},
		51: {0, 0, syncHandler(handleAlterUserScramCredentials)},
		48: {0, 1, syncHandler(handleDescribeClientQuotas)},
		49: {0, 1, syncHandler(handleAlterClientQuotas)},
		55: {0, 0, syncHandler(handleDescribeQuorum)},
		60: {0, 2, syncHandler(handleDescribeCluster)},
		61: {0, 0, syncHandler(handleDescribeProducers)},
		65: {0, 0, syncHandler(handleDescribeTransactions)},
		66: {0, 1, syncHandler(handleListTransactions)},
		68: {0, 1, handleConsumerGroupHeartbeat},
		69: {0, 1, syncHandler(handleConsumerGroupDescribe)},
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
	resp.ApiKeys = supportedKeys()
	return resp, nil
}

// apiVersionsFallback is the KIP-511 answer to an unsupported version.
func apiVersionsFallback() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = supportedKeys()
	return resp
}
