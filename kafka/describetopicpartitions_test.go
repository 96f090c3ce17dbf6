package kafka

// Tests DescribeTopicPartitions (key 75) with franz-go: paging through
// every topic with the cursor and a small partition limit visits each
// partition once in order, named topics that are missing or invalid get
// their errors, a cursor outside the named topics is INVALID_REQUEST, and
// with an authorizer topics the principal may not describe are denied
// when named and left out of a listing. Also AlterReplicaLogDirs (key 34)
// for partitions not stored here and without ALTER on the cluster (its
// success on a real log dir is in e2e).

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
)

func dtp(t *testing.T, cl *kgo.Client, limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit, req.Cursor = limit, cursor
	for _, n := range topics {
		req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: n})
	}
	return request[*kmsg.DescribeTopicPartitionsResponse](t, cl, req)
}

func TestDescribeTopicPartitionsPages(t *testing.T) {
	h := newHarness(t)
	h.createTopic("a", 3, nil)
	h.createTopic("b", 1, nil)
	h.createTopic("c", 4, nil)
	cl := h.client()

	// Every topic (with __consumer_offsets' 50 if it exists) in pages of
	// 2 partitions: each partition once, in order.
	var seen []string
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("no end of pages")
		}
		resp := dtp(t, cl, 2, cursor)
		n := 0
		for _, rt := range resp.Topics {
			if rt.ErrorCode != 0 || rt.Topic == nil {
				t.Fatalf("topic %v: %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
			}
			if rt.AuthorizedOperations == authOpsNotRequested {
				t.Fatalf("topic %s: authorized operations not filled", *rt.Topic)
			}
			for _, p := range rt.Partitions {
				if p.LeaderID != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
					t.Fatalf("%s-%d: leader %d replicas %v isr %v", *rt.Topic, p.Partition, p.LeaderID, p.Replicas, p.ISR)
				}
				seen = append(seen, fmt.Sprintf("%s-%d", *rt.Topic, p.Partition))
				n++
			}
		}
		if n > 2 {
			t.Fatalf("a page of limit 2 has %d partitions", n)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	var want []string
	for _, tp := range []struct {
		name string
		n    int
	}{{"a", 3}, {"b", 1}, {"c", 4}} {
		for p := range tp.n {
			want = append(want, fmt.Sprintf("%s-%d", tp.name, p))
		}
	}
	var got []string
	for _, s := range seen {
		if s[0] != '_' {
			got = append(got, s)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged partitions %v, want %v", got, want)
	}

	// Named topics: missing and invalid ones are errors and use no room.
	resp := dtp(t, cl, 8, nil, "c", "missing", "bad/name", "a")
	codes := map[string]int16{}
	for _, rt := range resp.Topics {
		codes[*rt.Topic] = rt.ErrorCode
	}
	if len(codes) != 4 || codes["missing"] != kerr.UnknownTopicOrPartition.Code || codes["bad/name"] != kerr.InvalidTopicException.Code || codes["a"] != 0 || codes["c"] != 0 || resp.NextCursor != nil {
		t.Fatalf("named topics: %v, cursor %+v", codes, resp.NextCursor)
	}
	// A topic that does not fit at all: the cursor is its partition 0.
	resp = dtp(t, cl, 3, nil, "c", "a")
	if len(resp.Topics) != 1 || resp.NextCursor == nil || resp.NextCursor.Topic != "c" || resp.NextCursor.Partition != 0 {
		t.Fatalf("cursor after a's 3 partitions: %+v, want c/0", resp.NextCursor)
	}
	// Starting at the cursor's partition.
	resp = dtp(t, cl, 10, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "c", Partition: 2}, "c")
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 || resp.Topics[0].Partitions[0].Partition != 2 || resp.NextCursor != nil {
		t.Fatalf("from c/2: %+v", resp)
	}
	// A cursor outside the named topics, or a negative partition.
	for _, c := range []kmsg.DescribeTopicPartitionsRequestCursor{{Topic: "b"}, {Topic: "a", Partition: -1}} {
		resp = dtp(t, cl, 10, &c, "a", "c")
		if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code || resp.Topics[1].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("cursor %+v: %+v, want INVALID_REQUEST for each topic", c, resp.Topics)
		}
	}
}

func TestDescribeTopicPartitionsAuthorization(t *testing.T) {
	h := newHarness(t, withAuthorizer("User:admin"))
	ctx := testCtx(t)
	for _, n := range []string{"open", "secret"} {
		if r := h.ctrl.CreateTopics(ctx, []controlplane.CreateTopic{{Name: n, NumPartitions: 1, ReplicationFactor: 1}}, false); r[0].Err != nil {
			t.Fatal(r[0].Err)
		}
	}
	grant(t, h, anonAllow(acl.ResourceTopic, "open", acl.PatternLiteral, acl.OpDescribe))
	cl := h.client()
	all := dtp(t, cl, 100, nil)
	if len(all.Topics) != 1 || *all.Topics[0].Topic != "open" {
		t.Fatalf("listing: %+v, want only open", all.Topics)
	}
	named := dtp(t, cl, 100, nil, "secret", "open", "nothing")
	if len(named.Topics) != 3 || *named.Topics[0].Topic != "open" || named.Topics[0].ErrorCode != 0 {
		t.Fatalf("named: %+v", named.Topics)
	}
	for _, rt := range named.Topics[1:] {
		if rt.ErrorCode != kerr.TopicAuthorizationFailed.Code || rt.TopicID != [16]byte{} || len(rt.Partitions) != 0 {
			t.Fatalf("%s: %v id %x, want TOPIC_AUTHORIZATION_FAILED without an id", *rt.Topic, kerr.ErrorForCode(rt.ErrorCode), rt.TopicID)
		}
	}
	// Authorized operations are what the principal may do: DESCRIBE only.
	if ops := named.Topics[0].AuthorizedOperations; ops != 1<<int(acl.OpDescribe) {
		t.Fatalf("authorized operations %b, want DESCRIBE only", ops)
	}

	// AlterReplicaLogDirs needs ALTER on the cluster.
	denied := kadm.AlterReplicaLogDirsReq{}
	denied.Add("/x", kadm.TopicsSet{"open": {0: {}}})
	res, err := kadm.NewClient(cl).AlterAllReplicaLogDirs(ctx, denied)
	if err != nil {
		t.Fatal(err)
	}
	res.Each(func(r kadm.AlterReplicaLogDirsResponse) {
		if r.Err != kerr.ClusterAuthorizationFailed {
			t.Fatalf("%s-%d without ALTER on the cluster: %v", r.Topic, r.Partition, r.Err)
		}
	})
}

// A partition the metadata lacks, and one with no replica here (this
// server calls itself node 2; the harness' topics live on node 1).
func TestAlterReplicaLogDirsNotHere(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, func(c *Config) {
		c.NodeID = 2
		b := *c.Broker
		b.LogDirs = []string{dir}
		c.Broker = &b
	})
	h.createTopic("elsewhere", 1, nil)
	req := kmsg.NewPtrAlterReplicaLogDirsRequest()
	req.Version = 2
	req.Dirs = []kmsg.AlterReplicaLogDirsRequestDir{{Dir: dir, Topics: []kmsg.AlterReplicaLogDirsRequestDirTopic{
		{Topic: "elsewhere", Partitions: []int32{0, 5}},
	}}}
	resp := h.dial().roundTrip(req, 1).(*kmsg.AlterReplicaLogDirsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("%+v", resp)
	}
	for i, want := range []*kerr.Error{kerr.ReplicaNotAvailable, kerr.UnknownTopicOrPartition} {
		if p := resp.Topics[0].Partitions[i]; p.ErrorCode != want.Code {
			t.Errorf("elsewhere-%d: %v, want %v", p.Partition, kerr.ErrorForCode(p.ErrorCode), want)
		}
	}
}
