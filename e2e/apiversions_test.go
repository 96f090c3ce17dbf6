package e2e

// This test proves that every (API key, version) the real binary
// advertises in ApiVersions is answered: for each pair from the broker's
// own list it sends a minimal valid request at exactly that version on a
// raw socket, decodes the answer at that version (trailing bytes are a
// failure) and checks that every error code in it is one the minimal
// request legitimately gets. A version the broker advertises but cannot
// encode, decode or answer fails the test. Keys without a setup below
// (added later) are sent kmsg's default request and must be answered with
// a response that decodes; their codes are logged, not checked.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// apivTopic is the topic the minimal requests name.
const apivTopic = "apiv"

// apivEnv is what a setup may use: the topic's id.
type apivEnv struct {
	topicID [16]byte
}

// apivCase fills the request for one key (the version is already set) and
// lists the error codes, besides 0, that the minimal request may get.
type apivCase struct {
	setup   func(req kmsg.Request, env apivEnv)
	allowed []int16
}

func codes(errs ...*kerr.Error) []int16 {
	out := make([]int16, len(errs))
	for i, e := range errs {
		out[i] = e.Code
	}
	return out
}

// apivCases are the per-key setups of minimal requests.
var apivCases = map[int16]apivCase{
	0: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.ProduceRequest)
		req.Acks, req.TimeoutMillis = 1, 10000
		t := kmsg.NewProduceRequestTopic()
		t.Topic, t.TopicID = apivTopic, env.topicID
		p := kmsg.NewProduceRequestTopicPartition()
		p.Records = recordBatch([]string{"apiversions"})
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
	}},
	1: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.FetchRequest)
		req.MaxBytes, req.MaxWaitMillis = 1<<20, 0
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = apivTopic, env.topicID
		p := kmsg.NewFetchRequestTopicPartition()
		p.PartitionMaxBytes = 1 << 20
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
	}},
	2: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.ListOffsetsRequest)
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = apivTopic
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Timestamp = -1
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
	}},
	3: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.MetadataRequest)
		name := apivTopic
		req.Topics = []kmsg.MetadataRequestTopic{{Topic: &name}}
	}},
	8: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.OffsetCommitRequest)
		req.Group, req.Generation = "apiv-group", -1
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic, t.TopicID = apivTopic, env.topicID
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
	}},
	9: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.OffsetFetchRequest)
		req.Group = "apiv-group"
		t := kmsg.NewOffsetFetchRequestTopic()
		t.Topic, t.Partitions = apivTopic, []int32{0}
		req.Topics = append(req.Topics, t)
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = "apiv-group"
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.TopicID, gt.Partitions = apivTopic, env.topicID, []int32{0}
		g.Topics = append(g.Topics, gt)
		req.Groups = append(req.Groups, g)
	}},
	10: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.FindCoordinatorRequest)
		req.CoordinatorKey, req.CoordinatorKeys = "apiv-group", []string{"apiv-group"}
	}},
	// A session timeout below group.min.session.timeout.ms is refused at
	// once, so no join waits for a rebalance.
	11: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.JoinGroupRequest)
		req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "apiv-join", "consumer", 1, 1000
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0}}}
	}, allowed: codes(kerr.InvalidSessionTimeout, kerr.MemberIDRequired)},
	12: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.HeartbeatRequest)
		req.Group, req.Generation, req.MemberID = "apiv-group", 1, "nobody"
	}, allowed: codes(kerr.UnknownMemberID, kerr.IllegalGeneration)},
	13: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.LeaveGroupRequest)
		req.Group, req.MemberID = "apiv-group", "nobody"
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "nobody"}}
	}, allowed: codes(kerr.UnknownMemberID)},
	14: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.SyncGroupRequest)
		req.Group, req.Generation, req.MemberID = "apiv-group", 1, "nobody"
		pt, pn := "consumer", "range"
		req.ProtocolType, req.Protocol = &pt, &pn
	}, allowed: codes(kerr.UnknownMemberID, kerr.IllegalGeneration)},
	15: {setup: func(r kmsg.Request, env apivEnv) {
		r.(*kmsg.DescribeGroupsRequest).Groups = []string{"apiv-group"}
	}},
	17: {setup: func(r kmsg.Request, env apivEnv) {
		r.(*kmsg.SASLHandshakeRequest).Mechanism = "PLAIN"
	}, allowed: codes(kerr.IllegalSaslState)}, // a PLAINTEXT listener
	18: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.ApiVersionsRequest)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "ringtail-e2e", "1.0"
	}},
	19: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.CreateTopicsRequest)
		req.ValidateOnly, req.TimeoutMillis = true, 10000
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic = fmt.Sprintf("apiv-created-v%d", r.GetVersion())
		t.NumPartitions, t.ReplicationFactor = 1, 1
		req.Topics = append(req.Topics, t)
	}},
	20: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.DeleteTopicsRequest)
		name := "apiv-no-such-topic"
		req.TopicNames = []string{name}
		req.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: &name}}
		req.TimeoutMillis = 10000
	}, allowed: codes(kerr.UnknownTopicOrPartition)},
	21: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.DeleteRecordsRequest)
		req.TimeoutMillis = 10000
		t := kmsg.NewDeleteRecordsRequestTopic()
		t.Topic = apivTopic
		t.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 0}}
		req.Topics = append(req.Topics, t)
	}},
	22: {setup: func(r kmsg.Request, env apivEnv) {
		r.(*kmsg.InitProducerIDRequest).TransactionTimeoutMillis = 60000
	}},
	23: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.OffsetForLeaderEpochRequest)
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic = apivTopic
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
	}},
	24: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.AddPartitionsToTxnRequest)
		req.TransactionalID, req.ProducerID = "apiv-txn", 12345
		req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: apivTopic, Partitions: []int32{0}}}
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.VerifyOnly = "apiv-txn", 12345, true
		tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: apivTopic, Partitions: []int32{0}}}
		req.Transactions = append(req.Transactions, tx)
	}, allowed: txnCodes},
	25: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.AddOffsetsToTxnRequest)
		req.TransactionalID, req.ProducerID, req.Group = "apiv-txn", 12345, "apiv-group"
	}, allowed: txnCodes},
	26: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.EndTxnRequest)
		req.TransactionalID, req.ProducerID = "apiv-txn", 12345
	}, allowed: txnCodes},
	28: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.TxnOffsetCommitRequest)
		req.TransactionalID, req.Group, req.ProducerID = "apiv-txn", "apiv-group", 12345
		t := kmsg.NewTxnOffsetCommitRequestTopic()
		t.Topic = apivTopic
		t.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{kmsg.NewTxnOffsetCommitRequestTopicPartition()}
		req.Topics = append(req.Topics, t)
	}, allowed: append(codes(kerr.UnknownMemberID, kerr.IllegalGeneration), txnCodes...)},
	29: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.DescribeACLsRequest)
		req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	}, allowed: codes(kerr.SecurityDisabled)},
	32: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.DescribeConfigsRequest)
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, apivTopic
		req.Resources = append(req.Resources, res)
	}},
	33: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.AlterConfigsRequest)
		req.ValidateOnly = true
		res := kmsg.NewAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, apivTopic
		v := "86400000"
		res.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: &v}}
		req.Resources = append(req.Resources, res)
	}},
	37: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.CreatePartitionsRequest)
		req.ValidateOnly, req.TimeoutMillis = true, 10000
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic, t.Count = apivTopic, 2
		req.Topics = append(req.Topics, t)
	}},
	42: {setup: func(r kmsg.Request, env apivEnv) {
		r.(*kmsg.DeleteGroupsRequest).Groups = []string{"apiv-no-such-group"}
	}, allowed: codes(kerr.GroupIDNotFound)},
	43: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.ElectLeadersRequest)
		req.TimeoutMillis = 10000
		req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: apivTopic, Partitions: []int32{0}}}
	}, allowed: codes(kerr.ElectionNotNeeded)},
	44: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.IncrementalAlterConfigsRequest)
		req.ValidateOnly = true
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, apivTopic
		v := "86400000"
		res.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: &v}}
		req.Resources = append(req.Resources, res)
	}},
	47: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.OffsetDeleteRequest)
		req.Group = "apiv-no-such-group"
		req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: apivTopic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	}, allowed: codes(kerr.GroupIDNotFound)},
	55: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.DescribeQuorumRequest)
		req.Topics = []kmsg.DescribeQuorumRequestTopic{{Topic: "__cluster_metadata", Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}}}
	}},
	61: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.DescribeProducersRequest)
		req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: apivTopic, Partitions: []int32{0}}}
	}},
	65: {setup: func(r kmsg.Request, env apivEnv) {
		r.(*kmsg.DescribeTransactionsRequest).TransactionalIDs = []string{"apiv-txn"}
	}, allowed: codes(kerr.TransactionalIDNotFound)},
	75: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.DescribeTopicPartitionsRequest)
		req.Topics = []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: apivTopic}}
		req.ResponsePartitionLimit = 10
	}},
	76: {setup: func(r kmsg.Request, env apivEnv) {
		req := r.(*kmsg.ShareGroupHeartbeatRequest)
		req.GroupID, req.MemberID, req.SubscribedTopicNames = "apiv-share", "apiv-share-member", []string{apivTopic}
	}},
	77: {setup: func(r kmsg.Request, env apivEnv) {
		r.(*kmsg.ShareGroupDescribeRequest).GroupIDs = []string{"apiv-share"}
	}, allowed: codes(kerr.GroupIDNotFound)},
	34: {}, 35: {}, 16: {}, 27: {}, 30: {}, 31: {}, 36: {allowed: codes(kerr.IllegalSaslState)},
	57: {setup: func(r kmsg.Request, env apivEnv) {
		// metadata.version at its level: a no-op success.
		u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		u.Feature, u.MaxVersionLevel, u.UpgradeType = "metadata.version", 25, 1
		r.(*kmsg.UpdateFeaturesRequest).FeatureUpdates = append(r.(*kmsg.UpdateFeaturesRequest).FeatureUpdates, u)
	}},
	45: {}, 46: {}, 48: {}, 49: {}, 50: {}, 51: {}, 60: {}, 66: {},
}

// txnCodes are the answers to a transactional request for a producer id
// the coordinator never issued.
var txnCodes = codes(kerr.InvalidProducerIDMapping, kerr.TransactionalIDNotFound, kerr.InvalidTxnState,
	kerr.InvalidProducerEpoch, kerr.ProducerFenced, kerr.OperationNotAttempted)

func TestEveryAdvertisedApiVersion(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	n.CreateTopic(apivTopic, 1, nil)
	env := apivEnv{}
	meta := kmsg.NewPtrMetadataRequest()
	name := apivTopic
	meta.Topics = []kmsg.MetadataRequestTopic{{Topic: &name}}
	cl := n.Client(kgo.RequestRetries(3))
	defer cl.Close()
	mr, err := meta.RequestWith(t.Context(), cl)
	if err != nil || len(mr.Topics) != 1 || mr.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata for %s: %v", apivTopic, err)
	}
	env.topicID = mr.Topics[0].TopicID

	// The transaction coordinator of apiv-txn, so that transactional
	// requests reach a loaded one.
	testkit.WaitFor(t, 30*time.Second, "the transaction coordinator", func() bool {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"apiv-txn"}
		r, err := fc.RequestWith(t.Context(), cl)
		return err == nil && len(r.Coordinators) == 1 && r.Coordinators[0].ErrorCode == 0
	})
	testkit.WaitFor(t, 30*time.Second, "the transaction coordinator to load", func() bool {
		r, err := rawRoundTrip(n.Addr(), apivRequest(26, 0, env))
		return err == nil && !slices.Contains(errorCodes(r), kerr.NotCoordinator.Code) &&
			!slices.Contains(errorCodes(r), kerr.CoordinatorLoadInProgress.Code)
	})

	avReq := kmsg.NewPtrApiVersionsRequest()
	avReq.ClientSoftwareName, avReq.ClientSoftwareVersion = "ringtail-e2e", "1.0"
	av, err := avReq.RequestWith(t.Context(), cl)
	if err != nil || av.ErrorCode != 0 {
		t.Fatalf("api versions: %v", err)
	}
	// Kafka 4 clients read the finalized features from this answer (v3+).
	finalized := map[string]int16{}
	for _, f := range av.FinalizedFeatures {
		finalized[f.Name] = f.MaxVersionLevel
	}
	if av.Version < 3 || av.FinalizedFeaturesEpoch < 0 || finalized["metadata.version"] == 0 {
		t.Errorf("ApiVersions v%d: finalized features epoch %d, %v; want metadata.version finalized", av.Version, av.FinalizedFeaturesEpoch, finalized)
	}
	total := 0
	for _, k := range av.ApiKeys {
		if kmsg.RequestForKey(k.ApiKey) == nil {
			t.Errorf("key %d is advertised but kmsg does not know it", k.ApiKey)
			continue
		}
		c, known := apivCases[k.ApiKey]
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			total++
			if max := kmsg.RequestForKey(k.ApiKey).MaxVersion(); v > max {
				t.Errorf("key %d v%d: advertised beyond kmsg's max v%d", k.ApiKey, v, max)
				continue
			}
			req := apivRequest(k.ApiKey, v, env)
			resp, err := rawRoundTrip(n.Addr(), req)
			if err != nil {
				t.Errorf("%s (key %d) v%d: %v", kmsg.NameForKey(k.ApiKey), k.ApiKey, v, err)
				continue
			}
			for _, code := range errorCodes(resp) {
				if !known {
					t.Logf("%s v%d (no setup): error code %d", kmsg.NameForKey(k.ApiKey), v, code)
					continue
				}
				if !slices.Contains(c.allowed, code) {
					t.Errorf("%s (key %d) v%d: unexpected error %v", kmsg.NameForKey(k.ApiKey), k.ApiKey, v, kerr.ErrorForCode(code))
				}
			}
		}
	}
	t.Logf("%d keys, %d versions answered", len(av.ApiKeys), total)
}

// apivRequest is the minimal request for key at version v.
func apivRequest(key, v int16, env apivEnv) kmsg.Request {
	req := kmsg.RequestForKey(key)
	req.SetVersion(v)
	if c := apivCases[key]; c.setup != nil {
		c.setup(req, env)
	}
	return req
}

// rawRoundTrip sends req at its version on a new connection and decodes
// the answer at the same version.
func rawRoundTrip(addr string, req kmsg.Request) (kmsg.Response, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	const corr = 7
	if _, err := conn.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("apiv")).AppendRequest(nil, req, corr)); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, fmt.Errorf("reading the response size (connection closed?): %w", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != corr {
		return nil, fmt.Errorf("bad correlation id in a %d-byte response", len(body))
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != 18 {
		// Flexible response header: tagged fields (none expected).
		if len(body) == 0 || body[0] != 0 {
			return nil, fmt.Errorf("response header has tagged fields or is empty")
		}
		body = body[1:]
	}
	// ReadFrom refuses trailing bytes only in strict mode; compare
	// lengths by re-encoding instead.
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding the v%d response: %w", req.GetVersion(), err)
	}
	if re := resp.AppendTo(nil); len(re) != len(body) {
		return nil, fmt.Errorf("v%d response is %d bytes, decodes to %d", req.GetVersion(), len(body), len(re))
	}
	return resp, nil
}

// errorCodes collects every non-zero int16 field named ErrorCode in v.
func errorCodes(v any) []int16 {
	var out []int16
	var walk func(reflect.Value)
	walk = func(rv reflect.Value) {
		switch rv.Kind() {
		case reflect.Pointer:
			if !rv.IsNil() {
				walk(rv.Elem())
			}
		case reflect.Struct:
			for i := 0; i < rv.NumField(); i++ {
				f := rv.Type().Field(i)
				if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
					if c := int16(rv.Field(i).Int()); c != 0 {
						out = append(out, c)
					}
					continue
				}
				if f.IsExported() {
					walk(rv.Field(i))
				}
			}
		case reflect.Slice:
			for i := 0; i < rv.Len(); i++ {
				walk(rv.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(v))
	return out
}
