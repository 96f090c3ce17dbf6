package e2e

// Edge tests for issue 11: a client that creates a topic, waits until
// Metadata lists it, then writes to it with ONE plain request — no retries —
// succeeds, exactly as on Apache Kafka.
//
// These tests talk to the broker through edgeConn, a deliberately dumb raw
// client: one net.Conn to one broker, hand-framed requests, a deadline on
// every socket operation and no retries at all. Each Produce, Fetch and
// ListOffsets is sent exactly once and every partition in its answer must
// carry error code 0 the first time. Only "wait until Metadata lists the
// topic with a leader for every partition" polls, bounded by a deadline.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

// Bounds of the edge tests. None of them is a timing assertion: they only
// keep a broken broker from hanging the run.
const (
	edgeIOTimeout      = 45 * time.Second // one request's round trip on the socket
	edgeRequestTimeout = 30000            // timeout_ms sent in requests
	edgeMetadataWait   = 30 * time.Second // polling Metadata for a new topic
	edgePollInterval   = 10 * time.Millisecond
	edgeClusterStart   = 90 * time.Second // a fresh cluster's nodes all serving
)

// ---------------------------------------------------------------------------
// The raw client.

// edgeConn is one plain TCP connection to one broker. It never retries.
type edgeConn struct {
	t        testing.TB
	addr     string
	conn     net.Conn
	rd       *bufio.Reader
	corr     int32
	versions map[int16]int16 // API key -> version used (max both sides support)
}

// dialEdge connects to addr and negotiates versions with ApiVersions.
func dialEdge(t testing.TB, addr string) *edgeConn {
	t.Helper()
	c, err := tryDialEdge(addr, 5*time.Second)
	if err != nil {
		t.Fatalf("edge client: %v", err)
	}
	c.t = t
	t.Cleanup(c.Close)
	return c
}

// tryDialEdge connects and negotiates versions, returning an error instead
// of failing the test (for readiness polling).
func tryDialEdge(addr string, timeout time.Duration) (*edgeConn, error) {
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return nil, fmt.Errorf("edge client only talks to 127.0.0.1, not %s", addr)
	}
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c := &edgeConn{addr: addr, conn: nc, rd: bufio.NewReader(nc)}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName = "edge-test"
	req.ClientSoftwareVersion = "1.0.0"
	r, err := c.roundTrip(req, timeout)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ApiVersions to %s: %w", addr, err)
	}
	resp := r.(*kmsg.ApiVersionsResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		nc.Close()
		return nil, fmt.Errorf("ApiVersions to %s: %w", addr, err)
	}
	c.versions = map[int16]int16{}
	for _, k := range resp.ApiKeys {
		ours := kmsg.RequestForKey(k.ApiKey)
		if ours == nil {
			continue
		}
		v := min(k.MaxVersion, ours.MaxVersion())
		if k.ApiKey == kmsg.Fetch.Int16() {
			v = min(v, 12) // v13+ names topics by id
		}
		if v >= k.MinVersion {
			c.versions[k.ApiKey] = v
		}
	}
	return c, nil
}

func (c *edgeConn) Close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// do sends req once, at the negotiated version, and returns the decoded
// response. Any transport or decoding error fails the test.
func (c *edgeConn) do(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	v, ok := c.versions[req.Key()]
	if !ok {
		c.t.Fatalf("edge client: %s does not serve %s", c.addr, kmsg.NameForKey(req.Key()))
	}
	req.SetVersion(v)
	resp, err := c.roundTrip(req, edgeIOTimeout)
	if err != nil {
		c.t.Fatalf("edge client: %s v%d to %s: %v", kmsg.NameForKey(req.Key()), v, c.addr, err)
	}
	return resp
}

// roundTrip frames req (request header v1, or v2 when flexible, client id
// "edge-test"), writes it and reads its response frame, each under a
// deadline. ApiVersions always answers with response header v0; other
// flexible responses have a tag section after the correlation id.
func (c *edgeConn) roundTrip(req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	c.corr++
	corr := c.corr
	const clientID = "edge-test"
	buf := make([]byte, 4, 256)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(clientID)))
	buf = append(buf, clientID...)
	if req.IsFlexible() {
		buf = append(buf, 0) // empty header tag section
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))

	if err := c.conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(buf); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.rd, size[:]); err != nil {
		return nil, fmt.Errorf("read size: %w", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 256<<20 {
		return nil, fmt.Errorf("response frame of %d bytes", n)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(c.rd, frame); err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	if got := int32(binary.BigEndian.Uint32(frame[:4])); got != corr {
		return nil, fmt.Errorf("correlation id %d, sent %d", got, corr)
	}
	body := frame[4:]
	if req.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		rest, err := skipTags(body)
		if err != nil {
			return nil, fmt.Errorf("response header tags: %w", err)
		}
		body = rest
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode v%d response: %w", req.GetVersion(), err)
	}
	return resp, nil
}

// skipTags skips a tagged-field section (uvarint count, then per field a
// uvarint tag, a uvarint size and the bytes).
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[n:]
	for range count {
		_, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return nil, errors.New("bad tag size")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// ---------------------------------------------------------------------------
// Requests, each sent once.

// createTopic sends ONE CreateTopics and requires error 0; it returns the
// topic id when the version carries one (v7+).
func (c *edgeConn) createTopic(round int, topic string, partitions int32, rf int16) [16]byte {
	c.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = edgeRequestTimeout
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = partitions
	rt.ReplicationFactor = rf
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != topic {
		c.t.Fatalf("round %d: CreateTopics %s to %s: answer has %d topics", round, topic, c.addr, len(resp.Topics))
	}
	rt0 := resp.Topics[0]
	if err := kerr.ErrorForCode(rt0.ErrorCode); err != nil {
		c.t.Fatalf("round %d: CreateTopics %s (%d partitions, RF %d) to %s: %v (%s)", round, topic, partitions, rf, c.addr, err, strOr(rt0.ErrorMessage))
	}
	return rt0.TopicID
}

// deleteTopic sends ONE DeleteTopics by name and requires error 0.
func (c *edgeConn) deleteTopic(round int, topic string) {
	c.t.Helper()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = edgeRequestTimeout
	req.TopicNames = []string{topic}
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.DeleteTopicsResponse)
	if len(resp.Topics) != 1 {
		c.t.Fatalf("round %d: DeleteTopics %s to %s: answer has %d topics", round, topic, c.addr, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		c.t.Fatalf("round %d: DeleteTopics %s to %s: %v (%s)", round, topic, c.addr, err, strOr(resp.Topics[0].ErrorMessage))
	}
}

// createPartitions sends ONE CreatePartitions raising topic to count.
func (c *edgeConn) createPartitions(round int, topic string, count int32) {
	c.t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = edgeRequestTimeout
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic = topic
	rt.Count = count
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.CreatePartitionsResponse)
	if len(resp.Topics) != 1 {
		c.t.Fatalf("round %d: CreatePartitions %s to %s: answer has %d topics", round, topic, c.addr, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		c.t.Fatalf("round %d: CreatePartitions %s -> %d to %s: %v (%s)", round, topic, count, c.addr, err, strOr(resp.Topics[0].ErrorMessage))
	}
}

// metadata sends one Metadata request for topic.
func (c *edgeConn) metadata(topic string, autoCreate bool) *kmsg.MetadataResponse {
	c.t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = autoCreate
	return c.do(req).(*kmsg.MetadataResponse)
}

// topicMeta is what Metadata said about a topic.
type topicMeta struct {
	id      [16]byte
	leaders []int32 // by partition
}

// waitListed polls Metadata on c (the only polling these tests do) until
// topic is listed without error with want partitions, each with a leader
// that the answer lists among its brokers.
func (c *edgeConn) waitListed(round int, topic string, want int) topicMeta {
	c.t.Helper()
	var (
		last     string
		deadline = time.Now().Add(edgeMetadataWait)
	)
	for {
		m, why := listed(c.metadata(topic, false), topic, want)
		if why == "" {
			return m
		}
		last = why
		if time.Now().After(deadline) {
			c.t.Fatalf("round %d: Metadata on %s did not list %s with %d led partitions within %v: %s", round, c.addr, topic, want, edgeMetadataWait, last)
		}
		time.Sleep(edgePollInterval)
	}
}

// listed reports why resp does not list topic with want led partitions
// ("" when it does).
func listed(resp *kmsg.MetadataResponse, topic string, want int) (topicMeta, string) {
	brokers := map[int32]bool{}
	for _, b := range resp.Brokers {
		brokers[b.NodeID] = true
	}
	for _, rt := range resp.Topics {
		if rt.Topic == nil || *rt.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return topicMeta{}, err.Error()
		}
		if len(rt.Partitions) != want {
			return topicMeta{}, fmt.Sprintf("%d partitions", len(rt.Partitions))
		}
		m := topicMeta{id: rt.TopicID, leaders: make([]int32, want)}
		seen := make([]bool, want)
		for _, p := range rt.Partitions {
			if p.Partition < 0 || int(p.Partition) >= want || seen[p.Partition] {
				return topicMeta{}, fmt.Sprintf("partition %d out of range or twice", p.Partition)
			}
			seen[p.Partition] = true
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return topicMeta{}, fmt.Sprintf("partition %d: %v", p.Partition, err)
			}
			if p.Leader < 0 || !brokers[p.Leader] {
				return topicMeta{}, fmt.Sprintf("partition %d: leader %d not among brokers", p.Partition, p.Leader)
			}
			m.leaders[p.Partition] = p.Leader
		}
		return m, ""
	}
	return topicMeta{}, "not listed"
}

// connsFor maps a broker id to the raw connection for it.
type connsFor func(leader int32) *edgeConn

// byLeader groups the partitions of parts by their leader, in a stable order.
func byLeader(m topicMeta, parts []int32) ([]int32, map[int32][]int32) {
	groups := map[int32][]int32{}
	var leaders []int32
	for _, p := range parts {
		l := m.leaders[p]
		if _, ok := groups[l]; !ok {
			leaders = append(leaders, l)
		}
		groups[l] = append(groups[l], p)
	}
	sort.Slice(leaders, func(i, j int) bool { return leaders[i] < leaders[j] })
	return leaders, groups
}

func partsOf(values map[int32][]string) []int32 {
	parts := make([]int32, 0, len(values))
	for p := range values {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	return parts
}

// produceOnce sends, to each leader, ONE Produce (acks=-1) with one batch
// per partition of values, and requires every partition answered with
// error 0 and base offset 0 (the topic is fresh).
func produceOnce(t testing.TB, round int, conns connsFor, topic string, m topicMeta, values map[int32][]string) {
	t.Helper()
	leaders, groups := byLeader(m, partsOf(values))
	for _, l := range leaders {
		c := conns(l)
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = edgeRequestTimeout
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		for _, p := range groups[l] {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = recordBatch(values[p])
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := c.do(req).(*kmsg.ProduceResponse)
		got := map[int32]bool{}
		for _, t2 := range resp.Topics {
			for _, p := range t2.Partitions {
				if t2.Topic != topic {
					t.Fatalf("round %d: Produce to %s (leader %d): answer names topic %q", round, c.addr, l, t2.Topic)
				}
				got[p.Partition] = true
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					t.Fatalf("round %d: Produce %s/%d to leader %d (%s), first and only try: %v", round, topic, p.Partition, l, c.addr, err)
				}
				if p.BaseOffset != 0 {
					t.Fatalf("round %d: Produce %s/%d to leader %d: base offset %d, want 0 on a fresh topic", round, topic, p.Partition, l, p.BaseOffset)
				}
			}
		}
		for _, p := range groups[l] {
			if !got[p] {
				t.Fatalf("round %d: Produce to leader %d (%s) did not answer for %s/%d", round, l, c.addr, topic, p)
			}
		}
	}
}

// fetchOnce sends, to each leader, ONE Fetch of its partitions from
// offset 0 and requires error 0 and exactly values, at offsets 0..n-1.
func fetchOnce(t testing.TB, round int, conns connsFor, topic string, m topicMeta, values map[int32][]string) {
	t.Helper()
	leaders, groups := byLeader(m, partsOf(values))
	for _, l := range leaders {
		c := conns(l)
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 500
		req.MinBytes = 1
		req.MaxBytes = 16 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for _, p := range groups[l] {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.FetchOffset = 0
			rp.PartitionMaxBytes = 1 << 20
			rp.CurrentLeaderEpoch = -1
			rp.LogStartOffset = -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := c.do(req).(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("round %d: Fetch %s from leader %d (%s): top-level %v", round, topic, l, c.addr, err)
		}
		got := map[int32]bool{}
		for _, t2 := range resp.Topics {
			for _, p := range t2.Partitions {
				if t2.Topic != topic {
					t.Fatalf("round %d: Fetch from %s (leader %d): answer names topic %q", round, c.addr, l, t2.Topic)
				}
				got[p.Partition] = true
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					t.Fatalf("round %d: Fetch %s/%d@0 from leader %d (%s), first and only try: %v", round, topic, p.Partition, l, c.addr, err)
				}
				want := values[p.Partition]
				recs, err := parseBatches(p.RecordBatches)
				if err != nil {
					t.Fatalf("round %d: Fetch %s/%d@0 from leader %d: %v", round, topic, p.Partition, l, err)
				}
				if len(recs) != len(want) {
					t.Fatalf("round %d: Fetch %s/%d@0 from leader %d: %d records (%q), want %d (%q); high watermark %d",
						round, topic, p.Partition, l, len(recs), recValues(recs), len(want), want, p.HighWatermark)
				}
				for i, r := range recs {
					if r.offset != int64(i) || r.value != want[i] {
						t.Fatalf("round %d: Fetch %s/%d@0 from leader %d: record %d is %q at offset %d, want %q at %d",
							round, topic, p.Partition, l, i, r.value, r.offset, want[i], i)
					}
				}
				if p.HighWatermark != int64(len(want)) {
					t.Fatalf("round %d: Fetch %s/%d from leader %d: high watermark %d, want %d", round, topic, p.Partition, l, p.HighWatermark, len(want))
				}
			}
		}
		for _, p := range groups[l] {
			if !got[p] {
				t.Fatalf("round %d: Fetch from leader %d (%s) did not answer for %s/%d", round, l, c.addr, topic, p)
			}
		}
	}
}

// listOffsetsOnce sends, to each leader, ONE ListOffsets (latest) and
// requires error 0 and the end offset len(values[p]).
func listOffsetsOnce(t testing.TB, round int, conns connsFor, topic string, m topicMeta, values map[int32][]string) {
	t.Helper()
	leaders, groups := byLeader(m, partsOf(values))
	for _, l := range leaders {
		c := conns(l)
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range groups[l] {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rp.CurrentLeaderEpoch = -1
			rp.Timestamp = -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := c.do(req).(*kmsg.ListOffsetsResponse)
		got := map[int32]bool{}
		for _, t2 := range resp.Topics {
			for _, p := range t2.Partitions {
				got[p.Partition] = true
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					t.Fatalf("round %d: ListOffsets(latest) %s/%d to leader %d (%s), first and only try: %v", round, topic, p.Partition, l, c.addr, err)
				}
				if want := int64(len(values[p.Partition])); p.Offset != want {
					t.Fatalf("round %d: ListOffsets(latest) %s/%d to leader %d: offset %d, want %d", round, topic, p.Partition, l, p.Offset, want)
				}
			}
		}
		for _, p := range groups[l] {
			if !got[p] {
				t.Fatalf("round %d: ListOffsets to leader %d (%s) did not answer for %s/%d", round, l, c.addr, topic, p)
			}
		}
	}
}

// writeReadOnce is one Produce, one Fetch and one ListOffsets per leader.
func writeReadOnce(t testing.TB, round int, conns connsFor, topic string, m topicMeta, values map[int32][]string) {
	t.Helper()
	produceOnce(t, round, conns, topic, m, values)
	fetchOnce(t, round, conns, topic, m, values)
	listOffsetsOnce(t, round, conns, topic, m, values)
}

// roundValues gives each partition 1..3 records named after round and
// partition.
func roundValues(rng *rand.Rand, round int, parts []int32) map[int32][]string {
	out := make(map[int32][]string, len(parts))
	for _, p := range parts {
		n := 1 + rng.Intn(3)
		for i := range n {
			out[p] = append(out[p], fmt.Sprintf("r%d-p%d-%d", round, p, i))
		}
	}
	return out
}

func partRange(from, to int32) []int32 {
	var out []int32
	for p := from; p < to; p++ {
		out = append(out, p)
	}
	return out
}

// ---------------------------------------------------------------------------
// Record batches.

// recordBatch builds one uncompressed magic-v2 batch of values with base
// offset 0, no producer id and a CRC-32C over attributes..end.
func recordBatch(values []string) []byte {
	now := time.Now().UnixMilli()
	var recs []byte
	for i, v := range values {
		var body []byte
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		body = binary.AppendVarint(body, -1)       // null key
		body = binary.AppendVarint(body, int64(len(v)))
		body = append(body, v...)
		body = binary.AppendVarint(body, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	b := make([]byte, 0, 61+len(recs))
	b = binary.BigEndian.AppendUint64(b, 0)                     // base offset
	b = binary.BigEndian.AppendUint32(b, 0)                     // batch length, below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)            // partition leader epoch -1
	b = append(b, 2)                                            // magic
	b = binary.BigEndian.AppendUint32(b, 0)                     // crc, below
	b = binary.BigEndian.AppendUint16(b, 0)                     // attributes
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)-1)) // last offset delta
	b = binary.BigEndian.AppendUint64(b, uint64(now))           // first timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(now))           // max timestamp
	b = binary.BigEndian.AppendUint64(b, 0xffffffffffffffff)    // producer id -1
	b = binary.BigEndian.AppendUint16(b, 0xffff)                // producer epoch -1
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)            // base sequence -1
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)))   // record count
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

type edgeRecord struct {
	offset int64
	value  string
}

func recValues(recs []edgeRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.value
	}
	return out
}

// parseBatches decodes the uncompressed magic-v2 batches of a Fetch
// answer, checking each batch's CRC-32C and record count.
func parseBatches(b []byte) ([]edgeRecord, error) {
	var out []edgeRecord
	for len(b) > 0 {
		if len(b) < 61 {
			return nil, fmt.Errorf("%d trailing bytes, less than a batch header", len(b))
		}
		base := int64(binary.BigEndian.Uint64(b[0:8]))
		length := int(binary.BigEndian.Uint32(b[8:12]))
		if length < 49 || 12+length > len(b) {
			return nil, fmt.Errorf("batch at %d claims %d bytes, %d served", base, length, len(b)-12)
		}
		batch := b[:12+length]
		b = b[12+length:]
		if batch[16] != 2 {
			return nil, fmt.Errorf("batch at %d has magic %d", base, batch[16])
		}
		if crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(batch[17:21]) {
			return nil, fmt.Errorf("batch at %d fails its CRC-32C", base)
		}
		if attrs := binary.BigEndian.Uint16(batch[21:23]); attrs&0x7 != 0 || attrs&0x20 != 0 {
			return nil, fmt.Errorf("batch at %d has attributes %#x (compressed or control)", base, attrs)
		}
		count := int(binary.BigEndian.Uint32(batch[57:61]))
		recs := batch[61:]
		for i := range count {
			size, n := binary.Varint(recs)
			if n <= 0 || size < 0 || int(size) > len(recs)-n {
				return nil, fmt.Errorf("batch at %d: record %d has bad length", base, i)
			}
			rec := recs[n : n+int(size)]
			recs = recs[n+int(size):]
			rec = rec[1:] // attributes
			var fields [3]int64
			for j := range fields { // timestamp delta, offset delta, key length
				v, n := binary.Varint(rec)
				if n <= 0 {
					return nil, fmt.Errorf("batch at %d: record %d is truncated", base, i)
				}
				fields[j] = v
				rec = rec[n:]
			}
			if fields[2] > 0 {
				rec = rec[fields[2]:]
			}
			vlen, n := binary.Varint(rec)
			if n <= 0 || vlen > int64(len(rec)-n) {
				return nil, fmt.Errorf("batch at %d: record %d value is truncated", base, i)
			}
			var value string
			if vlen >= 0 {
				value = string(rec[n : n+int(vlen)])
			}
			out = append(out, edgeRecord{offset: base + fields[1], value: value})
		}
		if len(recs) != 0 {
			return nil, fmt.Errorf("batch at %d: %d bytes after its %d records", base, len(recs), count)
		}
	}
	return out, nil
}

func strOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func edgeSkipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
}

// clusterConns opens one raw connection per node of c, reused across rounds.
func clusterConns(t *testing.T, c *testkit.Cluster) connsFor {
	conns := map[int32]*edgeConn{}
	for i, n := range c.Nodes {
		conns[int32(i+1)] = dialEdge(t, n.Addr())
	}
	return func(id int32) *edgeConn {
		cn, ok := conns[id]
		if !ok {
			t.Fatalf("no node with id %d", id)
		}
		return cn
	}
}

// otherThanController returns a node that is not the active controller.
func otherThanController(t *testing.T, c *testkit.Cluster) (int32, *testkit.Node) {
	t.Helper()
	ctrl := c.Controller()
	for i, n := range c.Nodes {
		if n != ctrl {
			return int32(i + 1), n
		}
	}
	t.Fatal("every node is the controller")
	return 0, nil
}

// ---------------------------------------------------------------------------
// The tests.

// TestNoRetryCreateProduceFetchSingleNode: CreateTopics, wait for Metadata,
// then ONE Produce, ONE Fetch and ONE ListOffsets, 200 times on one node.
func TestNoRetryCreateProduceFetchSingleNode(t *testing.T) {
	t.Parallel()
	edgeSkipShort(t)
	n := testkit.StartNode(t, testkit.Options{})
	c := dialEdge(t, n.Addr())
	conns := func(int32) *edgeConn { return c }
	rng := rand.New(rand.NewSource(11))
	const rounds = 200
	start := time.Now()
	for round := range rounds {
		topic := fmt.Sprintf("edge-single-%d", round)
		parts := int32(1 + rng.Intn(8))
		c.createTopic(round, topic, parts, 1)
		m := c.waitListed(round, topic, int(parts))
		writeReadOnce(t, round, conns, topic, m, roundValues(rng, round, partRange(0, parts)))
	}
	el := time.Since(start)
	t.Logf("%d rounds in %v (%v per round)", rounds, el, el/rounds)
}

// TestNoRetryAfterAutoCreate: ONE Metadata request auto-creates a topic,
// then Metadata polling, then ONE Produce, Fetch and ListOffsets.
func TestNoRetryAfterAutoCreate(t *testing.T) {
	t.Parallel()
	edgeSkipShort(t)
	const parts = 3
	n := testkit.StartNode(t, testkit.Options{Settings: map[string]string{
		"auto.create.topics.enable": "true",
		"num.partitions":            fmt.Sprint(parts),
	}})
	c := dialEdge(t, n.Addr())
	if c.versions[kmsg.Metadata.Int16()] < 4 {
		t.Fatalf("broker serves Metadata only up to v%d; AllowAutoTopicCreation needs v4", c.versions[kmsg.Metadata.Int16()])
	}
	conns := func(int32) *edgeConn { return c }
	rng := rand.New(rand.NewSource(12))
	const rounds = 200
	start := time.Now()
	for round := range rounds {
		topic := fmt.Sprintf("edge-auto-%d", round)
		resp := c.metadata(topic, true)
		if len(resp.Topics) != 1 {
			t.Fatalf("round %d: auto-creating Metadata for %s: %d topics", round, topic, len(resp.Topics))
		}
		if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil && !errors.Is(err, kerr.LeaderNotAvailable) {
			t.Fatalf("round %d: auto-creating Metadata for %s: %v", round, topic, err)
		}
		m := c.waitListed(round, topic, parts)
		writeReadOnce(t, round, conns, topic, m, roundValues(rng, round, partRange(0, parts)))
	}
	el := time.Since(start)
	t.Logf("%d rounds in %v (%v per round)", rounds, el, el/rounds)
}

// TestNoRetryThroughNonControllerNode: CreateTopics (RF 3) sent to a node
// that is not the active controller, Metadata polled on that node, then
// ONE Produce, Fetch and ListOffsets to each partition's leader.
func TestNoRetryThroughNonControllerNode(t *testing.T) {
	t.Parallel()
	edgeSkipShort(t)
	cl := testkit.StartCluster(t, 3, testkit.Options{})
	id, node := otherThanController(t, cl)
	conns := clusterConns(t, cl)
	admin := conns(id)
	t.Logf("CreateTopics and Metadata go to node %d (%s), not the controller", id, node.Addr())
	rng := rand.New(rand.NewSource(13))
	// Each round's topic is deleted at its end, so that the cluster's
	// partition count stays bounded over the rounds.
	const rounds = 200
	start := time.Now()
	for round := range rounds {
		topic := fmt.Sprintf("edge-cluster-%d", round)
		parts := int32(1 + rng.Intn(8))
		admin.createTopic(round, topic, parts, 3)
		m := admin.waitListed(round, topic, int(parts))
		writeReadOnce(t, round, conns, topic, m, roundValues(rng, round, partRange(0, parts)))
		admin.deleteTopic(round, topic)
	}
	el := time.Since(start)
	t.Logf("%d rounds in %v (%v per round)", rounds, el, el/rounds)
}

// TestDeleteThenRecreateSameName: delete a topic and at once create it
// again under the same name; the new topic has a new id, takes one write
// first try and holds only that write.
func TestDeleteThenRecreateSameName(t *testing.T) {
	t.Parallel()
	edgeSkipShort(t)
	t.Run("single", func(t *testing.T) {
		n := testkit.StartNode(t, testkit.Options{})
		c := dialEdge(t, n.Addr())
		deleteRecreateRounds(t, 100, c, func(int32) *edgeConn { return c }, 1)
	})
	t.Run("cluster", func(t *testing.T) {
		cl := testkit.StartCluster(t, 3, testkit.Options{})
		id, _ := otherThanController(t, cl)
		conns := clusterConns(t, cl)
		deleteRecreateRounds(t, 20, conns(id), conns, 3)
	})
	// A follower whose reconcile pass is slow (held by a test hook) sees
	// the delete and the re-creation in one image: the same leader at the
	// same leader epoch (0), but a new log. It must follow the new log, or
	// the leader's high watermark waits for it and acks=all produce times
	// out (a CI failure of the rounds above, under load).
	t.Run("slow follower", func(t *testing.T) {
		hold := filepath.Join(t.TempDir(), "reconcile-hold")
		cl := testkit.StartCluster(t, 3, testkit.Options{Env: []string{"RINGTAIL_TEST_RECONCILE_HOLD_FILE=" + hold}})
		conns := clusterConns(t, cl)
		const topic = "edge-recreate-slow"
		admin := conns(1)
		admin.createTopic(-1, topic, 1, 3)
		m := admin.waitListed(-1, topic, 1)
		follower := m.leaders[0]%3 + 1 // any replica but the leader
		produceOnce(t, 0, conns, topic, m, map[int32][]string{0: {"before"}})
		if err := os.WriteFile(hold, []byte(fmt.Sprintf("%d\n", follower)), 0o644); err != nil {
			t.Fatal(err)
		}
		admin.deleteTopic(1, topic)
		admin.createTopic(1, topic, 1, 3)
		m2 := admin.waitListed(1, topic, 1)
		if m2.id == m.id {
			t.Fatalf("re-created %s has the topic id of the deleted one", topic)
		}
		// The follower's own metadata has the new topic (its image holds
		// both changes) before its held pass goes on.
		fc := conns(follower)
		testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("node %d to list the re-created topic", follower), func() bool {
			got, why := listed(fc.metadata(topic, false), topic, 1)
			return why == "" && got.id == m2.id
		})
		if err := os.WriteFile(hold, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		values := map[int32][]string{0: {"after"}}
		produceOnce(t, 2, conns, topic, m2, values)
		fetchOnce(t, 2, conns, topic, m2, values)
	})
}

func deleteRecreateRounds(t *testing.T, rounds int, admin *edgeConn, conns connsFor, rf int16) {
	const topic = "edge-recreate"
	admin.createTopic(-1, topic, 1, rf)
	prev := admin.waitListed(-1, topic, 1)
	start := time.Now()
	for round := range rounds {
		admin.deleteTopic(round, topic)
		admin.createTopic(round, topic, 1, rf)
		m := admin.waitListed(round, topic, 1)
		if m.id == prev.id {
			t.Fatalf("round %d: re-created %s has the topic id %x of the deleted one", round, topic, m.id)
		}
		prev = m
		values := map[int32][]string{0: {fmt.Sprintf("round-%d", round)}}
		produceOnce(t, round, conns, topic, m, values)
		fetchOnce(t, round, conns, topic, m, values) // exactly this round's record
	}
	el := time.Since(start)
	t.Logf("%d rounds in %v (%v per round)", rounds, el, el/time.Duration(rounds))
}

// TestFreshClusterCreateTopicsFirstTry: 20 fresh 3-node clusters; the
// moment every node answers on its Kafka port, ONE CreateTopics (RF 3, 3
// partitions) to one of them succeeds.
func TestFreshClusterCreateTopicsFirstTry(t *testing.T) {
	t.Parallel()
	edgeSkipShort(t)
	const clusters = 20
	start := time.Now()
	done := 0
	for i := range clusters {
		ok := t.Run(fmt.Sprintf("cluster-%02d", i), func(t *testing.T) {
			cl := testkit.NewCluster(t, 3, testkit.Options{})
			procs := startRawProcs(t, cl)
			t0 := time.Now()
			conns := make([]*edgeConn, len(cl.Nodes))
			for j, n := range cl.Nodes {
				conns[j] = waitServes(t, n, procs[j])
			}
			target := i % len(cl.Nodes)
			t.Logf("all nodes serve %v after start; CreateTopics to node %d", time.Since(t0), target+1)
			conns[target].createTopic(i, fmt.Sprintf("edge-fresh-%d", i), 3, 3)
		})
		if !ok {
			break
		}
		done++
	}
	if done > 0 {
		el := time.Since(start)
		t.Logf("%d clusters in %v (%v each)", done, el, el/time.Duration(done))
	}
}

// edgeProc is a node process started by the test itself (testkit's Start
// waits for more than "serves": it also waits for every broker to be
// registered, which would hide what this test looks at).
type edgeProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startRawProcs(t *testing.T, cl *testkit.Cluster) []*edgeProc {
	t.Helper()
	procs := make([]*edgeProc, len(cl.Nodes))
	dir := t.TempDir()
	for i, n := range cl.Nodes {
		p := &edgeProc{log: filepath.Join(dir, fmt.Sprintf("node-%d.log", i+1)), exited: make(chan struct{})}
		f, err := os.Create(p.log)
		if err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command(n.Bin, "serve", "--config", n.ConfigPath)
		p.cmd.Stdout = f
		p.cmd.Stderr = f
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		p.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
		if err := p.cmd.Start(); err != nil {
			f.Close()
			t.Fatal(err)
		}
		go func(p *edgeProc, f *os.File) {
			p.cmd.Wait()
			f.Close()
			close(p.exited)
		}(p, f)
		procs[i] = p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p != nil {
				_ = p.cmd.Process.Kill()
			}
		}
		for i, p := range procs {
			if p == nil {
				continue
			}
			<-p.exited
			if t.Failed() {
				b, _ := os.ReadFile(p.log)
				t.Logf("node %d log:\n%s", i+1, edgeTail(string(b), 6000))
			}
		}
	})
	return procs
}

// waitServes polls until the node accepts a connection and answers
// ApiVersions (what testkit's waitServing waits for), bounded.
func waitServes(t *testing.T, n *testkit.Node, p *edgeProc) *edgeConn {
	t.Helper()
	deadline := time.Now().Add(edgeClusterStart)
	for {
		select {
		case <-p.exited:
			t.Fatalf("node at %s exited during start: %v", n.Addr(), p.cmd.ProcessState)
		default:
		}
		c, err := tryDialEdge(n.Addr(), 2*time.Second)
		if err == nil {
			c.t = t
			t.Cleanup(c.Close)
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("node at %s not serving after %v: %v", n.Addr(), edgeClusterStart, err)
		}
		time.Sleep(edgePollInterval)
	}
}

func edgeTail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return "...\n" + s[len(s)-max:]
}

// TestCreatePartitionsWritableAtOnce: new partitions of CreatePartitions
// take ONE Produce each (to their leader) right after the call returns.
func TestCreatePartitionsWritableAtOnce(t *testing.T) {
	t.Parallel()
	edgeSkipShort(t)
	t.Run("single", func(t *testing.T) {
		n := testkit.StartNode(t, testkit.Options{})
		c := dialEdge(t, n.Addr())
		createPartitionsRounds(t, 20, c, func(int32) *edgeConn { return c }, 1)
	})
	t.Run("cluster", func(t *testing.T) {
		cl := testkit.StartCluster(t, 3, testkit.Options{})
		id, _ := otherThanController(t, cl)
		conns := clusterConns(t, cl)
		createPartitionsRounds(t, 10, conns(id), conns, 3)
	})
}

func createPartitionsRounds(t *testing.T, rounds int, admin *edgeConn, conns connsFor, rf int16) {
	rng := rand.New(rand.NewSource(16))
	start := time.Now()
	for round := range rounds {
		topic := fmt.Sprintf("edge-grow-%d", round)
		admin.createTopic(round, topic, 1, rf)
		admin.waitListed(round, topic, 1)
		admin.createPartitions(round, topic, 4)
		m := admin.waitListed(round, topic, 4)
		values := roundValues(rng, round, partRange(1, 4))
		produceOnce(t, round, conns, topic, m, values)
		fetchOnce(t, round, conns, topic, m, values)
	}
	el := time.Since(start)
	t.Logf("%d rounds in %v (%v per round)", rounds, el, el/time.Duration(rounds))
}

// TestKafkaGoConnAndReader: segmentio/kafka-go's Conn creates a topic and
// writes to its leader once, no retry loop and no sleep; a Reader reads
// every message back in order; a Writer with MaxAttempts 1 auto-creates a
// topic and writes to it once.
func TestKafkaGoConnAndReader(t *testing.T) {
	t.Parallel()
	edgeSkipShort(t)
	n := testkit.StartNode(t, testkit.Options{Settings: map[string]string{"auto.create.topics.enable": "true"}})
	const rounds, perRound = 20, 10
	start := time.Now()
	for round := range rounds {
		topic := fmt.Sprintf("edge-kafkago-%d", round)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		kafkaGoRound(t, ctx, n.Addr(), round, topic, perRound)
		cancel()
	}
	el := time.Since(start)
	t.Logf("Conn+Reader: %d rounds in %v (%v per round)", rounds, el, el/rounds)

	start = time.Now()
	for round := range 5 {
		topic := fmt.Sprintf("edge-kafkago-writer-%d", round)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		w := &kafkago.Writer{
			Addr:                   kafkago.TCP(n.Addr()),
			Topic:                  topic,
			AllowAutoTopicCreation: true,
			MaxAttempts:            1, // no retries
			RequiredAcks:           kafkago.RequireAll,
			BatchTimeout:           10 * time.Millisecond,
			WriteTimeout:           30 * time.Second,
			ReadTimeout:            30 * time.Second,
		}
		msgs := kafkaGoMessages(round, perRound)
		err := w.WriteMessages(ctx, msgs...)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			cancel()
			t.Fatalf("round %d: kafka-go Writer (auto-create, MaxAttempts 1) to %s: %v", round, topic, err)
		}
		readBackKafkaGo(t, ctx, n.Addr(), round, topic, msgs)
		cancel()
	}
	t.Logf("Writer: 5 rounds in %v", time.Since(start))
}

func kafkaGoMessages(round, count int) []kafkago.Message {
	msgs := make([]kafkago.Message, count)
	for i := range msgs {
		msgs[i] = kafkago.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("round-%d-msg-%d", round, i))}
	}
	return msgs
}

func kafkaGoRound(t *testing.T, ctx context.Context, addr string, round int, topic string, count int) {
	t.Helper()
	conn, err := kafkago.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("round %d: kafka-go Dial %s: %v", round, addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := conn.CreateTopics(kafkago.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatalf("round %d: kafka-go CreateTopics %s: %v", round, topic, err)
	}

	leader, err := kafkago.DialLeader(ctx, "tcp", addr, topic, 0)
	if err != nil {
		t.Fatalf("round %d: kafka-go DialLeader %s/0: %v", round, topic, err)
	}
	defer leader.Close()
	if err := leader.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	msgs := kafkaGoMessages(round, count)
	if _, err := leader.WriteMessages(msgs...); err != nil {
		t.Fatalf("round %d: kafka-go Conn.WriteMessages %s/0, first and only try: %v", round, topic, err)
	}
	readBackKafkaGo(t, ctx, addr, round, topic, msgs)
}

// errCollector is a kafka-go Logger that keeps what the Reader reports as
// errors (the Reader retries internally; any error is a failure here). The
// Reader logs from its own goroutine.
type errCollector struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (e *errCollector) Printf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(&e.buf, format+"\n", args...)
}

func (e *errCollector) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.buf.String()
}

func readBackKafkaGo(t *testing.T, ctx context.Context, addr string, round int, topic string, msgs []kafkago.Message) {
	t.Helper()
	var errs errCollector
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:     []string{addr},
		Topic:       topic,
		Partition:   0,
		MinBytes:    1,
		MaxBytes:    1 << 20,
		MaxWait:     200 * time.Millisecond,
		ErrorLogger: &errs,
	})
	defer r.Close()
	for i, want := range msgs {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("round %d: kafka-go Reader %s: message %d: %v (reader errors: %s)", round, topic, i, err, errs.String())
		}
		if m.Offset != int64(i) || string(m.Value) != string(want.Value) || string(m.Key) != string(want.Key) {
			t.Fatalf("round %d: kafka-go Reader %s: message %d is %q=%q at offset %d, want %q=%q at %d",
				round, topic, i, m.Key, m.Value, m.Offset, want.Key, want.Value, i)
		}
	}
	if e := errs.String(); e != "" {
		t.Fatalf("round %d: kafka-go Reader %s reported errors: %s", round, topic, e)
	}
}
