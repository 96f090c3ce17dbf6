// These tests send TxnOffsetCommit and OffsetFetch by hand and check that
// a transaction's offsets stay invisible until its commit marker, that
// require_stable answers UNSTABLE_OFFSET_COMMIT meanwhile (v7 and the v8
// groups form), and the per-partition and request-level errors.
package kafka

import (
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func txnOffsetCommitReq(version int16, txnID, grp string, parts map[string][]int32, offset int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = version, txnID, grp, 5, 0
	for _, topic := range []string{"in", "nope"} {
		ps, ok := parts[topic]
		if !ok {
			continue
		}
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		for _, p := range ps {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, offset, 3
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// txnCodes flattens a response to "topic/partition" -> error code.
func txnCodes(resp kmsg.Response) map[string]int16 {
	out := map[string]int16{}
	for _, t := range resp.(*kmsg.TxnOffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			out[t.Topic+"/"+string(rune('0'+p.Partition))] = p.ErrorCode
		}
	}
	return out
}

func TestTxnOffsetCommit(t *testing.T) {
	h, gc := newTxnGroupHarness(t)
	h.createTopic("in", 2, nil)
	c := h.dial()
	corr := int32(0)
	send := func(req kmsg.Request) kmsg.Response {
		corr++
		return c.roundTrip(req, corr)
	}
	fetch := func(version int16, stable bool) (int64, int16) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.RequireStable = version, stable
		if version >= 8 {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = "g"
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic, rt.Partitions = "in", []int32{0}
			rg.Topics = append(rg.Topics, rt)
			req.Groups = append(req.Groups, rg)
			g := send(req).(*kmsg.OffsetFetchResponse).Groups[0]
			if g.ErrorCode != 0 {
				t.Fatalf("OffsetFetch v%d group error %v", version, kerr.ErrorForCode(g.ErrorCode))
			}
			p := g.Topics[0].Partitions[0]
			return p.Offset, p.ErrorCode
		}
		req.Group = "g"
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "in", []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := send(req).(*kmsg.OffsetFetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("OffsetFetch v%d error %v", version, kerr.ErrorForCode(resp.ErrorCode))
		}
		p := resp.Topics[0].Partitions[0]
		return p.Offset, p.ErrorCode
	}

	codes := txnCodes(send(txnOffsetCommitReq(3, "tx", "g", map[string][]int32{"in": {0, 7}, "nope": {0}}, 10)))
	if codes["in/0"] != 0 || codes["in/7"] != kerr.UnknownTopicOrPartition.Code || codes["nope/0"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("codes %v", codes)
	}
	for _, v := range []int16{7, 8} {
		if off, code := fetch(v, true); off != -1 || code != kerr.UnstableOffsetCommit.Code {
			t.Fatalf("v%d require_stable while pending: offset %d %v", v, off, kerr.ErrorForCode(code))
		}
		if off, code := fetch(v, false); off != -1 || code != 0 {
			t.Fatalf("v%d while pending: offset %d %v", v, off, kerr.ErrorForCode(code))
		}
	}
	// The broker wrote the commit marker.
	gc.CompleteTxn(0, 5, true, time.Now())
	for _, v := range []int16{6, 7, 8} {
		if off, code := fetch(v, true); off != 10 || code != 0 {
			t.Fatalf("v%d after the commit: offset %d %v", v, off, kerr.ErrorForCode(code))
		}
	}
	// v0 has no member fields; a new transaction's offset is pending
	// again until its abort drops it.
	if codes := txnCodes(send(txnOffsetCommitReq(0, "tx", "g", map[string][]int32{"in": {0}}, 20))); codes["in/0"] != 0 {
		t.Fatalf("v0: %v", codes)
	}
	gc.CompleteTxn(0, 5, false, time.Now())
	if off, code := fetch(7, true); off != 10 || code != 0 {
		t.Fatalf("after the abort: offset %d %v", off, kerr.ErrorForCode(code))
	}

	// Request-level errors, repeated for every partition.
	long := strings.Repeat("x", 256)
	longID := strings.Repeat("x", txn.MaxTransactionalIDBytes+1)
	member := txnOffsetCommitReq(3, "tx", "g", map[string][]int32{"in": {0, 1}}, 1)
	member.MemberID, member.Generation = "nobody", 1
	for _, tc := range []struct {
		name string
		req  *kmsg.TxnOffsetCommitRequest
		want *kerr.Error
	}{
		{"empty transactional id", txnOffsetCommitReq(3, "", "g", map[string][]int32{"in": {0, 1}}, 1), kerr.InvalidRequest},
		{"long transactional id", txnOffsetCommitReq(3, longID, "g", map[string][]int32{"in": {0, 1}}, 1), kerr.InvalidRequest},
		{"empty group id", txnOffsetCommitReq(3, "tx", "", map[string][]int32{"in": {0, 1}}, 1), kerr.InvalidGroupID},
		{"long group id", txnOffsetCommitReq(3, "tx", long, map[string][]int32{"in": {0, 1}}, 1), kerr.InvalidGroupID},
		{"unknown member", member, kerr.UnknownMemberID},
	} {
		codes := txnCodes(send(tc.req))
		if codes["in/0"] != tc.want.Code || codes["in/1"] != tc.want.Code {
			t.Errorf("%s: %v; want %v for every partition", tc.name, codes, tc.want)
		}
	}
	if off, _ := fetch(7, true); off != 10 {
		t.Fatalf("a refused commit changed the offset to %d", off)
	}
}
