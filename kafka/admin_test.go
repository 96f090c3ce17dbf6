// These tests prove the admin APIs answer as Kafka does: CreateTopics
// (validate_only, its error codes, v5+ results), auto-creation through
// Metadata on and off, DeleteTopics by name and id, CreatePartitions,
// DescribeConfigs / AlterConfigs / IncrementalAlterConfigs round trips, and
// DescribeCluster.
package kafka

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func createReq(validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.ValidateOnly = validateOnly
	req.TimeoutMillis = 10000
	req.Topics = topics
	return req
}

func topicSpec(name string, partitions int32, rf int16) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	return t
}

func TestCreateTopicsErrorsAndValidateOnly(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	withCfg := topicSpec("with-config", 2, 1)
	withCfg.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: kmsg.StringPtr("60000")}}
	badCfg := topicSpec("bad-config", 1, 1)
	badCfg.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: kmsg.StringPtr("soon")}}
	assigned := topicSpec("assigned", -1, -1)
	assigned.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}, {Partition: 1, Replicas: []int32{1}}}
	badAssign := topicSpec("bad-assign", -1, -1)
	badAssign.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{7}}}

	resp := c.roundTrip(createReq(false,
		withCfg,
		topicSpec("zero-partitions", 0, 1),
		topicSpec("too-many-replicas", 1, 3),
		topicSpec("bad/name", 1, 1),
		badCfg,
		assigned,
		badAssign,
		topicSpec("defaults", -1, -1),
	), 1).(*kmsg.CreateTopicsResponse)
	want := []*kerr.Error{nil, kerr.InvalidPartitions, kerr.InvalidReplicationFactor, kerr.InvalidTopicException,
		kerr.InvalidConfig, nil, kerr.InvalidReplicaAssignment, nil}
	for i, rt := range resp.Topics {
		var code int16
		if want[i] != nil {
			code = want[i].Code
		}
		if rt.ErrorCode != code {
			t.Errorf("%s: code %d (%v); want %v", rt.Topic, rt.ErrorCode, kerr.ErrorForCode(rt.ErrorCode), want[i])
		}
		if rt.ErrorCode != 0 && (rt.ErrorMessage == nil || *rt.ErrorMessage == "") {
			t.Errorf("%s: no error message", rt.Topic)
		}
	}
	ok := resp.Topics[0]
	if ok.NumPartitions != 2 || ok.ReplicationFactor != 1 || ok.TopicID == [16]byte{} {
		t.Fatalf("v7 result: partitions %d rf %d id %x", ok.NumPartitions, ok.ReplicationFactor, ok.TopicID)
	}
	found := false
	for _, cfg := range ok.Configs {
		if cfg.Name == "retention.ms" {
			found = true
			if cfg.Value == nil || *cfg.Value != "60000" || cfg.Source != 1 {
				t.Fatalf("retention.ms in result: %v source %d", cfg.Value, cfg.Source)
			}
		}
	}
	if !found {
		t.Fatal("v5+ result lacks the topic's configs")
	}
	if got := len(h.ctrl.Image().Topics["assigned"].Partitions); got != 2 {
		t.Fatalf("assigned topic has %d partitions; want 2", got)
	}

	// Again: already exists. A topic named twice: INVALID_REQUEST.
	resp = c.roundTrip(createReq(false, topicSpec("with-config", 1, 1), topicSpec("twice", 1, 1), topicSpec("twice", 1, 1)), 2).(*kmsg.CreateTopicsResponse)
	for i, code := range []int16{kerr.TopicAlreadyExists.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code} {
		if resp.Topics[i].ErrorCode != code {
			t.Errorf("%s: code %d; want %d", resp.Topics[i].Topic, resp.Topics[i].ErrorCode, code)
		}
	}

	// validate_only answers as if created and writes nothing.
	resp = c.roundTrip(createReq(true, topicSpec("dry-run", 4, 1)), 3).(*kmsg.CreateTopicsResponse)
	if rt := resp.Topics[0]; rt.ErrorCode != 0 || rt.NumPartitions != 4 {
		t.Fatalf("validate_only: code %d partitions %d", rt.ErrorCode, rt.NumPartitions)
	}
	if _, exists := h.ctrl.Image().Topics["dry-run"]; exists {
		t.Fatal("validate_only created the topic")
	}

	// Old versions decode and answer too.
	req := createReq(false, topicSpec("old-version", 1, 1))
	req.Version = 0
	if rt := c.roundTrip(req, 4).(*kmsg.CreateTopicsResponse).Topics[0]; rt.ErrorCode != 0 {
		t.Fatalf("v0 create: %d", rt.ErrorCode)
	}
}

func metadataReq(version int16, allowAuto bool, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.AllowAutoTopicCreation = allowAuto
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func TestMetadataAutoCreate(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		h := newHarness(t)
		h.broker.NumPartitions = 3
		c := h.dial()
		resp := c.roundTrip(metadataReq(12, true, "auto", "in/valid"), 1).(*kmsg.MetadataResponse)
		if len(resp.Brokers) != 1 || resp.Brokers[0].Host != "127.0.0.1" || resp.ClusterID == nil || *resp.ClusterID != "ringtail-test" {
			t.Fatalf("brokers %+v cluster %v", resp.Brokers, resp.ClusterID)
		}
		auto := resp.Topics[0]
		if auto.ErrorCode != 0 || len(auto.Partitions) != 3 || auto.TopicID == [16]byte{} || auto.Partitions[0].Leader != 1 {
			t.Fatalf("auto-created topic: code %d, %d partitions, id %x", auto.ErrorCode, len(auto.Partitions), auto.TopicID)
		}
		if resp.Topics[1].ErrorCode != kerr.InvalidTopicException.Code {
			t.Fatalf("invalid name: code %d", resp.Topics[1].ErrorCode)
		}
		// The request may forbid it (v4+).
		resp = c.roundTrip(metadataReq(12, false, "not-wanted"), 2).(*kmsg.MetadataResponse)
		if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("allow_auto_topic_creation=false: code %d", resp.Topics[0].ErrorCode)
		}
		// By topic id (v10+), and an unknown id.
		byID := kmsg.NewPtrMetadataRequest()
		byID.Version = 12
		byID.Topics = []kmsg.MetadataRequestTopic{{TopicID: auto.TopicID}, {TopicID: [16]byte{1}}}
		resp = c.roundTrip(byID, 3).(*kmsg.MetadataResponse)
		if resp.Topics[0].ErrorCode != 0 || *resp.Topics[0].Topic != "auto" || resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("by id: %+v", resp.Topics)
		}
		// All topics: null list (v1+), empty list (v0).
		all := kmsg.NewPtrMetadataRequest()
		all.Version = 1
		if resp := c.roundTrip(all, 4).(*kmsg.MetadataResponse); len(resp.Topics) != 1 {
			t.Fatalf("all topics v1: %d", len(resp.Topics))
		}
		all.Version = 0
		all.Topics = []kmsg.MetadataRequestTopic{}
		if resp := c.roundTrip(all, 5).(*kmsg.MetadataResponse); len(resp.Topics) != 1 {
			t.Fatalf("all topics v0: %d", len(resp.Topics))
		}
	})
	t.Run("off", func(t *testing.T) {
		h := newHarness(t)
		h.broker.AutoCreateTopics = false
		c := h.dial()
		resp := c.roundTrip(metadataReq(9, true, "auto"), 1).(*kmsg.MetadataResponse)
		if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("auto-create off: code %d", resp.Topics[0].ErrorCode)
		}
		if _, ok := h.ctrl.Image().Topics["auto"]; ok {
			t.Fatal("topic created with auto.create.topics.enable off")
		}
	})
}

func TestDeleteTopicsAndCreatePartitions(t *testing.T) {
	h := newHarness(t)
	h.createTopic("grow", 1, nil)
	h.createTopic("doomed", 1, nil)
	h.createTopic("doomed-by-id", 1, nil)
	ctx := testCtx(t)
	adm := h.admin()

	cp, err := adm.CreatePartitions(ctx, 2, "grow", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if cp["grow"].Err != nil || !errors.Is(cp["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("create partitions: %v / %v", cp["grow"].Err, cp["missing"].Err)
	}
	if n := len(h.ctrl.Image().Topics["grow"].Partitions); n != 3 {
		t.Fatalf("grow has %d partitions; want 3", n)
	}
	shrink, err := adm.UpdatePartitions(ctx, 2, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if shrink["grow"].Err != kerr.InvalidPartitions {
		t.Fatalf("shrinking: %v; want INVALID_PARTITIONS", shrink["grow"].Err)
	}

	del, err := adm.DeleteTopics(ctx, "doomed", "never-was")
	if err != nil {
		t.Fatal(err)
	}
	if del["doomed"].Err != nil || del["never-was"].Err != kerr.UnknownTopicOrPartition {
		t.Fatalf("delete: %v / %v", del["doomed"].Err, del["never-was"].Err)
	}
	id := h.ctrl.Image().Topics["doomed-by-id"].ID
	c := h.dial()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 6
	req.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: id}, {TopicID: [16]byte{9}}}
	resp := c.roundTrip(req, 1).(*kmsg.DeleteTopicsResponse)
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "doomed-by-id" || resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("delete by id: %+v", resp.Topics)
	}
	if n := len(h.ctrl.Image().Topics); n != 1 {
		t.Fatalf("%d topics left; want 1", n)
	}
}

func TestConfigsRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.createTopic("conf", 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")})
	ctx := testCtx(t)
	adm := h.admin()

	value := func(name string) (string, kmsg.ConfigSource) {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "conf")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("conf", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe: %v %v", err, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == name && c.Value != nil {
				return *c.Value, c.Source
			}
		}
		t.Fatalf("no %s in %d configs", name, len(rc.Configs))
		return "", 0
	}
	if v, src := value("cleanup.policy"); v != "compact" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("cleanup.policy = %q (source %v)", v, src)
	}
	if _, src := value("retention.ms"); src != kmsg.ConfigSourceDefaultConfig && src != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("retention.ms source %v", src)
	}

	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("3600000")},
		{Op: kadm.DeleteConfig, Name: "cleanup.policy"},
	}, "conf")
	if err != nil || alter[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, alter)
	}
	if v, src := value("retention.ms"); v != "3600000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms after alter = %q (%v)", v, src)
	}
	if v, src := value("cleanup.policy"); v != "delete" || src == kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("cleanup.policy after delete = %q (%v)", v, src)
	}
	bad, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("forever")}}, "conf")
	if err != nil || bad[0].Err != kerr.InvalidConfig {
		t.Fatalf("bad value: %v %+v; want INVALID_CONFIG", err, bad)
	}

	// Legacy AlterConfigs replaces all overrides.
	legacy, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kmsg.StringPtr("600000")}}, "conf")
	if err != nil || legacy[0].Err != nil {
		t.Fatalf("legacy alter: %v %+v", err, legacy)
	}
	if got := h.ctrl.Image().Topics["conf"].Configs; len(got) != 1 || got["segment.ms"] != "600000" {
		t.Fatalf("overrides after legacy alter: %v", got)
	}

	// Synonyms and documentation, and the broker resource.
	c := h.dial()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	req.Resources = []kmsg.DescribeConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "conf", ConfigNames: []string{"segment.ms"}},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "2"},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "missing"},
	}
	resp := c.roundTrip(req, 1).(*kmsg.DescribeConfigsResponse)
	seg := resp.Resources[0]
	if seg.ErrorCode != 0 || len(seg.Configs) != 1 || len(seg.Configs[0].ConfigSynonyms) != 2 || seg.Configs[0].Documentation == nil {
		t.Fatalf("segment.ms with synonyms: %+v", seg)
	}
	if b := resp.Resources[1]; b.ErrorCode != 0 || len(b.Configs) == 0 {
		t.Fatalf("broker configs: code %d, %d configs", b.ErrorCode, len(b.Configs))
	}
	if resp.Resources[2].ErrorCode != kerr.InvalidRequest.Code || resp.Resources[3].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("other broker / missing topic: %d %d", resp.Resources[2].ErrorCode, resp.Resources[3].ErrorCode)
	}
	brokerAlter, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: kmsg.StringPtr("3")}}, 1)
	if err != nil || brokerAlter[0].Err != kerr.InvalidRequest || brokerAlter[0].ErrMessage == "" {
		t.Fatalf("broker alter: %v %+v; want INVALID_REQUEST with a message", err, brokerAlter)
	}
}

func TestDescribeCluster(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	brokers, err := h.admin().ListBrokers(ctx)
	if err != nil || len(brokers) != 1 || brokers[0].NodeID != 1 {
		t.Fatalf("list brokers: %v %+v", err, brokers)
	}
	c := h.dial()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version = 1
	resp := c.roundTrip(req, 1).(*kmsg.DescribeClusterResponse)
	if resp.ErrorCode != 0 || resp.ClusterID != "ringtail-test" || len(resp.Brokers) != 1 || resp.Brokers[0].Port == 0 {
		t.Fatalf("describe cluster: %+v", resp)
	}
	req.EndpointType = 2
	if resp := c.roundTrip(req, 2).(*kmsg.DescribeClusterResponse); resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("controllers endpoint type: %d", resp.ErrorCode)
	}
}
