// These tests speak the protocol over raw sockets to prove the connection
// layer: garbage, oversized and unknown requests close only their own
// connection, unsupported ApiVersions get the KIP-511 answer, a stalled
// half request or 1,000 idle connections do not hold up anyone else,
// pipelined requests are answered in order with appends in request order,
// and limits (idle timeout, max connections) and hooks apply.
package kafka

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// withSize prefixes body with its length.
func withSize(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// stillServes proves the server answers a fresh connection.
func (h *harness) stillServes(t *testing.T) {
	t.Helper()
	resp := h.dial().roundTrip(kmsg.NewPtrApiVersionsRequest(), 42).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("api versions after abuse: code %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestBadFramesCloseTheConnection(t *testing.T) {
	h := newHarness(t)
	header := func(key, version int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 1)
		return binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	}
	oversized := binary.BigEndian.AppendUint32(nil, uint32(h.broker.SocketRequestMaxBytes)+1)
	for name, raw := range map[string][]byte{
		"garbage":                   withSize([]byte("this is not a kafka request at all")),
		"negative size":             {0xff, 0xff, 0xff, 0xf0, 1, 2, 3},
		"oversized":                 oversized,
		"shorter than a header":     withSize([]byte{0, 3, 0}),
		"unknown key":               withSize(header(999, 0)),
		"key not served":            frame(unservedRequest(t, 0), 1),
		"flexible key not served":   frame(unservedRequest(t, -1), 1),
		"unsupported produce":       withSize(header(0, 2)),
		"truncated metadata body":   withSize(append(header(3, 9), 0, 0, 0, 5)),
		"client id past the frame":  withSize([]byte{0, 18, 0, 0, 0, 0, 0, 1, 0, 50, 'x'}),
		"bad flexible header tags":  withSize(append(header(3, 12), 0x05, 0x01)),
		"metadata topics count lie": withSize(append(header(3, 4), 0x7f, 0xff, 0xff, 0xff)),
	} {
		t.Run(name, func(t *testing.T) {
			c := h.dial()
			c.write(raw)
			c.expectClosed()
		})
	}
	h.stillServes(t)
}

// unservedRequest returns a well-formed request for the first key kmsg
// knows that apis does not serve, at version (-1: kmsg's newest), so that
// the server refuses it for the key and not for its framing.
func unservedRequest(t *testing.T, version int16) kmsg.Request {
	t.Helper()
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		r := kmsg.RequestForKey(k)
		if _, served := apis[k]; served || r == nil || k == 7 { // ControlledShutdown v0 has no client id
			continue
		}
		if version < 0 {
			version = r.MaxVersion()
		}
		r.SetVersion(version)
		return r
	}
	t.Fatal("every key kmsg knows is served")
	return nil
}

func TestApiVersionsFallback(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 9 // from the future
	req.ClientSoftwareName, req.ClientSoftwareVersion = "future", "1.0"
	c.write(frame(req, 11))
	corr, body, err := c.readResponse()
	if err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil || corr != 11 {
		t.Fatalf("fallback answer: corr %d, %v", corr, err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != apiVersionsKey ||
		resp.ApiKeys[0].MaxVersion != apis[apiVersionsKey].max {
		t.Fatalf("fallback: code %d, keys %+v; want UNSUPPORTED_VERSION and ApiVersions' own range only (KIP-511)", resp.ErrorCode, resp.ApiKeys)
	}
	// The same connection then works at a version we serve (v3, flexible
	// request header, v0 response header).
	req.Version = 3
	ok := c.roundTrip(req, 12).(*kmsg.ApiVersionsResponse)
	if ok.ErrorCode != 0 {
		t.Fatalf("v3: %d", ok.ErrorCode)
	}
	advertised := map[int16]bool{}
	for _, k := range ok.ApiKeys {
		advertised[k.ApiKey] = true
	}
	for _, k := range []int16{22, 24, 25, 26, 27, 28} {
		if !advertised[k] {
			t.Fatalf("transaction API %d not advertised", k)
		}
	}
}

func TestHalfRequestStallsOnlyItsConnection(t *testing.T) {
	h := newHarness(t)
	stalled := h.dial()
	stalled.write(append(binary.BigEndian.AppendUint32(nil, 200), 0, 3, 0, 9))
	h.stillServes(t)
	cl := h.client()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t), cl); err != nil {
		t.Fatal(err)
	}
	// Cleanup's Shutdown must not wait for the stalled request.
}

func TestThousandIdleConnections(t *testing.T) {
	h := newHarness(t)
	conns := make([]net.Conn, 0, 1000)
	for range 1000 {
		nc, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	t.Cleanup(func() {
		for _, nc := range conns {
			nc.Close()
		}
	})
	h.createTopic("busy", 1, nil)
	cl := h.client(kgo.DefaultProduceTopic("busy"))
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestPipelinedProducesStayInOrder(t *testing.T) {
	h := newHarness(t)
	h.createTopic("pipe", 1, nil)
	c := h.dial()
	const n = 40
	var out []byte
	for i := range n {
		if i%7 == 3 {
			out = append(out, frame(kmsg.NewPtrApiVersionsRequest(), int32(i))...)
			continue
		}
		req := kmsg.NewPtrProduceRequest()
		req.Version = 9
		req.Acks = -1
		req.TimeoutMillis = 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pipe"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = validBatch(t)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		out = append(out, frame(req, int32(i))...)
	}
	c.write(out) // all in flight at once
	next := int64(0)
	for i := range n {
		corr, body, err := c.readResponse()
		if err != nil {
			t.Fatal(err)
		}
		if corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		if i%7 == 3 {
			continue
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if err := resp.ReadFrom(body[1:]); err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != next {
			t.Fatalf("request %d: code %d base offset %d; want offset %d", i, p.ErrorCode, p.BaseOffset, next)
		}
		next++
	}
}

func TestIdleTimeoutAndMaxConnections(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.IdleTimeout = 300 * time.Millisecond
		c.MaxConnections = 2
	})
	a, b := h.dial(), h.dial()
	a.roundTrip(kmsg.NewPtrApiVersionsRequest(), 1)
	b.roundTrip(kmsg.NewPtrApiVersionsRequest(), 1)
	third := h.dial()
	third.expectClosed() // over max_connections
	a.expectClosed()     // idle
	b.expectClosed()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.stillServes(t)
	}()
	wg.Wait()
}

func TestHooksIntercept(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Hooks = func(key int16, req kmsg.Request) (kmsg.Response, error, bool) {
			switch key {
			case 3:
				resp := req.ResponseKind().(*kmsg.MetadataResponse)
				resp.ControllerID = 77
				return resp, nil, true
			case 60:
				return nil, net.ErrClosed, true
			}
			return nil, nil, false
		}
	})
	c := h.dial()
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 12
	if resp := c.roundTrip(mreq, 1).(*kmsg.MetadataResponse); resp.ControllerID != 77 {
		t.Fatalf("hooked metadata: controller %d", resp.ControllerID)
	}
	c.write(frame(kmsg.NewPtrDescribeClusterRequest(), 2))
	c.expectClosed()
}

func fetchReq(version int16, topic string, partitions ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func TestFetchLimitsSessionsAndIDs(t *testing.T) {
	h := newHarness(t)
	h.createTopic("limits", 2, nil)
	for p := range int32(2) {
		l := mustLog(t, h, "limits", p)
		for range 3 {
			if r := l.append(bigBatch(t, 1000)); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	c := h.dial()

	// KIP-74: a partition limit smaller than a batch still returns the
	// first batch of the first partition; then the response limit is
	// spent and the second partition returns nothing.
	req := fetchReq(11, "limits", 0, 1)
	req.MaxBytes = 10
	req.Topics[0].Partitions[0].PartitionMaxBytes = 10
	resp := c.roundTrip(req, 1).(*kmsg.FetchResponse)
	p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
	if p0.ErrorCode != 0 || len(p0.RecordBatches) < 1000 || len(p0.RecordBatches) > 2000 {
		t.Fatalf("first partition: code %d, %d bytes; want exactly one ~1 KB batch", p0.ErrorCode, len(p0.RecordBatches))
	}
	if len(p1.RecordBatches) != 0 || p1.HighWatermark != 3 {
		t.Fatalf("second partition: %d bytes hw %d; want none over the response limit", len(p1.RecordBatches), p1.HighWatermark)
	}

	// An incremental fetch on a session we never created.
	req = fetchReq(12, "limits", 0)
	req.SessionID, req.SessionEpoch = 1234, 5
	if resp := c.roundTrip(req, 2).(*kmsg.FetchResponse); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("incremental fetch: %d", resp.ErrorCode)
	}
	// A full fetch asking for a new session gets one (fetch_session_test.go).
	req.SessionID, req.SessionEpoch = 0, 0
	if resp := c.roundTrip(req, 3).(*kmsg.FetchResponse); resp.ErrorCode != 0 || resp.SessionID <= 0 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("full fetch: code %d session %d", resp.ErrorCode, resp.SessionID)
	}

	// v13 names topics by id.
	req = fetchReq(13, "", 0)
	req.Topics[0].TopicID = h.ctrl.Image().Topics["limits"].ID
	unknown := kmsg.NewFetchRequestTopic()
	unknown.TopicID = [16]byte{3}
	unknown.Partitions = []kmsg.FetchRequestTopicPartition{kmsg.NewFetchRequestTopicPartition()}
	req.Topics = append(req.Topics, unknown)
	resp = c.roundTrip(req, 4).(*kmsg.FetchResponse)
	if resp.Topics[0].Partitions[0].ErrorCode != 0 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 ||
		resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("fetch v13: %+v", resp.Topics)
	}

	// A stale leader epoch is fenced; read_committed answers an empty
	// aborted-transactions list.
	req = fetchReq(12, "limits", 0)
	req.IsolationLevel = 1
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 5
	if p := c.roundTrip(req, 5).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("future leader epoch: %d", p.ErrorCode)
	}
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 0
	if p := c.roundTrip(req, 6).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.AbortedTransactions == nil || p.LastStableOffset != 3 {
		t.Fatalf("read_committed: %+v", p)
	}
}

func TestBatchesBelow(t *testing.T) {
	var recs []byte
	for i := range 3 {
		b := validBatch(t)
		binary.BigEndian.PutUint64(b, uint64(i))
		recs = append(recs, b...)
	}
	one := len(validBatch(t))
	for end, want := range map[int]int{0: 0, 1: one, 2: 2 * one, 3: 3 * one, 9: 3 * one} {
		if got := len(batchesBelow(recs, modelOffset(end))); got != want {
			t.Errorf("below %d: %d bytes; want %d", end, got, want)
		}
	}
	if got := len(batchesBelow(recs[:len(recs)-3], 9)); got != 2*one {
		t.Errorf("partial trailing batch kept: %d bytes", got)
	}
}

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	h := newHarness(t)
	h.createTopic("bye", 1, nil)
	l := mustLog(t, h, "bye", 0)
	waiting := make(chan struct{}, 1)
	l.mu.Lock()
	l.mu.onChanged = waiting
	l.mu.Unlock()
	c := h.dial()
	req := fetchReq(12, "bye", 0)
	req.MaxWaitMillis, req.MinBytes = 60000, 1
	got := make(chan *kmsg.FetchResponse, 1)
	go func() {
		c.write(frame(req, 5))
		_, body, err := c.readResponse()
		if err != nil {
			got <- nil
			return
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 12
		if resp.ReadFrom(body[1:]) != nil {
			got <- nil
			return
		}
		got <- resp
	}()
	<-waiting // the fetch is long-polling
	ctx := testCtx(t)
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	resp := <-got
	if resp == nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("in-flight fetch was not answered before the connection closed: %+v", resp)
	}
	c.expectClosed()
	if _, err := net.Dial("tcp", h.addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// TestFramesAboveTheTrustedSizeAreReadWhole sends request frames just
// below, at and above frameTrustBytes (the larger ones grow their buffer
// as bytes arrive) and checks that each is read whole: the request is
// answered, and the next request on the connection is read from the right
// place.
func TestFramesAboveTheTrustedSizeAreReadWhole(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	for i, size := range []int{frameTrustBytes - 1, frameTrustBytes, frameTrustBytes + 1, 3*frameTrustBytes + 12345} {
		// DescribeGroups v0 of no group (a key of the 32 MiB list cap;
		// ApiVersions is capped at 1 MiB); the padding after it is part
		// of the frame and ignored by the decoder.
		body := binary.BigEndian.AppendUint16(nil, 15)
		body = binary.BigEndian.AppendUint16(body, 0)
		body = binary.BigEndian.AppendUint32(body, uint32(100+i))
		body = binary.BigEndian.AppendUint16(body, 0xffff)
		body = binary.BigEndian.AppendUint32(body, 0)
		body = append(body, make([]byte, size-len(body))...)
		c.write(withSize(body))
		corr, resp, err := c.readResponse()
		if err != nil {
			t.Fatalf("frame of %d bytes: %v", size, err)
		}
		if corr != int32(100+i) || len(resp) != 4 || binary.BigEndian.Uint32(resp) != 0 {
			t.Fatalf("frame of %d bytes: correlation id %d, response % x...", size, corr, resp[:min(len(resp), 8)])
		}
	}
	h.stillServes(t)
}
