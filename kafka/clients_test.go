// These tests prove that real franz-go clients (kgo, kadm) produce,
// consume, list offsets and administer topics against the server, with
// idempotence, every compression codec passed through byte for byte, and
// long-poll fetches that return when data arrives.
package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
)

func TestProduceConsumeIdempotentAcksAll(t *testing.T) {
	h := newHarness(t)
	h.createTopic("orders", 3, nil)
	ctx := testCtx(t)

	prod := h.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("orders"), kgo.ProducerLinger(time.Millisecond))
	const n = 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		wg.Add(1)
		prod.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 17)), Value: []byte(strconv.Itoa(i))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d produce errors, first: %v", len(errs), errs[0])
	}

	cons := h.client(kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]int64{}
	perKey := map[string][]int{}
	for total := 0; total < n; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r.Offset)
			v, _ := strconv.Atoi(string(r.Value))
			perKey[string(r.Key)] = append(perKey[string(r.Key)], v)
			total++
		})
	}
	sum := 0
	for p, offs := range got {
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d", p, i, o)
			}
		}
		sum += len(offs)
	}
	if sum != n || len(got) != 3 {
		t.Fatalf("consumed %d records over %d partitions; want %d over 3", sum, len(got), n)
	}
	for k, vs := range perKey {
		for i := 1; i < len(vs); i++ {
			if vs[i] < vs[i-1] {
				t.Fatalf("key %s: value %d after %d; per-partition order broken", k, vs[i], vs[i-1])
			}
		}
	}
}

func TestCompressedBatchesStoredAsSent(t *testing.T) {
	rec := &produceRecorder{sent: map[string][][]byte{}}
	h := newHarness(t, rec.opt())
	ctx := testCtx(t)
	codecs := map[string]kgo.CompressionCodec{
		"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "compressed-" + name
			h.createTopic(topic, 1, nil)
			cl := h.client(kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
			var recs []*kgo.Record
			for i := range 50 {
				recs = append(recs, &kgo.Record{Value: bytes.Repeat([]byte(fmt.Sprintf("value-%d ", i)), 20)})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			l, _ := h.logs.get(model.TopicPartition{Topic: topic, Partition: 0})
			stored := l.stored()
			if len(stored) == 0 {
				t.Fatal("nothing stored")
			}
			for _, b := range stored {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(b); err != nil {
					t.Fatal(err)
				}
				if rb.Attributes&0x7 == 0 {
					t.Fatalf("stored batch is uncompressed (attributes %#x)", rb.Attributes)
				}
			}
			// Byte for byte: what the server received equals what it stored,
			// apart from baseOffset (which the log assigns).
			sent := rec.batches(topic)
			if len(sent) != len(stored) {
				t.Fatalf("sent %d batches, stored %d", len(sent), len(stored))
			}
			for i := range sent {
				if !bytes.Equal(sent[i][8:], stored[i][8:]) {
					t.Fatalf("batch %d changed between the wire and the log", i)
				}
			}
			cons := h.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			for n := 0; n < len(recs); {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if !bytes.Equal(r.Value, recs[n].Value) {
						t.Fatalf("record %d: %q, want %q", n, r.Value, recs[n].Value)
					}
					n++
				})
			}
		})
	}
}

// produceRecorder is a hook that keeps a copy of every records field
// Produce requests carry, by topic, and lets the request through.
type produceRecorder struct {
	mu   sync.Mutex
	sent map[string][][]byte
}

func (r *produceRecorder) opt() harnessOpt {
	return func(c *Config) {
		c.Hooks = func(key int16, req kmsg.Request) (kmsg.Response, error, bool) {
			if p, ok := req.(*kmsg.ProduceRequest); ok {
				r.mu.Lock()
				for _, t := range p.Topics {
					for _, pp := range t.Partitions {
						r.sent[t.Topic] = append(r.sent[t.Topic], append([]byte(nil), pp.Records...))
					}
				}
				r.mu.Unlock()
			}
			return nil, nil, false
		}
	}
}

func (r *produceRecorder) batches(topic string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent[topic]
}

func TestLongPollFetchWakesOnAppend(t *testing.T) {
	h := newHarness(t)
	h.createTopic("poll", 1, nil)
	l, _ := h.logs.get(model.TopicPartition{Topic: "poll", Partition: 0})
	waiting := make(chan struct{}, 1)
	l.mu.Lock()
	l.mu.onChanged = waiting
	l.mu.Unlock()

	c := h.dial()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = 20000
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "poll"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	start := time.Now()
	type result struct {
		resp *kmsg.FetchResponse
	}
	done := make(chan result, 1)
	go func() { done <- result{c.roundTrip(req, 7).(*kmsg.FetchResponse)} }()
	<-waiting // the fetch has read the (empty) log and is about to wait
	select {
	case <-done:
		t.Fatal("fetch answered before any data was there")
	default:
	}
	cl := h.client(kgo.DefaultProduceTopic("poll"))
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("wake up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if time.Since(start) > 15*time.Second {
		t.Fatalf("fetch took %v; it should return when data arrives", time.Since(start))
	}
	p := r.resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("partition: err %d, %d bytes, hw %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
}

func TestListOffsets(t *testing.T) {
	h := newHarness(t)
	h.createTopic("times", 1, nil)
	ctx := testCtx(t)
	cl := h.client(kgo.DefaultProduceTopic("times"))
	base := time.UnixMilli(1_700_000_000_000)
	for i, d := range []time.Duration{0, 10 * time.Second, 5 * time.Second, 20 * time.Second} {
		// One ProduceSync per record: one record per batch.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(d)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := h.admin()
	check := func(name string, lo func() (int64, int64, error), wantOff, wantTS int64) {
		t.Helper()
		off, ts, err := lo()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if off != wantOff || ts != wantTS {
			t.Fatalf("%s: offset %d ts %d; want %d %d", name, off, ts, wantOff, wantTS)
		}
	}
	one := func(f func() (map[string]map[int32]struct{ Offset, Timestamp int64 }, error)) func() (int64, int64, error) {
		return func() (int64, int64, error) {
			m, err := f()
			if err != nil {
				return 0, 0, err
			}
			o := m["times"][0]
			return o.Offset, o.Timestamp, nil
		}
	}
	list := func(ts int64, version int16) func() (map[string]map[int32]struct{ Offset, Timestamp int64 }, error) {
		return func() (map[string]map[int32]struct{ Offset, Timestamp int64 }, error) {
			req := kmsg.NewPtrListOffsetsRequest()
			req.Version = version
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "times"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = ts
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, h.client())
			if err != nil {
				return nil, err
			}
			p := resp.Topics[0].Partitions[0]
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, err
			}
			return map[string]map[int32]struct{ Offset, Timestamp int64 }{"times": {0: {p.Offset, p.Timestamp}}}, nil
		}
	}
	check("earliest", one(list(-2, 8)), 0, -1)
	check("latest", one(list(-1, 8)), 4, -1)
	check("max timestamp", one(list(-3, 8)), 3, base.Add(20*time.Second).UnixMilli())
	check("by timestamp", one(list(base.Add(7*time.Second).UnixMilli(), 8)), 1, base.Add(10*time.Second).UnixMilli())
	check("after every record", one(list(base.Add(time.Hour).UnixMilli(), 8)), -1, -1)
	check("by timestamp v1", one(list(base.UnixMilli(), 1)), 0, base.UnixMilli())
	// Pinned versions need a raw connection (a client negotiates its own).
	for _, c := range []struct {
		ts      int64
		version int16
		code    int16
		offset  int64
	}{{-5, 8, kerr.InvalidRequest.Code, -1}, {-5, 9, 0, -1}, {-4, 8, 0, 0}, {-1, 10, 0, 4}} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = c.version
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "times"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = c.ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		p := h.dial().roundTrip(req, 1).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if p.ErrorCode != c.code || p.Offset != c.offset {
			t.Fatalf("ts %d at v%d: code %d offset %d, want %d %d", c.ts, c.version, p.ErrorCode, p.Offset, c.code, c.offset)
		}
	}

	// kadm's helpers agree.
	starts, err := adm.ListStartOffsets(ctx, "times")
	if err != nil || starts["times"][0].Offset != 0 {
		t.Fatalf("ListStartOffsets: %v %+v", err, starts)
	}
	ends, err := adm.ListEndOffsets(ctx, "times")
	if err != nil || ends["times"][0].Offset != 4 {
		t.Fatalf("ListEndOffsets: %v %+v", err, ends)
	}
}

func TestDeleteRecords(t *testing.T) {
	h := newHarness(t)
	h.createTopic("trim", 1, nil)
	ctx := testCtx(t)
	cl := h.client(kgo.DefaultProduceTopic("trim"))
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := h.admin()
	resp, err := adm.DeleteRecords(ctx, kadm.OffsetsList{{Topic: "trim", Partition: 0, At: 3}}.Offsets())
	if err != nil {
		t.Fatal(err)
	}
	r, _ := resp.Lookup("trim", 0)
	if r.Err != nil || r.LowWatermark != 3 {
		t.Fatalf("delete records: %v low watermark %d", r.Err, r.LowWatermark)
	}
	starts, err := adm.ListStartOffsets(ctx, "trim")
	if err != nil || starts["trim"][0].Offset != 3 {
		t.Fatalf("start offset after delete: %v %+v", err, starts)
	}
	resp, err = adm.DeleteRecords(ctx, kadm.OffsetsList{{Topic: "trim", Partition: 0, At: 99}}.Offsets())
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup("trim", 0); r.Err != kerr.OffsetOutOfRange {
		t.Fatalf("delete past the high watermark: %v; want OFFSET_OUT_OF_RANGE", r.Err)
	}
	// Fetching below the new start is OFFSET_OUT_OF_RANGE with the start.
	c := h.dial()
	freq := kmsg.NewPtrFetchRequest()
	freq.Version = 11
	freq.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "trim"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset = 1
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp := c.roundTrip(freq, 1).(*kmsg.FetchResponse)
	p := fresp.Topics[0].Partitions[0]
	if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 3 || p.HighWatermark != 5 {
		t.Fatalf("fetch below log start: err %d start %d hw %d", p.ErrorCode, p.LogStartOffset, p.HighWatermark)
	}
}

func TestInitProducerID(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	a := c.roundTrip(req, 1).(*kmsg.InitProducerIDResponse)
	b := c.roundTrip(req, 2).(*kmsg.InitProducerIDResponse)
	if a.ErrorCode != 0 || b.ErrorCode != 0 || a.ProducerID < 0 || a.ProducerID == b.ProducerID || a.ProducerEpoch != 0 {
		t.Fatalf("init producer id: %+v %+v", a, b)
	}
	txn := "txn-1"
	req.TransactionalID = &txn
	// The harness runs no transaction coordinator: a transactional id is
	// answered with the retriable COORDINATOR_NOT_AVAILABLE.
	r := c.roundTrip(req, 3).(*kmsg.InitProducerIDResponse)
	if r.ErrorCode != kerr.CoordinatorNotAvailable.Code || r.ProducerID != -1 {
		t.Fatalf("transactional init without a coordinator: code %d id %d; want COORDINATOR_NOT_AVAILABLE", r.ErrorCode, r.ProducerID)
	}
}

func TestProduceErrors(t *testing.T) {
	h := newHarness(t)
	h.createTopic("errs", 1, nil)
	c := h.dial()
	valid := validBatch(t)
	produce := func(topic string, partition int32, acks int16, records []byte) int16 {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Version = 9
		req.Acks = acks
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = partition
		rp.Records = records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req, 1).(*kmsg.ProduceResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	corrupt := append([]byte(nil), valid...)
	corrupt[len(corrupt)-1] ^= 0xff
	tooBig := bigBatch(t, int(h.broker.MessageMaxBytes)+1)
	for _, tc := range []struct {
		name      string
		topic     string
		partition int32
		acks      int16
		records   []byte
		want      *kerr.Error
	}{
		{"unknown topic", "nope", 0, 1, valid, kerr.UnknownTopicOrPartition},
		{"unknown partition", "errs", 5, 1, valid, kerr.UnknownTopicOrPartition},
		{"invalid topic name", "bad/name", 0, 1, valid, kerr.InvalidTopicException},
		{"bad acks", "errs", 0, 2, valid, kerr.InvalidRequiredAcks},
		{"corrupt batch", "errs", 0, 1, corrupt, kerr.CorruptMessage},
		{"too large", "errs", 0, -1, tooBig, kerr.MessageTooLarge},
		{"empty records", "errs", 0, 1, nil, kerr.InvalidRecord},
	} {
		if got := produce(tc.topic, tc.partition, tc.acks, tc.records); got != tc.want.Code {
			t.Errorf("%s: error code %d (%v); want %s", tc.name, got, kerr.ErrorForCode(got), tc.want.Message)
		}
	}
	if got := produce("errs", 0, -1, valid); got != 0 {
		t.Fatalf("valid produce: %v", kerr.ErrorForCode(got))
	}
}

func TestProduceAcksZero(t *testing.T) {
	h := newHarness(t)
	h.createTopic("fire", 1, nil)
	c := h.dial()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = 0
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "fire"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = validBatch(t)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.write(frame(req, 1))
	// No response to acks=0: the next response on the wire is the
	// ApiVersions answer.
	api := kmsg.NewPtrApiVersionsRequest()
	if resp := c.roundTrip(api, 2).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("api versions: %d", resp.ErrorCode)
	}
	_, hw, _ := mustLog(t, h, "fire", 0).Offsets()
	if hw != 1 {
		t.Fatalf("high watermark %d after acks=0 produce; want 1", hw)
	}
	// An acks=0 produce that fails closes the connection.
	req.Topics[0].Topic = "missing"
	c.write(frame(req, 3))
	c.expectClosed()
}

func mustLog(t *testing.T, h *harness, topic string, p int32) *fakeLog {
	t.Helper()
	l, ok := h.logs.get(model.TopicPartition{Topic: topic, Partition: p})
	if !ok {
		t.Fatalf("no log for %s-%d", topic, p)
	}
	return l
}

// validBatch builds one uncompressed record batch with a correct CRC.
func validBatch(t testing.TB) []byte {
	return bigBatch(t, 0)
}

// bigBatch builds a batch larger than size bytes.
func bigBatch(t testing.TB, size int) []byte {
	t.Helper()
	rec := kmsg.NewRecord()
	rec.Value = make([]byte, max(size, 1))
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the body after a 1-byte varint 0
	recBytes := rec.AppendTo(nil)
	b := kmsg.NewRecordBatch()
	b.Magic = 2
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = -1, -1, -1
	b.NumRecords = 1
	b.FirstTimestamp, b.MaxTimestamp = time.Now().UnixMilli(), time.Now().UnixMilli()
	b.Records = recBytes
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32c(raw[21:]))
	return raw
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
