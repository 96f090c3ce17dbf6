package kafka

// Tests of the zero-copy fetch path over a real storage.Manager (real
// segment files, the sync io engine) and real loopback sockets.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
)

// storageLogs opens a storage partition for every partition the image has
// led by this node: the daemon's adapter without replication.
type storageLogs struct {
	ctrl   Controller
	nodeID int32
	m      *storage.Manager
	cfg    storage.Config
	dir    string // the data dir
	mu     sync.Mutex
}

func (s *storageLogs) Log(tp model.TopicPartition) (Log, bool) {
	t := s.ctrl.Image().Topics[tp.Topic]
	if t == nil || int(tp.Partition) >= len(t.Partitions) || t.Partitions[tp.Partition].Leader != s.nodeID {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m.Partition(tp)
	if !ok {
		var err error
		if p, err = s.m.CreatePartition(tp, s.cfg); err != nil {
			return nil, false
		}
	}
	return storageLog{p}, true
}

func (s *storageLogs) LeaderLog(t *controlplane.Topic, p controlplane.Partition) (Log, bool) {
	return s.Log(model.TopicPartition{Topic: t.Name, Partition: p.Partition})
}

// Changed is never closed: a log opens on first use.
func (s *storageLogs) Changed() <-chan struct{} { return nil }

// storageLog is a *storage.Partition with kafka's result types.
type storageLog struct{ *storage.Partition }

func (l storageLog) Append(records []byte, epoch model.Epoch, done func(AppendResult)) {
	l.Partition.Append(records, epoch, func(r storage.AppendResult) { done(AppendResult(r)) })
}

func (l storageLog) Read(offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error) {
	r, err := l.Partition.Read(offset, maxBytes, minOneBatch)
	return ReadResult(r), err
}

var _ RangedLog = storageLog{}

// newStorageHarness is newHarness over storage-backed logs with
// ringtail.fetch_sendfile set to sendfile; segments roll every segBytes.
func newStorageHarness(t testing.TB, sendfile bool, segBytes int64) (*harness, *storageLogs) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineSync, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	scfg := storage.DefaultConfig()
	scfg.SegmentBytes = segBytes
	scfg.RetentionMs = -1
	dataDir := t.TempDir()
	m, err := storage.OpenManager(storage.ManagerConfig{Dir: dataDir, Runtime: rt, Logger: quiet},
		func(model.TopicPartition) storage.Config { return scfg })
	if err != nil {
		rt.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ctrl, err := controlplane.Open(controlplane.Config{
		Dir: t.TempDir(), NodeID: 1, ClusterID: "ringtail-test",
		Endpoints:         []controlplane.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: int32(port)}},
		DefaultPartitions: 1, DefaultReplicationFactor: 1,
		ValidateTopicConfig: config.ValidateTopicConfig,
		Logger:              quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	bc := config.Default()
	bc.Ringtail.FetchSendfile = sendfile
	var mu sync.Mutex
	var bugs []string
	logs := &storageLogs{ctrl: ctrl, nodeID: 1, m: m, cfg: scfg, dir: dataDir}
	srv := NewServer(Config{NodeID: 1, ListenerName: "PLAINTEXT", Broker: bc,
		Logger: slog.New(bugCatcher{mu: &mu, bugs: &bugs})}, ctrl, logs)
	h := &harness{t: t, addr: ln.Addr().String(), srv: srv, ctrl: ctrl, broker: bc, served: make(chan error, 1)}
	go func() { h.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-h.served
		ctrl.Close()
		m.Close()
		rt.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bugs {
			t.Errorf("server logged: %s", b)
		}
	})
	return h, logs
}

// TestFetchSendfileConsume produces several MiB, then consumes them with
// franz-go, with fetch_sendfile on and off: every record in order exactly
// once, and the record bytes counted on the path that was switched on only.
func TestFetchSendfileConsume(t *testing.T) {
	for _, sendfile := range []bool{true, false} {
		t.Run(fmt.Sprintf("sendfile=%v", sendfile), func(t *testing.T) {
			h, logs := newStorageHarness(t, sendfile, 1<<20)
			h.createTopic("events", 1, nil)
			ctx := testCtx(t)
			const n, valueSize = 6000, 1000 // ~6 MiB over several segments
			prod := h.client(kgo.DefaultProduceTopic("events"), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(time.Millisecond))
			recs := make([]*kgo.Record, n)
			for i := range recs {
				v := bytes.Repeat([]byte{byte(i)}, valueSize)
				binary.BigEndian.PutUint32(v, uint32(i))
				recs[i] = &kgo.Record{Value: v}
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			p, ok := logs.m.Partition(model.TopicPartition{Topic: "events", Partition: 0})
			if !ok {
				t.Fatal("no partition")
			}
			logBytes, segs := p.Size()
			if segs < 3 {
				t.Fatalf("want several segments, have %d", segs)
			}
			before := h.srv.FetchStats()

			cons := h.client(kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxBytes(512<<10), kgo.FetchMaxPartitionBytes(256<<10))
			next := 0
			for next < n {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("poll: %v", err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if r.Offset != int64(next) {
						t.Fatalf("record at offset %d, want %d", r.Offset, next)
					}
					if len(r.Value) != valueSize || binary.BigEndian.Uint32(r.Value) != uint32(next) ||
						!bytes.Equal(r.Value[4:], bytes.Repeat([]byte{byte(next)}, valueSize-4)) {
						t.Fatalf("record %d: wrong value", next)
					}
					next++
				})
			}
			after := h.srv.FetchStats()
			sent, copied := after.SendfileBytes-before.SendfileBytes, after.CopiedBytes-before.CopiedBytes
			t.Logf("log %d bytes in %d segments; fetch sent %d by sendfile, copied %d", logBytes, segs, sent, copied)
			if sendfile {
				if sent < logBytes || copied != 0 {
					t.Fatalf("sendfile on: sendfile %d bytes (want >= %d), copied %d (want 0)", sent, logBytes, copied)
				}
			} else if copied < logBytes || sent != 0 {
				t.Fatalf("sendfile off: copied %d bytes (want >= %d), sendfile %d (want 0)", copied, logBytes, sent)
			}
		})
	}
}

// pendingFetch builds, on the server, a Fetch v12 response for topic
// events partition 0 from offset 0 exactly as the handler does, ready for
// the writer, with the records it should carry (read now).
func pendingFetch(t *testing.T, h *harness, maxBytes int32) (*fetchOut, []byte) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 12, -1, maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "events"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	fr := &fetchRanges{}
	h.srv.fillFetch(h.srv.newLookup(0), req, resp, fr)
	rg := fr.at(0, 0)
	if rg == nil || len(rg.Pieces) == 0 {
		t.Fatalf("no ranges read (error %d)", resp.Topics[0].Partitions[0].ErrorCode)
	}
	var want []byte
	for _, pc := range rg.Pieces {
		b := make([]byte, pc.Len)
		if _, err := pc.File.ReadAt(b, pc.Pos); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	return encodeFetch(77, resp, fr), want
}

// loopbackPair returns both ends of a loopback TCP connection.
func loopbackPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); sv.Close() })
	return sv, cl
}

// readFetch reads one response frame from nc and returns the records of
// its one partition, or the read error.
func readFetch(t *testing.T, nc net.Conn) ([]byte, error) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, buf); err != nil {
		return nil, err
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	if err := resp.ReadFrom(buf[5:]); err != nil {
		t.Fatalf("undecodable response: %v", err)
	}
	return resp.Topics[0].Partitions[0].RecordBatches, nil
}

// deletedFDs counts this process's open descriptors on deleted files
// under dir.
func deletedFDs(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir) && strings.HasSuffix(target, "(deleted)") {
			n++
		}
	}
	return n
}

// TestFetchRangesPendingAcrossLogChanges builds a ranged response, changes
// the log under it (roll, delete the segment, truncate), then writes it
// over a real socket: the response is correct or the connection closes
// before the response is complete, and no file stays open after.
func TestFetchRangesPendingAcrossLogChanges(t *testing.T) {
	setup := func(t *testing.T) (*harness, *storageLogs, *storage.Partition, string) {
		h, logs := newStorageHarness(t, true, 64<<10)
		h.createTopic("events", 1, nil)
		prod := h.client(kgo.DefaultProduceTopic("events"), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
		ctx := testCtx(t)
		for i := range 200 {
			v := bytes.Repeat([]byte{byte(i)}, 1000)
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		p, _ := logs.m.Partition(model.TopicPartition{Topic: "events", Partition: 0})
		sz, segs := p.Size()
		_, hw, _ := p.Offsets()
		t.Logf("setup: %d bytes, %d segments, hw %d", sz, segs, hw)
		return h, logs, p, logs.dir
	}
	write := func(t *testing.T, h *harness, o *fetchOut) (got []byte, err error) {
		sv, cl := loopbackPair(t)
		c := newConn(h.srv, sv)
		done := make(chan error, 1)
		go func() {
			werr := c.writeFetch(o)
			o.release() // what writeLoop does
			if werr != nil {
				sv.Close() // and kill
			}
			done <- werr
		}()
		got, err = readFetch(t, cl)
		if werr := <-done; (werr == nil) != (err == nil) {
			t.Fatalf("writer error %v, reader error %v", werr, err)
		}
		return got, err
	}

	t.Run("roll", func(t *testing.T) {
		h, _, p, _ := setup(t)
		o, want := pendingFetch(t, h, 32<<10)
		_, segsBefore := p.Size()
		prod := h.client(kgo.DefaultProduceTopic("events"), kgo.ProducerBatchCompression(kgo.NoCompression()))
		for i := range 100 {
			if err := prod.ProduceSync(testCtx(t), &kgo.Record{Value: bytes.Repeat([]byte{byte(i)}, 1000)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if _, segs := p.Size(); segs <= segsBefore {
			t.Fatalf("no roll: %d segments before, %d after", segsBefore, segs)
		}
		got, err := write(t, h, o)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after a roll: err %v, %d bytes (want %d, equal %v)", err, len(got), len(want), bytes.Equal(got, want))
		}
	})
	t.Run("delete", func(t *testing.T) {
		h, _, p, dir := setup(t)
		o, want := pendingFetch(t, h, 32<<10)
		_, hw, _ := p.Offsets()
		if _, err := p.DeleteRecords(hw); err != nil {
			t.Fatal(err)
		}
		if n := deletedFDs(t, dir); n == 0 {
			t.Fatal("the pending response does not hold the deleted segment open")
		}
		got, err := write(t, h, o)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after deletion: err %v, %d bytes (want %d, equal %v)", err, len(got), len(want), bytes.Equal(got, want))
		}
		if n := deletedFDs(t, dir); n != 0 {
			t.Fatalf("%d descriptors on deleted segment files after the write", n)
		}
	})
	t.Run("truncate", func(t *testing.T) {
		h, _, p, _ := setup(t)
		o, _ := pendingFetch(t, h, 32<<10)
		if err := p.SetExternalHW(true); err != nil {
			t.Fatal(err)
		}
		if err := p.TruncateTo(3); err != nil {
			t.Fatal(err)
		}
		if err := p.SetExternalHW(false); err != nil {
			t.Fatal(err)
		}
		// New, different bytes at the same file positions: only the
		// truncation count can tell.
		prod := h.client(kgo.DefaultProduceTopic("events"), kgo.ProducerBatchCompression(kgo.NoCompression()))
		for range 60 {
			if err := prod.ProduceSync(testCtx(t), &kgo.Record{Value: bytes.Repeat([]byte{0xee}, 1500)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		_, err := write(t, h, o)
		if err == nil {
			t.Fatal("a response over truncated ranges was written; want the connection closed")
		}
	})
	t.Run("connection dies before the write", func(t *testing.T) {
		h, _, p, dir := setup(t)
		o, _ := pendingFetch(t, h, 32<<10)
		_, hw, _ := p.Offsets()
		if _, err := p.DeleteRecords(hw); err != nil {
			t.Fatal(err)
		}
		if n := deletedFDs(t, dir); n == 0 {
			t.Fatal("the pending response does not hold the deleted segment open")
		}
		sv, _ := loopbackPair(t)
		c := newConn(h.srv, sv)
		sl := &slot{done: make(chan struct{}), fetch: o}
		sl.finished.Store(true)
		close(sl.done)
		h.srv.connsWG.Add(1)
		c.kill()
		c.queue <- sl
		close(c.queue)
		c.writeLoop()
		if n := deletedFDs(t, dir); n != 0 {
			t.Fatalf("%d descriptors on deleted segment files after the connection died", n)
		}
	})
}
