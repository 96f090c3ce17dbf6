package schemaregistry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/services/internal/httpsvc"
)

// Defaults and limits.
const (
	DefaultTopic = "_schemas"
	DefaultGroup = "schema-registry"

	maxBodyBytes      = 8 << 20 // largest request body (a schema with its envelope)
	waitTimeout       = 15 * time.Second
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second // a whole request, body included
	idleTimeout       = 2 * time.Minute
	forwardTimeout    = 30 * time.Second
	maxReplication    = 3
	topicBrokersWait  = 30 * time.Second
)

// Config configures a Registry.
type Config struct {
	Listen string // host:port of the HTTP server
	// AdvertisedURL is how other registries reach this one (forwarded
	// writes); "" is http:// and the bound address.
	AdvertisedURL string
	Brokers       []string  // the Kafka listener to use (this node's own)
	ClientOpts    []kgo.Opt // more options of its Kafka client (SASL, TLS)
	Topic         string    // "" is _schemas
	Group         string    // "" is schema-registry
	// ReplicationFactor of _schemas when this registry creates it; it
	// waits up to topicBrokersWait for that many brokers, then takes the
	// brokers there are. 0: up to 3, without waiting.
	ReplicationFactor int
	Logger            *slog.Logger
	// Metrics registers the request metrics; nil leaves them out.
	Metrics prometheus.Registerer

	// Middleware wraps every request (services/httpauth's authentication);
	// nil: none.
	Middleware func(http.Handler) http.Handler
	// Authorize is asked before each operation but GET /: write for those
	// that change the registry, else a read (lookup and compatibility
	// checks included). An error matching httpauth.ErrDenied answers 403
	// 40301, another 500 50001. nil allows everything.
	Authorize func(req *http.Request, write bool) error
	// TLS, when set, serves HTTPS with it; ForwardTLS is what forwarding a
	// write to the writer registry dials with (the client certificate it
	// presents, the CAs it trusts).
	TLS, ForwardTLS *tls.Config
}

// Registry is one Schema Registry server.
type Registry struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	url     string
	cl      *kgo.Client // reads _schemas, produces, joins the group
	adm     *kadm.Client
	elect   *elector
	metrics *httpsvc.RequestMetrics // by endpoint (the route pattern) and status
	fwd     *http.Client

	cancel context.CancelFunc
	done   sync.WaitGroup

	// writeMu serializes this registry's writes, so a check and the write
	// it leads to see no other write of this writer in between.
	writeMu sync.Mutex

	mu struct {
		sync.Mutex
		state   *State
		next    int64         // offset after the last record applied
		changed chan struct{} // closed when next moves
		caught  bool          // reached the end once since start
	}
}

// Start binds the HTTP listener and starts reading _schemas and joining the
// writer election in the background; requests wait until the state is read.
func Start(cfg Config) (*Registry, error) {
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("schemaregistry: listen %s: %w", cfg.Listen, err)
	}
	scheme := "http://"
	if cfg.TLS != nil {
		ln, scheme = tls.NewListener(ln, cfg.TLS), "https://"
	}
	fwd := &http.Client{Timeout: forwardTimeout}
	if cfg.ForwardTLS != nil {
		fwd.Transport = &http.Transport{TLSClientConfig: cfg.ForwardTLS, Proxy: http.ProxyFromEnvironment}
	}
	r := &Registry{cfg: cfg, log: cfg.Logger.With("service", "schema-registry"), ln: ln, fwd: fwd}
	r.url = cfg.AdvertisedURL
	if r.url == "" {
		r.url = scheme + ln.Addr().String()
	}
	r.mu.state = NewState()
	r.mu.changed = make(chan struct{})
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ClientID("ringtail-schema-registry")}, cfg.ClientOpts...)
	r.cl, err = kgo.NewClient(opts...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("schemaregistry: %w", err)
	}
	r.adm = kadm.NewClient(r.cl)
	r.elect = newElector(r.cl, cfg.Group, r.url, r.log)
	r.metrics = httpsvc.NewRequestMetrics(cfg.Metrics, "ringtail_schema_registry", "Schema Registry HTTP", "endpoint")
	handler := r.routes()
	if cfg.Middleware != nil {
		handler = cfg.Middleware(handler)
	}
	r.srv = &http.Server{Handler: handler, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelDebug)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done.Add(2)
	httpsvc.Serve(r.srv, ln, r.log, "schema registry", &r.done)
	go func() {
		defer r.done.Done()
		r.ensureTopic(ctx)
		r.readLoop(ctx)
	}()
	go func() {
		defer r.done.Done()
		r.elect.run(ctx)
	}()
	r.log.Info("schema registry listening", "addr", ln.Addr().String(), "url", r.url)
	return r, nil
}

// Addr is the bound address; URL the advertised one.
func (r *Registry) Addr() net.Addr { return r.ln.Addr() }

// URL is the URL other registries forward writes to.
func (r *Registry) URL() string { return r.url }

// Close stops serving, leaves the group and closes the client.
func (r *Registry) Close(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	r.cancel()
	r.done.Wait()
	r.cl.Close()
	r.metrics.Unregister()
	return err
}

// ensureTopic creates _schemas (one compacted partition) unless it exists,
// retrying until it does or ctx ends.
func (r *Registry) ensureTopic(ctx context.Context) {
	start := time.Now()
	for ctx.Err() == nil {
		err := r.createTopic(ctx, time.Since(start) > topicBrokersWait)
		if err == nil {
			return
		}
		r.log.Debug("creating the _schemas topic", "err", err)
		t := time.NewTimer(rejoinBackoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

func (r *Registry) createTopic(ctx context.Context, anyBrokers bool) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	md, err := r.adm.Metadata(cctx, r.cfg.Topic)
	if err != nil {
		return err
	}
	if t, ok := md.Topics[r.cfg.Topic]; ok && t.Err == nil {
		return nil
	}
	want := r.cfg.ReplicationFactor
	if want <= 0 {
		want, anyBrokers = maxReplication, true
	}
	if len(md.Brokers) < want && !anyBrokers {
		return fmt.Errorf("waiting for %d brokers to create %s with replication factor %d (%d now)", want, r.cfg.Topic, want, len(md.Brokers))
	}
	rf := int16(max(min(len(md.Brokers), want), 1))
	// Like Confluent's kafkastore.topic: compacted, one partition, so one
	// log orders every write.
	resp, err := r.adm.CreateTopic(cctx, 1, rf, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, r.cfg.Topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		return resp.Err
	}
	return nil
}

// readLoop applies every _schemas record in order.
func (r *Registry) readLoop(ctx context.Context) {
	for {
		fs := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			r.log.Debug("reading _schemas", "err", err)
		})
		var last int64 = -1
		r.mu.Lock()
		fs.EachRecord(func(rec *kgo.Record) {
			if err := r.mu.state.Apply(rec.Key, rec.Value); err != nil {
				r.log.Warn("_schemas record skipped", "offset", rec.Offset, "err", err)
			}
			last = rec.Offset
		})
		if last >= 0 {
			r.mu.next = last + 1
			close(r.mu.changed)
			r.mu.changed = make(chan struct{})
		}
		r.mu.Unlock()
	}
}

// waitApplied waits until the record at offset has been applied.
func (r *Registry) waitApplied(ctx context.Context, offset int64) error {
	for {
		r.mu.Lock()
		next, ch := r.mu.next, r.mu.changed
		r.mu.Unlock()
		if next > offset {
			return nil
		}
		select {
		case <-ctx.Done():
			return errTimeout
		case <-ch:
		}
	}
}

var errTimeout = &apiError{Status: 500, Code: 50002, Message: "Timed out waiting for the _schemas topic"}

// syncToEnd waits until every record written to _schemas so far is applied.
func (r *Registry) syncToEnd(ctx context.Context) error {
	for {
		ends, err := r.adm.ListEndOffsets(ctx, r.cfg.Topic)
		if err == nil {
			if o, ok := ends.Lookup(r.cfg.Topic, 0); ok && o.Err == nil {
				if err := r.waitApplied(ctx, o.Offset-1); err != nil {
					return err
				}
				r.mu.Lock()
				r.mu.caught = true
				r.mu.Unlock()
				return nil
			} else if ok {
				err = o.Err
			}
		}
		r.log.Debug("_schemas end offset", "err", err)
		t := time.NewTimer(rejoinBackoff / 5)
		select {
		case <-ctx.Done():
			t.Stop()
			return errTimeout
		case <-t.C:
		}
	}
}

// ready waits, on first use, until the state has been read to the end.
func (r *Registry) ready(ctx context.Context) error {
	r.mu.Lock()
	caught := r.mu.caught
	r.mu.Unlock()
	if caught {
		return nil
	}
	return r.syncToEnd(ctx)
}

// produce writes records with acks=all and waits until they are applied.
func (r *Registry) produce(ctx context.Context, recs ...*kgo.Record) error {
	for _, rec := range recs {
		rec.Topic = r.cfg.Topic
		rec.Partition = 0
	}
	res := r.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return &apiError{Status: 500, Code: 50001, Message: "Error while writing to the _schemas topic: " + err.Error()}
	}
	var last int64
	for _, p := range res {
		last = max(last, p.Record.Offset)
	}
	return r.waitApplied(ctx, last)
}

// view runs f on the state under the lock.
func (r *Registry) view(f func(s *State)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.mu.state)
}
