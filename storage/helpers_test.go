// This file holds the helpers every storage test uses: batch building, a
// fake clock, a manager per engine, and waits with deadlines.
package storage

import (
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
)

// testRec is one record for buildBatch.
type testRec struct {
	key, value []byte
	tsDelta    int64
	tombstone  bool // a null value (value is ignored)
}

// batchOpts sets the producer fields and timestamps of a built batch.
type batchOpts struct {
	firstTs     int64
	producerID  int64
	epoch       int16
	baseSeq     int32
	compression int16
}

func noProducer(ts int64) batchOpts {
	return batchOpts{firstTs: ts, producerID: -1, epoch: -1, baseSeq: -1}
}

// buildBatch encodes a magic-v2 batch with a correct CRC.
func buildBatch(o batchOpts, recs []testRec) []byte {
	var body []byte
	maxTs := o.firstTs
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0)
		rec = binary.AppendVarint(rec, r.tsDelta)
		rec = binary.AppendVarint(rec, int64(i))
		if r.key == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.key)))
			rec = append(rec, r.key...)
		}
		if r.tombstone {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.value)))
			rec = append(rec, r.value...)
		}
		rec = binary.AppendVarint(rec, 0)
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
		if o.firstTs+r.tsDelta > maxTs {
			maxTs = o.firstTs + r.tsDelta
		}
	}
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(body))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(BatchHeaderSize-batchLogOverhead+len(body)))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(o.compression))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(o.firstTs))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(o.producerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(o.epoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(o.baseSeq))
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(len(recs)))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
	return b
}

// simpleBatch is n records of valueSize bytes each, timestamps ts, ts+1, ...
func simpleBatch(n, valueSize int, ts int64) []byte {
	recs := make([]testRec, n)
	for i := range recs {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte(i + j)
		}
		recs[i] = testRec{value: v, tsDelta: int64(i)}
	}
	return buildBatch(noProducer(ts), recs)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Ms() int64 { return c.Now().UnixMilli() }

// env is one test's runtime, data dir and clock; it reopens managers on the
// same dir to test restarts.
type env struct {
	t      *testing.T
	rt     *iocore.Runtime
	dir    string
	clock  *fakeClock
	cfg    Config
	engine string
	// maxOpenFiles is ManagerConfig.MaxOpenFiles; 0 takes
	// RINGTAIL_TEST_MAX_OPEN_FILES (run the package under a tiny bound:
	// RINGTAIL_TEST_MAX_OPEN_FILES=16 go test ./storage).
	maxOpenFiles int
}

// eachEngine runs fn once per iocore engine, each with a fresh dir.
func eachEngine(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, engine := range []string{iocore.EngineSync, iocore.EngineIOUring} {
		t.Run(engine, func(t *testing.T) {
			rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 2, Engine: engine, Logger: quietLogger()})
			if err != nil {
				if engine == iocore.EngineIOUring && os.Getenv("RINGTAIL_SKIP_IOURING") != "" {
					t.Skipf("io_uring unavailable and RINGTAIL_SKIP_IOURING set: %v", err)
				}
				t.Fatalf("runtime with engine %s: %v", engine, err)
			}
			t.Cleanup(func() { rt.Close() })
			e := &env{t: t, rt: rt, dir: t.TempDir(), clock: newFakeClock(), cfg: testConfig(), engine: engine}
			fn(t, e)
		})
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a small-segment config that rolls often.
func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 16 << 10
	c.IndexIntervalBytes = 512
	c.RetentionMs = -1
	c.SegmentMs = -1
	return c
}

func (e *env) open() *Manager {
	e.t.Helper()
	maxFiles := e.maxOpenFiles
	if maxFiles == 0 {
		maxFiles, _ = strconv.Atoi(os.Getenv("RINGTAIL_TEST_MAX_OPEN_FILES"))
	}
	m, err := OpenManager(ManagerConfig{Dir: e.dir, Runtime: e.rt, Logger: quietLogger(), Now: e.clock.Now, MaxOpenFiles: maxFiles},
		func(model.TopicPartition) Config { return e.cfg })
	if err != nil {
		e.t.Fatalf("OpenManager: %v", err)
	}
	return m
}

var tp0 = model.TopicPartition{Topic: "orders", Partition: 0}

func (e *env) create(m *Manager, tp model.TopicPartition) *Partition {
	e.t.Helper()
	p, err := m.CreatePartition(tp, e.cfg)
	if err != nil {
		e.t.Fatalf("CreatePartition: %v", err)
	}
	return p
}

const waitTimeout = 20 * time.Second

// appendWait appends and waits for the result.
func appendWait(t testing.TB, p *Partition, records []byte) AppendResult {
	t.Helper()
	ch := make(chan AppendResult, 1)
	p.Append(records, 0, func(r AppendResult) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatalf("append did not complete within %v", waitTimeout)
		return AppendResult{}
	}
}

// mustAppend appends and fails the test on error.
func mustAppend(t testing.TB, p *Partition, records []byte) AppendResult {
	t.Helper()
	r := appendWait(t, p, records)
	if r.Err != nil {
		t.Fatalf("append: %v", r.Err)
	}
	return r
}

// readAll reads every batch from offset to the HW, checking contiguity, and
// returns the headers.
func readAll(t testing.TB, p *Partition, from model.Offset) []BatchHeader {
	t.Helper()
	return readLog(t, p, from, false)
}

// readLog is readAll; with gaps, offsets need only increase (a compacted
// log, or a recovered tail whose batch names a later base offset: the
// base offset is outside the batch CRC, and recovery keeps gaps).
func readLog(t testing.TB, p *Partition, from model.Offset, gaps bool) []BatchHeader {
	t.Helper()
	var out []BatchHeader
	next := from
	for {
		res, err := p.Read(next, 64<<10, true)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		if len(res.Records) == 0 {
			if next != res.HighWatermark {
				t.Fatalf("empty read at %d below HW %d", next, res.HighWatermark)
			}
			return out
		}
		b := res.Records
		for len(b) > 0 {
			h, err := checkBatch(b)
			if err != nil {
				t.Fatalf("read back a bad batch at %d: %v", next, err)
			}
			if n := len(out); n > 0 && (h.BaseOffset <= out[n-1].LastOffset() || !gaps && h.BaseOffset != out[n-1].LastOffset()+1) {
				t.Fatalf("offsets not contiguous: %d after %d", h.BaseOffset, out[n-1].LastOffset())
			}
			out = append(out, h)
			next = h.LastOffset() + 1
			b = b[h.Size():]
		}
	}
}

// waitFor polls cond until it holds or the deadline passes; it yields with
// Gosched-sized waits on a timer channel, not sleeps of a fixed length.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
