package controlplane

import (
	"fmt"
	"slices"
	"sort"
)

// Image is the metadata state after applying the log up to Offset. An Image
// is never modified after it is published: apply builds a new one, sharing
// whatever did not change.
type Image struct {
	// Offset is the index of the last applied record (-1 when empty).
	Offset         int64
	ClusterID      string
	ControllerID   int32
	Brokers        map[int32]*Broker
	Topics         map[string]*Topic
	TopicsByID     map[UUID]*Topic
	BrokerConfigs  map[string]string
	NextProducerID int64
}

// Broker is a registered broker.
type Broker struct {
	ID          int32
	Epoch       int64
	Incarnation UUID
	Endpoints   []Endpoint
	Rack        string
	Fenced      bool
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
	return &n
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// apply returns the image with r applied, without changing im. Records were
// validated by the controller before they were written, so a record that does
// not fit means the log is damaged.
func (im *Image) apply(offset int64, r *Record) (*Image, error) {
	n := im.clone()
	n.Offset = offset
	switch r.Type {
	case RecRegisterBroker:
		b := r.RegisterBroker
		n.Brokers[b.BrokerID] = &Broker{ID: b.BrokerID, Epoch: b.BrokerEpoch, Incarnation: b.Incarnation,
			Endpoints: slices.Clone(b.Endpoints), Rack: b.Rack, Fenced: b.Fenced}
	case RecTopic:
		t := r.Topic
		if _, ok := n.Topics[t.Name]; ok {
			return nil, fmt.Errorf("controlplane: record %d: topic %q exists", offset, t.Name)
		}
		top := &Topic{Name: t.Name, ID: t.ID, Configs: map[string]string{}}
		n.Topics[t.Name] = top
		n.TopicsByID[t.ID] = top
	case RecPartition:
		p := r.Partition
		old, ok := n.TopicsByID[p.TopicID]
		if !ok {
			return nil, fmt.Errorf("controlplane: record %d: partition of unknown topic %s", offset, p.TopicID)
		}
		top := *old
		top.Partitions = slices.Clone(old.Partitions)
		part := Partition{Partition: p.Partition, Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR),
			Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch}
		switch {
		case int(p.Partition) < len(top.Partitions):
			top.Partitions[p.Partition] = part
		case int(p.Partition) == len(top.Partitions):
			top.Partitions = append(top.Partitions, part)
		default:
			return nil, fmt.Errorf("controlplane: record %d: topic %s partition %d out of sequence", offset, top.Name, p.Partition)
		}
		n.Topics[top.Name] = &top
		n.TopicsByID[top.ID] = &top
	case RecConfig:
		c := r.Config
		switch c.ResourceType {
		case ResourceTopic:
			old, ok := n.Topics[c.ResourceName]
			if !ok {
				return nil, fmt.Errorf("controlplane: record %d: config of unknown topic %q", offset, c.ResourceName)
			}
			top := *old
			top.Configs = cloneMap(old.Configs)
			setOrDelete(top.Configs, c.Name, c.Value)
			n.Topics[top.Name] = &top
			n.TopicsByID[top.ID] = &top
		case ResourceBroker:
			setOrDelete(n.BrokerConfigs, c.Name, c.Value)
		default:
			return nil, fmt.Errorf("controlplane: record %d: config resource type %d", offset, c.ResourceType)
		}
	case RecRemoveTopic:
		top, ok := n.TopicsByID[r.RemoveTopic.TopicID]
		if !ok {
			return nil, fmt.Errorf("controlplane: record %d: removal of unknown topic %s", offset, r.RemoveTopic.TopicID)
		}
		delete(n.TopicsByID, top.ID)
		delete(n.Topics, top.Name)
	case RecProducerIDs:
		n.NextProducerID = r.ProducerIDs.NextProducerID
	default:
		return nil, fmt.Errorf("controlplane: record %d: unknown type %q", offset, r.Type)
	}
	return n, nil
}

func setOrDelete(m map[string]string, k string, v *string) {
	if v == nil {
		delete(m, k)
		return
	}
	m[k] = *v
}
