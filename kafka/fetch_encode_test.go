package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/storage"
)

// materializeFetch is what the writer puts on the wire for o, with the
// ranges read by ReadAt instead of sent by sendfile.
func materializeFetch(t testing.TB, o *fetchOut) []byte {
	t.Helper()
	var out []byte
	pos := 0
	for _, pc := range o.pieces {
		out = append(out, o.buf[pos:pc.at]...)
		pos = pc.at
		b := make([]byte, pc.fr.Len)
		if _, err := pc.fr.File.ReadAt(b, pc.fr.Pos); err != nil {
			t.Fatalf("ReadAt: %v", err)
		}
		out = append(out, b...)
	}
	return append(out, o.buf[pos:]...)
}

// TestFetchEncode compares the hand-written encoder, with records as file
// ranges, against kmsg's encoding of the same response with the records
// inline, for every served version and a mix of partitions.
func TestFetchEncode(t *testing.T) {
	// A "segment file": distinct bytes at every position.
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	piece := func(pos, n int64) storage.FileRange { return storage.FileRange{File: f, Pos: pos, Len: n} }

	type part struct {
		p       kmsg.FetchResponseTopicPartition
		pieces  []storage.FileRange // ranged records
		inlineN int                 // inline records
	}
	mk := func(id int32, mod func(*kmsg.FetchResponseTopicPartition)) kmsg.FetchResponseTopicPartition {
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = id
		p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 1000+int64(id), 990+int64(id), int64(id)
		p.RecordBatches = []byte{}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	type topic struct {
		name  string
		id    [16]byte
		parts []part
	}
	cases := []struct {
		name     string
		errCode  int16
		session  int32
		throttle int32
		topics   []topic
		brokers  []kmsg.FetchResponseBroker // node_endpoints, v16+
		minV     int16
	}{
		{name: "no topics"},
		{name: "top-level error", errCode: 70, throttle: 5},
		{name: "mix", session: 0, throttle: 1, topics: []topic{
			{name: "orders", id: [16]byte{1, 2, 3}, parts: []part{
				{p: mk(0, nil), pieces: []storage.FileRange{piece(100, 4000)}},
				{p: mk(1, nil)}, // empty
				{p: mk(2, func(p *kmsg.FetchResponseTopicPartition) { p.RecordBatches = nil })}, // null records
				{p: mk(3, nil), pieces: []storage.FileRange{piece(0, 10), piece(5000, 300), piece(60000, 5536)}},
				{p: mk(4, nil), inlineN: 777},
			}},
			{name: "", id: [16]byte{9}, parts: nil}, // empty topic name, no partitions
			{name: "payments-with-a-longer-name", id: [16]byte{0xff, 0xee}, parts: []part{
				{p: mk(7, func(p *kmsg.FetchResponseTopicPartition) {
					p.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER
					p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 3, 12
				})},
				{p: mk(8, func(p *kmsg.FetchResponseTopicPartition) {
					p.ErrorCode = 1 // OFFSET_OUT_OF_RANGE
					p.HighWatermark, p.LogStartOffset, p.LastStableOffset = -1, -1, -1
				})},
				{p: mk(9, func(p *kmsg.FetchResponseTopicPartition) {
					p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
					p.PreferredReadReplica = 2
				}), pieces: []storage.FileRange{piece(33, 1)}},
				{p: mk(10, func(p *kmsg.FetchResponseTopicPartition) {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = 77, 5
					p.AbortedTransactions = append(p.AbortedTransactions, a, a)
					p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = 4, 50
					p.SnapshotID.Epoch, p.SnapshotID.EndOffset = 2, 40
					p.CurrentLeader.LeaderID = 1
				}), inlineN: 61},
			}},
		}},
		{name: "node endpoints", session: 123456, minV: 16, topics: []topic{{name: "t", id: [16]byte{6}, parts: []part{
			{p: mk(0, func(p *kmsg.FetchResponseTopicPartition) {
				p.ErrorCode = 6
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 2, 7
			})},
			{p: mk(1, nil), pieces: []storage.FileRange{piece(10, 20)}},
		}}}, brokers: []kmsg.FetchResponseBroker{
			{NodeID: 2, Host: "broker-2.example", Port: 9092, Rack: func() *string { r := "rack-b"; return &r }()},
			{NodeID: 3, Host: "h3", Port: 19092},
		}},
		{name: "one big range", topics: []topic{{name: "t", id: [16]byte{5}, parts: []part{
			{p: mk(0, nil), pieces: []storage.FileRange{piece(0, int64(len(data)))}},
		}}}},
	}
	for _, tc := range cases {
		for v := max(tc.minV, 4); v <= 17; v++ {
			t.Run(fmt.Sprintf("%s/v%d", tc.name, v), func(t *testing.T) {
				mkResp := func(inline bool) (*kmsg.FetchResponse, *fetchRanges) {
					resp := kmsg.NewPtrFetchResponse()
					resp.Version = v
					resp.ErrorCode, resp.SessionID, resp.ThrottleMillis = tc.errCode, tc.session, tc.throttle
					resp.Brokers = tc.brokers
					fr := &fetchRanges{}
					for _, tt := range tc.topics {
						rt := kmsg.NewFetchResponseTopic()
						rt.Topic, rt.TopicID = tt.name, tt.id
						rgs := make([]storage.Ranges, len(tt.parts))
						for i, p := range tt.parts {
							rp := p.p
							if p.inlineN > 0 {
								rp.RecordBatches = data[1000 : 1000+p.inlineN]
							}
							if len(p.pieces) > 0 {
								if inline {
									for _, pc := range p.pieces {
										rp.RecordBatches = append(rp.RecordBatches, data[pc.Pos:pc.Pos+pc.Len]...)
									}
								} else {
									rgs[i].Pieces = p.pieces
									for _, pc := range p.pieces {
										rgs[i].Bytes += pc.Len
									}
								}
							}
							rt.Partitions = append(rt.Partitions, rp)
						}
						resp.Topics = append(resp.Topics, rt)
						fr.parts = append(fr.parts, rgs)
					}
					return resp, fr
				}
				const corr = 0x0badcafe
				want := encodeResponse(&reqCtx{key: 1, version: v, correlationID: corr}, func() kmsg.Response { r, _ := mkResp(true); return r }())
				resp, fr := mkResp(false)
				o := encodeFetch(corr, resp, fr)
				got := materializeFetch(t, o)
				if int64(len(got)) != o.size() {
					t.Fatalf("size() = %d, materialized %d", o.size(), len(got))
				}
				if !bytes.Equal(got, want) {
					i := 0
					for i < len(got) && i < len(want) && got[i] == want[i] {
						i++
					}
					t.Fatalf("encodings differ at byte %d (got %d bytes, kmsg %d)", i, len(got), len(want))
				}
				// And kmsg reads it back.
				if n := int(binary.BigEndian.Uint32(got)); n != len(got)-4 {
					t.Fatalf("size prefix %d, frame %d", n, len(got)-4)
				}
				hdr := 8
				if v >= 12 {
					hdr++
				}
				back := kmsg.NewPtrFetchResponse()
				back.Version = v
				if err := back.ReadFrom(got[hdr:]); err != nil {
					t.Fatalf("kmsg cannot decode: %v", err)
				}
				if len(back.Topics) != len(tc.topics) || len(back.Brokers) != len(tc.brokers) {
					t.Fatalf("decoded %d topics, %d brokers", len(back.Topics), len(back.Brokers))
				}
			})
		}
	}
}
