package controlplane

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Transport carries raft messages between voters. The controller loop calls
// Send with the messages of one Ready after they are durable; Send must not
// block for long and may drop messages (raft retries). Inbound messages are
// handed to the deliver function given to the Transport's constructor.
// Tests use an in-memory network; production uses the TCP transport.
type Transport interface {
	Send(msgs []*pb.Message)
	Close() error
}

// NewTransportFunc builds a Transport that hands inbound messages to
// deliver. deliver blocks until the controller loop takes the message, or
// returns false once the controller is closed.
type NewTransportFunc func(deliver func(*pb.Message) bool) (Transport, error)

// The TCP transport: a connection per ordered pair of voters, opened by the
// sender, carrying frames in one direction only:
//
//	dialer -> acceptor   frame: JSON handshake {cluster_id, from, to, voters}
//	acceptor -> dialer   frame: JSON {"error": ""} (or the reason it refuses)
//	dialer -> acceptor   frame: protobuf raftpb.Message, repeated
//
// A frame is metalog.go's (length u32, crc32c u32, payload). The acceptor
// refuses a handshake with another cluster id, a sender that is not a
// voter, a message addressed to another node, or a voter list that differs
// from its own, so misconfigured nodes fail loudly instead of voting.
const (
	// sendQueueMessages bounds the messages queued per peer; more are
	// dropped, and raft resends.
	sendQueueMessages = 1024
	handshakeTimeout  = 5 * time.Second
	dialTimeout       = 2 * time.Second
	redialBackoffMax  = 1 * time.Second
	writeTimeout      = 5 * time.Second
)

type handshake struct {
	ClusterID string `json:"cluster_id"`
	From      int32  `json:"from"`
	To        int32  `json:"to"`
	Voters    string `json:"voters"`
}

type handshakeReply struct {
	Error string `json:"error"`
}

// TCPConfig configures NewTCPTransport.
type TCPConfig struct {
	ClusterID string
	NodeID    int32
	// Voters maps every voter's node id to its controller address.
	Voters map[int32]string
	// Listener is this node's controller listener; the transport closes it.
	Listener net.Listener
	Logger   *slog.Logger
}

type tcpTransport struct {
	cfg     TCPConfig
	voters  string
	deliver func(*pb.Message) bool
	peers   map[uint64]*tcpPeer
	closing chan struct{}
	wg      sync.WaitGroup
	mu      struct {
		sync.Mutex
		conns map[net.Conn]struct{}
	}
}

type tcpPeer struct {
	id   int32
	addr string
	q    chan *pb.Message
}

// NewTCPTransport returns a NewTransportFunc for the TCP transport.
func NewTCPTransport(cfg TCPConfig) NewTransportFunc {
	return func(deliver func(*pb.Message) bool) (Transport, error) {
		if cfg.Logger == nil {
			cfg.Logger = slog.Default()
		}
		t := &tcpTransport{cfg: cfg, voters: votersString(cfg.Voters), deliver: deliver,
			peers: map[uint64]*tcpPeer{}, closing: make(chan struct{})}
		t.mu.conns = map[net.Conn]struct{}{}
		for id, addr := range cfg.Voters {
			if id == cfg.NodeID {
				continue
			}
			p := &tcpPeer{id: id, addr: addr, q: make(chan *pb.Message, sendQueueMessages)}
			t.peers[raftID(id)] = p
			t.wg.Add(1)
			go t.sendLoop(p)
		}
		if cfg.Listener != nil {
			t.wg.Add(1)
			go t.acceptLoop()
		}
		return t, nil
	}
}

func (t *tcpTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		p, ok := t.peers[m.GetTo()]
		if !ok {
			continue
		}
		select {
		case p.q <- m:
		default: // queue full: drop, raft resends
		}
	}
}

func (t *tcpTransport) Close() error {
	select {
	case <-t.closing:
		return nil
	default:
	}
	close(t.closing)
	var err error
	if t.cfg.Listener != nil {
		err = t.cfg.Listener.Close()
	}
	t.mu.Lock()
	for c := range t.mu.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

func (t *tcpTransport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.closing:
		return false
	default:
	}
	t.mu.conns[c] = struct{}{}
	return true
}

func (t *tcpTransport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.mu.conns, c)
	t.mu.Unlock()
	c.Close()
}

func (t *tcpTransport) sendLoop(p *tcpPeer) {
	defer t.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-t.closing:
			return
		default:
		}
		err := t.sendConn(p)
		if err != nil {
			t.cfg.Logger.Debug("controller transport: connection to voter failed", "voter", p.id, "addr", p.addr, "err", err)
		}
		select {
		case <-t.closing:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, redialBackoffMax)
	}
}

// sendConn dials p, shakes hands and writes queued messages until an error.
func (t *tcpTransport) sendConn(p *tcpPeer) error {
	c, err := net.DialTimeout("tcp", p.addr, dialTimeout)
	if err != nil {
		return err
	}
	if !t.track(c) {
		c.Close()
		return nil
	}
	defer t.untrack(c)
	hs, _ := json.Marshal(handshake{ClusterID: t.cfg.ClusterID, From: t.cfg.NodeID, To: p.id, Voters: t.voters})
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	if _, err := c.Write(appendFrame(nil, hs)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	b, err := readFrame(br)
	if err != nil {
		return fmt.Errorf("handshake reply: %w", err)
	}
	var reply handshakeReply
	if err := json.Unmarshal(b, &reply); err != nil {
		return fmt.Errorf("handshake reply: %w", err)
	}
	if reply.Error != "" {
		t.cfg.Logger.Error("controller transport: voter refused this node", "voter", p.id, "addr", p.addr, "reason", reply.Error)
		return errors.New(reply.Error)
	}
	c.SetDeadline(time.Time{})
	bw := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	for {
		var m *pb.Message
		select {
		case <-t.closing:
			return nil
		case m = <-p.q:
		}
		// Drain what is queued into one write.
		for {
			b, err := proto.Marshal(m)
			if err != nil {
				return err
			}
			buf = appendFrame(buf[:0], b)
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			select {
			case m = <-p.q:
				continue
			default:
			}
			break
		}
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

func (t *tcpTransport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.cfg.Listener.Accept()
		if err != nil {
			select {
			case <-t.closing:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			t.cfg.Logger.Error("controller transport: accept", "err", err)
			return
		}
		if !t.track(c) {
			c.Close()
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.untrack(c)
			if err := t.serveConn(c); err != nil {
				t.cfg.Logger.Debug("controller transport: inbound connection closed", "remote", c.RemoteAddr(), "err", err)
			}
		}()
	}
}

func (t *tcpTransport) serveConn(c net.Conn) error {
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReaderSize(c, 64<<10)
	b, err := readFrame(br)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	var hs handshake
	if err := json.Unmarshal(b, &hs); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	refuse := t.checkHandshake(hs)
	reply, _ := json.Marshal(handshakeReply{Error: refuse})
	if _, err := c.Write(appendFrame(nil, reply)); err != nil {
		return err
	}
	if refuse != "" {
		t.cfg.Logger.Error("controller transport: refused a connection", "remote", c.RemoteAddr(), "reason", refuse)
		return errors.New(refuse)
	}
	c.SetDeadline(time.Time{})
	from := raftID(hs.From)
	for {
		b, err := readFrame(br)
		if err != nil {
			return err
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(b, m); err != nil {
			return fmt.Errorf("message: %w", err)
		}
		if m.GetFrom() != from || m.GetTo() != raftID(t.cfg.NodeID) {
			return fmt.Errorf("message from %d to %d on the connection from node %d", m.GetFrom(), m.GetTo(), hs.From)
		}
		if !t.deliver(m) {
			return nil
		}
	}
}

func (t *tcpTransport) checkHandshake(hs handshake) string {
	if hs.ClusterID != t.cfg.ClusterID {
		return fmt.Sprintf("cluster id %q does not match this node's %q", hs.ClusterID, t.cfg.ClusterID)
	}
	if _, ok := t.cfg.Voters[hs.From]; !ok || hs.From == t.cfg.NodeID {
		return fmt.Sprintf("node %d is not a voter of this quorum (%s)", hs.From, t.voters)
	}
	if hs.To != t.cfg.NodeID {
		return fmt.Sprintf("this is node %d, not node %d", t.cfg.NodeID, hs.To)
	}
	if hs.Voters != t.voters {
		return fmt.Sprintf("controller.quorum.voters differ: node %d has %s, node %d has %s", hs.From, hs.Voters, t.cfg.NodeID, t.voters)
	}
	return ""
}

// readFrame reads one frame and checks its CRC.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [frameHeaderBytes]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	if n == 0 || n > maxRecordBytes {
		return nil, fmt.Errorf("frame of %d bytes; the limit is %d", n, maxRecordBytes)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	if crc32.Checksum(b, castagnoli) != binary.BigEndian.Uint32(hdr[4:8]) {
		return nil, fmt.Errorf("frame fails its CRC")
	}
	return b, nil
}
