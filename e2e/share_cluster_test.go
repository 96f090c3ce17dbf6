package e2e

// This file proves that share-partition state crosses nodes: in a
// 3-node cluster the leaders of a topic's partitions write their
// share-partitions' state through the group's share coordinator (on one
// node, reached with WriteShareGroupState over the wire from the others),
// DescribeShareGroupOffsets reads it back, and when a partition leader is
// killed the new leader loads the acknowledged state (the records acquired
// but not acknowledged are delivered again; the acknowledged are not).

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func TestShareStateCluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	settings := shareSettings()
	settings["share.coordinator.state.topic.replication.factor"] = "3"
	settings["share.coordinator.state.topic.num.partitions"] = "3"
	c := testkit.StartCluster(t, 3, testkit.Options{Settings: settings})
	const topic, group = "share-cl", "share-cl-group"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin()
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	leaders := map[int32]int32{}
	var id [16]byte
	testkit.WaitFor(t, 20*time.Second, "the topic's leaders", func() bool {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil || td[topic].Err != nil || len(td[topic].Partitions) != 3 {
			return false
		}
		id = td[topic].ID
		for _, p := range td[topic].Partitions {
			if p.Leader < 1 {
				return false
			}
			leaders[p.Partition] = p.Leader
		}
		return true
	})
	joinShareGroup(t, c.Node(1), group, "raw-share-cluster-member-000000000", topic)

	// One member, one session per partition leader (as clients do).
	members := map[int32]*rawShareMember{}
	for p, l := range leaders {
		m := newRawShareMember(t, c.Node(l), group, "member-"+itoa(int(p)), id)
		acquired(t, m.fetch([]int32{p}, nil, 0))
		members[p] = m
	}
	prod := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer prod.Close()
	for p := range leaders {
		produceTo(t, prod, topic, p, 10)
	}
	for p, m := range members {
		m.fetchUntil(nil, p, 10, 1)
		if code, per := m.acknowledge([]rawAck{{p, 0, 4, 1}}); code != 0 || per[p] != 0 {
			t.Fatalf("ack on partition %d: %v %v", p, code, per)
		}
	}
	cl := c.Client()
	defer cl.Close()
	so := shareStartOffsetsOK3(t, cl, group, topic)
	for p := int32(0); p < 3; p++ {
		if so[p] != 5 {
			t.Fatalf("start offsets %v, want 5 on each partition", so)
		}
	}

	// Kill partition 0's leader: the new leader loads SPSO 5 and hands
	// out 5..9 again (their locks were lost with the old leader).
	old := leaders[0]
	c.Node(old).Kill()
	var next int32
	other := c.Node(old%3 + 1)
	testkit.WaitFor(t, 30*time.Second, "a new leader of partition 0", func() bool {
		td, err := other.Admin().ListTopics(ctx, topic)
		if err != nil || td[topic].Err != nil {
			return false
		}
		next = td[topic].Partitions[0].Leader
		return next > 0 && next != old
	})
	m := newRawShareMember(t, c.Node(next), group, "member-after-move", id)
	acquired(t, m.fetch([]int32{0}, nil, 0))
	testkit.WaitFor(t, 30*time.Second, "records 5..9 again", func() bool {
		if len(m.held[0]) >= 5 {
			return true
		}
		m.fetch(nil, nil, 500)
		return len(m.held[0]) >= 5
	})
	for o := range m.held[0] {
		if o < 5 || o > 9 {
			t.Fatalf("after the move got offset %d: acknowledged records came back (%v)", o, m.held[0])
		}
	}
}

// shareStartOffsetsOK3 is shareStartOffsets over three partitions,
// retried until every partition answers.
func shareStartOffsetsOK3(t *testing.T, cl *kgo.Client, group, topic string) map[int32]int64 {
	t.Helper()
	var out map[int32]int64
	testkit.WaitFor(t, 20*time.Second, "DescribeShareGroupOffsets", func() bool {
		out = describeShareOffsets(cl, group, topic, []int32{0, 1, 2})
		return len(out) == 3
	})
	return out
}

// describeShareOffsets is DescribeShareGroupOffsets' start offset of each
// partition that answered without error.
func describeShareOffsets(cl *kgo.Client, group, topic string, parts []int32) map[int32]int64 {
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	g.GroupID = group
	g.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: parts}}
	req.Groups = append(req.Groups, g)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[int32]int64{}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return out
	}
	for _, rg := range resp.Groups {
		for _, rt := range rg.Topics {
			for _, p := range rt.Partitions {
				if rg.ErrorCode == 0 && p.ErrorCode == 0 {
					out[p.Partition] = p.StartOffset
				}
			}
		}
	}
	return out
}
