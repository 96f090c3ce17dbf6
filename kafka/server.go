package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/fetchsession"
	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/quota"
	"github.com/ringtail/ringtail/security"
	"github.com/ringtail/ringtail/telemetry"
	"github.com/ringtail/ringtail/txn"
)

// Limits and defaults.
const (
	defaultIdleTimeout = 10 * time.Minute
	// defaultRequestMaxBytes is socket.request.max.bytes when the config
	// leaves it unset (Kafka's default, 100 MiB).
	defaultRequestMaxBytes = 100 << 20
	// defaultMaxInflight bounds the requests of one connection that are
	// read but not yet answered when the config does not
	// (ringtail.connection_max_inflight_requests); past it the reader
	// stops reading, which pushes back on the client through TCP.
	defaultMaxInflight = 64
	// requestHeaderMinBytes is the smallest request header: api key (2),
	// api version (2), correlation id (4), client id length (2).
	requestHeaderMinBytes = 10
	// acceptBackoffMax caps the sleep after a failing Accept.
	acceptBackoffMax = time.Second
)

// Config configures a Server.
type Config struct {
	NodeID int32
	// ListenerName is the advertised listener clients use; Metadata and
	// DescribeCluster answer with each broker's endpoint of this name.
	ListenerName string
	// Broker is the node's static configuration.
	Broker *config.Config
	// MaxConnections caps open client connections; 0 is unlimited.
	MaxConnections int
	// IdleTimeout closes a connection that sends nothing for this long
	// (connections.max.idle.ms); 0 means 10 minutes.
	IdleTimeout time.Duration
	Logger      *slog.Logger
	// Groups is the group coordinator; nil answers every group request
	// COORDINATOR_NOT_AVAILABLE.
	Groups *group.Coordinator
	// Txns is the transaction coordinator; nil answers the transaction
	// requests COORDINATOR_NOT_AVAILABLE.
	Txns *txn.Manager
	// TxnVerified is the KIP-890 verification cache; the servers of one
	// node share one, since a marker arriving on any listener ends the
	// verifications of every listener. nil: the server's own.
	TxnVerified *VerifyCache
	// Now is the clock handed to the group coordinator; nil is time.Now.
	Now func() time.Time
	// Hooks, when set, sees every decoded request first (like kfake's
	// ControlKey). handled=true answers with resp (nil resp: no answer at
	// all); a non-nil err closes the connection.
	Hooks func(key int16, req kmsg.Request) (resp kmsg.Response, err error, handled bool)
	// Observer, when set, is told about every decoded request once it is
	// answered (metrics).
	Observer RequestObserver
	// TLS, when set, makes the listeners speak TLS (security protocol
	// SSL): each accepted connection shakes hands within
	// security.HandshakeTimeout before its first request is read, and its
	// principal comes from the client certificate. Fetches on TLS
	// connections copy record bytes (no kTLS yet), never sendfile.
	TLS *tls.Config
	// Principal names the client of a TLS connection
	// (ssl.principal.mapping.rules); an error closes the connection. nil:
	// security.Principal, the certificate subject as it is.
	Principal func(tls.ConnectionState) (string, error)
	// PeerTLS, when set, is how this node dials other brokers'
	// inter-broker listener (transaction markers): that listener is SSL.
	PeerTLS *tls.Config
	// SASL, when set, makes the listener SASL_PLAINTEXT (SASL_SSL with
	// TLS): clients authenticate before anything else (sasl.go).
	SASL *SASLConfig
	// Quotas enforces client quotas (quotas.go); the node's servers share
	// one. nil: none.
	Quotas *quota.Manager
	// RequestBudget is queued.max.request.bytes over the node's servers
	// (limits.go); nil: the server's own, of Broker's
	// queued.max.request.bytes.
	RequestBudget *RequestBudget
	// Conns enforces max.connections and max.connections.per.ip over the
	// node's servers (quotas.go). nil: only MaxConnections.
	Conns *ConnLimiter
	// Telemetry holds KIP-714 client instances and their pushed metrics
	// (telemetry.go); the node's servers share one. nil: the server's own.
	Telemetry *telemetry.Manager
	// FetchSessions is the KIP-227 fetch session cache; the node's servers
	// share one. nil: the server's own, of
	// max.incremental.fetch.session.cache.slots.
	FetchSessions *fetchsession.Cache
	// ShareGroups and ShareStates join the two halves of share groups
	// (share_seams.go); nil ShareGroups: broker defaults and no group is
	// empty; nil ShareStates: share state is not deleted with its group.
	ShareGroups ShareGroups
	ShareStates ShareStates
	// GroupConfigBounds are the broker's defaults and bounds of GROUP
	// configs (groupconfigs.go); nil: Kafka's.
	GroupConfigBounds *controlplane.GroupConfigBounds
	// Shares is the share-partition side (share_partitions.go); the
	// node's servers share one. nil: the server's own, with no share
	// coordinator.
	Shares *Shares
}

// RequestObserver sees each decoded request when its handler finishes:
// resp is nil for no answer (acks=0) or when closed is set (the request
// closed the connection instead of being answered). It runs on the
// request's path and must be quick; req and resp must not be kept.
type RequestObserver interface {
	ObserveRequest(key int16, req kmsg.Request, resp kmsg.Response, elapsed time.Duration, closed bool)
}

// FetchObserver is an optional extension of RequestObserver. A Fetch served
// with sendfile reaches ObserveRequest with empty RecordBatches for the
// partitions whose records go out as file ranges; when the Observer also
// implements FetchObserver, ObserveFetchRanges is called just before with
// the size of those records: recordBytes(t, p) for resp.Topics[t].
// Partitions[p] (0 for the others, which ObserveRequest sees as usual).
type FetchObserver interface {
	ObserveFetchRanges(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, recordBytes func(topic, partition int) int)
}

// FetchStats counts the record bytes that fetch responses sent.
type FetchStats struct {
	// SendfileBytes went from segment files to sockets with sendfile(2):
	// they never entered user space.
	SendfileBytes int64
	// CopiedBytes were copied through user space: read into memory (the
	// copying path, ringtail.fetch_sendfile=false, or logs that cannot
	// answer with file ranges) or through CopyRange's buffer where the
	// kernel refused sendfile.
	CopiedBytes int64
}

// Server serves the Kafka protocol on any number of listeners.
type Server struct {
	cfg  Config
	ctrl Controller
	logs Logs
	log  *slog.Logger

	requestMaxBytes int32
	// Limits against hostile clients (limits.go): saslMaxReceive is
	// sasl.server.max.receive.size, maxInflight
	// ringtail.connection_max_inflight_requests, budget
	// queued.max.request.bytes (nil: unbounded); ctx ends at Shutdown.
	saslMaxReceive int32
	maxInflight    int
	budget         *RequestBudget
	ctx            context.Context
	cancel         context.CancelFunc
	// txnTopicCreating: a creation of __transaction_state runs.
	txnTopicCreating atomic.Bool
	// peers are the clients of broker-to-broker requests (peers.go).
	peers *peers
	// txnVerified caches KIP-890 verifications (txn.go); shared by the
	// node's servers (Config.TxnVerified).
	txnVerified *VerifyCache
	// sendfile is ringtail.fetch_sendfile: fetches answer with file ranges
	// sent by sendfile(2) where the log can (fetch.go).
	sendfile                             bool
	fetchSendfileBytes, fetchCopiedBytes atomic.Int64
	// fetchSessions is Config.FetchSessions (fetch_session.go).
	fetchSessions *fetchsession.Cache
	// authz is the authorizer and its audit (authz.go).
	authz *authz
	// stopping is closed by Shutdown; long-polling fetches return at once.
	stopping chan struct{}
	shutting atomic.Bool
	// connsWG counts the goroutines of every connection.
	connsWG sync.WaitGroup
	nconns  atomic.Int64
	// quotaSync follows the image's client quotas (quotas.go).
	quotaSync quotaSync
	// shares is Config.Shares; shareTopicCreating: a creation of
	// __share_group_state runs (sharestate.go).
	shares             *Shares
	shareTopicCreating atomic.Bool

	mu struct {
		sync.Mutex
		listeners map[net.Listener]struct{}
		conns     map[*conn]struct{}
		// handshakes are the TLS connections still shaking hands.
		handshakes map[net.Conn]struct{}
	}
}

// NewServer returns a server answering from ctrl and logs.
func NewServer(cfg Config, ctrl Controller, logs Logs) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.NewManager(telemetry.Config{})
	}
	sendfile := cfg.Broker != nil && cfg.Broker.Ringtail.FetchSendfile
	sessionSlots := fetchsession.DefaultSlots
	if cfg.Broker != nil {
		sessionSlots = int(cfg.Broker.FetchSessionCacheSlots)
	}
	if cfg.Broker == nil {
		cfg.Broker = &config.Config{}
	}
	s := &Server{
		cfg:             cfg,
		ctrl:            ctrl,
		logs:            logs,
		log:             cfg.Logger.With("component", "kafka"),
		requestMaxBytes: cfg.Broker.SocketRequestMaxBytes,
		stopping:        make(chan struct{}),
		sendfile:        sendfile,
		authz:           newAuthz(cfg.Broker.Authorizer),
	}
	if s.requestMaxBytes <= 0 {
		s.requestMaxBytes = defaultRequestMaxBytes
	}
	s.initLimits()
	s.peers = &peers{nodeID: cfg.NodeID, m: map[string]*kgo.Client{}}
	s.txnVerified = cfg.TxnVerified
	s.fetchSessions = cfg.FetchSessions
	if s.fetchSessions == nil {
		s.fetchSessions = fetchsession.New(sessionSlots, 0)
	}
	if s.txnVerified == nil {
		s.txnVerified = &VerifyCache{}
	}
	s.shares = cfg.Shares
	if s.shares == nil {
		s.shares = NewShares(cfg.Broker.Share, nil)
	}
	s.shares.attach(s)
	s.mu.listeners = map[net.Listener]struct{}{}
	s.mu.conns = map[*conn]struct{}{}
	s.mu.handshakes = map[net.Conn]struct{}{}
	return s
}

// FetchSessionStats returns the fetch session cache's counts.
func (s *Server) FetchSessionStats() fetchsession.Stats { return s.fetchSessions.Stats() }

// FetchStats returns the record bytes fetch responses sent so far.
func (s *Server) FetchStats() FetchStats {
	return FetchStats{SendfileBytes: s.fetchSendfileBytes.Load(), CopiedBytes: s.fetchCopiedBytes.Load()}
}

// Serve accepts connections on ln until Shutdown (then it returns nil) or
// until ln fails for good.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.mu.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.mu.listeners, ln)
		s.mu.Unlock()
	}()

	if s.cfg.TLS != nil && s.sendfile {
		s.log.Info("TLS listener: fetch responses copy record bytes through user space (no kTLS), not sendfile", "listener", s.cfg.ListenerName, "addr", ln.Addr().String())
	}
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return nil
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), acceptBackoffMax)
				s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-s.stopping:
					return nil
				}
				continue
			}
			return err
		}
		backoff = 0
		if max := s.cfg.MaxConnections; max > 0 && s.nconns.Load() >= int64(max) {
			s.log.Warn("connection refused: max connections reached", "remote", nc.RemoteAddr(), "max_connections", max)
			nc.Close()
			continue
		}
		if nc = s.admitConn(nc); nc == nil {
			continue
		}
		if s.cfg.TLS != nil {
			s.handshake(nc)
			continue
		}
		s.startConn(nc, "")
	}
}

// handshake runs the TLS handshake of an accepted connection on its own
// goroutine, within security.HandshakeTimeout, then serves it. A client
// that speaks plaintext, offers no acceptable certificate, or stays silent
// is disconnected; nothing of the Kafka protocol is read before.
func (s *Server) handshake(nc net.Conn) {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.mu.handshakes[nc] = struct{}{}
	s.connsWG.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.connsWG.Done()
		tc := tls.Server(nc, s.cfg.TLS)
		tc.SetDeadline(time.Now().Add(security.HandshakeTimeout))
		err := tc.Handshake()
		s.mu.Lock()
		delete(s.mu.handshakes, nc)
		s.mu.Unlock()
		if err != nil {
			s.log.Debug("TLS handshake failed; closing connection", "listener", s.cfg.ListenerName, "remote", nc.RemoteAddr().String(), "err", err)
			nc.Close()
			return
		}
		tc.SetDeadline(time.Time{})
		principal := security.Principal(tc.ConnectionState())
		if s.cfg.Principal != nil {
			if principal, err = s.cfg.Principal(tc.ConnectionState()); err != nil {
				s.log.Warn("TLS client refused", "listener", s.cfg.ListenerName, "remote", nc.RemoteAddr().String(), "err", err)
				nc.Close()
				return
			}
		}
		s.log.Debug("TLS connection", "listener", s.cfg.ListenerName, "remote", nc.RemoteAddr().String(), "principal", principal,
			"version", tls.VersionName(tc.ConnectionState().Version), "cipher", tls.CipherSuiteName(tc.ConnectionState().CipherSuite))
		s.startConn(tc, principal)
	}()
}

// startConn serves nc; principal is the client's Kafka principal ("" on
// a PLAINTEXT listener, where Kafka's is User:ANONYMOUS).
func (s *Server) startConn(nc net.Conn, principal string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		nc.Close()
		return
	}
	c := newConn(s, nc)
	c.principal = principal
	s.mu.conns[c] = struct{}{}
	s.nconns.Add(1)
	s.connsWG.Add(2)
	go c.readLoop()
	go c.writeLoop()
}

func (s *Server) connDone(c *conn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
	s.nconns.Add(-1)
	s.shareConnClosed(c)
}

// Shutdown stops accepting, stops reading new requests, lets the requests
// already read finish and their responses go out (long polls return
// early), then closes the connections. When ctx expires first, it closes
// every connection at once and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.shutting.Swap(true) {
		close(s.stopping)
		s.cancel()
	}
	for ln := range s.mu.listeners {
		ln.Close()
	}
	for c := range s.mu.conns {
		c.stopReading()
	}
	for nc := range s.mu.handshakes {
		nc.Close()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.connsWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.peers.close()
		return nil
	case <-ctx.Done():
		s.peers.close()
		s.mu.Lock()
		for c := range s.mu.conns {
			c.kill()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}
