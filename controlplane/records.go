package controlplane

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// UUID is a Kafka topic id (16 bytes).
type UUID [16]byte

// NewUUID returns a random (version 4) UUID that is not the zero UUID.
func NewUUID() UUID {
	var u UUID
	for u == (UUID{}) {
		if _, err := rand.Read(u[:]); err != nil {
			panic(fmt.Sprintf("controlplane: crypto/rand: %v", err))
		}
		u[6] = (u[6] & 0x0f) | 0x40
		u[8] = (u[8] & 0x3f) | 0x80
	}
	return u
}

func (u UUID) String() string { return hex.EncodeToString(u[:]) }

// Record types, one per kind of metadata change. A Record carries exactly one
// of its pointer fields, named by Type.
const (
	RecRegisterBroker = "register_broker"
	RecTopic          = "topic"
	RecPartition      = "partition"
	RecConfig         = "config"
	RecRemoveTopic    = "remove_topic"
	RecProducerIDs    = "producer_ids"
	RecBrokerFencing  = "broker_fencing"
	RecScram          = "scram_credential" // scram.go
	// RecOfflineReplicas marks replicas of a broker offline (a failed
	// log dir, offline.go).
	RecOfflineReplicas = "offline_replicas"
)

// Record is one entry of the metadata log.
type Record struct {
	Type           string                `json:"type"`
	RegisterBroker *RegisterBrokerRecord `json:"register_broker,omitempty"`
	Topic          *TopicRecord          `json:"topic,omitempty"`
	Partition      *PartitionRecord      `json:"partition,omitempty"`
	Config         *ConfigRecord         `json:"config,omitempty"`
	RemoveTopic    *RemoveTopicRecord    `json:"remove_topic,omitempty"`
	ProducerIDs    *ProducerIDsRecord    `json:"producer_ids,omitempty"`
	BrokerFencing  *BrokerFencingRecord  `json:"broker_fencing,omitempty"`
	Scram          *ScramRecord          `json:"scram_credential,omitempty"`
	ClientQuota    *ClientQuotaRecord    `json:"client_quota,omitempty"` // quotas.go
	ACL            *ACLRecord            `json:"acl,omitempty"`
	RemoveACL      *RemoveACLRecord      `json:"remove_acl,omitempty"`
	// OfflineReplicas: offline.go.
	OfflineReplicas *OfflineReplicasRecord `json:"offline_replicas,omitempty"`
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name             string `json:"name"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
	SecurityProtocol int16  `json:"security_protocol"`
}

// RegisterBrokerRecord adds or replaces a broker.
type RegisterBrokerRecord struct {
	BrokerID    int32      `json:"broker_id"`
	BrokerEpoch int64      `json:"broker_epoch"`
	Incarnation UUID       `json:"incarnation"`
	Endpoints   []Endpoint `json:"endpoints"`
	Rack        string     `json:"rack,omitempty"`
	Fenced      bool       `json:"fenced"`
}

// BrokerFencingRecord fences (or unfences) one registration of a broker:
// it applies only while the broker's epoch is BrokerEpoch, so a fence
// planned before the broker registered again is void.
type BrokerFencingRecord struct {
	BrokerID    int32 `json:"broker_id"`
	BrokerEpoch int64 `json:"broker_epoch"`
	Fenced      bool  `json:"fenced"`
}

// TopicRecord creates a topic.
type TopicRecord struct {
	Name string `json:"name"`
	ID   UUID   `json:"id"`
}

// PartitionRecord creates or replaces one partition of a topic.
type PartitionRecord struct {
	TopicID        UUID    `json:"topic_id"`
	Partition      int32   `json:"partition"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	// Reassignment, when set, replaces the partition's reassignment state
	// (empty lists: none in progress); nil keeps it.
	Reassignment *Reassignment `json:"reassignment,omitempty"`
}

// Reassignment is a partition's replica move in progress (KIP-455):
// Replicas holds the target replicas followed by the ones leaving.
type Reassignment struct {
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}

// Config resource types (Kafka's DescribeConfigs resource type codes).
const (
	ResourceTopic  int8 = 2
	ResourceBroker int8 = 4
)

// ConfigRecord sets (Value != nil) or removes (Value == nil) one config
// override of a resource.
type ConfigRecord struct {
	ResourceType int8    `json:"resource_type"`
	ResourceName string  `json:"resource_name"`
	Name         string  `json:"name"`
	Value        *string `json:"value"`
}

// RemoveTopicRecord deletes a topic with all its partitions and configs.
type RemoveTopicRecord struct {
	TopicID UUID `json:"topic_id"`
}

// ProducerIDsRecord hands a block of producer ids to a broker: ids in
// [NextProducerID-blockSize, NextProducerID) belong to it.
type ProducerIDsRecord struct {
	BrokerID       int32 `json:"broker_id"`
	NextProducerID int64 `json:"next_producer_id"`
}

// MarshalText encodes the UUID as 32 hex digits.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText decodes 32 hex digits.
func (u *UUID) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("controlplane: uuid %q: want 32 hex digits", b)
	}
	_, err := hex.Decode(u[:], b)
	return err
}
