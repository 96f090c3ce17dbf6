package rawfetch

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FetchVersion is the Fetch version sent: the newest that names topics
// rather than topic ids and is not flexible (KIP-392's rack id, v11),
// which Ringtail, Kafka since 2.3 and kfake all serve.
const FetchVersion = 11

// maxResponseBytes bounds a response the consumer will read: a broker
// answering with more than this is a broken broker.
const maxResponseBytes = 1 << 30

// Partition is one partition to read, from Start up to End (exclusive).
type Partition struct {
	ID         int32
	Start, End int64
}

// Target is one broker and the partitions it leads.
type Target struct {
	Addr       string
	Partitions []Partition
}

// Config is one run.
type Config struct {
	Topic   string
	Targets []Target
	// MaxBytes and PartitionMaxBytes are the Fetch request's limits.
	MaxBytes, PartitionMaxBytes int32
	// MaxWait is the Fetch request's max wait (the broker's long poll).
	MaxWait time.Duration
	// Deadline ends the run if the records have not all arrived.
	Deadline time.Time
	ClientID string
}

// Counters are the run's totals so far, safe to read while it runs.
type Counters struct {
	Records   atomic.Int64
	Bytes     atomic.Int64 // record-batch bytes, offset and length fields included
	Responses atomic.Int64
	WireBytes atomic.Int64 // response bytes read, size prefixes included
}

// Run reads every partition of cfg from Start to End, one connection and
// one Fetch in flight per target, and adds what arrives to c. It returns
// when all partitions are read, at the deadline (an error naming the
// partitions left), when ctx ends, or at the first error.
func Run(ctx context.Context, cfg Config, c *Counters) error {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.PartitionMaxBytes <= 0 {
		cfg.PartitionMaxBytes = 8 << 20
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 500 * time.Millisecond
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "ringtail-bench-raw"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(cfg.Targets))
	for i, t := range cfg.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = runTarget(ctx, cfg, t, c); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// conn is one raw connection: a buffered reader over the socket and the
// request bytes reused from one Fetch to the next.
type conn struct {
	nc   net.Conn
	r    *bufio.Reader
	f    *kmsg.RequestFormatter
	req  []byte
	resp []byte
	corr int32
}

func runTarget(ctx context.Context, cfg Config, t Target, c *Counters) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return fmt.Errorf("rawfetch: %w", err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	if !cfg.Deadline.IsZero() {
		nc.SetDeadline(cfg.Deadline)
	}
	cn := &conn{nc: nc, r: bufio.NewReaderSize(nc, 1<<20), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID(cfg.ClientID))}
	offsets := map[int32]int64{}
	ends := map[int32]int64{}
	for _, p := range t.Partitions {
		if p.Start < p.End {
			offsets[p.ID], ends[p.ID] = p.Start, p.End
		}
	}
	for len(offsets) > 0 {
		req := kmsg.NewPtrFetchRequest()
		req.Version = FetchVersion
		req.ReplicaID = -1
		req.MaxWaitMillis = int32(cfg.MaxWait / time.Millisecond)
		req.MinBytes = 1
		req.MaxBytes = cfg.MaxBytes
		req.SessionEpoch = -1 // no fetch session: every request is full
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = cfg.Topic
		for id, off := range offsets {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = id, off, cfg.PartitionMaxBytes
			rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, n, err := cn.roundTrip(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !cfg.Deadline.IsZero() && time.Now().After(cfg.Deadline) {
				return fmt.Errorf("rawfetch: %s: deadline passed with %d partition(s) unread", t.Addr, len(offsets))
			}
			return fmt.Errorf("rawfetch: %s: %w", t.Addr, err)
		}
		c.Responses.Add(1)
		c.WireBytes.Add(int64(n))
		if err := apply(resp, cfg.Topic, offsets, ends, c); err != nil {
			return fmt.Errorf("rawfetch: %s: %w", t.Addr, err)
		}
	}
	return nil
}

// apply counts a response's batches and moves the offsets on; a
// partition read to its end leaves offsets.
func apply(resp *kmsg.FetchResponse, topic string, offsets, ends map[int32]int64, c *Counters) error {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	for _, rt := range resp.Topics {
		if rt.Topic != topic {
			continue
		}
		for _, rp := range rt.Partitions {
			off, ok := offsets[rp.Partition]
			if !ok {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return fmt.Errorf("partition %d: %w", rp.Partition, err)
			}
			w, err := WalkBatches(rp.RecordBatches, off, ends[rp.Partition])
			if err != nil {
				return fmt.Errorf("partition %d: %w", rp.Partition, err)
			}
			c.Records.Add(w.Records)
			c.Bytes.Add(w.Bytes)
			if w.Next > off {
				off = w.Next
			}
			if off >= ends[rp.Partition] {
				delete(offsets, rp.Partition)
			} else {
				offsets[rp.Partition] = off
			}
		}
	}
	return nil
}

// roundTrip sends req and reads its response; n is the response's bytes
// on the wire.
func (cn *conn) roundTrip(req *kmsg.FetchRequest) (*kmsg.FetchResponse, int, error) {
	cn.corr++
	cn.req = cn.f.AppendRequest(cn.req[:0], req, cn.corr)
	if _, err := cn.nc.Write(cn.req); err != nil {
		return nil, 0, err
	}
	var size [4]byte
	if _, err := io.ReadFull(cn.r, size[:]); err != nil {
		return nil, 0, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxResponseBytes {
		return nil, 0, fmt.Errorf("response size %d, want 4 to %d", n, maxResponseBytes)
	}
	if cap(cn.resp) < int(n) {
		cn.resp = make([]byte, n)
	}
	body := cn.resp[:n]
	if _, err := io.ReadFull(cn.r, body); err != nil {
		return nil, 0, err
	}
	resp, err := ParseResponse(body, cn.corr, req.Version)
	return resp, int(n) + 4, err
}

// ParseResponse decodes a Fetch response body (after its size prefix):
// the correlation id, which must be corr, then the response's framing at
// version. The record bytes stay one undecoded slice per partition
// (aliasing body).
func ParseResponse(body []byte, corr int32, version int16) (*kmsg.FetchResponse, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("response of %d bytes has no correlation id", len(body))
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrCorrelation, got, corr)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	body = body[4:]
	if resp.IsFlexible() {
		// The response header's tagged fields: this reader sends only
		// v11, which has none; a flexible version would need them skipped.
		return nil, fmt.Errorf("fetch v%d responses are flexible; rawfetch reads v%d", version, FetchVersion)
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding the fetch response: %w", err)
	}
	return resp, nil
}
