package restproxy

// Metadata endpoints: v2 topics, partitions, offsets and brokers, and v3
// clusters and topics. All are read through the Kafka API (Metadata,
// DescribeConfigs, ListOffsets).

import (
	"context"
	"net/http"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/acl"
)

type v2Replica struct {
	Broker int32 `json:"broker"`
	Leader bool  `json:"leader"`
	InSync bool  `json:"in_sync"`
}

type v2Partition struct {
	Partition int32       `json:"partition"`
	Leader    int32       `json:"leader"`
	Replicas  []v2Replica `json:"replicas"`
}

type v2Topic struct {
	Name       string            `json:"name"`
	Configs    map[string]string `json:"configs"`
	Partitions []v2Partition     `json:"partitions"`
}

func showPartition(d kadm.PartitionDetail) v2Partition {
	out := v2Partition{Partition: d.Partition, Leader: d.Leader, Replicas: []v2Replica{}}
	for _, r := range d.Replicas {
		out.Replicas = append(out.Replicas, v2Replica{Broker: r, Leader: r == d.Leader, InSync: contains(d.ISR, r)})
	}
	return out
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// reqCtx bounds a request's Kafka and registry calls; it carries the
// caller's Authorization header for the registry (forwardAuthorization).
func reqCtx(req *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(withAuthorization(req.Context(), req), requestTimeout)
}

// topicDetail is the topic's metadata; 40401 when it does not exist.
// describeTopic is the v2 metadata routes' common start: the shared admin
// client, DESCRIBE on the topic, and the topic's partitions.
func (p *Proxy) describeTopic(ctx context.Context, req *http.Request, topic string) (*kadm.Client, kadm.TopicDetail, error) {
	_, adm, err := p.shared(req)
	if err != nil {
		return nil, kadm.TopicDetail{}, err
	}
	if err := p.authorize(req, acl.ResourceTopic, topic, acl.OpDescribe); err != nil {
		return nil, kadm.TopicDetail{}, err
	}
	td, err := p.topicDetail(ctx, adm, topic)
	return adm, td, err
}

func (p *Proxy) topicDetail(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicDetail, error) {
	md, err := adm.Metadata(ctx, topic)
	if d := errDenied(err, topic, ""); d != nil {
		return kadm.TopicDetail{}, d
	}
	if err != nil {
		return kadm.TopicDetail{}, errKafka(err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err == kerr.UnknownTopicOrPartition {
		return kadm.TopicDetail{}, errTopicNotFound
	}
	if d := errDenied(td.Err, topic, ""); d != nil {
		return kadm.TopicDetail{}, d
	}
	if td.Err != nil {
		return kadm.TopicDetail{}, errKafka(td.Err)
	}
	return td, nil
}

// partitionArg is the {partition} path value of a partition of td;
// 40402 when td has no such partition.
func partitionArg(req *http.Request, td kadm.TopicDetail) (kadm.PartitionDetail, error) {
	n, err := strconv.ParseInt(req.PathValue("partition"), 10, 32)
	if err != nil {
		return kadm.PartitionDetail{}, errPartitionNotFound
	}
	d, ok := td.Partitions[int32(n)]
	if !ok {
		return kadm.PartitionDetail{}, errPartitionNotFound
	}
	return d, nil
}

func (p *Proxy) listTopics(w http.ResponseWriter, req *http.Request) error {
	adm, ctx, cancel, err := p.admin(req)
	if err != nil {
		return err
	}
	defer cancel()
	ts, err := adm.ListTopics(ctx)
	if err != nil {
		return errKafka(err)
	}
	names, err := p.visible(req, ts.Names())
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, 200, ctV2, names)
	return nil
}

func (p *Proxy) getTopic(w http.ResponseWriter, req *http.Request) error {
	ctx, cancel := reqCtx(req)
	defer cancel()
	topic := req.PathValue("topic")
	adm, td, err := p.describeTopic(ctx, req, topic)
	if err != nil {
		return err
	}
	out := v2Topic{Name: topic, Configs: map[string]string{}, Partitions: []v2Partition{}}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return errKafka(err)
	}
	// A caller without DESCRIBE_CONFIGS sees the topic without configs,
	// as the broker's refusal of the config request leaves them out.
	if rc, err := rcs.On(topic, nil); err == nil && rc.Err == nil &&
		p.authorize(req, acl.ResourceTopic, topic, acl.OpDescribeConfigs) == nil {
		for _, c := range rc.Configs {
			if c.Value != nil {
				out.Configs[c.Key] = *c.Value
			}
		}
	}
	for _, d := range td.Partitions.Sorted() {
		out.Partitions = append(out.Partitions, showPartition(d))
	}
	writeJSON(w, 200, ctV2, out)
	return nil
}

func (p *Proxy) listPartitions(w http.ResponseWriter, req *http.Request) error {
	ctx, cancel := reqCtx(req)
	defer cancel()
	_, td, err := p.describeTopic(ctx, req, req.PathValue("topic"))
	if err != nil {
		return err
	}
	out := []v2Partition{}
	for _, d := range td.Partitions.Sorted() {
		out = append(out, showPartition(d))
	}
	writeJSON(w, 200, ctV2, out)
	return nil
}

func (p *Proxy) getPartition(w http.ResponseWriter, req *http.Request) error {
	ctx, cancel := reqCtx(req)
	defer cancel()
	_, td, err := p.describeTopic(ctx, req, req.PathValue("topic"))
	if err != nil {
		return err
	}
	d, err := partitionArg(req, td)
	if err != nil {
		return err
	}
	writeJSON(w, 200, ctV2, showPartition(d))
	return nil
}

func (p *Proxy) partitionOffsets(w http.ResponseWriter, req *http.Request) error {
	ctx, cancel := reqCtx(req)
	defer cancel()
	topic := req.PathValue("topic")
	adm, td, err := p.describeTopic(ctx, req, topic)
	if err != nil {
		return err
	}
	d, err := partitionArg(req, td)
	if err != nil {
		return err
	}
	start, err := listOffset(ctx, adm.ListStartOffsets, topic, d.Partition)
	if err != nil {
		return err
	}
	end, err := listOffset(ctx, adm.ListEndOffsets, topic, d.Partition)
	if err != nil {
		return err
	}
	writeJSON(w, 200, ctV2, map[string]int64{"beginning_offset": start, "end_offset": end})
	return nil
}

// listOffset is one partition's start or end offset.
func listOffset(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string, p int32) (int64, error) {
	los, err := list(ctx, topic)
	if err != nil {
		return 0, errKafka(err)
	}
	o, ok := los.Lookup(topic, p)
	if !ok {
		return 0, errPartitionNotFound
	}
	if o.Err != nil {
		return 0, errKafka(o.Err)
	}
	return o.Offset, nil
}

func (p *Proxy) listBrokers(w http.ResponseWriter, req *http.Request) error {
	adm, ctx, cancel, err := p.admin(req)
	if err != nil {
		return err
	}
	defer cancel()
	bs, err := adm.ListBrokers(ctx)
	if err != nil {
		return errKafka(err)
	}
	ids := []int32{}
	for _, b := range bs {
		ids = append(ids, b.NodeID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	writeJSON(w, 200, ctV2, map[string][]int32{"brokers": ids})
	return nil
}

// v3 resources: Confluent's kind/metadata/related shape, the links built
// from the request's own host.

type v3Related struct {
	Related string `json:"related"`
}

type v3Meta struct {
	Self         string  `json:"self"`
	ResourceName *string `json:"resource_name,omitempty"`
	Next         *string `json:"next,omitempty"`
}

func baseURL(req *http.Request) string {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host
}

func (p *Proxy) clusterID(ctx context.Context, adm *kadm.Client) (string, error) {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return "", errKafka(err)
	}
	return md.Cluster, nil
}

func v3ClusterBody(req *http.Request, id string, controller int32) map[string]any {
	self := baseURL(req) + "/v3/clusters/" + id
	rn := "crn:///kafka=" + id
	out := map[string]any{
		"kind": "KafkaCluster", "metadata": v3Meta{Self: self, ResourceName: &rn}, "cluster_id": id,
		"acls": v3Related{self + "/acls"}, "brokers": v3Related{self + "/brokers"},
		"broker_configs": v3Related{self + "/broker-configs"}, "consumer_groups": v3Related{self + "/consumer-groups"},
		"topics": v3Related{self + "/topics"}, "partition_reassignments": v3Related{self + "/topics/-/partitions/-/reassignment"},
	}
	if controller >= 0 {
		out["controller"] = v3Related{self + "/brokers/" + strconv.Itoa(int(controller))}
	}
	return out
}

func (p *Proxy) v3Clusters(w http.ResponseWriter, req *http.Request) error {
	adm, ctx, cancel, err := p.admin(req)
	if err != nil {
		return v3Err(err)
	}
	defer cancel()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return v3Err(errKafka(err))
	}
	writeJSON(w, 200, ctJSON, map[string]any{
		"kind": "KafkaClusterList", "metadata": v3Meta{Self: baseURL(req) + "/v3/clusters"},
		"data": []any{v3ClusterBody(req, md.Cluster, md.Controller)},
	})
	return nil
}

// v3ClusterArg checks the {cluster} path value against this cluster.
func (p *Proxy) v3ClusterArg(ctx context.Context, req *http.Request, adm *kadm.Client) (kadm.Metadata, error) {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return md, v3Err(errKafka(err))
	}
	if req.PathValue("cluster") != md.Cluster {
		return md, errf(404, "Cluster %s cannot be found.", req.PathValue("cluster"))
	}
	return md, nil
}

func (p *Proxy) v3Cluster(w http.ResponseWriter, req *http.Request) error {
	adm, ctx, cancel, err := p.admin(req)
	if err != nil {
		return v3Err(err)
	}
	defer cancel()
	md, err := p.v3ClusterArg(ctx, req, adm)
	if err != nil {
		return err
	}
	writeJSON(w, 200, ctJSON, v3ClusterBody(req, md.Cluster, md.Controller))
	return nil
}

func (p *Proxy) v3Topics(w http.ResponseWriter, req *http.Request) error {
	adm, ctx, cancel, err := p.admin(req)
	if err != nil {
		return v3Err(err)
	}
	defer cancel()
	if _, err := p.v3ClusterArg(ctx, req, adm); err != nil {
		return err
	}
	ts, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return v3Err(errKafka(err))
	}
	id := req.PathValue("cluster")
	base := baseURL(req) + "/v3/clusters/" + id + "/topics"
	names, err := p.visible(req, ts.Names())
	if err != nil {
		return v3Err(err)
	}
	shown := make(map[string]bool, len(names))
	for _, n := range names {
		shown[n] = true
	}
	data := []any{}
	for _, td := range ts.Sorted() {
		if !shown[td.Topic] {
			continue // the caller may not describe it
		}
		self := base + "/" + td.Topic
		rn := "crn:///kafka=" + id + "/topic=" + td.Topic
		rf := 0
		for _, pd := range td.Partitions {
			rf = max(rf, len(pd.Replicas))
		}
		data = append(data, map[string]any{
			"kind": "KafkaTopic", "metadata": v3Meta{Self: self, ResourceName: &rn},
			"cluster_id": id, "topic_name": td.Topic, "is_internal": td.IsInternal,
			"replication_factor": rf, "partitions_count": len(td.Partitions),
			"partitions": v3Related{self + "/partitions"}, "configs": v3Related{self + "/configs"},
			"partition_reassignments": v3Related{self + "/partitions/-/reassignment"},
		})
	}
	writeJSON(w, 200, ctJSON, map[string]any{"kind": "KafkaTopicList", "metadata": v3Meta{Self: base}, "data": data})
	return nil
}

// v3Err is an error in v3's form: the HTTP status as the error code.
func v3Err(err error) error {
	ae, ok := err.(*apiError)
	if !ok {
		ae = errKafka(err)
	}
	if ae.Code >= 1000 {
		return &apiError{Status: ae.Status, Code: ae.Status, Message: ae.Message}
	}
	return ae
}
