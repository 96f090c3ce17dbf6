package group

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerMemberDescription is one member in ConsumerGroupDescribe.
type ConsumerMemberDescription struct {
	MemberID               string
	InstanceID, RackID     *string
	MemberEpoch            int32
	State                  string // STABLE, UNREVOKED_PARTITIONS, UNRELEASED_PARTITIONS
	ClientID, ClientHost   string
	SubscribedTopicNames   []string
	SubscribedTopicRegex   string
	Assignment, Target     []ConsumerTopic // by topic id
	Revoking               []ConsumerTopic
	RebalanceTimeoutMillis int32
	Classic                bool // uses the classic protocol (convert.go)
}

// ConsumerDescription is a consumer group in ConsumerGroupDescribe.
type ConsumerDescription struct {
	State                  string
	Epoch, AssignmentEpoch int32
	Assignor               string
	Members                []ConsumerMemberDescription
	TopicNames             map[[16]byte]string
}

// DescribeConsumerGroup describes a KIP-848 group: GROUP_ID_NOT_FOUND for
// an unknown group or a classic one, as Kafka answers.
func (c *Coordinator) DescribeConsumerGroup(groupID string) (ConsumerDescription, error) {
	topics := c.topics()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, false); err != nil {
		return ConsumerDescription{}, err
	}
	g := c.mu.groups[groupID]
	if g == nil || g.cg == nil {
		return ConsumerDescription{}, fmt.Errorf("%w: group %s is not a consumer group", ErrGroupIDNotFound, groupID)
	}
	cg := g.cg
	d := ConsumerDescription{State: cg.stateName(), Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: c.cfg.ConsumerAssignors[0], TopicNames: map[[16]byte]string{}}
	for name, t := range topics {
		d.TopicNames[t.ID] = name
	}
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		if m.assignor != "" {
			d.Assignor = m.assignor
		}
		d.Members = append(d.Members, ConsumerMemberDescription{
			MemberID: m.id, InstanceID: m.instanceID, RackID: m.rackID, MemberEpoch: m.epoch, State: m.state.String(),
			ClientID: m.clientID, ClientHost: m.clientHost, SubscribedTopicNames: m.topics, SubscribedTopicRegex: m.regex,
			Assignment: toConsumerTopics(m.assigned, topics), Target: toConsumerTopics(cg.target[id], topics),
			Revoking: toConsumerTopics(m.revoking, topics), RebalanceTimeoutMillis: int32(m.rebalanceTimeout.Milliseconds()),
			Classic: m.classic != nil,
		})
	}
	return d, nil
}

// CheckOffsetFetch checks an OffsetFetch (v9+) that names a member of a
// consumer group: UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH. Other groups
// (unknown, classic) are not checked, as in Kafka.
func (c *Coordinator) CheckOffsetFetch(groupID, memberID string, epoch int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.checkLocked(groupID, true); err != nil {
		return err
	}
	g := c.mu.groups[groupID]
	if g == nil || g.cg == nil {
		return nil
	}
	return g.cg.validateFetch(memberID, epoch)
}

// describeClassic is a consumer group as DescribeGroups shows it, as
// Kafka does for old tools: protocol type "consumer", the assignor as the
// protocol, and each member's subscription and current assignment in the
// classic consumer protocol's encoding.
func (cg *cgroup) describeClassic(d Description, topics map[string]TopicMeta, defaultAssignor string) Description {
	d.StateName = cg.stateName()
	d.Protocol = defaultAssignor
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		if m.assignor != "" {
			d.Protocol = m.assignor
		}
		md := kmsg.NewConsumerMemberMetadata()
		md.Topics = m.subscribed(topics)
		if md.Topics == nil {
			md.Topics = []string{}
		}
		a := kmsg.NewConsumerMemberAssignment()
		for _, tp := range m.assigned.sorted() {
			if n := len(a.Topics); n > 0 && a.Topics[n-1].Topic == tp.Topic {
				a.Topics[n-1].Partitions = append(a.Topics[n-1].Partitions, tp.Partition)
				continue
			}
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: tp.Topic, Partitions: []int32{tp.Partition}})
		}
		d.Members = append(d.Members, MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			Metadata: md.AppendTo(nil), Assignment: a.AppendTo(nil)})
	}
	return d
}
