package kafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/storage"
)

// One connection runs two goroutines:
//
//	reader: frame -> header -> decode -> handler ----+
//	           (handlers start in request order)     | slot (in order)
//	writer: <--------- waits for each slot, writes ---+
//
// The reader runs every handler itself, so requests of one connection
// take effect in the order they were sent; Produce only *starts* its
// appends there (Log.Append is asynchronous), so the appends of consecutive
// produce requests overlap while each partition sees them in request order.
// Every request gets a slot in the connection's queue before the next one
// is read; the writer writes slots strictly in queue order, waiting for
// each to be filled, so responses leave in request order whatever order the
// handlers finish in.

// errCloseConn makes the connection close instead of answering: what Kafka
// does for unparseable framing, unknown keys and unsupported versions.
var errCloseConn = errors.New("kafka: close connection")

// slot is one request's place in the connection's response order.
type slot struct {
	done     chan struct{} // closed once out/resp/closeConn are final
	finished atomic.Bool
	out      []byte // the whole response frame; nil: nothing to send
	// resp, with cx and elapsed, is a response still to encode: the
	// writer encodes it (render) into the connection's reusable buffer
	// and runs the observer, so that neither runs on the goroutine that
	// finished the request (for Produce, usually a storage shard's).
	resp    kmsg.Response
	cx      *reqCtx
	elapsed time.Duration
	// fetch, instead of out, is a Fetch response with file ranges
	// (fetch_encode.go); whoever drops the slot releases it (drop).
	fetch     *fetchOut
	closeConn bool // close the connection after the earlier responses
	// The request's share of the limits (limits.go), given back by
	// settle: reserved bytes of queued.max.request.bytes, its frame size
	// in the connection's in-flight bytes, fetchKey for a Fetch or
	// ShareFetch; settled once given back (writer, or reader before the
	// slot is queued).
	reserved, size int64
	fetchKey       bool
	settled        bool
}

// drop releases what a slot holds, once it is final. A slot with a fetch
// is always final when queued (Fetch handlers run synchronously), so a
// slot that is not final holds nothing.
func (sl *slot) drop() {
	select {
	case <-sl.done:
		sl.fetch.release()
	default:
	}
}

// reqCtx is what a handler knows about its request besides the body.
type reqCtx struct {
	conn          *conn
	key, version  int16
	correlationID int32
	clientID      string
	// fallback marks the KIP-511 answer to an ApiVersions version we do
	// not serve: encoded as v0 whatever the request's version.
	fallback bool
	// req and start are for Config.Observer.
	req   kmsg.Request
	start time.Time
	// frame is the request's pooled frame buffer (Produce only, see
	// framePool), which its records alias: frameRefs counts the holders
	// (the slot until the writer is done with it, and a Produce's appends
	// until the last one completes); the last releases it.
	frame     *[]byte
	frameRefs atomic.Int32
	// fetch holds a Fetch response's file ranges (sendfile path).
	fetch *fetchRanges
	// Client quotas (quotas.go): the request's size, when its handler
	// started (zero: not accounted) and how long it ran, the throttle and
	// refused topics of a controller mutation.
	size            int
	quotaStart      time.Time
	handlerNanos    atomic.Int64
	throttle        time.Duration
	mutationRefused []string
}

type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	queue  chan *slot
	dead   chan struct{} // closed by kill
	once   sync.Once
	remote string
	// noSendfile is set (writer only) once the kernel refused sendfile on
	// this connection, or from the start on a TLS connection, whose bytes
	// must go through crypto/tls; ranges then go through CopyRange.
	noSendfile bool
	// more writes fetch header pieces with MSG_MORE (writeBeforeRange);
	// noMore is set once the socket refused it (writer only).
	more   *iocore.MoreWriter
	noMore bool
	// principal is the client's Kafka principal: from its TLS certificate
	// ("User:CN=...", or User:ANONYMOUS without one), or "User:<name>"
	// once SASL authenticated it (sasl.go); "" on a PLAINTEXT listener
	// (authz.go and quotas.go read it as User:ANONYMOUS).
	principal string
	// sasl is the authentication state on a SASL listener (sasl.go).
	sasl *connSASL
	// mutedUntil (unix ns): a quota throttle; the reader reads nothing
	// before it (quotas.go).
	mutedUntil atomic.Int64
	// acls caches the connection's authorization decisions (authz.go);
	// hostIP is the client's address as ACL hosts name it.
	acls   acl.Cache
	hostIP string
	// software is the client's name and version from ApiVersions v3+, for
	// telemetry subscriptions (telemetry.go).
	software atomic.Pointer[[2]string]
	// wbuf is the writer's response encode buffer, reused from one
	// response to the next (writer only).
	wbuf []byte
	// pooled is the frame buffer readFrame took from framePool for the
	// frame it returned, handed to that frame's reqCtx (reader only).
	pooled *[]byte
	// Limits (limits.go). tokens holds one token per request read and not
	// yet settled (ringtail.connection_max_inflight_requests);
	// inflightBytes and fetchesOut are their bytes and Fetches; drained
	// wakes a waiting reader after each settle. reserved and key are the
	// budget reservation and API key of the frame readFrame returned
	// (reader only). ctx ends when the connection is killed or the server
	// stops: it cancels a wait for queued.max.request.bytes.
	tokens        chan struct{}
	inflightBytes atomic.Int64
	fetchesOut    atomic.Int32
	drained       chan struct{}
	reserved      int64
	key           int16
	ctx           context.Context
	cancel        context.CancelFunc
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		s:       s,
		nc:      nc,
		queue:   make(chan *slot, s.maxInflight),
		tokens:  make(chan struct{}, s.maxInflight),
		drained: make(chan struct{}, 1),
		dead:    make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	if nc != nil {
		c.br = bufio.NewReaderSize(nc, 4096)
		c.remote = nc.RemoteAddr().String()
		c.hostIP = c.clientHost()
	}
	if _, ok := nc.(*tls.Conn); ok {
		c.noSendfile = true
	}
	if s.cfg.SASL != nil {
		c.sasl = &connSASL{}
	}
	return c
}

// kill closes the socket now; both goroutines wind down.
func (c *conn) kill() {
	c.once.Do(func() {
		close(c.dead)
		c.cancel()
		if c.nc != nil {
			c.nc.Close()
		}
	})
}

// stopReading makes the reader stop after the request it is on (Shutdown).
// The reader re-checks s.shutting after each deadline it sets, so this
// cannot be overwritten by the reader's own idle deadline.
func (c *conn) stopReading() { c.nc.SetReadDeadline(time.Now()) }

func (c *conn) readLoop() {
	defer c.s.connsWG.Done()
	defer close(c.queue)
	defer func() {
		if r := recover(); r != nil {
			c.s.log.Error("kafka: BUG: panic serving a connection; closing it", "remote", c.remote, "panic", r, "stack", string(debug.Stack()))
			c.s.budget.release(c.reserved) // the frame being handled never reached a slot
			c.reserved = 0
			c.kill()
		}
	}()
	for {
		if !c.waitMuted() || !c.waitRoom() {
			return
		}
		frame, err := c.readFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !c.s.shutting.Load() {
				c.s.log.Debug("closing connection", "remote", c.remote, "err", err)
			}
			if !c.s.shutting.Load() {
				c.kill()
			}
			return
		}
		n := int64(len(frame))
		sl := c.handleFrame(frame)
		sl.reserved, c.reserved = c.reserved, 0
		sl.size, sl.fetchKey = n, isFetchKey(c.key)
		c.inflightBytes.Add(n)
		if sl.fetchKey {
			c.fetchesOut.Add(1)
		}
		select {
		case c.queue <- sl:
		case <-c.dead:
			sl.drop()
			c.settle(sl)
			return
		}
		if c.saslStopped() {
			return // failed authentication: nothing more is read
		}
		if sl.closeConn && sl.finished.Load() {
			// Nothing after a request we refuse gets read; the writer
			// sends the earlier responses, then closes.
			return
		}
	}
}

func (c *conn) readFrame() ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	if c.s.shutting.Load() {
		return nil, net.ErrClosed
	}
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if (n < requestHeaderMinBytes && !(c.saslRaw() && n >= 0)) || n > c.s.requestMaxBytes {
		return nil, fmt.Errorf("request frame of %d bytes; valid is %d to %d (socket.request.max.bytes)", n, requestHeaderMinBytes, c.s.requestMaxBytes)
	}
	c.key = c.peekKey()
	if lim := c.frameCap(c.key); n > lim {
		return nil, fmt.Errorf("request frame of %d bytes for api key %d; its cap is %d bytes (socket.request.max.bytes %d, sasl.server.max.receive.size %d before authentication)",
			n, c.key, lim, c.s.requestMaxBytes, c.s.saslMaxReceive)
	}
	ok, waited := c.waitFrameRoom(c.key, n)
	if !ok {
		return nil, net.ErrClosed
	}
	if waited {
		// The wait may have been long: the body gets a fresh idle
		// deadline (and Shutdown's, set meanwhile, is honoured by the
		// check after it).
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if c.s.shutting.Load() {
			c.s.budget.release(c.reserved)
			c.reserved = 0
			return nil, net.ErrClosed
		}
	}
	// Up to frameTrustBytes the size prefix is trusted and the frame read
	// into one exact allocation, as Kafka does. A larger frame's buffer
	// grows as its bytes arrive, so a false size prefix cannot make a
	// connection allocate much more than it sent. (It was a bytes.Buffer
	// filled by io.CopyN: ReadFrom asks for room for one more read after
	// the last byte, so every frame was allocated, zeroed and copied
	// twice; in workload (a)'s CPU profile runtime.memclrNoHeapPointers
	// took half the broker's CPU.)
	var buf []byte
	c.pooled = nil
	if n <= maxPooledFrameBytes && c.key == produceKey {
		c.pooled = getFrame(int(n))
		buf = (*c.pooled)[:n]
	} else if n <= frameTrustBytes {
		buf = make([]byte, n)
	} else {
		buf = make([]byte, frameTrustBytes, frameTrustBytes)
	}
	read := 0
	for {
		m, err := io.ReadFull(c.br, buf[read:])
		read += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			if c.pooled != nil {
				putFrame(c.pooled)
				c.pooled = nil
			}
			c.s.budget.release(c.reserved)
			c.reserved = 0
			return nil, err
		}
		if read == int(n) {
			return buf, nil
		}
		grown := make([]byte, min(2*len(buf), int(n)))
		copy(grown, buf)
		buf = grown
	}
}

// frameTrustBytes is the largest request frame allocated whole from its
// size prefix before any of its bytes arrive.
const frameTrustBytes = 8 << 20

func (c *conn) writeLoop() {
	defer c.s.connsWG.Done()
	defer c.s.connDone(c)
	defer c.kill()
	failed := false
	for sl := range c.queue {
		failed = c.writeSlot(sl, failed)
		c.settle(sl)
	}
}

// writeSlot waits for sl and writes its response, or drops it once the
// connection has failed; it returns whether the connection has failed.
func (c *conn) writeSlot(sl *slot, failed bool) bool {
	select {
	case <-sl.done:
	case <-c.dead:
		sl.drop()
		return true
	}
	if failed {
		sl.drop()
		return true
	}
	if sl.closeConn {
		c.kill()
		return true
	}
	var err error
	out := c.render(sl)
	switch {
	case sl.fetch != nil:
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		err = c.writeFetch(sl.fetch)
		sl.fetch.release()
	case out != nil:
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		_, err = c.nc.Write(out)
		if cap(c.wbuf) > maxKeptEncodeBytes {
			c.wbuf = nil // a rare large response: not kept per connection
		}
	}
	if err != nil {
		c.s.log.Debug("write failed; closing connection", "remote", c.remote, "err", err)
		c.kill()
		return true
	}
	return false
}

// errRangesTruncated closes a connection whose fetch response points into a
// log that a follower truncation cut since the read: the bytes under its
// ranges may have changed, and a closed connection is better than a
// response that lies (the client retries the fetch).
var errRangesTruncated = errors.New("kafka: log truncated under a pending fetch response")

// writeFetch writes a Fetch response: its header buffer with each file
// range sent into its hole by sendfile(2). It checks that no range was cut
// by a truncation before it starts and after each range.
func (c *conn) writeFetch(o *fetchOut) error {
	for _, pc := range o.pieces {
		if !pc.rg.Intact() {
			return errRangesTruncated
		}
	}
	pos := 0
	for _, pc := range o.pieces {
		if pc.at > pos {
			if err := c.writeBeforeRange(o.buf[pos:pc.at], pc.fr.Len > 0); err != nil {
				return err
			}
			pos = pc.at
		}
		if err := c.sendRange(pc.fr); err != nil {
			return err
		}
		if !pc.rg.Intact() {
			return errRangesTruncated
		}
	}
	if pos < len(o.buf) {
		if _, err := c.nc.Write(o.buf[pos:]); err != nil {
			return err
		}
	}
	return nil
}

// fetchWriteMore turns writeBeforeRange's MSG_MORE on; benchmarks turn it
// off to measure plain writes in the same run.
var fetchWriteMore = true

// writeBeforeRange writes the header bytes before a file range: with
// MSG_MORE (iocore.MoreWriter) where the range will go by sendfile, so that they leave with the
// range's first bytes instead of in a segment of their own (the range's
// last sendfile chunk, or the plain write of the response's tail, pushes).
// Before an empty range (no sendfile call to push them) they are written
// plainly: more is false.
func (c *conn) writeBeforeRange(b []byte, more bool) error {
	if sc, ok := c.nc.(syscall.Conn); ok && more && !c.noSendfile && !c.noMore && fetchWriteMore {
		if c.more == nil {
			var err error
			if c.more, err = iocore.NewMoreWriter(sc); err != nil {
				return err
			}
		}
		_, err := c.more.Write(b)
		if err == nil || !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
		c.noMore = true
	}
	_, err := c.nc.Write(b)
	return err
}

// sendRange sends one file range with sendfile, or with CopyRange where
// the connection is not a socket or the kernel refuses.
func (c *conn) sendRange(fr storage.FileRange) error {
	if sc, ok := c.nc.(syscall.Conn); ok && !c.noSendfile {
		n, err := iocore.SendFile(sc, fr.File, fr.Pos, int(fr.Len))
		c.s.fetchSendfileBytes.Add(n)
		if err == nil || n > 0 || !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
		c.noSendfile = true
		c.s.log.Debug("sendfile refused; copying fetch ranges on this connection", "remote", c.remote, "err", err)
	}
	n, err := iocore.CopyRange(c.nc, fr.File, fr.Pos, int(fr.Len))
	c.s.fetchCopiedBytes.Add(n)
	return err
}

// handleFrame parses one request frame (without its size prefix), runs its
// handler and returns its slot. It never panics on any input (FuzzRequest).
func (c *conn) handleFrame(frame []byte) *slot {
	if c.saslRaw() {
		return c.handleRawSASL(frame)
	}
	sl := &slot{done: make(chan struct{})}
	refuse := func(why string, args ...any) *slot {
		c.s.log.Debug("closing connection: "+why, append([]any{"remote", c.remote}, args...)...)
		sl.closeConn = true
		sl.finished.Store(true)
		close(sl.done)
		return sl
	}
	if len(frame) < requestHeaderMinBytes {
		return refuse("short request header")
	}
	cx := &reqCtx{
		conn:          c,
		key:           int16(binary.BigEndian.Uint16(frame[0:])),
		version:       int16(binary.BigEndian.Uint16(frame[2:])),
		correlationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	if c.pooled != nil {
		// The slot holds the frame until the writer is done with it.
		cx.frame, c.pooled = c.pooled, nil
		cx.frameRefs.Store(1)
		sl.cx = cx
	}
	if c.s.cfg.Observer != nil {
		cx.start = time.Now()
	}
	pos := 10
	if l := int16(binary.BigEndian.Uint16(frame[8:])); l > 0 {
		if len(frame) < pos+int(l) {
			return refuse("client id runs past the frame")
		}
		cx.clientID = string(frame[pos : pos+int(l)])
		pos += int(l)
	} else if l < -1 {
		return refuse("negative client id length", "length", l)
	}
	if c.sasl != nil {
		if g := c.saslGate(cx); g != nil {
			return g
		}
	}
	a, ok := apis[cx.key]
	if !ok {
		return refuse("unknown or unserved api key", "key", cx.key)
	}
	if cx.version < a.min || cx.version > a.max {
		if cx.key == apiVersionsKey {
			// KIP-511: answer a version we do not know with our list,
			// encoded as v0 so that any client can read it.
			cx.fallback = true
			c.finish(sl, cx, apiVersionsFallback(), nil)
			return sl
		}
		return refuse("unsupported version", "key", cx.key, "version", cx.version)
	}
	req := kmsg.RequestForKey(cx.key)
	req.SetVersion(cx.version)
	if req.IsFlexible() {
		var ok bool
		if pos, ok = skipTags(frame, pos); !ok {
			return refuse("bad tagged fields in request header", "key", cx.key)
		}
	}
	// kmsg >= v1.15.1 stops a tagged-field loop at the end of input (e2e TestHostileTagCountsCostNoCPU).
	if err := req.ReadFrom(frame[pos:]); err != nil {
		return refuse("undecodable request", "key", cx.key, "version", cx.version, "err", err)
	}
	cx.req = req
	cx.size = len(frame) + 4
	c.quotaBefore(cx, req)
	if h := c.s.cfg.Hooks; h != nil {
		if resp, err, handled := h(cx.key, req); handled {
			c.finish(sl, cx, resp, err)
			return sl
		}
	}
	a.handle(c.s, cx, req, func(resp kmsg.Response, err error) { c.finish(sl, cx, resp, err) })
	if !cx.quotaStart.IsZero() {
		cx.handlerNanos.CompareAndSwap(0, int64(max(time.Since(cx.quotaStart), 1)))
	}
	return sl
}

// finish fills sl with resp encoded for cx (or with a close for err).
func (c *conn) finish(sl *slot, cx *reqCtx, resp kmsg.Response, err error) {
	if sl.finished.Swap(true) {
		c.s.log.Error("kafka: BUG: a handler finished a request twice", "key", cx.key)
		return
	}
	if err == nil {
		resp = c.quotaAfter(cx, resp)
	}
	switch {
	case err != nil:
		if !errors.Is(err, errCloseConn) {
			c.s.log.Debug("closing connection after request", "remote", c.remote, "key", cx.key, "err", err)
		}
		sl.closeConn = true
	case resp != nil:
		if f, ok := resp.(*kmsg.FetchResponse); ok && cx.fetch != nil {
			f.SetVersion(cx.version)
			sl.fetch = encodeFetch(cx.correlationID, f, cx.fetch)
			c.s.fetchCopiedBytes.Add(sl.fetch.inline)
			break
		}
		sl.resp = resp // encoded by the writer (render)
		if f, ok := resp.(*kmsg.FetchResponse); ok {
			c.s.fetchCopiedBytes.Add(recordBytes(f))
		}
	}
	if cx.fetch != nil && sl.fetch == nil {
		cx.fetch.release() // not answered with them
	}
	if o := c.s.cfg.Observer; o != nil {
		if fo, ok := o.(FetchObserver); ok && sl.fetch != nil && sl.fetch.ranged > 0 {
			fo.ObserveFetchRanges(cx.req.(*kmsg.FetchRequest), resp.(*kmsg.FetchResponse), cx.fetch.recordBytes)
		}
		if err != nil || sl.fetch != nil {
			o.ObserveRequest(cx.key, cx.req, resp, time.Since(cx.start), err != nil)
		} else {
			sl.elapsed = time.Since(cx.start) // observed by the writer (render)
		}
	}
	sl.cx = cx
	close(sl.done)
}

// render runs on the writer once sl is final: it encodes a response left
// to encode into the connection's reusable buffer and observes it, then
// drops the slot's hold on the request's frame. It returns the frame to
// write: that buffer, sl.out, or nil.
func (c *conn) render(sl *slot) []byte {
	cx := sl.cx
	if cx == nil {
		return sl.out
	}
	out := sl.out
	if sl.resp != nil {
		c.wbuf = appendResponse(c.wbuf[:0], cx, sl.resp)
		out = c.wbuf
	}
	if o := c.s.cfg.Observer; o != nil && !sl.closeConn && sl.fetch == nil {
		o.ObserveRequest(cx.key, cx.req, sl.resp, sl.elapsed, false)
	}
	cx.releaseFrame()
	return out
}

// encodeResponse frames resp: size, correlation id, the header's tagged
// fields when the response is flexible (never for ApiVersions, whose
// response header is always v0 so that a client can read it before it knows
// any versions), then the body.
func encodeResponse(cx *reqCtx, resp kmsg.Response) []byte {
	return appendResponse(make([]byte, 0, 256), cx, resp)
}

// appendResponse is encodeResponse into buf[len(buf):].
func appendResponse(buf []byte, cx *reqCtx, resp kmsg.Response) []byte {
	if cx.fallback {
		resp.SetVersion(0)
	} else {
		resp.SetVersion(cx.version)
	}
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(buf[start+4:], uint32(cx.correlationID))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		buf = append(buf, 0)
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
	return buf
}

// recordBytes sums the record bytes of a Fetch response.
func recordBytes(f *kmsg.FetchResponse) int64 {
	var n int64
	for _, t := range f.Topics {
		for _, p := range t.Partitions {
			n += int64(len(p.RecordBatches))
		}
	}
	return n
}

// skipTags skips a tagged-field section starting at pos. Whatever count it
// claims, each tag takes at least two bytes (key and size) or fails, so the
// loop runs at most len(b)/2 times.
func skipTags(b []byte, pos int) (int, bool) {
	n, pos, ok := uvarint(b, pos)
	if !ok {
		return 0, false
	}
	for i := uint64(0); i < n; i++ {
		if _, pos, ok = uvarint(b, pos); !ok {
			return 0, false
		}
		var size uint64
		if size, pos, ok = uvarint(b, pos); !ok || size > uint64(len(b)-pos) {
			return 0, false
		}
		pos += int(size)
	}
	return pos, true
}

func uvarint(b []byte, pos int) (uint64, int, bool) {
	if pos > len(b) {
		return 0, 0, false
	}
	v, n := binary.Uvarint(b[pos:])
	if n <= 0 || v > 1<<31 {
		return 0, 0, false
	}
	return v, pos + n, true
}
