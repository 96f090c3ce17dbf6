// Package restproxy is Ringtail's built-in HTTP Proxy: Confluent REST Proxy's
// v2 API (produce, metadata, consumer instances) and v3's cluster, topic and
// record-produce endpoints, over franz-go clients of the node's own listener,
// acting as the caller when services/httpauth authenticates it (auth.go).
package restproxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/services/internal/httpsvc"
)

// Defaults and limits.
const (
	DefaultInstanceTimeout = 5 * time.Minute // consumer.instance.timeout.ms
	DefaultMaxInstances    = 1000

	maxBodyBytes        = 16 << 20 // largest request body (a produce batch)
	maxRecordsPerReq    = 10000    // records one v2 produce request may carry
	readHeaderTimeout   = 5 * time.Second
	idleTimeout         = 2 * time.Minute
	requestTimeout      = 30 * time.Second // a Kafka round trip of one request
	defaultPollTimeout  = time.Second      // consumer.request.timeout.ms
	maxPollTimeout      = 30 * time.Second // longest GET records wait a client may ask for
	defaultMaxPollBytes = 64 << 20         // consumer.request.max.bytes
	pollRecordsMax      = 10000            // records one poll takes from kgo
	// instanceFetchMaxBytes bounds one consumer instance's fetch response.
	instanceFetchMaxBytes = 8 << 20
	expiryTickMax         = time.Second
)

// Clients makes the Kafka clients behind the API, so they are built in one
// place. The default (Config.Clients nil) shares one client for produce and
// metadata and makes one per consumer instance, all against Config.Brokers;
// with Config.Impersonate they act as each request's caller instead.
type Clients interface {
	// Shared is the client for produce and metadata of req.
	Shared(req *http.Request) (*kgo.Client, error)
	// NewConsumer makes a consumer instance's client for req.
	NewConsumer(req *http.Request, opts ...kgo.Opt) (*kgo.Client, error)
	// Close closes the shared clients.
	Close()
}

// Config configures a Proxy.
type Config struct {
	Listen  string   // host:port of the HTTP server
	Brokers []string // the Kafka listener to use (this node's own)
	// SchemaRegistryURL is the registry Avro produce and consume use; ""
	// answers Avro requests with 40801.
	SchemaRegistryURL string
	// InstanceTimeout is how long a consumer instance may sit unused
	// before it is closed (consumer.instance.timeout.ms); 0 is 5 minutes.
	InstanceTimeout time.Duration
	MaxInstances    int // consumer instances at once; 0 is 1000
	Logger          *slog.Logger
	// Metrics registers the metrics; nil leaves them out.
	Metrics prometheus.Registerer
	// ClientOpts are added to the proxy's own Kafka clients (SASL as the
	// services' user when the node has no PLAINTEXT listener).
	ClientOpts []kgo.Opt
	// Middleware, when set, wraps every route (authentication).
	Middleware func(http.Handler) http.Handler
	// Impersonate, when set, gives Kafka clients acting as the request's
	// caller (services/httpauth with http_basic): produce, metadata and
	// consumer instances run as the caller, so the broker's ACLs decide.
	Impersonate Impersonator
	// Authorize, when set, is asked before each operation for a caller
	// the clients cannot act as (httpauth's mtls): WRITE on a topic to
	// produce, DESCRIBE to see it, READ on topic and group to consume.
	// An error matching httpauth.ErrDenied answers 403 (40301).
	Authorize func(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation) error
	// TLS, when set, serves HTTPS with it (mtls: client certificates
	// required).
	TLS *tls.Config
	// SchemaRegistryTLS is the TLS configuration of the registry client,
	// for an https:// SchemaRegistryURL. The caller's Authorization header
	// travels with the proxy's registry requests, so with http_basic the
	// registry authorizes the caller too.
	SchemaRegistryTLS *tls.Config
	// Clients, when set, replaces the default client construction.
	Clients Clients
	// Now is the clock for instance expiry; nil is time.Now.
	Now func() time.Time
}

// Proxy is one HTTP Proxy server.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	clients Clients
	metrics *metrics
	sr      *sr.Client // nil without a registry
	schemas *schemaCache
	cancel  context.CancelFunc
	done    sync.WaitGroup

	mu struct {
		sync.Mutex
		instances map[instanceKey]*instance
	}
}

// Start binds the listener and serves.
func Start(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.InstanceTimeout <= 0 {
		cfg.InstanceTimeout = DefaultInstanceTimeout
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = DefaultMaxInstances
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger.With("service", "http-proxy"), clients: cfg.Clients, schemas: newSchemaCache()}
	p.mu.instances = map[instanceKey]*instance{}
	if p.clients == nil {
		dc, err := newDefaultClients(cfg.Brokers, cfg.ClientOpts)
		if err != nil {
			return nil, err
		}
		p.clients = dc
		if cfg.Impersonate != nil {
			p.clients = &callerClients{own: dc, as: cfg.Impersonate}
		}
	}
	if cfg.SchemaRegistryURL != "" {
		// The request's context bounds each call; sr's own 5-second
		// default is shorter than a registry still electing its writer
		// after a start may take.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.SchemaRegistryTLS
		c, err := sr.NewClient(sr.URLs(cfg.SchemaRegistryURL),
			sr.HTTPClient(&http.Client{Timeout: requestTimeout, Transport: forwardAuthorization{tr}}))
		if err != nil {
			p.clients.Close()
			return nil, fmt.Errorf("restproxy: schema registry client: %w", err)
		}
		p.sr = c
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		p.clients.Close()
		return nil, fmt.Errorf("restproxy: listen %s: %w", cfg.Listen, err)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	p.ln = ln
	p.metrics = newMetrics(cfg.Metrics)
	var h http.Handler = p.routes()
	if cfg.Middleware != nil {
		h = cfg.Middleware(h)
	}
	// No ReadTimeout: a streamed v3 produce may last as long as its client
	// keeps sending; each request's Kafka work has its own deadline.
	p.srv = &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done.Add(1)
	httpsvc.Serve(p.srv, ln, p.log, "http proxy", &p.done)
	go func() {
		defer p.done.Done()
		p.expiryLoop(ctx)
	}()
	p.log.Info("http proxy listening", "addr", ln.Addr().String())
	return p, nil
}

// Addr is the bound address.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// Close stops serving, closes every consumer instance (leaving its group)
// and the shared clients.
func (p *Proxy) Close(ctx context.Context) error {
	err := p.srv.Shutdown(ctx)
	p.cancel()
	p.done.Wait()
	p.mu.Lock()
	insts := p.mu.instances
	p.mu.instances = map[instanceKey]*instance{}
	p.mu.Unlock()
	for _, in := range insts {
		in.close()
	}
	p.metrics.instances.Set(0)
	p.clients.Close()
	p.metrics.unregister()
	return err
}

// defaultClients is Clients over one shared client.
type defaultClients struct {
	opts   []kgo.Opt // seed brokers, client id, Config.ClientOpts
	shared *kgo.Client
}

// ProducerOpts are the settings of a client the proxy produces with:
// Kafka's default partitioner unless a record names its partition, no
// linger (each request waits for its records), acks from all in-sync
// replicas. A client acting as a caller (Config.Impersonate) needs them.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{kgo.RecordPartitioner(newPartitioner()), kgo.ProducerLinger(0), kgo.RequiredAcks(kgo.AllISRAcks())}
}

func newDefaultClients(brokers []string, own []kgo.Opt) (*defaultClients, error) {
	opts := append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("ringtail-http-proxy")}, own...)
	cl, err := kgo.NewClient(append(opts, ProducerOpts()...)...)
	if err != nil {
		return nil, fmt.Errorf("restproxy: %w", err)
	}
	return &defaultClients{opts: opts, shared: cl}, nil
}

func (d *defaultClients) Shared(*http.Request) (*kgo.Client, error) { return d.shared, nil }

func (d *defaultClients) NewConsumer(_ *http.Request, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append(append([]kgo.Opt{}, d.opts...), opts...)...)
}

func (d *defaultClients) Close() { d.shared.Close() }

// shared is the request's produce/metadata client and an admin client on it.
func (p *Proxy) shared(req *http.Request) (*kgo.Client, *kadm.Client, error) {
	cl, err := p.clients.Shared(req)
	if err != nil {
		return nil, nil, errKafka(err)
	}
	return cl, kadm.NewClient(cl), nil
}

// admin is the shared admin client (shared) and the request's Kafka
// deadline (reqCtx); the caller cancels it when err is nil.
func (p *Proxy) admin(req *http.Request) (*kadm.Client, context.Context, context.CancelFunc, error) {
	_, adm, err := p.shared(req)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := reqCtx(req)
	return adm, ctx, cancel, nil
}

// expiryLoop closes consumer instances idle past the instance timeout.
func (p *Proxy) expiryLoop(ctx context.Context) {
	tick := min(p.cfg.InstanceTimeout/4, expiryTickMax)
	t := time.NewTicker(max(tick, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.expireIdle(p.cfg.Now())
		}
	}
}

// expireIdle removes and closes the instances expired at now.
func (p *Proxy) expireIdle(now time.Time) {
	p.mu.Lock()
	idle := make(map[instanceKey]instanceUse, len(p.mu.instances))
	for k, in := range p.mu.instances {
		idle[k] = in.use()
	}
	gone := expired(idle, now, p.cfg.InstanceTimeout)
	var closing []*instance
	for _, k := range gone {
		closing = append(closing, p.mu.instances[k])
		delete(p.mu.instances, k)
	}
	p.metrics.instances.Set(float64(len(p.mu.instances)))
	p.mu.Unlock()
	for _, in := range closing {
		p.log.Info("consumer instance expired", "group", in.key.group, "instance", in.key.name)
		in.close()
	}
}
