package kafka

// Tests of the share-partition side's edges over a raw connection: bad
// input gets Kafka's codes, the ACL checks of ShareFetch, ShareAcknowledge
// and the share coordinator's APIs, and the parsing of share coordinator
// keys and by_duration resets.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/storage"
)

func TestShareBadInput(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	group, member, empty := "g", "m", ""
	fetch := func(mut func(*kmsg.ShareFetchRequest)) *kmsg.ShareFetchResponse {
		req := kmsg.NewPtrShareFetchRequest()
		req.Version = 2
		req.GroupID, req.MemberID = &group, &member
		mut(req)
		return c.roundTrip(req, 1).(*kmsg.ShareFetchResponse)
	}
	for name, tc := range map[string]struct {
		mut  func(*kmsg.ShareFetchRequest)
		want *kerr.Error
	}{
		"empty member":          {func(r *kmsg.ShareFetchRequest) { r.MemberID = &empty }, kerr.InvalidRequest},
		"renew with a wait":     {func(r *kmsg.ShareFetchRequest) { r.IsRenewAck, r.MaxWaitMillis = true, 100 }, kerr.InvalidRequest},
		"no session":            {func(r *kmsg.ShareFetchRequest) { r.ShareSessionEpoch = 4 }, kerr.ShareSessionNotFound},
		"close with no session": {func(r *kmsg.ShareFetchRequest) { r.ShareSessionEpoch = -1 }, kerr.ShareSessionNotFound},
		"acks when opening": {func(r *kmsg.ShareFetchRequest) {
			r.Topics = []kmsg.ShareFetchRequestTopic{{Partitions: []kmsg.ShareFetchRequestTopicPartition{{
				AcknowledgementBatches: []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{{FirstOffset: 0, LastOffset: 0, AcknowledgeTypes: []int8{1}}}}}}}
		}, kerr.InvalidRequest},
	} {
		if resp := fetch(tc.mut); resp.ErrorCode != tc.want.Code {
			t.Errorf("%s: %v, want %v", name, kerr.ErrorForCode(resp.ErrorCode), tc.want)
		} else if resp.AcquisitionLockTimeoutMillis != 30000 {
			t.Errorf("%s: lock timeout %d", name, resp.AcquisitionLockTimeoutMillis)
		}
	}
	ack := kmsg.NewPtrShareAcknowledgeRequest()
	ack.Version = 2
	ack.GroupID, ack.MemberID = &group, &member
	if resp := c.roundTrip(ack, 2).(*kmsg.ShareAcknowledgeResponse); resp.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Errorf("ShareAcknowledge at epoch 0: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// An open session: the next epoch is 1, and an unknown topic id is
	// UNKNOWN_TOPIC_ID for that partition.
	resp := fetch(func(r *kmsg.ShareFetchRequest) {
		r.Topics = []kmsg.ShareFetchRequestTopic{{TopicID: [16]byte{9}, Partitions: []kmsg.ShareFetchRequestTopicPartition{{Partition: 0}}}}
	})
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("open with an unknown topic id: %+v", resp)
	}
	ack.ShareSessionEpoch = 2
	if resp := c.roundTrip(ack, 3).(*kmsg.ShareAcknowledgeResponse); resp.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Errorf("ShareAcknowledge at epoch 2: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	ack.ShareSessionEpoch = 1
	if resp := c.roundTrip(ack, 4).(*kmsg.ShareAcknowledgeResponse); resp.ErrorCode != 0 {
		t.Errorf("ShareAcknowledge at epoch 1: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

func TestShareACLs(t *testing.T) {
	h := newHarness(t, withAuthorizer("User:admin"))
	c := h.dial()
	group, member := "g", "m"
	fr := kmsg.NewPtrShareFetchRequest()
	fr.Version = 1
	fr.GroupID, fr.MemberID = &group, &member
	if resp := c.roundTrip(fr, 1).(*kmsg.ShareFetchResponse); resp.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("ShareFetch without READ on the group: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	ar := kmsg.NewPtrShareAcknowledgeRequest()
	ar.Version = 1
	ar.GroupID, ar.MemberID, ar.ShareSessionEpoch = &group, &member, 1
	if resp := c.roundTrip(ar, 2).(*kmsg.ShareAcknowledgeResponse); resp.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("ShareAcknowledge without READ on the group: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	wr := kmsg.NewPtrWriteShareGroupStateRequest()
	wr.GroupID = group
	wr.Topics = []kmsg.WriteShareGroupStateRequestTopic{{Partitions: []kmsg.WriteShareGroupStateRequestTopicPartition{{StartOffset: 3}}}}
	resp := c.roundTrip(wr, 3).(*kmsg.WriteShareGroupStateResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("WriteShareGroupState without CLUSTER_ACTION: %+v", resp)
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorType, fc.CoordinatorKeys = 6, 2, []string{"g:AAAAAAAAAAAAAAAAAAAAAA:0"}
	if r := c.roundTrip(fc, 4).(*kmsg.FindCoordinatorResponse); r.Coordinators[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("FindCoordinator of a share coordinator without CLUSTER_ACTION: %v", kerr.ErrorForCode(r.Coordinators[0].ErrorCode))
	}
}

func TestShareCoordinatorKey(t *testing.T) {
	for key, want := range map[string]string{
		"g:AAAAAAAAAAAAAAAAAAAAAA:0": "g",
		"a:b:tid:12":                 "a:b",
		"g:tid:x":                    "",
		"g::1":                       "",
		":tid:1":                     "",
		"g1":                         "",
	} {
		got, ok := shareCoordinatorGroup(key)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", key, got, ok, want)
		}
	}
	for v, want := range map[string]time.Duration{"PT1H": time.Hour, "P1D": 24 * time.Hour, "PT1M30S": 90 * time.Second, "P1DT2H": 26 * time.Hour} {
		if got, err := parseISODuration(v); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "P", "1H", "PT1", "P1H", "PTXS"} {
		if _, err := parseISODuration(v); err == nil {
			t.Errorf("%q parsed", v)
		}
	}
}

func TestAbortedBatches(t *testing.T) {
	batch := func(base int64, n int32, pid int64, attrs int16) []byte {
		b := kmsg.RecordBatch{FirstOffset: base, Magic: 2, Attributes: attrs, LastOffsetDelta: n - 1, ProducerID: pid, NumRecords: n}
		b.Length = int32(batchHeaderLen - 12)
		return b.AppendTo(nil)
	}
	var recs []byte
	recs = append(recs, batch(0, 2, 7, 0x10)...) // pid 7, aborted
	recs = append(recs, batch(2, 3, 8, 0x10)...) // pid 8, committed
	recs = append(recs, batch(5, 1, 7, 0x30)...) // pid 7's abort marker
	recs = append(recs, batch(6, 2, -1, 0)...)   // not transactional
	recs = append(recs, batch(8, 1, 7, 0x10)...) // pid 7, a later transaction
	got := abortedBatches(recs, []storage.AbortedTxn{{ProducerID: 7, FirstOffset: 0, LastOffset: 5}})
	if len(got) != 1 || got[0] != [2]int64{0, 1} {
		t.Fatalf("aborted ranges %v, want [0 1]", got)
	}
	if first, last, ok := batchSpan(recs); !ok || first != 0 || last != 8 {
		t.Fatalf("span %d-%d %v", first, last, ok)
	}
	if b := batchesOverlapping(recs, 3, 6); len(b) != 3*batchHeaderLen {
		t.Fatalf("overlapping batches: %d bytes", len(b))
	}
}
