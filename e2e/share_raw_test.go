package e2e

// This file proves the share-partition side of share groups (KIP-932)
// with raw ShareFetch/ShareAcknowledge requests (kmsg), no group side
// needed: records are acquired with delivery counts, acknowledgements of
// records a member does not hold are refused for that partition only,
// an expired lock hands the records to another member, records released
// share.delivery.count.limit times (5) and rejected records are archived
// and counted on /metrics, the SPSO that DescribeShareGroupOffsets shows
// moves past them, a dropped connection releases its member's records at
// once, session epochs are checked, and the acknowledged state survives a
// restart (it lives in __share_group_state).

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// shareLockMs is the acquisition lock of the share tests: short, so that
// expiry is seen quickly (group.share.min.record.lock.duration.ms is
// lowered to allow it).
const shareLockMs = 3000

func shareSettings() map[string]string {
	return map[string]string{
		"group.share.min.record.lock.duration.ms": strconv.Itoa(shareLockMs),
		"group.share.record.lock.duration.ms":     strconv.Itoa(shareLockMs),
	}
}

// rawShareMember speaks ShareFetch/ShareAcknowledge on its own connection.
type rawShareMember struct {
	t       *testing.T
	cl      *kgo.Client
	group   string
	member  string
	epoch   int32
	topicID [16]byte
	// held is what the member's fetches acquired and fetchUntil has not
	// handed out yet: partition -> offset -> delivery count.
	held map[int32]map[int64]int16
}

func newRawShareMember(t *testing.T, n *testkit.Node, group, member string, topicID [16]byte) *rawShareMember {
	cl := n.Client()
	t.Cleanup(cl.Close)
	return &rawShareMember{t: t, cl: cl, group: group, member: member, topicID: topicID}
}

// joinShareGroup makes the group exist on the group side, when the
// broker has one (ShareGroupHeartbeat), so that DescribeShareGroupOffsets
// finds it; ShareFetch itself does not check membership (as in Kafka).
func joinShareGroup(t *testing.T, n *testkit.Node, group, member, topic string) {
	t.Helper()
	if !brokerServes(t, n, 76) {
		return
	}
	cl := n.Client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Sent to the group's coordinator (kgo does not route it); a
	// coordinator still loading answers NOT_COORDINATOR meanwhile.
	testkit.WaitFor(t, 20*time.Second, "a ShareGroupHeartbeat to join", func() bool {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey = group
		fr, err := fc.RequestWith(ctx, cl)
		if err != nil || fr.ErrorCode != 0 {
			return false
		}
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = group, member, 0, []string{topic}
		resp, err := req.RequestWith(ctx, cl.Broker(int(fr.NodeID)))
		return err == nil && resp.ErrorCode == 0
	})
}

type rawAck struct {
	partition   int32
	first, last int64
	typ         int8
}

func (m *rawShareMember) request(req kmsg.Request) kmsg.Response {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := m.cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		m.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// fetch sends a ShareFetch at the member's epoch naming partitions, with
// acks; epoch -1 closes the session.
func (m *rawShareMember) fetch(partitions []int32, acks []rawAck, maxWaitMs int32) *kmsg.ShareFetchResponse {
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.member, m.epoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords = maxWaitMs, 1, 1<<20, 500
	t := kmsg.NewShareFetchRequestTopic()
	t.TopicID = m.topicID
	byPart := map[int32]int{}
	for _, p := range partitions {
		byPart[p] = len(t.Partitions)
		rp := kmsg.NewShareFetchRequestTopicPartition()
		rp.Partition = p
		t.Partitions = append(t.Partitions, rp)
	}
	for _, a := range acks {
		i, ok := byPart[a.partition]
		if !ok {
			i = len(t.Partitions)
			byPart[a.partition] = i
			rp := kmsg.NewShareFetchRequestTopicPartition()
			rp.Partition = a.partition
			t.Partitions = append(t.Partitions, rp)
		}
		t.Partitions[i].AcknowledgementBatches = append(t.Partitions[i].AcknowledgementBatches,
			kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{FirstOffset: a.first, LastOffset: a.last, AcknowledgeTypes: []int8{a.typ}})
	}
	if len(t.Partitions) > 0 {
		req.Topics = append(req.Topics, t)
	}
	resp := m.request(req).(*kmsg.ShareFetchResponse)
	if resp.ErrorCode == 0 && m.epoch >= 0 {
		m.epoch++
	}
	if resp.ErrorCode == 0 {
		for p, offs := range acquired(m.t, resp) {
			if m.held == nil {
				m.held = map[int32]map[int64]int16{}
			}
			if m.held[p] == nil {
				m.held[p] = map[int64]int16{}
			}
			for o, c := range offs {
				m.held[p][o] = c
			}
		}
	}
	return resp
}

// acknowledge sends a ShareAcknowledge and returns each partition's code.
func (m *rawShareMember) acknowledge(acks []rawAck) (int16, map[int32]int16) {
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.member, m.epoch
	t := kmsg.NewShareAcknowledgeRequestTopic()
	t.TopicID = m.topicID
	for _, a := range acks {
		rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
		rp.Partition = a.partition
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches,
			kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{FirstOffset: a.first, LastOffset: a.last, AcknowledgeTypes: []int8{a.typ}})
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	resp := m.request(req).(*kmsg.ShareAcknowledgeResponse)
	if resp.ErrorCode == 0 && m.epoch > 0 {
		m.epoch++
	}
	out := map[int32]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[p.Partition] = p.ErrorCode
		}
	}
	return resp.ErrorCode, out
}

// acquired is partition -> offset -> delivery count of a response.
func acquired(t *testing.T, resp *kmsg.ShareFetchResponse) map[int32]map[int64]int16 {
	t.Helper()
	if resp.ErrorCode != 0 {
		t.Fatalf("ShareFetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	out := map[int32]map[int64]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("ShareFetch partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
			for _, r := range p.AcquiredRecords {
				if len(p.Records) == 0 {
					t.Fatalf("partition %d: acquired %d-%d without records", p.Partition, r.FirstOffset, r.LastOffset)
				}
				for o := r.FirstOffset; o <= r.LastOffset; o++ {
					if out[p.Partition] == nil {
						out[p.Partition] = map[int64]int16{}
					}
					out[p.Partition][o] = r.DeliveryCount
				}
			}
		}
	}
	return out
}

// fetchUntil fetches until the member holds want records of partition p
// (each at delivery count count), and returns them.
func (m *rawShareMember) fetchUntil(partitions []int32, p int32, want int, count int16) {
	m.t.Helper()
	testkit.WaitFor(m.t, 20*time.Second, m.member+" to acquire records", func() bool {
		if len(m.held[p]) >= want {
			return true
		}
		m.fetch(partitions, nil, 500)
		return len(m.held[p]) >= want
	})
	got := m.held[p]
	delete(m.held, p)
	if len(got) != want {
		m.t.Fatalf("%s acquired %d records of partition %d, want %d: %v", m.member, len(got), p, want, got)
	}
	for o, c := range got {
		if c != count {
			m.t.Fatalf("%s: offset %d delivery count %d, want %d", m.member, o, c, count)
		}
	}
}

// shareStartOffsets is DescribeShareGroupOffsets' start offset per
// partition of topic.
func shareStartOffsets(t *testing.T, cl *kgo.Client, group, topic string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	g.GroupID = group
	g.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0, 1}}}
	req.Groups = append(req.Groups, g)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("DescribeShareGroupOffsets: %v", err)
	}
	out := map[int32]int64{}
	for _, rg := range resp.Groups {
		if rg.ErrorCode != 0 {
			t.Fatalf("DescribeShareGroupOffsets: %v", kerr.ErrorForCode(rg.ErrorCode))
		}
		for _, rt := range rg.Topics {
			for _, p := range rt.Partitions {
				if p.ErrorCode != 0 {
					t.Fatalf("DescribeShareGroupOffsets %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
				out[p.Partition] = p.StartOffset
				if p.StartOffset >= 0 && p.Lag < 0 {
					t.Fatalf("DescribeShareGroupOffsets %d: lag %d on the partition's leader", p.Partition, p.Lag)
				}
			}
		}
	}
	return out
}

func produceTo(t *testing.T, cl *kgo.Client, topic string, p int32, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := 0; i < count; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func topicID(t *testing.T, n *testkit.Node, topic string) [16]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := n.Admin().ListTopics(ctx, topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("list topics: %v %v", err, td[topic].Err)
	}
	return td[topic].ID
}

func TestShareFetchRaw(t *testing.T) {
	t.Parallel()
	o, adminAddr := withAdmin(t, testkit.Options{Settings: shareSettings()})
	n := startNode(t, o)
	const topic, group = "share-raw", "share-raw-group"
	n.CreateTopic(topic, 2, nil)
	id := topicID(t, n, topic)
	prod := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer prod.Close()
	parts := []int32{0, 1}

	// A opens its session first: share.auto.offset.reset=latest puts
	// the SPSO at the high watermark (0) on first use.
	joinShareGroup(t, n, group, "raw-share-member-a-0000000000000", topic)
	a := newRawShareMember(t, n, group, "member-a", id)
	acquired(t, a.fetch(parts, nil, 0))
	produceTo(t, prod, topic, 0, 10)
	produceTo(t, prod, topic, 1, 10)
	a.fetchUntil(nil, 0, 10, 1)
	a.fetchUntil(nil, 1, 10, 1)

	// Epochs: a stale one and an unknown member are refused.
	stale := *a
	stale.epoch = a.epoch - 1
	if resp := stale.fetch(nil, nil, 0); resp.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("stale epoch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	b := newRawShareMember(t, n, group, "member-b", id)
	b.epoch = 3
	if resp := b.fetch(nil, nil, 0); resp.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("no session: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	b.epoch = 0
	acquired(t, b.fetch(parts, nil, 0))

	// B cannot acknowledge A's records; A's own good batch on partition 0
	// is applied while its bad one on partition 1 (past the window) is
	// refused.
	if code, per := b.acknowledge([]rawAck{{1, 0, 9, 1}}); code != 0 || per[1] != kerr.InvalidRecordState.Code {
		t.Fatalf("B acking A's records: %v %v", code, per)
	}
	if code, per := a.acknowledge([]rawAck{{0, 0, 9, 1}, {1, 10, 12, 1}}); code != 0 || per[0] != 0 || per[1] != kerr.InvalidRecordState.Code {
		t.Fatalf("A's acks: %v %v", code, per)
	}

	// A holds partition 1's records without acknowledging: its lock
	// expires and B gets them, delivered a second time.
	before := scrape(t, adminAddr)
	b.fetchUntil(nil, 1, 10, 2)
	if d := metricSum(scrape(t, adminAddr), "ringtail_share_lock_expiries_total", nil) - metricSum(before, "ringtail_share_lock_expiries_total", nil); d < 10 {
		t.Fatalf("lock expiries counted %v, want >= 10", d)
	}
	// A's late acknowledgement is refused.
	if _, per := a.acknowledge([]rawAck{{1, 0, 9, 1}}); per[1] != kerr.InvalidRecordState.Code {
		t.Fatalf("A's late ack: %v", per)
	}

	// Released five times in all (deliveries 2..5 here after the
	// expiry), the records are archived.
	holder := b
	for count := int16(3); count <= 5; count++ {
		if _, per := holder.acknowledge([]rawAck{{1, 0, 9, 2}}); per[1] != 0 {
			t.Fatalf("release at delivery %d: %v", count-1, per)
		}
		if holder == b {
			holder = a
		} else {
			holder = b
		}
		holder.fetchUntil(nil, 1, 10, count)
	}
	if _, per := holder.acknowledge([]rawAck{{1, 0, 9, 2}}); per[1] != 0 {
		t.Fatalf("last release: %v", per)
	}
	// A reject archives at once.
	produceTo(t, prod, topic, 0, 1)
	a.fetchUntil(nil, 0, 1, 1)
	if _, per := a.acknowledge([]rawAck{{0, 10, 10, 3}}); per[0] != 0 {
		t.Fatalf("reject: %v", per)
	}
	if got := metricSum(scrape(t, adminAddr), "ringtail_share_records_archived_total", nil); got != 11 {
		t.Fatalf("archived %v, want 11 (10 past the delivery limit, 1 rejected)", got)
	}
	if so := shareStartOffsets(t, prod, group, topic); so[0] != 11 || so[1] != 10 {
		t.Fatalf("start offsets %v, want 0:11 1:10", so)
	}

	// A's connection drops while it holds records: they are released at
	// once (no lock expiry), and B gets them.
	produceTo(t, prod, topic, 0, 5)
	a.fetchUntil(nil, 0, 5, 1)
	expiries := metricSum(scrape(t, adminAddr), "ringtail_share_lock_expiries_total", nil)
	a.cl.Close()
	b.fetchUntil(nil, 0, 5, 2)
	if got := metricSum(scrape(t, adminAddr), "ringtail_share_lock_expiries_total", nil); got != expiries {
		t.Fatalf("lock expiries went from %v to %v: the records were not released by the connection close", expiries, got)
	}
	// B closes its session with a final acknowledgement (epoch -1).
	b.epoch = -1
	resp := b.fetch(nil, []rawAck{{0, 11, 15, 1}}, 0)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].AcknowledgeErrorCode != 0 {
		t.Fatalf("closing fetch: %+v", resp)
	}

	// The acknowledged state is durable: after a restart the SPSOs are
	// where they were, and a new member gets only new records.
	n.Restart()
	cl := n.Client()
	defer cl.Close()
	if so := shareStartOffsets(t, cl, group, topic); so[0] != 16 || so[1] != 10 {
		t.Fatalf("start offsets after restart %v, want 0:16 1:10", so)
	}
	c := newRawShareMember(t, n, group, "member-c", id)
	acquired(t, c.fetch(parts, nil, 0))
	prod2 := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer prod2.Close()
	produceTo(t, prod2, topic, 1, 3)
	c.fetchUntil(nil, 1, 3, 1)
}

// TestShareOffsetsAlterDelete proves AlterShareGroupOffsets and
// DeleteShareGroupOffsets on an empty share group (they need the group
// side to tell whether it is empty, and skip without it): altering moves
// the start offset DescribeShareGroupOffsets shows and where the next
// member starts; deleting forgets the state.
func TestShareOffsetsAlterDelete(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{Settings: shareSettings()})
	if !brokerServes(t, n, 76) {
		t.Fatal("the broker does not advertise ShareGroupHeartbeat (key 76)")
	}
	const topic, group = "share-alter", "share-alter-group"
	n.CreateTopic(topic, 2, nil)
	id := topicID(t, n, topic)
	prod := n.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer prod.Close()
	produceTo(t, prod, topic, 0, 20)
	// A member that joins and fetches initializes the state (latest: 20),
	// then leaves, so that the group is empty.
	const member = "raw-share-alter-member-0000000000"
	joinShareGroup(t, n, group, member, topic)
	m := newRawShareMember(t, n, group, "member-a", id)
	acquired(t, m.fetch([]int32{0, 1}, nil, 0))
	m.epoch = -1
	m.fetch(nil, nil, 0)
	cl := n.Client()
	defer cl.Close()
	leave := kmsg.NewPtrShareGroupHeartbeatRequest()
	leave.GroupID, leave.MemberID, leave.MemberEpoch = group, member, -1
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	testkit.WaitFor(t, 20*time.Second, "the member to leave", func() bool {
		resp, err := leave.RequestWith(ctx, cl)
		return err == nil && resp.ErrorCode == 0
	})
	if so := shareStartOffsets(t, cl, group, topic); so[0] != 20 {
		t.Fatalf("start offsets %v, want 0:20", so)
	}

	alter := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	alter.GroupID = group
	alter.Topics = []kmsg.AlterShareGroupOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.AlterShareGroupOffsetsRequestTopicPartition{{Partition: 0, StartOffset: 5}}}}
	var ar *kmsg.AlterShareGroupOffsetsResponse
	testkit.WaitFor(t, 20*time.Second, "AlterShareGroupOffsets on the empty group", func() bool {
		var err error
		ar, err = alter.RequestWith(ctx, cl)
		return err == nil && ar.ErrorCode == 0
	})
	if len(ar.Topics) != 1 || ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", ar)
	}
	if so := shareStartOffsets(t, cl, group, topic); so[0] != 5 {
		t.Fatalf("start offsets after alter %v, want 0:5", so)
	}
	b := newRawShareMember(t, n, group, "member-b", id)
	acquired(t, b.fetch([]int32{0}, nil, 0))
	b.fetchUntil(nil, 0, 15, 1)

	b.epoch = -1
	b.fetch(nil, []rawAck{{0, 5, 19, 1}}, 0)
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = group
	del.Topics = []kmsg.DeleteShareGroupOffsetsRequestTopic{{Topic: topic}}
	dr, err := del.RequestWith(ctx, cl)
	if err != nil || dr.ErrorCode != 0 || len(dr.Topics) != 1 || dr.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	if so := shareStartOffsets(t, cl, group, topic); so[0] != -1 || so[1] != -1 {
		t.Fatalf("start offsets after delete %v, want -1", so)
	}
}

// TestShareReadCommitted proves share.isolation.level=read_committed (a
// GROUP config, so it needs the group side and skips without it): the
// records of an aborted transaction are never acquired, those of a
// committed one are.
func TestShareReadCommitted(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{Settings: shareSettings()})
	if !brokerServes(t, n, 76) {
		t.Fatal("the broker does not advertise ShareGroupHeartbeat (key 76)")
	}
	const topic, group = "share-txn", "share-txn-group"
	n.CreateTopic(topic, 1, nil)
	id := topicID(t, n, topic)
	cl := n.Client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceType(32), group
	for k, v := range map[string]string{"share.isolation.level": "read_committed", "share.auto.offset.reset": "earliest"} {
		r.Configs = append(r.Configs, kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: k, Value: kmsg.StringPtr(v)})
	}
	alter.Resources = append(alter.Resources, r)
	if resp, err := alter.RequestWith(ctx, cl); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("setting the group's configs: %v %+v", err, resp)
	}

	txn := n.Client(kgo.TransactionalID("share-txn-producer"))
	defer txn.Close()
	for _, commit := range []bool{false, true} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if err := txn.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.FormatBool(commit))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets: 0..4 aborted, 5 its marker, 6..10 committed, 11 its marker.
	m := newRawShareMember(t, n, group, "member-a", id)
	acquired(t, m.fetch([]int32{0}, nil, 0))
	testkit.WaitFor(t, 20*time.Second, "the committed records", func() bool {
		for o := int64(6); o <= 10; o++ {
			if _, ok := m.held[0][o]; !ok {
				m.fetch(nil, nil, 500)
				return false
			}
		}
		return true
	})
	for o := range m.held[0] {
		if o < 5 {
			t.Fatalf("acquired offset %d of the aborted transaction (held %v)", o, m.held[0])
		}
	}
}
