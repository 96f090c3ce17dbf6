package kafka

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/fetchsession"
	"github.com/ringtail/ringtail/model"
)

// sessParts lists resp's partitions as "topic-partition:bytes>0".
func sessParts(resp *kmsg.FetchResponse) []string {
	var out []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%d:%v", p.Partition, len(p.RecordBatches) > 0))
		}
	}
	return out
}

// TestFetchSessionIncremental walks a session by hand over the copying and
// the sendfile paths, by topic name (v12) and by topic id (v17): a full
// fetch opens it, incremental fetches carry only partitions with news,
// forgotten partitions leave it, and bad ids and epochs are refused.
func TestFetchSessionIncremental(t *testing.T) {
	for _, tc := range []struct {
		version  int16
		sendfile bool
	}{{12, false}, {12, true}, {17, false}, {17, true}} {
		t.Run(fmt.Sprintf("v%d/sendfile=%v", tc.version, tc.sendfile), func(t *testing.T) {
			h, _ := newStorageHarness(t, tc.sendfile, 1<<20)
			h.createTopic("s", 3, nil)
			ctx := testCtx(t)
			prod := h.client(kgo.DefaultProduceTopic("s"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			produce := func(p int32) {
				t.Helper()
				if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			produce(0)
			produce(1)
			id := h.ctrl.Image().Topics["s"].ID
			c := h.dial()
			corr := int32(0)
			fetch := func(sess, epoch int32, offsets map[int32]int64, forget ...int32) *kmsg.FetchResponse {
				t.Helper()
				req := fetchReq(tc.version, "s")
				if tc.version >= 13 {
					req.Topics[0].Topic, req.Topics[0].TopicID = "", id
				}
				for p := int32(0); p < 3; p++ {
					off, ok := offsets[p]
					if !ok {
						continue
					}
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
					req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
				}
				if len(req.Topics[0].Partitions) == 0 {
					req.Topics = nil
				}
				if len(forget) > 0 {
					ft := kmsg.NewFetchRequestForgottenTopic()
					ft.Topic, ft.Partitions = "s", forget
					if tc.version >= 13 {
						ft.Topic, ft.TopicID = "", id
					}
					req.ForgottenTopics = append(req.ForgottenTopics, ft)
				}
				req.SessionID, req.SessionEpoch = sess, epoch
				corr++
				return c.roundTrip(req, corr).(*kmsg.FetchResponse)
			}
			want := func(resp *kmsg.FetchResponse, parts ...string) {
				t.Helper()
				if resp.ErrorCode != 0 {
					t.Fatalf("error %d", resp.ErrorCode)
				}
				if got := fmt.Sprint(sessParts(resp)); got != fmt.Sprint(parts) {
					t.Fatalf("partitions %s, want %v", got, parts)
				}
			}

			full := fetch(0, 0, map[int32]int64{0: 0, 1: 0, 2: 0})
			want(full, "0:true", "1:true", "2:false")
			sid := full.SessionID
			if sid <= 0 {
				t.Fatalf("no session: %d", sid)
			}
			// The fetcher moves past what it got: nothing new anywhere.
			want(fetch(sid, 1, map[int32]int64{0: 1, 1: 1}))
			// Only the partition with new records comes back.
			produce(2)
			want(fetch(sid, 2, nil), "2:true")
			// Forget 2; records on 2 and 0: only 0 (with records).
			produce(2)
			produce(0)
			want(fetch(sid, 3, map[int32]int64{2: 1}, 2), "0:true")
			// A replayed epoch and an unknown session are refused.
			if r := fetch(sid, 3, nil); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || len(r.Topics) != 0 {
				t.Fatalf("replayed epoch: %d", r.ErrorCode)
			}
			if r := fetch(sid+1, 1, nil); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("unknown session: %d", r.ErrorCode)
			}
			// The session goes on at epoch 4 (a refused request does not
			// move it); the forgotten partition is gone for good.
			want(fetch(sid, 4, map[int32]int64{0: 2}))
			// A full fetch with epoch -1 closes it.
			if r := fetch(sid, -1, map[int32]int64{0: 2}); r.SessionID != 0 {
				t.Fatalf("epoch -1 opened session %d", r.SessionID)
			}
			if r := fetch(sid, 5, nil); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("closed session: %d", r.ErrorCode)
			}
			st := h.srv.FetchSessionStats()
			if st.Incremental != 4 || st.NotFound != 2 || st.BadEpoch != 1 || st.Sessions != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestFetchSessionTopicIDMismatch: a session opened by name cannot go on
// by id.
func TestFetchSessionTopicIDMismatch(t *testing.T) {
	h := newHarness(t)
	h.createTopic("m", 1, nil)
	c := h.dial()
	req := fetchReq(12, "m", 0)
	req.SessionEpoch = 0
	resp := c.roundTrip(req, 1).(*kmsg.FetchResponse)
	if resp.SessionID <= 0 {
		t.Fatalf("no session")
	}
	req = fetchReq(13, "", 0)
	req.Topics = nil
	req.SessionID, req.SessionEpoch = resp.SessionID, 1
	if r := c.roundTrip(req, 2).(*kmsg.FetchResponse); r.ErrorCode != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("by id on a by-name session: %d", r.ErrorCode)
	}
}

// TestFetchSessionFranzRecovers consumes 40 partitions with franz-go (which
// uses sessions) while a replica's session evicts the consumer's from a
// one-slot cache: the consumer gets FETCH_SESSION_ID_NOT_FOUND, starts over
// with full fetches, and still reads every record exactly once.
func TestFetchSessionFranzRecovers(t *testing.T) {
	cache := fetchsession.New(1, 0)
	h := newHarness(t, func(c *Config) { c.FetchSessions = cache })
	const parts, perPart = 40, 5
	h.createTopic("r", parts, nil)
	ctx := testCtx(t)
	prod := h.client(kgo.DefaultProduceTopic("r"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceAll := func(round int) {
		var recs []*kgo.Record
		for p := range int32(parts) {
			for i := range perPart {
				recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%d-%d-%d", round, p, i)})
			}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cons := h.client(kgo.ConsumeTopics("r"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100e6))
	seen := map[string]int{}
	consume := func(n int) {
		t.Helper()
		got := 0
		for got < n {
			fs := cons.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of %d: %v", got, n, err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				seen[string(r.Value)]++
				got++
			})
		}
	}
	produceAll(0)
	consume(parts * perPart)
	// Incremental fetches happen on the idle consumer.
	// Rounds are numbered by a counter (not by the incremental count,
	// which may not move between two rounds) so every value is unique.
	for round := -1; cache.Stats().Incremental < 3; round-- {
		if round < -100 {
			t.Fatalf("no incremental fetches after 100 rounds: %+v", cache.Stats())
		}
		produceAll(round)
		consume(parts * perPart)
	}
	// A replica's full fetch takes the only slot.
	fullBefore := cache.Stats().Full
	rc := h.dial()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.SessionEpoch, req.MaxBytes = 12, 5, 0, 1<<20
	if r := rc.roundTrip(req, 1).(*kmsg.FetchResponse); r.SessionID <= 0 {
		t.Fatalf("replica got no session")
	}
	// The consumer's next incremental fetch (maybe after the one in
	// flight) finds its session gone; it starts over and goes on.
	for round := 1; cache.Stats().NotFound == 0; round++ {
		produceAll(round)
		consume(parts * perPart)
	}
	produceAll(1000)
	consume(parts * perPart)
	// The replica's full fetch and the consumer's full fetch after
	// FETCH_SESSION_ID_NOT_FOUND (which may come before or after the
	// NotFound count is seen above).
	st := cache.Stats()
	if st.Evicted == 0 || st.Full < fullBefore+2 {
		t.Fatalf("stats %+v", st)
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s read %d times", v, n)
		}
	}
	t.Logf("stats %+v, %d records", st, len(seen))
}

// TestFetchV16LeaderEndpoints: NOT_LEADER_OR_FOLLOWER carries the leader in
// current_leader and its endpoint in node_endpoints from v16 (KIP-951), and
// a v15+ request names a replica in replica_state.
func TestFetchV16LeaderEndpoints(t *testing.T) {
	h := newHarness(t)
	h.createTopic("l", 1, nil)
	h.logs.hold(model.TopicPartition{Topic: "l", Partition: 0})
	for _, v := range []int16{15, 16, 17} {
		req := fetchReq(v, "", 0)
		req.Topics[0].TopicID = h.ctrl.Image().Topics["l"].ID
		req.MaxWaitMillis = 1
		resp := h.dial().roundTrip(req, 1).(*kmsg.FetchResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != kerr.NotLeaderForPartition.Code || p.CurrentLeader.LeaderID != 1 {
			t.Fatalf("v%d: %v, current leader %d", v, kerr.ErrorForCode(p.ErrorCode), p.CurrentLeader.LeaderID)
		}
		if v < 16 {
			if len(resp.Brokers) != 0 {
				t.Fatalf("v%d: node_endpoints %+v", v, resp.Brokers)
			}
			continue
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 || fmt.Sprintf("%s:%d", resp.Brokers[0].Host, resp.Brokers[0].Port) != h.addr {
			t.Fatalf("v%d: node_endpoints %+v, want node 1 at %s", v, resp.Brokers, h.addr)
		}
	}
}
