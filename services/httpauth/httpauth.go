// Package httpauth gives Ringtail's built-in HTTP services (Schema
// Registry, HTTP Proxy, Connect) the broker's authentication and ACLs:
// HTTP basic credentials checked against the broker's SASL users over the
// Kafka protocol, or client certificates (mTLS) named with the broker's
// ssl.principal.mapping.rules; and authorization decided by the broker's
// authorizer (acting as the user) or by its ACLs (for mTLS).
//
// The service wraps its handler in Authenticator.Middleware, reads the
// caller with Principal(ctx), asks Authorize before an operation, and may
// take a Kafka client acting as the caller from Client.
package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/singleflight"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/sasl"
)

// Mode is how a service authenticates its HTTP clients
// (ringtail.services_auth).
type Mode string

// Modes.
const (
	ModeNone      Mode = "none"       // everyone is User:ANONYMOUS
	ModeHTTPBasic Mode = "http_basic" // Authorization: Basic, checked against the broker's SASL users
	ModeMTLS      Mode = "mtls"       // TLS with a required client certificate
)

// Limits and lifetimes.
const (
	verifiedTTL     = 60 * time.Second // a successful check of user and password holds this long
	failedTTL       = 5 * time.Second  // a failed one is answered from memory this long
	maxVerdicts     = 4096             // cached checks, good and bad together
	maxVerifying    = 8                // checks against the broker at once
	verifyTimeout   = 10 * time.Second
	userClientIdle  = 2 * time.Minute // a per-user Kafka client unused this long is closed
	maxUserClients  = 256
	sweepInterval   = 30 * time.Second
	authzTTL        = time.Second // an authorization decision is reused this long
	maxAuthzEntries = 4096
	aclTTL          = 2 * time.Second // mTLS: how long fetched ACLs are used
)

// Realm is the realm of the WWW-Authenticate challenge.
const Realm = "ringtail"

// Anonymous is the principal of a caller that authenticated nothing.
const Anonymous = acl.Anonymous

// Errors.
var (
	// ErrBadCredentials is a Verifier's answer to a wrong user or password.
	ErrBadCredentials = errors.New("httpauth: invalid user name or password")
	// ErrDenied is what a DeniedError matches with errors.Is.
	ErrDenied = errors.New("httpauth: denied")
	// ErrNoImpersonation: Client cannot act as this caller (mode none, or
	// mTLS, where the service holds no secret of the caller's); the
	// service uses its own client after Authorize.
	ErrNoImpersonation = errors.New("httpauth: the service cannot act as this caller on the broker; use the service's own client after Authorize")
)

// DeniedError is an operation the broker's ACLs do not allow the caller.
type DeniedError struct {
	Principal string
	Resource  acl.ResourceType
	Name      string
	Op        acl.Operation
}

// Error is Confluent's wording: "User is denied operation Write on Topic: _schemas".
func (e *DeniedError) Error() string {
	return fmt.Sprintf("User is denied operation %s on %s: %s", title(e.Op.String()), title(e.Resource.String()), e.Name)
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// title turns READ or TRANSACTIONAL_ID into Read or TransactionalId.
func title(s string) string {
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(s), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// Verifier checks a user name and password against the broker. It returns
// ErrBadCredentials (wrapped or not) when the broker refuses them, another
// error when it could not ask, and on success may return a Kafka client
// authenticated as the user (nil if it has none), which the Authenticator
// keeps for Client.
type Verifier interface {
	Verify(ctx context.Context, user, password string) (*kgo.Client, error)
}

// Config configures an Authenticator.
type Config struct {
	Mode    Mode
	Service string // names the service in logs and metrics ("schema-registry")
	Logger  *slog.Logger
	// Metrics registers ringtail_services_auth_total; nil leaves it out.
	Metrics prometheus.Registerer
	// ErrorContentType is the Content-Type of error bodies; "" is
	// application/json.
	ErrorContentType string
	// StatusErrorCodes makes an error body's error_code the HTTP status
	// (401), as Kafka Connect's REST API answers every error, instead of
	// Confluent's status*100+1 (40101).
	StatusErrorCodes bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	// http_basic: where and how to check credentials. Verifier nil
	// checks them with a franz-go client against SASLBrokers.
	SASLBrokers   []string
	SASLMechanism string      // sasl.Plain, sasl.ScramSHA256 or sasl.ScramSHA512
	SASLDialTLS   *tls.Config // set when the SASL listener is SASL_SSL
	Verifier      Verifier
	// ClientOpts are added to every Kafka client acting as a caller
	// (Client, NewClient): a service's partitioner or producer settings.
	ClientOpts []kgo.Opt

	// mtls: the server's TLS configuration (client certificates required)
	// and the principal of a verified connection.
	TLS         *tls.Config
	PrincipalOf func(tls.ConnectionState) (string, error)
	// mtls: the broker's ACLs (DescribeAcls with the service's own
	// client) and authorizer settings, to decide for a caller the service
	// cannot act as. ACLs nil with mtls allows everything.
	ACLs         func(ctx context.Context) ([]acl.Binding, error)
	AuthzOn      bool // authorizer.class.name is set
	SuperUsers   []string
	AllowIfNoACL bool
}

// Authenticator authenticates a service's HTTP requests and authorizes
// its operations. Its methods are safe for concurrent use.
type Authenticator struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	verifier Verifier
	secret   []byte // keys the password hashes of the caches
	metrics  *metrics
	loglim   sasl.LogLimiter
	sem      chan struct{}
	flight   singleflight.Group

	verdicts *ttlCache[credKey, bool]
	authz    *ttlCache[authzKey, bool]
	clients  *clientCache
	aclSnap  struct {
		sync.Mutex
		snap  *acl.Snapshot
		until time.Time
	}
	az *acl.Authorizer

	stop chan struct{}
	done sync.WaitGroup
}

// New makes an Authenticator; Close releases its Kafka clients.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeNone
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ErrorContentType == "" {
		cfg.ErrorContentType = "application/json"
	}
	a := &Authenticator{cfg: cfg, log: cfg.Logger.With("component", "httpauth"), now: cfg.Now,
		loglim: sasl.LogLimiter{Interval: time.Second}, sem: make(chan struct{}, maxVerifying),
		verdicts: newTTLCache[credKey, bool](maxVerdicts), authz: newTTLCache[authzKey, bool](maxAuthzEntries),
		stop: make(chan struct{})}
	a.clients = newClientCache(maxUserClients, userClientIdle)
	a.secret = make([]byte, 32)
	if _, err := rand.Read(a.secret); err != nil {
		return nil, err
	}
	switch cfg.Mode {
	case ModeNone:
	case ModeHTTPBasic:
		a.verifier = cfg.Verifier
		if a.verifier == nil {
			if len(cfg.SASLBrokers) == 0 {
				return nil, errors.New("httpauth: http_basic needs the address of a SASL listener")
			}
			if !sasl.IsSupported(cfg.SASLMechanism) {
				return nil, fmt.Errorf("httpauth: SASL mechanism %q: valid are %s", cfg.SASLMechanism, strings.Join(sasl.Supported, ", "))
			}
			a.verifier = &kafkaVerifier{brokers: cfg.SASLBrokers, mech: cfg.SASLMechanism, tls: cfg.SASLDialTLS, service: cfg.Service, opts: cfg.ClientOpts}
		}
	case ModeMTLS:
		if cfg.TLS == nil || cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
			return nil, errors.New("httpauth: mtls needs a TLS configuration that requires and verifies client certificates")
		}
		a.az = &acl.Authorizer{SuperUsers: map[string]bool{}, AllowIfNoACL: cfg.AllowIfNoACL}
		for _, p := range cfg.SuperUsers {
			a.az.SuperUsers[p] = true
		}
	default:
		return nil, fmt.Errorf("httpauth: mode %q: valid are %s, %s, %s", cfg.Mode, ModeNone, ModeHTTPBasic, ModeMTLS)
	}
	a.metrics = newMetrics(cfg.Metrics, cfg.Service, string(cfg.Mode))
	a.done.Add(1)
	go a.sweeper()
	return a, nil
}

// Mode is the authenticator's mode.
func (a *Authenticator) Mode() Mode { return a.cfg.Mode }

// TLSConfig is the server's TLS configuration in mode mtls, else nil: the
// service serves its listener through tls.NewListener with it.
func (a *Authenticator) TLSConfig() *tls.Config {
	if a.cfg.Mode != ModeMTLS {
		return nil
	}
	return a.cfg.TLS
}

// Close stops the sweeper and closes the per-user clients.
func (a *Authenticator) Close() {
	select {
	case <-a.stop:
		return
	default:
	}
	close(a.stop)
	a.done.Wait()
	a.clients.closeAll()
}

func (a *Authenticator) sweeper() {
	defer a.done.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.clients.sweep(a.now())
		}
	}
}

// credKey names a user and password without keeping the password: an HMAC
// under a key made at start, so neither a heap dump nor the cache holds
// something to test passwords against offline.
type credKey struct {
	user string
	mac  [sha256.Size]byte
}

func (a *Authenticator) key(user, password string) credKey {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	k := credKey{user: user}
	copy(k.mac[:], m.Sum(nil))
	return k
}

// identity is the caller of a request, kept in its context.
type identity struct {
	principal string
	host      string // client IP, as ACL hosts name it
	user      string // http_basic
	password  string // http_basic: for Client; lives only as long as the request
	key       credKey
}

type ctxKey struct{}

// Principal is the Kafka principal of the request's caller ("User:alice",
// "User:CN=client"), User:ANONYMOUS when nothing authenticated it.
func Principal(ctx context.Context) string {
	if id, ok := ctx.Value(ctxKey{}).(*identity); ok {
		return id.principal
	}
	return Anonymous
}

// WithPrincipal returns ctx carrying principal, for tests of services.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, ctxKey{}, &identity{principal: principal})
}

// Middleware authenticates each request before next sees it. A request
// that fails is answered 401 with a Basic challenge; one that could not
// be checked (the broker unreachable) 500.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, status, err := a.authenticate(req)
		if err != nil {
			a.writeError(w, status, err)
			return
		}
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), ctxKey{}, id)))
	})
}

func clientHost(req *http.Request) string {
	if h, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		return h
	}
	return req.RemoteAddr
}

// authenticate finds the caller, or the status and error to answer with.
func (a *Authenticator) authenticate(req *http.Request) (*identity, int, error) {
	host := clientHost(req)
	switch a.cfg.Mode {
	case ModeHTTPBasic:
		user, pass, ok := req.BasicAuth()
		if !ok || user == "" {
			a.metrics.result("missing")
			return nil, 401, errors.New("Unauthorized: send HTTP basic credentials (Authorization: Basic) of a user of the broker")
		}
		k := a.key(user, pass)
		if err := a.verify(req.Context(), k, user, pass, host); err != nil {
			if errors.Is(err, ErrBadCredentials) {
				return nil, 401, errors.New("Unauthorized: invalid user name or password")
			}
			return nil, 500, fmt.Errorf("Could not check the credentials with the broker: %v", err)
		}
		return &identity{principal: "User:" + user, host: host, user: user, password: pass, key: k}, 0, nil
	case ModeMTLS:
		if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
			a.metrics.result("missing")
			return nil, 401, errors.New("Unauthorized: a client certificate is required")
		}
		p := Anonymous
		if a.cfg.PrincipalOf != nil {
			var err error
			if p, err = a.cfg.PrincipalOf(*req.TLS); err != nil {
				a.metrics.result("failure")
				a.logFailure("", host, err)
				return nil, 401, fmt.Errorf("Unauthorized: %v", err)
			}
		}
		a.metrics.result("success")
		return &identity{principal: p, host: host}, 0, nil
	}
	return &identity{principal: Anonymous, host: host}, 0, nil
}

// verify checks user and password, from the cache when it knows them.
func (a *Authenticator) verify(ctx context.Context, k credKey, user, pass, host string) error {
	now := a.now()
	if ok, hit := a.verdicts.get(k, now); hit {
		if ok {
			a.metrics.result("success")
			return nil
		}
		a.metrics.result("failure")
		return ErrBadCredentials
	}
	// Concurrent requests with the same credentials share one check.
	_, err, _ := a.flight.Do(string(k.mac[:])+k.user, func() (any, error) {
		if ok, hit := a.verdicts.get(k, a.now()); hit {
			if ok {
				return nil, nil
			}
			return nil, ErrBadCredentials
		}
		select {
		case a.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-a.sem }()
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
		defer cancel()
		cl, err := a.verifier.Verify(vctx, user, pass)
		switch {
		case err == nil:
			a.verdicts.put(k, true, a.now(), verifiedTTL)
			if cl != nil {
				a.clients.put(k, cl, a.now())
			}
		case errors.Is(err, ErrBadCredentials):
			a.verdicts.put(k, false, a.now(), failedTTL)
		}
		return nil, err
	})
	switch {
	case err == nil:
		a.metrics.result("success")
	case errors.Is(err, ErrBadCredentials):
		a.metrics.result("failure")
		a.logFailure(user, host, err)
	default:
		a.metrics.result("error")
		a.log.Warn("could not check HTTP credentials with the broker", "service", a.cfg.Service, "user", user, "err", err)
	}
	return err
}

// logFailure logs a failed authentication, at most one a second.
func (a *Authenticator) logFailure(user, host string, err error) {
	if ok, suppressed := a.loglim.Allow(a.now()); ok {
		a.log.Info("HTTP authentication failed", "service", a.cfg.Service, "user", user, "client", host, "err", err, "suppressed", suppressed)
	}
}

// errorBody is the services' error shape (Confluent's).
type errorBody struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (a *Authenticator) writeError(w http.ResponseWriter, status int, err error) {
	code := status*100 + 1 // 40101, 50001
	if a.cfg.StatusErrorCodes {
		code = status
	}
	if status == 401 {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
	}
	WriteError(w, a.cfg.ErrorContentType, status, code, err.Error())
}

// WriteError writes the services' error body {"error_code":...,"message":...}.
func WriteError(w http.ResponseWriter, contentType string, status, code int, msg string) {
	b, _ := json.Marshal(errorBody{Code: code, Message: msg})
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Client is a Kafka client acting as the request's caller (http_basic),
// so that the broker's ACLs apply to what the service does for it. It is
// shared by the caller's requests and closed after userClientIdle unused;
// do not close it. ErrNoImpersonation in the other modes.
func (a *Authenticator) Client(ctx context.Context) (*kgo.Client, error) {
	id, ok := ctx.Value(ctxKey{}).(*identity)
	if !ok || a.cfg.Mode != ModeHTTPBasic || id.user == "" {
		return nil, ErrNoImpersonation
	}
	now := a.now()
	if cl := a.clients.get(id.key, now); cl != nil {
		return cl, nil
	}
	cl, err := newSASLClient(a.cfg.SASLBrokers, a.cfg.SASLMechanism, a.cfg.SASLDialTLS, a.cfg.Service, id.user, id.password, a.cfg.ClientOpts)
	if err != nil {
		return nil, err
	}
	return a.clients.put(id.key, cl, now), nil
}

// NewClient is a new Kafka client acting as the request's caller
// (http_basic), with opts added, for a client that outlives the request
// (an HTTP Proxy consumer instance, a member of its group): the service
// owns it and closes it. ErrNoImpersonation in the other modes.
func (a *Authenticator) NewClient(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	id, ok := ctx.Value(ctxKey{}).(*identity)
	if !ok || a.cfg.Mode != ModeHTTPBasic || id.user == "" {
		return nil, ErrNoImpersonation
	}
	return newSASLClient(a.cfg.SASLBrokers, a.cfg.SASLMechanism, a.cfg.SASLDialTLS, a.cfg.Service, id.user, id.password,
		append(append([]kgo.Opt{}, a.cfg.ClientOpts...), opts...))
}
