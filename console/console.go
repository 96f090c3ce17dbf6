// Package console is the built-in web console: server-rendered pages
// (html/template, htmx for in-place refreshes) that show and operate a cluster
// through the Kafka protocol only, in the daemon or as `ringtail console`.
// Schemas and connectors come from the Schema Registry's and Connect's REST
// APIs; the overview's uPlot charts from the brokers' Prometheus metrics
// (ringtail_topic_{bytes,records}_in_total, ringtail_topic_bytes_out_total,
// ringtail_kafka_request_duration_seconds, ringtail_log_size_bytes; sampler.go).
package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The pages and their static files are compiled into the binary: `go build`
// alone gives a console, with nothing fetched from elsewhere at run time.
//
//go:embed templates/*.html static/*
var assets embed.FS

const (
	// requestTimeout bounds the Kafka requests behind one page, so that a
	// broker that is down gives an error page in seconds, not a hung tab.
	requestTimeout = 10 * time.Second
	dialTimeout    = 5 * time.Second
	// logDirsTimeout bounds the size lookups; sizes are an addition to a
	// page, never a reason for it to fail.
	logDirsTimeout = 3 * time.Second
	metadataMinAge = 250 * time.Millisecond
	readTimeout    = 10 * time.Second
	writeTimeout   = 30 * time.Second
)

// Config is one console's settings.
type Config struct {
	Listen  string   // host:port of the HTTP server
	Brokers []string // seed brokers of the cluster shown
	// ClientOpts are extra kgo options (TLS, SASL) for every client the
	// console makes.
	ClientOpts []kgo.Opt
	// ReadOnly hides the actions that change the cluster and answers them
	// with 403.
	ReadOnly bool
	Logger   *slog.Logger
	// Metrics registers the metrics; nil leaves them out.
	Metrics prometheus.Registerer

	// The services beside the cluster (schemas.go, connectors.go) and the
	// brokers' metrics the overview charts (sampler.go); each empty one
	// leaves its page or charts out.
	RegistryURL string              // Schema Registry base URL (also decodes framed Avro/Protobuf in the message browser)
	ConnectURL  string              // Kafka Connect REST base URL
	Gatherer    prometheus.Gatherer // this node's own registry (the daemon)
	MetricsURLs []string            // brokers' admin /metrics URLs (ringtail console)
	// MetadataMaxAge is how long the pages share one read of the whole
	// cluster's metadata (metacache.go): 0 is 5 s, negative never shares.
	MetadataMaxAge time.Duration
	// Auth, when set, signs users in and serves each page as its user
	// (auth.go). The console owns its Authenticator from New on: Close
	// closes it, and so does a New or Start that fails.
	Auth *Auth
}

// Server is one running console.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cl      *kgo.Client
	adm     *kadm.Client
	handler http.Handler
	metrics *metrics
	dec     *schemaDecoder // nil without a registry
	meta    metaCache      // metacache.go
	svc     *http.Client   // to the registry and Connect

	samples     *sampler // nil without metrics sources
	stopSamples context.CancelFunc
	sampling    sync.WaitGroup
	views       *userViews    // the signed-in users' views (Config.Auth, http_basic)
	authorize   AuthorizeFunc // Config.Auth.Authorize (mtls): checked before each page (authmtls.go)
	filter      AuthorizeFunc // Config.Auth.Filter, or authorize: what the lists show
	user        string        // the signed-in user a view acts as; "" for the console itself

	ln   net.Listener
	srv  *http.Server
	done sync.WaitGroup
}

// New builds a console without listening: Handler serves it (tests, or a
// caller with its own server). Close releases its client.
func New(cfg Config) (s *Server, err error) {
	if cfg.Auth != nil {
		defer func() {
			if err != nil && cfg.Auth.Authenticator != nil {
				cfg.Auth.Authenticator.Close()
			}
		}()
		if err := cfg.Auth.check(); err != nil {
			return nil, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("console: no seed brokers")
	}
	dec, err := newSchemaDecoder(cfg.RegistryURL, cfg.Auth.serviceTLS())
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(baseOpts(cfg), cfg.ClientOpts...)...)
	if err != nil {
		return nil, err
	}
	sources, err := metricSources(cfg)
	if err == nil {
		err = checkServiceURL("schema registry", cfg.RegistryURL)
	}
	if err == nil {
		err = checkServiceURL("Connect", cfg.ConnectURL)
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	s = &Server{cfg: cfg, log: cfg.Logger.With("service", "console"), cl: cl, adm: kadm.NewClient(cl),
		dec: dec, svc: serviceClient(cfg.Auth.serviceTLS()), stopSamples: func() {}}
	s.metrics = newMetrics(cfg.Metrics)
	switch {
	case cfg.Auth != nil && cfg.Auth.Authorize != nil:
		s.authorize, s.filter = cfg.Auth.Authorize, cfg.Auth.Filter
		if s.filter == nil {
			s.filter = s.authorize
		}
	case cfg.Auth != nil:
		s.views = newUserViews(maxViews, viewIdle, time.Now)
	}
	s.handler = s.routes()
	if len(sources) > 0 {
		names := make([]string, len(sources))
		for i, src := range sources {
			names[i] = src.name
		}
		s.samples = newSampler(names, chartWindow, sampleInterval)
		ctx, cancel := context.WithCancel(context.Background())
		s.stopSamples = cancel
		s.sampling.Add(1)
		go s.sampleLoop(ctx, sources, sampleInterval)
	}
	return s, nil
}

func baseOpts(cfg Config) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("ringtail-console"),
		kgo.RetryTimeout(requestTimeout),
		kgo.DialTimeout(dialTimeout),
		// kgo keeps topic metadata for this long and answers admin
		// requests from it; at the default 5s a topic just deleted
		// would still be listed when the page reloads.
		kgo.MetadataMinAge(metadataMinAge),
	}
}

// Start builds a console and serves it on cfg.Listen.
func Start(cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		s.stopSamples()
		s.sampling.Wait()
		s.cl.Close()
		s.closeAuth()
		s.metrics.unregister()
		return nil, err
	}
	scheme := "http://"
	if tc := cfg.Auth.serverTLS(); tc != nil {
		ln, scheme = tls.NewListener(ln, tc), "https://"
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("console server", "err", err)
		}
	}()
	s.log.Info("console serving", "addr", scheme+ln.Addr().String(), "read_only", cfg.ReadOnly, "sign_in", cfg.Auth.mode())
	return s, nil
}

// Handler is the console's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr is the address it listens on (Start only).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving (waiting for requests in flight up to ctx) and closes
// the console's Kafka clients and its authenticator.
func (s *Server) Close(ctx context.Context) error {
	var err error
	if s.srv != nil {
		err = s.srv.Shutdown(ctx)
		s.done.Wait()
	}
	s.stopSamples()
	s.sampling.Wait()
	s.cl.Close()
	s.closeAuth()
	s.metrics.unregister()
	return err
}

// routes is the console's handler: the pages, served as the signed-in user
// with Config.Auth. Every change goes through a POST, refused across
// origins so that another site open in the same browser cannot drive it.
func (s *Server) routes() http.Handler {
	if s.cfg.Auth != nil {
		return http.NewCrossOriginProtection().Handler(s.authRoutes())
	}
	return http.NewCrossOriginProtection().Handler(s.pages())
}

func staticFiles() http.Handler {
	static, _ := fs.Sub(assets, "static")
	return http.StripPrefix("/static/", cacheFor(http.FileServerFS(static)))
}

// pages maps the pages to s's handlers, counted in the metrics.
func (s *Server) pages() http.Handler {
	mux := http.NewServeMux()
	// Every page goes through checked: with Authorize (mtls) its rule
	// in authmtls.go is checked before the handler runs.
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.checked(pattern, h)) }
	mux.Handle("GET /static/", staticFiles())
	handle("GET /{$}", s.overview)
	handle("GET /topics", s.topics)
	handle("POST /topics", s.createTopic)
	handle("GET /topics/{topic}", s.topic)
	handle("GET /topics/{topic}/delete", s.confirmDeleteTopic)
	handle("POST /topics/{topic}/delete", s.deleteTopic)
	handle("GET /topics/{topic}/messages", s.messages)
	handle("POST /topics/{topic}/configs", s.alterConfig)
	handle("POST /topics/{topic}/partitions", s.addPartitions)
	handle("GET /topics/{topic}/delete-records", s.previewDeleteRecords)
	handle("POST /topics/{topic}/delete-records", s.deleteRecords)
	handle("GET /topics/{topic}/produce", s.produceForm)
	handle("POST /topics/{topic}/produce", s.produce)
	handle("GET /groups", s.groups)
	handle("GET /groups/{group}", s.group)
	handle("GET /groups/{group}/reset", s.previewReset)
	handle("POST /groups/{group}/reset", s.reset)
	handle("GET /groups/{group}/delete", s.confirmDeleteGroup) // groupdelete.go
	handle("POST /groups/{group}/delete", s.deleteGroup)
	handle("GET /security", s.security) // security.go
	// The charts, schemas and connectors (sampler.go, schemas.go,
	// connectors.go).
	handle("GET /charts/series", s.chartSeries)
	handle("GET /schemas", s.schemas)
	handle("GET /schemas/{subject}", s.subject)
	handle("GET /connectors", s.connectors)
	handle("POST /connectors/{name}/{action}", s.connectorAction)
	handle("/", s.notFound)
	return s.metrics.wrap(mux)
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// metrics count the console's requests by page and status class.
type metrics struct {
	reg      prometheus.Registerer
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{reg: reg, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringtail_console_requests_total",
		Help: "Web console HTTP requests, by route and status class (2xx, 3xx, 4xx, 5xx).",
	}, []string{"route", "code"})}
	if reg != nil {
		if err := reg.Register(m.requests); err != nil {
			m.reg = nil // already there (a console restarted in-process): count unregistered
		}
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg != nil {
		m.reg.Unregister(m.requests)
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (m *metrics) wrap(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		mux.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			_, route = mux.Handler(r)
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code/100)+"xx").Inc()
	})
}
