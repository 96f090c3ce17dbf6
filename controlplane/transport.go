package controlplane

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ringtail/ringtail/dialsrc"
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
//	dialer -> acceptor   frame: JSON handshake {cluster_id, from, to, voters, learner}
//	acceptor -> dialer   frame: JSON {"error": ""} (or the reason it refuses)
//	dialer -> acceptor   frame: protobuf raftpb.Message, repeated
//
// A learner (a broker that is not a voter) has no controller listener: it
// dials every voter with learner set, and its connections carry messages
// both ways, the voter writing its messages to the learner back on the
// connection the learner opened. A voter lists the learners connected to
// it (Learners), which is how the active controller learns to add them.
//
// A frame is metalog.go's (length u32, crc32c u32, payload). The acceptor
// refuses a handshake with another cluster id, a sender that is not a
// voter (or a voter posing as a learner), a learner id that is already
// connected, a message addressed to another node, or a voter list that
// differs from its own, so misconfigured nodes fail loudly instead of
// voting.
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
	Learner   bool   `json:"learner,omitempty"`
}

type handshakeReply struct {
	Error string `json:"error"`
	// Kind says why: "config" (cluster id, voter list, roles: wrong
	// until someone edits a config) or "duplicate" (the node id is
	// connected already, which a restart can race with).
	Kind string `json:"kind,omitempty"`
}

// duplicateRefusals is how many refusals in a row from one voter for a
// duplicate node id count as a real duplicate, not a restart racing the
// old connection's close: with the redial backoff, about 7 s.
const duplicateRefusals = 10

// TCPConfig configures NewTCPTransport.
type TCPConfig struct {
	ClusterID string
	NodeID    int32
	// Voters maps every voter's node id to its controller address.
	Voters map[int32]string
	// Listener is this node's controller listener; the transport closes it.
	Listener net.Listener
	// ServerTLS and ClientTLS, when set, make the quorum speak TLS
	// (controller listener SSL): inbound connections shake hands with
	// ServerTLS, dials with ClientTLS (ServerName defaults to the host
	// dialled), both within handshakeTimeout and before the handshake
	// frame. Every voter and broker of a cluster must agree.
	ServerTLS, ClientTLS *tls.Config
	Logger               *slog.Logger
	// OnRefused is called once when a majority of the voters refuse this
	// node's handshake for a configuration error (another cluster id, a
	// voter list that differs, a node id in use): the node cannot join,
	// and the daemon stops with the reason.
	OnRefused func(reason string)
}

type tcpTransport struct {
	cfg     TCPConfig
	learner bool // this node is not a voter
	voters  string
	deliver func(*pb.Message) bool
	peers   map[uint64]*tcpPeer
	closing chan struct{}
	wg      sync.WaitGroup
	mu      struct {
		sync.Mutex
		conns map[net.Conn]struct{}
		// learners are the learner connections accepted here, by raft id.
		learners map[uint64]*learnerConn
		// refused holds each voter's latest refusal of this node.
		refused map[int32]refusal
	}
	refusedOnce sync.Once
}

type refusal struct {
	reply handshakeReply
	count int
}

// learnerConn is a learner's inbound connection on a voter, and the queue
// of messages this voter writes back on it.
type learnerConn struct {
	id   int32
	conn net.Conn
	q    chan *pb.Message
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
		t.mu.learners = map[uint64]*learnerConn{}
		t.mu.refused = map[int32]refusal{}
		_, voter := cfg.Voters[cfg.NodeID]
		t.learner = !voter
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
		var q chan *pb.Message
		if p, ok := t.peers[m.GetTo()]; ok {
			q = p.q
		} else {
			t.mu.Lock()
			if lc, ok := t.mu.learners[m.GetTo()]; ok {
				q = lc.q
			}
			t.mu.Unlock()
		}
		if q == nil {
			continue // a learner that is not connected: raft retries
		}
		select {
		case q <- m:
		default: // queue full: drop, raft resends
		}
	}
}

// Learners lists the learners connected to this voter.
func (t *tcpTransport) Learners() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]int32, 0, len(t.mu.learners))
	for _, lc := range t.mu.learners {
		ids = append(ids, lc.id)
	}
	slices.Sort(ids)
	return ids
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
	c, err := dialsrc.Dialer(dialTimeout).Dial("tcp", p.addr)
	if err != nil {
		return err
	}
	if !t.track(c) {
		c.Close()
		return nil
	}
	defer t.untrack(c)
	if t.cfg.ClientTLS != nil {
		cc := t.cfg.ClientTLS.Clone()
		if cc.ServerName == "" {
			cc.ServerName, _, _ = net.SplitHostPort(p.addr)
		}
		tc := tls.Client(c, cc)
		c.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", p.addr, err)
		}
		c = tc
	}
	hs, _ := json.Marshal(handshake{ClusterID: t.cfg.ClusterID, From: t.cfg.NodeID, To: p.id, Voters: t.voters, Learner: t.learner})
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
	t.noteRefusal(p.id, reply)
	if reply.Error != "" {
		t.cfg.Logger.Error("controller transport: voter refused this node", "voter", p.id, "addr", p.addr, "reason", reply.Error)
		return errors.New(reply.Error)
	}
	c.SetDeadline(time.Time{})
	// A learner also reads the voter's messages on this connection.
	readErr := make(chan error, 1)
	if t.learner {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			err := t.readMessages(br, p.id)
			c.Close() // stops the writer below
			readErr <- err
		}()
	}
	return t.writeMessages(c, p.q, readErr)
}

// writeMessages writes what q holds to c until an error, the transport
// closes, or stop yields (the connection's reader ended).
func (t *tcpTransport) writeMessages(c net.Conn, q chan *pb.Message, stop <-chan error) error {
	bw := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	for {
		var m *pb.Message
		select {
		case <-t.closing:
			return nil
		case err := <-stop:
			return err
		case m = <-q:
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
			case m = <-q:
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

// noteRefusal records voter's answer to this node's handshake, and calls
// OnRefused once a majority of the voters refuse it for a configuration
// error.
func (t *tcpTransport) noteRefusal(voter int32, reply handshakeReply) {
	t.mu.Lock()
	if reply.Error == "" || reply.Kind == "" {
		delete(t.mu.refused, voter)
		t.mu.Unlock()
		return
	}
	r := t.mu.refused[voter]
	if r.reply.Kind != reply.Kind {
		r.count = 0
	}
	r.reply = reply
	r.count++
	t.mu.refused[voter] = r
	n := 0
	for _, r := range t.mu.refused {
		if r.reply.Kind == "config" || r.count >= duplicateRefusals {
			n++
		}
	}
	t.mu.Unlock()
	if n >= len(t.cfg.Voters)/2+1 && t.cfg.OnRefused != nil {
		t.refusedOnce.Do(func() { t.cfg.OnRefused(reply.Error) })
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
	if t.cfg.ServerTLS != nil {
		tc := tls.Server(c, t.cfg.ServerTLS)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	br := bufio.NewReaderSize(c, 64<<10)
	b, err := readFrame(br)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	var hs handshake
	if err := json.Unmarshal(b, &hs); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	refuse, kind := t.checkHandshake(hs)
	reply, _ := json.Marshal(handshakeReply{Error: refuse, Kind: kind})
	if _, err := c.Write(appendFrame(nil, reply)); err != nil {
		return err
	}
	if refuse != "" {
		t.cfg.Logger.Error("controller transport: refused a connection", "remote", c.RemoteAddr(), "reason", refuse)
		return errors.New(refuse)
	}
	c.SetDeadline(time.Time{})
	if !hs.Learner {
		return t.readMessages(br, hs.From)
	}
	// A learner: this voter's messages to it go back on this connection.
	lc := &learnerConn{id: hs.From, conn: c, q: make(chan *pb.Message, sendQueueMessages)}
	if !t.addLearner(lc) {
		return nil
	}
	defer t.removeLearner(lc)
	t.cfg.Logger.Info("controller transport: broker connected as a learner", "node", hs.From, "remote", c.RemoteAddr())
	stop, wrote := make(chan error), make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer close(wrote)
		_ = t.writeMessages(c, lc.q, stop)
		c.Close() // stops the reader below
	}()
	err = t.readMessages(br, hs.From)
	close(stop)
	c.Close()
	<-wrote
	return err
}

// readMessages reads raft messages from node from, addressed to this node,
// and delivers them, until an error or the controller closes.
func (t *tcpTransport) readMessages(br *bufio.Reader, from int32) error {
	rfrom := raftID(from)
	for {
		b, err := readFrame(br)
		if err != nil {
			return err
		}
		m := &pb.Message{}
		if err := proto.Unmarshal(b, m); err != nil {
			return fmt.Errorf("message: %w", err)
		}
		if m.GetFrom() != rfrom || m.GetTo() != raftID(t.cfg.NodeID) {
			return fmt.Errorf("message from %d to %d on the connection from node %d", m.GetFrom(), m.GetTo(), from)
		}
		if !t.deliver(m) {
			return nil
		}
	}
}

// addLearner registers lc unless a connection from its node id is already
// registered (checkHandshake refused that case; this closes the race).
func (t *tcpTransport) addLearner(lc *learnerConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.mu.learners[raftID(lc.id)]; ok {
		return false
	}
	t.mu.learners[raftID(lc.id)] = lc
	return true
}

func (t *tcpTransport) removeLearner(lc *learnerConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.learners[raftID(lc.id)] == lc {
		delete(t.mu.learners, raftID(lc.id))
	}
}

func (t *tcpTransport) checkHandshake(hs handshake) (reason, kind string) {
	if hs.ClusterID != t.cfg.ClusterID {
		return fmt.Sprintf("cluster id %q does not match this node's %q", hs.ClusterID, t.cfg.ClusterID), "config"
	}
	if t.learner {
		return fmt.Sprintf("node %d is a broker-only learner and accepts no controller connections", t.cfg.NodeID), "config"
	}
	_, voter := t.cfg.Voters[hs.From]
	switch {
	case hs.From == t.cfg.NodeID:
		return fmt.Sprintf("node %d connected to itself: two nodes share node.id %d", hs.From, hs.From), "config"
	case hs.Learner && voter:
		return fmt.Sprintf("node %d is a voter of this quorum (%s) but connected as a broker-only learner: its process.roles lacks controller, or two nodes share node.id %d", hs.From, t.voters, hs.From), "config"
	case !hs.Learner && !voter:
		return fmt.Sprintf("node %d is not a voter of this quorum (%s)", hs.From, t.voters), "config"
	}
	if hs.Learner {
		t.mu.Lock()
		lc, dup := t.mu.learners[raftID(hs.From)]
		t.mu.Unlock()
		if dup {
			return fmt.Sprintf("node %d is already connected from %s: two brokers share node.id %d (or the old process has not gone yet)", hs.From, lc.conn.RemoteAddr(), hs.From), "duplicate"
		}
	}
	if hs.To != t.cfg.NodeID {
		return fmt.Sprintf("this is node %d, not node %d", t.cfg.NodeID, hs.To), "config"
	}
	if hs.Voters != t.voters {
		return fmt.Sprintf("controller.quorum.voters differ: node %d has %s, node %d has %s", hs.From, hs.Voters, t.cfg.NodeID, t.voters), "config"
	}
	return "", ""
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
