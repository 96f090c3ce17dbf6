package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

// errStaleProducerIDs rejects a producer-id block planned from an old image;
// AllocateProducerID plans again.
var errStaleProducerIDs = errors.New("controlplane: stale producer id block")

// Image is the metadata state after applying the log up to Offset. An Image
// is never modified after it is published: apply builds a new one, sharing
// whatever did not change.
type Image struct {
	// Offset is the raft index of the last applied entry that changed the
	// image (-1 when none). Entries without records (a new leader's empty
	// entry) and rejected entries do not move it.
	Offset    int64
	ClusterID string
	// ControllerID is the active controller (raft leader) as this node last
	// saw it, -1 when unknown. It is the only field that is not a pure
	// function of the log.
	ControllerID   int32
	Brokers        map[int32]*Broker
	Topics         map[string]*Topic
	TopicsByID     map[UUID]*Topic
	BrokerConfigs  map[string]string
	NextProducerID int64
	// Scram are the SCRAM credentials (scram.go).
	Scram ScramUsers
	// ClientQuotas are the client quota entities with at least one quota,
	// by QuotaEntityKey (quotas.go).
	ClientQuotas map[string]*ClientQuota `json:",omitempty"`
	// ACLs are the ACL bindings by id (acls.go); aclsEntry and aclSnap
	// are its per-entry copy mark and its lazily indexed snapshot.
	ACLs      map[UUID]acl.Binding
	aclsEntry int64
	aclSnap   *aclSnapshot

	// ClientMetrics are the client metrics subscriptions (CLIENT_METRICS
	// config resources) by name, with their configs (clientmetrics.go).
	ClientMetrics map[string]map[string]string `json:",omitempty"`

	// GroupConfigs are the GROUP config resources by group id, with their
	// configs (groupconfig.go).
	GroupConfigs map[string]map[string]string `json:",omitempty"`
}

// Broker is a registered broker.
type Broker struct {
	ID          int32
	Epoch       int64
	Incarnation UUID
	Endpoints   []Endpoint
	Rack        string
	Fenced      bool
	// Offline are the partitions whose replica on this broker is on a
	// failed log dir, sorted (offline.go). A registration of a new
	// incarnation (a restart) clears them.
	Offline []OfflineReplica `json:",omitempty"`
}

// Endpoint returns the broker's endpoint for the named listener.
func (b *Broker) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Topic is one topic.
type Topic struct {
	Name       string
	ID         UUID
	Partitions []Partition // index = partition number
	Configs    map[string]string
}

// Partition is one partition's placement and leadership.
type Partition struct {
	Partition      int32
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress: Replicas is the target followed by the replicas leaving.
	AddingReplicas   []int32 `json:",omitempty"`
	RemovingReplicas []int32 `json:",omitempty"`
}

// Reassigning reports whether a reassignment is in progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

func emptyImage(clusterID string, controllerID int32) *Image {
	return &Image{
		Offset:        -1,
		ClusterID:     clusterID,
		ControllerID:  controllerID,
		Brokers:       map[int32]*Broker{},
		Topics:        map[string]*Topic{},
		TopicsByID:    map[UUID]*Topic{},
		BrokerConfigs: map[string]string{},
	}
}

// BrokerIDs returns the registered broker ids in order.
func (im *Image) BrokerIDs() []int32 {
	ids := make([]int32, 0, len(im.Brokers))
	for id := range im.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TopicNames returns the topic names in order.
func (im *Image) TopicNames() []string {
	names := make([]string, 0, len(im.Topics))
	for n := range im.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// clone copies the top-level maps so that one record can be applied.
func (im *Image) clone() *Image {
	n := *im
	n.Brokers = cloneMap(im.Brokers)
	n.Topics = cloneMap(im.Topics)
	n.TopicsByID = cloneMap(im.TopicsByID)
	n.BrokerConfigs = cloneMap(im.BrokerConfigs)
	n.aclsEntry = -1 // the ACL map is shared until an ACL record copies it
	return &n
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// applyEntry applies one raft entry's records, all or none: a record that
// does not fit the image (a racing command planned against an older image)
// rejects the whole entry, with an error wrapping the model sentinel the
// proposer reports. Every node applies the same entries in the same order
// to the same image, so every node rejects the same entries.
//
// The entry works on one copy of the image's maps, and a topic is copied
// (with its partition list) the first time a record of the entry changes
// it, then changed in place: copying per record made an entry of N
// partition records cost N² (a 10,000-partition CreateTopics took seconds).
func (im *Image) applyEntry(index int64, recs []Record) (*Image, error) {
	n := im.clone()
	owned := map[*Topic]bool{}
	for i := range recs {
		if err := n.apply(index, &recs[i], owned); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// apply applies r to n, an entry's working copy (applyEntry). Topics in
// owned were made by this entry and may change in place; any other is
// shared with earlier images and is copied first.
func (n *Image) apply(offset int64, r *Record, owned map[*Topic]bool) error {
	n.Offset = offset
	if r.bodyMissing() {
		return fmt.Errorf("%w: %s record without its body (entry %d)", model.ErrInvalidRequest, r.Type, offset)
	}
	switch r.Type {
	case RecRegisterBroker:
		b := r.RegisterBroker
		nb := &Broker{ID: b.BrokerID, Epoch: b.BrokerEpoch, Incarnation: b.Incarnation,
			Endpoints: slices.Clone(b.Endpoints), Rack: b.Rack, Fenced: b.Fenced}
		if old, ok := n.Brokers[b.BrokerID]; ok && old.Incarnation == b.Incarnation {
			// The same process registering again (unfenced after a
			// session timeout): its failed log dirs are still failed.
			nb.Offline = old.Offline
		}
		n.Brokers[b.BrokerID] = nb
	case RecBrokerFencing:
		f := r.BrokerFencing
		b, ok := n.Brokers[f.BrokerID]
		if !ok || b.Epoch != f.BrokerEpoch {
			return fmt.Errorf("%w: fencing broker %d epoch %d, which is not its current registration (entry %d)", model.ErrInvalidRequest, f.BrokerID, f.BrokerEpoch, offset)
		}
		nb := *b
		nb.Fenced = f.Fenced
		n.Brokers[f.BrokerID] = &nb
	case RecTopic:
		t := r.Topic
		if _, ok := n.Topics[t.Name]; ok {
			return fmt.Errorf("%w: topic %q already exists (entry %d)", model.ErrTopicAlreadyExists, t.Name, offset)
		}
		if _, ok := n.TopicsByID[t.ID]; ok {
			return fmt.Errorf("%w: topic id %s is taken (entry %d)", model.ErrInvalidRequest, t.ID, offset)
		}
		norm := strings.ReplaceAll(t.Name, ".", "_")
		for name := range n.Topics {
			if strings.ReplaceAll(name, ".", "_") == norm {
				return fmt.Errorf("%w: topic %q collides with existing topic %q ('.' and '_' are the same in metric names)", model.ErrInvalidTopic, t.Name, name)
			}
		}
		top := &Topic{Name: t.Name, ID: t.ID, Configs: map[string]string{}}
		owned[top] = true
		n.Topics[t.Name] = top
		n.TopicsByID[t.ID] = top
	case RecPartition:
		p := r.Partition
		old, ok := n.TopicsByID[p.TopicID]
		if !ok {
			return fmt.Errorf("%w: partition of unknown topic %s (entry %d)", model.ErrUnknownTopicOrPartition, p.TopicID, offset)
		}
		top := old
		if !owned[old] {
			c := *old
			c.Partitions = slices.Clone(old.Partitions)
			top = &c
			owned[top] = true
		}
		part := Partition{Partition: p.Partition, Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR),
			Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch}
		switch {
		case int(p.Partition) < len(top.Partitions):
			// A change to an existing partition is a compare-and-set on
			// its partition epoch: one planned from an older image (a
			// racing fence and AlterPartition) is rejected.
			cur := top.Partitions[p.Partition]
			if p.PartitionEpoch != cur.PartitionEpoch+1 || p.LeaderEpoch < cur.LeaderEpoch {
				return fmt.Errorf("%w: topic %s partition %d: change planned at partition epoch %d, leader epoch %d; image has %d, %d (entry %d)",
					ErrStalePartitionEpoch, top.Name, p.Partition, p.PartitionEpoch-1, p.LeaderEpoch, cur.PartitionEpoch, cur.LeaderEpoch, offset)
			}
			part.AddingReplicas, part.RemovingReplicas = cur.AddingReplicas, cur.RemovingReplicas
			if p.Reassignment != nil {
				part.AddingReplicas, part.RemovingReplicas = slices.Clone(p.Reassignment.Adding), slices.Clone(p.Reassignment.Removing)
			}
			top.Partitions[p.Partition] = part
		case int(p.Partition) == len(top.Partitions):
			top.Partitions = append(top.Partitions, part)
		default:
			return fmt.Errorf("%w: topic %s partition %d out of sequence (entry %d)", model.ErrInvalidPartitions, top.Name, p.Partition, offset)
		}
		n.Topics[top.Name] = top
		n.TopicsByID[top.ID] = top
	case RecConfig:
		c := r.Config
		switch c.ResourceType {
		case ResourceTopic:
			old, ok := n.Topics[c.ResourceName]
			if !ok {
				return fmt.Errorf("%w: config of unknown topic %q (entry %d)", model.ErrUnknownTopicOrPartition, c.ResourceName, offset)
			}
			top := *old
			top.Configs = cloneMap(old.Configs)
			setOrDelete(top.Configs, c.Name, c.Value)
			if owned[old] {
				// Its partition list is this entry's own as well.
				owned[&top] = true
			}
			n.Topics[top.Name] = &top
			n.TopicsByID[top.ID] = &top
		case ResourceBroker:
			setOrDelete(n.BrokerConfigs, c.Name, c.Value)
		case ResourceClientMetrics:
			n.applyClientMetricsConfig(c)
		case ResourceGroup:
			n.applyGroupConfig(c)
		default:
			return fmt.Errorf("%w: config resource type %d (entry %d)", model.ErrInvalidRequest, c.ResourceType, offset)
		}
	case RecRemoveTopic:
		top, ok := n.TopicsByID[r.RemoveTopic.TopicID]
		if !ok {
			return fmt.Errorf("%w: removal of unknown topic %s (entry %d)", model.ErrUnknownTopicOrPartition, r.RemoveTopic.TopicID, offset)
		}
		delete(n.TopicsByID, top.ID)
		delete(n.Topics, top.Name)
		n.dropOfflineTopic(top.ID)
	case RecACL, RecRemoveACL:
		return n.applyACL(offset, r)
	case RecProducerIDs:
		// The block must start where the image's next id is, or two
		// proposers planned from the same image and the later one loses.
		if r.ProducerIDs.NextProducerID-producerIDBlockSize != n.NextProducerID {
			return fmt.Errorf("%w: producer id block ending at %d does not start at %d (entry %d)", errStaleProducerIDs, r.ProducerIDs.NextProducerID, n.NextProducerID, offset)
		}
		n.NextProducerID = r.ProducerIDs.NextProducerID
	case RecScram:
		return n.applyScram(offset, r.Scram)
	case RecClientQuota:
		return n.applyClientQuota(offset, r.ClientQuota)
	case RecOfflineReplicas:
		return n.applyOfflineReplicas(offset, r.OfflineReplicas)
	default:
		return fmt.Errorf("%w: record type %q (entry %d)", model.ErrInvalidRequest, r.Type, offset)
	}
	return nil
}

// bodyMissing reports whether r lacks the field its Type names (a log
// entry that decodes but is not one this code wrote).
func (r *Record) bodyMissing() bool {
	switch r.Type {
	case RecRegisterBroker:
		return r.RegisterBroker == nil
	case RecTopic:
		return r.Topic == nil
	case RecPartition:
		return r.Partition == nil
	case RecConfig:
		return r.Config == nil
	case RecRemoveTopic:
		return r.RemoveTopic == nil
	case RecProducerIDs:
		return r.ProducerIDs == nil
	case RecBrokerFencing:
		return r.BrokerFencing == nil
	case RecOfflineReplicas:
		return r.OfflineReplicas == nil
	}
	return false // the others check their own
}

func setOrDelete(m map[string]string, k string, v *string) {
	if v == nil {
		delete(m, k)
		return
	}
	m[k] = *v
}

// snapshotImage is the JSON form of an Image in a raft snapshot: the log's
// pure function, without the node-local ClusterID and ControllerID, and
// without TopicsByID, which is rebuilt.
type snapshotImage struct {
	Offset         int64                `json:"offset"`
	Brokers        []*Broker            `json:"brokers"`
	Topics         []*Topic             `json:"topics"`
	BrokerConfigs  map[string]string    `json:"broker_configs"`
	NextProducerID int64                `json:"next_producer_id"`
	Scram          ScramUsers           `json:"scram_credentials,omitempty"`
	ClientQuotas   []*ClientQuota       `json:"client_quotas,omitempty"`
	ACLs           map[UUID]acl.Binding `json:"acls,omitempty"`

	ClientMetrics map[string]map[string]string `json:"client_metrics,omitempty"`
	GroupConfigs  map[string]map[string]string `json:"group_configs,omitempty"`
}

func (im *Image) marshalSnapshot() ([]byte, error) {
	s := snapshotImage{Offset: im.Offset, BrokerConfigs: im.BrokerConfigs, NextProducerID: im.NextProducerID, ACLs: im.ACLs}
	s.Scram = im.Scram
	for _, id := range im.BrokerIDs() {
		s.Brokers = append(s.Brokers, im.Brokers[id])
	}
	for _, n := range im.TopicNames() {
		s.Topics = append(s.Topics, im.Topics[n])
	}
	s.ClientQuotas = im.SortedClientQuotas()
	s.ClientMetrics = im.ClientMetrics
	s.GroupConfigs = im.GroupConfigs
	return json.Marshal(&s)
}

func unmarshalSnapshot(b []byte, clusterID string, controllerID int32) (*Image, error) {
	var s snapshotImage
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: snapshot image: %v", ErrCorruptLog, err)
	}
	im := emptyImage(clusterID, controllerID)
	im.Offset = s.Offset
	im.NextProducerID = s.NextProducerID
	im.Scram = s.Scram
	im.restoreACLs(s.ACLs)
	im.ClientMetrics = s.ClientMetrics
	im.GroupConfigs = s.GroupConfigs
	if s.BrokerConfigs != nil {
		im.BrokerConfigs = s.BrokerConfigs
	}
	for _, b := range s.Brokers {
		im.Brokers[b.ID] = b
	}
	for _, t := range s.Topics {
		if t.Configs == nil {
			t.Configs = map[string]string{}
		}
		im.Topics[t.Name] = t
		im.TopicsByID[t.ID] = t
	}
	for _, q := range s.ClientQuotas {
		if im.ClientQuotas == nil {
			im.ClientQuotas = map[string]*ClientQuota{}
		}
		im.ClientQuotas[QuotaEntityKey(q.Entity)] = q
	}
	return im, nil
}
