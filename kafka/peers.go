package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/dialsrc"
)

// peers are the clients this node's broker-to-broker requests go through
// (WriteTxnMarkers from the transaction coordinator, KIP-890 verification
// from a partition leader), one per peer's inter-broker address, made on
// first use and closed with the server.
type peers struct {
	nodeID int32
	mu     sync.Mutex
	closed bool
	m      map[string]*kgo.Client
}

var errPeersClosed = errors.New("kafka: shutting down")

// peerClientPrefix starts the client id of this node's peer clients, so
// that a request forwarded once is not forwarded again.
const peerClientPrefix = "ringtail-broker-"

// peer returns the client of broker id's inter-broker listener.
func (s *Server) peer(id int32) (*kgo.Client, error) {
	b := s.ctrl.Image().Brokers[id]
	if b == nil {
		return nil, fmt.Errorf("broker %d is not registered: %w", id, kerr.NotLeaderForPartition)
	}
	listener := "PLAINTEXT"
	if s.cfg.Broker != nil {
		listener = s.cfg.Broker.InterBrokerListenerName
	}
	ep, ok := b.Endpoint(listener)
	if !ok {
		return nil, fmt.Errorf("broker %d has no %s listener: %w", id, listener, kerr.NotLeaderForPartition)
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	p := s.peers
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPeersClosed
	}
	if cl := p.m[addr]; cl != nil {
		return cl, nil
	}
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID(fmt.Sprintf("%s%d", peerClientPrefix, p.nodeID)),
		kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}
	var peerTLS *tls.Config
	if s.cfg.PeerTLS != nil {
		peerTLS = s.cfg.PeerTLS.Clone()
	}
	if dial := dialsrc.KgoDialFunc(peerTLS); dial != nil {
		opts = append(opts, kgo.Dialer(dial))
	} else if peerTLS != nil {
		opts = append(opts, kgo.DialTLSConfig(peerTLS))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	p.m[addr] = cl
	return cl, nil
}

// close closes every peer client; later peer calls fail.
func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for addr, cl := range p.m {
		cl.Close()
		delete(p.m, addr)
	}
}
