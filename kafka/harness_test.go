// This file starts a real Server on 127.0.0.1:0 over the real
// controlplane.Controller (on t.TempDir()) and in-memory logs, and hands
// out franz-go clients and raw connections to it; it proves nothing itself.
package kafka

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
)

// bugCatcher is a slog handler that remembers "BUG" records, so that a
// test fails if the server ever logs one (a recovered panic, a handler
// finishing twice).
type bugCatcher struct {
	mu   *sync.Mutex
	bugs *[]string
}

func (h bugCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (h bugCatcher) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "BUG") {
		h.mu.Lock()
		*h.bugs = append(*h.bugs, r.Message)
		h.mu.Unlock()
	}
	return nil
}
func (h bugCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h bugCatcher) WithGroup(string) slog.Handler      { return h }

type harness struct {
	t      testing.TB
	addr   string
	srv    *Server
	ctrl   *controlplane.Controller
	logs   *fakeLogs
	broker *config.Config
	served chan error
}

type harnessOpt func(*Config)

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	bc := config.Default()
	ctrl, err := controlplane.Open(controlplane.Config{
		Dir:               t.TempDir(),
		NodeID:            1,
		ClusterID:         "ringtail-test",
		Endpoints:         []controlplane.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: int32(port)}},
		DefaultPartitions: 1, DefaultReplicationFactor: 1,
		ValidateTopicConfig: config.ValidateTopicConfig,
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bugs []string
	cfg := Config{
		NodeID:       1,
		ListenerName: "PLAINTEXT",
		Broker:       bc,
		Logger:       slog.New(bugCatcher{mu: &mu, bugs: &bugs}),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{t: t, addr: ln.Addr().String(), ctrl: ctrl, broker: cfg.Broker, served: make(chan error, 1)}
	h.logs = newFakeLogs(ctrl, 1, int(cfg.Broker.MessageMaxBytes))
	h.srv = NewServer(cfg, ctrl, h.logs)
	go func() { h.served <- h.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-h.served; err != nil {
			t.Errorf("Serve returned %v after Shutdown; want nil", err)
		}
		ctrl.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bugs {
			t.Errorf("server logged: %s", b)
		}
	})
	return h
}

func (h *harness) client(opts ...kgo.Opt) *kgo.Client {
	h.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(h.addr)}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(cl.Close)
	return cl
}

func (h *harness) admin() *kadm.Client { return kadm.NewClient(h.client()) }

func (h *harness) createTopic(name string, partitions int32, configs map[string]*string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := h.admin().CreateTopic(ctx, partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		h.t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawConn is a plain TCP connection for speaking the protocol by hand.
type rawConn struct {
	t  testing.TB
	nc net.Conn
}

func (h *harness) dial() *rawConn {
	h.t.Helper()
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { nc.Close() })
	return &rawConn{t: h.t, nc: nc}
}

// frame encodes req with a request header (v1, or v2 when flexible).
func frame(req kmsg.Request, correlationID int32) []byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))
	return f.AppendRequest(nil, req, correlationID)
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// readResponse reads one response frame: correlation id and the rest.
func (c *rawConn) readResponse() (int32, []byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// roundTrip sends req and decodes the response into resp.
func (c *rawConn) roundTrip(req kmsg.Request, correlationID int32) kmsg.Response {
	c.t.Helper()
	c.write(frame(req, correlationID))
	corr, body, err := c.readResponse()
	if err != nil {
		c.t.Fatalf("reading response to key %d: %v", req.Key(), err)
	}
	if corr != correlationID {
		c.t.Fatalf("correlation id %d, want %d", corr, correlationID)
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decoding response to key %d: %v", req.Key(), err)
	}
	return resp
}

// expectClosed asserts that the server closes the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var b [1]byte
	n, err := c.nc.Read(b[:])
	if err == nil || n > 0 {
		c.t.Fatalf("read %d bytes; want the connection closed", n)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatal("connection still open; want it closed")
	}
}
